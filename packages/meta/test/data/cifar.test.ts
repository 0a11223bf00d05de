import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadCifarBatches, parseCifarBatch } from '../../src/data/cifar.js';
import { DataError, DatasetMissingError } from '../../src/data/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmeta-cifar-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Pixel value of image i at (row, col, channel), distinct per position modulo 256. */
const pixel = (i: number, r: number, c: number, ch: number) => (i * 7 + r * 3 + c * 5 + ch * 101) % 256;

/** Writes records the way the CIFAR binary format describes: labels, then R, G, B planes row by row. */
function batch(labels: number[][]): Uint8Array {
  const rec = labels[0]!.length + 3072;
  const out = new Uint8Array(labels.length * rec);
  labels.forEach((ls, i) => {
    out.set(ls, i * rec);
    for (let ch = 0; ch < 3; ch++) {
      for (let r = 0; r < 32; r++) {
        for (let c = 0; c < 32; c++) out[i * rec + ls.length + ch * 1024 + r * 32 + c] = pixel(i, r, c, ch);
      }
    }
  });
  return out;
}

test('CIFAR-10 records become HWC [32,32,3] images in [0,1] with their labels', async () => {
  const path = join(dir, 'data_batch_1.bin');
  writeFileSync(path, batch([[3], [0], [9]]));
  const ds = await loadCifarBatches([path]);
  assert.equal(ds.count, 3);
  assert.deepEqual(ds.shape, [32, 32, 3]);
  assert.equal(ds.numClasses, 10);
  assert.deepEqual([...ds.y], [3, 0, 9]);
  for (const [i, r, c, ch] of [[0, 0, 0, 0], [1, 5, 7, 2], [2, 31, 31, 1], [2, 0, 31, 0], [1, 31, 0, 2]] as const) {
    assert.equal(ds.x[i * 3072 + (r * 32 + c) * 3 + ch], Math.fround(pixel(i, r, c, ch) / 255), `${i},${r},${c},${ch}`);
  }
  // Two files are concatenated in order.
  const path2 = join(dir, 'data_batch_2.bin');
  writeFileSync(path2, batch([[1]]));
  const both = await loadCifarBatches([path, path2]);
  assert.deepEqual([...both.y], [3, 0, 9, 1]);
});

test('CIFAR-100 records: coarse or fine label', () => {
  const bytes = batch([[4, 77], [19, 2]]);
  assert.deepEqual([...parseCifarBatch(bytes, 'b', { variant: 'cifar100-fine' }).y], [77, 2]);
  const coarse = parseCifarBatch(bytes, 'b', { variant: 'cifar100-coarse' });
  assert.deepEqual([...coarse.y], [4, 19]);
  assert.equal(coarse.numClasses, 20);
  assert.equal(coarse.x[1 * 3072 + 3], Math.fround(pixel(1, 0, 1, 0) / 255));
});

test('truncated or empty files and bad labels are typed errors', async () => {
  const bytes = batch([[1], [2]]);
  const cut = join(dir, 'cut.bin');
  writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
  await assert.rejects(loadCifarBatches([cut]), (e: unknown) =>
    e instanceof DataError && e.code === 'CIFAR_TRUNCATED' && /1 complete, 2973 bytes left over/.test(e.message) && e.message.includes(cut));
  assert.throws(() => parseCifarBatch(new Uint8Array(0)), (e: unknown) => e instanceof DataError && e.code === 'CIFAR_TRUNCATED');
  // A CIFAR-100 file read as CIFAR-10 does not divide into 3073-byte records.
  assert.throws(() => parseCifarBatch(batch([[1, 2]])), /CIFAR|3073-byte/);
  assert.throws(() => parseCifarBatch(batch([[1], [10]]), 'f'), (e: unknown) =>
    e instanceof DataError && e.code === 'DATA_BAD_LABEL' && /record 1 has label 10/.test(e.message));
  await assert.rejects(loadCifarBatches([join(dir, 'absent.bin')]), DatasetMissingError);
  await assert.rejects(loadCifarBatches([]), /paths must be/);
});
