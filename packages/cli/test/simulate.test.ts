// End to end, as a user runs it: `fedmeta simulate` in a child process - the real server
// and 5 real clients over loopback WebSockets, SecAgg+, distributed DP, real training on
// non-IID MNIST, one client crashing mid-round - then the JSON summary, the JSON log and
// the exported tfjs model are checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SimulationReport } from '../src/ui/summary.js';
import { bin, runFedmeta } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmeta-simulate-'));

const run = runFedmeta;

test('fedmeta simulate: 5 clients, SecAgg+, DP, a crash in round 2; the model is better than the initial one and epsilon is spent', async () => {
  const out = join(dir, 'model');
  const log = join(dir, 'log.jsonl');
  const r = await run(['simulate', '--clients', '5', '--rounds', '3', '--secagg', 'secagg+', '--epsilon', '1000', '--drop', '2:share-keys', '--out', out, '--log', log, '--json']);
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(r.out) as SimulationReport;
  assert.equal(report.secagg, 'secagg+');
  assert.equal(report.roundsCompleted, 3);
  assert.equal(report.endReason, 'completed');
  // The crash: client-0 closes its socket after sending its shares in round 2; the round
  // still completes with the 4 others, whose masks the server unmasks.
  const round2 = report.rounds.find((x) => x.round === 2)!;
  assert.equal(round2.status, 'completed');
  assert.equal(round2.dropped, 1);
  assert.equal(round2.survivors, 4);
  // It reconnects and contributes again in round 3.
  assert.equal(report.rounds.find((x) => x.round === 3)!.survivors, 5);
  // Learning happened through masking and noise. The noise comes from the OS random
  // generator, so how much varies between runs: only better than the initial model (14.6%)
  // is asserted here, a federation that drops or garbles the sum stays at or below it. At
  // epsilon 1000 (noise multiplier 0.055) 6 runs ended at 31.5-37.9%; at epsilon 200, 20 runs
  // at 23.5-34.3%, and an earlier "+5 points" bound failed now and then. How much a
  // federation learns is asserted without DP, where a run is deterministic
  // (simulate-reference.test.ts).
  assert.ok(report.final.globalAccuracy! > report.initial.globalAccuracy!, `global ${report.initial.globalAccuracy} -> ${report.final.globalAccuracy}`);
  assert.ok(report.final.noAdaptationAccuracy > report.initial.noAdaptationAccuracy, 'the global model got better on the clients\' own query sets');
  // Personalised accuracy per round, from the model the server checkpointed after it.
  assert.ok(report.rounds.every((x) => typeof x.personalisedAccuracy === 'number' && x.personalisedAccuracy > 0.5), JSON.stringify(report.rounds));
  assert.equal(report.rounds.at(-1)!.personalisedAccuracy, report.final.personalisedAccuracy);
  // Privacy was spent, within budget, and rounds show it growing.
  assert.ok(report.dp && report.dp.epsilonSpent > 0 && report.dp.epsilonSpent <= report.dp.epsilonBudget, JSON.stringify(report.dp));
  const eps = report.rounds.map((x) => x.epsilon!);
  assert.ok(eps.every((e, i) => i === 0 || e > eps[i - 1]!), `epsilon per round ${eps}`);
  assert.ok(report.bytesUp > 0 && report.bytesDown > 0);
  // The progress lines go to stderr with --json; not a TTY here: a line when a round ends,
  // none per phase (the crash round too).
  for (const round of [1, 2, 3]) assert.match(r.err, new RegExp(`^round ${round}/3 \\[#+\\] done`, 'm'));
  assert.doesNotMatch(r.err, /\] (training|share-keys|masked-input|unmasking) /);
  // Structured logs: one JSON object per line, server and client events.
  const events = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; component: string });
  assert.ok(events.some((e) => e.component === 'server' && e.event === 'round.finished'));
  assert.ok(events.some((e) => e.component === 'client-0'));
  // The model in tfjs layers format: topology plus one weights file of every parameter.
  const model = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
  assert.equal(model.format, 'layers-model');
  assert.deepEqual(model.weightsManifest[0].paths, ['weights.bin']);
  assert.equal(statSync(join(out, 'weights.bin')).size, 4 * report.parameters);
});

test('fedmeta simulate rejects bad flags before doing any work', () => {
  const bad = spawnSync(process.execPath, [bin, 'simulate', '--secagg', 'secag+'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /secagg\.mode: must be one of .*did you mean 'secagg\+'\?/);
  const drops = spawnSync(process.execPath, [bin, 'simulate', '--drop', '2:lunch'], { encoding: 'utf8' });
  assert.equal(drops.status, 2);
  assert.match(drops.stderr, /simulate\.drop: must be "none" or ROUND:PHASE/);
  const clients = spawnSync(process.execPath, [bin, 'simulate', '--clients', 'many'], { encoding: 'utf8' });
  assert.equal(clients.status, 2);
  assert.match(clients.stderr, /--clients: must be an integer 2-1000 \(got "many"\)/);
});

test('fedmeta simulate --label-codes local: clients code their own labels, so only personalised accuracy is reported', async () => {
  const r = await run(['simulate', '--clients', '4', '--rounds', '2', '--algorithm', 'protonets', '--label-codes', 'local', '--dp', 'off', '--drop', 'none', '--out', join(dir, 'local-model'), '--json']);
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(r.out) as SimulationReport;
  assert.equal(report.labelCodes, 'local');
  assert.equal(report.roundsCompleted, 2);
  assert.match(r.err, /site-local label codes, so no global test accuracy/);
  // A shared test set's labels mean nothing to clients that disagree on them: no score at all.
  assert.equal(report.initial.globalAccuracy, undefined);
  assert.equal(report.final.globalAccuracy, undefined);
  assert.ok(report.rounds.every((x) => x.globalAccuracy === undefined), JSON.stringify(report.rounds));
  // Prototypes of each client's own classes do not care how the client names them.
  assert.ok(report.final.personalisedAccuracy > 0.6, `personalised ${report.final.personalisedAccuracy}`);
  const bad = spawnSync(process.execPath, [bin, 'simulate', '--label-codes', 'locale'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /data\.labelCodes: must be one of .*did you mean 'local'\?/);
});
