// The linear model (softmax regression): the same function and layout as an MLP without hidden
// layers, on tfjs and on the fused engine; it trains on real MNIST and exports to tfjs layers.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/backend.js';
import { createAlgorithm } from '../src/algorithms/index.js';
import { disposeBatch, lossAndGrads, lossOf, makeBatch } from '../src/algorithms/train.js';
import type { AlgorithmName, LocalHyper } from '../src/algorithms/types.js';
import { Engine, Slot, setTrainingEngine } from '../src/engine/index.js';
import { HyperparameterError, MetaArgumentError } from '../src/errors.js';
import { exportTfjsModel } from '../src/export.js';
import { createModel, linear, mlp, unflattenParams } from '../src/models/index.js';
import { tf } from '../src/tf.js';
import { maxAbsDiff, smallMnistFederation } from './helpers.js';

before(async () => {
  await selectBackend({ log: null });
});

const lin = createModel({ kind: 'linear', inputShape: [28, 28, 1], numClasses: 10 });
const flat = mlp({ inputShape: [28, 28, 1], hidden: [], numClasses: 10 });

test('linear: the parameters of an MLP with hidden [] (head/kernel [784, 10], head/bias [10]); the same logits and gradients on the same params (tfjs)', () => {
  assert.deepEqual(lin.config, { kind: 'linear', inputShape: [28, 28, 1], numClasses: 10 });
  assert.deepEqual(lin.params.map((p) => [p.name, p.shape]), [['head/kernel', [784, 10]], ['head/bias', [10]]]);
  assert.deepEqual(lin.params.map((p) => [p.name, p.shape]), flat.params.map((p) => [p.name, p.shape]));
  assert.equal(lin.paramCount, 7850);
  assert.deepEqual(lin.initParams(3), flat.initParams(3));
  const set = smallMnistFederation()[0]!.support;
  const params = lin.initParams(3).map((v, i) => v + 0.01 * Math.sin(i));
  tf.tidy(() => {
    const batch = makeBatch(lin, set, Array.from({ length: 20 }, (_, i) => i));
    const run = (spec: typeof lin) => {
      const ps = unflattenParams(spec, params);
      const r = lossAndGrads((q) => lossOf(spec, q, batch), ps);
      return { logits: spec.forward(ps, batch.x), loss: r.loss, grads: tf.concat(r.grads.map((g) => tf.reshape(g, [-1]))) };
    };
    const a = run(lin);
    const b = run(flat);
    assert.equal(maxAbsDiff(a.logits, b.logits), 0);
    assert.equal(maxAbsDiff(a.loss, b.loss), 0);
    assert.equal(maxAbsDiff(a.grads, b.grads), 0);
    // logits = x W + b, by hand for the first example
    const x = set.x.subarray(0, 784);
    const logits = a.logits.dataSync();
    for (let j = 0; j < 10; j++) {
      let z = params[7840 + j]!;
      for (let k = 0; k < 784; k++) z += x[k]! * params[k * 10 + j]!;
      assert.ok(Math.abs(logits[j]! - z) < 1e-4, `logit ${j}: ${logits[j]} vs ${z}`);
    }
    disposeBatch(batch);
  });
});

test("linear on the fused engine: loss and gradient equal tfjs's, and every first-order algorithm's update equals the MLP-with-hidden-[] update", () => {
  const client = smallMnistFederation()[2]!;
  const params = lin.initParams(5);
  const engine = new Engine(lin);
  engine.setParams(params);
  const idx = Array.from({ length: 12 }, (_, i) => (i * 5) % client.support.count);
  const loss = engine.lossAndGrad(client.support, idx);
  const grad = engine.vector(Slot.Grads).slice();
  const ref = tf.tidy(() => {
    const batch = makeBatch(lin, client.support, idx);
    const r = lossAndGrads((q) => lossOf(lin, q, batch), unflattenParams(lin, params));
    const out = { loss: r.loss.dataSync()[0]!, grad: tf.concat(r.grads.map((g) => tf.reshape(g, [-1]))).dataSync() as Float32Array };
    disposeBatch(batch);
    return out;
  });
  assert.ok(Math.abs(loss - ref.loss) < 1e-5);
  assert.ok(maxAbsDiff(grad, ref.grad) < 1e-5);
  const hyper: LocalHyper = { localSteps: 3, batchSize: 10, lr: 0.1, innerLr: 0.1, hvpRadius: 0.05 };
  const names: AlgorithmName[] = ['fedavg', 'fedavg-ft', 'fedprox', 'reptile', 'fomaml', 'perfedavg-fo', 'perfedavg-hf'];
  for (const engineName of ['wasm-simd', 'tfjs'] as const) {
    setTrainingEngine(engineName);
    try {
      for (const name of names) {
        const a = createAlgorithm(name, lin).localUpdate(params, client, hyper, 4);
        const b = createAlgorithm(name, flat).localUpdate(params, client, hyper, 4);
        assert.ok(a.update.some((v) => v !== 0), `${engineName} ${name}: trains`);
        assert.deepEqual(a.update, b.update, `${engineName} ${name}`);
      }
    } finally {
      setTrainingEngine('auto');
    }
  }
});

test('linear trains on real MNIST: full-batch fine-tuning raises query accuracy', () => {
  const client = smallMnistFederation()[1]!;
  const alg = createAlgorithm('fedavg-ft', lin);
  const init = lin.initParams(2);
  const before = alg.accuracy(init, client.support, client.query);
  const adapted = alg.adapt(init, client.support, 30, 0.1);
  const after = alg.accuracy(adapted, client.support, client.query);
  assert.ok(after > before + 0.2 && after > 0.6, `accuracy ${before.toFixed(3)} -> ${after.toFixed(3)}`);
});

test('linear export loads in plain tfjs and predicts the same logits', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fedmeta-export-linear-'));
  try {
    const params = lin.initParams(11).map((v, i) => v + 0.01 * Math.sin(i));
    await exportTfjsModel(lin, params, dir);
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const bin = await readFile(join(dir, 'weights.bin'));
    assert.equal(bin.byteLength, lin.paramCount * 4);
    const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
    const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData }));
    const set = smallMnistFederation()[0]!.support;
    tf.tidy(() => {
      const x = tf.tensor(set.x.subarray(0, 5 * 784), [5, 28, 28, 1]);
      const ours = lin.forward(unflattenParams(lin, params), x);
      const theirs = model.predict(x) as tf.Tensor;
      assert.ok(maxAbsDiff(ours, theirs) < 1e-4);
    });
    model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad linear configs are typed errors naming the field', () => {
  assert.throws(() => linear({ inputShape: [784], numClasses: 1 }), (e: unknown) => e instanceof HyperparameterError && e.field === 'numClasses');
  assert.throws(() => linear({ inputShape: [28, 0], numClasses: 10 }), (e: unknown) => e instanceof HyperparameterError && e.field === 'inputShape[1]');
  assert.throws(() => createModel({ kind: 'linear', numClasses: 10 } as never), (e: unknown) => e instanceof MetaArgumentError && /inputShape/.test(e.message));
  assert.throws(() => createModel({ kind: 'linearr' } as never), (e: unknown) => e instanceof MetaArgumentError && /'linear'/.test(e.message));
});
