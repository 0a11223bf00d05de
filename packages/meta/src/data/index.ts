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
  type Partition,
  limitPerClass,
  partitionByClasses,
  partitionDirichlet,
} from './partition.js';
export { type SupportQueryOptions, splitSupportQuery } from './split.js';
export { type Federation, type FederatedOptions, federatedMnist, federatedSplit } from './federated.js';
