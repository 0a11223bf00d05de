#!/usr/bin/env node
// `npm test`: every package's tests through turbo, then one total across packages
// in the same shape as Node's own runner summary, so CI (and people) read one number.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const results = join(root, '.test-results');
rmSync(results, { recursive: true, force: true });

const turbo = join(root, 'node_modules', '.bin', 'turbo');
const extra = process.argv.slice(2);
const run = spawnSync(turbo, ['run', 'test', '--concurrency=2', '--continue', '--output-logs=full', ...extra], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' },
});

const keys = ['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];
const total = Object.fromEntries(keys.map((k) => [k, 0]));
const rows = [];
if (existsSync(results)) {
  for (const file of readdirSync(results).filter((f) => f.endsWith('.tap')).sort()) {
    const text = readFileSync(join(results, file), 'utf8');
    const row = { pkg: file.replace(/\.tap$/, '') };
    for (const k of keys) {
      // The runner's own totals are the last "# <key> N" lines of the TAP stream.
      const all = [...text.matchAll(new RegExp(`^# ${k} (\\d+)$`, 'gm'))];
      const n = all.length ? Number(all[all.length - 1][1]) : 0;
      row[k] = n;
      total[k] += n;
    }
    rows.push(row);
  }
}
console.log('\nfedmeta test summary');
console.log('package'.padEnd(12) + keys.map((k) => k.padStart(10)).join(''));
for (const r of rows) console.log(r.pkg.padEnd(12) + keys.map((k) => String(r[k]).padStart(10)).join(''));
for (const k of keys) console.log(`# ${k} ${total[k]}`);
const failed = run.status !== 0 || total.fail > 0 || total.cancelled > 0 || total.tests === 0;
console.log(`${total.pass} passed, ${total.fail + total.cancelled} failed, ${total.skipped} skipped`);
if (failed) {
  console.log(`RESULT: FAIL${run.status !== 0 ? ` (turbo exited ${run.status})` : ''}`);
  process.exit(1);
}
console.log('RESULT: PASS');
