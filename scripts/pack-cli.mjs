#!/usr/bin/env node
// `npm run pack:cli [-- DIR]`: the fedmeta command for a site's machine, without the
// monorepo: one npm tarball per workspace package the CLI needs (after `tsc -b`), into DIR
// (default dist/fedmeta-cli). On the site:
//
//   mkdir fedmeta && cd fedmeta && npm init -y >/dev/null
//   npm install /path/to/DIR/*.tgz      # all seven at once: they depend on each other
//   npx fedmeta --help                  # or ./node_modules/.bin/fedmeta
//
// Third-party dependencies (TensorFlow.js, ws, libsodium, ...) come from the npm registry
// or its cache as usual. packages/tests/test/install.test.ts installs the result into a
// temporary directory and runs it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, 'dist', 'fedmeta-cli'));
const PACKAGES = ['secagg', 'dp', 'meta', 'transport', 'server', 'client', 'cli'];

for (const p of PACKAGES) {
  if (!existsSync(join(root, 'packages', p, 'dist', 'src', 'index.js'))) {
    console.error(`pack-cli: packages/${p} is not built; run npx tsc -b (npm run pack:cli does)`);
    process.exit(1);
  }
}
mkdirSync(out, { recursive: true });
for (const f of readdirSync(out)) if (/^fedmeta-.*\.tgz$/.test(f)) rmSync(join(out, f));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const r = spawnSync(npm, ['pack', '--silent', '--pack-destination', out, ...PACKAGES.flatMap((p) => ['-w', `@fedmeta/${p}`])], { cwd: root, encoding: 'utf8' });
if (r.status !== 0) {
  console.error(`pack-cli: npm pack failed (${r.status}):\n${r.stderr}`);
  process.exit(1);
}
const tarballs = readdirSync(out).filter((f) => /^fedmeta-.*\.tgz$/.test(f)).sort();
if (tarballs.length !== PACKAGES.length) {
  console.error(`pack-cli: expected ${PACKAGES.length} tarballs in ${out}, found ${tarballs.join(', ')}`);
  process.exit(1);
}
console.log(`pack-cli: ${tarballs.length} tarballs in ${out}:`);
for (const t of tarballs) console.log(`  ${t}`);
console.log(`install on a site: npm install ${join(out, '*.tgz')}   (then: npx fedmeta --help)`);
