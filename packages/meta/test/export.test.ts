import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/backend.js';
import { exportTfjsModel } from '../src/export.js';
import { cnn, mlp, resnet, resnet18, unflattenParams, type ModelSpec } from '../src/models/index.js';
import { MetaArgumentError, MetaError } from '../src/errors.js';
import { tf } from '../src/tf.js';
import { maxAbsDiff, randn } from './helpers.js';

before(async () => {
  await selectBackend({ log: null });
});

/** Loads the written files through tf.io.fromMemory, as tf.loadLayersModel would from file://. */
async function loadWritten(dir: string): Promise<tf.LayersModel> {
  const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
  assert.equal(json.format, 'layers-model');
  assert.deepEqual(json.weightsManifest[0].paths, ['weights.bin']);
  const bin = await readFile(join(dir, 'weights.bin'));
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData }));
}

async function roundTrip(spec: ModelSpec, inputShape: number[]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fedmeta-export-'));
  try {
    const params = spec.initParams(11);
    // Non-zero biases so a swapped kernel/bias order would show.
    for (let i = 0; i < params.length; i++) params[i]! += 0.01 * Math.sin(i);
    await exportTfjsModel(spec, params, dir);
    const model = await loadWritten(dir);
    tf.tidy(() => {
      const x = randn([3, ...inputShape], 5);
      const ps = unflattenParams(spec, params);
      const ours = spec.forward(ps, x);
      const theirs = model.predict(x) as tf.Tensor;
      assert.ok(maxAbsDiff(ours, theirs) < 1e-4, `${spec.config.kind}: ${maxAbsDiff(ours, theirs)}`);
    });
    const bin = await readFile(join(dir, 'weights.bin'));
    assert.equal(bin.byteLength, spec.paramCount * 4);
    model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('MLP export loads in plain tfjs and predicts the same logits', async () => {
  await roundTrip(mlp({ inputShape: [28, 28, 1], hidden: [16, 8], numClasses: 10 }), [28, 28, 1]);
});

test('CNN export loads in plain tfjs and predicts the same logits', async () => {
  await roundTrip(cnn({ inputShape: [28, 28, 1], channels: [4, 8], embedding: 16, numClasses: 10 }), [28, 28, 1]);
});

test('ResNet export loads in plain tfjs and predicts the same logits', async () => {
  await roundTrip(resnet({ inputShape: [16, 16, 3], stages: [4, 8], numClasses: 10 }), [16, 16, 3]);
});

test('export with a wrong-length vector is a typed error', async () => {
  const spec = mlp({ inputShape: [4], hidden: [3], numClasses: 2 });
  await assert.rejects(exportTfjsModel(spec, new Float32Array(2), join(tmpdir(), 'never')), (e: unknown) => e instanceof MetaError && e.code === 'META_PARAM_LENGTH');
});

test('resnet18 export is a typed error naming the reason (tfjs layers has no group norm layer)', async () => {
  const spec = resnet18({ inputShape: [8, 8, 3], widths: [4], groups: 2, numClasses: 3 });
  await assert.rejects(exportTfjsModel(spec, spec.initParams(1), join(tmpdir(), 'fedmeta-never-written')), (e: unknown) => e instanceof MetaArgumentError && /group normalisation/.test(e.message));
});
