import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { classCounts } from '../../src/data/dataset.js';
import { DatasetMissingError } from '../../src/data/errors.js';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../../src/data/fashion-mnist.js';
import { encodeIdx } from './idx-writer.js';

const present = existsSync(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'));
const dir = mkdtempSync(join(tmpdir(), 'fedmeta-fashion-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the real Fashion-MNIST test split: 10,000 images, 1,000 per class, [28,28,1] in [0,1]', {
  skip: present ? false : `${FASHION_MNIST_DIR} is absent (apt-get install dataset-fashion-mnist)`,
}, async () => {
  const ds = await loadFashionMnist({ split: 'test' });
  assert.equal(ds.count, 10000);
  assert.deepEqual(ds.shape, [28, 28, 1]);
  assert.equal(ds.name, 'fashion-mnist-test');
  assert.deepEqual(classCounts(ds), new Array(10).fill(1000));
  let sum = 0;
  let max = 0;
  for (const v of ds.x) {
    sum += v;
    if (v > max) max = v;
  }
  // Fashion-MNIST's published mean pixel is ~0.286 (test split ~0.287); max is 255/255.
  assert.ok(Math.abs(sum / ds.x.length - 0.2868) < 0.01, `mean ${sum / ds.x.length}`);
  assert.equal(max, 1);
  assert.equal(await loadFashionMnist({ split: 'test' }), ds, 'cached per process');
});

test('a missing directory is a DatasetMissingError that names the apt package', async () => {
  await assert.rejects(loadFashionMnist({ split: 'train', dir: join(dir, 'absent') }), (e: unknown) =>
    e instanceof DatasetMissingError && e.code === 'DATA_FILE_MISSING' &&
      /train-images-idx3-ubyte\.gz/.test(e.message) && /apt-get install dataset-fashion-mnist/.test(e.message));
  await assert.rejects(loadFashionMnist({ split: 'val' as never }), /options.split/);
});

test('uncompressed files in a custom dir are found too', async () => {
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), encodeIdx('uint8', [2, 28, 28], new Array(2 * 784).fill(255)));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(encodeIdx('uint8', [2], [9, 3])));
  const ds = await loadFashionMnist({ split: 'test', dir, cache: false });
  assert.deepEqual([...ds.y], [9, 3]);
  assert.equal(ds.numClasses, 10);
  assert.equal(ds.x[0], 1);
});
