#!/usr/bin/env node
// Rewrites docs/configuration.md's tables from the config schema (after `npm run build`).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { withConfigTables } = await import(join(root, 'packages/cli/dist/src/config/doc.js'));
const file = join(root, 'docs', 'configuration.md');
const before = readFileSync(file, 'utf8');
const after = withConfigTables(before);
writeFileSync(file, after);
console.log(before === after ? 'docs/configuration.md tables already up to date' : 'docs/configuration.md tables rewritten');
