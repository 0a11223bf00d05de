import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseCsvRecords } from '../../src/data/csv.js';
import { DataArgumentError, DatasetMissingError, TabularError } from '../../src/data/errors.js';
import { computeStandardisation, standardise } from '../../src/data/standardise.js';
import { loadCsv, loadJsonTable, parseCsv, parseJsonTable } from '../../src/data/tabular.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmeta-tab-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Asserts a TabularError with this code, row and column. */
function tabErr(code: string, row: number | undefined, column: string | undefined) {
  return (e: unknown) => {
    assert.ok(e instanceof TabularError, String(e));
    assert.equal(e.code, code, e.message);
    assert.equal(e.row, row, e.message);
    assert.equal(e.column, column, e.message);
    return true;
  };
}

const csv = 'age,diagnosis,bmi\n41,flu,22.5\n35,cold,19\n60,flu,31.25\n29,asthma,24\n';

test('CSV: label column mapped in sorted order, features in header order', () => {
  const t = parseCsv(csv, { labelColumn: 'diagnosis', name: 'clinic' });
  assert.deepEqual(t.labels, ['asthma', 'cold', 'flu']);
  assert.deepEqual(t.featureNames, ['age', 'bmi']);
  assert.deepEqual([...t.dataset.y], [2, 1, 2, 0]);
  assert.deepEqual([...t.dataset.x], [41, 22.5, 35, 19, 60, 31.25, 29, 24]);
  assert.deepEqual(t.dataset.shape, [2]);
  assert.equal(t.dataset.numClasses, 3);
  assert.equal(t.dataset.name, 'clinic');
  assert.equal(t.standardisation, undefined);
  // Chosen feature subset and order.
  assert.deepEqual([...parseCsv(csv, { labelColumn: 'diagnosis', featureColumns: ['bmi'] }).dataset.x], [22.5, 19, 31.25, 24]);
});

test('CSV: a shared label list fixes ids across sites; unknown labels are typed errors', () => {
  const shared = ['flu', 'cold', 'asthma', 'covid'];
  const t = parseCsv(csv, { labelColumn: 'diagnosis', labels: shared });
  assert.deepEqual([...t.dataset.y], [0, 1, 0, 2]);
  assert.equal(t.dataset.numClasses, 4);
  assert.throws(() => parseCsv(csv, { labelColumn: 'diagnosis', labels: ['flu', 'cold'] }),
    tabErr('TABULAR_UNKNOWN_LABEL', 4, 'diagnosis'));
});

test('CSV: integer labels keep their value as id; other numeric labels sort numerically', () => {
  const ints = parseCsv('x,y\n1,7\n2,3\n3,07\n', { labelColumn: 'y' });
  assert.deepEqual([...ints.dataset.y], [7, 3, 7]);
  assert.equal(ints.dataset.numClasses, 8);
  // A huge integer label does not allocate a class per integer below it.
  const big = parseCsv('x,y\n1,999999999\n2,3\n', { labelColumn: 'y' });
  assert.deepEqual(big.labels, ['3', '999999999']);
  assert.deepEqual([...big.dataset.y], [1, 0]);
  const dec = parseCsv('x,y\n1,10.5\n2,-1\n3,2.25\n', { labelColumn: 'y' });
  assert.deepEqual(dec.labels, ['-1', '2.25', '10.5']);
  assert.deepEqual([...dec.dataset.y], [2, 0, 1]);
});

test('CSV: missing and non-numeric cells name row and column', () => {
  assert.throws(() => parseCsv('a,b,y\n1,2,p\n3,,q\n', { labelColumn: 'y' }), tabErr('TABULAR_MISSING_VALUE', 2, 'b'));
  assert.throws(() => parseCsv('a,b,y\n1,NA,p\n', { labelColumn: 'y' }), tabErr('TABULAR_MISSING_VALUE', 1, 'b'));
  assert.throws(() => parseCsv('a,b,y\n1,2,p\n3,4,q\nx5,6,r\n', { labelColumn: 'y' }),
    (e: unknown) => tabErr('TABULAR_NON_NUMERIC', 3, 'a')(e) && /row 3, column "a": "x5" is not a number/.test((e as Error).message));
  for (const bad of ['0x10', '1e', '1,5', 'Infinity', '1e999']) {
    assert.throws(() => parseCsv(`a;y\n${bad};p\n`, { labelColumn: 'y' }, ';'), tabErr('TABULAR_NON_NUMERIC', 1, 'a'), bad);
  }
  assert.throws(() => parseCsv('a,y\n1,\n', { labelColumn: 'y' }), tabErr('TABULAR_MISSING_VALUE', 1, 'y'));
  assert.throws(() => parseCsv('a,y\n1,p,3\n', { labelColumn: 'y' }), tabErr('TABULAR_PARSE', 1, undefined));
  assert.throws(() => parseCsv(csv, { labelColumn: 'outcome' }), tabErr('TABULAR_UNKNOWN_COLUMN', undefined, 'outcome'));
  assert.throws(() => parseCsv(csv, { labelColumn: 'diagnosis', featureColumns: ['weight'] }), /no column "weight"/);
  assert.throws(() => parseCsv('a,a,y\n1,2,p\n', { labelColumn: 'y' }), /appears twice/);
  assert.throws(() => parseCsv('', { labelColumn: 'y' }), /no header/);
  assert.throws(() => parseCsv(csv, { labelColumn: 'diagnosis', featureColumns: ['diagnosis'] }), DataArgumentError);
  // Accepted number forms.
  assert.deepEqual([...parseCsv('a,y\n-1.5e2,p\n+.5,p\n 7 ,p\n', { labelColumn: 'y' }).dataset.x], [-150, 0.5, 7]);
});

test('CSV tokenizer: quotes, doubled quotes, CRLF, newlines in quotes, BOM, blank lines', () => {
  const text = '\ufeffname,note\r\n"Smith, J","said ""hi"""\r\n\r\nplain,"two\nlines"\n';
  const recs = parseCsvRecords(text);
  assert.deepEqual(recs.map((r) => r.fields), [['name', 'note'], ['Smith, J', 'said "hi"'], ['plain', 'two\nlines']]);
  assert.deepEqual(recs.map((r) => r.line), [1, 2, 4]);
  assert.deepEqual(parseCsvRecords('a,b').map((r) => r.fields), [['a', 'b']]);
  assert.deepEqual(parseCsvRecords('a,\n').map((r) => r.fields), [['a', '']]);
  assert.throws(() => parseCsvRecords('a,"b\n'), (e: unknown) => e instanceof TabularError && /unterminated quoted field starting on line 1/.test(e.message));
  assert.throws(() => parseCsvRecords('a,b"c\n'), /quote inside an unquoted field/);
  assert.throws(() => parseCsvRecords('"a"b\n'), /after a closing quote/);
  assert.throws(() => parseCsvRecords('a', '"'), DataArgumentError);
  // A quoted feature cell is still numeric.
  assert.deepEqual([...parseCsv('a,y\n"3.5",p\n', { labelColumn: 'y' }).dataset.x], [3.5]);
});

test('standardisation: own statistics returned; shared statistics applied as given', () => {
  const t = parseCsv(csv, { labelColumn: 'diagnosis', standardise: true });
  const s = t.standardisation!;
  assert.ok(Math.abs(s.mean[0]! - 41.25) < 1e-9);
  const ages = [41, 35, 60, 29];
  const sd = Math.sqrt(ages.reduce((a, v) => a + (v - 41.25) ** 2, 0) / 4);
  assert.ok(Math.abs(s.std[0]! - sd) < 1e-9);
  for (let j = 0; j < 2; j++) {
    const col = [0, 1, 2, 3].map((i) => t.dataset.x[i * 2 + j]!);
    assert.ok(Math.abs(col.reduce((a, b) => a + b, 0)) < 1e-5);
    assert.ok(Math.abs(col.reduce((a, b) => a + b * b, 0) / 4 - 1) < 1e-5);
  }
  // Another site applies the same statistics (round-tripped through JSON).
  const shared = JSON.parse(JSON.stringify(s)) as typeof s;
  const other = parseCsv('age,diagnosis,bmi\n41.25,flu,0\n', { labelColumn: 'diagnosis', standardise: shared });
  assert.ok(Math.abs(other.dataset.x[0]!) < 1e-6);
  assert.ok(Math.abs(other.dataset.x[1]! + s.mean[1]! / s.std[1]!) < 1e-5);
  assert.deepEqual(other.standardisation, s);
  // A constant feature keeps std 1 instead of dividing by zero.
  const c = parseCsv('a,b,y\n5,1,p\n5,2,q\n', { labelColumn: 'y', standardise: true });
  assert.deepEqual(c.standardisation!.std[0], 1);
  assert.deepEqual([c.dataset.x[0], c.dataset.x[2]], [0, 0]);
  assert.throws(() => standardise(c.dataset, { mean: [0], std: [1] }), /length 2/);
  assert.throws(() => standardise(c.dataset, { mean: [0, 0], std: [1, 0] }), /std\[1\] must be a finite number > 0/);
  assert.deepEqual(computeStandardisation(parseCsv('a,b,y\n5,1,p\n5,2,q\n', { labelColumn: 'y' }).dataset).mean, [5, 1.5]);
});

test('JSON: array of records and {x, y}; bad shapes are typed errors', () => {
  const recs = [{ age: 41, bmi: 22.5, dx: 'flu' }, { age: 35, bmi: 19, dx: 'cold' }];
  const t = parseJsonTable(recs, { labelColumn: 'dx' });
  assert.deepEqual(t.featureNames, ['age', 'bmi']);
  assert.deepEqual([...t.dataset.x], [41, 22.5, 35, 19]);
  assert.deepEqual(t.labels, ['cold', 'flu']);
  assert.deepEqual([...t.dataset.y], [1, 0]);
  assert.throws(() => parseJsonTable([{ age: 41, dx: 'flu' }, { dx: 'cold' }], { labelColumn: 'dx' }),
    tabErr('TABULAR_MISSING_VALUE', 2, 'age'));
  assert.throws(() => parseJsonTable([{ age: 'old', dx: 'flu' }], { labelColumn: 'dx' }), tabErr('TABULAR_NON_NUMERIC', 1, 'age'));
  assert.throws(() => parseJsonTable([{ age: true, dx: 'flu' }], { labelColumn: 'dx' }), tabErr('TABULAR_NON_NUMERIC', 1, 'age'));
  assert.throws(() => parseJsonTable([{ age: null, dx: 'flu' }], { labelColumn: 'dx' }), tabErr('TABULAR_MISSING_VALUE', 1, 'age'));
  assert.throws(() => parseJsonTable([3], { labelColumn: 'dx' }), tabErr('TABULAR_PARSE', 1, undefined));
  assert.throws(() => parseJsonTable(recs), /labelColumn is required/);

  const xy = parseJsonTable({ x: [[1, 2], [3, 4], [5, 6]], y: [0, 2, 0] });
  assert.deepEqual(xy.featureNames, ['f0', 'f1']);
  assert.deepEqual([...xy.dataset.y], [0, 2, 0]);
  assert.equal(xy.dataset.numClasses, 3);
  assert.throws(() => parseJsonTable({ x: [[1, 2], [3]], y: [0, 1] }), tabErr('TABULAR_PARSE', 2, undefined));
  assert.throws(() => parseJsonTable({ x: [[1]], y: [0, 1] }), /1 rows but y has 2/);
  assert.throws(() => parseJsonTable({ x: [[NaN]], y: [0] }), tabErr('TABULAR_NON_NUMERIC', 1, 'f0'));
  assert.throws(() => parseJsonTable('nope'), tabErr('TABULAR_PARSE', undefined, undefined));
});

test('files: loadCsv and loadJsonTable read from disk; missing files and bad JSON are typed', async () => {
  const c = join(dir, 'site.csv');
  writeFileSync(c, csv);
  const t = await loadCsv(c, { labelColumn: 'diagnosis' });
  assert.equal(t.dataset.count, 4);
  assert.equal(t.dataset.name, 'site.csv');
  const j = join(dir, 'site.json');
  writeFileSync(j, JSON.stringify({ x: [[0.5]], y: ['a'] }));
  assert.deepEqual((await loadJsonTable(j)).labels, ['a']);
  writeFileSync(j, '{"x": [');
  await assert.rejects(loadJsonTable(j), tabErr('TABULAR_PARSE', undefined, undefined));
  await assert.rejects(loadCsv(join(dir, 'absent.csv'), { labelColumn: 'y' }), DatasetMissingError);
});
