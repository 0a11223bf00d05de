// The numbers the protocol spec states about the server must be the server's: the
// training-silence and bench defaults of 09-transport.md sec. 5.2, and the default
// thresholds and robust-reconstruction limits of the small-cohort tables in
// 02-shamir.md sec. 5 and 00-threat-model.md sec. 6.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { correctableErrors, ed25519Keypair, systemRng } from '@fedmeta/secagg';
import { planCohort } from '../src/cohort.js';
import { StragglerBench } from '../src/round.js';
import { resolveServerOptions } from '../src/validate.js';

// dist/test/ -> packages/server -> repository root
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const spec = (file: string): string => readFileSync(join(root, 'protocol-spec', file), 'utf8');

/** A minimal valid server configuration; every deadline and policy at its default. */
function defaults() {
  const keys = [ed25519Keypair(systemRng), ed25519Keypair(systemRng)];
  return resolveServerOptions({
    port: 0,
    insecure: true,
    federationId: 'f',
    roster: keys.map((k, i) => ({ name: `m${i}`, publicKey: k.publicKey })),
    rounds: 1,
    model: { config: { kind: 'mlp', inputShape: [4], hidden: [2], numClasses: 2 } },
    algorithm: { name: 'fedavg', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } },
    cohort: { minClients: 2, minAggregate: 2 },
  } as never);
}

/** The text of section `heading` (a line starting with it) up to the next heading of the same or a higher level. */
function section(text: string, heading: string): string {
  const start = text.indexOf(`\n${heading}`);
  assert.ok(start >= 0, `no section '${heading}'`);
  const level = heading.match(/^#+/)![0].length;
  const rest = text.slice(start + 1);
  const next = rest.slice(1).search(new RegExp(`\\n#{1,${level}} `));
  return next < 0 ? rest : rest.slice(0, next + 1);
}

/** The number written after `pattern` (digits with optional thin spaces, e.g. "30 000"). */
function stated(text: string, pattern: RegExp): number {
  const m = pattern.exec(text);
  assert.ok(m, `the spec does not state ${pattern}`);
  return Number(m[1]!.replace(/ /g, ''));
}

test('spec 09 sec. 5.2 states the server\'s training-silence, heartbeat and bench defaults', () => {
  const o = defaults();
  const text = section(spec('09-transport.md'), '### 5.2');
  assert.equal(stated(text, /`deadlines\.progressMs` = ([\d ]+) ms/), o.deadlines.progressMs);
  assert.equal(stated(text, /`stragglers\.benchRounds` = (\d+)/), o.stragglers.benchRounds);
  assert.equal(stated(text, /`stragglers\.maxBenchRounds` = (\d+)/), o.stragglers.maxBenchRounds);
  assert.equal(stated(text, /`trainingMs` \(default (\d+) s\)/) * 1000, o.deadlines.trainingMs);
  assert.equal(stated(text, /`heartbeat\.intervalMs`\s+\(default (\d+) s\)/) * 1000, o.heartbeat.intervalMs);
  assert.equal(stated(text, /`heartbeat\.timeoutMs` \(default (\d+) s\)/) * 1000, o.heartbeat.timeoutMs);
  // "benched for 1, 2, 4, 8, 8, ... rounds": the bench periods of strikes 1 to 5.
  const seq = /benched for ([\d, \n]+), \.\.\. rounds/.exec(text);
  assert.ok(seq, 'the spec does not state the sequence of bench periods');
  const periods = seq[1]!.split(',').map((x) => Number(x.trim()));
  const bench = new StragglerBench(o.stragglers);
  assert.deepEqual(periods, periods.map((_, i) => bench.period(i + 1)));
});

/** Table rows `| n | t | ...` of a markdown table whose header starts with `| n | t |`. */
function thresholdRows(text: string): string[][] {
  const at = text.indexOf('\n| n | t |');
  assert.ok(at >= 0, 'no table with the columns n and t');
  const lines = text.slice(at + 1).split('\n');
  const rows: string[][] = [];
  for (const line of lines.slice(2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.split('|').slice(1, -1).map((c) => c.trim()));
  }
  return rows;
}

test('spec 02 sec. 5 and 00 sec. 6: the default threshold and the correctable / detectable counts of each small cohort', () => {
  const o = defaults();
  for (const [file, heading, correctedCol, detectedCol] of [['02-shamir.md', '## 5.', 3, 4], ['00-threat-model.md', '## 6.', 2, 3]] as const) {
    const rows = thresholdRows(section(spec(file), heading));
    assert.ok(rows.length >= 6, `${file}: expected a row per small cohort`);
    for (const row of rows) {
      const n = Number(row[0]);
      const t = Number(row[1]);
      const plan = planCohort(n, o.aggregation);
      assert.equal(plan.mode, 'secagg', `${file}: n = ${n} is a classic SecAgg cohort by default`);
      assert.equal(t, plan.threshold, `${file}: t of n = ${n}`);
      // Every survivor answers: a b has n shares; no public check for b.
      const e = correctableErrors(n, t, false);
      assert.equal(Number(row[correctedCol]), e, `${file}: wrong b-shares corrected at n = ${n}`);
      assert.equal(parseInt(row[detectedCol]!, 10), n - t - e, `${file}: wrong b-shares detected for certain at n = ${n}`);
    }
  }
});
