import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DataArgumentError, DatasetMissingError, TabularError } from '../../src/data/errors.js';
import { loadMnist } from '../../src/data/mnist.js';
import { type DataSource, loadDataSource } from '../../src/data/source.js';
import { encodeIdx } from './idx-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmeta-src-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('every format loads through loadDataSource', async () => {
  assert.equal((await loadDataSource({ format: 'mnist' })).dataset, loadMnist());

  const images = join(dir, 'i.gz');
  const labels = join(dir, 'l');
  writeFileSync(images, gzipSync(encodeIdx('uint8', [2, 2, 2], [0, 255, 0, 255, 1, 2, 3, 4])));
  writeFileSync(labels, encodeIdx('uint8', [2], [1, 0]));
  const idx = await loadDataSource({ format: 'idx', images, labels, numClasses: 4 });
  assert.equal(idx.dataset.numClasses, 4);
  assert.deepEqual([...idx.dataset.y], [1, 0]);

  const cifar = join(dir, 'c.bin');
  writeFileSync(cifar, new Uint8Array(2 * 3074).fill(3));
  const c = await loadDataSource({ format: 'cifar', files: [cifar], variant: 'cifar100-fine' });
  assert.equal(c.dataset.count, 2);
  assert.equal(c.dataset.numClasses, 100);

  const csv = join(dir, 't.csv');
  writeFileSync(csv, 'a;b;y\n1;2;no\n3;4;yes\n');
  const t = await loadDataSource({ format: 'csv', path: csv, delimiter: ';', labelColumn: 'y', standardise: true });
  assert.deepEqual(t.labels, ['no', 'yes']);
  assert.deepEqual(t.featureNames, ['a', 'b']);
  assert.deepEqual(t.standardisation?.mean, [2, 3]);

  const json = join(dir, 't.json');
  writeFileSync(json, JSON.stringify([{ v: 1, k: 'b' }, { v: 2, k: 'a' }]));
  const j = await loadDataSource({ format: 'json', path: json, labelColumn: 'k' });
  assert.deepEqual([...j.dataset.y], [1, 0]);

  await assert.rejects(loadDataSource({ format: 'fashion-mnist', split: 'test', dir: join(dir, 'none') }), DatasetMissingError);
});

test('bad sources are typed errors naming the field', async () => {
  await assert.rejects(loadDataSource({ format: 'parquet' } as unknown as DataSource), (e: unknown) =>
    e instanceof DataArgumentError && /source.format must be one of mnist, fashion-mnist, idx, cifar, csv, json/.test(e.message));
  await assert.rejects(loadDataSource({ format: 'csv', labelColumn: 'y' } as unknown as DataSource), /source.path must be a non-empty string/);
  await assert.rejects(loadDataSource({ format: 'idx', images: 'x' } as unknown as DataSource), /source.labels/);
  await assert.rejects(loadDataSource(null as unknown as DataSource), /source must be an options object/);
  const csv = join(dir, 'bad.csv');
  writeFileSync(csv, 'a,y\n1,p\n,q\n');
  await assert.rejects(loadDataSource({ format: 'csv', path: csv, labelColumn: 'y' }), TabularError);
});
