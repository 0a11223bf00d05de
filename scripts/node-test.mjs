#!/usr/bin/env node
// Runs one package's compiled tests with Node's built-in runner.
// Human-readable `spec` output goes to stdout; a TAP copy goes to
// .test-results/<package>.tap so scripts/run-tests.mjs can total every package.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = process.argv[2];
if (!pkg) {
  console.error('usage: node-test.mjs <package>');
  process.exit(2);
}
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkgDir = join(root, 'packages', pkg);
const testDir = join(pkgDir, 'dist', 'test');
const results = join(root, '.test-results');
mkdirSync(results, { recursive: true });
if (!existsSync(testDir)) {
  console.log(`${pkg}: no compiled tests in dist/test`);
  process.exit(0);
}
const args = [
  '--test',
  '--test-timeout=600000',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${join(results, `${pkg}.tap`)}`,
  testDir,
];
// Every temporary file a test (or a process it starts) makes goes under one directory per
// package run, removed afterwards: a test that forgets its own clean-up (or is killed before
// it) leaves nothing behind in the system's temporary directory.
const scratch = mkdtempSync(join(tmpdir(), `fedmeta-test-${pkg}-`));
const run = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: 'inherit', env: { ...process.env, TMPDIR: scratch } });
const left = readdirSync(scratch).length;
rmSync(scratch, { recursive: true, force: true });
if (left > 0 && process.env['FEDMETA_TEST_VERBOSE']) console.log(`${pkg}: removed ${left} temporary entries the tests left`);
process.exit(run.status ?? 1);
