import { checkPositiveInts, makeSpec, type ModelSpec, type ParamSpec, type ResNet18Config, type ResNet18Full } from './spec.js';
import { HyperparameterError, requireInt } from '../errors.js';
import { conv2dIm2col, globalAvgPool } from '../ops/conv.js';
import { groupNorm } from '../ops/norm.js';
import { tf, type Tensor } from '../tf.js';

/**
 * ResNet-18 and its family (basic blocks), CIFAR layout: a 3x3 stem conv at full resolution,
 * stages of basic blocks relu(GN(conv3x3(relu(GN(conv3x3(x))))) + shortcut(x)), where the first
 * block of every stage after the first has stride 2 and a 1x1 stride-2 conv + GN shortcut (also
 * when the width changes); global average pool; linear head. Convs have no bias (GN's beta
 * plays that part). GN replaces batch norm: see `ops/norm.ts`.
 *
 * Params in order: `stem/kernel` [3,3,c,w0], `stem/gn/gamma`, `stem/gn/beta`; per stage s and
 * block b: `s{s}b{b}/conv0/kernel`, `.../gn0/gamma`, `.../gn0/beta`, `.../conv1/kernel`,
 * `.../gn1/gamma`, `.../gn1/beta`, then when the block downsamples `.../short/kernel`
 * [1,1,in,w], `.../short/gn/gamma`, `.../short/gn/beta`; then `head/kernel`, `head/bias`.
 * GN gammas start at 1, except each block's last (gn1), which starts at 0 so every block
 * begins as the identity (Goyal et al. 2017), which trains without normalisation statistics
 * from the first step.
 */
export function resnet18(config: Omit<ResNet18Config, 'kind'>): ModelSpec {
  checkPositiveInts('inputShape', config.inputShape);
  requireInt('numClasses', config.numClasses, 2);
  const widths = config.widths ?? [64, 128, 256, 512];
  const blocks = config.blocks ?? widths.map(() => 2);
  checkPositiveInts('widths', widths);
  checkPositiveInts('blocks', blocks);
  if (widths.length < 1) throw new HyperparameterError('widths', 'at least one stage');
  if (blocks.length !== widths.length) throw new HyperparameterError('blocks', `one count per stage (${widths.length}), got ${blocks.length}`);
  const groups = config.groups ?? Math.min(32, ...widths);
  requireInt('groups', groups, 1);
  const bad = widths.find((w) => w % groups !== 0);
  if (bad !== undefined) throw new HyperparameterError('groups', `${groups} does not divide width ${bad}`);
  const full: ResNet18Full = { kind: 'resnet18', inputShape: [...config.inputShape], numClasses: config.numClasses, widths: [...widths], blocks: [...blocks], groups };

  const params: ParamSpec[] = [];
  const conv = (name: string, k: number, inC: number, outC: number) => params.push({ name: `${name}/kernel`, shape: [k, k, inC, outC], fanIn: k * k * inC });
  const norm = (name: string, c: number, zero = false) => {
    params.push({ name: `${name}/gamma`, shape: [c], fanIn: 0, init: zero ? 0 : 1 });
    params.push({ name: `${name}/beta`, shape: [c], fanIn: 0 });
  };
  conv('stem', 3, config.inputShape[2], widths[0]!);
  norm('stem/gn', widths[0]!);
  let c = widths[0]!;
  const downsample: boolean[] = [];
  widths.forEach((w, s) => {
    for (let b = 0; b < blocks[s]!; b++) {
      const stride = b === 0 && s > 0 ? 2 : 1;
      const name = `s${s}b${b}`;
      conv(`${name}/conv0`, 3, c, w);
      norm(`${name}/gn0`, w);
      conv(`${name}/conv1`, 3, w, w);
      norm(`${name}/gn1`, w, true);
      const down = stride !== 1 || c !== w;
      downsample.push(down);
      if (down) {
        conv(`${name}/short`, 1, c, w);
        norm(`${name}/short/gn`, w);
      }
      c = w;
    }
  });
  params.push({ name: 'head/kernel', shape: [c, config.numClasses], fanIn: c });
  params.push({ name: 'head/bias', shape: [config.numClasses], fanIn: 0 });

  return makeSpec(full, params, (ps, x) =>
    tf.tidy(() => {
      let k = 0;
      const convNorm = (a: Tensor, stride: number, relu: boolean): Tensor => {
        const y = groupNorm(conv2dIm2col(a, ps[k]!, stride, 'same'), ps[k + 1]!, ps[k + 2]!, groups);
        k += 3;
        return relu ? tf.relu(y) : y;
      };
      let a = convNorm(tf.reshape(x, [-1, ...config.inputShape]), 1, true);
      let block = 0;
      widths.forEach((_, s) => {
        for (let b = 0; b < blocks[s]!; b++) {
          const stride = b === 0 && s > 0 ? 2 : 1;
          const inner = convNorm(a, stride, true);
          const outer = convNorm(inner, 1, false);
          const shortcut = downsample[block++] ? convNorm(a, stride, false) : a;
          a = tf.relu(tf.add(outer, shortcut));
        }
      });
      return globalAvgPool(a);
    }),
  );
}
