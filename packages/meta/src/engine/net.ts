/**
 * Lowers a model spec to the engine's kernels for one batch size: a forward program that
 * reads the parameters and a batch and writes logits, the softmax cross-entropy (in JS: it is
 * n x classes numbers), and a backward program that writes the gradient of the mean loss
 * w.r.t. every parameter. Consecutive kernels share one generated function; the few steps
 * that need JS (the loss, group norm's per-group statistics) sit between functions.
 *
 * Memory (one WebAssembly memory per model, shared by every batch size's plan): the
 * parameter vector and its gradient at fixed addresses (spec order, the flat layout), then
 * this plan's input, activations, their gradients and scratch. Activations are kept from the
 * forward pass for the backward pass; im2col columns are recomputed into one scratch buffer.
 * Every parameter is used by exactly one layer, so each parameter gradient is written once;
 * an activation's gradient is written by its first consumer in backward order and
 * accumulated by the others (residual connections).
 */
import type { ModelSpec, ResNet18Full } from '../models/spec.js';
import { emitGemm, emitGemmBatch } from './gemm.js';
import {
  emitInputTransform, emitKernelGradTransform, emitKernelTransform, emitOutputGradTransform, emitOutputTransform, emitPadImage,
  tilesOf, type WinogradShape,
} from './winograd.js';
import {
  emitAdd, emitBroadcastPixels, emitChannelAffine, emitChannelReduce, emitCol2im, emitColSum, emitCopy,
  emitFill, emitIm2col, emitReluMask, emitTranspose, type ConvGeometry,
} from './kernels.js';
import { Fn, instantiateWith, type WasmFn, type WasmMemory } from './wasm-asm.js';
import { GROUP_NORM_EPSILON } from '../ops/norm.js';

/** Where the plan finds the parameters, their gradients and its own region. */
export interface Layout {
  memory: WasmMemory;
  /** byte address of parameter i / of its gradient */
  param(i: number): number;
  grad(i: number): number;
  /** first byte this plan may use */
  base: number;
}

interface T {
  addr: number;
  n: number;
  h: number;
  w: number;
  c: number;
  /** gradient buffer, allocated by the first consumer that writes it in backward order */
  grad?: number;
  /** false for the input batch: no gradient is computed for it */
  needsGrad: boolean;
}
const floatsOf = (t: T) => t.n * t.h * t.w * t.c;

type Step = { fn: Fn; label: string } | { js: () => void; label: string };

const GN_EPS = GROUP_NORM_EPSILON;
/** Reduction chunk of the packed GEMMs: 256 steps keep a packed panel within 8 KiB. */
const KBLOCK = 256;
/** 3x3 stride-1 convolutions by Winograd F(2x2, 3x3) (env FEDMETA_WINOGRAD=0: im2col for all). */
const WINOGRAD = process.env['FEDMETA_WINOGRAD'] !== '0';

class Builder {
  private top: number;
  readonly forward: Step[] = [];
  readonly backward: Step[] = [];
  /** kernels run after a training pass on demand (per-example gradients of DP-SGD) */
  readonly perExample: Step[] = [];
  private readonly pendingBackward: ((b: Builder) => void)[] = [];
  private phase: Step[] = this.forward;
  private counter = 0;
  /** the largest scratch (im2col columns, transposed weights) any layer asked for */
  scratchNeed = 0;

  /** `scratchAt`: where the shared scratch buffer starts; activations follow `scratchFloats` of it. */
  constructor(readonly layout: Layout, readonly n: number, private readonly scratchAt: number, scratchFloats: number, readonly profile: boolean) {
    this.top = scratchAt;
    this.alloc(scratchFloats);
  }
  alloc(floats: number): number {
    const at = this.top;
    this.top += 4 * Math.ceil(floats / 4) * 4 + 64;
    return at;
  }
  get end(): number {
    return this.top;
  }
  /**
   * The function the next kernel is appended to: the current one (a new one after a JS step),
   * or with `profile` a function per kernel, so each can be timed under its label.
   */
  fn(label: string): Fn {
    const last = this.phase[this.phase.length - 1];
    if (!this.profile && last && 'fn' in last) return last.fn;
    const fn = new Fn(`k${this.counter++}`);
    this.phase.push({ fn, label });
    return fn;
  }
  js(label: string, run: () => void): void {
    this.phase.push({ js: run, label });
  }
  onBackward(emit: (b: Builder) => void): void {
    this.pendingBackward.push(emit);
  }
  /** Switches where the next kernels go to the per-example program. */
  beginPerExample(): void {
    this.phase = this.perExample;
  }
  emitBackward(): void {
    this.phase = this.backward;
    for (let i = this.pendingBackward.length - 1; i >= 0; i--) this.pendingBackward[i]!(this);
  }
  tensor(n: number, h: number, w: number, c: number): T {
    return { addr: this.alloc(n * h * w * c), n, h, w, c, needsGrad: true };
  }
  private packBuffer = 0;
  /** A buffer for GEMM packing (8 * KBLOCK floats), shared by every GEMM of the plan. */
  pack(): number {
    if (!this.packBuffer) this.packBuffer = this.alloc(8 * KBLOCK);
    return this.packBuffer;
  }
  /** The shared scratch buffer (im2col columns, transposed weights), for `floats` floats. */
  scratch(floats: number): number {
    this.scratchNeed = Math.max(this.scratchNeed, floats);
    return this.scratchAt;
  }
  /** Gradient buffer of t for writing: returns [address, accumulate?] and marks it written. */
  gradFor(t: T): [number, boolean] {
    if (t.grad !== undefined) return [t.grad, true];
    t.grad = this.alloc(floatsOf(t));
    return [t.grad, false];
  }
}

/** A compiled plan for one batch size. */
export interface NetPlan {
  readonly n: number;
  /** byte address of the input batch [n, ...inputShape] */
  readonly input: number;
  readonly inputFloats: number;
  /** labels of the current batch (write before lossAndGrad) */
  readonly labels: Int32Array;
  /** per-example loss weights, 1/n unless changed (zero-weight rows pad a short chunk) */
  readonly weights: Float32Array;
  /** logits after forward/lossAndGrad: byte address of [n, classes] */
  readonly logits: number;
  readonly classes: number;
  /** each example's (unweighted) cross-entropy after the last lossAndGrad / backward */
  readonly losses: Float32Array;
  /** the dense and conv layers in spec order, with the addresses of their inputs and output deltas */
  readonly layers: readonly ParamLayer[];
  forward(): void;
  /** forward, mean softmax cross-entropy, backward; returns the loss */
  lossAndGrad(): number;
  /**
   * The loss and backward pass again on the activations the last forward pass kept (with the
   * current `weights`, e.g. per-example clipping factors); returns the weighted loss
   */
  backward(): number;
  /**
   * Plans built with `perExample`: writes each conv layer's per-example kernel gradients
   * (`ParamLayer.perExample`) from the deltas the last backward pass left
   */
  perExample(): void;
  /** lossAndGrad, timed per step label (per kernel when built with `profile`) */
  timeSteps(): Map<string, number>;
}

interface Lowering {
  b: Builder;
  spec: ModelSpec;
  /** float view of memory (refreshed after growth) */
  f32: () => Float32Array;
  /** the dense and conv layers as they are lowered */
  layers: PendingLayer[];
}

/**
 * A dense or conv layer as the per-example gradient code (DP-SGD) reads it after a training
 * pass: the layer's input activations are kept from the forward pass, and its output delta
 * dL/dz (after the ReLU mask) from the backward pass, both per example in consecutive rows.
 * The per-example kernel gradient is input_i^T delta_i: the outer product of two vectors for a
 * dense layer (`positions` 1), im2col patches [positions, kc] times deltas [positions, out]
 * for a conv.
 */
export interface ParamLayer {
  kind: 'dense' | 'conv';
  /** parameter indices (spec order) of the kernel and the bias */
  kernel: number;
  bias: number | undefined;
  /** byte address of the inputs: [n, kc] (dense) or [n, h, w, c] (conv) */
  input: number;
  /** floats of one example's input */
  inputFloats: number;
  /** byte address of the output deltas [n, positions, out] */
  delta: number;
  /** output positions per example (1 for dense, outH * outW for conv) */
  positions: number;
  /** rows of the kernel (dense: inputs, conv: k * k * inC) */
  kc: number;
  out: number;
  /** conv, in plans built with `perExample`: byte address of the kernel gradients [n, kc, out] */
  perExample?: number;
}
type PendingLayer = Omit<ParamLayer, 'delta'> & { y: T; geometry?: ConvGeometry };

function dense(L: Lowering, x: T, kernel: number, bias: number, out: number, relu: boolean): T {
  const { b } = L;
  const inF = x.h * x.w * x.c;
  const y = b.tensor(x.n, 1, 1, out);
  emitGemm(b.fn('dense: GEMM forward'), { m: x.n, n: out, k: inF, a: x.addr, aRow: inF, aCol: 1, b: b.layout.param(kernel), ldb: out, c: y.addr, ldc: out, bias: b.layout.param(bias), relu });
  L.layers.push({ kind: 'dense', kernel, bias, input: x.addr, inputFloats: inF, positions: 1, kc: inF, out, y });
  b.onBackward((bb) => {
    const dy = y.grad!;
    if (relu) emitReluMask(bb.fn('ReLU masks'), dy, y.addr, floatsOf(y));
    emitGemm(bb.fn('dense: GEMM weight gradient'), { m: inF, n: out, k: x.n, a: x.addr, aRow: 1, aCol: inF, b: dy, ldb: out, c: bb.layout.grad(kernel), ldc: out, kBlock: KBLOCK, packA: bb.pack() });
    emitColSum(bb.fn('bias gradients'), bb.layout.grad(bias), dy, x.n, out, out, false);
    if (x.needsGrad) {
      const [dx, acc] = bb.gradFor(x);
      const wt = bb.scratch(inF * out);
      emitTranspose(bb.fn('weight transposes'), wt, bb.layout.param(kernel), inF, out);
      emitGemm(bb.fn('dense: GEMM input gradient'), { m: x.n, n: inF, k: out, a: dy, aRow: out, aCol: 1, b: wt, ldb: inF, c: dx, ldc: inF, accumulate: acc, kBlock: KBLOCK, packB: bb.pack() });
    }
  });
  return y;
}

function samePad(size: number, k: number, stride: number): { out: number; before: number } {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + k - size, 0);
  return { out, before: Math.floor(total / 2) };
}

/**
 * Winograd F(2x2, 3x3) convolution (winograd.ts) of `input` [n, h, w, inC] with the kernel at
 * byte address `kernelAddr` [3, 3, inC, outC] into `output`: pad, input and kernel transforms,
 * 16 GEMMs, output transform (bias, ReLU or accumulation fused in). Scratch from `at`.
 */
function winogradForward(b: Builder, label: string, input: number, s: WinogradShape, inC: number, kernelAddr: number, outC: number, output: number, at: number, opts: { bias?: number; relu?: boolean; accumulate?: boolean; keepV?: number }): void {
  const tiles = tilesOf(s);
  const xp = at;
  const v = opts.keepV ?? xp + 4 * (s.n * (s.h + 2) * (s.w + 2) * inC + 16);
  const u = xp + 4 * (s.n * (s.h + 2) * (s.w + 2) * inC + 16) + 4 * (16 * tiles * inC + 16);
  const m = u + 4 * (16 * inC * outC + 16);
  emitPadImage(b.fn(`${label}: Winograd pad + input transform`), input, xp, s, inC);
  emitInputTransform(b.fn(`${label}: Winograd pad + input transform`), xp, v, s, inC);
  emitKernelTransform(b.fn(`${label}: Winograd kernel transforms`), kernelAddr, u, inC, outC);
  emitGemmBatch(b.fn(`${label}: Winograd GEMMs`), { m: tiles, n: outC, k: inC, a: v, aRow: inC, aCol: 1, b: u, ldb: outC, c: m, ldc: outC }, 16, { a: 4 * tiles * inC, b: 4 * inC * outC, c: 4 * tiles * outC });
  emitOutputTransform(b.fn(`${label}: Winograd output transform`), m, output, s, outC, opts);
}

const winogradScratch = (s: WinogradShape, inC: number, outC: number) =>
  s.n * (s.h + 2) * (s.w + 2) * inC + 16 * tilesOf(s) * (inC + outC) + 16 * inC * outC + 64;

/**
 * A 3x3 stride-1 'same' convolution by Winograd F(2x2, 3x3): forward, and backward as the
 * kernel gradient dg = G^T (V^T Z) G and the input gradient as the forward algorithm on dY
 * with the transposed kernel. Needs even sizes and channel counts divisible by 4.
 */
function winogradConv(L: Lowering, x: T, kernel: number, bias: number | undefined, out: number, relu: boolean): T {
  const { b } = L;
  const s: WinogradShape = { n: x.n, h: x.h, w: x.w };
  const tiles = tilesOf(s);
  const y = b.tensor(x.n, x.h, x.w, out);
  // The transformed input V is kept for the kernel gradient (4 times the input's size).
  const keptV = b.alloc(16 * tiles * x.c);
  winogradForward(b, 'conv', x.addr, s, x.c, b.layout.param(kernel), out, y.addr, b.scratch(winogradScratch(s, x.c, out)), {
    bias: bias === undefined ? undefined : b.layout.param(bias),
    relu,
    keepV: keptV,
  });
  b.onBackward((bb) => {
    const dy = y.grad!;
    if (relu) emitReluMask(bb.fn('ReLU masks'), dy, y.addr, floatsOf(y));
    if (bias !== undefined) emitColSum(bb.fn('bias gradients'), bb.layout.grad(bias), dy, tiles * 4, out, out, false);
    // Kernel gradient: V (kept from the forward pass) and Z, 16 GEMMs dU = V^T Z, then G^T dU G.
    const wgradFloats = 16 * tiles * out + 16 * x.c * out + 64;
    const dgradFloats = 9 * x.c * out + 16 + winogradScratch(s, out, x.c);
    const at = bb.scratch(Math.max(wgradFloats, x.needsGrad ? dgradFloats : 0));
    const v = keptV;
    const z = at;
    const du = z + 4 * (16 * tiles * out + 16);
    emitOutputGradTransform(bb.fn('conv: Winograd output-gradient transform'), dy, z, s, out);
    emitGemmBatch(
      bb.fn('conv: Winograd GEMMs'),
      { m: x.c, n: out, k: tiles, a: v, aRow: 1, aCol: x.c, b: z, ldb: out, c: du, ldc: out, kBlock: KBLOCK, packA: bb.pack() },
      16,
      { a: 4 * tiles * x.c, b: 4 * tiles * out, c: 4 * x.c * out },
    );
    emitKernelGradTransform(bb.fn('conv: Winograd kernel transforms'), du, bb.layout.grad(kernel), x.c, out);
    if (!x.needsGrad) return;
    // Input gradient: the 'same' convolution of dY with taps reversed, channel axes swapped.
    const [dx, acc] = bb.gradFor(x);
    const wt = at;
    emitTranspose(bb.fn('weight transposes'), wt, bb.layout.param(kernel), x.c, out, 9, true);
    winogradForward(bb, 'conv', dy, s, out, wt, x.c, dx, at + 4 * (9 * x.c * out + 16), { accumulate: acc });
  });
  return y;
}

/** KxK convolution, TF 'same' padding, optional bias and ReLU. */
function conv(L: Lowering, x: T, kernel: number, bias: number | undefined, k: number, stride: number, out: number, relu: boolean): T {
  const { b } = L;
  if (WINOGRAD && k === 3 && stride === 1 && x.h % 2 === 0 && x.w % 2 === 0 && x.c % 4 === 0 && out % 4 === 0) {
    return winogradConv(L, x, kernel, bias, out, relu);
  }
  const ph = samePad(x.h, k, stride);
  const pw = samePad(x.w, k, stride);
  const g: ConvGeometry = { n: x.n, h: x.h, w: x.w, c: x.c, kh: k, kw: k, stride, outH: ph.out, outW: pw.out, padTop: ph.before, padLeft: pw.before };
  const y = b.tensor(x.n, ph.out, pw.out, out);
  const rows = x.n * ph.out * pw.out;
  const kc = k * k * x.c;
  L.layers.push({ kind: 'conv', kernel, bias, input: x.addr, inputFloats: x.h * x.w * x.c, positions: ph.out * pw.out, kc, out, y, geometry: g });
  const direct = k === 1 && stride === 1;
  const colsFloats = rows * kc;
  {
    const cols = direct ? x.addr : b.scratch(colsFloats);
    if (!direct) emitIm2col(b.fn('conv: im2col'), g, x.addr, cols);
    emitGemm(b.fn('conv: GEMM forward'), { m: rows, n: out, k: kc, a: cols, aRow: kc, aCol: 1, b: b.layout.param(kernel), ldb: out, c: y.addr, ldc: out, bias: bias === undefined ? undefined : b.layout.param(bias), relu });
  }
  b.onBackward((bb) => {
    const dy = y.grad!;
    if (relu) emitReluMask(bb.fn('ReLU masks'), dy, y.addr, floatsOf(y));
    if (bias !== undefined) emitColSum(bb.fn('bias gradients'), bb.layout.grad(bias), dy, rows, out, out, false);
    const [dx, acc] = x.needsGrad ? bb.gradFor(x) : [0, false];
    // Columns (recomputed), the weight gradient, then the columns' gradient into the same scratch.
    // Stride 1 with an odd kernel and 'same' padding: the input gradient is the 'same'
    // convolution of dy with the kernel's taps reversed and its channel axes swapped (a
    // GEMM with K = k * k * out instead of out, and im2col instead of col2im's scatter).
    const transposed = stride === 1 && k % 2 === 1 && !direct;
    const colsMax = transposed ? rows * Math.max(kc, k * k * out) : colsFloats;
    const scratch = bb.scratch(colsMax + kc * out + 4);
    const cols = direct ? x.addr : scratch;
    const wt = scratch + 4 * (Math.ceil(colsMax / 4) * 4);
    if (!direct) emitIm2col(bb.fn('conv: im2col'), g, x.addr, cols);
    emitGemm(bb.fn('conv: GEMM weight gradient'), { m: kc, n: out, k: rows, a: cols, aRow: 1, aCol: kc, b: dy, ldb: out, c: bb.layout.grad(kernel), ldc: out, kBlock: KBLOCK, packA: bb.pack() });
    if (!x.needsGrad) return;
    if (transposed) {
      emitTranspose(bb.fn('weight transposes'), wt, bb.layout.param(kernel), x.c, out, k * k, true);
      const gy: ConvGeometry = { ...g, c: out, h: ph.out, w: pw.out };
      emitIm2col(bb.fn('conv: im2col'), gy, dy, scratch);
      emitGemm(bb.fn('conv: GEMM input gradient'), { m: rows, n: x.c, k: k * k * out, a: scratch, aRow: k * k * out, aCol: 1, b: wt, ldb: x.c, c: dx, ldc: x.c, accumulate: acc });
      return;
    }
    emitTranspose(bb.fn('weight transposes'), wt, bb.layout.param(kernel), kc, out);
    if (direct) {
      emitGemm(bb.fn('conv: GEMM input gradient'), { m: rows, n: kc, k: out, a: dy, aRow: out, aCol: 1, b: wt, ldb: kc, c: dx, ldc: kc, accumulate: acc });
      return;
    }
    emitGemm(bb.fn('conv: GEMM input gradient'), { m: rows, n: kc, k: out, a: dy, aRow: out, aCol: 1, b: wt, ldb: kc, c: scratch, ldc: kc });
    if (!acc) emitFill(bb.fn('conv: col2im'), dx, floatsOf(x));
    emitCol2im(bb.fn('conv: col2im'), g, scratch, dx);
  });
  return y;
}

function add(L: Lowering, a: T, c: T, relu: boolean): T {
  const { b } = L;
  const y = b.tensor(a.n, a.h, a.w, a.c);
  emitAdd(b.fn('residual adds'), y.addr, a.addr, c.addr, floatsOf(y), relu);
  b.onBackward((bb) => {
    const dy = y.grad!;
    if (relu) emitReluMask(bb.fn('ReLU masks'), dy, y.addr, floatsOf(y));
    const f = bb.fn('residual adds');
    for (const t of [a, c]) {
      const [dt, acc] = bb.gradFor(t);
      if (acc) emitAdd(f, dt, dt, dy, floatsOf(t), false);
      else emitCopy(f, dt, dy, floatsOf(t));
    }
  });
  return y;
}

function globalAvgPool(L: Lowering, x: T): T {
  const { b } = L;
  const y = b.tensor(x.n, 1, 1, x.c);
  const pixels = x.h * x.w;
  emitChannelReduce(b.fn('average pool'), 'sum', x.addr, x.n, pixels, x.c, y.addr, 0, 1 / pixels);
  b.onBackward((bb) => {
    const [dx, acc] = bb.gradFor(x);
    emitBroadcastPixels(bb.fn('average pool'), dx, y.grad!, x.n, pixels, x.c, 1 / pixels, acc);
  });
  return y;
}

/**
 * Group normalisation (Wu & He 2018) with a per-channel affine map, then optional ReLU. The
 * per-channel sums run in wasm; the per-group statistics and coefficients (n x channels
 * numbers) in JS.
 */
function groupNorm(L: Lowering, x: T, gamma: number, beta: number, groups: number, relu: boolean): T {
  const { b } = L;
  const { n, c } = x;
  const pixels = x.h * x.w;
  const cg = c / groups;
  const count = pixels * cg;
  const y = b.tensor(x.n, x.h, x.w, c);
  const sums = b.alloc(n * c);
  const sums2 = b.alloc(n * c);
  const coef = b.alloc(3 * n * c);
  const mean = new Float32Array(n * groups);
  const rstd = new Float32Array(n * groups);
  const gammaAt = b.layout.param(gamma) / 4;
  const betaAt = b.layout.param(beta) / 4;
  emitChannelReduce(b.fn('group norm'), 'sum', x.addr, n, pixels, c, sums);
  b.js('group norm (JS statistics)', () => {
    const m = L.f32();
    for (let e = 0; e < n; e++) {
      for (let g = 0; g < groups; g++) {
        let s = 0;
        for (let k = 0; k < cg; k++) s += m[sums / 4 + e * c + g * cg + k]!;
        const mu = s / count;
        mean[e * groups + g] = mu;
        for (let k = 0; k < cg; k++) m[coef / 4 + e * c + g * cg + k] = mu;
      }
    }
  });
  emitChannelReduce(b.fn('group norm'), 'sqdev', x.addr, n, pixels, c, sums2, coef);
  b.js('group norm (JS statistics)', () => {
    const m = L.f32();
    const plane = n * c;
    for (let e = 0; e < n; e++) {
      for (let g = 0; g < groups; g++) {
        let s = 0;
        for (let k = 0; k < cg; k++) s += m[sums2 / 4 + e * c + g * cg + k]!;
        const r = 1 / Math.sqrt(s / count + GN_EPS);
        const mu = mean[e * groups + g]!;
        rstd[e * groups + g] = r;
        for (let k = 0; k < cg; k++) {
          const ch = g * cg + k;
          const a = m[gammaAt + ch]! * r;
          m[coef / 4 + e * c + ch] = a;
          m[coef / 4 + plane + e * c + ch] = m[betaAt + ch]! - mu * a;
        }
      }
    }
  });
  emitChannelAffine(b.fn('group norm'), y.addr, x.addr, n, pixels, c, coef, { relu });
  b.onBackward((bb) => {
    const dy = y.grad!;
    if (relu) emitReluMask(bb.fn('ReLU masks'), dy, y.addr, floatsOf(y));
    emitChannelReduce(bb.fn('group norm'), 'sum', dy, n, pixels, c, sums);
    emitChannelReduce(bb.fn('group norm'), 'dot', dy, n, pixels, c, sums2, x.addr);
    const dGamma = bb.layout.grad(gamma) / 4;
    const dBeta = bb.layout.grad(beta) / 4;
    bb.js('group norm (JS statistics)', () => {
      const m = L.f32();
      const plane = n * c;
      for (let ch = 0; ch < c; ch++) {
        m[dGamma + ch] = 0;
        m[dBeta + ch] = 0;
      }
      for (let e = 0; e < n; e++) {
        for (let g = 0; g < groups; g++) {
          const mu = mean[e * groups + g]!;
          const r = rstd[e * groups + g]!;
          let ag = 0;
          let bg = 0;
          for (let k = 0; k < cg; k++) {
            const ch = g * cg + k;
            const sdy = m[sums / 4 + e * c + ch]!;
            const sdyx = m[sums2 / 4 + e * c + ch]!;
            const dotHat = r * (sdyx - mu * sdy);
            m[dGamma + ch] = m[dGamma + ch]! + dotHat;
            m[dBeta + ch] = m[dBeta + ch]! + sdy;
            const gm = m[gammaAt + ch]!;
            ag += gm * sdy;
            bg += gm * dotHat;
          }
          ag /= count;
          bg /= count;
          // dx = r * gamma * dy - r^2 * bg * x + (r^2 * bg * mu - r * ag)
          for (let k = 0; k < cg; k++) {
            const ch = g * cg + k;
            m[coef / 4 + e * c + ch] = r * m[gammaAt + ch]!;
            m[coef / 4 + plane + e * c + ch] = -r * r * bg;
            m[coef / 4 + 2 * plane + e * c + ch] = r * r * bg * mu - r * ag;
          }
        }
      }
    });
    if (!x.needsGrad) return;
    const [dx, acc] = bb.gradFor(x);
    emitChannelAffine(bb.fn('group norm'), dx, dy, n, pixels, c, coef, { z: x.addr, accumulate: acc });
  });
  return y;
}

/** The model's layers on the engine; returns the logits tensor. Mirrors each spec's tfjs forward. */
function lower(L: Lowering, x: T): T {
  const cfg = L.spec.config;
  let p = 0;
  const next = () => p++;
  if (cfg.kind === 'mlp' || cfg.kind === 'linear') {
    // linear = an MLP without hidden layers: one plan serves both
    let h: T = { ...x, h: 1, w: 1, c: x.h * x.w * x.c };
    for (const width of cfg.kind === 'mlp' ? cfg.hidden : []) h = dense(L, h, next(), next(), width, true);
    return dense(L, h, next(), next(), cfg.numClasses, false);
  }
  if (cfg.kind === 'cnn') {
    let a = x;
    for (const ch of cfg.channels) a = conv(L, a, next(), next(), 3, 2, ch, true);
    const e = dense(L, a, next(), next(), cfg.embedding, true);
    return dense(L, e, next(), next(), cfg.numClasses, false);
  }
  if (cfg.kind === 'resnet') {
    let a = conv(L, x, next(), next(), 3, 1, cfg.stages[0]!, true);
    cfg.stages.forEach((ch, s) => {
      a = conv(L, a, next(), next(), 3, s === 0 ? 1 : 2, ch, true);
      const inner = conv(L, a, next(), next(), 3, 1, ch, true);
      const outer = conv(L, inner, next(), next(), 3, 1, ch, false);
      a = add(L, a, outer, true);
    });
    return dense(L, globalAvgPool(L, a), next(), next(), cfg.numClasses, false);
  }
  const r = cfg as ResNet18Full;
  const groups = r.groups;
  const widths = r.widths;
  let a = groupNorm(L, conv(L, x, next(), undefined, 3, 1, widths[0]!, false), next(), next(), groups, true);
  widths.forEach((ch, s) => {
    for (let blk = 0; blk < r.blocks[s]!; blk++) {
      const stride = blk === 0 && s > 0 ? 2 : 1;
      const inC = a.c;
      const h1 = groupNorm(L, conv(L, a, next(), undefined, 3, stride, ch, false), next(), next(), groups, true);
      const h2 = groupNorm(L, conv(L, h1, next(), undefined, 3, 1, ch, false), next(), next(), groups, false);
      const shortcut = stride !== 1 || inC !== ch ? groupNorm(L, conv(L, a, next(), undefined, 1, stride, ch, false), next(), next(), groups, false) : a;
      a = add(L, h2, shortcut, true);
    }
  });
  return dense(L, globalAvgPool(L, a), next(), next(), cfg.numClasses, false);
}

/**
 * Weighted softmax cross-entropy sum_i w_i CE(logits_i, label_i) (the mean when every w_i is
 * 1/n); writes its gradient w_i (p_i - onehot_i) into dlogits.
 */
function softmaxCrossEntropy(m: Float32Array, logits: number, dlogits: number, n: number, classes: number, labels: Int32Array, weights: Float32Array, losses: Float32Array): number {
  let loss = 0;
  const z = logits / 4;
  const d = dlogits / 4;
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < classes; j++) max = Math.max(max, m[z + i * classes + j]!);
    let sum = 0;
    for (let j = 0; j < classes; j++) sum += Math.exp(m[z + i * classes + j]! - max);
    const logSum = Math.log(sum) + max;
    const label = labels[i]!;
    const w = weights[i]!;
    const li = logSum - m[z + i * classes + label]!;
    losses[i] = li;
    loss += w * li;
    for (let j = 0; j < classes; j++) m[d + i * classes + j] = w * (Math.exp(m[z + i * classes + j]! - logSum) - (j === label ? 1 : 0));
  }
  return loss;
}

type Runner = () => void;

function compile(steps: Step[], memory: WasmMemory, pages: number): Runner[] {
  const fns = steps.filter((s): s is Step & { fn: Fn } => 'fn' in s).map((s) => s.fn);
  const inst: Record<string, WasmFn> = fns.length ? instantiateWith(fns, memory, pages) : {};
  return steps.map((s) => ('fn' in s ? (inst[s.fn.name] as Runner) : s.js));
}

/** Plans the model for batch size n with the scratch buffer at layout.base and `scratchFloats` long. */
function plan(spec: ModelSpec, layout: Layout, n: number, f32: () => Float32Array, scratchFloats: number, profile: boolean, perExample: boolean) {
  const b = new Builder(layout, n, layout.base, scratchFloats, profile);
  const L: Lowering = { b, spec, f32, layers: [] };
  const [h, w, c] = spec.inputShape.length === 3 ? (spec.inputShape as [number, number, number]) : [1, 1, spec.inputShape.reduce((s, v) => s * v, 1)];
  const x: T = { addr: b.alloc(n * h * w * c), n, h, w, c, needsGrad: false };
  const logits = lower(L, x);
  const state = { loss: NaN };
  const labels = new Int32Array(n);
  const weights = new Float32Array(n).fill(1 / n);
  const losses = new Float32Array(n);
  b.js('softmax cross-entropy (JS)', () => {
    state.loss = softmaxCrossEntropy(f32(), logits.addr, logits.grad!, n, spec.numClasses, labels, weights, losses);
  });
  b.gradFor(logits);
  const forwardSteps = b.forward.length - 1;
  b.emitBackward();
  const layers: ParamLayer[] = L.layers.map(({ y, geometry, ...rest }) => ({ ...rest, delta: y.grad! }));
  if (perExample) {
    // Per example e: conv kernel gradient [kc, out] = patches_e^T [kc, positions] delta_e
    // [positions, out], one batched GEMM over the examples; the patches are recomputed into
    // the scratch buffer, free once the backward pass is done.
    b.beginPerExample();
    L.layers.forEach((l, i) => {
      if (l.kind !== 'conv') return;
      const g = l.geometry!;
      const pe = b.alloc(n * l.kc * l.out);
      layers[i]!.perExample = pe;
      const cols = b.scratch(n * l.positions * l.kc);
      emitIm2col(b.fn('per-example: im2col'), g, l.input, cols);
      emitGemmBatch(
        b.fn('per-example: conv kernel gradients'),
        { m: l.kc, n: l.out, k: l.positions, a: cols, aRow: 1, aCol: l.kc, b: layers[i]!.delta, ldb: l.out, c: pe, ldc: l.out, kBlock: KBLOCK, packA: b.pack() },
        n,
        { a: 4 * l.positions * l.kc, b: 4 * l.positions * l.out, c: 4 * l.kc * l.out },
      );
    });
  }
  return { b, x, logits, labels, weights, losses, layers, state, forwardSteps, inputFloats: n * h * w * c };
}

/**
 * Plans and compiles the model for batch size n. With `profile`, every kernel is a function
 * of its own and `timeSteps` reports the milliseconds of one training step per kernel label.
 */
export function buildPlan(spec: ModelSpec, layout: Layout, n: number, f32: () => Float32Array, profile = false, perExample = false): NetPlan {
  // A dry run finds the largest scratch any layer needs; the real plan puts it first.
  const need = plan(spec, layout, n, f32, 0, profile, perExample).b.scratchNeed;
  const { b, x, logits, labels, weights, losses, layers, state, forwardSteps, inputFloats } = plan(spec, layout, n, f32, need, profile, perExample);
  const pages = Math.ceil((b.end + 65536) / 65536);
  const fwd = compile(b.forward, layout.memory, pages);
  const bwd = compile(b.backward, layout.memory, pages);
  const per = compile(b.perExample, layout.memory, pages);
  const forward = fwd.slice(0, forwardSteps);
  const lossAndBackward = [...fwd.slice(forwardSteps), ...bwd];
  const all = [...fwd, ...bwd];
  const labelsOf = [...b.forward, ...b.backward].map((s) => s.label);
  return {
    n,
    input: x.addr,
    inputFloats,
    labels,
    weights,
    logits: logits.addr,
    classes: spec.numClasses,
    losses,
    layers,
    forward: () => {
      for (const r of forward) r();
    },
    lossAndGrad: () => {
      for (const r of all) r();
      return state.loss;
    },
    backward: () => {
      for (const r of lossAndBackward) r();
      return state.loss;
    },
    perExample: () => {
      for (const r of per) r();
    },
    timeSteps: () => {
      const out = new Map<string, number>();
      all.forEach((r, i) => {
        const t = performance.now();
        r();
        const label = labelsOf[i]!;
        out.set(label, (out.get(label) ?? 0) + performance.now() - t);
      });
      return out;
    },
  };
}
