// The test-vector framework: deterministic generation, verification that names the
// altered vector, the manifest, and the registry extension point.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  generateVectorFiles,
  registerVectorKind,
  registeredVectorKinds,
  vectorKind,
  verifyVectorFiles,
  formatVectorFailure,
  type Vector,
  type VectorValue,
} from '../src/vectors/index.js';

const BUILT_IN = ['aead', 'derivations', 'ed25519', 'hkdf', 'prg', 'quantize', 'shamir', 'x25519'];

let cached: Map<string, Uint8Array> | undefined;
async function files(): Promise<Map<string, Uint8Array>> {
  cached ??= await generateVectorFiles();
  return new Map([...cached].map(([k, v]) => [k, v.slice()]));
}

function parse(bytes: Uint8Array): { kind: string; vectors: Vector[] } {
  return JSON.parse(new TextDecoder().decode(bytes)) as { kind: string; vectors: Vector[] };
}

function encode(value: unknown): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
}

test('generation covers every built-in kind, is deterministic, and verifies', async () => {
  const a = await files();
  const b = await generateVectorFiles();
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [k, v] of a) assert.deepEqual(b.get(k), v, `${k} differs between two generations`);
  for (const kind of BUILT_IN) assert.ok(a.has(`v1/${kind}.json`), kind);
  assert.ok(a.has('v1/MANIFEST.json'));
  const report = await verifyVectorFiles(a);
  assert.deepEqual(report.failures, []);
  assert.equal(report.ok, true);
  assert.ok(report.vectors >= 60, `${report.vectors} vectors`);
});

/** Every leaf of `value` (strings, numbers, booleans) with a path and a mutated copy. */
function* mutations(value: VectorValue, path: string[] = []): Generator<{ path: string; mutate: (root: Vector) => void }> {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* mutations(value[i]!, [...path, String(i)]);
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (!(path.length === 0 && k === 'name')) yield* mutations(v, [...path, k]);
    return;
  }
  if (value === null) return;
  const set = (root: Vector, next: VectorValue) => {
    let node: Record<string, VectorValue> | VectorValue[] = root;
    for (const p of path.slice(0, -1)) node = (node as Record<string, VectorValue>)[p] as Record<string, VectorValue>;
    (node as Record<string, VectorValue>)[path[path.length - 1]!] = next;
  };
  let next: VectorValue;
  if (typeof value === 'boolean') next = !value;
  else if (typeof value === 'number') next = value + 1;
  else if (/^([0-9a-f]{2})+$/.test(value)) next = value.slice(0, -1) + (parseInt(value.slice(-1), 16) ^ 1).toString(16);
  else next = `${value}x`;
  yield { path: path.join('.'), mutate: (root) => set(root, next) };
}

test('recomputation alone catches an altered value in every field of every positive vector', async () => {
  let checked = 0;
  for (const [path, bytes] of await files()) {
    if (path.endsWith('MANIFEST.json')) continue;
    const file = parse(bytes);
    const def = vectorKind(file.kind)!;
    for (const vector of file.vectors) {
      // Rejection vectors (expect_error, valid: false) carry arbitrary invalid inputs: only
      // their verdict is recomputable; the manifest pins their bytes (next test).
      const negative = 'expect_error' in vector || vector.valid === false;
      // Built-in kinds: every field. Registered extensions (whole-round transcripts, whose
      // verification replays a round): ten fields spread over the vector, to bound the time.
      const all = [...mutations(vector)];
      const stride = BUILT_IN.includes(file.kind) ? 1 : Math.max(1, Math.ceil(all.length / 10));
      for (const m of all.filter((_, i) => i % stride === 0)) {
        if (negative && m.path !== 'expect_error' && m.path !== 'valid') continue;
        const copy = structuredClone(vector);
        m.mutate(copy);
        await assert.rejects(async () => def.verify(copy), `${file.kind} vector '${vector.name}' field ${m.path} altered but verify passed`);
        checked++;
      }
    }
  }
  assert.ok(checked > 300, `${checked} mutations checked`);
});

test('an altered vector is named even when recomputation cannot notice (manifest per-vector digest)', async () => {
  const original = await files();
  for (const [path, bytes] of original) {
    if (path.endsWith('MANIFEST.json')) continue;
    const file = parse(bytes);
    // The last vector of each file (rejection vectors are usually last), one hex char flipped.
    const target = file.vectors[file.vectors.length - 1]!;
    const [m] = [...mutations(target)].filter((x) => x.path !== 'expect_error' && x.path !== 'valid');
    if (!m) continue;
    m.mutate(target);
    const only = new Map([[path, encode(file)], ['v1/MANIFEST.json', original.get('v1/MANIFEST.json')!]]);
    const report = await verifyVectorFiles(only);
    assert.equal(report.ok, false);
    const named = report.failures.filter((f) => f.file === path && f.vector === target.name);
    assert.ok(named.length > 0, `${path}: no failure names '${target.name}': ${report.failures.map(formatVectorFailure).join('; ')}`);
    assert.ok(named.some((f) => /manifest/.test(f.message)));
  }
});

test('file-level problems: altered whitespace, unknown file, missing file, bad manifest, bad header, duplicate name', async () => {
  const check = async (mutate: (f: Map<string, Uint8Array>) => void, file: string, re: RegExp) => {
    const f = await files();
    mutate(f);
    const r = await verifyVectorFiles(f);
    assert.equal(r.ok, false);
    assert.ok(r.failures.some((x) => x.file === file && re.test(x.message)), `${file} ${re}: ${r.failures.map(formatVectorFailure).join('; ')}`);
  };
  await check((f) => f.set('v1/hkdf.json', new Uint8Array([...f.get('v1/hkdf.json')!, 0x20])), 'v1/hkdf.json', /SHA-256 differs/);
  await check((f) => f.set('v1/extra.json', encode({})), 'v1/extra.json', /not listed|unknown file/);
  await check((f) => f.set('v1/notes.txt', new Uint8Array(1)), 'v1/notes.txt', /unknown file/);
  await check((f) => f.delete('v1/prg.json'), 'v1/prg.json', /missing/);
  await check((f) => f.delete('v1/MANIFEST.json'), 'v1/MANIFEST.json', /missing/);
  await check((f) => f.set('v1/MANIFEST.json', new TextEncoder().encode('{')), 'v1/MANIFEST.json', /not valid JSON/);
  await check((f) => f.set('v1/aead.json', encode({ ...parse(f.get('v1/aead.json')!), suite: 'OTHER' })), 'v1/aead.json', /header/);
  await check((f) => f.set('v1/aead.json', new TextEncoder().encode('not json')), 'v1/aead.json', /not valid JSON/);
  await check((f) => {
    const x = parse(f.get('v1/x25519.json')!);
    x.vectors.push(structuredClone(x.vectors[0]!));
    f.set('v1/x25519.json', encode(x));
  }, 'v1/x25519.json', /duplicate vector name/);
  await check((f) => {
    const x = parse(f.get('v1/x25519.json')!);
    (x.vectors[0] as Record<string, VectorValue>).surprise = 1;
    f.set('v1/x25519.json', encode(x));
  }, 'v1/x25519.json', /unexpected field 'surprise'/);
  // Files outside v1/ (a README) are not vector files and are ignored.
  const f = await files();
  f.set('README.md', new Uint8Array(3));
  assert.equal((await verifyVectorFiles(f)).ok, true);
});

test('registry: names are validated, duplicates and the reserved name refused', () => {
  const def = { description: 'd', generate: () => [], verify: () => undefined };
  assert.throws(() => registerVectorKind('Bad Name', def), { code: 'ERR_INVALID_ARGUMENT' });
  assert.throws(() => registerVectorKind('x25519', def), /already registered/);
  assert.throws(() => registerVectorKind('manifest', def), /reserved/);
  assert.throws(() => registerVectorKind('no-verify', { description: 'd', generate: () => [] } as never), /verify/);
  assert.deepEqual(registeredVectorKinds().map(([k]) => k).filter((k) => BUILT_IN.includes(k)), BUILT_IN);
});

test('extension point: a newly registered kind is generated, verified and its failures named', async () => {
  registerVectorKind('zz-extension-test', {
    description: 'doubles a byte',
    generate: (rng) => [{ name: 'double', input: rng.fill(new Uint8Array(1))[0]!, output: 0 }].map((v) => ({ ...v, output: v.input * 2 })),
    verify: (v) => {
      if (v.output !== (v.input as number) * 2) throw new Error('output is not twice input');
    },
  });
  const f = await generateVectorFiles();
  assert.ok(f.has('v1/zz-extension-test.json'));
  assert.equal((await verifyVectorFiles(f)).ok, true);
  const file = parse(f.get('v1/zz-extension-test.json')!);
  (file.vectors[0] as Record<string, VectorValue>).output = -1;
  f.set('v1/zz-extension-test.json', encode(file));
  const r = await verifyVectorFiles(f);
  assert.ok(r.failures.some((x) => x.vector === 'double' && /twice/.test(x.message)));
});
