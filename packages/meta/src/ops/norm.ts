/**
 * Group normalisation (Wu & He 2018) from mean, sub, square, sqrt and div, whose gradients
 * are differentiable again in tfjs 4.22 (tfjs's batchNorm gradient is not), so second-order
 * MAML runs through it. No running statistics: training and evaluation compute the same
 * function of one example, which is what a federation of differently distributed sites wants.
 */
import { MetaArgumentError } from '../errors.js';
import { tf, type Tensor } from '../tf.js';

/** Variance floor of group norm, shared with the wasm engine's kernel. */
export const GROUP_NORM_EPSILON = 1e-5;

/**
 * y = gamma * (x - mean_g) / sqrt(var_g + eps) + beta, statistics per example over each group
 * of channels' pixels (biased variance).
 * @param x [n, h, w, c] with c divisible by `groups`
 * @param gamma [c], beta [c]
 */
export function groupNorm(x: Tensor, gamma: Tensor, beta: Tensor, groups: number): Tensor {
  if (x.rank !== 4) throw new MetaArgumentError(`groupNorm: x must be rank 4, got ${x.rank}`);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) throw new MetaArgumentError(`groupNorm: ${groups} groups do not divide ${c} channels`);
  return tf.tidy(() => {
    const g = tf.reshape(x, [n, h * w, groups, c / groups]);
    const centered = tf.sub(g, tf.mean(g, [1, 3], true));
    const variance = tf.mean(tf.square(centered), [1, 3], true);
    const normed = tf.reshape(tf.div(centered, tf.sqrt(tf.add(variance, GROUP_NORM_EPSILON))), [n, h, w, c]);
    return tf.add(tf.mul(normed, gamma), beta);
  });
}
