// `fedmeta vectors verify|generate` on a copy of the committed test-vectors/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultVectorsDir, run } from '../src/commands/vectors.js';
import { CliError } from '../src/errors.js';

// packages/cli/dist/test -> repository root
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const COMMITTED = join(REPO, 'test-vectors');

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await run(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

function copyVectors(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-vectors-'));
  cpSync(COMMITTED, dir, { recursive: true });
  return dir;
}

test('verify passes on a copy of the committed vectors', async () => {
  const dir = copyVectors();
  try {
    const r = await capture(['verify', dir]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^ok: \d+ vectors in \d+ files verified/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('one flipped byte in one vector: non-zero exit, and the message names that vector and file', async () => {
  const dir = copyVectors();
  try {
    const path = join(dir, 'v1', 'prg.json');
    const text = readFileSync(path, 'utf8');
    const file = JSON.parse(text) as { vectors: Array<{ name: string; mask_prefix?: string }> };
    const target = file.vectors.find((v) => v.name === 'expand-8bit-3')!;
    const at = text.indexOf(target.mask_prefix!) + 5;
    const flipped = text.slice(0, at) + (text[at] === '0' ? '1' : '0') + text.slice(at + 1);
    writeFileSync(path, flipped);
    const r = await capture(['verify', dir]);
    assert.equal(r.code, 1);
    assert.match(r.err, /v1\/prg\.json: vector 'expand-8bit-3': .*mask_prefix/);
    assert.match(r.err, /v1\/prg\.json: vector 'expand-8bit-3': .*manifest/);
    assert.doesNotMatch(r.err, /vector '(?!expand-8bit-3)/, 'only the altered vector is blamed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a flipped byte in a rejection vector is still named (per-vector manifest digest)', async () => {
  const dir = copyVectors();
  try {
    const path = join(dir, 'v1', 'x25519.json');
    const text = readFileSync(path, 'utf8');
    // The all-zero low-order point -> u = 1, another low-order point: still rejected, so only the manifest notices.
    const at = text.indexOf('"peer_public_key": "' + '00'.repeat(32));
    assert.ok(at > 0);
    const i = at + '"peer_public_key": "'.length + 1;
    writeFileSync(path, text.slice(0, i) + '1' + text.slice(i + 1));
    const r = await capture(['verify', dir]);
    assert.equal(r.code, 1);
    assert.match(r.err, /v1\/x25519\.json: vector 'reject-low-order-0': .*manifest/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('generate reproduces the committed files byte for byte; --check agrees', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-vectors-gen-'));
  try {
    const r = await capture(['generate', dir]);
    assert.equal(r.code, 0, r.err);
    const produced = readdirSync(join(dir, 'v1')).sort();
    assert.deepEqual(produced, readdirSync(join(COMMITTED, 'v1')).sort());
    for (const name of produced) {
      assert.ok(readFileSync(join(dir, 'v1', name)).equals(readFileSync(join(COMMITTED, 'v1', name))), `${name} differs from the committed file`);
    }
    const check = await capture(['generate', '--check', COMMITTED]);
    assert.equal(check.code, 0, check.err);
    writeFileSync(join(dir, 'v1', 'hkdf.json'), '{}');
    const bad = await capture(['generate', '--check', dir]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /v1\/hkdf\.json: differs/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usage errors are CliErrors; no sub-command prints usage and exits 2', async () => {
  assert.equal((await capture([])).code, 2);
  assert.equal((await capture(['--help'])).code, 0);
  await assert.rejects(run(['bogus']), (e: unknown) => e instanceof CliError && /unknown sub-command/.test(e.message));
  await assert.rejects(run(['verify', 'a', 'b']), (e: unknown) => e instanceof CliError && /at most one directory/.test(e.message));
  await assert.rejects(run(['verify', '--nope']), CliError);
  await assert.rejects(run(['verify', '--check']), /only applies to 'generate'/);
  await assert.rejects(run(['verify', join(tmpdir(), 'no-such-fedmeta-dir')]), (e: unknown) => e instanceof CliError && e.exitCode === 1 && /not a directory/.test(e.message));
});

test('the default directory is the checkout\'s test-vectors/, found from a sub-directory', () => {
  assert.equal(defaultVectorsDir(join(REPO, 'packages', 'cli', 'src')), COMMITTED);
});

test('the runtime kinds (ddg-encoding for 08, transport-frames for 09) are in the one manifest, verify, and an altered frame or encoding is named', async () => {
  const dir = copyVectors();
  try {
    const manifest = JSON.parse(readFileSync(join(dir, 'v1', 'MANIFEST.json'), 'utf8')) as { files: Record<string, unknown> };
    for (const kind of ['ddg-encoding', 'transport-frames', 'transcript-faults', 'decode-errors', 'server-rejections', 'client-aborts']) {
      assert.ok(`${kind}.json` in manifest.files, `${kind}.json in MANIFEST.json`);
    }
    for (const [file, field] of [['transport-frames.json', 'frames'], ['ddg-encoding.json', 'encoded']] as const) {
      const path = join(dir, 'v1', file);
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as { vectors: Array<Record<string, unknown>> };
      const target = parsed.vectors.find((v) => field in v)!;
      const value = JSON.stringify(target[field]);
      const text = readFileSync(path, 'utf8');
      // flip one hex digit inside the field's first hex string
      const at = text.indexOf(value.slice(0, 40).replace(/^\["?|^"/, '')) + 10;
      writeFileSync(path, text.slice(0, at) + (text[at] === '0' ? '1' : '0') + text.slice(at + 1));
      const r = await capture(['verify', dir]);
      assert.equal(r.code, 1);
      assert.match(r.err, new RegExp(`v1/${file.replace('.', '\\.')}: vector '${target.name as string}': .*${field}`));
      writeFileSync(path, text);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
