import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatDuration, formatEpsilon, formatPercent } from '../src/ui/format.js';
import { renderTable, visibleWidth } from '../src/ui/table.js';
import { ProgressView, renderBar, renderProgress, type RoundProgress } from '../src/ui/progress.js';
import { formatLogRecord, openJsonLog } from '../src/ui/log.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('byte, duration, percent and epsilon formats', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(5 * 1024 * 1024), '5.0 MiB');
  assert.equal(formatBytes(300 * 1024 * 1024), '300 MiB');
  assert.equal(formatBytes(-1), '-');
  assert.equal(formatDuration(950), '0.95s');
  assert.equal(formatDuration(12_345), '12.3s');
  assert.equal(formatDuration(83_456), '1m23.5s');
  assert.equal(formatDuration(61_000), '1m01.0s');
  assert.equal(formatPercent(0.8734), '87.3%');
  assert.equal(formatPercent(undefined), '-');
  assert.equal(formatEpsilon(1.23456), '1.235');
  assert.equal(formatEpsilon(undefined), '-');
});

test('the bar fills by phase and by answers within the phase', () => {
  assert.equal(renderBar('waiting', 0, 6, 10), '----------');
  assert.equal(renderBar('training', 0, 6, 10), '----------');
  assert.equal(renderBar('training', 6, 6, 10), '##--------');
  assert.equal(renderBar('masked-input', 3, 6, 10), '#####-----');
  assert.equal(renderBar('unmasking', 0, 5, 10), '######----');
  assert.equal(renderBar('done', 0, 0, 10), '##########');
  assert.equal(renderBar('share-keys', 0, 0, 12).length, 12, 'no division by zero when nobody is alive');
});

const progress: RoundProgress = { round: 2, rounds: 10, phase: 'masked-input', responded: 3, cohort: 6, dropped: 1, connected: 5, bytesUp: 1536, bytesDown: 2048, elapsedMs: 3100 };

test('the progress line shows round, phase, answers, drops, bytes and time', () => {
  assert.equal(
    renderProgress(progress, 10),
    'round  2/10 [#####-----] masked-input  3/5 answered, 1 dropped  up 1.5 KiB  down 2.0 KiB  3.10s',
  );
  assert.match(renderProgress({ ...progress, phase: 'done' }, 10), /\[##########\] done +5\/6 finished/);
  assert.match(renderProgress({ ...progress, phase: 'waiting' }, 10), /waiting +5 connected/);
});

test('an aborted round\'s line says ABORTED and why, not how many answered', () => {
  const line = renderProgress({ ...progress, phase: 'checkpointing', aborted: 'TOO_FEW_SURVIVORS' }, 10);
  assert.match(line, /checkpointing +ABORTED: TOO_FEW_SURVIVORS, 1 dropped/);
  assert.doesNotMatch(line, /answered/);
});

test('without a TTY the view prints a plain line when a round waits and when it ends or aborts, none per phase, no escape codes', () => {
  const out: string[] = [];
  const view = new ProgressView({ write: (s: string) => out.push(s), isTTY: false });
  view.update({ ...progress, phase: 'waiting' });
  view.update({ ...progress, phase: 'waiting' }); // the same: nothing new
  view.update(progress); // masked-input: a phase, no line
  view.update({ ...progress, phase: 'unmasking', responded: 0 });
  view.log('client 3 dropped');
  view.update({ ...progress, phase: 'done' });
  view.update({ ...progress, round: 3, phase: 'share-keys', aborted: 'TOO_FEW_SURVIVORS' });
  // Round 4 ends when round 5 starts without a 'done' of its own: its line then reads done.
  view.update({ ...progress, round: 4, phase: 'unmasking' });
  view.update({ ...progress, round: 5, phase: 'training' });
  view.update({ ...progress, round: 5, phase: 'aggregating' });
  view.finish();
  assert.equal(out.length, 6, JSON.stringify(out));
  assert.ok(out.every((l) => l.endsWith('\n') && !l.includes('\x1b')));
  assert.match(out[0]!, /waiting/);
  assert.equal(out[1], 'client 3 dropped\n');
  assert.match(out[2]!, /round  2\/10 .*done/);
  assert.match(out[3]!, /round  3\/10 .*ABORTED: TOO_FEW_SURVIVORS/);
  assert.match(out[4]!, /round  4\/10 .*done +5\/6 finished/);
  assert.match(out[5]!, /round  5\/10 .*done/, 'the last round, written by finish()');
});

test('on a TTY the view redraws in place, keeps one line per round, ends it before a message', () => {
  const out: string[] = [];
  const view = new ProgressView({ write: (s: string) => out.push(s), isTTY: true, columns: 100 });
  view.update(progress);
  view.update({ ...progress, responded: 4 });
  view.update({ ...progress, round: 3, phase: 'training', responded: 0 });
  view.log('note');
  assert.deepEqual(out.map((s) => (s.startsWith('\r\x1b[2K') ? 'draw' : s)), ['draw', 'draw', '\n', 'draw', '\n', 'note\n']);
  const quiet: string[] = [];
  new ProgressView({ write: (s: string) => quiet.push(s), isTTY: true }, false).update(progress);
  assert.equal(quiet.length, 0, 'a disabled view writes nothing');
});

test('tables align columns, right-align numbers and add a footer', () => {
  const rows = [
    { round: 1, acc: '61.0%', bytes: '1.2 MiB' },
    { round: 10, acc: '88.4%', bytes: '12 KiB' },
  ];
  const text = renderTable(
    [
      { header: 'round', align: 'right', value: (r) => String(r.round) },
      { header: 'accuracy', align: 'right', value: (r) => r.acc },
      { header: 'up', value: (r) => r.bytes },
    ],
    rows,
    ['', 'total', '1.2 MiB'],
  );
  assert.equal(
    text,
    ['round  accuracy  up', '-----  --------  -------', '    1     61.0%  1.2 MiB', '   10     88.4%  12 KiB', '-----  --------  -------', '          total  1.2 MiB'].join('\n'),
  );
  assert.equal(visibleWidth('\x1b[32mok\x1b[0m'), 2);
});

test('JSON log records are one parseable line with time, level, event and fields', () => {
  const line = formatLogRecord('info', 'round.done', { round: 3, update: new Float32Array(4), big: 5n }, new Date(0));
  assert.equal(line, '{"time":"1970-01-01T00:00:00.000Z","level":"info","event":"round.done","round":3,"update":{"bytes":16},"big":"5"}');
  const file = join(mkdtempSync(join(tmpdir(), 'fedmeta-log-')), 'log.jsonl');
  const log = openJsonLog(file);
  log.log('warn', 'client.dropped', { client: 'a' });
  log.log('info', 'done');
  log.close();
  const records = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(records.map((r) => r.event), ['client.dropped', 'done']);
  assert.equal(records[0].client, 'a');
});

test('the simulate summary: per-round table with totals, accuracy before/after, privacy and traffic', async () => {
  const { renderSummary } = await import('../src/ui/summary.js');
  const round = (i: number, extra: object = {}) => ({
    round: i, status: 'completed' as const, cohort: 6, survivors: 6, dropped: 0, degree: 4, threshold: 3,
    globalAccuracy: 0.5 + i / 20, epsilon: i * 1.5, bytesUp: 1024 * 1024 * i, bytesDown: 2048 * i, wallMs: 3000, ...extra,
  });
  const text = renderSummary({
    clients: 6, roundsPlanned: 3, roundsCompleted: 2, endReason: 'completed', algorithm: 'reptile', model: 'mlp', parameters: 50890,
    secagg: 'secagg+', backend: 'wasm', dp: { epsilonBudget: 8, delta: 1e-5, noiseMultiplier: 2.2, l2Clip: 1, epsilonSpent: 4.5 }, evalSteps: 5, labelCodes: 'shared',
    initial: { globalAccuracy: 0.1, personalisedAccuracy: 0.5, noAdaptationAccuracy: 0.1 },
    final: { globalAccuracy: 0.65, personalisedAccuracy: 0.83, noAdaptationAccuracy: 0.6 },
    rounds: [round(1), round(2, { survivors: 5, dropped: 1 }), round(3, { status: 'aborted', abortReason: 'too-few' })],
    clientsReport: [{ name: 'client-0', endReason: 'failed', rounds: 1, error: 'ERR_X' }],
    bytesUp: 6e6, bytesDown: 12000, wallMs: 9000,
  });
  const lines = text.split('\n');
  assert.equal(lines[2], 'round  status             clients  dropped  k/t  global acc  epsilon       up      down   wall');
  assert.equal(lines[5], '    2  ok                     5/6        1  4/3       60.0%    3.000  2.0 MiB   4.0 KiB  3.00s');
  assert.match(lines[6]!, /^ {4}3 {2}aborted \(too-few\)/);
  assert.equal(lines[8], 'total                                    1            65.0%    4.500  5.7 MiB  11.7 KiB  9.00s');
  assert.match(text, /^ {2}personalised {9}50\.0% -> 83\.0% {3}\(mean over clients, query set after 5 steps/m);
  assert.match(text, /^privacy {15}epsilon 4\.500 of 8 spent \(delta 0\.00001, noise multiplier 2\.200, L2 clip 1\)$/m);
  assert.match(text, /^clients that failed {3}client-0 \(ERR_X\)$/m);
  const noDp = renderSummary({ dp: null, clients: 2, roundsPlanned: 1, roundsCompleted: 1, endReason: 'completed', algorithm: 'fedavg', model: 'mlp', parameters: 1, secagg: 'plaintext', backend: 'cpu', evalSteps: 0, labelCodes: 'local', initial: { personalisedAccuracy: 0, noAdaptationAccuracy: 0 }, final: { personalisedAccuracy: 1, noAdaptationAccuracy: 1 }, rounds: [], clientsReport: [], bytesUp: 0, bytesDown: 0, wallMs: 1 });
  assert.match(noDp, /^privacy {15}DP off/m);
  assert.match(noDp, /^ {2}global \(test set\) {3}none: clients use site-local label codes$/m);
  assert.match(text, /^ {2}global \(test set\) {4}10\.0% -> 65\.0%$/m);
});

test('the round tracker keeps checkpointing on the round it finishes and times each round', async () => {
  const { RoundTracker } = await import('../src/ui/progress.js');
  let now = 1000;
  const t = new RoundTracker(() => now);
  const p = { rounds: 3, connected: 4, cohort: 4, responded: 0, dropped: 0, bytesIn: 0, bytesOut: 0 };
  assert.equal(t.map({ ...p, round: 1, phase: 'training' }).elapsedMs, 0);
  now = 1500;
  assert.deepEqual([t.map({ ...p, round: 1, phase: 'evaluating' })].map((x) => [x.round, x.elapsedMs]), [[1, 500]]);
  // The server already says round 2 while it checkpoints round 1.
  assert.equal(t.map({ ...p, round: 2, phase: 'checkpointing' }).round, 1);
  now = 2000;
  const r2 = t.map({ ...p, round: 2, phase: 'training' });
  assert.deepEqual([r2.round, r2.elapsedMs], [2, 0]);
  assert.equal(t.map({ ...p, round: 4, phase: 'done' }).round, 2, 'done stays on the last round shown');
  assert.equal(new RoundTracker(() => 0).map({ ...p, round: 4, phase: 'done' }).round, 3, 'never past the last round');
});

test('on a TTY a finished line is not redrawn', () => {
  const out: string[] = [];
  const view = new ProgressView({ write: (s: string) => out.push(s), isTTY: true, columns: 100 });
  const done = { ...progress, phase: 'done' as const };
  view.update(done);
  view.update(done);
  view.update(done);
  assert.equal(out.filter((s) => s.startsWith('\r')).length, 1);
});
