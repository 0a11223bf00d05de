export * from './types.js';
export { fedAvg, fedAvgFineTune, fedProx, reptile, FEDPROX_DEFAULT_MU } from './fedavg.js';
export { mamlFamily, mamlMetaGradient, finiteDifferenceHvp, type MamlVariant } from './maml.js';
export { protoNets } from './protonets.js';
export {
  perExampleGradients, clippedGradientSum, dpSgdUpdate, poissonSample,
  type DpSgdHyper, type DpSgdSources, type DpSgdMetrics, type DpSgdResult,
} from './dpsgd.js';
import { MetaArgumentError } from '../errors.js';
import type { ModelSpec } from '../models/spec.js';
import { fedAvg, fedAvgFineTune, fedProx, reptile } from './fedavg.js';
import { mamlFamily } from './maml.js';
import { protoNets } from './protonets.js';
import type { Algorithm, AlgorithmName } from './types.js';

export const ALGORITHM_NAMES: readonly AlgorithmName[] = [
  'fedavg', 'fedavg-ft', 'fedprox', 'reptile', 'fomaml', 'maml', 'perfedavg-fo', 'perfedavg-hf', 'protonets',
];

/**
 * The client algorithm by name.
 * @throws MetaArgumentError for an unknown name
 */
export function createAlgorithm(name: AlgorithmName, spec: ModelSpec): Algorithm {
  switch (name) {
    case 'fedavg': return fedAvg(spec);
    case 'fedavg-ft': return fedAvgFineTune(spec);
    case 'fedprox': return fedProx(spec);
    case 'reptile': return reptile(spec);
    case 'fomaml':
    case 'maml':
    case 'perfedavg-fo':
    case 'perfedavg-hf': return mamlFamily(spec, name);
    case 'protonets': return protoNets(spec);
    default: throw new MetaArgumentError(`algorithm: unknown name "${String(name)}" (expected one of ${ALGORITHM_NAMES.join(', ')})`);
  }
}
