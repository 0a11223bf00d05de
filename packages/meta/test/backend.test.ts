import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as core from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/backend.js';
import { MetaError, MetaArgumentError } from '../src/errors.js';
import { tf } from '../src/tf.js';

const quiet = { log: null } as const;

test('one tfjs instance: @tensorflow/tfjs and tfjs-core share the engine and backend registry', async () => {
  assert.equal(tf.engine(), core.engine());
  await selectBackend({ prefer: 'wasm', ...quiet });
  assert.equal(core.getBackend(), 'wasm');
});

test('auto skips the absent tfjs-node packages with a reason and picks wasm, which computes', async () => {
  delete process.env['FEDMETA_BACKEND'];
  const lines: string[] = [];
  const choice = await selectBackend({ log: (l) => lines.push(l) });
  assert.equal(choice.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(choice.skipped[0]?.name, 'tensorflow');
  assert.match(choice.skipped[0]!.reason, /tfjs-node-gpu.*tfjs-node/);
  assert.match(lines[0]!, /backend wasm; skipped tensorflow/);
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
  process.env['FEDMETA_BACKEND'] = 'webgpu';
  try {
    await assert.rejects(selectBackend(quiet), (e: unknown) => e instanceof MetaArgumentError && /FEDMETA_BACKEND/.test(e.message));
  } finally {
    delete process.env['FEDMETA_BACKEND'];
  }
});
