import { MetaArgumentError, requireInt, requirePositive } from './errors.js';
import { checkParamLength } from './models/spec.js';
import type { Algorithm, ClientSet } from './algorithms/types.js';

export interface Spread {
  mean: number;
  std: number;
  min: number;
  max: number;
}

export interface PersonalizedReport extends Spread {
  /** per client: accuracy on its query set without adaptation and after `steps` steps */
  perClient: { id: string | number; before: number; after: number }[];
  /** the same statistics without adaptation */
  before: Spread;
  steps: number;
}

export function spread(values: number[]): Spread {
  if (values.length === 0) return { mean: NaN, std: NaN, min: NaN, max: NaN };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { mean, std, min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Personalised accuracy: for each client, adapt `params` with `algorithm.adapt` for `steps`
 * steps on its support set, measure accuracy on its query set; mean/std/min/max across
 * clients (std is the population std), plus the same without adaptation.
 * @throws HyperparameterError for steps < 0 or lr <= 0 (lr may be 0 when steps is 0)
 */
export function evaluatePersonalized(
  algorithm: Algorithm,
  params: Float32Array,
  clients: ClientSet[],
  options: { steps: number; lr: number },
): PersonalizedReport {
  checkParamLength(algorithm.spec, params);
  if (!Array.isArray(clients) || clients.length === 0) throw new MetaArgumentError('clients: need at least one client');
  const steps = requireInt('steps', options?.steps, 0);
  const lr = requirePositive('lr', options?.lr, steps === 0);
  const perClient = clients.map((c) => {
    const before = algorithm.accuracy(params, c.support, c.query);
    const after = steps === 0 ? before : algorithm.accuracy(algorithm.adapt(params, c.support, steps, lr), c.support, c.query);
    return { id: c.id, before, after };
  });
  return {
    ...spread(perClient.map((c) => c.after)),
    before: spread(perClient.map((c) => c.before)),
    perClient,
    steps,
  };
}
