import { checkPositiveInts, makeSpec, type LinearConfig, type ModelSpec, type ParamSpec } from './spec.js';
import { MetaArgumentError, requireInt } from '../errors.js';
import { tf } from '../tf.js';

/**
 * Logistic / softmax regression: logits = x W + b on the flattened input. Params: `head/kernel`
 * [inputs, classes], `head/bias` [classes] (an MLP with `hidden: []`: same parameters, same
 * function). Its embedding (what ProtoNets compare) is the flattened input itself.
 */
export function linear(config: Omit<LinearConfig, 'kind'>): ModelSpec {
  if (!config || !Array.isArray(config.inputShape) || config.inputShape.length < 1) {
    throw new MetaArgumentError(`linear: inputShape must be a non-empty array of positive integers, got ${String(config?.inputShape)}`);
  }
  checkPositiveInts('inputShape', config.inputShape);
  requireInt('numClasses', config.numClasses, 2);
  const inputSize = config.inputShape.reduce((a, b) => a * b, 1);
  const params: ParamSpec[] = [
    { name: 'head/kernel', shape: [inputSize, config.numClasses], fanIn: inputSize },
    { name: 'head/bias', shape: [config.numClasses], fanIn: 0 },
  ];
  const full: LinearConfig = { kind: 'linear', inputShape: [...config.inputShape], numClasses: config.numClasses };
  return makeSpec(full, params, (_ps, x) => tf.reshape(x, [-1, inputSize]));
}
