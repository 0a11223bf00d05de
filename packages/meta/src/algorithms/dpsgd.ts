/**
 * DP-SGD (Abadi et al. 2016), the client-side core: per-example gradients, each clipped to L2
 * norm C, summed, Gaussian noise added to the sum, divided by the expected batch size, an SGD
 * step; batches by Poisson sampling (every record independently with probability q).
 *
 * Vectorised, no loop over examples through the model: one forward and backward pass of the
 * whole batch on the fused engine (`engine/`) with per-example loss weights 1 keeps every dense
 * and conv layer's input activations A and output deltas D. Then
 * - dense layers: example i's kernel gradient is the outer product a_i^T d_i, so its squared
 *   norm is ||a_i||^2 ||d_i||^2 (the ghost-norm trick: nothing per-example is materialised);
 * - conv layers: example i's kernel gradient is patches_i^T D_i, one batched GEMM over the
 *   examples from the im2col patches (generated WebAssembly, as the training kernels);
 * - the clipped sum sum_i c_i g_i with c_i = min(1, C / ||g_i||) is A^T diag(c) D per layer:
 *   the backward pass again, from the kept activations, with per-example loss weights c_i
 *   (the deltas are linear in the weights), so every layer's kernel gradient is one GEMM.
 * One DP-SGD step costs one forward and two backward passes plus the conv layers' batched
 * per-example GEMMs. Supports the `linear`, `mlp` and `cnn` models; other kinds are a typed
 * error. Runs on the fused engine whatever tfjs backend is active.
 */
import { MetaArgumentError, MetaError, HyperparameterError, requireInt, requirePositive } from '../errors.js';
import { checkParamLength, type ModelSpec } from '../models/spec.js';
import { Engine, Slot } from '../engine/index.js';
import type { NetPlan } from '../engine/net.js';
import { simdAvailable } from '../engine/wasm-asm.js';
import { checkData } from './train.js';
import type { ClientSet, LabeledSet, LocalMetrics, LocalResult } from './types.js';

export interface DpSgdHyper {
  /** DP-SGD steps in this call (>= 1) */
  steps: number;
  /** Poisson sampling: every record is in a step's batch independently with probability q (0 < q <= 1) */
  sampleRate: number;
  lr: number;
  /** C: each example's gradient is scaled to L2 norm <= C */
  l2Clip: number;
  /**
   * std per coordinate of the Gaussian noise added to the SUM of clipped gradients at each
   * step (sigma*C locally, sigma*C/sqrt(t) as a share; 0 = none)
   */
  noiseStd: number;
  /** the noisy sum is divided by this (default q * records); never by the realised batch size (that would leak it) */
  expectedBatchSize?: number;
}

export interface DpSgdSources {
  /** [0,1) for Poisson sampling (the client passes a CSPRNG) */
  uniform: () => number;
  /** fills out with N(0, std^2) samples (the client passes a CSPRNG-backed sampler) */
  gaussian: (out: Float32Array, std: number) => void;
}

export interface DpSgdMetrics extends LocalMetrics {
  /** realised Poisson batch size of every step */
  batchSizes: number[];
  /** their mean */
  batchSizeMean: number;
  /** fraction of the sampled examples whose gradient norm exceeded l2Clip (0 when none was sampled) */
  clippedFraction: number;
}

export interface DpSgdResult extends LocalResult {
  metrics: DpSgdMetrics;
}

/** Examples per engine pass (the training engine's CHUNK: larger plans run slower here, the CNN's at 64 at half the rate); larger batches run in passes of this many. */
const PASS = 32;
/** DP-SGD's engines, apart from the training ones (they run on every backend). */
const engines = new WeakMap<ModelSpec, Engine>();

/** Why DP-SGD cannot run `spec`, as a typed error, or its engine. */
function engineOf(spec: ModelSpec): Engine {
  const kind = spec.config.kind;
  if (kind !== 'linear' && kind !== 'mlp' && kind !== 'cnn') {
    throw new MetaArgumentError(`DP-SGD: per-example gradients support the linear, mlp and cnn models, not ${kind}`);
  }
  let e = engines.get(spec);
  if (!e) {
    if (!simdAvailable()) throw new MetaError('META_BACKEND_UNAVAILABLE', 'DP-SGD runs on the fused engine, which needs WebAssembly SIMD (Node 16.4+)');
    engines.set(spec, (e = new Engine(spec)));
  }
  return e;
}

function checkIndices(set: LabeledSet, indices: ArrayLike<number>): void {
  if (!indices || typeof indices.length !== 'number') throw new MetaArgumentError('indices: expected an array of example indices');
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    if (!Number.isInteger(j) || j < 0 || j >= set.count) throw new MetaArgumentError(`indices[${i}]: ${j} is not an example index of a set of ${set.count}`);
  }
}

/** Float offsets of every parameter in the flat vector. */
function offsetsOf(spec: ModelSpec): number[] {
  const out: number[] = [];
  let at = 0;
  for (const p of spec.params) {
    out.push(at);
    at += p.shape.reduce((a, b) => a * b, 1);
  }
  return out;
}

/** The smallest power of two >= count, at most PASS: few compiled plans, at most 2x padding. */
const planSize = (count: number) => Math.min(PASS, 2 ** Math.ceil(Math.log2(Math.max(1, count))));

/**
 * Forward and backward of examples indices[start, start + count) with loss weights 1 (padding
 * rows 0), then the conv layers' per-example kernel gradients. Leaves the plan's activations,
 * deltas and per-example buffers for the caller to read.
 */
function perExamplePass(engine: Engine, set: LabeledSet, indices: ArrayLike<number>, start: number, count: number): NetPlan {
  const plan = engine.perExamplePlan(planSize(count));
  engine.load(plan, set, indices, start, count);
  plan.weights.fill(0).fill(1, 0, count);
  plan.lossAndGrad();
  plan.perExample();
  return plan;
}

/** Squared L2 norm of every example's gradient (float64), from the kept activations and deltas. */
function squaredNorms(engine: Engine, plan: NetPlan, count: number): Float64Array {
  const m = engine.f32();
  const out = new Float64Array(count);
  for (const l of plan.layers) {
    const a0 = l.input / 4;
    const d0 = l.delta / 4;
    const rowD = l.positions * l.out;
    for (let i = 0; i < count; i++) {
      let bias = 0;
      let kernel = 0;
      if (l.kind === 'dense') {
        // ||a_i^T d_i||^2 = ||a_i||^2 ||d_i||^2 (ghost norm); the bias gradient is d_i
        let a2 = 0;
        const a = a0 + i * l.inputFloats;
        for (let k = 0; k < l.inputFloats; k++) a2 += m[a + k]! * m[a + k]!;
        let d2 = 0;
        const d = d0 + i * rowD;
        for (let j = 0; j < l.out; j++) d2 += m[d + j]! * m[d + j]!;
        kernel = a2 * d2;
        bias = d2;
      } else {
        const pe = l.perExample! / 4 + i * l.kc * l.out;
        const size = l.kc * l.out;
        for (let k = 0; k < size; k++) kernel += m[pe + k]! * m[pe + k]!;
        if (l.bias !== undefined) bias = sumSquaresOfColumnSums(m, d0 + i * rowD, l.positions, l.out);
      }
      out[i] = out[i]! + kernel + (l.bias !== undefined ? bias : 0);
    }
  }
  return out;
}

function sumSquaresOfColumnSums(m: Float32Array, at: number, rows: number, cols: number): number {
  const sums = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) sums[j] = sums[j]! + m[at + r * cols + j]!;
  let s = 0;
  for (let j = 0; j < cols; j++) s += sums[j]! * sums[j]!;
  return s;
}

function checkSpecAndSet(spec: ModelSpec, params: Float32Array, set: LabeledSet, indices: ArrayLike<number>): Engine {
  const engine = engineOf(spec);
  checkParamLength(spec, params);
  checkData(spec, set, 'set');
  checkIndices(set, indices);
  return engine;
}

/**
 * Every example's gradient of its own cross-entropy, from one batched pass (no loop over the
 * examples through the model).
 * @returns grads: indices.length x spec.paramCount, row-major, rows in the flat parameter
 *   order; losses: each example's cross-entropy
 * @throws MetaArgumentError for a model other than linear, mlp or cnn, or a bad index
 */
export function perExampleGradients(spec: ModelSpec, params: Float32Array, set: LabeledSet, indices: ArrayLike<number>): { grads: Float32Array; losses: Float32Array } {
  const engine = checkSpecAndSet(spec, params, set, indices);
  engine.setParams(params);
  const P = spec.paramCount;
  const total = indices.length;
  const grads = new Float32Array(total * P);
  const losses = new Float32Array(total);
  const offsets = offsetsOf(spec);
  for (let start = 0; start < total; start += PASS) {
    const count = Math.min(PASS, total - start);
    const plan = perExamplePass(engine, set, indices, start, count);
    losses.set(plan.losses.subarray(0, count), start);
    const m = engine.f32();
    for (const l of plan.layers) {
      const a0 = l.input / 4;
      const d0 = l.delta / 4;
      const rowD = l.positions * l.out;
      const k0 = offsets[l.kernel]!;
      const b0 = l.bias === undefined ? -1 : offsets[l.bias]!;
      for (let i = 0; i < count; i++) {
        const row = (start + i) * P;
        const d = d0 + i * rowD;
        if (l.kind === 'dense') {
          const a = a0 + i * l.inputFloats;
          for (let k = 0; k < l.inputFloats; k++) {
            const ak = m[a + k]!;
            const base = row + k0 + k * l.out;
            for (let j = 0; j < l.out; j++) grads[base + j] = ak * m[d + j]!;
          }
          if (b0 >= 0) for (let j = 0; j < l.out; j++) grads[row + b0 + j] = m[d + j]!;
        } else {
          const pe = l.perExample! / 4 + i * l.kc * l.out;
          grads.set(m.subarray(pe, pe + l.kc * l.out), row + k0);
          if (b0 >= 0) {
            for (let r = 0; r < l.positions; r++) {
              for (let j = 0; j < l.out; j++) grads[row + b0 + j] = grads[row + b0 + j]! + m[d + r * l.out + j]!;
            }
          }
        }
      }
    }
  }
  return { grads, losses };
}

/**
 * sum_i c_i g_i, c_i = min(1, C / ||g_i||), into Slot.Acc of the engine, at the parameters
 * in Slot.Params. Zero for an empty batch.
 */
function clippedSumIntoAcc(engine: Engine, set: LabeledSet, indices: ArrayLike<number>, l2Clip: number): { clipped: number; lossSum: number } {
  const acc = engine.vector(Slot.Acc);
  acc.fill(0);
  let clipped = 0;
  let lossSum = 0;
  for (let start = 0; start < indices.length; start += PASS) {
    const count = Math.min(PASS, indices.length - start);
    const plan = perExamplePass(engine, set, indices, start, count);
    for (let i = 0; i < count; i++) lossSum += plan.losses[i]!;
    const norms2 = squaredNorms(engine, plan, count);
    const c2 = l2Clip * l2Clip;
    for (let i = 0; i < count; i++) {
      const n2 = norms2[i]!;
      if (n2 > c2) {
        clipped++;
        plan.weights[i] = l2Clip / Math.sqrt(n2);
      }
      // else: weight 1, the example's gradient unchanged
    }
    // The backward pass again with per-example weights c_i: every layer's kernel gradient is A^T diag(c) D.
    plan.backward();
    engine.axpy(Slot.Acc, Slot.Grads, 1);
  }
  return { clipped, lossSum };
}

/**
 * The sum over examples `indices` of each example's gradient clipped to L2 norm <= l2Clip.
 * @returns sum (paramCount), count (examples), clipped (examples whose norm exceeded l2Clip),
 *   lossMean (their mean cross-entropy; NaN for no examples)
 */
export function clippedGradientSum(spec: ModelSpec, params: Float32Array, set: LabeledSet, indices: ArrayLike<number>, l2Clip: number): { sum: Float32Array; count: number; clipped: number; lossMean: number } {
  const engine = checkSpecAndSet(spec, params, set, indices);
  requirePositive('l2Clip', l2Clip);
  engine.setParams(params);
  const { clipped, lossSum } = clippedSumIntoAcc(engine, set, indices, l2Clip);
  const count = indices.length;
  return { sum: engine.vector(Slot.Acc).slice(), count, clipped, lossMean: count ? lossSum / count : NaN };
}

function checkDpHyper(h: DpSgdHyper, records: number): number {
  if (!h || typeof h !== 'object') throw new MetaArgumentError('hyper: expected a DpSgdHyper object');
  requireInt('steps', h.steps, 1);
  if (typeof h.sampleRate !== 'number' || !(h.sampleRate > 0 && h.sampleRate <= 1)) {
    throw new HyperparameterError('sampleRate', `must be a number in (0, 1], got ${String(h.sampleRate)}`);
  }
  requirePositive('lr', h.lr);
  requirePositive('l2Clip', h.l2Clip);
  requirePositive('noiseStd', h.noiseStd, true);
  const expected = h.expectedBatchSize ?? h.sampleRate * records;
  if (h.expectedBatchSize !== undefined) requirePositive('expectedBatchSize', h.expectedBatchSize);
  else if (!(expected > 0)) throw new HyperparameterError('expectedBatchSize', 'sampleRate * records is 0 (no records): give expectedBatchSize');
  return expected;
}

/**
 * Poisson sampling: each of `count` records is in the batch independently with probability
 * `rate`, one `uniform()` draw per record in order. Written into `into` (a fresh array when
 * absent); returns the chosen indices.
 */
export function poissonSample(count: number, rate: number, uniform: () => number, into: Int32Array = new Int32Array(count)): Int32Array {
  let size = 0;
  for (let j = 0; j < count; j++) if (uniform() < rate) into[size++] = j;
  return into.subarray(0, size);
}

/**
 * `hyper.steps` DP-SGD steps from `globalParams` on `data.support`: per step a Poisson batch
 * (each record with probability sampleRate, from `sources.uniform`), the sum of the per-example
 * gradients clipped to l2Clip, plus N(0, noiseStd^2) noise per coordinate
 * (`sources.gaussian`), divided by expectedBatchSize (default sampleRate * records), an SGD
 * step at lr. An empty batch is a step of noise alone.
 * @returns update = local - global, weight 1, metrics with the realised batch sizes and the
 *   clipped fraction
 * @throws HyperparameterError for bad hyperparameters, MetaArgumentError for a model other than
 *   linear, mlp or cnn, MetaError META_NON_FINITE when the parameters diverge
 */
export function dpSgdUpdate(spec: ModelSpec, globalParams: Float32Array, data: ClientSet, hyper: DpSgdHyper, sources: DpSgdSources): DpSgdResult {
  const engine = engineOf(spec);
  checkParamLength(spec, globalParams, 'globalParams');
  if (!data || typeof data !== 'object') throw new MetaArgumentError('data: expected a ClientData');
  const set = data.support;
  checkData(spec, set, 'data.support');
  const expected = checkDpHyper(hyper, set.count);
  if (!sources || typeof sources.uniform !== 'function' || typeof sources.gaussian !== 'function') {
    throw new MetaArgumentError('sources: expected { uniform, gaussian } functions');
  }
  const started = performance.now();
  engine.begin(globalParams);
  const noise = new Float32Array(spec.paramCount);
  const batchSizes: number[] = [];
  const indices = new Int32Array(set.count);
  let clippedTotal = 0;
  let examples = 0;
  let lossFirst = NaN;
  let lossLast = NaN;
  for (let s = 0; s < hyper.steps; s++) {
    const batch = poissonSample(set.count, hyper.sampleRate, sources.uniform, indices);
    const size = batch.length;
    const { clipped, lossSum } = clippedSumIntoAcc(engine, set, batch, hyper.l2Clip);
    if (hyper.noiseStd > 0) {
      sources.gaussian(noise, hyper.noiseStd);
      const acc = engine.vector(Slot.Acc);
      for (let i = 0; i < noise.length; i++) acc[i] = acc[i]! + noise[i]!;
    }
    engine.axpy(Slot.Params, Slot.Acc, -hyper.lr / expected);
    const loss = size ? lossSum / size : NaN;
    if (s === 0) lossFirst = loss;
    lossLast = loss;
    batchSizes.push(size);
    clippedTotal += clipped;
    examples += size;
  }
  const update = engine.update();
  if (!update) throw new MetaError('META_NON_FINITE', 'DP-SGD parameters became non-finite (learning rate too large?)');
  return {
    update,
    weight: 1,
    metrics: {
      lossFirst,
      lossLast,
      examples,
      steps: hyper.steps,
      millis: performance.now() - started,
      batchSizes,
      batchSizeMean: examples / hyper.steps,
      clippedFraction: examples ? clippedTotal / examples : 0,
    },
  };
}
