import { checkPositiveInts, makeSpec, type CnnConfig, type ModelSpec, type ParamSpec } from './spec.js';
import { requireInt } from '../errors.js';
import { conv2dIm2col } from '../ops/conv.js';
import { tf } from '../tf.js';

/**
 * A small CNN (e.g. for 28x28x1): 3x3 stride-2 'same' convs with ReLU (strided conv instead of
 * max-pool keeps it twice differentiable), flatten, a ReLU dense embedding, a linear head.
 * Params: `conv{i}/kernel` [3, 3, in, out], `conv{i}/bias` [out], ..., `embed/kernel`
 * [flat, embedding], `embed/bias`, `head/kernel` [embedding, classes], `head/bias`.
 */
export function cnn(config: Omit<CnnConfig, 'kind'>): ModelSpec {
  checkPositiveInts('inputShape', config.inputShape);
  checkPositiveInts('channels', config.channels);
  requireInt('embedding', config.embedding, 1);
  requireInt('numClasses', config.numClasses, 2);
  let [h, w, c] = config.inputShape;
  const params: ParamSpec[] = [];
  config.channels.forEach((out, i) => {
    params.push({ name: `conv${i}/kernel`, shape: [3, 3, c, out], fanIn: 9 * c });
    params.push({ name: `conv${i}/bias`, shape: [out], fanIn: 0 });
    h = Math.ceil(h / 2);
    w = Math.ceil(w / 2);
    c = out;
  });
  const flat = h * w * c;
  params.push({ name: 'embed/kernel', shape: [flat, config.embedding], fanIn: flat });
  params.push({ name: 'embed/bias', shape: [config.embedding], fanIn: 0 });
  params.push({ name: 'head/kernel', shape: [config.embedding, config.numClasses], fanIn: config.embedding });
  params.push({ name: 'head/bias', shape: [config.numClasses], fanIn: 0 });
  const convs = config.channels.length;
  const full: CnnConfig = { kind: 'cnn', inputShape: [...config.inputShape], channels: [...config.channels], embedding: config.embedding, numClasses: config.numClasses };
  return makeSpec(full, params, (ps, x) =>
    tf.tidy(() => {
      let a = tf.reshape(x, [-1, ...config.inputShape]);
      for (let i = 0; i < convs; i++) a = tf.relu(tf.add(conv2dIm2col(a, ps[2 * i]!, 2, 'same'), ps[2 * i + 1]!));
      const e = 2 * convs;
      return tf.relu(tf.add(tf.matMul(tf.reshape(a, [-1, flat]), ps[e]!), ps[e + 1]!));
    }),
  );
}
