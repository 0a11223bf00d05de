// What a checkpoint binds, field by field: rounds and the DP noise multiplier may change,
// anything else is named when it differs; checkpoints from before the per-field records
// (one hash) still resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519Keypair, systemRng } from '@fedmeta/secagg';
import { checkpointDiff, checkpointMismatch, CheckpointMismatchError, federationFingerprint, loadCheckpoint, saveCheckpoint } from '../src/checkpoint.js';
import { ServerError } from '../src/errors.js';
import { startServer } from '../src/server.js';
import { resolveServerOptions } from '../src/validate.js';
import type { ServerOptions } from '../src/options.js';

const roster = [ed25519Keypair(systemRng), ed25519Keypair(systemRng)].map((k, i) => ({ name: `c${i}`, publicKey: k.publicKey }));
function options(extra: Partial<ServerOptions> = {}): ServerOptions {
  return {
    port: 0,
    insecure: true,
    federationId: 'fields',
    roster,
    rounds: 3,
    model: { config: { kind: 'mlp', inputShape: [4], hidden: [3], numClasses: 2 } },
    algorithm: { name: 'fedavg', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } },
    cohort: { minClients: 2, minAggregate: 2 },
    dp: { l2Clip: 1, noiseMultiplier: 1.2, delta: 1e-5, epsilonBudget: 9 },
    backend: 'cpu',
    ...extra,
  };
}
const fp = (o: ServerOptions) => federationFingerprint(resolveServerOptions({ checkpointDir: '/nonexistent/fedmeta-fields', ...o }));

test('the fingerprint binds neither rounds nor the DP noise multiplier, and binds the rest', () => {
  const base = fp(options());
  assert.equal(fp(options({ rounds: 50, dp: { l2Clip: 1, noiseMultiplier: 3, delta: 1e-5, epsilonBudget: 9 } })).hash, base.hash);
  assert.equal(fp(options({ deadlines: { trainingMs: 5_000 }, cohort: { minClients: 2, minAggregate: 2, maxClients: 9 } })).hash, base.hash);
  const changed: [Partial<ServerOptions>, string][] = [
    [{ model: { config: { kind: 'mlp', inputShape: [4], hidden: [5], numClasses: 2 } } }, 'model.config.hidden is [3] in the checkpoint and [5] now'],
    [{ algorithm: { name: 'reptile', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } } }, 'algorithm.name is "fedavg" in the checkpoint and "reptile" now'],
    [{ dp: { l2Clip: 2, noiseMultiplier: 1.2, delta: 1e-5, epsilonBudget: 9 } }, 'dp.l2Clip is 1 in the checkpoint and 2 now'],
    [{ seed: 99 }, 'seed is 1 in the checkpoint and 99 now'],
    [{ aggregation: { mode: 'secagg+' } }, 'aggregation.mode is "auto" in the checkpoint and "secagg+" now'],
  ];
  for (const [extra, expected] of changed) {
    const now = fp(options(extra));
    assert.notEqual(now.hash, base.hash);
    const why = checkpointMismatch({ federationId: 'fields', configHash: base.hash, configFields: base.fields }, now, 'fields');
    assert.ok(why?.includes(expected), `${why} should include ${expected}`);
  }
  const off = checkpointMismatch({ federationId: 'fields', configHash: base.hash, configFields: base.fields }, fp(options({ dp: undefined })), 'fields')!;
  assert.match(off, /dp is \(not set\) in the checkpoint and null now; dp\.delta is 0\.00001 in the checkpoint and \(not set\) now/);
  assert.match(checkpointMismatch({ federationId: 'other', configHash: base.hash }, base, 'fields')!, /belongs to federation 'other', not 'fields'/);
});

test('a checkpoint written with the single hash of earlier versions still resumes; an unknown one is refused without guessing the field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-fields-'));
  try {
    const o = options({ checkpointDir: dir });
    const legacy = fp(o).legacyHash;
    saveCheckpoint(dir, { federationId: 'fields', configHash: legacy, nextRound: 3, arrays: { params: new Float32Array(23) }, meta: { rounds: [] } });
    const s = await startServer(o);
    assert.equal(s.status().round, 3, 'resumed at the checkpointed round');
    await s.close();
    saveCheckpoint(dir, { federationId: 'fields', configHash: 'f'.repeat(64), nextRound: 3, arrays: { params: new Float32Array(23) }, meta: {} });
    await assert.rejects(startServer(o), (e: unknown) => e instanceof ServerError && e.code === 'ERR_CHECKPOINT_MISMATCH' && /predates per-field records/.test(e.message));
    // A checkpoint with fields round-trips them.
    const now = fp(o);
    saveCheckpoint(dir, { federationId: 'fields', configHash: now.hash, configFields: now.fields, nextRound: 2, arrays: { params: new Float32Array(23) }, meta: {} });
    assert.deepEqual(loadCheckpoint(dir)!.configFields, now.fields);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a refused checkpoint carries every differing option in structured form (server option path, canonical JSON in the checkpoint and now)', async () => {
  const base = fp(options());
  const ck = { federationId: 'fields', configHash: base.hash, configFields: base.fields };
  const diff = checkpointDiff(ck, fp(options({ model: { config: { kind: 'mlp', inputShape: [4], hidden: [5], numClasses: 2 } }, dp: { l2Clip: 1, noiseMultiplier: 1.2, delta: 1e-5, epsilonBudget: 8 } })), 'fields')!;
  assert.deepEqual(diff.fields, [
    { path: 'dp.epsilonBudget', checkpoint: '9', now: '8' },
    { path: 'model.config.hidden', checkpoint: '[3]', now: '[5]' },
  ]);
  assert.equal(diff.message, checkpointMismatch(ck, fp(options({ model: { config: { kind: 'mlp', inputShape: [4], hidden: [5], numClasses: 2 } }, dp: { l2Clip: 1, noiseMultiplier: 1.2, delta: 1e-5, epsilonBudget: 8 } })), 'fields'));
  // Unset on one side: null (JSON null is the text 'null').
  const off = checkpointDiff(ck, fp(options({ dp: undefined })), 'fields')!;
  assert.deepEqual(off.fields.find((f) => f.path === 'dp'), { path: 'dp', checkpoint: null, now: 'null' });
  assert.deepEqual(off.fields.find((f) => f.path === 'dp.delta'), { path: 'dp.delta', checkpoint: '0.00001', now: null });
  // More than 8: the message lists 8, the fields all of them.
  const many = checkpointDiff(ck, fp(options({ seed: 7, algorithm: { name: 'reptile', hyper: { localSteps: 2, batchSize: 2, lr: 0.2, innerLr: 0.1 } }, dp: { l2Clip: 2, noiseMultiplier: 1.2, delta: 1e-4, epsilonBudget: 8, bits: 20 } })), 'fields')!;
  assert.ok(many.fields.length > 8, `${many.fields.length} fields`);
  assert.match(many.message, new RegExp(`and ${many.fields.length - 8} more`));
  assert.deepEqual(checkpointDiff({ ...ck, federationId: 'other' }, base, 'fields')!.fields, [{ path: 'federationId', checkpoint: '"other"', now: '"fields"' }]);
  assert.deepEqual(checkpointDiff({ federationId: 'fields', configHash: 'f'.repeat(64) }, base, 'fields')!.fields, [], 'a checkpoint without per-field records names none');
  assert.equal(checkpointDiff(ck, base, 'fields'), null);

  // startServer throws it: a ServerError with code ERR_CHECKPOINT_MISMATCH and the fields.
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-fields-structured-'));
  try {
    saveCheckpoint(dir, { federationId: 'fields', configHash: base.hash, configFields: base.fields, nextRound: 2, arrays: { params: new Float32Array(23) }, meta: {} });
    await assert.rejects(startServer(options({ checkpointDir: dir, model: { config: { kind: 'mlp', inputShape: [4], hidden: [5], numClasses: 2 } } })), (e: unknown) => {
      assert.ok(e instanceof CheckpointMismatchError && e instanceof ServerError, String(e));
      assert.equal(e.code, 'ERR_CHECKPOINT_MISMATCH');
      assert.deepEqual(e.fields, [{ path: 'model.config.hidden', checkpoint: '[3]', now: '[5]' }]);
      assert.match(e.message, /model\.config\.hidden is \[3\] in the checkpoint and \[5\] now/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
