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
import { adaptBySgd, headAccuracy, runLocal, type LocalStep } from './local.js';
import { finiteScalar, lossAndGrads, lossOf, makeBatch, sampleDisjoint, sampleIndices, sgd, type Batch } from './train.js';
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
  return tf.sqrt(tf.addN(ts.map((t) => tf.sum(tf.square(t)))));
}

/**
 * Hessian-vector product H(theta; batch) v by central differences of gradients along v,
 * with perturbation radius r in parameter space: ||v|| * [g(theta + r u) - g(theta - r u)] / 2r,
 * u = v / ||v||. Exact for quadratic losses; error O(r^2) otherwise. Zero when v = 0.
 */
export function finiteDifferenceHvp(spec: ModelSpec, params: Tensor[], batch: Batch, v: Tensor[], radius: number): Tensor[] {
  const vn = finiteScalar(norm(v), 'Hessian-vector direction norm');
  if (vn === 0) return v.map((t) => tf.zerosLike(t));
  const dir = v.map((t) => tf.mul(t, radius / vn));
  const plus = lossAndGrads((ps) => lossOf(spec, ps, batch), params.map((p, i) => tf.add(p, dir[i]!))).grads;
  const minus = lossAndGrads((ps) => lossOf(spec, ps, batch), params.map((p, i) => tf.sub(p, dir[i]!))).grads;
  return plus.map((g, i) => tf.mul(tf.sub(g, minus[i]!), vn / (2 * radius)));
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
    report({ loss: finiteScalar(loss, 'outer loss'), examples });
    return sgd(params, metaGrad, beta);
  };
}

/** A MAML-family client; `adapt` is full-batch SGD on the support set (what MAML trains for). */
export function mamlFamily(spec: ModelSpec, variant: MamlVariant): Algorithm {
  return {
    name: variant as AlgorithmName,
    spec,
    localUpdate: (g, data, hyper, seed) => runLocal(spec, g, data, hyper, seed, metaStep(spec, variant, hyper)),
    adapt: (params, support, steps, lr) => adaptBySgd(spec, params, support, steps, lr),
    accuracy: (params, _support, query) => headAccuracy(spec, params, query),
  };
}
