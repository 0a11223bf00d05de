import { MetaArgumentError, requireInt, requirePositive } from './errors.js';
import { checkParamLength, unflattenParams, type ModelSpec } from './models/spec.js';
import type { Algorithm, ClientSet } from './algorithms/types.js';
import type { Dataset } from './data/dataset.js';
import { tf } from './tf.js';

/**
 * The lr a personalised evaluation adapts with: `explicit` when given, else the algorithm's
 * innerLr, else its lr; undefined unless that is a finite number > 0.
 */
export function adaptationLr(hyper: Readonly<Record<string, unknown>>, explicit?: number): number | undefined {
  const lr = explicit ?? (typeof hyper['innerLr'] === 'number' ? hyper['innerLr'] : hyper['lr']);
  return typeof lr === 'number' && Number.isFinite(lr) && lr > 0 ? lr : undefined;
}

/** Examples per forward pass of scoreHead (bounds the memory of a large evaluation set). */
const SCORE_BATCH = 1024;

/**
 * The classifier head's logits on `rows`, in batches: the rows whose argmax is their label,
 * the summed softmax cross-entropy in nats and, when `scores` is given (length >= count), each
 * row's class-1 softmax score.
 */
export function scoreHead(spec: ModelSpec, params: Float32Array, rows: Pick<Dataset, 'x' | 'y' | 'count' | 'shape'>, scores: Float64Array | null = null): { correct: number; lossSum: number } {
  const k = spec.numClasses;
  const per = rows.shape.reduce((a, b) => a * b, 1);
  const ps = unflattenParams(spec, params);
  let correct = 0;
  let lossSum = 0;
  try {
    for (let start = 0; start < rows.count; start += SCORE_BATCH) {
      const n = Math.min(SCORE_BATCH, rows.count - start);
      const logits = tf.tidy(() => spec.forward(ps, tf.tensor(rows.x.subarray(start * per, (start + n) * per), [n, ...rows.shape])));
      const z = logits.dataSync() as Float32Array;
      logits.dispose();
      for (let i = 0; i < n; i++) {
        const y = rows.y[start + i]!;
        let max = -Infinity;
        let best = 0;
        for (let j = 0; j < k; j++) {
          const v = z[i * k + j]!;
          if (v > max) {
            max = v;
            best = j;
          }
        }
        let sum = 0;
        for (let j = 0; j < k; j++) sum += Math.exp(z[i * k + j]! - max);
        lossSum += max + Math.log(sum) - z[i * k + y]!;
        if (best === y) correct++;
        if (scores) scores[start + i] = Math.exp(z[i * k + 1]! - max) / sum;
      }
    }
  } finally {
    for (const p of ps) p.dispose();
  }
  return { correct, lossSum };
}

export interface Spread {
  mean: number;
  std: number;
  min: number;
  max: number;
}

export interface PersonalizedReport extends Spread {
  /** per client: accuracy on its query set without adaptation and after `steps` steps */
  perClient: { id: string | number; before: number; after: number }[];
  /** the same statistics without adaptation */
  before: Spread;
  steps: number;
}

export function spread(values: number[]): Spread {
  if (values.length === 0) return { mean: NaN, std: NaN, min: NaN, max: NaN };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { mean, std, min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Personalised accuracy: for each client, adapt `params` with `algorithm.adapt` for `steps`
 * steps on its support set, measure accuracy on its query set; mean/std/min/max across
 * clients (std is the population std), plus the same without adaptation.
 * @throws HyperparameterError for steps < 0 or lr <= 0 (lr may be 0 when steps is 0)
 */
export function evaluatePersonalized(
  algorithm: Algorithm,
  params: Float32Array,
  clients: ClientSet[],
  options: { steps: number; lr: number },
): PersonalizedReport {
  checkParamLength(algorithm.spec, params);
  if (!Array.isArray(clients) || clients.length === 0) throw new MetaArgumentError('clients: need at least one client');
  const steps = requireInt('steps', options?.steps, 0);
  const lr = requirePositive('lr', options?.lr, steps === 0);
  const perClient = clients.map((c) => {
    const before = algorithm.accuracy(params, c.support, c.query);
    const after = steps === 0 ? before : algorithm.accuracy(algorithm.adapt(params, c.support, steps, lr), c.support, c.query);
    return { id: c.id, before, after };
  });
  return {
    ...spread(perClient.map((c) => c.after)),
    before: spread(perClient.map((c) => c.before)),
    perClient,
    steps,
  };
}
