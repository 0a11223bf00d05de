/**
 * Bench: examples/s of one non-private SGD step against one DP-SGD step (per-example
 * gradients, clipping, noise) on the same batch of 64 real MNIST examples, for the MLP
 * 784-64-10, the linear model and the default small CNN (FASHION_MNIST_DEFAULTS.cnn). Prints a
 * markdown table with the slowdown per example.
 *
 *   npm run bench:dpsgd -w @fedmeta/meta        # also the last part of `npm run bench`
 *
 * Columns: SGD = FedAvg's localUpdate (the fused engine, batch 64 as two passes of 32, what
 * training runs) and the engine's single 64-example pass (the fastest existing step);
 * DP-SGD = dpSgdUpdate with sampleRate 1 (every record in every batch, so the batch is the same
 * 64) without noise (noiseStd 0: the clipping machinery alone). DP-SGD with the noise a client
 * really draws (dp's CSPRNG bulk sampler) is measured by packages/tests/bench/dpsgd-throughput.ts
 * (meta does not depend on dp).
 * Env: BENCH_SECONDS (per measurement, default 1.5).
 */
import { selectBackend } from '../src/backend.js';
import { createAlgorithm } from '../src/algorithms/index.js';
import { dpSgdUpdate, type DpSgdSources } from '../src/algorithms/dpsgd.js';
import type { ClientSet, LabeledSet } from '../src/algorithms/types.js';
import { Engine, setTrainingEngine } from '../src/engine/index.js';
import { loadMnist } from '../src/data/index.js';
import { FASHION_MNIST_DEFAULTS, createModel, type ModelSpec } from '../src/models/index.js';
import { createPrng } from '../src/rng.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 1.5);
const BATCH = 64;
const STEPS = 5;

/** Examples per second of `run` (which processes `examples` examples), best of three timed windows. */
function rate(examples: number, run: () => void): number {
  for (let i = 0; i < 3; i++) run();
  let best = 0;
  for (let w = 0; w < 3; w++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < (SECONDS * 1000) / 3) {
      run();
      n++;
      t = performance.now();
    }
    best = Math.max(best, (n * examples) / ((t - t0) / 1000));
  }
  return best;
}

function sources(seed: number): DpSgdSources {
  const u = createPrng(seed, 1);
  return { uniform: () => u.next(), gaussian: () => { throw new Error('no noise in this bench'); } };
}

await selectBackend({ prefer: 'wasm', log: null });
setTrainingEngine('wasm-simd');
const mnist = loadMnist();
const per = 784;
const subset = (offset: number): LabeledSet => ({
  x: mnist.x.slice(offset * per, (offset + BATCH) * per),
  y: mnist.y.slice(offset, offset + BATCH),
  count: BATCH,
  shape: [28, 28, 1],
  numClasses: 10,
});
const set = subset(0);
const client: ClientSet = { id: 0, support: set, query: set };
const all = Int32Array.from({ length: BATCH }, (_, i) => i);

const models: [string, ModelSpec][] = [
  ['MLP 784-64-10', createModel({ kind: 'mlp', inputShape: [28, 28, 1], hidden: [64], numClasses: 10 })],
  ['linear 784-10', createModel({ kind: 'linear', inputShape: [28, 28, 1], numClasses: 10 })],
  ['CNN [16,32], embedding 64, 28x28x1', createModel(FASHION_MNIST_DEFAULTS.cnn.model)],
];

const rows: string[] = [];
for (const [label, spec] of models) {
  const g = spec.initParams(1);
  const fedavg = createAlgorithm('fedavg', spec);
  const sgdUpdate = rate(BATCH * STEPS, () => fedavg.localUpdate(g, client, { localSteps: STEPS, batchSize: BATCH, lr: 0.05 }, 1));
  const engine = new Engine(spec);
  engine.setParams(g);
  const plan = engine.plan(BATCH);
  const sgdPass = rate(BATCH, () => {
    engine.load(plan, set, all);
    plan.lossAndGrad();
    engine.sgd(0.05);
  });
  const sgd = Math.max(sgdUpdate, sgdPass);
  const hyper = { steps: STEPS, sampleRate: 1, lr: 0.05, l2Clip: 1, noiseStd: 0 };
  const src = sources(1);
  const dp = rate(BATCH * STEPS, () => dpSgdUpdate(spec, g, client, hyper, src));
  const f = (v: number) => Math.round(v).toLocaleString('en-US');
  rows.push(`| ${label} | ${spec.paramCount.toLocaleString('en-US')} | ${f(sgdUpdate)} | ${f(sgdPass)} | ${f(dp)} | ${(sgd / dp).toFixed(2)}x |`);
  console.error(`done: ${label}`);
}
console.log(`DP-SGD vs SGD, batch ${BATCH} of MNIST, examples/s (best of 3 windows of ${(SECONDS / 3).toFixed(1)} s; slowdown against the faster SGD column)\n`);
console.log('| model | params | SGD: FedAvg localUpdate | SGD: one 64-example engine pass | DP-SGD, no noise | slowdown |');
console.log('|---|---|---|---|---|---|');
console.log('\nDP-SGD with CSPRNG noise: node packages/tests/dist/bench/dpsgd-throughput.js');
for (const r of rows) console.log(r);
