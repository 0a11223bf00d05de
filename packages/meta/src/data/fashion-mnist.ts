// Fashion-MNIST (Xiao et al. 2017; 60k train + 10k test, 28x28 grey, 10 classes) from
// the IDX files Debian's `dataset-fashion-mnist` package installs.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkObject } from './checks.js';
import { type Dataset } from './dataset.js';
import { DataArgumentError, DatasetMissingError } from './errors.js';
import { loadIdxPair } from './idx.js';

/** Where Debian's dataset-fashion-mnist package puts the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Class names by label id. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;

const HINT = 'install it with `apt-get install dataset-fashion-mnist`, or pass dir pointing at the IDX files';

/** Options of {@link loadFashionMnist}. */
export interface FashionMnistOptions {
  split: 'train' | 'test';
  /** Directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (default FASHION_MNIST_DIR). */
  dir?: string;
  /** Keep the parsed dataset for later calls with the same files (default true). */
  cache?: boolean;
}

const cache = new Map<string, Promise<Dataset>>();

/**
 * Loads one Fashion-MNIST split as a Dataset of shape [28, 28, 1], values in [0, 1],
 * 10 classes (names in FASHION_MNIST_CLASSES). The gzip'ed or plain files are accepted.
 * Memory: the train split is 60,000 x 784 float32 = 188 MB, the test split 31 MB; both
 * are cached per process unless `cache: false`.
 * @throws DatasetMissingError ('DATA_FILE_MISSING', naming the apt package) when the files
 *   are absent; the IDX reader's DataFormatErrors when they are corrupt.
 */
export async function loadFashionMnist(options: FashionMnistOptions): Promise<Dataset> {
  const opts = checkObject<FashionMnistOptions>('options', options);
  if (opts.split !== 'train' && opts.split !== 'test') {
    throw new DataArgumentError(`options.split must be 'train' or 'test', got ${String(opts.split)}`);
  }
  const dir = opts.dir ?? FASHION_MNIST_DIR;
  if (typeof dir !== 'string' || dir === '') throw new DataArgumentError('options.dir must be a non-empty string');
  const prefix = opts.split === 'train' ? 'train' : 't10k';
  const images = locate(dir, `${prefix}-images-idx3-ubyte`);
  const labels = locate(dir, `${prefix}-labels-idx1-ubyte`);
  const key = `${images}\n${labels}`;
  const hit = opts.cache === false ? undefined : cache.get(key);
  if (hit) return hit;
  const loading = loadIdxPair(images, labels, { numClasses: 10, name: `fashion-mnist-${opts.split}`, hint: HINT });
  if (opts.cache !== false) {
    cache.set(key, loading);
    loading.catch(() => cache.delete(key)); // do not cache failures
  }
  return loading;
}

/** `<dir>/<stem>.gz` if present, else `<dir>/<stem>`; a DatasetMissingError if neither exists. */
function locate(dir: string, stem: string): string {
  const gz = join(dir, `${stem}.gz`);
  if (existsSync(gz)) return gz;
  const plain = join(dir, stem);
  if (existsSync(plain)) return plain;
  throw new DatasetMissingError(gz, HINT);
}
