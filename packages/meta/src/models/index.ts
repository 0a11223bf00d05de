export * from './spec.js';
export { linear } from './linear.js';
export { mlp } from './mlp.js';
export { cnn } from './cnn.js';
export { resnet } from './resnet.js';
export { resnet18 } from './resnet18.js';
export { FASHION_MNIST_DEFAULTS, type FamilyDefaults } from './defaults.js';
import { linear } from './linear.js';
import { mlp } from './mlp.js';
import { cnn } from './cnn.js';
import { resnet } from './resnet.js';
import { resnet18 } from './resnet18.js';
import type { ModelConfig, ModelSpec } from './spec.js';
import { MetaArgumentError } from '../errors.js';

/** Builds a spec from a serialisable config (what a federation plan carries). */
export function createModel(config: ModelConfig): ModelSpec {
  switch (config?.kind) {
    case 'linear': return linear(config);
    case 'mlp': return mlp(config);
    case 'cnn': return cnn(config);
    case 'resnet': return resnet(config);
    case 'resnet18': return resnet18(config);
    default: throw new MetaArgumentError(`createModel: config.kind must be 'linear', 'mlp', 'cnn', 'resnet' or 'resnet18', got ${String((config as { kind?: unknown })?.kind)}`);
  }
}
