/**
 * Client-level DP with distributed discrete Gaussian noise (DDG) as the runtime runs it,
 * shared by the tabular bench (which plans the noise here and runs the real coordinator and
 * clients) and the record-level DP bench (which runs the rounds here, in one process).
 *
 * One round, exactly as @fedmeta/client's pipeline and @fedmeta/server's privacy.ts do it:
 * every site's FedAvg local update (meta's fedavg localUpdate) goes through the dp
 * package's createDdgEncoder (clip to C, randomised Hadamard rotation with the round's
 * public seed, conditional randomised rounding, the site's discrete Gaussian share, mod
 * 2^32); the coordinator adds the encodings mod 2^32 (what SecAgg releases), decodes with
 * the same encoder, divides by the sites (weight 1 each) and applies the mean with server
 * SGD at lr 1. The noise multiplier is planned as the CLI and the server's ledger account
 * it: DDG events with q = 1, numClients the SecAgg threshold (plannedDpNumClients).
 */
import { createAlgorithm, type Dataset, type ModelSpec } from '@fedmeta/meta';
import { addModular, createDdgEncoder, planDdgNoiseMultiplier, type RandomSource } from '@fedmeta/dp';
import { plannedDpNumClients } from '@fedmeta/server';

const BITS = 32;

/** Noise shares the DDG accounting assumes in every sum, for a cohort of all `sites` under SecAgg. */
export function clientLevelNumClients(sites: number): number {
  return plannedDpNumClients({ minClients: sites, maxClients: sites }, { mode: 'secagg' });
}

/** The smallest noise multiplier z whose DDG accounting over `rounds` rounds (q = 1) stays within epsilon. */
export function planClientLevelDp(o: { dim: number; sites: number; l2Clip: number; epsilon: number; delta: number; rounds: number }): { noiseMultiplier: number; epsilon: number; numClients: number } {
  const numClients = clientLevelNumClients(o.sites);
  const p = planDdgNoiseMultiplier({ dim: o.dim, numClients, l2Clip: o.l2Clip, bits: BITS, epsilon: o.epsilon, delta: o.delta, q: 1, steps: o.rounds });
  return { noiseMultiplier: p.noiseMultiplier, epsilon: p.epsilon, numClients };
}

export interface ClientLevelRun {
  rounds: number;
  localSteps: number;
  batchSize: number;
  lr: number;
  l2Clip: number;
  noiseMultiplier: number;
  numClients: number;
}

/**
 * `rounds` client-level DDG FedAvg rounds over `sites` (standardised rows) from
 * spec.initParams(seed); `rng(k)` is site k's noise source, `rng(-1)` the coordinator's
 * (the public rotation seeds).
 */
export function clientLevelDdgFederation(spec: ModelSpec, sites: Dataset[], o: ClientLevelRun, seed: number, rng: (k: number) => RandomSource): Float32Array {
  const alg = createAlgorithm('fedavg', spec);
  const enc = createDdgEncoder({ dim: spec.paramCount, numClients: o.numClients, l2Clip: o.l2Clip, noiseMultiplier: o.noiseMultiplier, bits: BITS });
  const params = spec.initParams(seed);
  const coordinator = rng(-1);
  const siteRngs = sites.map((_, k) => rng(k));
  for (let r = 0; r < o.rounds; r++) {
    const roundSeed = new Uint8Array(32);
    for (let i = 0; i < roundSeed.length; i++) roundSeed[i] = coordinator.uniformInt(256);
    let sum = new Uint32Array(enc.params.paddedDim);
    sites.forEach((d, k) => {
      const { update } = alg.localUpdate(params, { id: k, support: d, query: d }, { localSteps: o.localSteps, batchSize: o.batchSize, lr: o.lr }, seed * 1000 + r * 10 + k);
      sum = addModular(sum, enc.encode(update, roundSeed, siteRngs[k]!), BITS) as Uint32Array<ArrayBuffer>;
    });
    const total = enc.decode(sum, roundSeed);
    for (let i = 0; i < params.length; i++) params[i] = params[i]! + total[i]! / sites.length;
  }
  return params;
}
