import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { DataError, DataFormatError, DatasetMissingError } from '../../src/data/errors.js';
import { loadIdxPair, parseIdx, readIdxFile } from '../../src/data/idx.js';
import { encodeIdx, type Dtype } from './idx-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmeta-idx-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** Asserts a promise (or function) fails with a DataError of the given code. */
async function rejectsWith(fn: () => unknown, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(async () => fn(), (e: unknown) => {
    assert.ok(e instanceof DataError, `expected a DataError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

// 3 images of 2x3 pixels, pixel values i*10+p; labels 2, 0, 1.
const pixels = Array.from({ length: 18 }, (_, k) => Math.floor(k / 6) * 10 + (k % 6));
const images = encodeIdx('uint8', [3, 2, 3], pixels);
const labels = encodeIdx('uint8', [3], [2, 0, 1]);

test('loadIdxPair reads plain and gzip files alike: shape [rows, cols, 1], values / 255', async () => {
  for (const gz of [false, true]) {
    const enc = (b: Uint8Array) => (gz ? gzipSync(b) : b);
    const ds = await loadIdxPair(write(`img${gz}`, enc(images)), write(`lbl${gz}`, enc(labels)), { numClasses: 3 });
    assert.deepEqual(ds.shape, [2, 3, 1]);
    assert.equal(ds.count, 3);
    assert.equal(ds.numClasses, 3);
    assert.deepEqual([...ds.y], [2, 0, 1]);
    assert.deepEqual([...ds.x], pixels.map((p) => Math.fround(p / 255)));
    assert.equal(ds.name, `img${gz}`);
  }
  // numClasses defaults to the largest label + 1; rank-4 images keep their channels.
  const rgb = encodeIdx('uint8', [2, 1, 2, 3], Array.from({ length: 12 }, (_, i) => i * 20));
  const ds = await loadIdxPair(write('rgb', rgb), write('rgbl', encodeIdx('uint8', [2], [0, 4])));
  assert.deepEqual(ds.shape, [1, 2, 3]);
  assert.equal(ds.numClasses, 5);
});

test('parseIdx round-trips every dtype, big-endian (property, plain and gzip)', async () => {
  const gens: Record<Dtype, fc.Arbitrary<number>> = {
    uint8: fc.integer({ min: 0, max: 255 }),
    int8: fc.integer({ min: -128, max: 127 }),
    int16: fc.integer({ min: -32768, max: 32767 }),
    int32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    float32: fc.float({ noNaN: true }).map(Math.fround),
    float64: fc.double({ noNaN: true }),
  };
  for (const [dtype, gen] of Object.entries(gens) as [Dtype, fc.Arbitrary<number>][]) {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }).chain((dims) =>
        fc.tuple(fc.constant(dims), fc.array(gen, { minLength: dims.reduce((a, b) => a * b, 1), maxLength: dims.reduce((a, b) => a * b, 1) }), fc.boolean())),
      async ([dims, values, gz]) => {
        const bytes = encodeIdx(dtype, dims, values);
        const t = gz ? await readIdxFile(write(`rt-${dtype}`, gzipSync(bytes))) : parseIdx(bytes);
        assert.equal(t.dtype, dtype);
        assert.deepEqual(t.dims, dims);
        assert.deepEqual([...t.data], values);
      }), { numRuns: 25 });
  }
  // A known big-endian layout: int16 258 is 01 02, float32 1.0 is 3f 80 00 00.
  assert.deepEqual([...parseIdx(Uint8Array.from([0, 0, 0x0b, 1, 0, 0, 0, 1, 1, 2])).data], [258]);
  assert.deepEqual([...parseIdx(Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0x3f, 0x80, 0, 0])).data], [1]);
});

test('corrupt headers are typed errors: bad magic, unknown dtype, rank 0, short header', async () => {
  const bad = Uint8Array.from(images);
  bad[0] = 0x50;
  await rejectsWith(() => parseIdx(bad, 'x'), 'IDX_BAD_MAGIC', /x: magic starts with 50 00/);
  await rejectsWith(() => readIdxFile(write('badmagic.gz', gzipSync(bad))), 'IDX_BAD_MAGIC');
  const dtype = Uint8Array.from(images);
  dtype[2] = 0x0a;
  await rejectsWith(() => parseIdx(dtype), 'IDX_UNSUPPORTED_DTYPE', /0a/);
  await rejectsWith(() => parseIdx(Uint8Array.from([0, 0, 8, 0])), 'IDX_DIMS_MISMATCH', /rank 0/);
  await rejectsWith(() => parseIdx(Uint8Array.from([0, 0, 8])), 'IDX_TRUNCATED');
  await rejectsWith(() => parseIdx(images.subarray(0, 10)), 'IDX_TRUNCATED', /3 dimensions/);
});

test('data shorter or longer than the dimensions declare is a typed error', async () => {
  await rejectsWith(() => parseIdx(images.subarray(0, images.length - 1)), 'IDX_TRUNCATED', /declare 18 data bytes but only 17/);
  await rejectsWith(() => readIdxFile(write('trunc', images.subarray(0, images.length - 5))), 'IDX_TRUNCATED');
  await rejectsWith(() => parseIdx(Uint8Array.from([...images, 0])), 'IDX_TRAILING_DATA', /1 bytes follow/);
  // A header declaring 4 GB is refused from the header alone, before allocating.
  const huge = Uint8Array.from([0, 0, 8, 3, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0]);
  await rejectsWith(() => parseIdx(huge, 'huge', 1 << 20), 'IDX_DIMS_MISMATCH', /over the 1048576-byte limit/);
});

test('broken gzip: cut-off stream -> IDX_TRUNCATED, corrupted stream -> IDX_BAD_GZIP', async () => {
  const gz = gzipSync(images);
  await rejectsWith(() => readIdxFile(write('cut.gz', gz.subarray(0, gz.length - 12))), 'IDX_TRUNCATED', /gzip stream ends early/);
  const corrupt = Uint8Array.from(gz);
  for (let i = 10; i < corrupt.length - 8; i++) corrupt[i] = corrupt[i]! ^ 0x5a;
  await rejectsWith(() => readIdxFile(write('corrupt.gz', corrupt)), 'IDX_BAD_GZIP');
  // A small file that inflates past the cap is refused while inflating (gzip bomb).
  const bomb = gzipSync(encodeIdx('uint8', [4 << 20], new Uint8Array(4 << 20)));
  assert.ok(bomb.length < 10_000);
  await rejectsWith(() => readIdxFile(write('bomb.gz', bomb), 1 << 20), 'IDX_DIMS_MISMATCH', /inflates to more than the 1048576-byte limit/);
});

test('image/label pairs that do not fit together are typed errors', async () => {
  const img = write('pair-img', images);
  await rejectsWith(() => loadIdxPair(img, write('l4', encodeIdx('uint8', [4], [0, 1, 2, 0]))), 'IDX_COUNT_MISMATCH', /4 labels for 3 images/);
  await rejectsWith(() => loadIdxPair(img, write('l2d', encodeIdx('uint8', [3, 1], [0, 1, 2]))), 'IDX_DIMS_MISMATCH', /rank 1/);
  await rejectsWith(() => loadIdxPair(write('i2d', encodeIdx('uint8', [3, 6], pixels)), write('l3', labels)), 'IDX_DIMS_MISMATCH', /rank 3/);
  await rejectsWith(() => loadIdxPair(write('f32', encodeIdx('float32', [3, 2, 3], pixels)), write('l3b', labels)), 'IDX_UNSUPPORTED_DTYPE', /uint8/);
  await rejectsWith(() => loadIdxPair(img, write('l3c', labels), { numClasses: 2 }), 'DATA_BAD_LABEL', /label 2 at index 0/);
  await assert.rejects(loadIdxPair(join(dir, 'nope'), img, { hint: 'get it somewhere' }),
    (e: unknown) => e instanceof DatasetMissingError && e.code === 'DATA_FILE_MISSING' && /get it somewhere/.test(e.message));
  assert.ok(DataFormatError);
});
