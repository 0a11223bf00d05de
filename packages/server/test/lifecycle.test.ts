import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519Keypair, systemRng } from '@fedmeta/secagg';
import { saveCheckpoint } from '../src/checkpoint.js';
import { ServerError } from '../src/errors.js';
import { startServer } from '../src/server.js';
import type { ServerOptions } from '../src/options.js';

function options(extra: Partial<ServerOptions> = {}): ServerOptions {
  return {
    port: 0,
    insecure: true,
    federationId: 'life',
    roster: [ed25519Keypair(systemRng), ed25519Keypair(systemRng)].map((k, i) => ({ name: `n${i}`, publicKey: k.publicKey })),
    rounds: 2,
    model: { config: { kind: 'mlp', inputShape: [4], hidden: [3], numClasses: 2 } },
    algorithm: { name: 'fedavg', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } },
    cohort: { minClients: 2, minAggregate: 2 },
    backend: 'cpu',
    ...extra,
  };
}

test('close() while waiting for clients ends the federation with endReason closed', async () => {
  const events: string[] = [];
  const server = await startServer(options({ logger: (e) => events.push(e.event) }));
  assert.match(server.url, /^ws:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(server.status().phase, 'waiting');
  assert.equal(server.status().round, 1);
  await server.close();
  const s = await server.done;
  assert.equal(s.endReason, 'closed');
  assert.equal(s.roundsCompleted, 0);
  assert.equal(s.finalParams.length, 4 * 3 + 3 + 3 * 2 + 2);
  assert.ok(events.includes('server.listening') && events.includes('server.done'));
});

test('a checkpoint written under another configuration is refused; a matching one is resumed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-life-'));
  try {
    saveCheckpoint(dir, { federationId: 'life', configHash: 'not-this-config', nextRound: 2, arrays: { params: new Float32Array(23) }, meta: {} });
    await assert.rejects(startServer(options({ checkpointDir: dir })), (e: unknown) => e instanceof ServerError && e.code === 'ERR_CHECKPOINT_MISMATCH');
    // A server that checkpoints nothing yet leaves the dir alone; run one that resumes:
    rmSync(join(dir, 'checkpoint.fmck'));
    const first = await startServer(options({ checkpointDir: dir }));
    await first.close();
    await first.done;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('plain ws without insecure: true, a busy port and bad options are typed errors', async () => {
  const { insecure: _i, ...noTls } = options();
  await assert.rejects(startServer(noTls), (e: unknown) => e instanceof ServerError && e.code === 'ERR_SERVER_CONFIG' && /insecure: true/.test(e.message));
  const a = await startServer(options());
  try {
    await assert.rejects(startServer(options({ port: a.port })), (e: unknown) => e instanceof ServerError && e.code === 'ERR_LISTEN');
  } finally {
    await a.close();
  }
  await assert.rejects(startServer(options({ model: { config: { kind: 'mlp' }, initialParams: new Float32Array(3) } })), (e: unknown) => e instanceof ServerError && e.code === 'ERR_SERVER_CONFIG');
});

test('plan(n): threshold, floor and the dropouts a round is guaranteed to survive', async () => {
  const roster = Array.from({ length: 40 }, (_, i) => ({ name: `p${i}`, publicKey: ed25519Keypair(systemRng).publicKey }));
  const server = await startServer(options({ roster, cohort: { minClients: 3 } }));
  try {
    // Classic SecAgg: t = floor(2n/3) + 1, floor max(3, minClients).
    assert.deepEqual(server.plan(3), { n: 3, mode: 'secagg', degree: 0, threshold: 3, minAggregate: 3, toleratedDropouts: 0 });
    assert.equal(server.plan(5).threshold, 4);
    assert.equal(server.plan(5).toleratedDropouts, 1);
    assert.equal(server.plan(10).toleratedDropouts, 10 - 7);
    // SecAgg+ (auto from 16): bounded by each neighbourhood's slack k + 1 - t as well.
    const p = server.plan(40);
    assert.equal(p.mode, 'secagg+');
    assert.equal(p.toleratedDropouts, Math.min(40 - Math.max(p.threshold, 3), p.degree + 1 - p.threshold));
  } finally {
    await server.close();
  }
  const low = await startServer(options({ cohort: { minClients: 2, minAggregate: 2 }, aggregation: { threshold: 2 } }));
  try {
    assert.equal(low.plan(2).toleratedDropouts, 0);
  } finally {
    await low.close();
  }
});

test('record-level DP: an algorithm other than FedAvg, or a model without DP-SGD per-example gradients, is refused at start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-record-config-'));
  try {
    const dp: ServerOptions['dp'] = { unit: 'record', epsilonBudget: 4, delta: 1e-5, l2Clip: 1, noiseMultiplier: 1, record: { mode: 'local', sampleRate: 0.1 }, ledgerPath: join(dir, 'ledger.json') };
    const refused = (o: Partial<ServerOptions>, pattern: RegExp) =>
      assert.rejects(startServer(options({ dp, ...o })), (e: unknown) => e instanceof ServerError && e.code === 'ERR_SERVER_CONFIG' && pattern.test(e.message));
    await refused({ algorithm: { name: 'reptile', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } } }, /algorithm\.name: expected 'fedavg' with record-level DP.*got "reptile"/);
    await refused({ model: { config: { kind: 'resnet', inputShape: [8, 8, 1], stages: [4], numClasses: 2 } } }, /model\.config\.kind: expected linear, mlp or cnn with record-level DP/);
    // FedAvg on an MLP starts.
    const ok = await startServer(options({ dp }));
    await ok.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
