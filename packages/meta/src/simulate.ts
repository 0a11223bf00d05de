/**
 * An in-process federated loop for tests and the bench: no networking, no masking. Each
 * round samples clientsPerRound clients (seeded), runs their localUpdate from the same global
 * vector, and lets the MetaOptimizer apply the weighted mean update.
 */
import { requireInt, MetaArgumentError } from './errors.js';
import { evaluatePersonalized, type PersonalizedReport } from './evaluate.js';
import { MetaOptimizer, type MetaOptimizerConfig } from './meta-optimizer.js';
import { checkParamLength } from './models/spec.js';
import { createPrng, permutation } from './rng.js';
import type { Algorithm, ClientSet, LocalHyper } from './algorithms/types.js';

export interface SimulationOptions {
  algorithm: Algorithm;
  clients: ClientSet[];
  rounds: number;
  clientsPerRound: number;
  hyper: LocalHyper;
  serverOptimizer: MetaOptimizerConfig;
  seed: number;
  /** initial global vector; default algorithm.spec.initParams(seed) */
  initial?: Float32Array;
  /** evaluate personalised accuracy every `every` rounds (and after the last); omit to skip */
  evaluation?: { steps: number; lr: number; every: number; clients?: ClientSet[] };
  /**
   * Called after every round (progress output, extra evaluations); `params` is the live global
   * vector after the round: read it, copy it, do not keep or change it.
   */
  onRound?: (r: RoundMetrics, params: Float32Array) => void;
}

export interface RoundMetrics {
  round: number;
  /** weighted mean of the clients' first/last local losses */
  lossFirst: number;
  lossLast: number;
  examples: number;
  millis: number;
  evaluation?: PersonalizedReport;
}

export interface SimulationResult {
  params: Float32Array;
  rounds: RoundMetrics[];
}

export function runFederatedSimulation(o: SimulationOptions): SimulationResult {
  requireInt('rounds', o.rounds, 1);
  requireInt('clientsPerRound', o.clientsPerRound, 1);
  if (!Array.isArray(o.clients) || o.clients.length === 0) throw new MetaArgumentError('clients: need at least one');
  if (o.clientsPerRound > o.clients.length) {
    throw new MetaArgumentError(`clientsPerRound: ${o.clientsPerRound} exceeds the ${o.clients.length} clients`);
  }
  if (o.evaluation) requireInt('evaluation.every', o.evaluation.every, 1);
  const spec = o.algorithm.spec;
  const params = o.initial ? o.initial.slice() : spec.initParams(o.seed);
  checkParamLength(spec, params, 'initial');
  const server = new MetaOptimizer(o.serverOptimizer);
  const rounds: RoundMetrics[] = [];
  for (let r = 1; r <= o.rounds; r++) {
    const started = performance.now();
    const pick = permutation(o.clients.length, createPrng(o.seed, 0x5e1 + r)).subarray(0, o.clientsPerRound);
    const results = [...pick].map((i) => o.algorithm.localUpdate(params, o.clients[i]!, o.hyper, o.seed * 1000003 + r));
    server.step(params, results);
    const total = results.reduce((s, x) => s + x.weight, 0);
    const mean = (f: (x: (typeof results)[number]) => number) => results.reduce((s, x) => s + x.weight * f(x), 0) / total;
    const metrics: RoundMetrics = {
      round: r,
      lossFirst: mean((x) => x.metrics.lossFirst),
      lossLast: mean((x) => x.metrics.lossLast),
      examples: results.reduce((s, x) => s + x.metrics.examples, 0),
      millis: performance.now() - started,
    };
    const ev = o.evaluation;
    if (ev && (r % ev.every === 0 || r === o.rounds)) {
      metrics.evaluation = evaluatePersonalized(o.algorithm, params, ev.clients ?? o.clients, ev);
    }
    rounds.push(metrics);
    o.onRound?.(metrics, params);
  }
  return { params, rounds };
}
