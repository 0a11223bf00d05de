#!/usr/bin/env node
// Writes this package's test-vector kinds: node packages/secagg/scripts/gen-vectors.mjs <dir>
// The repository's test-vectors/ also holds the runtime-layer kinds (ddg-encoding,
// transport-frames) that the CLI registers, under one MANIFEST.json: regenerate those
// with `npx fedmeta vectors generate`, never with this script (it would drop them from the
// manifest). Needs the package built (npm install or npx tsc -b packages/secagg).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateVectorFiles } from '../dist/src/vectors/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const committed = resolve(join(here, '..', '..', '..', 'test-vectors'));
if (process.argv[2] === undefined || resolve(process.argv[2]) === committed) {
  console.error('usage: gen-vectors.mjs <dir> (not the repository\'s test-vectors/: use `npx fedmeta vectors generate`, which writes every kind under one manifest)');
  process.exit(2);
}
const dir = resolve(process.argv[2]);
const files = await generateVectorFiles();
for (const [path, bytes] of files) {
  const target = join(dir, ...path.split('/'));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, bytes);
  console.log(`wrote ${target} (${bytes.length} bytes)`);
}
