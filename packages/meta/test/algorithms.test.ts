import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../src/backend.js';
import { createAlgorithm, ALGORITHM_NAMES } from '../src/algorithms/index.js';
import { finiteDifferenceHvp } from '../src/algorithms/maml.js';
import { lossAndGrads, lossOf, makeBatch, disposeBatch } from '../src/algorithms/train.js';
import type { AlgorithmName, LocalHyper } from '../src/algorithms/types.js';
import { HyperparameterError, MetaError, MetaArgumentError } from '../src/errors.js';
import { evaluatePersonalized } from '../src/evaluate.js';
import { mlp } from '../src/models/mlp.js';
import { cnn } from '../src/models/cnn.js';
import { unflattenParams } from '../src/models/spec.js';
import { runFederatedSimulation } from '../src/simulate.js';
import { tf } from '../src/tf.js';
import { setTrainingEngine } from '../src/engine/index.js';
import { federatedMnist } from '../src/data/index.js';
import { maxAbs, maxAbsDiff, smallMnistFederation } from './helpers.js';

before(async () => {
  await selectBackend({ log: null });
});

const spec = mlp({ inputShape: [28, 28, 1], hidden: [32], numClasses: 10 });
const hyperFor = (name: AlgorithmName): LocalHyper => ({
  localSteps: 4,
  batchSize: 16,
  // Prototype logits are squared distances (large), so ProtoNets needs a smaller step.
  lr: name === 'protonets' ? 0.02 : 0.1,
  innerLr: 0.1,
  innerSteps: 1,
});

for (const name of ALGORITHM_NAMES) {
  test(`${name} improves personalised accuracy on non-IID MNIST over the initial model`, () => {
    const clients = smallMnistFederation();
    const algorithm = createAlgorithm(name, spec);
    const init = spec.initParams(1);
    // FedAvg serves the global model as is (0 steps); the others adapt one step.
    const evalOpts = { steps: name === 'fedavg' ? 0 : 1, lr: 0.1 };
    const before = evaluatePersonalized(algorithm, init, clients, evalOpts);
    const result = runFederatedSimulation({
      algorithm, clients, rounds: 8, clientsPerRound: 4, hyper: hyperFor(name),
      serverOptimizer: { kind: 'sgd', lr: 1 }, seed: 1,
    });
    const after = evaluatePersonalized(algorithm, result.params, clients, evalOpts);
    assert.ok(after.mean > before.mean + 0.1, `${name}: ${before.mean.toFixed(3)} -> ${after.mean.toFixed(3)}`);
    assert.equal(after.perClient.length, clients.length);
    assert.ok(after.min <= after.mean && after.mean <= after.max && after.std >= 0);
    assert.equal(result.rounds.length, 8);
    assert.ok(result.rounds.every((r) => Number.isFinite(r.lossLast) && r.examples > 0));
  });
}

test('localUpdate contract: update = local - global, weight = support size, deterministic per seed', () => {
  const client = smallMnistFederation()[0]!;
  const g = spec.initParams(2);
  for (const name of ['fedavg', 'maml', 'protonets'] as const) {
    const alg = createAlgorithm(name, spec);
    const a = alg.localUpdate(g, client, hyperFor(name), 5);
    const b = alg.localUpdate(g, client, hyperFor(name), 5);
    const c = alg.localUpdate(g, client, hyperFor(name), 6);
    assert.equal(a.update.length, spec.paramCount);
    assert.equal(a.weight, client.support.count);
    assert.deepEqual(a.update, b.update);
    assert.notDeepEqual(a.update, c.update);
    assert.ok(maxAbs(a.update) > 0);
    assert.equal(a.metrics.steps, 4);
  }
  // FedAvg with one full-batch step: update is exactly -lr * gradient.
  const alg = createAlgorithm('fedavg', spec);
  const h = { localSteps: 1, batchSize: client.support.count, lr: 0.1 };
  const { update } = alg.localUpdate(g, client, h, 1);
  const grad = tf.tidy(() => {
    const batch = makeBatch(spec, client.support, Array.from({ length: client.support.count }, (_, i) => i));
    const ps = unflattenParams(spec, g);
    return tf.concat(lossAndGrads((q) => lossOf(spec, q, batch), ps).grads.map((t) => tf.reshape(t, [-1])));
  });
  assert.ok(maxAbsDiff(update, tf.mul(grad, -0.1).dataSync()) < 1e-6);
  grad.dispose();
});

test('memory stays flat: tf.memory().numTensors does not grow across repeated rounds', () => {
  const clients = smallMnistFederation();
  const small = cnn({ inputShape: [28, 28, 1], channels: [4], embedding: 16, numClasses: 10 });
  for (const name of ALGORITHM_NAMES) {
    const alg = createAlgorithm(name, name === 'fedavg' ? small : spec);
    const g = alg.spec.initParams(3);
    const h = { ...hyperFor(name), localSteps: 2 };
    alg.localUpdate(g, clients[0]!, h, 1);
    alg.accuracy(alg.adapt(g, clients[0]!.support, 1, 0.05), clients[0]!.support, clients[0]!.query);
    const start = tf.memory().numTensors;
    for (let k = 0; k < 3; k++) {
      alg.localUpdate(g, clients[k]!, h, k);
      alg.accuracy(alg.adapt(g, clients[k]!.support, 2, 0.05), clients[k]!.support, clients[k]!.query);
    }
    assert.equal(tf.memory().numTensors, start, `${name} leaked tensors`);
  }
});

test('Per-FedAvg HF: the finite-difference Hessian-vector product matches the exact one', () => {
  const client = smallMnistFederation()[1]!;
  tf.tidy(() => {
    const small = mlp({ inputShape: [28, 28, 1], hidden: [8], numClasses: 10 });
    const ps = unflattenParams(small, small.initParams(4));
    const batch = makeBatch(small, client.support, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const v = lossAndGrads((q) => lossOf(small, q, batch), ps).grads;
    // Exact H v = d/dtheta (grad(theta) . v), possible because the loss is twice differentiable.
    const exact = tf.grads((...q: tf.Tensor[]) =>
      tf.addN(lossAndGrads((r) => lossOf(small, r, batch), q).grads.map((g, i) => tf.sum(tf.mul(g, v[i]!)))) as tf.Scalar)(ps);
    const flat = (ts: tf.Tensor[]) => tf.concat(ts.map((t) => tf.reshape(t, [-1])));
    const approx = finiteDifferenceHvp(small, ps, batch, v, 1e-3);
    const e = flat(exact);
    const rel = maxAbsDiff(flat(approx), e) / maxAbs(e);
    assert.ok(rel < 0.05, `relative error ${rel}`);
    disposeBatch(batch);
  });
});

test('Per-FedAvg HF localUpdate is the one-step MAML meta-gradient step (support of one repeated example, so every batch is the same), on both training engines', () => {
  const client = smallMnistFederation()[2]!;
  const d = client.support.x.length / client.support.count;
  // Six copies of one example: D_in, D_out and D_h hold the same data whatever the sampling.
  const support = { ...client.support, x: Float32Array.from({ length: 6 * d }, (_, i) => client.support.x[i % d]!), y: new Int32Array(6).fill(client.support.y[0]!), count: 6 };
  const one = { ...client, support };
  const g = spec.initParams(5);
  // innerLr 0.03, not larger: one step at 0.3 on a repeated example saturates the softmax, the
  // outer loss is 0 in float32 and every update is rounding noise (checked below).
  const hyper: LocalHyper = { localSteps: 1, batchSize: 6, lr: 0.5, innerLr: 0.03, innerSteps: 1 };
  const rel = (a: Float32Array, b: Float32Array) => maxAbsDiff(a, b) / maxAbs(b);
  for (const engine of ['tfjs', 'wasm-simd'] as const) {
    setTrainingEngine(engine);
    try {
      const hfResult = createAlgorithm('perfedavg-hf', spec).localUpdate(g, one, hyper, 1);
      const hf = hfResult.update;
      const exact = createAlgorithm('maml', spec).localUpdate(g, one, hyper, 1).update;
      const fo = createAlgorithm('perfedavg-fo', spec).localUpdate(g, one, hyper, 1).update;
      assert.ok(hfResult.metrics.lossFirst > 0.05, `${engine}: outer loss ${hfResult.metrics.lossFirst} is saturated`);
      assert.ok(rel(hf, exact) < 1e-3, `${engine}: HF vs exact MAML: relative ${rel(hf, exact)}`);
      assert.ok(rel(fo, exact) > 100 * rel(hf, exact), `${engine}: the Hessian term matters here: FO vs exact ${rel(fo, exact)}, HF vs exact ${rel(hf, exact)}`);
    } finally {
      setTrainingEngine('auto');
    }
  }
});

test('bad hyperparameters and inputs are typed errors naming the field', () => {
  const client = smallMnistFederation()[0]!;
  const g = spec.initParams(1);
  const alg = createAlgorithm('maml', spec);
  const ok = hyperFor('maml');
  const isHyper = (field: string) => (e: unknown) => e instanceof HyperparameterError && e.code === 'META_BAD_HYPERPARAMETER' && e.field === field;
  assert.throws(() => alg.localUpdate(g, client, { ...ok, lr: -0.1 }, 1), isHyper('lr'));
  assert.throws(() => alg.localUpdate(g, client, { ...ok, innerLr: 0 }, 1), isHyper('innerLr'));
  assert.throws(() => alg.localUpdate(g, client, { ...ok, localSteps: 0 }, 1), isHyper('localSteps'));
  assert.throws(() => alg.localUpdate(g, client, { ...ok, innerSteps: 1.5 }, 1), isHyper('innerSteps'));
  assert.throws(() => alg.localUpdate(g, client, { ...ok, batchSize: NaN }, 1), isHyper('batchSize'));
  assert.throws(() => alg.localUpdate(g.subarray(1), client, ok, 1), (e: unknown) => e instanceof MetaError && e.code === 'META_PARAM_LENGTH' && /globalParams/.test(e.message));
  assert.throws(() => alg.localUpdate(g, client, ok, 1.5), MetaArgumentError);
  const wrongShape = { ...client, support: { ...client.support, x: client.support.x.subarray(1) } };
  assert.throws(() => alg.localUpdate(g, wrongShape, ok, 1), (e: unknown) => e instanceof MetaError && e.code === 'META_DATA_MISMATCH');
  const badLabel = { ...client, support: { ...client.support, y: client.support.y.map((y, i) => (i === 0 ? 10 : y)) } };
  assert.throws(() => createAlgorithm('fedavg', spec).localUpdate(g, badLabel, { ...ok, batchSize: 1000 }, 1), (e: unknown) => e instanceof MetaError && e.code === 'META_DATA_MISMATCH' && /label 10/.test(e.message));
  assert.throws(() => alg.adapt(g, client.support, -1, 0.1), isHyper('steps'));
  assert.throws(() => alg.adapt(g, client.support, 2, -0.1), isHyper('lr'));
  assert.throws(() => evaluatePersonalized(alg, g, [client], { steps: 1, lr: 0 }), isHyper('lr'));
  assert.throws(() => evaluatePersonalized(alg, g, [], { steps: 1, lr: 0.1 }), MetaArgumentError);
  assert.throws(() => createAlgorithm('sgd' as never, spec), MetaArgumentError);
  // A diverging learning rate is reported, not silently averaged.
  assert.throws(() => createAlgorithm('fedavg', spec).localUpdate(g, client, { ...ok, lr: 1e30 }, 1), (e: unknown) => e instanceof MetaError && e.code === 'META_NON_FINITE');
  assert.throws(() => runFederatedSimulation({
    algorithm: alg, clients: [client], rounds: 1, clientsPerRound: 2, hyper: ok, serverOptimizer: { kind: 'sgd', lr: 1 }, seed: 1,
  }), /clientsPerRound/);
});

test('site-local label codes: prototype classification does not depend on the codes, a shared head does', () => {
  const opts = { clients: 8, scheme: 'dirichlet', alpha: 0.5, supportPerClass: 8, queryPerClass: 10, seed: 3 } as const;
  const shared = federatedMnist(opts).clients;
  const local = federatedMnist({ ...opts, labels: 'local' }).clients;
  const fedavg = createAlgorithm('fedavg', spec);
  const { params } = runFederatedSimulation({
    algorithm: fedavg, clients: shared, rounds: 8, clientsPerRound: 4, hyper: hyperFor('fedavg'),
    serverOptimizer: { kind: 'sgd', lr: 1 }, seed: 2,
  });
  const protos = createAlgorithm('protonets', spec);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const protoShared = shared.map((c) => protos.accuracy(params, c.support, c.query));
  const protoLocal = local.map((c) => protos.accuracy(params, c.support, c.query));
  assert.deepEqual(protoLocal, protoShared, 'nearest prototype: the same predictions under any coding');
  const headShared = mean(shared.map((c) => fedavg.accuracy(params, c.support, c.query)));
  const headLocal = mean(local.map((c) => fedavg.accuracy(params, c.support, c.query)));
  assert.ok(headShared > headLocal + 0.2, `the shared head serves shared codes (${headShared}) far better than site-local ones (${headLocal})`);
});
