/**
 * The held-out loss of the global model, next to the algorithm's own accuracy: the mean
 * softmax cross-entropy of the classifier head's logits on `evaluate.data`. ProtoNets
 * classifies by class prototypes, not by the head, so it has no such loss (undefined).
 */
import { tf, unflattenParams, type Algorithm, type ModelSpec } from '@fedmeta/meta';
import type { EvaluationOptions } from './options.js';

/** Examples per forward pass (bounds the memory of a large evaluation set). */
const BATCH = 1024;

/** Mean cross-entropy in nats, or undefined for algorithms without a classifier head. */
export function heldOutLoss(algorithm: Pick<Algorithm, 'name'>, spec: ModelSpec, params: Float32Array, data: EvaluationOptions['data']): number | undefined {
  if (algorithm.name === 'protonets' || data.count === 0) return undefined;
  const per = data.shape.reduce((a, b) => a * b, 1);
  const ps = unflattenParams(spec, params);
  let total = 0;
  try {
    for (let start = 0; start < data.count; start += BATCH) {
      const n = Math.min(BATCH, data.count - start);
      const logits = tf.tidy(() => spec.forward(ps, tf.tensor(data.x.subarray(start * per, (start + n) * per), [n, ...data.shape])));
      const z = logits.dataSync() as Float32Array;
      logits.dispose();
      const k = spec.numClasses;
      for (let i = 0; i < n; i++) {
        let max = -Infinity;
        for (let j = 0; j < k; j++) max = Math.max(max, z[i * k + j]!);
        let sum = 0;
        for (let j = 0; j < k; j++) sum += Math.exp(z[i * k + j]! - max);
        total += max + Math.log(sum) - z[i * k + data.y[start + i]!]!;
      }
    }
  } finally {
    for (const p of ps) p.dispose();
  }
  return total / data.count;
}

