// FedProx: the proximal step w - lr (g + mu (w - w_global)) by hand on real MNIST, on tfjs and
// on the fused engine; mu = 0 is FedAvg; a larger mu keeps the local model closer.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend.js';
import { createAlgorithm, ALGORITHM_NAMES } from '../src/algorithms/index.js';
import { disposeBatch, lossAndGrads, lossOf, makeBatch, sampleIndices } from '../src/algorithms/train.js';
import type { LabeledSet } from '../src/algorithms/types.js';
import { setTrainingEngine } from '../src/engine/index.js';
import { HyperparameterError } from '../src/errors.js';
import { mlp, unflattenParams, type ModelSpec } from '../src/models/index.js';
import { createPrng, streamOf } from '../src/rng.js';
import { tf } from '../src/tf.js';
import { smallMnistFederation } from './helpers.js';

before(async () => {
  await selectBackend({ log: null });
});

const spec = mlp({ inputShape: [28, 28, 1], hidden: [16], numClasses: 10 });

/** FedAvg's minibatch gradient (tfjs) at flat params. */
function gradAt(s: ModelSpec, params: Float32Array, set: LabeledSet, idx: ArrayLike<number>): Float32Array {
  return tf.tidy(() => {
    const batch = makeBatch(s, set, idx);
    const r = lossAndGrads((q) => lossOf(s, q, batch), unflattenParams(s, params));
    const g = tf.concat(r.grads.map((t) => tf.reshape(t, [-1]))).dataSync() as Float32Array;
    disposeBatch(batch);
    return g;
  });
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

test('fedprox is a registered algorithm', () => {
  assert.ok(ALGORITHM_NAMES.includes('fedprox'));
  assert.equal(createAlgorithm('fedprox', spec).name, 'fedprox');
});

for (const engine of ['tfjs', 'wasm-simd'] as const) {
  test(`${engine}: two FedProx steps equal w1 = w0 - lr g(w0), w2 = w1 - lr (g(w1) + mu (w1 - w0)) by hand`, () => {
    const client = smallMnistFederation()[3]!;
    const w0 = spec.initParams(8);
    const lr = 0.2;
    const mu = 2;
    const seed = 5;
    // The batches the round draws: the skeleton's PRNG stream for this client and seed.
    const rng = createPrng(seed, streamOf(client.id));
    const b1 = sampleIndices(client.support.count, 10, rng).slice();
    const b2 = sampleIndices(client.support.count, 10, rng).slice();
    const g0 = gradAt(spec, w0, client.support, b1);
    const w1 = Float32Array.from(w0, (v, i) => v - lr * g0[i]!);
    const g1 = gradAt(spec, w1, client.support, b2);
    const want = Float32Array.from(w1, (v, i) => v - lr * (g1[i]! + mu * (v - w0[i]!)) - w0[i]!);
    const dropped = Float32Array.from(w1, (v, i) => v - lr * g1[i]! - w0[i]!);
    const flipped = Float32Array.from(w1, (v, i) => v - lr * (g1[i]! - mu * (v - w0[i]!)) - w0[i]!);
    setTrainingEngine(engine);
    try {
      const { update } = createAlgorithm('fedprox', spec).localUpdate(w0, client, { localSteps: 2, batchSize: 10, lr, mu }, seed);
      const tol = 2e-6;
      assert.ok(maxDiff(update, want) < tol, `update differs from the hand-computed step by ${maxDiff(update, want)}`);
      // The proximal term is visible at this tolerance: without it, or with its sign flipped, the test fails.
      assert.ok(maxDiff(dropped, want) > 100 * tol && maxDiff(flipped, want) > 100 * tol);
    } finally {
      setTrainingEngine('auto');
    }
  });

  test(`${engine}: FedProx with mu 0 equals FedAvg bit for bit; a larger mu gives a smaller update`, () => {
    const client = smallMnistFederation()[6]!;
    const g = spec.initParams(9);
    const hyper = { localSteps: 8, batchSize: 12, lr: 0.1 };
    setTrainingEngine(engine);
    try {
      const avg = createAlgorithm('fedavg', spec).localUpdate(g, client, hyper, 3);
      const prox = createAlgorithm('fedprox', spec);
      assert.deepEqual(prox.localUpdate(g, client, { ...hyper, mu: 0 }, 3).update, avg.update);
      const norms = [0, 0.3, 1, 3].map((mu) => norm(prox.localUpdate(g, client, { ...hyper, mu }, 3).update));
      for (let i = 1; i < norms.length; i++) assert.ok(norms[i]! < norms[i - 1]!, `||update|| ${norms.map((v) => v.toFixed(4)).join(', ')}`);
      // The default mu (0.01) is not 0.
      assert.notDeepEqual(prox.localUpdate(g, client, hyper, 3).update, avg.update);
    } finally {
      setTrainingEngine('auto');
    }
  });
}

test('fedprox: a negative or non-finite mu is a HyperparameterError naming mu', () => {
  const client = smallMnistFederation()[0]!;
  const alg = createAlgorithm('fedprox', spec);
  for (const mu of [-0.1, NaN, Infinity]) {
    assert.throws(() => alg.localUpdate(spec.initParams(1), client, { localSteps: 1, batchSize: 4, lr: 0.1, mu }, 1), (e: unknown) => e instanceof HyperparameterError && e.field === 'mu' && e.code === 'META_BAD_HYPERPARAMETER');
  }
});
