/**
 * Long local training must not get a client declared dead. Three clients, each in its own
 * process, train for longer than the server's heartbeat timeout (1 s). The two that train
 * in a worker thread (`trainInWorker`) keep answering pings and sending progress frames
 * and complete the round; the one that trains on its main thread cannot answer and is
 * dropped with ERR_HEARTBEAT_TIMEOUT - the failure the worker exists to prevent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { startServer } from '@fedmeta/server';
import { baseServerOptions, EventLog, institutions, stepsLasting } from '../src/harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const clientScript = join(here, '..', 'src', 'client-process.js');

function runChild(specPath: string): Promise<Record<string, unknown>[]> {
  const child = spawn(process.execPath, [clientScript, specPath], { stdio: ['ignore', 'pipe', 'ignore'] });
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      // tfjs banners
    }
  });
  return new Promise((resolve) => child.on('exit', () => resolve(lines)));
}

test('training in a worker keeps a slow client alive; training on the main thread does not', { timeout: 150_000 }, async () => {
  const insts = institutions(3, 'slow');
  const log = new EventLog();
  const localSteps = await stepsLasting(3_000);
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-e2e-hb-'));
  const server = await startServer(
    baseServerOptions(insts, {
      rounds: 1,
      // About 3 s of training: main-thread training outlasts the 1 s heartbeat timeout.
      algorithm: { name: 'fedavg', hyper: { localSteps, batchSize: 32, lr: 0.05 } },
      aggregation: { mode: 'secagg', threshold: 2 },
      // The main-thread client is dropped: the round is meant to release the other two.
      cohort: { minClients: 2, minAggregate: 2 },
      heartbeat: { intervalMs: 250, timeoutMs: 1000 },
      deadlines: { waitForClientsMs: 20_000, trainingMs: 60_000 },
      logger: log.logger,
    }),
  );
  try {
    const runs = insts.map((inst, i) => {
      const path = join(dir, `client-${i}.json`);
      writeFileSync(path, JSON.stringify({
        url: server.url,
        publicKey: Buffer.from(inst.keys.publicKey).toString('hex'),
        secretKey: Buffer.from(inst.keys.secretKey).toString('hex'),
        clients: 3,
        index: i,
        seed: 21,
        trainInWorker: i !== 0,
      }));
      return runChild(path);
    });
    const summary = await server.done;
    const outputs = await Promise.all(runs);
    const summaries = outputs.map((lines) => lines.find((l) => l.event === 'process.summary') as { endReason: string; rounds: { trainMs?: number; status: string }[] } | undefined);

    // The main-thread trainer was cut off by the heartbeat; the worker trainers were not.
    const killed = log.named('peer.closed').filter((e) => e.error === 'ERR_HEARTBEAT_TIMEOUT').map((e) => e.peer);
    assert.deepEqual(killed, ['slow-0']);
    assert.equal(summary.rounds[0]!.status, 'completed');
    assert.equal(summary.rounds[0]!.survivors, 2);
    for (const i of [1, 2]) {
      const s = summaries[i]!;
      assert.equal(s.endReason, 'federation-done');
      assert.equal(s.rounds[0]!.status, 'completed');
      // The test is only meaningful if training really outlasted the heartbeat timeout.
      assert.ok(s.rounds[0]!.trainMs! > 1000, `training took ${s.rounds[0]!.trainMs} ms`);
    }
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
