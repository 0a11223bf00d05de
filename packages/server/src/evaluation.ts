/**
 * The held-out loss of the global model, next to the algorithm's own accuracy: the mean
 * softmax cross-entropy of the classifier head's logits on `evaluate.data`. ProtoNets
 * classifies by class prototypes, not by the head, so it has no such loss (undefined).
 */
import { adaptationLr, scoreHead, type Algorithm, type ModelSpec } from '@fedmeta/meta';
import type { EvaluationOptions, FederatedEvaluationOptions, RoundEvaluation } from './options.js';

/** Mean cross-entropy in nats, or undefined for algorithms without a classifier head. */
export function heldOutLoss(algorithm: Pick<Algorithm, 'name'>, spec: ModelSpec, params: Float32Array, data: EvaluationOptions['data']): number | undefined {
  if (algorithm.name === 'protonets' || data.count === 0) return undefined;
  return scoreHead(spec, params, data).lossSum / data.count;
}


/** One site's evaluation sums (a per-site report, or the secure sum of all of them). */
export interface SiteReport {
  name: string;
  count: number;
  correct: number;
  lossSum?: number;
  auc?: number;
  positive: ArrayLike<number>;
  negative: ArrayLike<number>;
  /** The personalised model's (adapted on the site's training rows) on the same rows. */
  personalCorrect?: number;
  personalLossSum?: number;
}

/** Adaptation steps of the personalised evaluation unless configured (fedmeta's meta.evalSteps default). */
export const DEFAULT_EVAL_STEPS = 5;

/**
 * The personalised evaluation every evaluation round announces: `evalSteps` (default 5)
 * adaptation steps at `evalLr` (default the algorithm's innerLr, else its lr; what
 * `fedmeta simulate` adapts with). `lr` is undefined only when none is a number > 0.
 */
export function evaluationAdaptation(ev: FederatedEvaluationOptions | undefined, hyper: Readonly<Record<string, unknown>>): { steps: number; lr: number | undefined } {
  return { steps: ev?.evalSteps ?? DEFAULT_EVAL_STEPS, lr: adaptationLr(hyper, ev?.evalLr) };
}

/**
 * AUC from class-1 score histograms of the positives and negatives: a positive in a higher
 * bin than a negative counts 1, in the same bin one half. Undefined without both classes.
 */
export function histogramAuc(positive: ArrayLike<number>, negative: ArrayLike<number>): number | undefined {
  let p = 0;
  let n = 0;
  for (let b = 0; b < positive.length; b++) {
    p += positive[b]!;
    n += negative[b]!;
  }
  if (p === 0 || n === 0) return undefined;
  let below = 0;
  let wins = 0;
  for (let b = 0; b < positive.length; b++) {
    wins += positive[b]! * (below + negative[b]! / 2);
    below += negative[b]!;
  }
  return wins / (p * n);
}

/**
 * How far the histogram AUC can be from the exact AUC of the same scores: only pairs in the
 * same bin are uncertain (counted one half, truly 0, 1/2 or 1), so at most half their share.
 */
export function histogramAucBound(positive: ArrayLike<number>, negative: ArrayLike<number>): number {
  let p = 0;
  let n = 0;
  let same = 0;
  for (let b = 0; b < positive.length; b++) {
    p += positive[b]!;
    n += negative[b]!;
    same += positive[b]! * negative[b]!;
  }
  return p === 0 || n === 0 ? 0 : same / (2 * p * n);
}

/**
 * The federation's metrics from the sites' sums: accuracy = sum correct / sum count (the
 * mean of the sites' accuracies weighted by their rows, the same as on the pooled rows),
 * loss likewise, AUC from the summed histograms. `perSite` keeps each report (per-site mode).
 * With `adaptation` (the announced personalised evaluation), the personalised accuracy and
 * loss the same way over the reports that carry them.
 * @returns null when no row was evaluated
 */
export function combineEvaluation(report: RoundEvaluation['report'], sites: readonly SiteReport[], siteCount: number, perSite: boolean, adaptation?: { steps: number; lr: number }): RoundEvaluation | null {
  let count = 0;
  let correct = 0;
  let lossSum = 0;
  let withLoss = sites.length > 0;
  const bins = sites[0]?.positive.length ?? 0;
  const positive = new Float64Array(bins);
  const negative = new Float64Array(bins);
  for (const s of sites) {
    count += s.count;
    correct += s.correct;
    if (s.lossSum === undefined) withLoss = false;
    else lossSum += s.lossSum;
    for (let b = 0; b < bins; b++) {
      positive[b]! += s.positive[b] ?? 0;
      negative[b]! += s.negative[b] ?? 0;
    }
  }
  if (count === 0) return null;
  const out: RoundEvaluation = { report, sites: siteCount, count, correct, accuracy: correct / count };
  if (withLoss) out.loss = lossSum / count;
  const auc = bins > 0 ? histogramAuc(positive, negative) : undefined;
  if (auc !== undefined) {
    out.auc = auc;
    out.aucBound = histogramAucBound(positive, negative);
  }
  const personal = sites.filter((s) => s.personalCorrect !== undefined);
  const personalCount = personal.reduce((a, s) => a + s.count, 0);
  if (adaptation && personalCount > 0) {
    const personalCorrect = personal.reduce((a, s) => a + s.personalCorrect!, 0);
    const withPersonalLoss = personal.every((s) => s.personalLossSum !== undefined);
    out.personalised = {
      // A secure sum is one report for all of its sites.
      sites: personal.length === sites.length ? siteCount : personal.length,
      count: personalCount,
      correct: personalCorrect,
      accuracy: personalCorrect / personalCount,
      ...(withPersonalLoss ? { loss: personal.reduce((a, s) => a + s.personalLossSum!, 0) / personalCount } : {}),
      steps: adaptation.steps,
      lr: adaptation.lr,
    };
  }
  if (perSite) {
    // In name order: a stable line on the console, whatever order the reports arrived in.
    out.perSite = [...sites].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((s) => ({
      name: s.name,
      count: s.count,
      correct: s.correct,
      accuracy: s.count > 0 ? s.correct / s.count : 0,
      ...(s.lossSum !== undefined && s.count > 0 ? { loss: s.lossSum / s.count } : {}),
      ...(s.auc !== undefined ? { auc: s.auc } : {}),
      ...(s.personalCorrect !== undefined
        ? { personalised: { correct: s.personalCorrect, accuracy: s.count > 0 ? s.personalCorrect / s.count : 0, ...(s.personalLossSum !== undefined && s.count > 0 ? { loss: s.personalLossSum / s.count } : {}) } }
        : {}),
    }));
  }
  return out;
}

/** Whether `a` beats `b`: higher accuracy, or the same accuracy and a lower loss. */
export function betterEvaluation(a: RoundEvaluation, b: RoundEvaluation): boolean {
  if (a.accuracy !== b.accuracy) return a.accuracy > b.accuracy;
  return (a.loss ?? Infinity) < (b.loss ?? Infinity);
}

/** What the best-round selection is, in words (manifests and summaries). */
export const BEST_METRIC = "federated accuracy on the sites' held-out rows (loss breaks ties)";
