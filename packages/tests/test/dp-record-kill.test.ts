/**
 * Record-level DP across a crashed site: a coordinator and 3 sites as real `fedmeta`
 * processes (plain ws, classic SecAgg, DP-SGD with local noise at every site on
 * breast_cancer.csv of Debian's python3-sklearn), one site SIGKILLed in the middle of the
 * run and restarted with the same config. Every site charges its own fsync'd ledger
 * (client.dp.ledger) before it trains a round, so a crash may over-count but never
 * under-count what its records released.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { epsilonOfEvents, openLedger, planRecordLevelSettings, recordLevelRoundEvent, type LedgerRecord, type PrivacyEvent } from '@fedmeta/dp';
import { BREAST_CANCER_CSV, breastCancerRows, clientYamlHead, freePort, siteIdentities, serverYamlHead, startFedmeta, until, writeCsvColumns, type RunningCommand } from '../src/cli-process.js';

const skip = existsSync(BREAST_CANCER_CSV) ? false : `${BREAST_CANCER_CSV} not found (Debian python3-sklearn; .ci/run installs it)`;

const ROUNDS = 8;
const LOCAL_STEPS = 2;
const EPSILON = 4;
const DELTA = 1e-5;
const SAMPLE_RATE = 0.1;
/** meta.model linear on 30 features and 2 classes: W (30 x 2) and b (2). */
const PARAMS = 30 * 2 + 2;

interface LogLine {
  event: string;
  round?: number;
  [k: string]: unknown;
}

/** The charges in a site's ledger (read-only; the file may be appended to meanwhile). */
function charges(file: string): LedgerRecord[] {
  if (!existsSync(file)) return [];
  const l = openLedger(file, { readOnly: true });
  try {
    return [...l.events];
  } finally {
    l.close();
  }
}

const eventOf = ({ round: _r, seq: _s, epsilonAfter: _e, ...ev }: LedgerRecord): PrivacyEvent => ev as PrivacyEvent;

test("a site's record-level ledger never under-counts across a SIGKILLed and restarted `fedmeta client` process", { timeout: 180_000, skip }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'fedmeta-dp-record-kill-'));
  const running: RunningCommand[] = [];
  try {
    const { names, data } = breastCancerRows();
    const sites = ['site-a', 'site-b', 'site-c'];
    const coord = join(root, 'coordinator');
    mkdirSync(coord);
    // A held-out reference file for the coordinator (the federation's schema), one slice of the rest per site.
    writeCsvColumns(join(coord, 'reference.csv'), names, data.filter((_, i) => i % 5 === 0));
    const rest = data.filter((_, i) => i % 5 !== 0);
    siteIdentities(root, coord, sites);
    sites.forEach((name, k) => {
      writeCsvColumns(join(root, name, 'data.csv'), names, rest.filter((_, i) => i % sites.length === k));
    });
    const port = await freePort();
    const dataLine = "data: { source: csv, path: reference.csv, labelColumn: diagnosis, classNames: 'malignant,benign' }";
    writeFileSync(
      join(coord, 'server.yaml'),
      [
        ...serverYamlHead(port, 'dp-record-kill'),
        `  rounds: ${ROUNDS}`,
        '  minClients: 3',
        '  evaluation: { report: off }',
        // Threshold 2 of 3: a site that dies after its masked input left is still in the
        // released sum (the other two reveal its shares), which is the crash that would
        // under-count a ledger charged after the send. Every sum still needs 3 inputs
        // (server.minAggregate defaults to 3 with SecAgg), so a completed round's sum holds
        // the input of every member of its cohort.
        'secagg: { mode: secagg, threshold: 2 }',
        `dp: { enabled: true, unit: record, mode: local, epsilon: ${EPSILON}, delta: ${DELTA}, l2Clip: 1, sampleRate: ${SAMPLE_RATE} }`,
        `meta: { algorithm: fedavg, model: linear, localSteps: ${LOCAL_STEPS}, batchSize: 16, lr: 0.5 }`,
        dataLine,
        // JSON logs on stderr: the test reacts to the coordinator's round phases as they happen.
        "output: { model: model, log: '-' }",
        '',
      ].join('\n'),
    );
    for (const name of sites) {
      writeFileSync(
        join(root, name, 'client.yaml'),
        [
          ...clientYamlHead(name, port, 'dp-record-kill'),
          // The restarted process finds its earlier charges, the charge of the round it died in
          // among them, plus the rounds still to come: its own budget leaves room for that
          // over-count (the default, the announced epsilon, would refuse the restart).
          `  dp: { ledger: ledger.jsonl, budget: ${2 * EPSILON} }`,
          '  reconnect: { maxAttempts: 5 }',
          "data: { source: csv, path: data.csv, labelColumn: diagnosis, classNames: 'malignant,benign' }",
          'meta: { model: linear }',
          '',
        ].join('\n'),
      );
    }
    const ledgers = sites.map((n) => join(root, n, 'ledger.jsonl'));

    const server = startFedmeta(coord, 'server', '--config', 'server.yaml');
    running.push(server);
    const log: LogLine[] = [];
    const onLine: ((l: LogLine) => void)[] = [];
    let partial = '';
    server.child.stderr!.on('data', (d: Buffer) => {
      const parts = (partial + d.toString()).split('\n');
      partial = parts.pop()!;
      for (const raw of parts) {
        if (!raw.startsWith('{')) continue;
        let l: LogLine;
        try {
          l = JSON.parse(raw) as LogLine;
        } catch {
          continue;
        }
        log.push(l);
        for (const f of onLine) f(l);
      }
    });
    await until('the server banner', () => /fedmeta server: ws:\/\//.test(server.out()), 30_000);
    const clients = sites.map((n) => startFedmeta(join(root, n), 'client', '--config', 'client.yaml'));
    running.push(...clients);

    // The victim, site-b: once its ledger holds 2 charges, SIGKILL it at the next moment the
    // coordinator has every masked input of a round (its 'masked-input' phase closes), i.e.
    // after this round's input has left site-b and before the round's result reaches it.
    const victim = 1;
    await until('2 charges in site-b\'s ledger', () => charges(ledgers[victim]!).length >= 2, 90_000);
    const armedAt = charges(ledgers[victim]!).length;
    let killedInRound = 0;
    let ledgerAtKill: number[] = [];
    onLine.push((l) => {
      if (killedInRound !== 0 || l.event !== 'round.phase' || l['from'] !== 'masked-input' || (l.round ?? 0) < armedAt) return;
      clients[victim]!.child.kill('SIGKILL');
      killedInRound = l.round!;
    });
    assert.equal(await clients[victim]!.exit, null, 'site-b was killed by the signal');
    assert.ok(killedInRound > 0, `site-b was killed by the test: ${clients[victim]!.err()}`);
    // The dead process's ledger: everything it charged before its input left.
    ledgerAtKill = charges(ledgers[victim]!).map((r) => r.round);
    const restarted = startFedmeta(join(root, sites[victim]!), 'client', '--config', 'client.yaml');
    running.push(restarted);

    assert.equal(await restarted.exit, 0, restarted.err());
    assert.match(restarted.out(), /fedmeta client 'site-b': federation-done/);
    assert.deepEqual(await Promise.all([clients[0]!.exit, clients[2]!.exit]), [0, 0], clients.map((c) => c.err()).join('\n'));
    assert.equal(await server.exit, 0, server.err());

    // The coordinator's rounds: who was in each, which completed (released a sum).
    const started = new Map(log.filter((l) => l.event === 'round.started').map((l) => [l.round!, l['cohort'] as string[]]));
    const finished = log.filter((l) => l.event === 'round.finished');
    assert.deepEqual(finished.map((l) => l.round), Array.from({ length: ROUNDS }, (_, i) => i + 1));
    const completed = finished.filter((l) => l['status'] === 'completed');
    for (const l of completed) {
      assert.equal((started.get(l.round!) ?? []).length, 3, `round ${l.round}: a cohort of 3`);
      assert.equal(l['survivors'], 3, `round ${l.round}: a released sum of 3 inputs`);
    }
    const released = (site: string) => completed.filter((l) => started.get(l.round!)!.includes(site)).map((l) => l.round!);
    const tookPart = (site: string) => [...started].filter(([, cohort]) => cohort.includes(site)).map(([round]) => round);

    // The round site-b died in: its masked input had reached the coordinator, and the other two
    // revealed the shares, so its records are in that round's released sum...
    assert.ok(released('site-b').includes(killedInRound), `round ${killedInRound}, in which site-b was killed after its input left, was released with it`);
    // ...and the dead process had charged it. A client that charged after sending (e.g. when
    // the round's result arrives) would have died with its input released and this round
    // missing from its ledger; one that charges before training cannot: the charge is
    // fsync'd before anything derived from the records exists.
    assert.ok(ledgerAtKill.includes(killedInRound), `site-b's ledger when it was killed (rounds ${ledgerAtKill.join(', ')}) holds round ${killedInRound}, whose sum included its input`);

    const plan = planRecordLevelSettings({ mode: 'local', epsilon: EPSILON, delta: DELTA, l2Clip: 1, sampleRate: SAMPLE_RATE, rounds: ROUNDS, localSteps: LOCAL_STEPS, threshold: 1, dim: PARAMS });
    const roundEvent = recordLevelRoundEvent({ mode: 'local', epsilon: EPSILON, delta: DELTA, l2Clip: 1, sampleRate: SAMPLE_RATE, rounds: ROUNDS, localSteps: LOCAL_STEPS, threshold: 1, dim: PARAMS }, plan.sigma);

    // site-b over both processes: every released round with its input is charged, and the
    // ledger's epsilon is at least that of the released rounds' events.
    const b = openLedger(ledgers[victim]!, { readOnly: true });
    try {
      const chargedRounds = b.events.map((r) => r.round);
      for (const r of b.events) assert.deepEqual(eventOf(r), roundEvent, `site-b round ${r.round}: the announced DP-SGD event`);
      const missing = released('site-b').filter((r) => !chargedRounds.includes(r));
      assert.deepEqual(missing, [], `site-b's ledger (rounds ${chargedRounds.join(', ')}) lacks released rounds`);
      const releasedEpsilon = epsilonOfEvents(released('site-b').map(() => roundEvent), DELTA);
      assert.ok(b.summary().epsilon >= releasedEpsilon, `site-b's ledger epsilon ${b.summary().epsilon} >= ${releasedEpsilon} of its ${released('site-b').length} released rounds`);
      assert.equal(b.summary().tornRecords, 0);
    } finally {
      b.close();
    }

    // The other two: exactly one charge per round they took part in.
    for (const k of [0, 2]) {
      const rounds = charges(ledgers[k]!).map((r) => r.round);
      assert.deepEqual(rounds, tookPart(sites[k]!), `${sites[k]}: one charge per round in its cohort`);
      for (const r of charges(ledgers[k]!)) assert.deepEqual(eventOf(r), roundEvent);
    }
  } finally {
    for (const r of running) r.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});
