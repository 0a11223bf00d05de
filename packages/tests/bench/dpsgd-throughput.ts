/**
 * Bench: DP-SGD throughput as a ratio to non-private training, with the noise a client really
 * draws. Examples/s of FedAvg's localUpdate (SGD, what non-private training runs) against meta's
 * dpSgdUpdate on the same batch of 64 real MNIST examples, without noise and with the client's
 * sources (as @fedmeta/client's recordDpSources(cryptoRandom()), the pipeline's default: Poisson
 * uniforms and dp's fillGaussian on one OS-CSPRNG stream), for the MLP 784-64-10, the linear model
 * and the default small CNN. Prints a markdown table. It lives here, not in meta's benches,
 * because meta does not depend on dp.
 *
 *   npx tsc -b && node packages/tests/dist/bench/dpsgd-throughput.js
 *
 * Env: BENCH_SECONDS (per measurement, default 1.5).
 */
import { createAlgorithm, createModel, dpSgdUpdate, FASHION_MNIST_DEFAULTS, loadMnist, selectBackend, setTrainingEngine, type ClientSet, type DpSgdSources, type LabeledSet, type ModelSpec } from '@fedmeta/meta';
import { cryptoRandom, sampleStandardNormal } from '@fedmeta/dp';
import { recordDpSources } from '@fedmeta/client';

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

/** The client's own DP-SGD sources over the OS CSPRNG. */
const clientSources = (): DpSgdSources => recordDpSources(cryptoRandom());

/** The previous client sampler: one Box-Muller normal at a time (sampleStandardNormal) on the same CSPRNG. */
function scalarSources(): DpSgdSources {
  const r = cryptoRandom();
  return { uniform: () => r.uniform53(), gaussian: (out, std) => { for (let i = 0; i < out.length; i++) out[i] = std * sampleStandardNormal(r); } };
}

await selectBackend({ prefer: 'wasm', log: null });
setTrainingEngine('wasm-simd');
const mnist = loadMnist();
const per = 784;
const set: LabeledSet = { x: mnist.x.slice(0, BATCH * per), y: mnist.y.slice(0, BATCH), count: BATCH, shape: [28, 28, 1], numClasses: 10 };
const client: ClientSet = { id: 0, support: set, query: set };

const models: [string, ModelSpec][] = [
  ['MLP 784-64-10', createModel({ kind: 'mlp', inputShape: [28, 28, 1], hidden: [64], numClasses: 10 })],
  ['linear 784-10', createModel({ kind: 'linear', inputShape: [28, 28, 1], numClasses: 10 })],
  ['CNN [16,32], embedding 64, 28x28x1', createModel(FASHION_MNIST_DEFAULTS.cnn.model)],
];

const rows: string[] = [];
const f = (v: number) => Math.round(v).toLocaleString('en-US');
for (const [label, spec] of models) {
  const g = spec.initParams(1);
  const fedavg = createAlgorithm('fedavg', spec);
  const sgd = rate(BATCH * STEPS, () => fedavg.localUpdate(g, client, { localSteps: STEPS, batchSize: BATCH, lr: 0.05 }, 1));
  const hyper = { steps: STEPS, sampleRate: 1, lr: 0.05, l2Clip: 1, noiseStd: 0 };
  const csprng = clientSources();
  const dp = rate(BATCH * STEPS, () => dpSgdUpdate(spec, g, client, hyper, csprng));
  const dpNoise = rate(BATCH * STEPS, () => dpSgdUpdate(spec, g, client, { ...hyper, noiseStd: 1 }, csprng));
  const scalar = scalarSources();
  const dpScalar = rate(BATCH * STEPS, () => dpSgdUpdate(spec, g, client, { ...hyper, noiseStd: 1 }, scalar));
  rows.push(`| ${label} | ${spec.paramCount.toLocaleString('en-US')} | ${f(sgd)} | ${f(dp)} | ${(sgd / dp).toFixed(2)}x | ${f(dpNoise)} | ${(sgd / dpNoise).toFixed(2)}x | ${f(dpScalar)} | ${(sgd / dpScalar).toFixed(2)}x |`);
  console.error(`done: ${label}`);
}
console.log(`DP-SGD vs SGD, batch ${BATCH} of MNIST, ${STEPS} steps a call, examples/s (best of 3 windows of ${(SECONDS / 3).toFixed(1)} s; slowdown = SGD / DP-SGD per example)\n`);
console.log('| model | params | SGD: FedAvg localUpdate | DP-SGD, no noise | slowdown | DP-SGD + CSPRNG noise (fillGaussian, the client\'s) | slowdown | DP-SGD + CSPRNG noise (one sampleStandardNormal at a time) | slowdown |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
