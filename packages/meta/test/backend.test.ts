import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as core from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/backend.js';
import { MetaError, MetaArgumentError } from '../src/errors.js';
import { tf } from '../src/tf.js';
import { setTrainingEngine, trainingEngine } from '../src/engine/index.js';

const quiet = { log: null } as const;

test('one tfjs instance: @tensorflow/tfjs and tfjs-core share the engine and backend registry', async () => {
  assert.equal(tf.engine(), core.engine());
  await selectBackend({ prefer: 'wasm', ...quiet });
  assert.equal(core.getBackend(), 'wasm');
});

test('auto skips the absent tfjs-node and webgpu packages with a reason and picks wasm, which computes', async () => {
  delete process.env['FEDMETA_BACKEND'];
  delete process.env['FEDMETA_ENGINE'];
  const lines: string[] = [];
  const choice = await selectBackend({ log: (l) => lines.push(l) });
  assert.equal(choice.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.deepEqual(choice.skipped.map((s) => s.name), ['tensorflow', 'webgpu']);
  assert.match(choice.skipped[0]!.reason, /tfjs-node-gpu.*tfjs-node/);
  assert.match(choice.skipped[1]!.reason, /package webgpu not installed \(npm install webgpu @tensorflow\/tfjs-backend-webgpu/);
  assert.deepEqual(choice.engine, { name: 'wasm-simd', reason: 'tfjs backend wasm runs on the CPU' });
  assert.match(lines[0]!, /backend wasm; skipped tensorflow: .*; webgpu: package webgpu not installed.*; training engine wasm-simd \(tfjs backend wasm runs on the CPU\)$/);
  const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
  assert.deepEqual(Array.from(y.dataSync()), [11]);
  y.dispose();
});

test('FEDMETA_BACKEND overrides the option; prefer cpu is honoured', async () => {
  process.env['FEDMETA_BACKEND'] = 'cpu';
  try {
    const choice = await selectBackend({ prefer: 'wasm', ...quiet });
    assert.equal(choice.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
  } finally {
    delete process.env['FEDMETA_BACKEND'];
  }
  assert.equal((await selectBackend({ prefer: 'wasm', ...quiet })).name, 'wasm');
  assert.equal((await selectBackend({ prefer: 'cpu', ...quiet })).name, 'cpu');
});

test('strict tensorflow without tfjs-node is a typed error; unknown names are rejected', async () => {
  await assert.rejects(selectBackend({ prefer: 'tensorflow', strict: true, ...quiet }), (e: unknown) => e instanceof MetaError && e.code === 'META_BACKEND_UNAVAILABLE');
  const fallback = await selectBackend({ prefer: 'tensorflow', ...quiet });
  assert.equal(fallback.name, 'wasm');
  await assert.rejects(selectBackend({ prefer: 'gpu' as never, ...quiet }), (e: unknown) => e instanceof MetaArgumentError && /prefer/.test(e.message));
  process.env['FEDMETA_BACKEND'] = 'metal';
  try {
    await assert.rejects(selectBackend(quiet), (e: unknown) => e instanceof MetaArgumentError && /FEDMETA_BACKEND/.test(e.message));
  } finally {
    delete process.env['FEDMETA_BACKEND'];
  }
});

test('webgpu: strict without the optional packages is a typed error naming them; prefer webgpu falls back to wasm', async () => {
  await assert.rejects(
    selectBackend({ prefer: 'webgpu', strict: true, ...quiet }),
    (e: unknown) => e instanceof MetaError && e.code === 'META_BACKEND_UNAVAILABLE' && /npm install webgpu/.test(e.message),
  );
  const choice = await selectBackend({ prefer: 'webgpu', ...quiet });
  assert.equal(choice.name, 'wasm');
  assert.deepEqual(choice.skipped.map((s) => s.name), ['webgpu']);
});

test('training engine: wasm trains on the engine, the cpu backend on tfjs ops; FEDMETA_ENGINE and setTrainingEngine override; bad names are typed errors', async () => {
  await selectBackend({ prefer: 'cpu', ...quiet });
  assert.equal(trainingEngine().name, 'tfjs');
  process.env['FEDMETA_ENGINE'] = 'wasm-simd';
  try {
    assert.deepEqual(trainingEngine(), { name: 'wasm-simd', reason: 'requested' });
  } finally {
    delete process.env['FEDMETA_ENGINE'];
  }
  await selectBackend({ prefer: 'wasm', ...quiet });
  assert.equal(trainingEngine().name, 'wasm-simd');
  process.env['FEDMETA_ENGINE'] = 'tfjs';
  try {
    assert.deepEqual(trainingEngine(), { name: 'tfjs', reason: 'requested' });
    assert.equal((await selectBackend({ prefer: 'wasm', ...quiet })).engine.name, 'tfjs');
    process.env['FEDMETA_ENGINE'] = 'gpu';
    assert.throws(() => trainingEngine(), (e: unknown) => e instanceof MetaArgumentError && /FEDMETA_ENGINE/.test(e.message));
  } finally {
    delete process.env['FEDMETA_ENGINE'];
  }
  setTrainingEngine('tfjs');
  try {
    assert.equal(trainingEngine().name, 'tfjs');
  } finally {
    setTrainingEngine('auto');
  }
  assert.equal(trainingEngine().name, 'wasm-simd');
  assert.throws(() => setTrainingEngine('fast' as never), MetaArgumentError);
});
