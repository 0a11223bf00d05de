export * from './spec.js';
export { mlp } from './mlp.js';
export { cnn } from './cnn.js';
export { resnet } from './resnet.js';
import { mlp } from './mlp.js';
import { cnn } from './cnn.js';
import { resnet } from './resnet.js';
import type { ModelConfig, ModelSpec } from './spec.js';
import { MetaArgumentError } from '../errors.js';

/** Builds a spec from a serialisable config (what a federation plan carries). */
export function createModel(config: ModelConfig): ModelSpec {
  switch (config?.kind) {
    case 'mlp': return mlp(config);
    case 'cnn': return cnn(config);
    case 'resnet': return resnet(config);
    default: throw new MetaArgumentError(`createModel: config.kind must be 'mlp', 'cnn' or 'resnet', got ${String((config as { kind?: unknown })?.kind)}`);
  }
}
