// The coordinator prints the dp planner's utility warning at start-up, next to its banner:
// client-level DP over 3 sites at the default epsilon 8 drowns the summed updates in noise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './run-cli.js';

const bin = fileURLToPath(new URL('../../bin/fedmeta.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'fedmeta-dp-warning-'));


/** Starts `fedmeta server` with `dp` config for a 3-site roster, waits for the banner, stops it; returns stdout and the JSON log. */
async function startupOutput(name: string, dp: Record<string, unknown>): Promise<{ out: string; log: string }> {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const n of ['a', 'b', 'c']) assert.equal(spawnSync(process.execPath, [bin, 'keygen', '--name', n], { cwd: dir }).status, 0);
  assert.equal(spawnSync(process.execPath, [bin, 'keygen', '--roster', 'roster.json', '--add', 'a.pub.json', '--add', 'b.pub.json', '--add', 'c.pub.json'], { cwd: dir }).status, 0);
  const port = await freePort();
  writeFileSync(join(dir, 'server.json'), JSON.stringify({
    server: { host: '127.0.0.1', port, insecure: true, roster: 'roster.json', checkpointDir: 'ck', rounds: 20 },
    meta: { hidden: 16 },
    dp,
    output: { log: 'server.log.jsonl' },
  }));
  const child = spawn(process.execPath, [bin, 'server', '--config', 'server.json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const end = Date.now() + 60_000;
  // the second banner line (the secagg plan) is printed just before the warning would be
  while (!/a round of 3 members/.test(out)) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`no banner: ${out}\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 200));
  child.kill('SIGTERM');
  assert.equal(await exit, 130, err);
  return { out, log: readFileSync(join(dir, 'server.log.jsonl'), 'utf8') };
}

test('server start-up warns when client-level DP noise dominates (3 sites, epsilon 8), and logs it', async () => {
  const { out, log } = await startupOutput('dominated', { epsilon: 8 });
  const lines = out.split('\n');
  const banner = lines.findIndex((l) => l.startsWith('fedmeta server: ws://'));
  const warning = lines.findIndex((l) => l.startsWith('WARNING: client-level DP noise dominates'));
  assert.ok(banner >= 0 && warning > banner && warning <= banner + 2, out);
  // 784-16-10 MLP: 12730 parameters; noise-to-signal per round >= z * E||N(0, I)|| / 3
  assert.match(lines[warning]!, /12730 parameters\) to a sum of 3 site update\(s\)/);
  assert.match(lines[warning]!, /record-level DP-SGD/);
  const record = log.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.event === 'dp.utility-warning');
  assert.ok(record && record.level === 'warn' && record.message === lines[warning], 'the warning is in the JSON log too');
});

test('server start-up prints no utility warning when the noise does not dominate', async () => {
  // a configured noise multiplier of 0.01: noise norm ~1.1 x clip against 3 x clip per round
  const { out } = await startupOutput('quiet', { epsilon: 1000, noiseMultiplier: 0.01 });
  assert.match(out, /noise multiplier 0\.010/);
  assert.doesNotMatch(out, /WARNING/);
});
