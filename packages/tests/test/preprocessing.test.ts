/**
 * Federated standardisation under secure aggregation, on a real tabular data set
 * (breast_cancer.csv of Debian's python3-sklearn) split unevenly across three sites: the
 * statistics round (round 0) gives the same mean and std as standardising the pooled rows,
 * the coordinator sees the per-site statistics only as masked SecAgg inputs, and training
 * then runs on the standardised features.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { startServer } from '@fedmeta/server';
import { runClient, type ClientDataOptions } from '@fedmeta/client';
import { EventLog, institutions, rosterOf } from '../src/harness.js';

const SOURCE = '/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv';
const skip = existsSync(SOURCE) ? false : `${SOURCE} not found (Debian python3-sklearn; .ci/run installs it)`;
const F = 30;

function table(rows: number[][]) {
  const x = Float32Array.from(rows.flatMap((r) => r.slice(0, F)));
  const y = Int32Array.from(rows.map((r) => r[F]!));
  return { x, y, count: rows.length, shape: [F], numClasses: 2 };
}

test('the statistics round standardises every site with the pooled mean and std (1e-9), carried by SecAgg', { timeout: 120_000, skip }, async () => {
  const rows = readFileSync(SOURCE, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
  // Uneven, non-IID sites: sorted by the first feature, so their scales differ.
  rows.sort((a, b) => a[0]! - b[0]!);
  const cuts = [0, 120, 330, rows.length];
  const sites = [0, 1, 2].map((k) => rows.slice(cuts[k], cuts[k + 1]));
  const names = Array.from({ length: F }, (_, i) => `f${i + 1}`);
  const insts = institutions(3, 'stat');
  const log = new EventLog();
  const server = await startServer({
    port: 0,
    insecure: true,
    federationId: 'stats',
    roster: rosterOf(insts),
    rounds: 2,
    model: { config: { kind: 'mlp', inputShape: [F], hidden: [8], numClasses: 2 } },
    algorithm: { name: 'fedavg', hyper: { localSteps: 5, batchSize: 16, lr: 0.1 } },
    cohort: { minClients: 3 },
    aggregation: { mode: 'secagg' },
    dataSchema: { kind: 'table', labelColumn: 'y', featureColumns: names, classNames: ['0', '1'] },
    preprocessing: { standardise: 'federated' },
    evaluate: { data: table(rows) },
    backend: 'cpu',
    logger: log.logger,
  });
  const clients = insts.map((inst, k) => {
    const half = Math.floor(sites[k]!.length / 2);
    const data: ClientDataOptions = { id: k, support: table(sites[k]!.slice(0, half)), query: table(sites[k]!.slice(half)), columns: names, labelColumn: 'y', labels: ['0', '1'], standardise: 'local' };
    return runClient({ url: server.url, identity: inst.keys, data, backend: 'cpu' });
  });
  const summary = await server.done;
  await Promise.all(clients.map((c) => c.done));
  assert.deepEqual(summary.rounds.map((r) => r.status), ['completed', 'completed']);
  const st = summary.standardisation!;
  assert.equal(st.count, rows.length);
  assert.equal(st.sites, 3);
  // The pooled reference, from the same float32 values the sites hold.
  const pooled = table(rows).x;
  for (let j = 0; j < F; j++) {
    let sum = 0;
    for (let r = 0; r < rows.length; r++) sum += pooled[r * F + j]!;
    const mean = sum / rows.length;
    let ss = 0;
    for (let r = 0; r < rows.length; r++) ss += (pooled[r * F + j]! - mean) ** 2;
    const std = Math.sqrt(ss / rows.length);
    assert.ok(Math.abs(st.mean[j]! - mean) <= 1e-9 * Math.abs(mean), `mean f${j + 1}: ${st.mean[j]} vs ${mean}`);
    assert.ok(Math.abs(st.std[j]! - std) <= 1e-9 * std, `std f${j + 1}: ${st.std[j]} vs ${std}`);
  }
  const started = log.named('preprocessing.started');
  assert.equal(started.length, 1);
  assert.equal(started[0]!.mode, 'secagg', 'the statistics travelled masked');
  // Trained on standardised features, the model beats the majority class on the pooled rows.
  const majority = Math.max(...[0, 1].map((c) => rows.filter((r) => r[F] === c).length)) / rows.length;
  assert.ok(summary.rounds.at(-1)!.accuracy! > majority, `accuracy ${summary.rounds.at(-1)!.accuracy} vs majority ${majority}`);
});
