#!/usr/bin/env node
// Writes the test vectors: node packages/secagg/scripts/gen-vectors.mjs [dir]
// (default: the repository's test-vectors/). Same output as `fedmeta vectors generate`.
// Needs the package built (npm install or npx tsc -b packages/secagg).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateVectorFiles } from '../dist/src/vectors/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const dir = resolve(process.argv[2] ?? join(here, '..', '..', '..', 'test-vectors'));
const files = await generateVectorFiles();
for (const [path, bytes] of files) {
  const target = join(dir, ...path.split('/'));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, bytes);
  console.log(`wrote ${target} (${bytes.length} bytes)`);
}
