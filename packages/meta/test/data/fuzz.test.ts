// Hostile input never crashes a parser: random and mutated bytes, text and JSON either
// parse or throw a DataError (never a TypeError/RangeError from deep inside, never a hang).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseCifarBatch } from '../../src/data/cifar.js';
import { DataError } from '../../src/data/errors.js';
import { idxPairToDataset, parseIdx } from '../../src/data/idx.js';
import { parseCsv, parseJsonTable } from '../../src/data/tabular.js';
import { encodeIdx } from './idx-writer.js';

function onlyDataErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DataError, `non-DataError thrown: ${String(e)}`);
    assert.match(e.code, /^[A-Z_]+$/);
  }
}

const validImages = encodeIdx('uint8', [2, 3, 3], Array.from({ length: 18 }, (_, i) => i * 9));
const validLabels = encodeIdx('uint8', [2], [1, 0]);

test('parseIdx: random bytes and mutated valid files give a tensor or a DataError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => onlyDataErrors(() => parseIdx(bytes, 'f', 1 << 16))),
    { numRuns: 500 });
  fc.assert(fc.property(
    fc.array(fc.tuple(fc.nat(validImages.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
    fc.nat(validImages.length),
    (edits, cut) => {
      const bytes = Uint8Array.from(validImages.subarray(0, Math.max(cut, validImages.length - 3)));
      for (const [at, v] of edits) if (at < bytes.length) bytes[at] = v;
      onlyDataErrors(() => idxPairToDataset(parseIdx(bytes, 'img', 1 << 16), parseIdx(validLabels, 'lbl'), 'img', 'lbl'));
    }), { numRuns: 500 });
});

test('parseCifarBatch: random sizes and labels give a dataset or a DataError', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 3 * 3074 }), fc.integer({ min: 0, max: 255 }),
    fc.constantFrom('cifar10', 'cifar100-fine', 'cifar100-coarse') , (size, fill, variant) => {
      onlyDataErrors(() => parseCifarBatch(new Uint8Array(size).fill(fill), 'b', { variant }));
    }), { numRuns: 200 });
});

test('parseCsv: arbitrary text gives a table or a DataError', () => {
  const csvish = fc.array(fc.constantFrom('a', 'y', '1', '2.5', ',', ',', '"', '\n', '\r\n', ' ', 'NA', '-', 'e', '.'),
    { maxLength: 40 }).map((parts) => parts.join(''));
  fc.assert(fc.property(fc.oneof(csvish, fc.string()), (text) =>
    onlyDataErrors(() => parseCsv(text, { labelColumn: 'y' }))), { numRuns: 1000 });
  // The structured generator does produce successes too (the property is not vacuous).
  assert.equal(parseCsv('a,y\n1,2\n', { labelColumn: 'y' }).dataset.count, 1);
});

test('parseJsonTable: arbitrary JSON values give a table or a DataError', () => {
  fc.assert(fc.property(fc.jsonValue(), fc.constantFrom(undefined, 'y', 'a'), (value, labelColumn) =>
    onlyDataErrors(() => parseJsonTable(value, labelColumn === undefined ? {} : { labelColumn }))), { numRuns: 1000 });
  fc.assert(fc.property(
    fc.array(fc.record({ a: fc.oneof(fc.double(), fc.string(), fc.constant(null)), y: fc.oneof(fc.integer(), fc.string()) }), { maxLength: 5 }),
    (records) => onlyDataErrors(() => parseJsonTable(records, { labelColumn: 'y' }))), { numRuns: 500 });
});
