// `fedmeta dp plan` tells the truth about utility (noise-to-signal, a warning, --sweep),
// plans record-level DP-SGD (--unit record) and `dp account` reads a site's ledger.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { epsilonFor, epsilonOfEvents, noiseToSignal, openLedger, openSiteLedger, planNoiseMultiplier, planRecordLevelSettings, recordLevelRoundEvent } from '@fedmeta/dp';
import { recordLevelQuery } from '@fedmeta/server';
import type { RecordLevelDpSettings } from '@fedmeta/transport';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'fedmeta.js');

function fedmeta(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, 'dp', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(r: { status: number | null; stdout: string; stderr: string }): Record<string, any> {
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'exactly one JSON object');
  return JSON.parse(lines[0]!);
}

const THREE_SITES = ['--epsilon', '8', '--delta', '1e-5', '--rounds', '20', '--clients-per-round', '3', '--population', '3'];
const DIM = '50890'; // the 784-64-10 MLP of the example config

test('dp plan: client-level DP over 3 sites at epsilon 8 reports noise-to-signal >> 1 and warns, suggesting record-level DP', () => {
  const out = json(fedmeta('plan', ...THREE_SITES, '--dim', DIM, '--json'));
  const expected = noiseToSignal({ unit: 'client', noiseMultiplier: out.sigma, sites: 3, dim: 50890, rounds: 20 });
  assert.equal(out.utility.perRelease, expected.perRelease);
  assert.equal(out.utility.overRun, expected.overRun);
  assert.ok(out.utility.perRelease > 100 && out.utility.overRun > 10, JSON.stringify(out.utility));
  assert.equal(out.utility.level, 'dominated');
  assert.match(out.warning, /noise dominates/);
  assert.match(out.warning, /record-level DP-SGD/);
  const text = fedmeta('plan', ...THREE_SITES, '--dim', DIM, '--records', '1000', '--batch', '32', '--local-steps', '10', '--sites', '3');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^noise-to-signal \(client-level, 3 site update\(s\) summed per round, 50890 parameters\): >= 214 per round/m);
  assert.match(text.stdout, /^WARNING: client-level DP noise dominates/m);
  // the record-level alternative at the same epsilon, with the package's own plan
  const alt = planRecordLevelSettings({ mode: 'local', epsilon: 8, delta: 1e-5, l2Clip: 1, sampleRate: 32 / 1000, rounds: 20, localSteps: 10 });
  const m = /^record-level DP at the same epsilon \(local noise.*\): sigma ([0-9.]+); noise-to-signal >= ([0-9.]+) per step, >= ([0-9.]+) over the run \((\w+)\)$/m.exec(text.stdout);
  assert.ok(m, text.stdout);
  assert.equal(m[1], alt.sigma.toPrecision(3));
  assert.equal(m[4], noiseToSignal({ unit: 'record', mode: 'local', noiseMultiplier: alt.sigma, batchSize: 32, sites: 3, dim: 50890, steps: 200 }).level);
  assert.notEqual(m[4], 'dominated');
});

test('dp plan: no warning where the summed updates can carry the signal (1000 sites per round)', () => {
  const out = json(fedmeta('plan', '--epsilon', '8', '--delta', '1e-5', '--rounds', '20', '--clients-per-round', '1000', '--population', '1000', '--dim', DIM, '--json'));
  assert.equal(out.warning, null);
  assert.notEqual(out.utility.level, 'dominated');
  assert.ok(out.utility.overRun < 1);
  const text = fedmeta('plan', '--epsilon', '8', '--delta', '1e-5', '--rounds', '20', '--clients-per-round', '1000', '--population', '1000', '--dim', DIM);
  assert.doesNotMatch(text.stdout, /WARNING/);
});

test('dp plan without --dim: no ratio invented; the output says what to pass', () => {
  const out = json(fedmeta('plan', ...THREE_SITES, '--json'));
  assert.equal(out.utility, null);
  assert.equal(out.warning, null);
  const text = fedmeta('plan', ...THREE_SITES);
  assert.match(text.stdout, /noise-to-signal: pass --dim P/);
});

test('dp plan --unit record: sigma, steps and the round event from the runtime\'s planner; distributed discrete Gaussian shares and trust', () => {
  const out = json(fedmeta('plan', '--unit', 'record', '--epsilon', '4', '--delta', '1e-5', '--rounds', '30', '--local-steps', '5', '--records', '2000', '--batch', '50', '--dim', '10000', '--json'));
  const plan = planRecordLevelSettings({ mode: 'local', epsilon: 4, delta: 1e-5, l2Clip: 1, sampleRate: 0.025, rounds: 30, localSteps: 5 });
  assert.equal(out.sigma, plan.sigma);
  assert.equal(out.steps, 150);
  assert.equal(out.q, 0.025);
  assert.ok(epsilonFor({ q: 0.025, sigma: out.sigma, steps: 150, delta: 1e-5 }) <= 4);
  assert.deepEqual(out.roundEvent, { mechanism: 'gaussian', q: 0.025, sigma: plan.sigma, steps: 5 });
  assert.equal(out.utility.perRelease, noiseToSignal({ unit: 'record', mode: 'local', noiseMultiplier: plan.sigma, batchSize: 50, dim: 10000, steps: 150 }).perRelease);
  const distArgs = ['plan', '--unit', 'record', '--epsilon', '4', '--delta', '1e-5', '--rounds', '150', '--sample-rate', '0.025', '--mode', 'distributed', '--sites', '5', '--threshold', '4', '--dim', '1000'];
  const dist = json(fedmeta(...distArgs, '--json'));
  const dplan = planRecordLevelSettings({ mode: 'distributed', epsilon: 4, delta: 1e-5, l2Clip: 1, sampleRate: 0.025, rounds: 150, threshold: 4, dim: 1000 });
  assert.equal(dist.sigma, dplan.sigma);
  assert.ok(dist.sigma > plan.sigma, 'the discrete Gaussian event needs more noise than the Gaussian one at the same q and steps');
  assert.equal(dist.shareMultiplier, dplan.sigma / 2);
  assert.deepEqual(dist.encoding, { dim: 1000, bits: 32, scaleBits: 16 });
  assert.ok(dist.epsilonOwnShareOnly > 4);
  const text = fedmeta(...distArgs);
  assert.match(text.stdout, /^trust: this holds only if at least 4 sites in every sum add their share honestly/m);
  assert.match(text.stdout, /noise-to-signal: pass --records N/);
  const local = fedmeta('plan', '--unit', 'record', '--epsilon', '4', '--delta', '1e-5', '--rounds', '30', '--local-steps', '5', '--sample-rate', '0.025', '--mode', 'distributed', '--sites', '5', '--threshold', '4', '--dim', '1000');
  assert.equal(local.status, 2);
  assert.match(local.stderr, /localSteps must be 1 with distributed noise/);
  const noT = fedmeta('plan', '--unit', 'record', '--epsilon', '4', '--delta', '1e-5', '--rounds', '30', '--records', '2000', '--batch', '50', '--mode', 'distributed');
  assert.equal(noT.status, 2);
  assert.match(noT.stderr, /needs --threshold/);
  const noDim = fedmeta('plan', '--unit', 'record', '--epsilon', '4', '--delta', '1e-5', '--rounds', '30', '--sample-rate', '0.1', '--mode', 'distributed', '--threshold', '3');
  assert.equal(noDim.status, 2);
  assert.match(noDim.stderr, /needs --dim/);
  const pld = fedmeta('plan', '--unit', 'record', '--epsilon', '4', '--delta', '1e-5', '--rounds', '30', '--sample-rate', '0.1', '--accountant', 'pld');
  assert.equal(pld.status, 2);
  assert.match(pld.stderr, /ledgers account with rdp/);
  const both = fedmeta('plan', '--unit', 'record', '--epsilon', '4', '--delta', '1e-5', '--rounds', '30', '--sample-rate', '0.1', '--records', '100', '--batch', '10');
  assert.equal(both.status, 2);
  const unreachable = fedmeta('plan', '--unit', 'record', '--epsilon', '0.0001', '--delta', '1e-9', '--rounds', '1000', '--records', '10', '--batch', '10');
  assert.equal(unreachable.status, 3);
  assert.match(unreachable.stderr, /unreachable/);
  assert.equal(fedmeta('plan', '--unit', 'record', '--epsilon', '4', '--delta', '1e-5', '--rounds', '3', '--records', '10', '--batch', '11').status, 2);
  assert.equal(fedmeta('plan', '--unit', 'patient', '--epsilon', '4', '--delta', '1e-5', '--rounds', '3').status, 2);
});

test('dp plan --sweep: one row per epsilon with both units; each cell is the package\'s plan and ratio', () => {
  const args = ['plan', '--sweep', '--delta', '1e-5', '--rounds', '20', '--clients-per-round', '3', '--population', '3', '--records', '1000', '--batch', '32', '--local-steps', '10', '--sites', '3', '--dim', DIM];
  const out = json(fedmeta(...args, '--epsilons', '1,4,16', '--epsilon', '8', '--json'));
  assert.deepEqual(out.sweep.map((r: { epsilon: number }) => r.epsilon), [1, 4, 8, 16]);
  let lastClient = Infinity;
  let lastRecord = Infinity;
  for (const row of out.sweep) {
    const z = planNoiseMultiplier({ epsilon: row.epsilon, delta: 1e-5, q: 1, steps: 20 }).sigma;
    assert.equal(row.client.noiseMultiplier, z);
    assert.equal(row.client.utility.perRelease, noiseToSignal({ unit: 'client', noiseMultiplier: z, sites: 3, dim: 50890, rounds: 20 }).perRelease);
    assert.equal(row.client.utility.level, 'dominated');
    const rp = planRecordLevelSettings({ mode: 'local', epsilon: row.epsilon, delta: 1e-5, l2Clip: 1, sampleRate: 32 / 1000, rounds: 20, localSteps: 10 });
    assert.equal(row.record.noiseMultiplier, rp.sigma);
    assert.equal(row.record.utility.overRun, noiseToSignal({ unit: 'record', mode: 'local', noiseMultiplier: rp.sigma, batchSize: 32, sites: 3, dim: 50890, steps: 200 }).overRun);
    assert.ok(row.client.noiseMultiplier < lastClient && row.record.noiseMultiplier < lastRecord, 'more epsilon, less noise');
    lastClient = row.client.noiseMultiplier;
    lastRecord = row.record.noiseMultiplier;
  }
  const text = fedmeta(...args);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^\| epsilon \| client z \| client per round \| client run \| record sigma \| record per step \| record run \|$/m);
  const rows = text.stdout.split('\n').filter((l) => /^\| [0-9.]+ \|/.test(l));
  assert.equal(rows.length, 8, 'the default epsilons 0.5..64');
  // client-level only, with an unreachable epsilon marked as such
  const only = json(fedmeta('plan', '--sweep', '--delta', '1e-9', '--rounds', '10000', '--clients-per-round', '10', '--population', '10', '--dim', '100', '--epsilons', '0.0001,1', '--json'));
  assert.equal(only.sweep[0].client.unreachable, true);
  assert.equal(only.sweep[0].record, undefined);
  assert.equal(typeof only.sweep[1].client.noiseMultiplier, 'number');
  const noDim = fedmeta('plan', '--sweep', '--delta', '1e-5', '--rounds', '20', '--clients-per-round', '3', '--population', '3');
  assert.equal(noDim.status, 2);
  assert.match(noDim.stderr, /--dim/);
  assert.equal(fedmeta('plan', '--sweep', '--delta', '1e-5', '--rounds', '20', '--dim', '100').status, 2);
});

test('dp account prints the epsilon a site\'s record-level ledger holds, charged as the client charges a distributed round (and still reads a client-level one)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-cli-site-ledger-'));
  const file = join(dir, 'site.jsonl');
  const rounds = 12;
  const plan = planRecordLevelSettings({ mode: 'distributed', epsilon: 8, delta: 1e-5, l2Clip: 1, sampleRate: 0.05, rounds, threshold: 4, dim: 62 });
  // The announced setting and the charge of packages/client/src/record-dp.ts (SiteRecordDp.accept / charge).
  const s: RecordLevelDpSettings = { unit: 'record', mode: 'distributed', epsilonBudget: 8, delta: 1e-5, noiseMultiplier: plan.sigma, l2Clip: 1, sampleRate: 0.05, localSteps: 1, threshold: 4, expectedBatchSize: 10, encoding: { dim: 62, bits: 32, scaleBits: 16 } };
  const ledger = openSiteLedger(file, { site: 'hospital-a', budget: 8, delta: s.delta, recordLevel: { mode: s.mode, threshold: s.threshold } });
  const event = recordLevelRoundEvent(recordLevelQuery(s, rounds), s.noiseMultiplier);
  for (let r = 1; r <= rounds; r++) ledger.charge({ ...event, round: r });
  const held = ledger.spent();
  ledger.close();
  assert.equal(held, plan.epsilon);
  const out = json(fedmeta('account', '--ledger', file, '--json'));
  assert.equal(out.unit, 'record');
  assert.equal(out.site, 'hospital-a');
  assert.equal(out.events, 12);
  assert.equal(out.steps, 12);
  assert.equal(out.epsilon, held);
  // own share only: one discrete Gaussian share per round (numClients 1), as the planner reports
  assert.equal(out.epsilonOwnShareOnly, epsilonOfEvents(Array(rounds).fill({ ...event, numClients: 1 }), 1e-5, 'rdp'));
  assert.equal(out.epsilonOwnShareOnly, plan.epsilonOwnShareOnly);
  assert.ok(out.epsilonOwnShareOnly > 2 * held);
  assert.deepEqual(out.lastCharge, { round: 12, mechanism: 'ddg', q: 0.05, localSigma: event.mechanism === 'ddg' ? event.localSigma : NaN, l2Sensitivity: 2 ** 16 + Math.sqrt(62), numClients: 4, dim: 62 });
  const text = fedmeta('account', '--ledger', file);
  const line = /^site hospital-a: record-level DP-SGD \(distributed noise, threshold 4\): epsilon spent ([0-9.]+) at delta 0\.00001 \(rdp\) over 12 steps in 12 charge\(s\)$/m.exec(text.stdout);
  assert.ok(line, text.stdout);
  assert.equal(Number(line[1]), held);
  assert.match(text.stdout, /^last charge: round 12, one discrete Gaussian step at q=0\.05: 4 shares/m);
  assert.match(text.stdout, /^if no other site's noise share were honest/m);
  assert.match(text.stdout, /^budget: 8; remaining: /m);
  const server = join(dir, 'server.jsonl');
  const sl = openLedger(server, { budget: 8, delta: 1e-5 });
  sl.charge({ mechanism: 'gaussian', q: 1, sigma: 3, round: 1 });
  sl.close();
  const c = json(fedmeta('account', '--ledger', server, '--json'));
  assert.equal(c.unit, 'client');
  assert.equal(c.site, undefined);
  assert.equal(c.steps, 1);
  assert.match(fedmeta('account', '--ledger', server).stdout, /^epsilon spent: [0-9.]+ at delta 0\.00001 \(rdp, client-level, 1 events\)$/m);
});
