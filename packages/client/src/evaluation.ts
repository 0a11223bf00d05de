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
import { adaptationLr, createAlgorithm, scoreHead, type Algorithm } from '@fedmeta/meta';
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
  const lr = adaptationLr(hyper, enc.evalLr);
  if (lr !== undefined) return lr;
  if ((enc.evalSteps ?? 0) === 0) return 0;
  throw new TransportError('ERR_BAD_PAYLOAD', `roundStart.config.encoding.evalLr: no finite lr > 0 to adapt with (evalLr ${String(enc.evalLr)}, algorithm.hyper innerLr ${String(hyper['innerLr'])}, lr ${String(hyper['lr'])})`);
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
    const global = scoreHead(spec, params, query, scores);
    out.correct = global.correct;
    out.lossSum = global.lossSum;
    if (scores) {
      for (let i = 0; i < query.count; i++) (query.y[i] === 1 ? positive : negative)[scoreBin(scores[i]!, bins)]!++;
      const auc = exactAuc(scores, query.y);
      if (auc !== undefined) out.auc = auc;
    }
    if (adapted) {
      const own = scoreHead(spec, adapted, query);
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
