import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DataSchema } from '@fedmeta/transport';
import { conformData } from '../src/schema.js';
import type { ClientDataOptions } from '../src/options.js';

const schema: DataSchema = { kind: 'table', labelColumn: 'dx', featureColumns: ['a', 'b', 'c'], classNames: ['neg', 'pos'] };
const set = (rows: number[][], y: number[], numClasses: number) => ({ x: Float32Array.from(rows.flat()), y: Int32Array.from(y), count: rows.length, shape: [rows[0]!.length], numClasses });

test('schema: columns in another order are put in the federation order, and local label ids become the federation ids', () => {
  // This site's file: columns c, a, b; its labels numbered pos = 0, neg = 1.
  const data: ClientDataOptions = { id: 1, support: set([[3, 1, 2], [30, 10, 20]], [0, 1], 2), query: set([[6, 4, 5]], [1], 2), columns: ['c', 'a', 'b'], labelColumn: 'dx', labels: ['pos', 'neg'] };
  const out = conformData(data, schema);
  assert.deepEqual([...out.support.x], [1, 2, 3, 10, 20, 30]);
  assert.deepEqual([...out.query.x], [4, 5, 6]);
  assert.deepEqual([...out.support.y], [1, 0]);
  assert.deepEqual(out.columns, ['a', 'b', 'c']);
});

test('schema: missing, extra and unknown columns and labels are refused with their names', () => {
  const data: ClientDataOptions = { id: 1, support: set([[1, 2, 9]], [0], 2), query: set([[1, 2, 9]], [0], 2), columns: ['a', 'b', 'z'], labelColumn: 'diagnosis', labels: ['neg', 'maybe'] };
  assert.throws(
    () => conformData(data, schema),
    (e: Error & { code?: string }) =>
      e.code === 'ERR_SCHEMA_MISMATCH' &&
      /label column "diagnosis", the federation's is "dx"/.test(e.message) &&
      /missing column "c"/.test(e.message) &&
      /extra column "z"/.test(e.message) &&
      /label value "maybe" not among the federation's classes \(neg, pos\)/.test(e.message),
  );
  const image: ClientDataOptions = { id: 1, support: set([[1, 2]], [0], 2), query: set([[1, 2]], [0], 2) };
  assert.throws(() => conformData(image, schema), /has no named columns/);
  assert.throws(() => conformData(image, { kind: 'tensor', shape: [784], numClasses: 10 }), /shape \[2\], the federation's model takes \[784\]/);
});
