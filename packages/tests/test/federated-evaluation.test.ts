/**
 * Federated evaluation over real sockets on loopback, with real clients on a real tabular
 * data set (breast_cancer.csv of Debian's python3-sklearn) split across three sites that
 * each keep 20% of their rows held out: per-site reports whose weighted mean is the metric
 * of the pooled held-out rows; a secure mode (the sites' sums through SecAgg) that gives
 * the same federation-wide metrics while the coordinator receives no per-site report; AUC
 * from score histograms within their bound of the exact AUC; the best round kept and
 * exported next to the last; the personalised accuracy and loss (each site's model adapted
 * on its training rows, scored on its held-out rows) as the weighted mean of what the sites
 * computed, in both modes; and a site's local training failure reaching the coordinator's
 * status as a typed reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createAlgorithm, createModel, tf, unflattenParams, type ModelConfig } from '@fedmeta/meta';
import { heldOutLoss, histogramAuc, startServer, type FederationSummary, type ServerOptions } from '@fedmeta/server';
import { runClient, type ClientDataOptions, type ClientDataset, type ClientEvent, type SitePolicy } from '@fedmeta/client';
import { EventLog, institutions, rosterOf, type Institution } from '../src/harness.js';

const SOURCE = '/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv';
const skip = existsSync(SOURCE) ? false : `${SOURCE} not found (Debian python3-sklearn; .ci/run installs it)`;
const F = 30;
const MODEL = { kind: 'mlp', inputShape: [F], hidden: [8], numClasses: 2 } as const;
const BINS = 50;

function table(rows: number[][]): ClientDataset {
  return { x: Float32Array.from(rows.flatMap((r) => r.slice(0, F))), y: Int32Array.from(rows.map((r) => r[F]!)), count: rows.length, shape: [F], numClasses: 2 };
}

/** Three sites, standardised with the pooled statistics, each holding out every fifth row. */
function sites(): ClientDataOptions[] {
  const rows = readFileSync(SOURCE, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
  for (let j = 0; j < F; j++) {
    const mean = rows.reduce((a, r) => a + r[j]!, 0) / rows.length;
    const std = Math.sqrt(rows.reduce((a, r) => a + (r[j]! - mean) ** 2, 0) / rows.length) || 1;
    for (const r of rows) r[j] = (r[j]! - mean) / std;
  }
  return [0, 1, 2].map((k) => {
    const mine = rows.filter((_, i) => i % 3 === k);
    return { id: k, support: table(mine.filter((_, i) => i % 5 !== 0)), query: table(mine.filter((_, i) => i % 5 === 0)) };
  });
}

function pooled(ds: readonly ClientDataset[]): ClientDataset {
  const x = new Float32Array(ds.reduce((a, d) => a + d.x.length, 0));
  const y = new Int32Array(ds.reduce((a, d) => a + d.count, 0));
  let o = 0;
  let r = 0;
  for (const d of ds) {
    x.set(d.x, o);
    y.set(d.y, r);
    o += d.x.length;
    r += d.count;
  }
  return { x, y, count: r, shape: [F], numClasses: 2 };
}

/** The metrics of `params` on the pooled rows, computed independently of the federation. */
function reference(params: Float32Array, data: ClientDataset) {
  const spec = createModel(MODEL as unknown as ModelConfig);
  const algorithm = createAlgorithm('fedavg', spec);
  // Class-1 scores, for the exact AUC (every positive/negative pair) and the binned one.
  const ps = unflattenParams(spec, params);
  const z = tf.tidy(() => tf.softmax(spec.forward(ps, tf.tensor(data.x, [data.count, F])))).dataSync() as Float32Array;
  for (const p of ps) p.dispose();
  const scores = Array.from({ length: data.count }, (_, i) => z[i * 2 + 1]!);
  let wins = 0;
  let pairs = 0;
  const pos = new Array<number>(BINS).fill(0);
  const neg = new Array<number>(BINS).fill(0);
  for (let i = 0; i < data.count; i++) {
    const b = Math.min(BINS - 1, Math.floor(scores[i]! * BINS));
    (data.y[i] === 1 ? pos : neg)[b]!++;
    if (data.y[i] !== 1) continue;
    for (let j = 0; j < data.count; j++) {
      if (data.y[j] === 1) continue;
      pairs++;
      wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return {
    accuracy: algorithm.accuracy(params, data, data),
    loss: heldOutLoss(algorithm, spec, params, data)!,
    auc: wins / pairs,
    binnedAuc: histogramAuc(pos, neg)!,
    count: data.count,
  };
}

async function federate(report: 'per-site' | 'secure', policies: SitePolicy[], extra: Partial<ServerOptions> = {}, insts: Institution[] = institutions(3, `ev-${report}`)) {
  const data = sites();
  const log = new EventLog();
  const server = await startServer({
    port: 0,
    insecure: true,
    federationId: `eval-${report}`,
    roster: rosterOf(insts),
    rounds: 3,
    model: { config: { ...MODEL } as unknown as ServerOptions['model']['config'] },
    algorithm: { name: 'fedavg', hyper: { localSteps: 4, batchSize: 16, lr: 0.1 } },
    cohort: { minClients: 3 },
    aggregation: { mode: 'secagg' },
    deadlines: { waitForClientsMs: 1500 },
    evaluation: { report, bins: BINS },
    backend: 'cpu',
    logger: log.logger,
    ...extra,
  });
  // Each site's own log: its round.evaluated events hold the numbers it computed itself.
  const siteLogs = insts.map(() => [] as ClientEvent[]);
  const clients = insts.map((inst, k) => runClient({ url: server.url, identity: inst.keys, data: data[k % 3]!, backend: 'cpu', policy: policies[k] ?? {}, reconnect: { maxAttempts: 3 }, logger: (e) => siteLogs[k]!.push(e) }));
  const summary = await server.done;
  const done = await Promise.all(clients.map((c) => c.done));
  return { summary, done, log, held: pooled(data.map((d) => d.query)), server, siteLogs };
}

interface SiteEvaluated {
  round: number;
  local: { count: number; correct: number; loss?: number; personalised?: { correct: number; accuracy: number; loss?: number; steps: number; lr: number } };
  federated?: { personalised?: { accuracy: number; loss?: number } };
}

/**
 * The personalised numbers of every evaluated round: the coordinator's equal the weighted
 * mean of what the sites logged of their own, and each site's equal the model adapted
 * independently here (FedAvg adapts by fine-tuning: FedAvg+FT's full-batch SGD on the
 * site's training rows, `steps` steps at `lr`), for the last round's model.
 */
function checkPersonalised(summary: FederationSummary, siteLogs: ClientEvent[][], sitesData: ClientDataOptions[], steps: number, lr: number): void {
  const own = siteLogs.map((l) => l.filter((e) => e.event === 'round.evaluated') as unknown as SiteEvaluated[]);
  for (const r of summary.rounds) {
    const p = r.evaluation!.personalised!;
    assert.ok(p, `round ${r.round}: personalised numbers in the summary`);
    const mine = own.map((l) => l.find((e) => e.round === r.round)!.local);
    assert.ok(mine.every((m) => m.personalised !== undefined), `round ${r.round}: every site computed its personalised numbers`);
    const count = mine.reduce((a, m) => a + m.count, 0);
    const correct = mine.reduce((a, m) => a + m.personalised!.correct, 0);
    const lossSum = mine.reduce((a, m) => a + m.personalised!.loss! * m.count, 0);
    assert.equal(p.count, count);
    assert.equal(p.correct, correct);
    assert.equal(p.accuracy, correct / count, `round ${r.round}: personalised accuracy = sum of the sites' correct / sum of their rows`);
    assert.ok(Math.abs(p.loss! - lossSum / count) <= 1e-6 * (lossSum / count), `round ${r.round}: personalised loss ${p.loss} vs the sites' ${lossSum / count}`);
    assert.equal(p.sites, 3);
    assert.deepEqual([p.steps, p.lr], [steps, lr]);
    for (const m of mine) assert.deepEqual([m.personalised!.steps, m.personalised!.lr], [steps, lr], 'the site adapted as announced');
    // Each site saw the federation's personalised accuracy in its roundEnd.
    for (const l of own) assert.equal(l.find((e) => e.round === r.round)!.federated!.personalised!.accuracy, p.accuracy);
  }
  const spec = createModel(MODEL as unknown as ModelConfig);
  const fineTune = createAlgorithm('fedavg-ft', spec);
  const last = summary.rounds.at(-1)!.round;
  sitesData.forEach((d, k) => {
    const adapted = fineTune.adapt(summary.finalParams, d.support, steps, lr);
    const ref = reference(adapted, d.query);
    const logged = own[k]!.find((e) => e.round === last)!.local;
    assert.equal(logged.personalised!.accuracy, ref.accuracy, `site ${k}: personalised accuracy = the model adapted here`);
    assert.ok(Math.abs(logged.personalised!.loss! - ref.loss) <= 1e-6 * ref.loss, `site ${k}: personalised loss ${logged.personalised!.loss} vs ${ref.loss}`);
  });
}

function checkAgainstPooled(summary: FederationSummary, held: ClientDataset): void {
  const last = summary.rounds.at(-1)!.evaluation!;
  const ref = reference(summary.finalParams, held);
  assert.equal(last.count, ref.count, 'every held-out row of the three sites is in the metrics');
  assert.equal(last.accuracy, ref.accuracy, 'accuracy over the sites = accuracy on the pooled held-out rows');
  assert.ok(Math.abs(last.loss! - ref.loss) <= 1e-6 * ref.loss, `loss ${last.loss} vs pooled ${ref.loss}`);
  assert.equal(last.auc, ref.binnedAuc, 'the AUC of the summed histograms is the AUC of the pooled rows binned alike');
  assert.ok(Math.abs(last.auc! - ref.auc) <= last.aucBound! + 1e-12, `histogram AUC ${last.auc} vs exact ${ref.auc}, bound ${last.aucBound}`);
}

test('per-site reports: the weighted mean is the pooled held-out metric, personalised accuracy is the weighted mean of the sites\' own, the best round is kept and exported, a secure-only site refuses', { timeout: 240_000, skip }, async () => {
  const insts = institutions(4, 'per-site');
  // The fourth site (the first site's data again) will only report inside a secure sum.
  const { summary, done, log, siteLogs } = await federate('per-site', [{}, {}, {}, { evaluation: 'secure' }], {}, insts);
  const held = pooled(sites().map((d) => d.query));
  assert.equal(done[3]!.endReason, 'failed');
  assert.equal(done[3]!.error?.code, 'ERR_POLICY_REFUSED');
  assert.match(done[3]!.error!.message, /evaluation secure/);
  assert.ok(log.named('peer.policy-refused').some((e) => e.peer === insts[3]!.name));

  assert.deepEqual(summary.rounds.map((r) => r.status), ['completed', 'completed', 'completed']);
  for (const r of summary.rounds) {
    const ev = r.evaluation!;
    assert.equal(ev.report, 'per-site');
    assert.equal(ev.perSite!.length, 3);
    assert.deepEqual(ev.perSite!.map((p) => p.name).sort(), insts.slice(0, 3).map((i) => i.name).sort());
    // The weighted mean of the sites' accuracies, by their rows.
    const weighted = ev.perSite!.reduce((a, p) => a + p.accuracy * p.count, 0) / ev.perSite!.reduce((a, p) => a + p.count, 0);
    assert.ok(Math.abs(weighted - ev.accuracy) < 1e-12);
    for (const p of ev.perSite!) assert.ok(p.auc! >= 0 && p.auc! <= 1);
  }
  assert.equal(log.named('evaluation.report').length, 9, 'three reports per round');
  checkAgainstPooled(summary, held);
  // Personalised: 5 steps at the algorithm's lr (the defaults), per site and weighted.
  checkPersonalised(summary, siteLogs.slice(0, 3), sites(), 5, 0.1);
  for (const r of summary.rounds) {
    const ev = r.evaluation!;
    const own = siteLogs.slice(0, 3).map((l, k) => ({ name: insts[k]!.name, local: (l.find((e) => e.event === 'round.evaluated' && e['round'] === r.round) as unknown as SiteEvaluated).local }));
    for (const p of ev.perSite!) {
      const mine = own.find((o) => o.name === p.name)!.local.personalised!;
      assert.equal(p.personalised!.accuracy, mine.accuracy, `${p.name}: its personalised accuracy as it reported it`);
      assert.equal(p.personalised!.correct, mine.correct);
    }
    const logged = log.named('round.evaluated').find((e) => e['round'] === r.round)!;
    assert.deepEqual(logged['personalised'], ev.personalised, 'round.evaluated carries the personalised numbers');
  }

  // The best round by federated accuracy (loss breaks ties), exported with its manifest.
  const evals = summary.rounds.map((r) => r.evaluation!);
  let bestRound = 1;
  evals.forEach((e, i) => {
    const b = evals[bestRound - 1]!;
    if (e.accuracy > b.accuracy || (e.accuracy === b.accuracy && e.loss! < b.loss!)) bestRound = i + 1;
  });
  assert.equal(summary.best!.round, bestRound);
  assert.equal(summary.best!.manifest.round, bestRound);
  assert.equal(summary.best!.manifest.selection!.kind, 'best');
  assert.equal(summary.best!.manifest.metrics.federated!.accuracy, evals[bestRound - 1]!.accuracy);
  assert.equal(reference(summary.best!.params, held).accuracy, evals[bestRound - 1]!.accuracy, 'the best params are that round\'s model');
  assert.deepEqual(summary.manifest.selection, { kind: 'last', metric: summary.best!.manifest.selection!.metric, lastRound: 3, bestRound });
  assert.equal(summary.sentToSites, 'last');
  // Each site holds the last model and saw the federation's metrics of every round.
  for (const d of done.slice(0, 3)) {
    assert.equal(d.endReason, 'federation-done');
    assert.deepEqual(d.finalModel!.params, summary.finalParams);
    assert.deepEqual(d.evaluations.map((e) => e.round), [1, 2, 3]);
    assert.equal(d.evaluations.at(-1)!.federated!.accuracy, evals[2]!.accuracy);
    assert.equal(d.evaluations.at(-1)!.federated!.sites, 3);
    assert.ok(d.evaluations.every((e) => e.local!.count > 0));
  }
});

test('secure evaluation: the same federation-wide metrics through SecAgg (personalised ones too, with the configured adaptation), no per-site report reaches the coordinator', { timeout: 240_000, skip }, async () => {
  const { summary, done, log, held, siteLogs } = await federate('secure', [{ evaluation: 'secure' }, { evaluation: 'secure' }, { evaluation: 'secure' }], { evaluation: { report: 'secure', bins: BINS, sendToSites: 'best', evalSteps: 3, evalLr: 0.05 } });
  assert.deepEqual(summary.rounds.map((r) => r.status), ['completed', 'completed', 'completed']);
  for (const r of summary.rounds) {
    assert.equal(r.evaluation!.report, 'secure');
    assert.equal(r.evaluation!.sites, 3);
    assert.equal(r.evaluation!.perSite, undefined);
  }
  assert.equal(log.named('evaluation.report').length, 0, 'no per-site report was received');
  assert.ok(log.named('round.evaluated').every((e) => e.perSite === undefined));
  checkAgainstPooled(summary, held);
  // Personalised through the secure sum, with the configured evalSteps / evalLr announced.
  checkPersonalised(summary, siteLogs, sites(), 3, 0.05);
  // sendToSites 'best': the sites received the best round's model.
  assert.equal(summary.sentToSites, 'best');
  for (const d of done) {
    assert.equal(d.endReason, 'federation-done');
    assert.deepEqual(d.finalModel!.params, summary.best!.params);
    assert.equal(d.finalModel!.manifest['round'], summary.best!.round);
    assert.ok(d.evaluations.every((e) => e.federated!.sites === 3));
  }
});

test('a local training failure reaches the coordinator as a typed reason in its status and log', { timeout: 240_000, skip }, async () => {
  const data = sites();
  const insts = institutions(4, 'fails');
  const log = new EventLog();
  const server = await startServer({
    port: 0,
    insecure: true,
    federationId: 'fails',
    roster: rosterOf(insts),
    rounds: 1,
    model: { config: { ...MODEL } as unknown as ServerOptions['model']['config'] },
    algorithm: { name: 'fedavg', hyper: { localSteps: 2, batchSize: 16, lr: 0.1 } },
    cohort: { minClients: 4, minAggregate: 3 },
    aggregation: { mode: 'secagg', threshold: 3 },
    backend: 'cpu',
    logger: log.logger,
  });
  const clients = insts.map((inst, k) =>
    runClient({
      url: server.url,
      identity: inst.keys,
      data: data[k % 3]!,
      backend: 'cpu',
      reconnect: { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 100 },
      ...(k === 3
        ? {
            trainer: () => {
              throw new Error('the feature matrix holds NaN after the site\'s own preprocessing');
            },
          }
        : {}),
    }),
  );
  let seen: ReturnType<typeof server.status>['siteErrors'] = [];
  const until = Date.now() + 60_000;
  while (seen.length === 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    seen = server.status().siteErrors;
  }
  const summary = await server.done;
  await Promise.all(clients.map((c) => c.done));
  assert.equal(summary.rounds[0]!.status, 'completed');
  assert.ok(seen.length >= 1, 'the failure is in the status');
  assert.equal(seen[0]!.name, insts[3]!.name);
  assert.equal(seen[0]!.code, 'ERR_INTERNAL');
  assert.equal(seen[0]!.round, 1);
  assert.match(seen[0]!.message, /local training failed: the feature matrix holds NaN/);
  const logged = log.named('peer.error').find((e) => e.peer === insts[3]!.name)!;
  assert.equal(logged.code, 'ERR_INTERNAL');
  assert.equal(logged.round, 1);
});
