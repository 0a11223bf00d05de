import { checkPositiveInts, makeSpec, type ModelSpec, type ParamSpec, type ResNetConfig } from './spec.js';
import { requireInt } from '../errors.js';
import { conv2dIm2col, globalAvgPool } from '../ops/conv.js';
import { tf, type Tensor } from '../tf.js';

/**
 * A small residual CNN for 32x32x3 (the CIFAR-10 setting), without batch norm (its gradient
 * is not twice differentiable in tfjs). Layout: stem 3x3 conv to stages[0]; per stage s a
 * 3x3 conv (stride 2 for s > 0) then one residual block relu(x + conv(relu(conv(x))));
 * global average pool; linear head. Params in that order: `stem/*`, then per stage
 * `s{s}/down/*`, `s{s}/block/conv0/*`, `s{s}/block/conv1/*` (kernel then bias), then `head/*`.
 */
export function resnet(config: Omit<ResNetConfig, 'kind'>): ModelSpec {
  checkPositiveInts('inputShape', config.inputShape);
  checkPositiveInts('stages', config.stages);
  requireInt('numClasses', config.numClasses, 2);
  const params: ParamSpec[] = [];
  const conv = (name: string, inC: number, outC: number) => {
    params.push({ name: `${name}/kernel`, shape: [3, 3, inC, outC], fanIn: 9 * inC });
    params.push({ name: `${name}/bias`, shape: [outC], fanIn: 0 });
  };
  const first = config.stages[0]!;
  conv('stem', config.inputShape[2], first);
  let c = first;
  config.stages.forEach((outC, s) => {
    conv(`s${s}/down`, c, outC);
    conv(`s${s}/block/conv0`, outC, outC);
    conv(`s${s}/block/conv1`, outC, outC);
    c = outC;
  });
  params.push({ name: 'head/kernel', shape: [c, config.numClasses], fanIn: c });
  params.push({ name: 'head/bias', shape: [config.numClasses], fanIn: 0 });
  const full: ResNetConfig = { kind: 'resnet', inputShape: [...config.inputShape], stages: [...config.stages], numClasses: config.numClasses };
  return makeSpec(full, params, (ps, x) =>
    tf.tidy(() => {
      let k = 0;
      const layer = (a: Tensor, stride: number): Tensor => {
        const out = tf.add(conv2dIm2col(a, ps[k]!, stride, 'same'), ps[k + 1]!);
        k += 2;
        return out;
      };
      let a = tf.relu(layer(tf.reshape(x, [-1, ...config.inputShape]), 1));
      for (let s = 0; s < config.stages.length; s++) {
        a = tf.relu(layer(a, s === 0 ? 1 : 2));
        const inner = tf.relu(layer(a, 1));
        // Residual connection: the block learns a correction to its input.
        a = tf.relu(tf.add(a, layer(inner, 1)));
      }
      return globalAvgPool(a);
    }),
  );
}
