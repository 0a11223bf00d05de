import { unflattenParams, type ModelSpec } from '../models/spec.js';
import { requireInt } from '../errors.js';
import { Slot } from '../engine/index.js';
import { tf } from '../tf.js';
import { lossAndGrads, lossOf, makeBatch, sampleIndices, sgd, finiteScalarOf, allIndices } from './train.js';
import type { Prng } from '../rng.js';
import { adaptBySgd, fusedSgdStep, headAccuracy, runLocal, runLocalAsync, type FusedStep, type LocalStep } from './local.js';
import type { Algorithm, LabeledSet, LocalHyper } from './types.js';

/** `localSteps` minibatch SGD steps (batchSize, lr) on the support set. */
function sgdSteps(spec: ModelSpec, hyper: LocalHyper) {
  return (support: LabeledSet): LocalStep => (params, rng, report) => {
    const batch = makeBatch(spec, support, sampleIndices(support.count, hyper.batchSize, rng));
    const { loss, grads } = lossAndGrads((ps) => lossOf(spec, ps, batch), params);
    report({ loss, what: 'local loss', examples: batch.count });
    return sgd(params, grads, hyper.lr);
  };
}

/** The same step on the fused engine. */
function fusedSgdSteps(hyper: LocalHyper) {
  return (support: LabeledSet): FusedStep => (engine, rng, report) => {
    const indices = sampleIndices(support.count, hyper.batchSize, rng);
    report({ loss: finiteScalarOf(fusedSgdStep(engine, support, indices, hyper.lr), 'local loss'), examples: indices.length });
  };
}

/**
 * FedAvg (McMahan et al. 2017): local minibatch SGD, update = theta_local - theta_global.
 * Its `adapt` does nothing: plain FedAvg serves one global model to everyone.
 */
export function fedAvg(spec: ModelSpec): Algorithm {
  return {
    name: 'fedavg',
    spec,
    localUpdate: (g, data, hyper, seed) => runLocal(spec, g, data, hyper, seed, sgdSteps(spec, hyper), fusedSgdSteps(hyper)),
    localUpdateAsync: (g, data, hyper, seed) => runLocalAsync(spec, g, data, hyper, seed, sgdSteps(spec, hyper), fusedSgdSteps(hyper)),
    // Validates like every adapt, then serves the global model unchanged.
    adapt: (params, support, steps, lr) => {
      requireInt('steps', steps, 0);
      return adaptBySgd(spec, params, support, 0, lr);
    },
    accuracy: (params, _support, query) => headAccuracy(spec, params, query),
  };
}

/**
 * FedAvg + local fine-tuning, the baseline to beat (Matsuda et al. 2022): FedAvg training,
 * then `steps` full-batch SGD steps on the client's support set at evaluation.
 */
export function fedAvgFineTune(spec: ModelSpec): Algorithm {
  return {
    ...fedAvg(spec),
    name: 'fedavg-ft',
    adapt: (params, support, steps, lr) => adaptBySgd(spec, params, support, steps, lr),
  };
}

/** FedProx's default proximal weight mu. */
export const FEDPROX_DEFAULT_MU = 0.01;

/**
 * FedProx's step: minibatch SGD on L(w; batch) + (mu/2) ||w - w_global||^2, i.e.
 * w -= lr * (grad L(w; batch) + mu (w - w_global)). The reported loss is the data loss L.
 */
function proxSteps(spec: ModelSpec, hyper: LocalHyper, globalParams: Float32Array) {
  const mu = hyper.mu ?? FEDPROX_DEFAULT_MU;
  return (support: LabeledSet): LocalStep => (params, rng, report) => {
    const batch = makeBatch(spec, support, sampleIndices(support.count, hyper.batchSize, rng));
    const { loss, grads } = lossAndGrads((ps) => lossOf(spec, ps, batch), params);
    report({ loss, what: 'local loss', examples: batch.count });
    // Inside the skeleton's tidy: the global tensors are freed with the step's intermediates.
    const anchor = unflattenParams(spec, globalParams);
    return sgd(params, grads.map((g, i) => tf.add(g, tf.mul(tf.sub(params[i]!, anchor[i]!), mu))), hyper.lr);
  };
}

/** The same step on the fused engine: the round's start (Slot.Start) is w_global. */
function fusedProxSteps(hyper: LocalHyper) {
  const mu = hyper.mu ?? FEDPROX_DEFAULT_MU;
  return (support: LabeledSet): FusedStep => (engine, rng, report) => {
    const indices = sampleIndices(support.count, hyper.batchSize, rng);
    const loss = engine.lossAndGrad(support, indices);
    engine.axpy(Slot.Grads, Slot.Params, mu);
    engine.axpy(Slot.Grads, Slot.Start, -mu);
    engine.sgd(hyper.lr);
    report({ loss: finiteScalarOf(loss, 'local loss'), examples: indices.length });
  };
}

/**
 * FedProx (Li et al. 2020): FedAvg's local minibatch SGD on the proximal objective
 * L(w) + (mu/2) ||w - w_global||^2 (`mu`, default 0.01), which keeps heterogeneous clients'
 * local models near the global one; mu = 0 is FedAvg. Serves one global model, as FedAvg.
 */
export function fedProx(spec: ModelSpec): Algorithm {
  return {
    ...fedAvg(spec),
    name: 'fedprox',
    localUpdate: (g, data, hyper, seed) => runLocal(spec, g, data, hyper, seed, proxSteps(spec, hyper, g), fusedProxSteps(hyper)),
    localUpdateAsync: (g, data, hyper, seed) => runLocalAsync(spec, g, data, hyper, seed, proxSteps(spec, hyper, g), fusedProxSteps(hyper)),
  };
}

const reptileInner = (hyper: LocalHyper): LocalHyper => ({ ...hyper, localSteps: hyper.innerSteps ?? hyper.localSteps });

/** Reptile's step on tfjs and on the fused engine: full-batch when batchSize covers the support set. */
function reptileSteps(spec: ModelSpec, hyper: LocalHyper): [(support: LabeledSet) => LocalStep, (support: LabeledSet) => FusedStep] {
  const pick = (support: LabeledSet, rng: Prng) => (hyper.batchSize >= support.count ? allIndices(support.count) : sampleIndices(support.count, hyper.batchSize, rng));
  return [
    (support) => (params, rng, report) => {
      const batch = makeBatch(spec, support, pick(support, rng));
      const { loss, grads } = lossAndGrads((ps) => lossOf(spec, ps, batch), params);
      report({ loss, what: 'local loss', examples: batch.count });
      return sgd(params, grads, hyper.lr);
    },
    (support) => (engine, rng, report) => {
      const indices = pick(support, rng);
      report({ loss: finiteScalarOf(fusedSgdStep(engine, support, indices, hyper.lr), 'local loss'), examples: indices.length });
    },
  ];
}

/**
 * Reptile (Nichol et al. 2018), one task per client: from theta, run `innerSteps`
 * (default localSteps) full-batch SGD steps (lr) on the support set - the same procedure as
 * the evaluation-time adaptation - and send phi - theta; the server's step size is
 * Reptile's epsilon. Differs from FedAvg in using the adaptation procedure itself as the
 * local task, which is what makes the learned initialisation adapt fast.
 */
export function reptile(spec: ModelSpec): Algorithm {
  return {
    name: 'reptile',
    spec,
    localUpdate: (g, data, hyper, seed) => runLocal(spec, g, data, reptileInner(hyper), seed, ...reptileSteps(spec, hyper)),
    localUpdateAsync: (g, data, hyper, seed) => runLocalAsync(spec, g, data, reptileInner(hyper), seed, ...reptileSteps(spec, hyper)),
    adapt: (params, support, steps, lr) => adaptBySgd(spec, params, support, steps, lr),
    accuracy: (params, _support, query) => headAccuracy(spec, params, query),
  };
}
