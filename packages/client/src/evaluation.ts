/**
 * Federated evaluation on a site: the global model of a round on this site's held-out rows
 * (`data.query`, in the federation's column order and standardisation). The same numbers
 * travel in a per-site report (an evalReport frame) or, fixed-point encoded, through a
 * secure sum: count, correct, summed cross-entropy and, for binary tasks, histograms of the
 * class-1 score per true class, from which the coordinator computes the federation's AUC.
 *
 * When the round announces `evalSteps`, the site also scores the same rows with its
 * personalised model: the global model adapted on its own training rows (`data.support`)
 * by the algorithm's adaptation (what `evaluatePersonalized` measures in simulation), the
 * number meta-learning is trained for.
 */
import { createAlgorithm, tf, unflattenParams, type Algorithm, type ModelSpec } from '@fedmeta/meta';
import { encodeFixedPoint } from '@fedmeta/secagg';
import { evaluationValues, TransportError, type EvaluationEncoding, type MessageOf, type RoundConfig } from '@fedmeta/transport';
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
  /**
   * With `evalSteps` announced: the same rows scored by the model adapted on this site's
   * training rows (`steps` adaptation steps at `lr`); `lossSum` exactly when the global
   * model's is present.
   */
  personalised?: { correct: number; lossSum?: number; steps: number; lr: number };
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

/** Correct rows and summed cross-entropy of `params` on `rows`, with the class-1 scores when `scores` is given. */
function scoreRows(spec: ModelSpec, params: Float32Array, rows: ClientDataset, scores: Float64Array | null): { correct: number; lossSum: number } {
  const k = spec.numClasses;
  const per = rows.shape.reduce((a, b) => a * b, 1);
  const ps = unflattenParams(spec, params);
  let correct = 0;
  let lossSum = 0;
  try {
    for (let start = 0; start < rows.count; start += BATCH) {
      const n = Math.min(BATCH, rows.count - start);
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

/**
 * The adaptation a personalised evaluation runs: the algorithm's own (Reptile, the MAML
 * family, Per-FedAvg, FedAvg+FT: full-batch SGD on the support rows; ProtoNets: episodes
 * on the embedding). FedAvg and FedProx serve one global model and adapt nothing
 * themselves, so they are fine-tuned like FedAvg+FT.
 */
export function personalisationOf(algorithm: Algorithm): Algorithm {
  return algorithm.name === 'fedavg' || algorithm.name === 'fedprox' ? createAlgorithm('fedavg-ft', algorithm.spec) : algorithm;
}

/**
 * The adaptation lr a round asks for: `encoding.evalLr`, else the algorithm's innerLr, else its lr.
 * @throws TransportError ERR_BAD_PAYLOAD when none is a finite number > 0 and steps > 0
 */
export function evaluationLr(config: RoundConfig, enc: EvaluationEncoding): number {
  const hyper = config.algorithm.hyper as Record<string, unknown>;
  const lr = enc.evalLr ?? (typeof hyper['innerLr'] === 'number' ? hyper['innerLr'] : hyper['lr']);
  if (typeof lr === 'number' && Number.isFinite(lr) && lr > 0) return lr;
  if ((enc.evalSteps ?? 0) === 0) return 0;
  throw new TransportError('ERR_BAD_PAYLOAD', `roundStart.config.encoding.evalLr: absent, and algorithm.hyper has no innerLr or lr > 0 to adapt with (got ${String(lr)})`);
}

/**
 * Evaluates the round's global model on `query`, and with `evalSteps` announced the model
 * adapted on `support` as well.
 * @param bins score-histogram bins (binary tasks; 0: none)
 * @throws TransportError ERR_INTERNAL when the evaluation fails, ERR_SCHEMA_MISMATCH when the data does not fit the model, ERR_BAD_PAYLOAD for an unusable adaptation lr
 */
export function evaluateHeldOut(config: RoundConfig, params: Float32Array, support: ClientDataset, query: ClientDataset, bins: number): LocalEvaluation {
  const { spec, algorithm } = prepareModel(config, params);
  const k = spec.numClasses;
  const binary = k === 2 && bins > 0;
  const positive = new Uint32Array(binary ? bins : 0);
  const negative = new Uint32Array(binary ? bins : 0);
  const out: LocalEvaluation = { round: config.round, count: query.count, correct: 0, positive, negative };
  const enc = config.encoding.kind === 'evaluation' ? config.encoding : null;
  const steps = enc?.evalSteps;
  const lr = enc && steps !== undefined ? evaluationLr(config, enc) : 0;
  if (query.count === 0) {
    if (steps !== undefined) out.personalised = { correct: 0, steps, lr };
    return out;
  }
  const per = query.shape.reduce((a, b) => a * b, 1);
  if (query.x.length !== query.count * per) throw new TransportError('ERR_SCHEMA_MISMATCH', `held-out rows: ${query.x.length} values for ${query.count} examples of shape [${query.shape.join(', ')}]`);
  try {
    const adapted = steps === undefined ? null : personalisationOf(algorithm).adapt(params, support, steps, lr);
    if (algorithm.name === 'protonets') {
      // Classifies by this site's class prototypes: no classifier head, so no loss or scores.
      out.correct = Math.round(algorithm.accuracy(params, support, query) * query.count);
      if (adapted) out.personalised = { correct: Math.round(algorithm.accuracy(adapted, support, query) * query.count), steps: steps!, lr };
      return out;
    }
    const scores = binary ? new Float64Array(query.count) : null;
    const global = scoreRows(spec, params, query, scores);
    out.correct = global.correct;
    out.lossSum = global.lossSum;
    if (scores) {
      for (let i = 0; i < query.count; i++) (query.y[i] === 1 ? positive : negative)[scoreBin(scores[i]!, bins)]!++;
      const auc = exactAuc(scores, query.y);
      if (auc !== undefined) out.auc = auc;
    }
    if (adapted) {
      const own = scoreRows(spec, adapted, query, null);
      out.personalised = { correct: own.correct, lossSum: own.lossSum, steps: steps!, lr };
    }
    return out;
  } catch (cause) {
    if (cause instanceof TransportError) throw cause;
    throw new TransportError('ERR_INTERNAL', `local evaluation failed: ${(cause as Error).message}`, { cause });
  }
}

/** The evalReport frame of a per-site evaluation round (personalised numbers when computed). */
export function evalReportOf(e: LocalEvaluation): MessageOf<'evalReport'> {
  return {
    type: 'evalReport',
    round: e.round,
    count: e.count,
    correct: e.correct,
    positive: e.positive,
    negative: e.negative,
    ...(e.lossSum !== undefined ? { lossSum: e.lossSum } : {}),
    ...(e.auc !== undefined ? { auc: e.auc } : {}),
    ...(e.personalised ? { personalCorrect: e.personalised.correct, ...(e.lossSum !== undefined ? { personalLossSum: e.personalised.lossSum ?? 0 } : {}) } : {}),
  };
}

/**
 * The fixed-point vector of a secure evaluation round: [count, correct, lossSum,
 * positive[bins], negative[bins]], then with `evalSteps` announced [personal correct,
 * personal lossSum] (0 where a number is absent).
 */
export function encodeEvaluation(e: LocalEvaluation, enc: EvaluationEncoding): Uint32Array {
  const personalised = enc.evalSteps !== undefined;
  const v = new Float64Array(evaluationValues(enc.bins, personalised));
  v[0] = e.count;
  v[1] = e.correct;
  v[2] = e.lossSum ?? 0;
  if (e.positive.length === enc.bins) {
    v.set(e.positive, 3);
    v.set(e.negative, 3 + enc.bins);
  }
  if (personalised) {
    v[3 + 2 * enc.bins] = e.personalised?.correct ?? 0;
    v[4 + 2 * enc.bins] = e.personalised?.lossSum ?? 0;
  }
  try {
    return encodeFixedPoint(v, { limbs: enc.limbs, fracBits: enc.fracBits });
  } catch (cause) {
    throw new TransportError('ERR_BAD_PAYLOAD', `evaluation round: ${(cause as Error).message}`, { cause });
  }
}
