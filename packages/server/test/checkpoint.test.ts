import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetaOptimizer } from '@fedmeta/meta';
import { CHECKPOINT_FILE, configHash, loadCheckpoint, saveCheckpoint } from '../src/checkpoint.js';
import { ServerError } from '../src/errors.js';
import { readOptimizerState, restoreOptimizerState } from '../src/optimizer-state.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-ckpt-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a checkpoint round-trips exactly and leaves no temporary file behind', () =>
  withDir((dir) => {
    const params = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 1e-3);
    saveCheckpoint(dir, { federationId: 'f', configHash: 'abc', nextRound: 7, arrays: { params }, meta: { rounds: [{ round: 6 }] } });
    const ck = loadCheckpoint(dir)!;
    assert.equal(ck.nextRound, 7);
    assert.equal(ck.configHash, 'abc');
    assert.deepEqual(ck.arrays.params, params);
    assert.deepEqual(ck.meta, { rounds: [{ round: 6 }] });
    assert.deepEqual(readdirSync(dir), [CHECKPOINT_FILE]);
  }));

test('no checkpoint yields null; a flipped byte or truncation is ERR_CHECKPOINT_CORRUPT', () =>
  withDir((dir) => {
    assert.equal(loadCheckpoint(dir), null);
    saveCheckpoint(dir, { federationId: 'f', configHash: 'h', nextRound: 2, arrays: { params: new Float32Array(64).fill(1) }, meta: {} });
    const path = join(dir, CHECKPOINT_FILE);
    const good = readFileSync(path);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 3]! ^= 0x40;
    writeFileSync(path, flipped);
    assert.throws(() => loadCheckpoint(dir), (e: unknown) => e instanceof ServerError && e.code === 'ERR_CHECKPOINT_CORRUPT' && /digest/.test(e.message));
    writeFileSync(path, good.subarray(0, good.length - 10));
    assert.throws(() => loadCheckpoint(dir), (e: unknown) => e instanceof ServerError && e.code === 'ERR_CHECKPOINT_CORRUPT');
    writeFileSync(path, Buffer.from('nonsense'));
    assert.throws(() => loadCheckpoint(dir), (e: unknown) => e instanceof ServerError && e.code === 'ERR_CHECKPOINT_CORRUPT');
  }));

test('Adam state survives a checkpoint: the resumed optimiser takes the identical next step', () =>
  withDir((dir) => {
    const n = 50;
    const update = (k: number) => Float32Array.from({ length: n }, (_, i) => Math.cos(i + k) * 0.01);
    const a = new MetaOptimizer({ kind: 'adam', lr: 0.01 });
    const pa = new Float32Array(n);
    for (let k = 0; k < 3; k++) a.apply(pa, update(k));
    const st = readOptimizerState(a);
    saveCheckpoint(dir, { federationId: 'f', configHash: 'h', nextRound: 4, arrays: { params: pa, ...st.arrays }, meta: { optimizer: st.meta } });
    const ck = loadCheckpoint(dir)!;
    const b = new MetaOptimizer({ kind: 'adam', lr: 0.01 });
    restoreOptimizerState(b, ck.arrays, ck.meta.optimizer);
    const pb = ck.arrays.params!;
    a.apply(pa, update(3));
    b.apply(pb, update(3));
    assert.deepEqual(pb, pa);
    // and a fresh optimiser would NOT have produced the same step (the state matters)
    const c = new MetaOptimizer({ kind: 'adam', lr: 0.01 });
    const pc = loadCheckpoint(dir)!.arrays.params!;
    c.apply(pc, update(3));
    assert.notDeepEqual(pc, pa);
  }));

test('configHash is stable under key order and sensitive to values', () => {
  assert.equal(configHash({ a: 1, b: { c: [1, 2], d: 'x' } }), configHash({ b: { d: 'x', c: [1, 2] }, a: 1 }));
  assert.notEqual(configHash({ a: 1 }), configHash({ a: 2 }));
  assert.notEqual(configHash({ k: new Uint8Array([1]) }), configHash({ k: new Uint8Array([2]) }));
});

test('optimizer state written by the earlier format (no kind, raw float64 bytes as f32 words) still resumes the trajectory', () =>
  withDir((dir) => {
    const n = 20;
    const update = (k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 1) * 0.02);
    const config = { kind: 'sgd', lr: 0.5, momentum: 0.9 } as const;
    const a = new MetaOptimizer(config);
    const pa = new Float32Array(n);
    for (let k = 0; k < 4; k++) a.apply(pa, update(k));
    // Exactly what the first checkpoint version stored: m's bytes as float32 words, { t, hasM, hasV }.
    const m = a.state().m!;
    const old = { 'optimizer.m': new Float32Array(m.buffer.slice(0)) };
    saveCheckpoint(dir, { federationId: 'f', configHash: 'h', nextRound: 5, arrays: { params: pa, ...old }, meta: { optimizer: { t: 0, hasM: true, hasV: false } } });
    const ck = loadCheckpoint(dir)!;
    const b = new MetaOptimizer(config);
    restoreOptimizerState(b, ck.arrays, ck.meta.optimizer);
    const pb = ck.arrays.params!;
    a.apply(pa, update(4));
    b.apply(pb, update(4));
    assert.deepEqual(pb, pa);
    // The current writer keeps that layout and adds the kind.
    assert.deepEqual(readOptimizerState(a).meta, { t: 0, hasM: true, hasV: false, kind: 'sgd' });
    assert.deepEqual(readOptimizerState(a).arrays['optimizer.m']!.length, 2 * n);
  }));

test('an optimizer state that does not fit the model or the optimiser is ERR_CHECKPOINT_CORRUPT naming why', () => {
  const n = 8;
  const adam = new MetaOptimizer({ kind: 'adam', lr: 0.01 });
  adam.apply(new Float32Array(n), Float32Array.from({ length: n }, (_, i) => i / 10));
  const st = readOptimizerState(adam);
  const params = new Float32Array(n);
  const corrupt = (re: RegExp) => (e: unknown) => e instanceof ServerError && e.code === 'ERR_CHECKPOINT_CORRUPT' && re.test(e.message);
  const fresh = () => new MetaOptimizer({ kind: 'adam', lr: 0.01 });
  assert.throws(() => restoreOptimizerState(fresh(), { params: new Float32Array(n + 1), ...st.arrays }, st.meta), corrupt(/state\.m: 8 entries, the model has 9/));
  assert.throws(() => restoreOptimizerState(fresh(), { params, 'optimizer.m': new Float32Array(3), 'optimizer.v': st.arrays['optimizer.v']! }, st.meta), corrupt(/odd number/));
  assert.throws(() => restoreOptimizerState(fresh(), { params, 'optimizer.m': st.arrays['optimizer.m']! }, st.meta), corrupt(/hasV but optimizer\.v is missing/));
  assert.throws(() => restoreOptimizerState(new MetaOptimizer({ kind: 'sgd', lr: 1, momentum: 0.5 }), { params, ...st.arrays }, st.meta), corrupt(/'adam'.*'sgd'/));
  assert.throws(() => restoreOptimizerState(fresh(), { params, ...st.arrays }, { ...st.meta, t: 0 }), corrupt(/state\.step/));
  // A good one restores the exact state.
  const ok = fresh();
  restoreOptimizerState(ok, { params, ...st.arrays }, st.meta);
  assert.deepEqual(ok.state(), adam.state());
});
