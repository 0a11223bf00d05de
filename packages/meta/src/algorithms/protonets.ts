/**
 * Prototypical Networks (Snell et al. 2017) in a federation: the federation meta-learns the
 * embedding (the model's `embed`, the head is unused and stays at its initial value); each
 * site classifies a query example by the nearest class prototype (mean support embedding of
 * that class, squared Euclidean distance) over the classes in ITS OWN support set.
 *
 * Local step: an episode from a random subset (batchSize) of the support set: per class, half
 * of its examples form the episode's support (prototypes), the rest its query; loss = cross
 * entropy of softmax(-distance). update = theta_local - theta_global as for every algorithm.
 */
import { checkParamLength, flattenParams, unflattenParams, type ModelSpec } from '../models/spec.js';
import { requireInt, requirePositive } from '../errors.js';
import { createPrng, permutation, type Prng } from '../rng.js';
import { crossEntropySafe } from '../ops/twice-differentiable.js';
import { tf, type Tensor } from '../tf.js';
import { runLocal, runLocalAsync, requireSyncReads, type LocalStep } from './local.js';
import { allIndices, argmaxAccuracy, checkData, disposeAll, lossAndGrads, makeBatch, sgd, stepInPlace } from './train.js';
import type { Algorithm, LabeledSet, LocalHyper } from './types.js';

interface Episode {
  support: Int32Array;
  query: Int32Array;
  /** class labels present, in prototype order */
  classes: number[];
}

/** Splits `indices` per class into prototype and query halves; classes with < 2 examples are left out. */
function makeEpisode(data: LabeledSet, indices: ArrayLike<number>, rng: Prng): Episode | undefined {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    const c = data.y[j]!;
    const list = byClass.get(c) ?? [];
    list.push(j);
    byClass.set(c, list);
  }
  const support: number[] = [];
  const query: number[] = [];
  const classes: number[] = [];
  for (const [c, list] of [...byClass.entries()].sort((a, b) => a[0] - b[0])) {
    if (list.length < 2) continue;
    const p = permutation(list.length, rng);
    const half = Math.floor(list.length / 2);
    classes.push(c);
    for (let k = 0; k < list.length; k++) (k < half ? support : query).push(list[p[k]!]!);
  }
  if (classes.length < 2) return undefined;
  return { support: Int32Array.from(support), query: Int32Array.from(query), classes };
}

/** Class prototypes [classes, d] from support embeddings [n, d] by a constant averaging matrix (no gather). */
function prototypes(embeddings: Tensor, labels: Int32Array, classes: number[]): Tensor {
  const a = new Float32Array(classes.length * labels.length);
  classes.forEach((c, r) => {
    let n = 0;
    for (const y of labels) if (y === c) n++;
    labels.forEach((y, i) => {
      if (y === c) a[r * labels.length + i] = 1 / n;
    });
  });
  return tf.matMul(tf.tensor2d(a, [classes.length, labels.length]), embeddings);
}

/** Negative squared distances [q, classes]: the logits of a prototypical classifier. */
function negDistances(queryEmb: Tensor, protos: Tensor): Tensor {
  const q2 = tf.sum(tf.square(queryEmb), 1, true);
  const p2 = tf.reshape(tf.sum(tf.square(protos), 1), [1, -1]);
  return tf.neg(tf.add(tf.sub(q2, tf.mul(tf.matMul(queryEmb, protos, false, true), 2)), p2));
}

function episodeLoss(spec: ModelSpec, params: Tensor[], data: LabeledSet, ep: Episode): Tensor {
  const s = makeBatch(spec, data, ep.support);
  const q = makeBatch(spec, data, ep.query);
  const protos = prototypes(spec.embed(params, s.x), s.labels, ep.classes);
  const hot = new Float32Array(q.count * ep.classes.length);
  q.labels.forEach((y, i) => (hot[i * ep.classes.length + ep.classes.indexOf(y)] = 1));
  return crossEntropySafe(negDistances(spec.embed(params, q.x), protos), tf.tensor2d(hot, [q.count, ep.classes.length]));
}

/**
 * One SGD step on the embedding parameters only: the head takes no part in the prototypical
 * loss (tf.grads refuses parameters outside the graph), so it is carried over unchanged.
 */
function embeddingStep(spec: ModelSpec, params: Tensor[], data: LabeledSet, ep: Episode, lr: number): { loss: Tensor; next: Tensor[] } {
  const head = params.slice(-2);
  const { loss, grads } = lossAndGrads((body) => episodeLoss(spec, [...body, ...head], data, ep), params.slice(0, -2));
  return { loss, next: [...sgd(params.slice(0, -2), grads, lr), ...head.map((h) => tf.clone(h))] };
}

/** One episode per local step (tfjs only: its loss has no fused form). */
function episodeSteps(spec: ModelSpec, hyper: LocalHyper) {
  return (support: LabeledSet): LocalStep => (params, rng, report) => {
    const subset = permutation(support.count, rng).subarray(0, Math.min(hyper.batchSize, support.count));
    const ep = makeEpisode(support, subset, rng) ?? makeEpisode(support, allIndices(support.count), rng);
    if (!ep) {
      // Fewer than two classes with two examples: nothing to contrast, keep the parameters.
      report({ loss: 0, examples: 0 });
      return params.map((p) => tf.clone(p));
    }
    const { loss, next } = embeddingStep(spec, params, support, ep, hyper.lr);
    report({ loss, what: 'episode loss', examples: ep.support.length + ep.query.length });
    return next;
  };
}

export function protoNets(spec: ModelSpec): Algorithm {
  return {
    name: 'protonets',
    spec,
    localUpdate: (g, data, hyper, seed) => runLocal(spec, g, data, hyper, seed, episodeSteps(spec, hyper)),
    localUpdateAsync: (g, data, hyper, seed) => runLocalAsync(spec, g, data, hyper, seed, episodeSteps(spec, hyper)),
    /** Optional fine-tuning of the embedding: `steps` episodes drawn from the whole support set. */
    adapt: (params, support, steps, lr) => {
      checkParamLength(spec, params);
      requireInt('steps', steps, 0);
      requirePositive('lr', lr, steps === 0);
      checkData(spec, support, 'support');
      if (steps === 0) return params.slice();
      requireSyncReads('ProtoNets adaptation');
      const rng = createPrng(support.count, 0x9707);
      let ps = unflattenParams(spec, params);
      try {
        for (let s = 0; s < steps; s++) {
          const ep = makeEpisode(support, allIndices(support.count), rng);
          if (!ep) break;
          ps = stepInPlace(ps, (cur) => embeddingStep(spec, cur, support, ep, lr).next);
        }
        return flattenParams(spec, ps);
      } finally {
        disposeAll(ps);
      }
    },
    accuracy: (params, support, query) => {
      checkParamLength(spec, params);
      checkData(spec, support, 'support');
      checkData(spec, query, 'query');
      if (query.count === 0) return 0;
      const classes = [...new Set(support.y)].sort((a, b) => a - b);
      if (classes.length === 0) return 0;
      requireSyncReads('ProtoNets evaluation');
      const ps = unflattenParams(spec, params);
      try {
        return tf.tidy(() => {
          const s = makeBatch(spec, support, allIndices(support.count));
          const q = makeBatch(spec, query, allIndices(query.count));
          const scores = negDistances(spec.embed(ps, q.x), prototypes(spec.embed(ps, s.x), s.labels, classes));
          // Map each query label to its prototype index; absent classes can never be hit.
          const mapped = q.labels.map((y) => classes.indexOf(y));
          return argmaxAccuracy(scores, mapped);
        });
      } finally {
        disposeAll(ps);
      }
    },
  };
}
