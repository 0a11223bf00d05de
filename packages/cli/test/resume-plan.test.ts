// Continuing a finished DP federation with more rounds: the planned noise multiplier covers
// only the rounds left, within what the ledger has left of the budget, as the ledger will
// recompute it; a spent budget is refused naming dp.epsilon. The planner is checked on a
// real ledger and a real checkpoint file (the dp and server packages' own writers); the
// coordinator's console on the checkpoint of a real federation (`fedmeta simulate`),
// continued or refused by a real `fedmeta server` process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, freePort } from './run-cli.js';
import { createDdgEncoder, epsilonOfEvents, openLedger, planDdgNoiseMultiplier } from '@fedmeta/dp';
import { saveCheckpoint } from '@fedmeta/server';
import { validate } from '../src/config/schema.js';
import { fedmetaSchema } from '../src/config/fedmeta-schema.js';
import { planNoise, serverOptionsFromConfig } from '../src/config/options.js';
import { CliError } from '../src/errors.js';

const dim = 500;
const config = (rounds: number, checkpointDir: string, epsilon = 8) =>
  validate(fedmetaSchema, { server: { rounds, minClients: 3, checkpointDir }, simulate: { clients: 3 }, secagg: { mode: 'secagg' }, dp: { epsilon, delta: 1e-5, l2Clip: 1 } });

/** A federation that ran `rounds` rounds at noise multiplier z: its checkpoint and ledger. */
function finished(dir: string, rounds: number, z: number, numClients: number, budget = 8): void {
  const ledger = openLedger(join(dir, 'ledger.json'), { budget, delta: 1e-5 });
  try {
    const ev = createDdgEncoder({ dim, numClients, l2Clip: 1, noiseMultiplier: z, bits: 32 }).privacyEvent(1);
    for (let r = 1; r <= rounds; r++) ledger.charge({ ...ev, round: r });
  } finally {
    ledger.close();
  }
  saveCheckpoint(dir, { federationId: 'fedmeta', configHash: 'x', nextRound: rounds + 1, arrays: { params: new Float32Array(dim) }, meta: {} });
}

test('raising server.rounds plans the smallest noise multiplier for the rounds left within the budget left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-resume-plan-'));
  try {
    const four = await planNoise(config(4, dir), dim);
    const ten = await planNoise(config(10, dir), dim);
    // The first run used more noise than a 4-round plan needs (budget is left), less than a 10-round one.
    finished(dir, 4, (four.noiseMultiplier + ten.noiseMultiplier) / 2, four.numClients);
    const c = config(10, dir);
    const plan = await planNoise(c, dim, dir);
    assert.deepEqual(plan.resumed && { done: plan.resumed.roundsDone, remaining: plan.resumed.remaining }, { done: 4, remaining: 6 });
    const spent = openLedger(join(dir, 'ledger.json'), { readOnly: true });
    const before = [...spent.events];
    spent.close();
    const total = (z: number) => epsilonOfEvents([...before, ...Array.from({ length: 6 }, () => createDdgEncoder({ dim, numClients: plan.numClients, l2Clip: 1, noiseMultiplier: z, bits: 32 }).privacyEvent(1))], 1e-5);
    assert.ok(total(plan.noiseMultiplier) <= 8, `all ten rounds within the budget: ${total(plan.noiseMultiplier)}`);
    assert.ok(total(plan.noiseMultiplier * 0.999) > 8, 'and it is the smallest such noise multiplier');
    // Planning all ten rounds from scratch would have ignored what was spent and overspent.
    const naive = planDdgNoiseMultiplier({ dim, numClients: plan.numClients, l2Clip: 1, bits: 32, epsilon: 8, delta: 1e-5, q: 1, steps: 10 }).noiseMultiplier;
    assert.ok(naive < plan.noiseMultiplier && total(naive) > 8, `a fresh plan (z ${naive}) would overspend`);
    // The server options carry it by default; simulate (resumeFrom null) plans fresh.
    assert.equal((await serverOptionsFromConfig(c, dim)).dp!.noiseMultiplier, plan.noiseMultiplier);
    assert.equal((await serverOptionsFromConfig(c, dim, null)).dp!.noiseMultiplier, naive);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with the budget spent, more rounds are refused naming dp.epsilon and what the ledger holds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-resume-spent-'));
  try {
    const plan = await planNoise(config(4, dir), dim);
    // A budget of exactly what four rounds cost: all of it is spent.
    const ev = createDdgEncoder({ dim, numClients: plan.numClients, l2Clip: 1, noiseMultiplier: plan.noiseMultiplier, bits: 32 }).privacyEvent(1);
    const budget = epsilonOfEvents([ev, ev, ev, ev], 1e-5);
    finished(dir, 4, plan.noiseMultiplier, plan.numClients, budget);
    await assert.rejects(planNoise(config(6, dir, budget), dim, dir), (e: unknown) => {
      assert.ok(e instanceof CliError);
      assert.match(e.message, new RegExp(`^dp\\.epsilon: the ledger .*ledger\\.json has spent epsilon ${budget.toFixed(4).replace('.', '\\.')} of ${String(budget).replace('.', '\\.')} in 4 round\\(s\\); 2 more round\\(s\\) do not fit`));
      assert.match(e.message, /lower server\.rounds to 4, or start a new federation in an empty server\.checkpointDir/);
      return true;
    });
    // The same rounds as before: nothing is left to run, nothing to plan for.
    assert.equal((await planNoise(config(4, dir, budget), dim, dir)).resumed, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Through the real command line: a checkpoint of a real (tiny) federation written by
// `fedmeta simulate --checkpoint`, continued by `fedmeta server` with the same config.


const fedmeta = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8' });

/** Everything of a tiny federation's config but the server's own keys. */
const tiny = { secagg: { mode: 'secagg' }, dp: { enabled: true, epsilon: 8 }, meta: { hidden: 16, localSteps: 1, batchSize: 8 }, data: { supportPerClass: 5, queryPerClass: 2, shards: 3 } };

/**
 * A federation of 3 that ran 2 rounds with DP (its checkpoint and ledger in DIR/ck), and a
 * roster of 3 for the coordinator. @returns the noise multiplier it ran with, as printed
 */
function ranTwoRounds(dir: string): string {
  writeFileSync(join(dir, 'sim.json'), JSON.stringify({ ...tiny, simulate: { clients: 3, drop: 'none', reference: false }, server: { rounds: 2, minClients: 3, federationId: 'resume' } }));
  const sim = fedmeta(dir, 'simulate', '--config', 'sim.json', '--checkpoint', 'ck', '--out', 'sim-model', '--json');
  assert.equal(sim.status, 0, sim.stderr);
  for (const n of ['a', 'b', 'c']) assert.equal(fedmeta(dir, 'keygen', '--name', n).status, 0);
  assert.equal(fedmeta(dir, 'keygen', '--roster', 'roster.json', '--add', 'a.pub.json', '--add', 'b.pub.json', '--add', 'c.pub.json').status, 0);
  const z = /noise multiplier (\d+\.\d{3})/.exec(sim.stdout + sim.stderr);
  assert.ok(z, sim.stderr);
  return z[1]!;
}

function serverConfig(dir: string, file: string, port: number, rounds: number, change: { meta?: object; dp?: object } = {}): void {
  writeFileSync(
    join(dir, file),
    JSON.stringify({
      ...tiny,
      meta: { ...tiny.meta, ...change.meta },
      dp: { ...tiny.dp, ...change.dp },
      server: { rounds, minClients: 3, federationId: 'resume', host: '127.0.0.1', port, insecure: true, roster: 'roster.json', checkpointDir: 'ck' },
      output: { model: 'model' },
    }),
  );
}

let fixtureRun: { dir: string; z: string } | undefined;
const fixture = () => {
  if (fixtureRun) return fixtureRun;
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-resume-cli-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  fixtureRun = { dir, z: ranTwoRounds(dir) };
  return fixtureRun;
};
const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('a resumed fedmeta server says so: the round it continues at, the epsilon spent and the noise multiplier re-planned for the rounds left', { timeout: 120_000 }, async () => {
  const { dir, z: before } = fixture();
  const spent = openLedger(join(dir, 'ck', 'ledger.json'), { readOnly: true });
  const eps = spent.spent();
  spent.close();
  serverConfig(dir, 'server.json', await freePort(), 4);
  const server = spawn(process.execPath, [bin, 'server', '--config', 'server.json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout.on('data', (d: Buffer) => (out += d.toString()));
  server.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const end = Date.now() + 60_000;
    while (!/^a round of 3 members/m.test(out) && server.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const banner = /noise multiplier (\d+\.\d+)\), tfjs/.exec(out);
    assert.ok(banner, out);
    assert.notEqual(banner[1], before, 'the rounds left run with another noise multiplier');
    const line = new RegExp(
      `^resumed from the checkpoint in .*ck at round 3 \\(2 of the 2 round\\(s\\) before it completed\\): epsilon ${esc(eps.toFixed(3))} of 8 spent; ` +
        `noise multiplier re-planned from ${esc(before)} to ${esc(banner[1]!)} for the 2 remaining round\\(s\\) \\(server\\.rounds 4\\), the smallest that keeps all rounds within dp\\.epsilon 8 after what is spent$`,
      'm',
    );
    assert.match(out, line);
    assert.ok(out.indexOf('resumed from') > out.indexOf('fedmeta server: ws://'), 'after the banner');
  } finally {
    server.kill('SIGKILL');
  }
});

test('a checkpoint of another configuration is refused naming the config keys and values, not the server\'s option paths', { timeout: 120_000 }, async () => {
  const { dir } = fixture();
  serverConfig(dir, 'server.json', await freePort(), 4, { meta: { hidden: 32 }, dp: { epsilon: 9 } });
  const r = fedmeta(dir, 'server', '--config', 'server.json');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^fedmeta server: ERR_CHECKPOINT_MISMATCH: the checkpoint in .*ck \(server\.checkpointDir\) belongs to a federation with another configuration: /);
  assert.match(r.stderr, /\bmeta\.hidden: 16 in the checkpoint, 32 in server\.json\b/);
  assert.match(r.stderr, /\bdp\.epsilon: 8 in the checkpoint, 9 in server\.json\b/);
  assert.doesNotMatch(r.stderr, /model\.config|epsilonBudget/, 'no option path of the server');
  // DP on in the checkpoint, off now: one line, the key the operator sets.
  serverConfig(dir, 'off.json', await freePort(), 4, { dp: { enabled: false } });
  const off = fedmeta(dir, 'server', '--config', 'off.json');
  assert.equal(off.status, 1, off.stderr);
  assert.match(off.stderr, /: dp\.enabled: true in the checkpoint, false in off\.json\. To continue it/);
});
