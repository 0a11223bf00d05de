/**
 * One real federation of the tabular accuracy bench: the coordinator (@fedmeta/server
 * startServer) and one @fedmeta/client runClient per site, in this process over loopback
 * WebSockets, classic SecAgg over the whole cohort, the statistics round (round 0) that
 * standardises every site with the global mean and std, then `rounds` FedAvg rounds; with
 * `dp`, clients clip and add distributed discrete Gaussian noise and the server's ledger
 * charges every round.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type DpOptions, type FederationSummary } from '@fedmeta/server';
import { runClient } from '@fedmeta/client';
import type { Dataset } from '@fedmeta/meta';
import { institutions, rosterOf } from '../src/harness.js';

export interface FederationRun {
  federationId: string;
  /** Every site's raw (not standardised) training rows. */
  sites: Dataset[];
  columns: string[];
  classNames: string[];
  /** Raw held-out rows: the coordinator evaluates the final model on them (a cross-check). */
  test: Dataset;
  model: { kind: string } & Record<string, unknown>;
  hyper: { localSteps: number; batchSize: number; lr: number };
  rounds: number;
  /** Model init and round training seeds (server), batch sampling (clients). */
  seed: number;
  /** Client-level DP: clip, noise multiplier and budget; the ledger goes to a temporary directory. */
  dp?: Omit<DpOptions, 'ledgerPath'>;
}

export interface FederationResult {
  summary: FederationSummary;
  /** The coordinator's accuracy of the last completed round on `test` (standardised by the federation). */
  serverAccuracy: number | undefined;
  wallMs: number;
}

export async function runFederation(r: FederationRun): Promise<FederationResult> {
  const started = performance.now();
  const insts = institutions(r.sites.length, `${r.federationId}-site`);
  const dir = r.dp ? mkdtempSync(join(tmpdir(), 'fedmeta-tabular-')) : null;
  try {
    const server = await startServer({
      port: 0,
      insecure: true,
      federationId: r.federationId,
      roster: rosterOf(insts),
      rounds: r.rounds,
      model: { config: r.model },
      algorithm: { name: 'fedavg', hyper: { ...r.hyper } },
      optimizer: { kind: 'sgd', lr: 1 },
      cohort: { minClients: r.sites.length },
      aggregation: { mode: 'secagg' },
      dataSchema: { kind: 'table', labelColumn: 'label', featureColumns: r.columns, classNames: r.classNames },
      preprocessing: { standardise: 'federated' },
      // Only after the last round: the bench's own number comes from finalParams.
      evaluate: { data: r.test, every: r.rounds },
      ...(r.dp && dir ? { dp: { ...r.dp, ledgerPath: join(dir, 'ledger.json') }, checkpointDir: dir } : {}),
      seed: r.seed,
      backend: 'cpu',
    });
    const clients = insts.map((inst, k) =>
      runClient({
        url: server.url,
        identity: inst.keys,
        federationId: r.federationId,
        seed: r.seed * 100 + k,
        backend: 'cpu',
        data: {
          id: k,
          support: r.sites[k]!,
          // Everything trains: the held-out rows are the bench's shared test set.
          query: { ...r.sites[k]!, x: new Float32Array(0), y: new Int32Array(0), count: 0 },
          columns: r.columns,
          labelColumn: 'label',
          labels: r.classNames,
          standardise: 'local',
        },
      }),
    );
    const summary = await server.done;
    const ends = await Promise.all(clients.map((c) => c.done));
    const failed = ends.find((e) => e.endReason === 'failed');
    if (failed) throw new Error(`${r.federationId}: client ${failed.name} failed: ${failed.error?.code} ${failed.error?.message}`);
    const last = summary.rounds.filter((x) => x.status === 'completed').at(-1);
    return { summary, serverAccuracy: last?.accuracy, wallMs: performance.now() - started };
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
