/**
 * Ops whose gradients are themselves differentiable in tfjs 4.22, for second-order MAML.
 *
 * tfjs's own exp/softmax/logSoftmax/softmaxCrossEntropy gradients reuse the op's saved
 * *output*; a gradient taken through such a gradient loses the path back to the input and
 * tf.grad(tf.grad(...)) throws. These replacements save their *inputs* and express their
 * gradient with ops (including themselves) that are again differentiable, to any order.
 */
import { tf, type Tensor } from '../tf.js';

/** exp(x) with a gradient computed from the saved input: d/dx exp = exp(x), recursively. */
export const expSafe: (x: Tensor) => Tensor = tf.customGrad(((x: Tensor, save: tf.GradSaveFunc) => {
  const input = x;
  save([input]);
  return {
    value: tf.exp(input),
    gradFunc: (dy: Tensor, saved: Tensor[]) => tf.mul(dy, expSafe(saved[0]!)),
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: Tensor) => Tensor;

/** max over the last axis (keepDims) treated as a constant: used only as a numerical shift. */
const maxShift: (x: Tensor) => Tensor = tf.customGrad(((x: Tensor) => ({
  value: tf.max(x, -1, true),
  gradFunc: () => tf.zerosLike(x),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: Tensor) => Tensor;

/**
 * log softmax over the last axis: z - (m + log sum exp(z - m)). The shift m = max(z) has a
 * zero gradient, which is exact because logsumexp is shift-invariant.
 */
export function logSoftmaxSafe(logits: Tensor): Tensor {
  return tf.tidy(() => {
    const m = maxShift(logits);
    const shifted = tf.sub(logits, m);
    return tf.sub(shifted, tf.log(tf.sum(expSafe(shifted), -1, true)));
  });
}

/**
 * Mean softmax cross-entropy of integer labels, twice differentiable.
 * @param logits [n, classes]
 * @param oneHot [n, classes] float one-hot labels (a constant: no gather in the gradient path)
 */
export function crossEntropySafe(logits: Tensor, oneHot: Tensor): Tensor {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logSoftmaxSafe(logits)), -1))));
}
