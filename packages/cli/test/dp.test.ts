import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openLedger, rdpEpsilon } from '@fedmeta/dp';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'fedmeta.js');

function fedmeta(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, 'dp', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(r: { status: number | null; stdout: string; stderr: string }): Record<string, unknown> {
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'exactly one JSON object');
  return JSON.parse(lines[0]!);
}

test('dp epsilon --json reproduces the reference values (rdp and pld)', () => {
  const rdp = json(fedmeta('epsilon', '--sigma', '0.7', '--q', '0.01', '--steps', '120', '--delta', '1e-5', '--json'));
  assert.ok(Math.abs((rdp.epsilon as number) - 3.2391922) < 1e-6);
  assert.equal(rdp.accountant, 'rdp');
  const pld = json(fedmeta('epsilon', '--sigma', '0.7', '--q', '0.01', '--steps', '120', '--delta', '1e-5', '--accountant', 'pld', '--json'));
  assert.ok(Math.abs((pld.epsilon as number) - 2.4612381) < 1e-6);
  const q1 = json(fedmeta('epsilon', '--sigma', '0.7', '--q', '1', '--steps', '2', '--delta', '1e-5', '--json'));
  assert.ok(Math.abs((q1.epsilon as number) - 10.8602036) < 1e-6);
  const text = fedmeta('epsilon', '--sigma', '0.7', '--q', '1', '--steps', '2', '--delta', '1e-5');
  assert.match(text.stdout, /^epsilon: 10\.86/);
});

test('dp plan --json: sigma meets the target, per-client noise, epsilon per round', () => {
  const out = json(fedmeta('plan', '--epsilon', '2', '--delta', '1e-5', '--rounds', '100', '--clients-per-round', '10', '--population', '1000', '--json'));
  const sigma = out.sigma as number;
  assert.ok(sigma > 0.5 && sigma < 2);
  const check = rdpEpsilon({ q: 0.01, sigma, steps: 100, delta: 1e-5 }).epsilon;
  assert.ok(check <= 2 && check > 1.99, `${check}`);
  assert.ok(Math.abs((out.perClientNoiseStddev as number) - sigma / Math.sqrt(10)) < 1e-12);
  const byRound = out.epsilonByRound as Array<{ round: number; epsilon: number }>;
  assert.equal(byRound.at(-1)!.round, 100);
  for (let i = 1; i < byRound.length; i++) assert.ok(byRound[i]!.epsilon >= byRound[i - 1]!.epsilon);
});

test('impossible budgets and bad arguments give clear errors and non-zero exits', () => {
  const zero = fedmeta('plan', '--epsilon', '0', '--delta', '1e-5', '--rounds', '10', '--clients-per-round', '1', '--population', '10');
  assert.equal(zero.status, 2);
  assert.match(zero.stderr, /--epsilon must be a number > 0/);
  const delta = fedmeta('plan', '--epsilon', '1', '--delta', '1', '--rounds', '10', '--clients-per-round', '1', '--population', '10');
  assert.equal(delta.status, 2);
  assert.match(delta.stderr, /--delta/);
  const unreachable = fedmeta('plan', '--epsilon', '0.0001', '--delta', '1e-9', '--rounds', '10000', '--clients-per-round', '10', '--population', '10');
  assert.equal(unreachable.status, 3);
  assert.match(unreachable.stderr, /unreachable/);
  assert.equal(fedmeta('epsilon', '--sigma', 'abc', '--q', '0.1', '--steps', '1', '--delta', '1e-5').status, 2);
  assert.equal(fedmeta('epsilon', '--sigma', '1', '--q', '0.1', '--steps', '1', '--delta', '1e-5', '--accountant', 'moments').status, 2);
  assert.equal(fedmeta('epsilon', '--bogus').status, 2);
  assert.equal(fedmeta('frobnicate').status, 2);
  assert.equal(fedmeta('plan', '--epsilon', '1', '--delta', '1e-5', '--rounds', '10', '--clients-per-round', '20', '--population', '10').status, 2);
});

test('dp account reads a ledger', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'fedmeta-cli-ledger-')), 'ledger.jsonl');
  const ledger = openLedger(file, { budget: 8, delta: 1e-5 });
  for (let r = 1; r <= 3; r++) ledger.charge({ mechanism: 'gaussian', q: 0.1, sigma: 1, round: r });
  ledger.close();
  const out = json(fedmeta('account', '--ledger', file, '--json'));
  assert.equal(out.events, 3);
  assert.ok(Math.abs((out.epsilon as number) - rdpEpsilon({ q: 0.1, sigma: 1, steps: 3, delta: 1e-5 }).epsilon) < 1e-12);
  assert.equal(out.budget, 8);
  const missing = fedmeta('account', '--ledger', file + '.nope');
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /not found/);
});
