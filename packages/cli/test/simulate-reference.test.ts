// `fedmeta simulate`'s reference runs, end to end in a child process on real MNIST: beside
// the federated model, the same model trained on the pooled training data of all clients and
// each client alone, scored on the same held-out test set. Without DP the whole run is
// deterministic for a seed (SecAgg's masks cancel exactly), so the pooled row is recomputed
// here from the data and compared exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderSummary, type SimulationReport } from '../src/ui/summary.js';
import { SIMULATE_CNN_DEFAULTS } from '../src/commands/simulate.js';
import { bin, runFedmeta } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmeta-simulate-reference-'));

const run = runFedmeta;

test('fedmeta simulate --dp off: the model learns, and the reference rows are the pooled clients\' data and each client alone, scored on the same test set', async () => {
  const html = join(dir, 'report.html');
  const r = await run(['simulate', '--clients', '4', '--rounds', '3', '--dp', 'off', '--drop', 'none', '--out', join(dir, 'model'), '--report', html, '--json']);
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(r.out) as SimulationReport;
  assert.equal(report.roundsCompleted, 3);
  // Learning through secure aggregation, with nothing random left: the same numbers every run.
  assert.ok(report.final.globalAccuracy! > report.initial.globalAccuracy! + 0.05, `global ${report.initial.globalAccuracy} -> ${report.final.globalAccuracy}`);

  const ref = report.reference;
  assert.ok(ref, 'reference runs are on by default');
  // The demo's data, split as simulate splits it (4 clients, 2 digits each, 20 support and
  // 50 query examples per digit, seed 1): the pooled data is every client's support set.
  const meta = await import('@fedmeta/meta');
  await meta.selectBackend({ prefer: 'auto', log: null });
  const fed = meta.federatedMnist({ clients: 4, scheme: 'classes', classesPerClient: 2, supportPerClass: 20, queryPerClass: 50, seed: 1 });
  const pooled = meta.concat(fed.clients.map((c) => c.support));
  assert.equal(ref.pooled.rows, pooled.count);
  assert.equal(ref.pooled.rows, 4 * 2 * 20);
  assert.equal(ref.testRows, fed.test.count);
  // The budget: the examples the federation processed (4 clients x 3 rounds x 10 local steps
  // of batch 32), and what each client trained alone.
  assert.equal(ref.stepsPerRound, 10);
  assert.equal(ref.batchSize, 32);
  assert.equal(ref.pooled.steps, 4 * 3 * 10);
  assert.deepEqual(ref.sites.map((s) => [s.rows, s.steps]), fed.clients.map((c) => [c.support.count, 3 * 10]));
  // The pooled model, trained here on the pooled data and scored on the test set, is the row.
  const spec = meta.createModel({ kind: 'mlp', inputShape: [...fed.test.shape], hidden: [16], numClasses: 10 });
  assert.equal(spec.paramCount, report.parameters);
  const params = meta.trainCentrally(spec, pooled, { steps: 4 * 3 * 10, batchSize: 32, lr: 0.05 }, 1);
  assert.equal(ref.pooled.accuracy, meta.createAlgorithm('reptile', spec).accuracy(params, fed.test, fed.test));
  // Two digits per client: alone, a client knows 2 of the 10 classes; pooled, all of them.
  assert.ok(ref.sites.every((s) => s.accuracy < ref.pooled.accuracy), JSON.stringify(ref));

  // The summary table and the HTML report show the three rows.
  const text = renderSummary(report);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  assert.match(text, new RegExp(`^ +federated +${pct(report.final.globalAccuracy!)} `, 'm'));
  assert.match(text, new RegExp(`^ +pooled +${pct(ref.pooled.accuracy)} +all clients' ${pooled.count} training examples`, 'm'));
  const mean = ref.sites.reduce((a, s) => a + s.accuracy, 0) / ref.sites.length;
  assert.match(text, new RegExp(`^ +client alone +${pct(mean)} +mean over 4 clients`, 'm'));
  const page = readFileSync(html, 'utf8');
  assert.ok(page.includes('test accuracy: pooled') && page.includes('test accuracy: client alone'), 'the report lists the reference runs');
});

test('fedmeta simulate --dataset fashion --model cnn takes the CNN defaults; --reference off leaves the reference rows out', async () => {
  // The CNN's architecture is the tuned one of @fedmeta/meta (FASHION_MNIST_DEFAULTS.cnn).
  const { FASHION_MNIST_DEFAULTS } = await import('@fedmeta/meta');
  const cnn = SIMULATE_CNN_DEFAULTS['meta'] as { hidden: number; batchSize: number; lr: number };
  assert.equal(cnn.hidden, FASHION_MNIST_DEFAULTS.cnn.model.embedding);
  assert.equal(cnn.batchSize, FASHION_MNIST_DEFAULTS.cnn.hyper.batchSize);
  const r = await run(['simulate', '--dataset', 'fashion', '--model', 'cnn', '--clients', '3', '--rounds', '1', '--dp', 'off', '--drop', 'none', '--reference', 'off', '--out', join(dir, 'cnn'), '--json']);
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(r.out) as SimulationReport;
  assert.equal(report.dataset, 'fashion-mnist');
  assert.equal(report.model, 'cnn');
  // convs 3x3 1->16 and 16->32 (stride 2), embedding 7*7*32 -> 64, head 64 -> 10
  assert.equal(report.parameters, (9 * 16 + 16) + (9 * 16 * 32 + 32) + (7 * 7 * 32 * 64 + 64) + (64 * 10 + 10));
  assert.match(r.err, new RegExp(`local steps of batch ${cnn.batchSize}, lr ${cnn.lr}\\)`));
  assert.equal(report.reference, undefined);
  assert.doesNotMatch(renderSummary(report), /reference runs/);
  const bad = spawnSync(process.execPath, [bin, 'simulate', '--dataset', 'fashon'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--dataset: must be mnist or fashion \(got "fashon"\); did you mean 'fashion'\?/);
  const model = spawnSync(process.execPath, [bin, 'simulate', '--model', 'cnnn'], { encoding: 'utf8' });
  assert.equal(model.status, 2);
  assert.match(model.stderr, /meta\.model: must be one of .*did you mean 'cnn'\?/);
});
