// @fedmeta/meta: the only package that imports TensorFlow.js. No networking, no masking.
export * from './data/index.js';
export { tf } from './tf.js';
export * from './errors.js';
export * from './backend.js';
export * from './models/index.js';
export * from './algorithms/index.js';
export { MetaOptimizer, type MetaOptimizerConfig, type MetaOptimizerState } from './meta-optimizer.js';
export { adaptationLr, evaluatePersonalized, scoreHead, spread, type PersonalizedReport, type Spread } from './evaluate.js';
export { runFederatedSimulation, type SimulationOptions, type SimulationResult, type RoundMetrics } from './simulate.js';
export { referenceRuns, trainCentrally, type ReferenceOptions, type ReferenceReport, type ReferenceRun, type SgdBudget } from './reference.js';
export { exportTfjsModel, toLayersModel } from './export.js';
export { conv2dIm2col, avgPool2x2, globalAvgPool, type Padding } from './ops/conv.js';
export { expSafe, logSoftmaxSafe, crossEntropySafe } from './ops/twice-differentiable.js';
export { groupNorm, GROUP_NORM_EPSILON } from './ops/norm.js';
export { setTrainingEngine, trainingEngine, type TrainingEngineName, type TrainingEnginePreference } from './engine/index.js';
export { createPrng, type Prng } from './rng.js';
