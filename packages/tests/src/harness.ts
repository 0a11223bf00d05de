/**
 * Shared helpers of the end-to-end tests and the runtime bench: identities, a small real
 * MNIST federation, and option builders. Nothing here is mocked: servers and clients are
 * the real packages over real loopback sockets.
 */
import { ed25519Keypair, systemRng, type Ed25519Keypair } from '@fedmeta/secagg';
import { createAlgorithm, createModel, federatedMnist, selectBackend, type Federation } from '@fedmeta/meta';
import type { ServerOptions, RosterEntry, ServerEvent } from '@fedmeta/server';

export interface Institution {
  name: string;
  keys: Ed25519Keypair;
}

/** `n` institutions with fresh Ed25519 identities. */
export function institutions(n: number, prefix = 'inst'): Institution[] {
  return Array.from({ length: n }, (_, i) => ({ name: `${prefix}-${i}`, keys: ed25519Keypair(systemRng) }));
}

export function rosterOf(insts: readonly Institution[]): RosterEntry[] {
  return insts.map((i) => ({ name: i.name, publicKey: i.keys.publicKey }));
}

/** A small non-IID MNIST federation (2 classes per client). */
export function mnistFederation(clients: number, seed = 7, examplesPerClient = 200): Federation {
  return federatedMnist({ clients, scheme: 'classes', classesPerClient: 2, examplesPerClient, supportFraction: 0.7, seed });
}

export const SMALL_MLP = { kind: 'mlp', inputShape: [784], hidden: [16], numClasses: 10 } as const;

/** Options every e2e server shares: plain ws on loopback (explicitly), small MLP, FedAvg. */
export function baseServerOptions(insts: readonly Institution[], extra: Partial<ServerOptions> = {}): ServerOptions {
  return {
    port: 0,
    insecure: true,
    federationId: 'e2e',
    roster: rosterOf(insts),
    rounds: 3,
    model: { config: { ...SMALL_MLP, inputShape: [...SMALL_MLP.inputShape], hidden: [...SMALL_MLP.hidden] } },
    algorithm: { name: 'fedavg', hyper: { localSteps: 15, batchSize: 32, lr: 0.1 } },
    optimizer: { kind: 'sgd', lr: 1 },
    cohort: { minClients: 2 },
    deadlines: { waitForClientsMs: 1500, trainingMs: 30_000, shareKeysMs: 10_000, maskedInputMs: 10_000, unmaskingMs: 10_000 },
    backend: 'cpu',
    ...extra,
  };
}

/** Collects structured events for assertions and failure diagnostics. */
export class EventLog {
  readonly events: ServerEvent[] = [];
  readonly logger = (e: ServerEvent): void => {
    this.events.push(e);
    if (process.env['FEDMETA_E2E_VERBOSE']) console.log(JSON.stringify(e));
  };
  named(name: string): ServerEvent[] {
    return this.events.filter((e) => e.event === name);
  }
}

/** Sum mod 2^32 of equal-length vectors. */
export function sumMod32(vectors: readonly Uint32Array[]): Uint32Array {
  const out = new Uint32Array(vectors[0]!.length);
  for (const v of vectors) for (let i = 0; i < out.length; i++) out[i] = (out[i]! + v[i]!) >>> 0;
  return out;
}

/**
 * FedAvg local steps of the small MLP (batch 32) that take about `ms` of training on this
 * machine, measured: tests whose point is a round of some length (a kill inside a round,
 * training that outlasts a heartbeat) mean the same however fast the kernels are.
 */
export async function stepsLasting(ms: number, hidden: readonly number[] = SMALL_MLP.hidden): Promise<number> {
  await selectBackend({ prefer: 'cpu', log: null });
  const spec = createModel({ ...SMALL_MLP, inputShape: [...SMALL_MLP.inputShape], hidden: [...hidden] });
  const algorithm = createAlgorithm('fedavg', spec);
  const data = mnistFederation(3, 21).clients[0]!;
  const probe = 100;
  const t0 = performance.now();
  algorithm.localUpdate(spec.initParams(1), data, { localSteps: probe, batchSize: 32, lr: 0.05 }, 1);
  const perStep = Math.max(1e-3, (performance.now() - t0) / probe);
  return Math.max(20, Math.ceil(ms / perStep));
}
