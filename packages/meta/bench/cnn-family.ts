/**
 * Bench: the CNN family on non-IID Fashion-MNIST (Debian's dataset-fashion-mnist, 10k test
 * split; the bench's `fashion` regime: 30 clients, Dirichlet 0.3, 5 support + <= 20 query per
 * class, 5 clients per round), trained with FedAvg and personalised by fine-tuning (FedAvg+FT,
 * the baseline to beat), now that the fused engine makes convolutional models affordable.
 *
 *   BENCH_GRID=1 npm run bench:cnn -w @fedmeta/meta   # the lr grid on tuning seed 100
 *   npm run bench:cnn -w @fedmeta/meta                # the tuned defaults on seeds 1-3
 *
 * Env: BENCH_MODELS (comma list of keys below; default all), BENCH_ROUNDS (default 25),
 * BENCH_SEEDS (default 1,2,3), BENCH_LRS and BENCH_EVAL_LRS (the grid's lrs, default 0.03,0.1,0.3).
 */
import { federatedSplit, loadFashionMnist } from '../src/data/index.js';
import { selectBackend } from '../src/backend.js';
import { createAlgorithm } from '../src/algorithms/index.js';
import { evaluatePersonalized } from '../src/evaluate.js';
import { createModel } from '../src/models/index.js';
import { FASHION_MNIST_DEFAULTS, type FamilyDefaults } from '../src/models/defaults.js';
import { runFederatedSimulation } from '../src/simulate.js';

const env = process.env;
const ROUNDS = Number(env['BENCH_ROUNDS'] ?? 25);
const SEEDS = (env['BENCH_SEEDS'] ?? '1,2,3').split(',').map(Number);
const WANT = (env['BENCH_MODELS'] ?? Object.keys(FASHION_MNIST_DEFAULTS).join(',')).split(',');
const HELDOUT = 10;
const LRS = (env['BENCH_LRS'] ?? '0.03,0.1,0.3').split(',').map(Number);
const EVAL_LRS = (env['BENCH_EVAL_LRS'] ?? '0.03,0.1,0.3').split(',').map(Number);
const EVAL_STEPS = 5;

const fashion = await loadFashionMnist({ split: 'test' });
const log = (line: string) => process.stderr.write(`${line}\n`);
await selectBackend({ prefer: 'wasm', log });

function federation(seed: number) {
  return federatedSplit(fashion, { clients: 20 + HELDOUT, scheme: 'dirichlet', alpha: 0.3, supportPerClass: 5, queryPerClass: 20, seed }).clients;
}

/** Final personalised accuracy (training clients, held-out clients) and seconds of one FedAvg+FT run. */
function run(d: FamilyDefaults, lr: number, evalLr: number, seed: number) {
  const spec = createModel(d.model);
  const algorithm = createAlgorithm('fedavg-ft', spec);
  const all = federation(seed);
  const train = all.slice(0, all.length - HELDOUT);
  const started = performance.now();
  const sim = runFederatedSimulation({
    algorithm, clients: train, rounds: ROUNDS, clientsPerRound: 5, seed,
    hyper: { ...d.hyper, lr }, serverOptimizer: { kind: 'sgd', lr: 1 },
  });
  const trainMillis = performance.now() - started;
  const report = evaluatePersonalized(algorithm, sim.params, all, { steps: EVAL_STEPS, lr: evalLr });
  const held = new Set<string | number>(all.slice(all.length - HELDOUT).map((c) => c.id));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    seen: mean(report.perClient.filter((c) => !held.has(c.id)).map((c) => c.after)),
    heldout: mean(report.perClient.filter((c) => held.has(c.id)).map((c) => c.after)),
    plain: mean(report.perClient.filter((c) => !held.has(c.id)).map((c) => c.before)),
    trainSeconds: trainMillis / 1000,
    seconds: (performance.now() - started) / 1000,
  };
}

const pct = (x: number) => (100 * x).toFixed(1);
const entries = Object.entries(FASHION_MNIST_DEFAULTS).filter(([k]) => WANT.includes(k));
if (env['BENCH_GRID']) {
  console.log(`\n### FedAvg+FT lr grid, non-IID Fashion-MNIST, tuning seed 100 (${ROUNDS} rounds; final personalised accuracy after ${EVAL_STEPS} steps)\n`);
  console.log('| model | lr | adaptation lr | training clients (%) | held-out clients (%) | without adaptation (%) | s per run |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [key, d] of entries) {
    for (const lr of LRS) {
      for (const evalLr of EVAL_LRS) {
        let cells: string;
        try {
          const r = run(d, lr, evalLr, 100);
          cells = `${pct(r.seen)} | ${pct(r.heldout)} | ${pct(r.plain)} | ${r.seconds.toFixed(0)}`;
        } catch (e) {
          cells = `diverged (${(e as { code?: string }).code ?? (e as Error).message}) | | |`;
        }
        console.log(`| ${key} | ${lr} | ${evalLr} | ${cells} |`);
        log(`${key} lr ${lr} evalLr ${evalLr}: ${cells}`);
      }
    }
  }
} else {
  console.log(`\n### The CNN family's defaults on non-IID Fashion-MNIST (FedAvg+FT, ${ROUNDS} rounds, seeds ${SEEDS.join(',')}; mean ± std)\n`);
  console.log('| model | parameters | lr / adaptation lr | training clients (%) | held-out clients (%) | without adaptation (%) | s of training per run |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [key, d] of entries) {
    const rs = SEEDS.map((s) => run(d, d.hyper.lr, d.evalLr, s));
    const ms = (f: (r: (typeof rs)[number]) => number) => {
      const xs = rs.map(f);
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
      return `${pct(m)} ± ${pct(sd)}`;
    };
    const spec = createModel(d.model);
    console.log(`| ${key} | ${spec.paramCount} | ${d.hyper.lr} / ${d.evalLr} | ${ms((r) => r.seen)} | ${ms((r) => r.heldout)} | ${ms((r) => r.plain)} | ${(rs.reduce((a, r) => a + r.trainSeconds, 0) / rs.length).toFixed(0)} |`);
  }
}
