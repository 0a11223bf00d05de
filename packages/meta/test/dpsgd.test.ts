// DP-SGD core on real MNIST: per-example gradients against tfjs batches of one, per-example
// clipping, the noise's scale, Poisson batch sizes and the noiseless step by hand.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend.js';
import { clippedGradientSum, dpSgdUpdate, perExampleGradients, type DpSgdSources } from '../src/algorithms/dpsgd.js';
import { disposeBatch, lossAndGrads, lossOf, makeBatch } from '../src/algorithms/train.js';
import type { LabeledSet } from '../src/algorithms/types.js';
import { HyperparameterError, MetaArgumentError } from '../src/errors.js';
import { createModel, unflattenParams, type ModelSpec } from '../src/models/index.js';
import { createPrng } from '../src/rng.js';
import { tf } from '../src/tf.js';
import { smallMnistFederation } from './helpers.js';

before(async () => {
  await selectBackend({ log: null });
});

const models: Record<'linear' | 'mlp' | 'cnn', ModelSpec> = {
  linear: createModel({ kind: 'linear', inputShape: [28, 28, 1], numClasses: 10 }),
  mlp: createModel({ kind: 'mlp', inputShape: [28, 28, 1], hidden: [32], numClasses: 10 }),
  cnn: createModel({ kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], embedding: 32, numClasses: 10 }),
};

/** Gradient and loss of one example through tfjs (a batch of one): the independent reference. */
function batchOfOne(spec: ModelSpec, params: Float32Array, set: LabeledSet, j: number): { grad: Float32Array; loss: number } {
  return tf.tidy(() => {
    const ps = unflattenParams(spec, params);
    const batch = makeBatch(spec, set, [j]);
    const r = lossAndGrads((q) => lossOf(spec, q, batch), ps);
    const out = { grad: tf.concat(r.grads.map((g) => tf.reshape(g, [-1]))).dataSync() as Float32Array, loss: r.loss.dataSync()[0]! };
    disposeBatch(batch);
    return out;
  });
}

const norm = (v: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
};
const maxAbsOf = (v: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]!));
  return m;
};
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

/** A clip bound halfway between the two middle norms: about half the examples clipped, none at the boundary. */
const between = (norms: number[]) => {
  const s = [...norms].sort((a, b) => a - b);
  const h = Math.floor(s.length / 2);
  return (s[h - 1]! + s[h]!) / 2;
};

/** Seeded sources (the client passes CSPRNG-backed ones). */
function sources(seed: number): DpSgdSources {
  const u = createPrng(seed, 1);
  const g = createPrng(seed, 2);
  return {
    uniform: () => u.next(),
    gaussian: (out, std) => {
      for (let i = 0; i < out.length; i++) out[i] = g.normal() * std;
    },
  };
}

/** Parameters off the initialisation (non-zero biases), so every parameter has a gradient. */
function paramsOf(spec: ModelSpec, seed: number): Float32Array {
  const rng = createPrng(seed, 9);
  return Float32Array.from(spec.initParams(seed), (v) => v + 0.02 * rng.normal());
}

for (const [kind, spec] of Object.entries(models)) {
  test(`${kind}: per-example gradients and losses equal tfjs's batch-of-one gradients (1e-5 relative)`, () => {
    const set = smallMnistFederation()[1]!.support;
    const params = paramsOf(spec, 4);
    // More than one engine pass (32 examples) for the cheap models; a repeated index.
    const n = kind === 'cnn' ? 9 : 70;
    const indices = Array.from({ length: n }, (_, i) => (i * 13 + 2) % set.count);
    indices[n - 1] = indices[0]!;
    const { grads, losses } = perExampleGradients(spec, params, set, indices);
    assert.equal(grads.length, n * spec.paramCount);
    indices.forEach((j, i) => {
      const ref = batchOfOne(spec, params, set, j);
      const row = grads.subarray(i * spec.paramCount, (i + 1) * spec.paramCount);
      const scale = maxAbsOf(ref.grad);
      assert.ok(scale > 1e-3, `example ${j}: the reference gradient is not degenerate`);
      assert.ok(maxDiff(row, ref.grad) <= 1e-5 * scale, `example ${j}: max error ${maxDiff(row, ref.grad)} (scale ${scale})`);
      assert.ok(Math.abs(losses[i]! - ref.loss) <= 1e-5 * Math.max(1, ref.loss), `example ${j}: loss ${losses[i]} vs ${ref.loss}`);
    });
  });
}

for (const kind of ['mlp', 'cnn'] as const) {
  test(`${kind}: each example's gradient is clipped to norm <= C on its own, unclipped ones unchanged, the batch sum is the sum of the clipped ones`, () => {
    const spec = models[kind];
    const set = smallMnistFederation()[2]!.support;
    const params = paramsOf(spec, 5);
    const indices = Array.from({ length: kind === 'cnn' ? 10 : 24 }, (_, i) => (i * 7 + 1) % set.count);
    const { grads, losses } = perExampleGradients(spec, params, set, indices);
    const P = spec.paramCount;
    const norms = indices.map((_, i) => norm(grads.subarray(i * P, (i + 1) * P)));
    const C = between(norms);
    const expectedSum = new Float64Array(P);
    let over = 0;
    indices.forEach((j, i) => {
      const g = grads.subarray(i * P, (i + 1) * P);
      const one = clippedGradientSum(spec, params, set, [j], C);
      assert.ok(norm(one.sum) <= C * (1 + 1e-6), `example ${j}: clipped norm ${norm(one.sum)} > C ${C}`);
      const factor = norms[i]! > C ? C / norms[i]! : 1;
      if (factor < 1) over++;
      assert.equal(one.clipped, factor < 1 ? 1 : 0);
      const want = Float32Array.from(g, (v) => v * factor);
      assert.ok(maxDiff(one.sum, want) <= 1e-5 * maxAbsOf(want), `example ${j}: ${factor < 1 ? 'clipped' : 'unclipped'} gradient differs by ${maxDiff(one.sum, want)}`);
      for (let k = 0; k < P; k++) expectedSum[k] = expectedSum[k]! + want[k]!;
    });
    assert.ok(over > 0 && over < indices.length, 'C splits the examples');
    const all = clippedGradientSum(spec, params, set, indices, C);
    assert.equal(all.count, indices.length);
    assert.equal(all.clipped, over);
    assert.ok(maxDiff(all.sum, expectedSum) <= 1e-5 * maxAbsOf(expectedSum), `sum differs by ${maxDiff(all.sum, expectedSum)}`);
    const meanLoss = losses.reduce((a, b) => a + b, 0) / losses.length;
    assert.ok(Math.abs(all.lossMean - meanLoss) < 1e-5 * Math.max(1, meanLoss));
    // An empty batch: a zero sum.
    const none = clippedGradientSum(spec, params, set, [], C);
    assert.equal(none.count, 0);
    assert.ok(none.sum.every((v) => v === 0));
  });
}

test('dpSgdUpdate with sampleRate 1 and noiseStd 0 is the hand-computed clipped-mean SGD step (per-example clipping, not of the batch gradient)', () => {
  const spec = models.mlp;
  const client = smallMnistFederation()[0]!;
  const set = client.support;
  const g = paramsOf(spec, 6);
  const P = spec.paramCount;
  const refs = Array.from({ length: set.count }, (_, j) => batchOfOne(spec, g, set, j).grad);
  const norms = refs.map(norm);
  const C = between(norms);
  const lr = 0.5;
  const want = new Float64Array(P);
  refs.forEach((r, j) => {
    const f = norms[j]! > C ? C / norms[j]! : 1;
    for (let k = 0; k < P; k++) want[k] = want[k]! - (lr / set.count) * f * r[k]!;
  });
  const res = dpSgdUpdate(spec, g, client, { steps: 1, sampleRate: 1, lr, l2Clip: C, noiseStd: 0 }, sources(1));
  const scale = maxAbsOf(want);
  assert.ok(maxDiff(res.update, want) <= 2e-5 * scale, `update differs by ${maxDiff(res.update, want)} (scale ${scale})`);
  assert.equal(res.weight, 1);
  assert.deepEqual(res.metrics.batchSizes, [set.count]);
  const clippedCount = norms.filter((v) => v > C).length;
  assert.equal(res.metrics.clippedFraction, clippedCount / set.count);
  assert.equal(res.metrics.steps, 1);
});

test('the added noise has variance (lr * noiseStd / expectedBatchSize)^2 per coordinate (chi-square bound, failure probability ~1e-9)', () => {
  const spec = models.mlp;
  const client = smallMnistFederation()[4]!;
  const g = paramsOf(spec, 7);
  const N = client.support.count;
  // expectedBatchSize far from the realised size, so dividing by the realised size would show.
  const hyper = { steps: 1, sampleRate: 0.5, lr: 0.05, l2Clip: 1, noiseStd: 0.7, expectedBatchSize: N };
  const noisy = dpSgdUpdate(spec, g, client, hyper, sources(11));
  const clean = dpSgdUpdate(spec, g, client, { ...hyper, noiseStd: 0 }, sources(11));
  assert.deepEqual(noisy.metrics.batchSizes, clean.metrics.batchSizes, 'same Poisson batch');
  assert.ok(noisy.metrics.batchSizes[0]! < 0.75 * N, 'the realised batch is smaller than expectedBatchSize');
  const P = spec.paramCount;
  const v = (hyper.lr * hyper.noiseStd / N) ** 2;
  let s = 0;
  for (let i = 0; i < P; i++) s += (noisy.update[i]! - clean.update[i]!) ** 2 / v;
  // Wilson-Hilferty: chi2_P quantiles at 5e-10 and 1 - 5e-10 (z = 6.109).
  const z = 6.109;
  const q = (sign: number) => P * (1 - 2 / (9 * P) + sign * z * Math.sqrt(2 / (9 * P))) ** 3;
  assert.ok(s >= q(-1) && s <= q(1), `sum of squares / variance ${s.toFixed(0)} outside [${q(-1).toFixed(0)}, ${q(1).toFixed(0)}] (P ${P})`);
});

test('Poisson sampling: batch sizes average q * N and vary binomially', () => {
  const spec = models.linear;
  const client = smallMnistFederation()[5]!;
  const N = client.support.count;
  const q = 0.3;
  const steps = 400;
  const res = dpSgdUpdate(spec, spec.initParams(1), client, { steps, sampleRate: q, lr: 1e-4, l2Clip: 1, noiseStd: 0 }, sources(21));
  const sizes = res.metrics.batchSizes;
  assert.equal(sizes.length, steps);
  const mean = sizes.reduce((a, b) => a + b, 0) / steps;
  assert.equal(res.metrics.batchSizeMean, mean);
  assert.equal(res.metrics.examples, mean * steps);
  const variance = N * q * (1 - q);
  // The total is Binomial(N * steps, q): 6.1 standard deviations (~1e-9).
  assert.ok(Math.abs(mean - q * N) <= 6.11 * Math.sqrt(variance / steps), `mean batch ${mean} vs ${q * N}`);
  // A fixed-size sample would have variance 0; the sample variance of 400 binomial draws stays within these bounds with probability > 1 - 1e-9.
  const sampleVar = sizes.reduce((a, b) => a + (b - mean) ** 2, 0) / (steps - 1);
  assert.ok(sampleVar > 0.45 * variance && sampleVar < 1.6 * variance, `batch size variance ${sampleVar} vs ${variance}`);
});

test('an empty Poisson batch is a step of noise alone', () => {
  const spec = models.mlp;
  const client = smallMnistFederation()[0]!;
  const g = paramsOf(spec, 8);
  const never: DpSgdSources = { ...sources(3), uniform: () => 0.999 };
  const quiet = dpSgdUpdate(spec, g, client, { steps: 2, sampleRate: 0.1, lr: 0.1, l2Clip: 1, noiseStd: 0 }, never);
  assert.deepEqual(quiet.metrics.batchSizes, [0, 0]);
  assert.ok(quiet.update.every((v) => v === 0));
  assert.ok(Number.isNaN(quiet.metrics.lossFirst));
  const hyper = { steps: 1, sampleRate: 0.1, lr: 0.1, l2Clip: 1, noiseStd: 0.5 };
  const noisy = dpSgdUpdate(spec, g, client, hyper, never);
  const noise = new Float32Array(spec.paramCount);
  sources(3).gaussian(noise, 0.5);
  const B = 0.1 * client.support.count;
  const expected = Float32Array.from(noise, (v) => -(0.1 / B) * v);
  assert.ok(maxDiff(noisy.update, expected) <= 1e-5 * maxAbsOf(expected), `noise-only step differs by ${maxDiff(noisy.update, expected)}`);
});

test('unsupported models and bad hyperparameters are typed errors naming the kind or the field', () => {
  const client = smallMnistFederation()[0]!;
  const hyper = { steps: 1, sampleRate: 0.5, lr: 0.1, l2Clip: 1, noiseStd: 1 };
  for (const spec of [
    createModel({ kind: 'resnet', inputShape: [28, 28, 1], stages: [4], numClasses: 10 }),
    createModel({ kind: 'resnet18', inputShape: [28, 28, 1], widths: [4], blocks: [1], groups: 2, numClasses: 10 }),
  ]) {
    const kind = spec.config.kind;
    const named = (e: unknown) => e instanceof MetaArgumentError && e.code === 'META_INVALID_ARGUMENT' && e.message.includes(`not ${kind}`);
    assert.throws(() => dpSgdUpdate(spec, spec.initParams(1), client, hyper, sources(1)), named);
    assert.throws(() => perExampleGradients(spec, spec.initParams(1), client.support, [0]), named);
    assert.throws(() => clippedGradientSum(spec, spec.initParams(1), client.support, [0], 1), named);
  }
  const spec = models.linear;
  const bad: [string, object][] = [
    ['steps', { steps: 0 }], ['sampleRate', { sampleRate: 0 }], ['sampleRate', { sampleRate: 1.5 }], ['lr', { lr: -1 }],
    ['l2Clip', { l2Clip: 0 }], ['noiseStd', { noiseStd: -0.1 }], ['expectedBatchSize', { expectedBatchSize: 0 }],
  ];
  for (const [field, patch] of bad) {
    assert.throws(() => dpSgdUpdate(spec, spec.initParams(1), client, { ...hyper, ...patch }, sources(1)), (e: unknown) => e instanceof HyperparameterError && e.field === field, field);
  }
  assert.throws(() => clippedGradientSum(spec, spec.initParams(1), client.support, [client.support.count], 1), (e: unknown) => e instanceof MetaArgumentError && /indices\[0\]/.test(e.message));
});
