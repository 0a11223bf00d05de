/**
 * (b) The coordinator is a real child process, SIGKILLed in the middle of the federation
 * and restarted on the same checkpoint directory and port. It must resume from the
 * checkpointed round (not from round 1), the clients must reconnect on their own, and
 * the privacy ledger's epsilon must never fall below what was actually released.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { runClient } from '@fedmeta/client';
import { epsilonOfEvents, openLedger } from '@fedmeta/dp';
import { loadCheckpoint } from '@fedmeta/server';
import { institutions, mnistFederation, stepsLasting } from '../src/harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const serverScript = join(here, '..', 'src', 'server-process.js');

interface Line {
  event: string;
  [k: string]: unknown;
}

function spawnServer(specPath: string, lines: Line[], onLine: (l: Line) => void): ChildProcess {
  const child = spawn(process.execPath, [serverScript, specPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  createInterface({ input: child.stdout! }).on('line', (raw) => {
    let l: Line;
    try {
      l = JSON.parse(raw) as Line;
    } catch {
      return;
    }
    lines.push(l);
    onLine(l);
  });
  child.stderr!.on('data', (d: Buffer) => {
    if (process.env['FEDMETA_E2E_VERBOSE']) process.stderr.write(d);
  });
  return child;
}

function waitFor(lines: Line[], pred: (l: Line) => boolean, register: (f: (l: Line) => void) => void, ms: number, what: string): Promise<Line> {
  const found = lines.find(pred);
  if (found) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    register((l) => {
      if (pred(l)) {
        clearTimeout(t);
        resolve(l);
      }
    });
  });
}

test('a SIGKILLed server resumes from its checkpoint and the ledger never under-reports', { timeout: 180_000 }, async () => {
  const N = 4;
  const ROUNDS = 5;
  const insts = institutions(N, 'site');
  const fed = mnistFederation(N, 5);
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-e2e-b-'));
  const specPath = join(dir, 'spec.json');
  const spec = {
    port: 0,
    checkpointDir: join(dir, 'ckpt'),
    rounds: ROUNDS,
    roster: insts.map((i) => ({ name: i.name, publicKey: Buffer.from(i.keys.publicKey).toString('hex') })),
    dp: { l2Clip: 3, noiseMultiplier: 0.05, delta: 1e-5, epsilonBudget: 1e9 },
    // Rounds of about a second of training, so the kill lands inside round 3.
    localSteps: await stepsLasting(300),
  };
  writeFileSync(specPath, JSON.stringify(spec));
  let listeners: ((l: Line) => void)[] = [];
  const dispatch = (l: Line) => listeners.forEach((f) => f(l));
  const register = (f: (l: Line) => void) => void listeners.push(f);
  const first: Line[] = [];
  let child = spawnServer(specPath, first, dispatch);
  const children = [child];
  try {
    const listening = await waitFor(first, (l) => l.event === 'process.listening', register, 60_000, 'first server listening');
    const port = listening.port as number;
    const clients = insts.map((inst, i) =>
      runClient({
        url: `ws://127.0.0.1:${port}`,
        identity: inst.keys,
        data: fed.clients[i]!,
        backend: 'cpu',
        reconnect: { maxAttempts: 60, baseDelayMs: 100, maxDelayMs: 1000 },
      }),
    );
    // Kill in the middle of round 3: after two checkpoints, once round 3 has started.
    await waitFor(first, (l) => l.event === 'round.started' && l.round === 3, register, 90_000, 'round 3 started');
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const before = loadCheckpoint(spec.checkpointDir)!;
    assert.ok(before.nextRound >= 3, `checkpoint at the kill: next round ${before.nextRound}`);
    const ledgerAtKill = openLedger(join(spec.checkpointDir, 'ledger.json'), { readOnly: true });
    const chargedAtKill = ledgerAtKill.events.length;
    ledgerAtKill.close();

    // Restart on the same port and checkpoint directory.
    writeFileSync(specPath, JSON.stringify({ ...spec, port }));
    listeners = [];
    const second: Line[] = [];
    child = spawnServer(specPath, second, dispatch);
    children.push(child);
    const resumed = await waitFor(second, (l) => l.event === 'checkpoint.resumed', register, 60_000, 'checkpoint resumed');
    assert.equal(resumed.nextRound, before.nextRound);
    const firstRoundAfter = await waitFor(second, (l) => l.event === 'round.started', register, 60_000, 'a round after the restart');
    assert.equal(firstRoundAfter.round, before.nextRound, 'the restarted server continues at the checkpointed round, not at round 1');
    const done = await waitFor(second, (l) => l.event === 'process.done', register, 120_000, 'federation done');
    assert.equal(done.endReason, 'completed');
    const summaries = await Promise.all(clients.map((c) => c.done));
    for (const s of summaries) assert.equal(s.endReason, 'federation-done');

    // Released rounds = every round whose aggregate was applied, before or after the crash.
    const final = loadCheckpoint(spec.checkpointDir)!;
    assert.equal(final.nextRound, ROUNDS + 1);
    const released = (final.meta.rounds as { round: number; status: string }[]).filter((r) => r.status === 'completed').map((r) => r.round);
    assert.deepEqual(released, [1, 2, 3, 4, 5]);
    const ledger = openLedger(join(spec.checkpointDir, 'ledger.json'), { readOnly: true });
    const recorded = ledger.events;
    // Every release has a charge recorded before it (a round charged but killed before its
    // checkpoint is charged again when re-run: over-counting, never under-counting).
    for (const r of released) assert.ok(recorded.some((e) => e.round === r), `round ${r} charged`);
    assert.ok(recorded.length >= released.length && recorded.length >= chargedAtKill);
    const releasedEvents = released.map((r) => recorded.find((e) => e.round === r)!);
    const epsReleased = epsilonOfEvents(releasedEvents, 1e-5);
    assert.ok(ledger.spent() >= epsReleased - 1e-12, `ledger eps ${ledger.spent()} < released ${epsReleased}`);
    assert.ok((done.epsilon as number) >= epsReleased - 1e-12);
    ledger.close();
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a coordinator down for a minute, then restarted: every client with the default reconnect policy comes back by itself and the federation completes', { timeout: 240_000 }, async () => {
  // 60 s is longer than the most the old default (10 attempts, 250 ms doubling to 10 s)
  // could ever wait (55.75 s). FEDMETA_OUTAGE_MS=180000 reproduces the 3-minute outage.
  const outageMs = Number(process.env['FEDMETA_OUTAGE_MS'] ?? 60_000);
  const { startServer } = await import('@fedmeta/server');
  const { baseServerOptions } = await import('../src/harness.js');
  const insts = institutions(3, 'outage');
  const fed = mnistFederation(3, 5, 100);
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-outage-'));
  // The first coordinator goes down right after its first released round: the clients run
  // in this process, so a polling loop could miss several fast rounds (and the whole run).
  let firstRoundReleased!: () => void;
  const released = new Promise<void>((r) => (firstRoundReleased = r));
  const options = (port: number, logger?: (e: { event: string }) => void) =>
    baseServerOptions(insts, {
      port,
      rounds: 4,
      checkpointDir: dir,
      algorithm: { name: 'fedavg', hyper: { localSteps: 2, batchSize: 16, lr: 0.1 } },
      ...(logger ? { logger } : {}),
    });
  try {
    const first = await startServer(
      options(0, (e) => {
        if (e.event === 'round.finished') firstRoundReleased();
      }),
    );
    const port = first.port;
    const retries = new Map<string, number>();
    const clients = insts.map((inst, i) =>
      runClient({
        url: first.url,
        identity: inst.keys,
        data: fed.clients[i]!,
        backend: 'cpu',
        logger: (e) => {
          if (e.event === 'connect.retry') {
            retries.set(inst.name, (retries.get(inst.name) ?? 0) + 1);
            assert.equal(e.forever, true, 'the default policy retries forever');
          }
        },
      }),
    );
    await released;
    await first.close();
    const firstSummary = await first.done;
    assert.ok(firstSummary.rounds.filter((r) => r.status === 'completed').length < 4, 'the first coordinator stopped before the federation ended');
    const down = Date.now();
    await new Promise((r) => setTimeout(r, outageMs));
    const second = await startServer(options(port));
    const summary = await second.done;
    assert.ok(Date.now() - down >= outageMs);
    assert.equal(summary.endReason, 'completed');
    assert.ok(summary.rounds.filter((r) => r.status === 'completed').length >= 4, 'every round completed across the two processes');
    for (const c of await Promise.all(clients.map((c) => c.done))) assert.equal(c.endReason, 'federation-done', `${c.name}: ${c.error?.message}`);
    for (const inst of insts) assert.ok((retries.get(inst.name) ?? 0) >= 3, `${inst.name} kept retrying during the outage`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
