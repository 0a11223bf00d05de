// Public API of the data layer: datasets as plain typed arrays (no tfjs), loaders,
// seeded partitioners and support/query splits.
export * from './errors.js';
export {
  type ClientData,
  type Dataset,
  classCounts,
  concat,
  createDataset,
  featureSize,
  indicesByClass,
  shuffle,
  subset,
} from './dataset.js';
export { SeededRng } from './rng.js';
export { loadMnist } from './mnist.js';
export {
  type ClassPartitionOptions,
  type DirichletPartitionOptions,
  type IidPartitionOptions,
  type Partition,
  limitPerClass,
  partitionByClasses,
  partitionDirichlet,
  partitionIid,
} from './partition.js';
export { type SupportQueryOptions, splitSupportQuery } from './split.js';
export { type Federation, type FederatedOptions, federatedMnist, federatedSplit } from './federated.js';
export {
  DEFAULT_MAX_IDX_BYTES,
  IDX_DTYPES,
  type IdxDtype,
  type IdxPairOptions,
  type IdxTensor,
  idxPairToDataset,
  isGzip,
  loadIdxPair,
  parseIdx,
  readIdxFile,
} from './idx.js';
export {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  type FashionMnistOptions,
  loadFashionMnist,
} from './fashion-mnist.js';
export { CIFAR10_CLASSES, type CifarOptions, type CifarVariant, loadCifarBatches, parseCifarBatch } from './cifar.js';
export { type CsvRecord, parseCsvRecords } from './csv.js';
export { type Standardisation, computeStandardisation, standardise } from './standardise.js';
export { MAX_INTEGER_LABELS, type TabularData, type TabularOptions, loadCsv, loadJsonTable, parseCsv, parseJsonTable } from './tabular.js';
export { DATA_FORMATS, type DataSource, type LoadedData, loadDataSource } from './source.js';
