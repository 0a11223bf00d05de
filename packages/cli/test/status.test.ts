// `fedmeta status` against real files written by the server's checkpoint writer and the
// dp package's ledger (the same code a live server uses), through a real child process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openLedger } from '@fedmeta/dp';
import { readStatus, renderStatus } from '../src/commands/status.js';
import { generateIdentity, rosterToJson } from '../src/identity.js';

const bin = fileURLToPath(new URL('../../bin/fedmeta.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'fedmeta-status-'));

/**
 * A real checkpoint from a real (tiny) federation: `fedmeta simulate --checkpoint DIR`.
 * DP off, so the ledger is then written with the dp package (the server's own ledger
 * writer) with known releases, to check that status recomputes epsilon from it.
 */
function fixture(name: string): string {
  const dir = join(root, name);
  const r = spawnSync(
    process.execPath,
    [bin, 'simulate', '--clients', '3', '--rounds', '1', '--dp', 'off', '--drop', 'none', '--checkpoint', dir, '--out', join(root, `${name}-model`), '--json'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return dir;
}

/** Two known releases written by the dp package's ledger (the server's own ledger writer). */
function addLedger(dir: string): void {
  const ledger = openLedger(join(dir, 'ledger.json'), { budget: 8, delta: 1e-5 });
  ledger.charge({ mechanism: 'gaussian', q: 1, sigma: 2, round: 1 });
  ledger.charge({ mechanism: 'gaussian', q: 1, sigma: 2, round: 2 });
  ledger.close();
}

let shared: string | undefined;
const sharedFixture = () => (shared ??= fixture('run'));

test('status as a command: JSON output, no ledger without DP, clear errors', () => {
  const dir = sharedFixture();
  const r = spawnSync(process.execPath, [bin, 'status', '--checkpoint', dir, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.privacy, null);
  assert.equal(s.rounds.length, 1);
  const missing = spawnSync(process.execPath, [bin, 'status', '--checkpoint', join(root, 'nothing')], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^fedmeta status: --checkpoint: no checkpoint\.fmck in .*nothing/);
  const none = spawnSync(process.execPath, [bin, 'status'], { encoding: 'utf8' });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /--checkpoint DIR or --config FILE is required/);
  const broken = join(root, 'broken');
  mkdirSync(broken);
  writeFileSync(join(broken, 'checkpoint.fmck'), 'FMCK garbage');
  const corrupt = spawnSync(process.execPath, [bin, 'status', '--checkpoint', broken], { encoding: 'utf8' });
  assert.equal(corrupt.status, 1);
  assert.match(corrupt.stderr, /ERR_CHECKPOINT_CORRUPT/);
});

test('status reads the checkpoint and recomputes epsilon from the ledger, not the checkpoint', async () => {
  const dir = sharedFixture();
  addLedger(dir);
  const rosterFile = join(root, 'roster.json');
  const roster = { clients: [generateIdentity('a'), generateIdentity('b')].map((id, i) => ({ name: id.name, publicKey: id.publicKey, revoked: i === 1 })) };
  writeFileSync(rosterFile, rosterToJson(roster));
  const s = await readStatus(dir, rosterFile);
  assert.equal(s.federationId, 'fedmeta');
  assert.equal(s.nextRound, 2);
  assert.equal(s.roundsCompleted, 1);
  assert.equal(s.parameters, statSync(join(root, 'run-model', 'weights.bin')).size / 4, 'the exported model has the checkpoint\'s parameters');
  assert.equal(s.lastRound?.status, 'completed');
  assert.equal(s.lastRound?.survivors, 3);
  assert.deepEqual(s.roster, { file: rosterFile, clients: 2, active: 1 });
  assert.ok(s.privacy);
  assert.equal(s.privacy.events, 2);
  assert.equal(s.privacy.budget, 8);
  // Two Gaussian releases at sigma 2 and delta 1e-5: a few epsilon (the checkpoint knows none).
  assert.ok(s.privacy.epsilon > 1 && s.privacy.epsilon < 8, String(s.privacy.epsilon));
  const text = renderStatus(s, Date.parse(s.checkpointWritten) + 5000);
  assert.match(text, /^rounds {7}1 completed, 0 aborted; next round 2$/m);
  assert.match(text, /^privacy {6}epsilon \d\.\d{3} of 8 spent \(delta 0\.00001, rdp, 2 releases\)$/m);
  assert.match(text, /^roster {7}2 clients, 1 active/m);
  assert.match(text, /^last round {3}1: completed, 3\/3 clients, accuracy \d+\.\d%/m);
  assert.match(text, /\(written .*, 5\.00s ago\)/);
});

test('status --report: the traffic tile holds the bytes of the checkpoint\'s rounds, summed', () => {
  const dir = sharedFixture();
  const report = join(root, 'traffic.html');
  const r = spawnSync(process.execPath, [bin, 'status', '--checkpoint', dir, '--report', report], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const html = readFileSync(report, 'utf8');
  const data = /<script type="application\/json" id="fedmeta-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(data, 'the report embeds its snapshot');
  const snap = JSON.parse(data[1]!) as { bytes: { in: number; out: number }; roundRows: { bytesIn: number; bytesOut: number }[] };
  const sum = (k: 'bytesIn' | 'bytesOut') => snap.roundRows.reduce((a, row) => a + row[k], 0);
  assert.ok(snap.roundRows.length >= 1 && sum('bytesIn') > 0 && sum('bytesOut') > 0, 'the rounds carried traffic');
  assert.deepEqual(snap.bytes, { in: sum('bytesIn'), out: sum('bytesOut') });
});
