/**
 * Federated evaluation on a site: the global model of a round on this site's held-out rows
 * (`data.query`, in the federation's column order and standardisation). The same numbers
 * travel in a per-site report (an evalReport frame) or, fixed-point encoded, through a
 * secure sum: count, correct, summed cross-entropy and, for binary tasks, histograms of the
 * class-1 score per true class, from which the coordinator computes the federation's AUC.
 */
import { tf, unflattenParams } from '@fedmeta/meta';
import { encodeFixedPoint } from '@fedmeta/secagg';
import { evaluationValues, TransportError, type EvaluationEncoding, type RoundConfig } from '@fedmeta/transport';
import { prepareModel } from './pipeline.js';
import type { ClientDataset } from './options.js';

export interface LocalEvaluation {
  round: number;
  count: number;
  correct: number;
  /** Summed cross-entropy (nats); absent without a classifier head (protonets). */
  lossSum?: number;
  /** This site's exact AUC (binary tasks with both classes among its held-out rows). */
  auc?: number;
  /** Binary tasks: rows of class 1 / class 0 per class-1 score bin (`bins` equal bins over [0, 1]). */
  positive: Uint32Array;
  negative: Uint32Array;
}

/** Examples per forward pass. */
const BATCH = 1024;

/** The bin of a score in [0, 1] among `bins` equal bins (1 falls in the last). */
export function scoreBin(score: number, bins: number): number {
  return Math.min(bins - 1, Math.max(0, Math.floor(score * bins)));
}

/** Exact AUC (Mann-Whitney, ties count one half) of class-1 scores; undefined without both classes. */
export function exactAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number | undefined {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    const rank = (i + j) / 2 + 1; // average rank of a tie group, 1-based
    for (let k = i; k <= j; k++) if (labels[idx[k]!] === 1) {
      pos++;
      rankSum += rank;
    }
    i = j + 1;
  }
  const neg = idx.length - pos;
  if (pos === 0 || neg === 0) return undefined;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/**
 * Evaluates the round's global model on `query`.
 * @param bins score-histogram bins (binary tasks; 0: none)
 * @throws TransportError ERR_INTERNAL when the evaluation fails, ERR_SCHEMA_MISMATCH when the data does not fit the model
 */
export function evaluateHeldOut(config: RoundConfig, params: Float32Array, support: ClientDataset, query: ClientDataset, bins: number): LocalEvaluation {
  const { spec, algorithm } = prepareModel(config, params);
  const k = spec.numClasses;
  const binary = k === 2 && bins > 0;
  const positive = new Uint32Array(binary ? bins : 0);
  const negative = new Uint32Array(binary ? bins : 0);
  const out: LocalEvaluation = { round: config.round, count: query.count, correct: 0, positive, negative };
  if (query.count === 0) return out;
  const per = query.shape.reduce((a, b) => a * b, 1);
  if (query.x.length !== query.count * per) throw new TransportError('ERR_SCHEMA_MISMATCH', `held-out rows: ${query.x.length} values for ${query.count} examples of shape [${query.shape.join(', ')}]`);
  try {
    if (algorithm.name === 'protonets') {
      // Classifies by this site's class prototypes: no classifier head, so no loss or scores.
      out.correct = Math.round(algorithm.accuracy(params, support, query) * query.count);
      return out;
    }
    const ps = unflattenParams(spec, params);
    let lossSum = 0;
    const scores = binary ? new Float64Array(query.count) : null;
    try {
      for (let start = 0; start < query.count; start += BATCH) {
        const n = Math.min(BATCH, query.count - start);
        const logits = tf.tidy(() => spec.forward(ps, tf.tensor(query.x.subarray(start * per, (start + n) * per), [n, ...query.shape])));
        const z = logits.dataSync() as Float32Array;
        logits.dispose();
        for (let i = 0; i < n; i++) {
          const y = query.y[start + i]!;
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
          if (best === y) out.correct++;
          if (scores) {
            const p1 = Math.exp(z[i * k + 1]! - max) / sum;
            scores[start + i] = p1;
            (y === 1 ? positive : negative)[scoreBin(p1, bins)]!++;
          }
        }
      }
    } finally {
      for (const p of ps) p.dispose();
    }
    out.lossSum = lossSum;
    if (scores) {
      const auc = exactAuc(scores, query.y);
      if (auc !== undefined) out.auc = auc;
    }
    return out;
  } catch (cause) {
    if (cause instanceof TransportError) throw cause;
    throw new TransportError('ERR_INTERNAL', `local evaluation failed: ${(cause as Error).message}`, { cause });
  }
}

/** The fixed-point vector of a secure evaluation round: [count, correct, lossSum, positive[bins], negative[bins]]. */
export function encodeEvaluation(e: LocalEvaluation, enc: EvaluationEncoding): Uint32Array {
  const v = new Float64Array(evaluationValues(enc.bins));
  v[0] = e.count;
  v[1] = e.correct;
  v[2] = e.lossSum ?? 0;
  if (e.positive.length === enc.bins) {
    v.set(e.positive, 3);
    v.set(e.negative, 3 + enc.bins);
  }
  try {
    return encodeFixedPoint(v, { limbs: enc.limbs, fracBits: enc.fracBits });
  } catch (cause) {
    throw new TransportError('ERR_BAD_PAYLOAD', `evaluation round: ${(cause as Error).message}`, { cause });
  }
}
