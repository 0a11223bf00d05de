// Shared test helpers for the meta package (not the data layer's helpers in test/data/).
import { federatedMnist } from '../src/data/index.js';
import type { ClientSet } from '../src/algorithms/types.js';
import { tf } from '../src/tf.js';
import { createPrng } from '../src/rng.js';

/** Random normal tensor from a seeded PRNG (independent of tf's global RNG). */
export function randn(shape: number[], seed: number, scale = 1): tf.Tensor {
  const rng = createPrng(seed, 77);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => rng.normal() * scale), shape);
}

/** Max |a - b| over two tensors or arrays. */
export function maxAbsDiff(a: tf.Tensor | ArrayLike<number>, b: tf.Tensor | ArrayLike<number>): number {
  const x = a instanceof tf.Tensor ? a.dataSync() : a;
  const y = b instanceof tf.Tensor ? b.dataSync() : b;
  if (x.length !== y.length) throw new Error(`length ${x.length} vs ${y.length}`);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

/** Max |x| of a tensor or array. */
export function maxAbs(a: tf.Tensor | ArrayLike<number>): number {
  const x = a instanceof tf.Tensor ? a.dataSync() : a;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

let cached: ClientSet[] | undefined;
/**
 * A small real-MNIST federation: 8 clients, Dirichlet(0.5) label skew, 8 support and
 * 10 query examples per class present at each client.
 */
export function smallMnistFederation(): ClientSet[] {
  cached ??= federatedMnist({ clients: 8, scheme: 'dirichlet', alpha: 0.5, supportPerClass: 8, queryPerClass: 10, seed: 3 }).clients;
  return cached;
}
