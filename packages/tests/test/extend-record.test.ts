/**
 * Continuing a finished record-level federation: the coordinator and 3 sites as real
 * `fedmeta` processes (plain ws, classic SecAgg, DP-SGD with distributed noise at every site
 * on breast_cancer.csv of Debian's python3-sklearn), each site with its own fsync'd ledger.
 * The federation runs its rounds and finishes; the operator raises server.rounds by 2 and
 * starts the coordinator again on the same checkpoint. It plans the noise of the 2 rounds
 * left from what the released rounds spent, the sites (whose ledgers hold those rounds)
 * accept it, and every ledger ends within dp.epsilon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSiteLedger, planRecordLevelSettings, type LedgerRecord } from '@fedmeta/dp';
import { BREAST_CANCER_CSV, breastCancerRows, fedmetaSync, clientYamlHead, freePort, siteIdentities, serverYamlHead, startFedmeta, until, writeCsvColumns, type RunningCommand } from '../src/cli-process.js';

const skip = existsSync(BREAST_CANCER_CSV) ? false : `${BREAST_CANCER_CSV} not found (Debian python3-sklearn; .ci/run installs it)`;

const FIRST = 2;
const RAISED = FIRST + 2;
const EPSILON = 4;
const DELTA = 1e-5;
const SAMPLE_RATE = 0.1;
/** meta.model linear on 30 features and 2 classes: W (30 x 2) and b (2). */
const PARAMS = 30 * 2 + 2;
const SITES = ['site-a', 'site-b', 'site-c'];

interface LogLine {
  event: string;
  round?: number;
  [k: string]: unknown;
}

function serverYaml(port: number, rounds: number, dp: { epsilon?: number; noiseMultiplier?: number } = {}): string {
  return [
    ...serverYamlHead(port, 'extend-record'),
    `  rounds: ${rounds}`,
    '  minClients: 3',
    '  evaluation: { report: off }',
    'secagg: { mode: secagg }',
    // Without dp.noiseMultiplier the coordinator plans it (config/options.ts recordDpOptions).
    `dp: { enabled: true, unit: record, mode: distributed, epsilon: ${dp.epsilon ?? EPSILON}, delta: ${DELTA}, l2Clip: 1, sampleRate: ${SAMPLE_RATE}, expectedBatchSize: 40${dp.noiseMultiplier !== undefined ? `, noiseMultiplier: ${dp.noiseMultiplier}` : ''} }`,
    'meta: { algorithm: fedavg, model: linear, localSteps: 1, batchSize: 16, lr: 0.5 }',
    "data: { source: csv, path: reference.csv, labelColumn: diagnosis, classNames: 'malignant,benign' }",
    // JSON logs on stderr.
    "output: { model: model, log: '-' }",
    '',
  ].join('\n');
}

/** The JSON log lines a coordinator printed on stderr. */
function logLines(err: string): LogLine[] {
  const out: LogLine[] = [];
  for (const raw of err.split('\n')) {
    if (!raw.startsWith('{')) continue;
    try {
      out.push(JSON.parse(raw) as LogLine);
    } catch {
      // a console line that merely starts with a brace
    }
  }
  return out;
}

function ledgerOf(file: string, site: string): { events: LedgerRecord[]; epsilon: number } {
  const l = openSiteLedger(file, { site, readOnly: true });
  try {
    return { events: [...l.events], epsilon: l.spent() };
  } finally {
    l.close();
  }
}

test('raising server.rounds of a finished record-level (distributed) federation: the coordinator plans a larger noise multiplier for the 2 rounds left, the sites accept, and every site ledger ends within dp.epsilon; a configured noise multiplier too small, or a spent budget, stops the coordinator naming the fields', { timeout: 400_000, skip }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'fedmeta-extend-record-'));
  const running: RunningCommand[] = [];
  try {
    const { names, data } = breastCancerRows();
    const coord = join(root, 'coordinator');
    mkdirSync(coord);
    writeCsvColumns(join(coord, 'reference.csv'), names, data.filter((_, i) => i % 5 === 0));
    const rest = data.filter((_, i) => i % 5 !== 0);
    siteIdentities(root, coord, SITES);
    SITES.forEach((name, k) => writeCsvColumns(join(root, name, 'data.csv'), names, rest.filter((_, i) => i % SITES.length === k)));
    const port = await freePort();
    for (const name of SITES) {
      writeFileSync(
        join(root, name, 'client.yaml'),
        [
          ...clientYamlHead(name, port, 'extend-record'),
          // The site's budget is the announced epsilon (the default).
          '  dp: { ledger: ledger.jsonl }',
          '  reconnect: { maxAttempts: 3 }',
          "data: { source: csv, path: data.csv, labelColumn: diagnosis, classNames: 'malignant,benign' }",
          'meta: { model: linear }',
          '',
        ].join('\n'),
      );
    }
    const ledgers = SITES.map((n) => join(root, n, 'ledger.jsonl'));

    /** One run of the coordinator and the 3 sites to the end; the coordinator's log lines. */
    let coordinatorConsole = '';
    const run = async (rounds: number): Promise<LogLine[]> => {
      writeFileSync(join(coord, 'server.yaml'), serverYaml(port, rounds));
      const server = startFedmeta(coord, 'server', '--config', 'server.yaml');
      running.push(server);
      await until('the server banner', () => /fedmeta server: ws:\/\//.test(server.out()) || server.child.exitCode !== null, 60_000);
      assert.match(server.out(), /fedmeta server: ws:\/\//, `the coordinator started: ${server.err()}`);
      const clients = SITES.map((n) => startFedmeta(join(root, n), 'client', '--config', 'client.yaml'));
      running.push(...clients);
      const exits = await Promise.all(clients.map((c) => c.exit));
      for (const [k, c] of clients.entries()) {
        assert.equal(exits[k], 0, `${SITES[k]} (server.rounds ${rounds}) exited ${exits[k]}: ${c.err()}`);
        assert.match(c.out(), new RegExp(`fedmeta client '${SITES[k]}': federation-done`));
      }
      assert.equal(await server.exit, 0, server.err());
      coordinatorConsole = server.out();
      return logLines(server.err());
    };

    // The federation as first configured: FIRST rounds at the FIRST-round plan.
    const first = await run(FIRST);
    assert.match(coordinatorConsole, /^before round 1 the sites standardise their features together/m);
    const finished1 = first.filter((l) => l.event === 'round.finished');
    assert.deepEqual(finished1.map((l) => [l.round, l['status']]), Array.from({ length: FIRST }, (_, i) => [i + 1, 'completed']));
    const before = ledgers.map((f, k) => ledgerOf(f, SITES[k]!));
    for (const l of before) assert.equal(l.events.length, FIRST);

    // The operator raises server.rounds by 2 and starts the coordinator again.
    const second = await run(RAISED);
    // The statistics round's result comes back with the checkpoint; the console says so.
    assert.doesNotMatch(coordinatorConsole, /before round 1 the sites standardise/);
    assert.match(coordinatorConsole, /^the sites' shared feature standardisation \(from the statistics round before round 1\) comes back from the checkpoint; that round does not run again$/m);
    const resumed = second.find((l) => l.event === 'checkpoint.resumed');
    assert.ok(resumed, 'the coordinator continued its checkpoint');
    assert.equal(resumed['nextRound'], FIRST + 1);
    const zBefore = resumed['noiseMultiplierBefore'] as number;
    const zNow = resumed['noiseMultiplier'] as number;
    const threshold = (second.find((l) => l.event === 'round.started')?.['threshold'] as number | undefined) ?? 3;
    const setting = { mode: 'distributed' as const, epsilon: EPSILON, delta: DELTA, l2Clip: 1, sampleRate: SAMPLE_RATE, localSteps: 1, threshold, dim: PARAMS };
    assert.equal(zBefore, planRecordLevelSettings({ ...setting, rounds: FIRST }).sigma, 'the first run used the plan of its rounds');
    const naive = planRecordLevelSettings({ ...setting, rounds: RAISED }).sigma;
    assert.ok(zNow > naive && naive > zBefore, `the 2 rounds left get more noise (${zNow}) than a fresh ${RAISED}-round plan (${naive}), which gets more than the first run (${zBefore})`);
    const finished2 = second.filter((l) => l.event === 'round.finished');
    assert.deepEqual(finished2.map((l) => [l.round, l['status']]), [[FIRST + 1, 'completed'], [FIRST + 2, 'completed']], 'only the 2 extra rounds ran, and both completed');

    // Every site's ledger: the first rounds as before, the 2 extra at the larger noise, within dp.epsilon.
    const reported = finished2.at(-1)!['epsilon'] as number;
    for (const [k, file] of ledgers.entries()) {
      const l = ledgerOf(file, SITES[k]!);
      assert.deepEqual(l.events.map((e) => e.round), Array.from({ length: RAISED }, (_, i) => i + 1), `${SITES[k]}: one charge per round`);
      assert.deepEqual(l.events.slice(0, FIRST), before[k]!.events, `${SITES[k]}: the first rounds' charges are unchanged`);
      const [a, b] = [l.events[0]!, l.events[FIRST]!];
      assert.ok(a.mechanism === 'ddg' && b.mechanism === 'ddg' && b.localSigma > a.localSigma, `${SITES[k]}: the extra rounds are charged with their own, larger noise`);
      assert.ok(l.epsilon <= EPSILON, `${SITES[k]}: epsilon ${l.epsilon} <= dp.epsilon ${EPSILON}`);
      assert.ok(Math.abs(l.epsilon - reported) <= 1e-6, `${SITES[k]}: the ledger holds ${l.epsilon}, the coordinator reports ${reported}`);
    }
    const status = JSON.parse(fedmetaSync(coord, 'status', '--checkpoint', join(coord, 'checkpoint'), '--json')) as { recordDp?: { epsilonPerSite: number; epsilonBudget: number } };
    assert.equal(status.recordDp?.epsilonBudget, EPSILON);
    assert.ok(Math.abs(status.recordDp!.epsilonPerSite - ledgerOf(ledgers[0]!, SITES[0]!).epsilon) <= 1e-6, `fedmeta status says ${status.recordDp?.epsilonPerSite} per site`);

    // A configured noise multiplier too small for 2 more rounds after what was released, and a
    // budget the released rounds already spend: `fedmeta server` refuses to start, naming the fields.
    const after = ledgers.map((f, k) => ledgerOf(f, SITES[k]!).events);
    const refused = async (rounds: number, dp: { epsilon?: number; noiseMultiplier?: number }): Promise<string> => {
      writeFileSync(join(coord, 'server.yaml'), serverYaml(port, rounds, dp));
      const server = startFedmeta(coord, 'server', '--config', 'server.yaml');
      running.push(server);
      assert.notEqual(await server.exit, 0, `the coordinator refused to start: ${server.out()}`);
      return server.err();
    };
    const tooLittle = await refused(RAISED + 2, { noiseMultiplier: zBefore });
    assert.match(tooLittle, /dp\.noiseMultiplier: [\d.]+ for the 2 remaining round\(s\) \(server\.rounds 6\) brings epsilon to [\d.]+ per site .*above dp\.epsilon 4/);
    const spent = await refused(RAISED + 1, { epsilon: 2 });
    assert.match(spent, /dp\.epsilon: the 4 record-level round\(s\) released in .*spend epsilon [\d.]+ of 2 per site; 1 more round\(s\) \(server\.rounds 5\) do not fit within dp\.epsilon 2 .*privacy budget is spent \(lower server\.rounds to 4/);
    assert.deepEqual(ledgers.map((f, k) => ledgerOf(f, SITES[k]!).events), after, 'no site charged anything more');
  } finally {
    for (const r of running) r.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});
