#!/usr/bin/env node
// Runs one package's compiled tests with Node's built-in runner.
// Human-readable `spec` output goes to stdout; a TAP copy goes to
// .test-results/<package>.tap so scripts/run-tests.mjs can total every package.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
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
const run = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: 'inherit' });
process.exit(run.status ?? 1);
