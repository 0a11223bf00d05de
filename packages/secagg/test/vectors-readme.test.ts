// test-vectors/README.md is the reference for the vector files: every file has its own
// section there, and every field that occurs in a file's vectors (nested fields included)
// is named in backticks in that section, so an implementation in another language never
// meets a field the README does not explain.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// dist/test/ -> packages/secagg -> repository root
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const vectorsDir = join(root, 'test-vectors', 'v1');
const readme = readFileSync(join(root, 'test-vectors', 'README.md'), 'utf8');

/** The README text from `### <file>` up to the next heading of level 2 or 3. */
function section(file: string): string | null {
  const start = readme.indexOf(`\n### ${file}\n`);
  if (start < 0) return null;
  const rest = readme.slice(start + 1);
  const next = rest.slice(1).search(/\n#{2,3} /);
  return next < 0 ? rest : rest.slice(0, next + 1);
}

/** Every object key that occurs in `value`, at any depth. */
function keysOf(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) value.forEach((v) => keysOf(v, out));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.add(k);
      keysOf(v, out);
    }
  }
  return out;
}

/** Whether `key` is written as a word inside some backtick span of `text`. */
function named(text: string, key: string): boolean {
  const word = new RegExp(`(^|[^A-Za-z0-9_])${key}($|[^A-Za-z0-9_])`);
  return [...text.matchAll(/`([^`\n]+)`/g)].some((m) => word.test(m[1]!));
}

const files = readdirSync(vectorsDir).filter((f) => f.endsWith('.json') && f !== 'MANIFEST.json').sort();

test('vector README: the vector directory holds the files the README indexes', () => {
  assert.ok(files.length >= 15, `expected the vector files, found ${files.join(', ')}`);
  for (const f of files) assert.match(readme, new RegExp(`^\\| \`${f.replace('.', '\\.')}\` \\|`, 'm'), `${f} is missing from the README's kind tables`);
});

test('vector README: every field of every vector file is explained in that file\'s section (or a section it refers to)', () => {
  const missing: string[] = [];
  for (const f of files) {
    const own = section(f);
    if (own === null) {
      missing.push(`${f}: no '### ${f}' section`);
      continue;
    }
    // A section may say a field means what it means in another file's section ("as in `transcript.json`").
    const referred = [...own.matchAll(/`([a-z0-9-]+\.json)`/g)].map((m) => m[1]!).filter((r) => r !== f);
    const texts = [own, ...referred.map((r) => section(r) ?? '')];
    const json = JSON.parse(readFileSync(join(vectorsDir, f), 'utf8')) as { vectors: unknown[] };
    for (const key of keysOf(json.vectors)) {
      if (key === 'name') continue; // the layout section explains it for every file
      if (!texts.some((t) => named(t, key))) missing.push(`${f}: field '${key}'`);
    }
  }
  assert.deepEqual(missing, []);
});

test('vector README: the file header and MANIFEST fields are explained', () => {
  const header = JSON.parse(readFileSync(join(vectorsDir, files[0]!), 'utf8')) as Record<string, unknown>;
  const manifest = JSON.parse(readFileSync(join(vectorsDir, 'MANIFEST.json'), 'utf8')) as { files: Record<string, Record<string, unknown>> };
  const layout = readme.slice(readme.indexOf('\n## Layout'), readme.indexOf('\n## Conventions'));
  const keys = [...Object.keys(header), ...Object.keys(manifest), ...Object.keys(Object.values(manifest.files)[0]!)];
  assert.deepEqual(keys.filter((k) => !named(layout, k)), []);
});
