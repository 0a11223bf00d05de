/**
 * MAML (Finn et al. 2017) and Per-FedAvg (Fallah et al. 2020) as federated clients. One
 * local meta-step: sample two disjoint minibatches D_in, D_out of the support set (plus a
 * third, D_h, for the Hessian-free variant), adapt phi = theta - alpha * grad L(theta; D_in)
 * (innerSteps times), then theta <- theta - beta * meta-gradient, where the meta-gradient is
 *   maml:          d/dtheta L(phi(theta); D_out), exact, through the inner steps (second order)
 *   fomaml:        grad L(phi; D_out)  (first order: the Jacobian of phi is taken as I)
 *   perfedavg-fo:  = fomaml with one inner step (Per-FedAvg FO)
 *   perfedavg-hf:  (I - alpha * H(theta; D_h)) grad L(phi; D_out), with H v approximated by
 *                  ||v|| * [grad L(theta + r v/||v||; D_h) - grad L(theta - r v/||v||; D_h)] / 2r,
 *                  which is Fallah et al.'s [grad f(w + d v) - grad f(w - d v)] / 2d with d = r/||v||.
 * alpha = hyper.innerLr (default = lr), beta = hyper.lr; update = theta_local - theta_global.
 */
import type { ModelSpec } from '../models/spec.js';
import { tf, type Tensor } from '../tf.js';
import { Slot } from '../engine/index.js';
import { addAll } from '../ops/conv.js';
import { adaptBySgd, fusedSgdStep, headAccuracy, runLocal, runLocalAsync, type FusedStep, type LocalStep } from './local.js';
import { finiteScalarOf, lossAndGrads, lossOf, makeBatch, sampleDisjoint, sampleIndices, sgd, type Batch } from './train.js';
import type { Algorithm, AlgorithmName, LabeledSet, LocalHyper } from './types.js';

export type MamlVariant = 'maml' | 'fomaml' | 'perfedavg-fo' | 'perfedavg-hf';

/** theta after `steps` inner SGD steps on `batch`; differentiable w.r.t. theta when taped. */
function innerAdapt(spec: ModelSpec, params: Tensor[], batch: Batch, steps: number, alpha: number): Tensor[] {
  let adapted = params;
  for (let s = 0; s < steps; s++) {
    const grads = tf.grads((...ps: Tensor[]) => lossOf(spec, ps, batch) as tf.Scalar)(adapted);
    adapted = sgd(adapted, grads, alpha);
  }
  return adapted;
}

/**
 * The exact MAML meta-gradient d/dtheta L(phi(theta); outer) through `steps` inner steps,
 * and the outer loss. Exported for the finite-difference test.
 */
export function mamlMetaGradient(
  spec: ModelSpec,
  params: Tensor[],
  inner: Batch,
  outer: Batch,
  steps: number,
  alpha: number,
): { loss: Tensor; grads: Tensor[] } {
  return lossAndGrads((ps) => lossOf(spec, innerAdapt(spec, ps, inner, steps, alpha), outer), params);
}

function norm(ts: Tensor[]): Tensor {
  return tf.sqrt(addAll(ts.map((t) => tf.sum(tf.square(t)))));
}

/**
 * Hessian-vector product H(theta; batch) v by central differences of gradients along v,
 * with perturbation radius r in parameter space: ||v|| * [g(theta + r u) - g(theta - r u)] / 2r,
 * u = v / ||v||. Exact for quadratic losses; error O(r^2) otherwise. Zero when v = 0 (the
 * step r / ||v|| is then 0, by divNoNan). No value is read back from the backend, so this
 * also runs inside the asynchronous local update (webgpu).
 */
export function finiteDifferenceHvp(spec: ModelSpec, params: Tensor[], batch: Batch, v: Tensor[], radius: number): Tensor[] {
  const vn = norm(v);
  const dir = v.map((t) => tf.mul(t, tf.divNoNan(tf.scalar(radius), vn)));
  const plus = lossAndGrads((ps) => lossOf(spec, ps, batch), params.map((p, i) => tf.add(p, dir[i]!))).grads;
  const minus = lossAndGrads((ps) => lossOf(spec, ps, batch), params.map((p, i) => tf.sub(p, dir[i]!))).grads;
  const scale = tf.div(vn, 2 * radius);
  return plus.map((g, i) => tf.mul(tf.sub(g, minus[i]!), scale));
}

function metaStep(spec: ModelSpec, variant: MamlVariant, hyper: LocalHyper) {
  const alpha = hyper.innerLr ?? hyper.lr;
  const beta = hyper.lr;
  const innerSteps = variant.startsWith('perfedavg') ? 1 : hyper.innerSteps ?? 1;
  const radius = hyper.hvpRadius ?? 1e-3;
  return (support: LabeledSet): LocalStep => (params, rng, report) => {
    const [inIdx, outIdx] = sampleDisjoint(support.count, hyper.batchSize, rng);
    const inner = makeBatch(spec, support, inIdx);
    const outer = makeBatch(spec, support, outIdx);
    let examples = inner.count * innerSteps + outer.count;
    let metaGrad: Tensor[];
    let loss: Tensor;
    if (variant === 'maml') {
      ({ loss, grads: metaGrad } = mamlMetaGradient(spec, params, inner, outer, innerSteps, alpha));
    } else {
      const phi = innerAdapt(spec, params, inner, innerSteps, alpha);
      ({ loss, grads: metaGrad } = lossAndGrads((ps) => lossOf(spec, ps, outer), phi));
      if (variant === 'perfedavg-hf') {
        // Independent batch D_h for the Hessian-vector product, as in Per-FedAvg.
        const hess = makeBatch(spec, support, sampleIndices(support.count, hyper.batchSize, rng));
        const hv = finiteDifferenceHvp(spec, params, hess, metaGrad, radius);
        metaGrad = metaGrad.map((g, i) => tf.sub(g, tf.mul(hv[i]!, alpha)));
        examples += 2 * hess.count;
      }
    }
    report({ loss, what: 'outer loss', examples });
    return sgd(params, metaGrad, beta);
  };
}

/**
 * The first-order variants on the fused engine, the same arithmetic on parameter-sized
 * vectors: slot A keeps theta, B the meta-gradient of the Hessian-free variant, C the
 * difference of its two gradients. Second-order MAML has no fused form (tfjs's tape).
 */
function fusedMetaStep(variant: Exclude<MamlVariant, 'maml'>, hyper: LocalHyper) {
  const alpha = hyper.innerLr ?? hyper.lr;
  const beta = hyper.lr;
  const innerSteps = variant.startsWith('perfedavg') ? 1 : hyper.innerSteps ?? 1;
  const radius = hyper.hvpRadius ?? 1e-3;
  return (support: LabeledSet): FusedStep => (e, rng, report) => {
    const [inIdx, outIdx] = sampleDisjoint(support.count, hyper.batchSize, rng);
    let examples = inIdx.length * innerSteps + outIdx.length;
    e.copy(Slot.A, Slot.Params);
    for (let s = 0; s < innerSteps; s++) fusedSgdStep(e, support, inIdx, alpha);
    const loss = e.lossAndGrad(support, outIdx);
    let meta: number = Slot.Grads;
    if (variant === 'perfedavg-hf') {
      const hess = sampleIndices(support.count, hyper.batchSize, rng);
      examples += 2 * hess.length;
      e.copy(Slot.B, Slot.Grads);
      meta = Slot.B;
      const v = e.vector(Slot.B);
      let sq = 0;
      for (let i = 0; i < v.length; i++) sq += v[i]! * v[i]!;
      const vn = finiteScalarOf(Math.fround(Math.sqrt(sq)), 'Hessian-vector direction norm');
      if (vn !== 0) {
        // C = grad L(theta + r u; D_h) - grad L(theta - r u; D_h), u = v / ||v||
        e.copy(Slot.Params, Slot.A);
        e.axpy(Slot.Params, Slot.B, radius / vn);
        e.lossAndGrad(support, hess);
        e.copy(Slot.C, Slot.Grads);
        e.copy(Slot.Params, Slot.A);
        e.axpy(Slot.Params, Slot.B, -radius / vn);
        e.lossAndGrad(support, hess);
        e.axpy(Slot.C, Slot.Grads, -1);
        // meta = v - alpha * H v, H v = C * ||v|| / 2r
        e.axpy(Slot.B, Slot.C, -alpha * vn / (2 * radius));
      }
    }
    report({ loss: finiteScalarOf(loss, 'outer loss'), examples });
    e.copy(Slot.Params, Slot.A);
    e.axpy(Slot.Params, meta, -beta);
  };
}

/** A MAML-family client; `adapt` is full-batch SGD on the support set (what MAML trains for). */
export function mamlFamily(spec: ModelSpec, variant: MamlVariant): Algorithm {
  return {
    name: variant as AlgorithmName,
    spec,
    localUpdate: (g, data, hyper, seed) =>
      runLocal(spec, g, data, hyper, seed, metaStep(spec, variant, hyper), variant === 'maml' ? undefined : fusedMetaStep(variant, hyper)),
    localUpdateAsync: (g, data, hyper, seed) =>
      runLocalAsync(spec, g, data, hyper, seed, metaStep(spec, variant, hyper), variant === 'maml' ? undefined : fusedMetaStep(variant, hyper)),
    adapt: (params, support, steps, lr) => adaptBySgd(spec, params, support, steps, lr),
    accuracy: (params, _support, query) => headAccuracy(spec, params, query),
  };
}
