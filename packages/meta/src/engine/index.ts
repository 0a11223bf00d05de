/**
 * The fused CPU training engine: forward and backward passes of the package's models as
 * WebAssembly SIMD kernels generated for each layer's shapes (`net.ts`, `gemm.ts`,
 * `kernels.ts`), with the parameters, gradients and activations in one WebAssembly memory
 * per model. It computes the same function and the same gradient as the tfjs path (the
 * tests compare them on random inputs), without tfjs's per-op dispatch, tensor allocation
 * and tape: a training step is a handful of calls into generated code.
 *
 * It serves every first-order computation (FedAvg, FedAvg+FT, Reptile, FO-MAML, Per-FedAvg
 * FO/HF, full-batch adaptation, evaluation). Second-order MAML and ProtoNets stay on tfjs.
 * Which engine runs is `trainingEngine()`: env FEDMETA_ENGINE or setTrainingEngine(), 'auto'
 * by default = this engine when tfjs's active backend is wasm (the CPU backend auto-detection
 * picks) and the host has WebAssembly SIMD; tfjs ops on native TensorFlow, and on the cpu
 * backend, tfjs's op-by-op reference (chosen explicitly, e.g. for reproducing tfjs itself);
 * on webgpu, tfjs for the asynchronous local update and this engine for synchronous calls.
 */
import { MetaError, MetaArgumentError } from '../errors.js';
import type { ModelSpec } from '../models/spec.js';
import { tf } from '../tf.js';
import { vectorOps } from './kernels.js';
import { buildPlan, type NetPlan } from './net.js';
import { instantiateWith, newMemory, simdAvailable, type WasmFn, type WasmMemory } from './wasm-asm.js';

export type TrainingEngineName = 'wasm-simd' | 'tfjs';
export type TrainingEnginePreference = TrainingEngineName | 'auto';
const PREFERENCES: TrainingEnginePreference[] = ['auto', 'wasm-simd', 'tfjs'];

/** Data as the algorithms hold it (structurally the data layer's Dataset). */
export interface EngineData {
  x: Float32Array;
  y: Int32Array;
}

let preference: TrainingEnginePreference = 'auto';
let simd: boolean | undefined;

/** Sets which engine trains ('auto' by default); env FEDMETA_ENGINE overrides it. */
export function setTrainingEngine(p: TrainingEnginePreference): void {
  if (!PREFERENCES.includes(p)) throw new MetaArgumentError(`training engine: unknown "${String(p)}" (expected one of ${PREFERENCES.join(', ')})`);
  preference = p;
}

function currentPreference(): TrainingEnginePreference {
  const env = process.env['FEDMETA_ENGINE'];
  if (env === undefined || env === '') return preference;
  if (!PREFERENCES.includes(env as TrainingEnginePreference)) {
    throw new MetaArgumentError(`FEDMETA_ENGINE: unknown engine "${env}" (expected one of ${PREFERENCES.join(', ')})`);
  }
  return env as TrainingEnginePreference;
}

/**
 * The engine first-order training uses now, and why. `mode` is how the caller reads results:
 * synchronous calls (localUpdate, adapt, accuracy) on webgpu run on this engine, because
 * tfjs's webgpu backend cannot read synchronously in Node; asynchronous ones (localUpdateAsync)
 * run on the GPU through tfjs.
 */
export function trainingEngine(mode: 'sync' | 'async' = 'sync'): { name: TrainingEngineName; reason: string } {
  const p = currentPreference();
  if (p === 'tfjs') return { name: 'tfjs', reason: 'requested' };
  simd ??= simdAvailable();
  if (!simd) {
    if (p === 'wasm-simd') throw new MetaError('META_BACKEND_UNAVAILABLE', 'training engine wasm-simd: this host has no WebAssembly SIMD');
    return { name: 'tfjs', reason: 'no WebAssembly SIMD in this host' };
  }
  if (p === 'wasm-simd') return { name: 'wasm-simd', reason: 'requested' };
  const backend = tf.getBackend();
  if (backend === 'wasm') return { name: 'wasm-simd', reason: 'tfjs backend wasm runs on the CPU' };
  if (backend === 'cpu') return { name: 'tfjs', reason: "tfjs backend cpu is tfjs's reference implementation, kept op by op (FEDMETA_ENGINE=wasm-simd for the engine)" };
  if (backend === 'webgpu') {
    return mode === 'sync'
      ? { name: 'wasm-simd', reason: 'synchronous calls: tfjs webgpu cannot read synchronously in Node; localUpdateAsync trains on the GPU' }
      : { name: 'tfjs', reason: 'asynchronous calls train on the GPU' };
  }
  return { name: 'tfjs', reason: `tfjs backend ${backend} is native TensorFlow` };
}

const engines = new WeakMap<ModelSpec, Engine>();

/**
 * Why the engine cannot run `spec`, or null when it can: its per-channel kernels (average
 * pooling, group norm) work on whole f32x4 vectors of channels, so the residual models need
 * channel counts divisible by 4. Such models train with tfjs ops.
 */
export function engineUnsupported(spec: ModelSpec): string | null {
  const c = spec.config;
  const widths = c.kind === 'resnet' ? c.stages : c.kind === 'resnet18' ? (c.widths ?? []) : [];
  const bad = widths.find((w) => w % 4 !== 0);
  return bad === undefined ? null : `${c.kind} width ${bad} is not a multiple of 4`;
}

/** The fused engine for `spec` when it is the one to use now and supports it, else null (train with tfjs). */
export function engineFor(spec: ModelSpec, mode: 'sync' | 'async' = 'sync'): Engine | null {
  if (trainingEngine(mode).name !== 'wasm-simd' || engineUnsupported(spec)) return null;
  let e = engines.get(spec);
  if (!e) engines.set(spec, (e = new Engine(spec)));
  return e;
}

/** Parameter-sized vectors in memory: the parameters, their gradient, and work vectors. */
export const Slot = { Params: 0, Grads: 1, A: 2, B: 3, C: 4, Acc: 5, Start: 6, Diff: 7 } as const;
const SLOTS = 8;
const MAX_PLANS = 6;
/** Batch of the evaluation and full-batch paths: fixed, so one compiled plan serves any set size. */
export const CHUNK = 32;

export class Engine {
  readonly memory: WasmMemory;
  readonly paramCount: number;
  private readonly slotBytes: number;
  private readonly offsets: number[];
  private readonly plans = new Map<number, NetPlan>();
  private readonly perExamplePlans = new Map<number, NetPlan>();
  private readonly ops: Record<string, WasmFn>;
  private view: Float32Array;

  constructor(readonly spec: ModelSpec) {
    this.paramCount = spec.paramCount;
    this.slotBytes = 4 * (Math.ceil(spec.paramCount / 4) * 4 + 16);
    this.offsets = [];
    let at = 0;
    for (const p of spec.params) {
      this.offsets.push(at);
      at += p.shape.reduce((a, b) => a * b, 1);
    }
    const pages = Math.ceil((this.base() + 65536) / 65536);
    this.memory = newMemory(pages);
    this.ops = instantiateWith(vectorOps(), this.memory, pages);
    this.view = new Float32Array(this.memory.buffer);
  }

  /** Byte address of slot k. */
  slot(k: number): number {
    return 64 + k * this.slotBytes;
  }
  private base(): number {
    return this.slot(SLOTS);
  }
  /** A float view of the whole memory, valid until the next plan grows it. */
  f32(): Float32Array {
    if (this.view.buffer !== this.memory.buffer) this.view = new Float32Array(this.memory.buffer);
    return this.view;
  }
  /** The vector in slot k (a view). */
  vector(k: number): Float32Array {
    const at = this.slot(k) / 4;
    return this.f32().subarray(at, at + this.paramCount);
  }
  /** A separately compiled plan with one function per kernel, for `NetPlan.timeSteps` (not cached). */
  profilePlan(n: number): NetPlan {
    return buildPlan(this.spec, this.layout(), n, () => this.f32(), true);
  }
  private layout() {
    return { memory: this.memory, base: this.base(), param: (i: number) => this.slot(Slot.Params) + 4 * this.offsets[i]!, grad: (i: number) => this.slot(Slot.Grads) + 4 * this.offsets[i]! };
  }
  /** The compiled program for batch size n (cached; the least recently used is dropped). */
  plan(n: number): NetPlan {
    let p = this.plans.get(n);
    if (p) {
      this.plans.delete(n);
      this.plans.set(n, p);
      return p;
    }
    p = buildPlan(this.spec, this.layout(), n, () => this.f32());
    this.plans.set(n, p);
    if (this.plans.size > MAX_PLANS) this.plans.delete(this.plans.keys().next().value!);
    return p;
  }
  /**
   * The program for batch size n that also writes per-example conv kernel gradients
   * (`NetPlan.perExample`; DP-SGD). Cached apart from the training plans; the least recently
   * used is dropped.
   */
  perExamplePlan(n: number): NetPlan {
    let p = this.perExamplePlans.get(n);
    if (p) {
      this.perExamplePlans.delete(n);
      this.perExamplePlans.set(n, p);
      return p;
    }
    p = buildPlan(this.spec, this.layout(), n, () => this.f32(), false, true);
    this.perExamplePlans.set(n, p);
    if (this.perExamplePlans.size > MAX_PLANS + 2) this.perExamplePlans.delete(this.perExamplePlans.keys().next().value!);
    return p;
  }
  /** Byte address of parameter i in slot k. */
  paramAddress(k: number, i: number): number {
    return this.slot(k) + 4 * this.offsets[i]!;
  }
  /**
   * Copies examples `indices` of `data` into the plan's input and labels; rows past them (a
   * short last chunk) are zeroed so they stay finite.
   */
  load(plan: NetPlan, data: EngineData, indices: ArrayLike<number>, start = 0, count = indices.length - start): void {
    const per = plan.inputFloats / plan.n;
    const m = this.f32();
    const at = plan.input / 4;
    for (let i = 0; i < count; i++) {
      const j = indices[start + i]!;
      m.set(data.x.subarray(j * per, (j + 1) * per), at + i * per);
      const label = data.y[j]!;
      if (!(label >= 0 && label < this.spec.numClasses)) {
        throw new MetaError('META_DATA_MISMATCH', `label ${label} of example ${j} is outside 0..${this.spec.numClasses - 1}`);
      }
      plan.labels[i] = label;
    }
    if (count < plan.n) {
      m.fill(0, at + count * per, at + plan.n * per);
      plan.labels.fill(0, count);
    }
  }
  /**
   * Loss and gradient (into Slot.Grads) of the mean cross-entropy over examples `indices` of
   * `data` at the parameters in Slot.Params. Up to CHUNK examples run as one batch; more run
   * in chunks of CHUNK (zero-weight padding in the last), accumulated in Slot.Acc, so one
   * compiled plan serves any set size. Exact either way: every model's loss is a sum over
   * independent examples (group norm normalises within an example).
   */
  lossAndGrad(data: EngineData, indices: ArrayLike<number>): number {
    const total = indices.length;
    if (total <= CHUNK) {
      const plan = this.plan(total);
      this.load(plan, data, indices);
      return plan.lossAndGrad();
    }
    const plan = this.plan(CHUNK);
    let loss = 0;
    try {
      for (let start = 0; start < total; start += CHUNK) {
        const count = Math.min(CHUNK, total - start);
        this.load(plan, data, indices, start, count);
        plan.weights.fill(0).fill(1 / total, 0, count);
        loss += plan.lossAndGrad();
        if (start === 0) this.copy(Slot.Acc, Slot.Grads);
        else this.axpy(Slot.Acc, Slot.Grads, 1);
      }
    } finally {
      plan.weights.fill(1 / CHUNK);
    }
    this.copy(Slot.Grads, Slot.Acc);
    return loss;
  }
  /** Logits [indices.length, classes] at Slot.Params (batches of at most CHUNK). */
  logits(data: EngineData, indices: ArrayLike<number>): Float32Array {
    const classes = this.spec.numClasses;
    const total = indices.length;
    const out = new Float32Array(total * classes);
    // A plan already compiled for this size, else the CHUNK plan (padded).
    const plan = total <= CHUNK && this.plans.has(total) ? this.plan(total) : this.plan(CHUNK);
    for (let start = 0; start < total; start += plan.n) {
      const count = Math.min(plan.n, total - start);
      this.load(plan, data, indices, start, count);
      plan.forward();
      const at = plan.logits / 4;
      out.set(this.f32().subarray(at, at + count * classes), start * classes);
    }
    return out;
  }
  /** y += a * x over parameter slots. */
  axpy(y: number, x: number, a: number): void {
    this.ops['axpy']!(this.slot(y), this.slot(x), a, this.paramCount);
  }
  copy(dst: number, src: number): void {
    this.vector(dst).set(this.vector(src));
  }
  /** params -= lr * grads */
  sgd(lr: number): void {
    this.axpy(Slot.Params, Slot.Grads, -lr);
  }
  setParams(flat: Float32Array): void {
    this.vector(Slot.Params).set(flat);
  }
  /**
   * Starts a local round: the parameters and a copy (Slot.Start) both set to `flat`, which
   * `update()` subtracts at the end.
   */
  begin(flat: Float32Array): void {
    this.setParams(flat);
    this.copy(Slot.Start, Slot.Params);
  }
  /** params - start (a new array), or null when a parameter is NaN or infinite. */
  update(): Float32Array | null {
    const probe = this.ops['diff']!(this.slot(Slot.Diff), this.slot(Slot.Params), this.slot(Slot.Start), this.paramCount) as number;
    // The rounded-up tail of the vectors takes part in the probe: it is zero in both slots.
    if (probe !== 0) return null;
    return this.vector(Slot.Diff).slice();
  }
  /** A copy of the parameters. */
  params(): Float32Array {
    return this.vector(Slot.Params).slice();
  }
}
