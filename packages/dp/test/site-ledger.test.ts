import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { epsilonOfEvents, openLedger, openSiteLedger, type PrivacyEvent } from '../src/ledger.js';
import { rdpEpsilon } from '../src/accountant/rdp.js';
import { DpArgumentError, LedgerCorruptError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmeta-site-ledger-'));
let n = 0;
const fresh = () => join(dir, `site-${n++}.jsonl`);
const LOCAL = { mode: 'local' as const, threshold: 1 };

test('a site ledger records unit, site and noise mode in its header and each charge\'s q, sigma, steps and epsilon', () => {
  const file = fresh();
  const ledger = openSiteLedger(file, { site: 'hospital-a', budget: 8, delta: 1e-5, recordLevel: LOCAL });
  ledger.charge({ mechanism: 'gaussian', q: 0.032, sigma: 0.75, steps: 10, round: 1 });
  ledger.charge({ mechanism: 'gaussian', q: 0.032, sigma: 0.75, steps: 10, round: 2 });
  ledger.close();
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines[0], { type: 'header', version: 2, budget: 8, delta: 1e-5, accountant: 'rdp', unit: 'record', site: 'hospital-a', recordLevel: LOCAL });
  assert.deepEqual(Object.keys(lines[1]).slice(0, 5), ['type', 'mechanism', 'steps', 'q', 'sigma'], 'steps precede q and sigma on disk');
  assert.equal(lines[2].steps, 10);
  assert.ok(Math.abs(lines[2].epsilonAfter - rdpEpsilon({ q: 0.032, sigma: 0.75, steps: 20, delta: 1e-5 }).epsilon) < 1e-12);
  const again = openLedger(file, { readOnly: true });
  assert.deepEqual(
    { ...again.summary(), epsilon: undefined },
    { epsilon: undefined, delta: 1e-5, budget: 8, accountant: 'rdp', events: 2, steps: 20, tornRecords: 0, unit: 'record', site: 'hospital-a', recordLevel: LOCAL },
  );
  assert.ok(Math.abs(again.spent() - rdpEpsilon({ q: 0.032, sigma: 0.75, steps: 20, delta: 1e-5 }).epsilon) < 1e-12);
  // a server (client-level) ledger keeps its version-1 format and is not a site ledger
  const server = fresh();
  openLedger(server, { budget: 8, delta: 1e-5 }).close();
  assert.deepEqual(JSON.parse(readFileSync(server, 'utf8').split('\n')[0]!), { type: 'header', version: 1, budget: 8, delta: 1e-5, accountant: 'rdp' });
  assert.equal(openLedger(server, { readOnly: true }).summary().unit, 'client');
  assert.throws(() => openSiteLedger(server, { site: 'hospital-a' }), (e: unknown) => e instanceof DpArgumentError && /unit record differs/.test((e as Error).message));
});

test('reopening checks site, mode and threshold; bad headers and options are typed errors', () => {
  const file = fresh();
  openSiteLedger(file, { site: 'a', budget: 5, delta: 1e-6, recordLevel: { mode: 'distributed', threshold: 3 } }).close();
  assert.throws(() => openSiteLedger(file, { site: 'b' }), /site b differs/);
  assert.throws(() => openSiteLedger(file, { site: 'a', recordLevel: { mode: 'distributed', threshold: 2 } }), /recordLevel .* differs/);
  assert.throws(() => openSiteLedger(file, { site: 'a', recordLevel: LOCAL }), DpArgumentError);
  openSiteLedger(file, { site: 'a', recordLevel: { mode: 'distributed', threshold: 3 } }).close();
  assert.throws(() => openSiteLedger(fresh(), { site: 'a', budget: 5, delta: 1e-6 }), /recordLevel must be an object/);
  assert.throws(() => openSiteLedger(fresh(), { site: 'a', budget: 5, delta: 1e-6, recordLevel: { mode: 'local', threshold: 2 } }), /threshold must be 1 with local noise/);
  assert.throws(() => openSiteLedger(fresh(), { site: '', budget: 5, delta: 1e-6, recordLevel: LOCAL }), /site/);
  assert.throws(() => openLedger(fresh(), { budget: 5, delta: 1e-6, recordLevel: LOCAL }), /unit 'record' only/);
  const led = openSiteLedger(fresh(), { site: 'a', budget: 5, delta: 1e-6, recordLevel: LOCAL });
  assert.throws(() => led.charge({ mechanism: 'gaussian', q: 0.1, sigma: 1, steps: 0 }), (e: unknown) => e instanceof DpArgumentError && /event\.steps/.test((e as Error).message));
  assert.throws(() => led.charge({ mechanism: 'gaussian', q: 0.1, sigma: 1, steps: 2.5 }), /event\.steps/);
  led.close();
  const future = fresh();
  writeFileSync(future, '{"type":"header","version":3,"budget":1,"delta":1e-5,"accountant":"rdp"}\n');
  assert.throws(() => openLedger(future), (e: unknown) => e instanceof LedgerCorruptError && /version 3/.test((e as Error).message));
  const badMode = fresh();
  writeFileSync(badMode, '{"type":"header","version":2,"budget":1,"delta":1e-5,"accountant":"rdp","unit":"record","recordLevel":{"mode":"central","threshold":1}}\n');
  assert.throws(() => openLedger(badMode), LedgerCorruptError);
});

test('distributed site ledger: the summary also gives the epsilon if only the site\'s own share were honest', () => {
  const led = openSiteLedger(fresh(), { site: 'a', budget: 1000, delta: 1e-5, recordLevel: { mode: 'distributed', threshold: 4 } });
  for (let r = 1; r <= 50; r++) led.charge({ mechanism: 'gaussian', q: 0.02, sigma: 1.2, round: r });
  const s = led.summary();
  assert.ok(Math.abs(s.epsilon - rdpEpsilon({ q: 0.02, sigma: 1.2, steps: 50, delta: 1e-5 }).epsilon) < 1e-12);
  assert.ok(Math.abs(s.epsilonOwnShareOnly! - rdpEpsilon({ q: 0.02, sigma: 0.6, steps: 50, delta: 1e-5 }).epsilon) < 1e-12);
  assert.ok(s.epsilonOwnShareOnly! > s.epsilon);
  led.close();
});

test('torn site records count as spent with their steps when the prefix shows them, else as the costliest complete charge', () => {
  const file = fresh();
  const led = openSiteLedger(file, { site: 'a', budget: 1000, delta: 1e-5, recordLevel: LOCAL });
  const E = (steps: number): PrivacyEvent => ({ mechanism: 'gaussian', q: 0.02, sigma: 1, steps });
  led.charge(E(10));
  led.charge(E(4));
  led.close();
  appendFileSync(file, '{"type":"event","mechanism":"gaussian","steps":25,"q":0.02,"sigma":1,"rou');
  let l = openLedger(file, { readOnly: true });
  assert.equal(l.summary().tornRecords, 1);
  assert.ok(Math.abs(l.spent() - epsilonOfEvents([E(39)], 1e-5)) < 1e-12, 'the torn 25 steps are counted');
  // a prefix cut inside the steps field: counted as the costliest complete charge (10 steps), never as 1 step
  const file2 = fresh();
  const led2 = openSiteLedger(file2, { site: 'a', budget: 1000, delta: 1e-5, recordLevel: LOCAL });
  led2.charge(E(10));
  led2.charge(E(4));
  led2.close();
  appendFileSync(file2, '{"type":"event","mechanism":"gaussian","steps":1');
  l = openLedger(file2, { readOnly: true });
  assert.ok(Math.abs(l.spent() - epsilonOfEvents([E(24)], 1e-5)) < 1e-12);
});

const child = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'site-ledger-child.js');

/** Runs the site child on `file` until it has released something, then SIGKILLs it after `delayMs`. */
async function runAndKill(file: string, delayMs: number): Promise<Array<{ round: number; steps: number; epsilon: number }>> {
  const proc = spawn(process.execPath, [child, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const released: Array<{ round: number; steps: number; epsilon: number }> = [];
  let buf = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const m = /^released (\d+) (\d+) (\S+)$/.exec(buf.slice(0, i));
      if (m) released.push({ round: Number(m[1]), steps: Number(m[2]), epsilon: Number(m[3]) });
      buf = buf.slice(i + 1);
    }
  });
  await new Promise<void>((resolve) => {
    const wait = setInterval(() => {
      if (released.length > 0) {
        clearInterval(wait);
        setTimeout(() => proc.kill('SIGKILL'), delayMs);
      }
    }, 5);
    proc.on('exit', () => {
      clearInterval(wait);
      resolve();
    });
  });
  return released;
}

test('a site ledger never under-counts across SIGKILLed and restarted site processes', async () => {
  for (let trial = 0; trial < 2; trial++) {
    const file = fresh();
    const lives: Array<Array<{ round: number; steps: number; epsilon: number }>> = [];
    for (let life = 0; life < 3; life++) {
      const delay = 10 + Math.floor(Math.random() * 120); // test timing only, not privacy randomness
      const released = await runAndKill(file, delay);
      assert.ok(released.length > 0, `life ${life} released nothing`);
      lives.push(released);
      const ledger = openLedger(file, { readOnly: true });
      const all = lives.flat();
      const maxReleased = Math.max(...all.map((r) => r.epsilon));
      assert.ok(ledger.spent() >= maxReleased, `trial ${trial} life ${life}: ledger ${ledger.spent()} < released ${maxReleased}`);
      const releasedSteps = all.reduce((s, r) => s + r.steps, 0);
      assert.ok(ledger.summary().steps >= releasedSteps, `ledger holds ${ledger.summary().steps} steps < released ${releasedSteps}`);
      ledger.close();
      if (life > 0) {
        // the restarted site continued from everything charged before it: its first release
        // already accounts for every earlier one
        const before = Math.max(...lives[life - 1]!.map((r) => r.epsilon));
        assert.ok(released[0]!.epsilon > before, `restart began at ${released[0]!.epsilon} <= ${before}`);
        assert.ok(released[0]!.round > Math.max(...lives[life - 1]!.map((r) => r.round)));
      }
    }
  }
});

test('a ledger appears with its header or not at all: a write that fails while it is created leaves no file that refuses later opens', () => {
  // Stands for a crash between creating the file and writing its header: node:fs's writeSync
  // throws for the creating write (the ledger module sees the patched export).
  const file = fresh();
  const original = fs.writeSync;
  (fs as { writeSync: unknown }).writeSync = () => {
    throw Object.assign(new Error('EIO: simulated failure while writing the header'), { code: 'EIO' });
  };
  syncBuiltinESMExports();
  try {
    assert.throws(() => openSiteLedger(file, { site: 'a', budget: 5, delta: 1e-6, recordLevel: LOCAL }), /EIO/);
  } finally {
    (fs as { writeSync: unknown }).writeSync = original;
    syncBuiltinESMExports();
  }
  assert.equal(fs.existsSync(file), false, 'no ledger file without its header');
  assert.deepEqual(fs.readdirSync(dirname(file)).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left behind');
  // The site can start again: the ledger is created as if for the first time.
  const led = openSiteLedger(file, { site: 'a', budget: 5, delta: 1e-6, recordLevel: LOCAL });
  led.charge({ mechanism: 'gaussian', q: 0.1, sigma: 1, steps: 1, round: 1 });
  led.close();
  assert.equal(openLedger(file, { readOnly: true }).events.length, 1);
});
