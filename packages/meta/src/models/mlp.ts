import { checkPositiveInts, makeSpec, type MlpConfig, type ModelSpec, type ParamSpec } from './spec.js';
import { requireInt } from '../errors.js';
import { tf } from '../tf.js';

/**
 * A ReLU multilayer perceptron. Params: for each hidden layer `dense{i}/kernel` [in, out]
 * and `dense{i}/bias` [out], then `head/kernel` [last, classes], `head/bias` [classes].
 */
export function mlp(config: Omit<MlpConfig, 'kind'>): ModelSpec {
  checkPositiveInts('inputShape', config.inputShape);
  checkPositiveInts('hidden', config.hidden);
  requireInt('numClasses', config.numClasses, 2);
  const inputSize = config.inputShape.reduce((a, b) => a * b, 1);
  const params: ParamSpec[] = [];
  let width = inputSize;
  config.hidden.forEach((h, i) => {
    params.push({ name: `dense${i}/kernel`, shape: [width, h], fanIn: width });
    params.push({ name: `dense${i}/bias`, shape: [h], fanIn: 0 });
    width = h;
  });
  params.push({ name: 'head/kernel', shape: [width, config.numClasses], fanIn: width });
  params.push({ name: 'head/bias', shape: [config.numClasses], fanIn: 0 });
  const layers = config.hidden.length;
  const full: MlpConfig = { kind: 'mlp', inputShape: [...config.inputShape], hidden: [...config.hidden], numClasses: config.numClasses };
  return makeSpec(full, params, (ps, x) =>
    tf.tidy(() => {
      let h = tf.reshape(x, [-1, inputSize]);
      for (let i = 0; i < layers; i++) h = tf.relu(tf.add(tf.matMul(h, ps[2 * i]!), ps[2 * i + 1]!));
      return h;
    }),
  );
}
