// The fused wasm engine against references: each generated kernel against a plain JS loop on
// random inputs, each model's loss, gradient and logits against the tfjs implementation, and
// every first-order algorithm's local update against its tfjs run.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend.js';
import { createAlgorithm } from '../src/algorithms/index.js';
import { lossAndGrads, lossOf, makeBatch, disposeBatch } from '../src/algorithms/train.js';
import type { AlgorithmName, LabeledSet, LocalHyper } from '../src/algorithms/types.js';
import { CHUNK, Engine, Slot, engineFor, engineUnsupported, setTrainingEngine } from '../src/engine/index.js';
import { emitGemm, type GemmArgs } from '../src/engine/gemm.js';
import {
  emitChannelAffine, emitChannelReduce, emitCol2im, emitColSum, emitIm2col, emitReluMask, emitTranspose, type ConvGeometry,
} from '../src/engine/kernels.js';
import { Fn, instantiate, simdAvailable } from '../src/engine/wasm-asm.js';
import { cnn, mlp, resnet, resnet18, unflattenParams, type ModelSpec } from '../src/models/index.js';
import { createPrng } from '../src/rng.js';
import { tf } from '../src/tf.js';
import { smallMnistFederation } from './helpers.js';

before(async () => {
  await selectBackend({ prefer: 'wasm', log: null });
});

/** Runs one generated function over a memory laid out by the caller: `init` fills it, `check` reads it. */
function runKernel(bytes: number, emit: (f: Fn) => void, init: (m: Float32Array) => void): Float32Array {
  const f = new Fn('k');
  emit(f);
  const { memory, fns } = instantiate([f], Math.ceil((bytes + 1024) / 65536) + 1);
  const m = new Float32Array(memory.buffer);
  init(m);
  fns['k']!();
  return m;
}

function fillRandom(m: Float32Array, from: number, count: number, seed: number): void {
  const rng = createPrng(seed, 3);
  for (let i = 0; i < count; i++) m[from + i] = rng.normal();
}

const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('the host validates the SIMD kernels (Node 16.4+)', () => {
  assert.equal(simdAvailable(), true);
});

test('GEMM kernels equal a plain triple loop: layouts, edges, chunks, packing, epilogues', () => {
  const cases: (Omit<GemmArgs, 'a' | 'b' | 'c' | 'aRow' | 'aCol' | 'ldb' | 'ldc'> & { transA?: boolean })[] = [
    { m: 7, n: 10, k: 5 },
    { m: 20, n: 64, k: 33, bias: 1, relu: true },
    { m: 9, n: 3, k: 300, kBlock: 64, accumulate: true },
    { m: 13, n: 17, k: 70, transA: true, kBlock: 32, packA: 1 },
    { m: 6, n: 29, k: 41, packB: 1, kBlock: 16, bias: 1 },
    { m: 4, n: 8, k: 1, relu: true, rows: 2 },
    { m: 11, n: 12, k: 9, rows: 6, accumulate: true, relu: true },
  ];
  cases.forEach((c, idx) => {
    const { m, n, k } = c;
    const A = 64;
    const B = A + 4 * (m * k + 64);
    const C = B + 4 * (k * n + 64);
    const bias = C + 4 * (m * n + 64);
    const pack = bias + 4 * (n + 64);
    const end = pack + 4 * 8 * (c.kBlock ?? k) + 256;
    const g: GemmArgs = {
      ...c,
      a: A, aRow: c.transA ? 1 : k, aCol: c.transA ? m : 1, b: B, ldb: n, c: C, ldc: n,
      bias: c.bias ? bias : undefined, packA: c.packA ? pack : undefined, packB: c.packB ? pack : undefined,
    };
    let before: Float32Array | undefined;
    const out = runKernel(end, (f) => emitGemm(f, g), (mem) => {
      fillRandom(mem, A / 4, m * k, 10 + idx);
      fillRandom(mem, B / 4, k * n, 20 + idx);
      fillRandom(mem, C / 4, m * n, 30 + idx);
      fillRandom(mem, bias / 4, n, 40 + idx);
      // A sentinel right after C: the partial last vector must not be stored past N.
      mem[C / 4 + m * n] = 12345;
      before = mem.slice();
    });
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = c.accumulate ? before![C / 4 + i * n + j]! : 0;
        for (let q = 0; q < k; q++) s += before![A / 4 + (c.transA ? q * m + i : i * k + q)]! * before![B / 4 + q * n + j]!;
        if (c.bias) s += before![bias / 4 + j]!;
        if (c.relu) s = Math.max(0, s);
        assert.ok(close(out[C / 4 + i * n + j]!, s, 1e-4), `case ${idx} C[${i},${j}] ${out[C / 4 + i * n + j]} vs ${s}`);
      }
    }
    assert.equal(out[C / 4 + m * n], 12345, `case ${idx}: wrote past C`);
  });
});

/** Reference im2col by definition (TF 'same' or explicit padding). */
function im2colRef(x: Float32Array, g: ConvGeometry): Float32Array {
  const kc = g.kh * g.kw * g.c;
  const out = new Float32Array(g.n * g.outH * g.outW * kc);
  for (let e = 0; e < g.n; e++) for (let oy = 0; oy < g.outH; oy++) for (let ox = 0; ox < g.outW; ox++) {
    for (let ki = 0; ki < g.kh; ki++) for (let kj = 0; kj < g.kw; kj++) for (let ch = 0; ch < g.c; ch++) {
      const iy = oy * g.stride + ki - g.padTop;
      const ix = ox * g.stride + kj - g.padLeft;
      const v = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w ? x[((e * g.h + iy) * g.w + ix) * g.c + ch]! : 0;
      out[((e * g.outH + oy) * g.outW + ox) * kc + (ki * g.kw + kj) * g.c + ch] = v;
    }
  }
  return out;
}

test('im2col equals its definition; col2im is its adjoint (<im2col x, y> = <x, col2im y>)', () => {
  const geometries: ConvGeometry[] = [
    { n: 2, h: 7, w: 6, c: 3, kh: 3, kw: 3, stride: 2, outH: 4, outW: 3, padTop: 1, padLeft: 0 },
    { n: 1, h: 5, w: 5, c: 8, kh: 3, kw: 3, stride: 1, outH: 5, outW: 5, padTop: 1, padLeft: 1 },
    { n: 2, h: 6, w: 4, c: 4, kh: 1, kw: 1, stride: 2, outH: 3, outW: 2, padTop: 0, padLeft: 0 },
    { n: 1, h: 6, w: 6, c: 5, kh: 2, kw: 3, stride: 2, outH: 3, outW: 2, padTop: 0, padLeft: 0 },
  ];
  geometries.forEach((g, idx) => {
    const xs = g.n * g.h * g.w * g.c;
    const cs = g.n * g.outH * g.outW * g.kh * g.kw * g.c;
    const X = 64;
    const COLS = X + 4 * (xs + 64);
    const end = COLS + 4 * (cs + 64);
    let x: Float32Array | undefined;
    const m = runKernel(end, (f) => emitIm2col(f, g, X, COLS), (mem) => {
      fillRandom(mem, X / 4, xs, 50 + idx);
      mem.fill(7, COLS / 4, COLS / 4 + cs); // stale values where padding must become 0
      x = mem.slice(X / 4, X / 4 + xs);
    });
    const ref = im2colRef(x!, g);
    assert.deepEqual(Array.from(m.subarray(COLS / 4, COLS / 4 + cs)), Array.from(ref), `case ${idx} im2col`);
    // Adjoint: col2im(y) accumulated into zeros, then <x, col2im y> == <im2col x, y>.
    let y: Float32Array | undefined;
    const back = runKernel(end, (f) => emitCol2im(f, g, COLS, X), (mem) => {
      fillRandom(mem, COLS / 4, cs, 60 + idx);
      mem.fill(0, X / 4, X / 4 + xs);
      y = mem.slice(COLS / 4, COLS / 4 + cs);
    });
    let lhs = 0;
    let rhs = 0;
    for (let i = 0; i < cs; i++) lhs += ref[i]! * y![i]!;
    for (let i = 0; i < xs; i++) rhs += x![i]! * back[X / 4 + i]!;
    assert.ok(close(lhs, rhs, 1e-4), `case ${idx} adjoint ${lhs} vs ${rhs}`);
  });
});

test('transpose (also of tap blocks, reversed), column sums, ReLU mask, channel sums and affine maps equal their definitions', () => {
  // Transpose of 3 blocks of [5 x 7], written in reverse block order.
  const S = 64;
  const D = S + 4 * 200;
  const t = runKernel(D + 4 * 200, (f) => emitTranspose(f, D, S, 5, 7, 3, true), (m) => fillRandom(m, S / 4, 105, 1));
  for (let b = 0; b < 3; b++) for (let i = 0; i < 5; i++) for (let j = 0; j < 7; j++) {
    assert.equal(t[D / 4 + (2 - b) * 35 + j * 5 + i], t[S / 4 + b * 35 + i * 7 + j]);
  }
  // Column sums of [9 x 6] (ld 6) into an accumulator.
  const cs = runKernel(4096, (f) => emitColSum(f, 1024, 64, 9, 6, 6, true), (m) => {
    fillRandom(m, 16, 54, 2);
    m.fill(1, 256, 262);
  });
  for (let j = 0; j < 6; j++) {
    let s = 1;
    for (let i = 0; i < 9; i++) s += cs[16 + i * 6 + j]!;
    assert.ok(close(cs[256 + j]!, s, 1e-5));
  }
  // ReLU mask: dy kept where y > 0.
  let before: Float32Array | undefined;
  const rm = runKernel(4096, (f) => emitReluMask(f, 64, 512, 37), (m) => {
    fillRandom(m, 16, 40, 3);
    fillRandom(m, 128, 40, 4);
    before = m.slice();
  });
  for (let i = 0; i < 37; i++) assert.equal(rm[16 + i], before![128 + i]! > 0 ? before![16 + i] : 0);
  // Channel reductions and affine maps over [n = 2, p = 5, c = 8].
  const n = 2;
  const p = 5;
  const c = 8;
  const X = 64;
  const Y = X + 4 * 128;
  const OUT = Y + 4 * 128;
  const MU = OUT + 4 * 64;
  const COEF = MU + 4 * 64;
  const AFF = COEF + 4 * 128;
  const end = AFF + 4 * 128;
  let src: Float32Array | undefined;
  const red = runKernel(end, (f) => {
    emitChannelReduce(f, 'sqdev', X, n, p, c, OUT, MU);
    emitChannelReduce(f, 'dot', X, n, p, c, OUT + 4 * 16, Y);
    emitChannelAffine(f, AFF, X, n, p, c, COEF, { z: Y, accumulate: false });
  }, (m) => {
    fillRandom(m, X / 4, 80, 5);
    fillRandom(m, Y / 4, 80, 6);
    fillRandom(m, MU / 4, 16, 7);
    fillRandom(m, COEF / 4, 48, 8);
    src = m.slice();
  });
  for (let e = 0; e < n; e++) for (let ch = 0; ch < c; ch++) {
    let sq = 0;
    let dot = 0;
    for (let q = 0; q < p; q++) {
      const xv = src![X / 4 + (e * p + q) * c + ch]!;
      const yv = src![Y / 4 + (e * p + q) * c + ch]!;
      sq += (xv - src![MU / 4 + e * c + ch]!) ** 2;
      dot += xv * yv;
      const a = src![COEF / 4 + e * c + ch]!;
      const b = src![COEF / 4 + 16 + e * c + ch]!;
      const d = src![COEF / 4 + 32 + e * c + ch]!;
      assert.ok(close(red[AFF / 4 + (e * p + q) * c + ch]!, a * xv + b * yv + d, 1e-5), 'three-term affine');
    }
    assert.ok(close(red[OUT / 4 + e * c + ch]!, sq, 1e-5), 'squared deviations');
    assert.ok(close(red[OUT / 4 + 16 + e * c + ch]!, dot, 1e-5), 'dot');
  }
});

function randomSet(spec: ModelSpec, count: number, seed: number): LabeledSet {
  const rng = createPrng(seed, 9);
  const per = spec.inputShape.reduce((a, b) => a * b, 1);
  return {
    x: Float32Array.from({ length: count * per }, () => rng.normal()),
    y: Int32Array.from({ length: count }, () => rng.int(spec.numClasses)),
    count,
    shape: [...spec.inputShape],
    numClasses: spec.numClasses,
  };
}

/** Initial parameters plus noise, so no gradient is zero by construction (GN's zero gammas). */
function noisyParams(spec: ModelSpec, seed: number): Float32Array {
  const rng = createPrng(seed, 11);
  return Float32Array.from(spec.initParams(seed), (v) => v + 0.2 * rng.normal());
}

const models: [string, ModelSpec][] = [
  ['MLP', mlp({ inputShape: [5, 4, 1], hidden: [7, 6], numClasses: 3 })],
  ['CNN (stride 2, odd sizes, 3 input channels)', cnn({ inputShape: [9, 7, 3], channels: [4, 8], embedding: 6, numClasses: 4 })],
  ['ResNet (3x3 stride-1 convs by Winograd F(2x2, 3x3))', resnet({ inputShape: [8, 8, 3], stages: [4, 8], numClasses: 3 })],
  ['ResNet on odd sizes (im2col; input gradient as a transposed convolution)', resnet({ inputShape: [7, 7, 3], stages: [4, 8], numClasses: 3 })],
  ['ResNet-18 family (group norm, 1x1 shortcut)', resnet18({ inputShape: [8, 8, 3], widths: [4, 8], blocks: [2, 1], groups: 2, numClasses: 3 })],
];

for (const [label, spec] of models) {
  test(`${label}: engine loss, gradient and logits equal tfjs's on random data (batch 1, 5 and ${CHUNK + 5} in chunks)`, () => {
    const data = randomSet(spec, CHUNK + 5, 21);
    const flat = noisyParams(spec, 4);
    const engine = new Engine(spec);
    for (const n of [1, 5, CHUNK + 5]) {
      const idx = Array.from({ length: n }, (_, i) => (i * 7 + 3) % data.count);
      engine.setParams(flat);
      const loss = engine.lossAndGrad(data, idx);
      const grad = engine.vector(Slot.Grads).slice();
      const logits = engine.logits(data, idx);
      const ref = tf.tidy(() => {
        const ps = unflattenParams(spec, flat);
        const batch = makeBatch(spec, data, idx);
        const r = lossAndGrads((q) => lossOf(spec, q, batch), ps);
        const out = {
          loss: r.loss.dataSync()[0]!,
          grad: tf.concat(r.grads.map((g) => tf.reshape(g, [-1]))).dataSync() as Float32Array,
          logits: spec.forward(ps, batch.x).dataSync() as Float32Array,
        };
        disposeBatch(batch);
        return out;
      });
      assert.ok(close(loss, ref.loss, 1e-5), `n ${n}: loss ${loss} vs ${ref.loss}`);
      let scale = 0;
      let worst = 0;
      for (let i = 0; i < grad.length; i++) {
        scale = Math.max(scale, Math.abs(ref.grad[i]!));
        worst = Math.max(worst, Math.abs(grad[i]! - ref.grad[i]!));
      }
      assert.ok(scale > 1e-3, `n ${n}: the reference gradient is not degenerate`);
      assert.ok(worst <= 2e-5 * scale, `n ${n}: gradient max error ${worst} (scale ${scale})`);
      for (let i = 0; i < logits.length; i++) assert.ok(close(logits[i]!, ref.logits[i]!, 1e-4), `n ${n}: logit ${i}`);
    }
  });
}

test('every first-order algorithm: the fused local update, adaptation and accuracy equal the tfjs run', () => {
  const spec = cnn({ inputShape: [28, 28, 1], channels: [4], embedding: 8, numClasses: 10 });
  const client = smallMnistFederation()[3]!;
  const g = spec.initParams(2);
  const names: AlgorithmName[] = ['fedavg', 'fedavg-ft', 'reptile', 'fomaml', 'perfedavg-fo', 'perfedavg-hf'];
  // hvpRadius 0.05: the finite-difference Hessian-vector product divides a difference of two
  // gradients by 2r, so at the default 1e-3 float rounding (a ReLU input on the other side of 0)
  // is amplified 500-fold; this test compares engines, not the approximation.
  const hyper: LocalHyper = { localSteps: 3, batchSize: 12, lr: 0.1, innerLr: 0.1, innerSteps: 2, hvpRadius: 0.05 };
  const run = (engine: 'tfjs' | 'wasm-simd') => {
    setTrainingEngine(engine);
    try {
      return names.map((name) => {
        const a = createAlgorithm(name, spec);
        const r = a.localUpdate(g, client, hyper, 9);
        const adapted = a.adapt(g, client.support, 2, 0.1);
        return { r, adapted, acc: a.accuracy(adapted, client.support, client.query) };
      });
    } finally {
      setTrainingEngine('auto');
    }
  };
  const ref = run('tfjs');
  const fused = run('wasm-simd');
  names.forEach((name, i) => {
    const a = fused[i]!;
    const b = ref[i]!;
    const maxDiff = (x: Float32Array, y: Float32Array) => x.reduce((m, v, j) => Math.max(m, Math.abs(v - y[j]!)), 0);
    const scale = b.r.update.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(scale > 1e-4, `${name}: update is not degenerate`);
    assert.ok(maxDiff(a.r.update, b.r.update) <= 1e-4 * scale, `${name}: update differs by ${maxDiff(a.r.update, b.r.update)} (scale ${scale})`);
    assert.ok(close(a.r.metrics.lossFirst, b.r.metrics.lossFirst, 1e-5) && close(a.r.metrics.lossLast, b.r.metrics.lossLast, 1e-4), `${name}: losses`);
    assert.equal(a.r.metrics.examples, b.r.metrics.examples);
    assert.ok(maxDiff(a.adapted, b.adapted) < 1e-4, `${name}: adapt`);
    assert.equal(a.acc, b.acc, `${name}: accuracy`);
  });
});

test('localUpdateAsync returns what localUpdate does, on both engines and for second-order MAML and ProtoNets', async () => {
  const spec = mlp({ inputShape: [28, 28, 1], hidden: [8], numClasses: 10 });
  const client = smallMnistFederation()[0]!;
  const g = spec.initParams(6);
  const hyper: LocalHyper = { localSteps: 2, batchSize: 8, lr: 0.05, innerLr: 0.1 };
  for (const engine of ['tfjs', 'auto'] as const) {
    setTrainingEngine(engine);
    try {
      for (const name of ['fedavg', 'maml', 'perfedavg-hf', 'protonets'] as AlgorithmName[]) {
        const a = createAlgorithm(name, spec);
        const sync = a.localUpdate(g, client, hyper, 3);
        const asyncResult = await a.localUpdateAsync(g, client, hyper, 3);
        assert.deepEqual(Array.from(asyncResult.update), Array.from(sync.update), `${engine} ${name}`);
        assert.equal(asyncResult.metrics.lossLast, sync.metrics.lossLast);
      }
    } finally {
      setTrainingEngine('auto');
    }
  }
});

test('a residual model whose widths the engine cannot vectorise trains with tfjs ops instead', () => {
  const spec = resnet({ inputShape: [6, 6, 3], stages: [4, 6], numClasses: 3 });
  assert.match(engineUnsupported(spec) ?? '', /width 6 is not a multiple of 4/);
  assert.equal(engineFor(spec), null);
  assert.notEqual(engineFor(resnet({ inputShape: [6, 6, 3], stages: [4, 8], numClasses: 3 })), null);
  const data = randomSet(spec, 8, 3);
  const r = createAlgorithm('fedavg', spec).localUpdate(spec.initParams(1), { id: 1, support: data, query: data }, { localSteps: 1, batchSize: 4, lr: 0.1 }, 1);
  assert.ok(r.update.some((v) => v !== 0));
});
