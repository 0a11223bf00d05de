/**
 * Where a training step's time goes, per model (batch 20, one FedAvg SGD step):
 * 1. on tfjs (wasm backend, the path every model took before the fused engine): wall time of
 *    the forward pass alone and of the whole step (forward, gradient tape, SGD), the kernels
 *    dispatched per step by name with tfjs's own kernel timings (tf.profile), the tensors and
 *    bytes allocated per step, and the time outside kernels (dispatch, tape, allocation);
 * 2. on the fused engine: the step's time per kernel kind (each kernel compiled as its own
 *    function for the measurement; minimum over repetitions).
 *
 *   npm run profile -w @fedmeta/meta
 * Env: PROFILE_MODELS (comma list of mlp,cnn,resnet,resnet18; default mlp,cnn,resnet).
 */
import { selectBackend } from '../src/backend.js';
import { lossAndGrads, lossOf, makeBatch, sgd, disposeBatch } from '../src/algorithms/train.js';
import { Engine } from '../src/engine/index.js';
import { cnn, mlp, resnet, resnet18, unflattenParams, type ModelSpec } from '../src/models/index.js';
import { createPrng } from '../src/rng.js';
import { tf } from '../src/tf.js';

const BATCH = 20;
const MODELS: [string, string, ModelSpec][] = [
  ['mlp', 'MLP 784-64-10', mlp({ inputShape: [28, 28, 1], hidden: [64], numClasses: 10 })],
  ['cnn', 'CNN [16,32], embedding 64, 32x32x3', cnn({ inputShape: [32, 32, 3], channels: [16, 32], embedding: 64, numClasses: 10 })],
  ['resnet', 'residual CNN [16,32,64], 32x32x3', resnet({ inputShape: [32, 32, 3], stages: [16, 32, 64], numClasses: 10 })],
  ['resnet18', 'ResNet-18 (group norm), 32x32x3', resnet18({ inputShape: [32, 32, 3], numClasses: 10 })],
];
const WANT = (process.env['PROFILE_MODELS'] ?? 'mlp,cnn,resnet').split(',');

function data(spec: ModelSpec) {
  const rng = createPrng(5, 1);
  const per = spec.inputShape.reduce((a, b) => a * b, 1);
  return {
    x: Float32Array.from({ length: BATCH * per }, () => rng.normal()),
    y: Int32Array.from({ length: BATCH }, (_, i) => i % spec.numClasses),
    count: BATCH,
    shape: [...spec.inputShape],
    numClasses: spec.numClasses,
  };
}

/** Milliseconds per call: the minimum over `reps` timed calls after `warm` untimed ones. */
function time(f: () => void, warm: number, reps: number): number {
  for (let i = 0; i < warm; i++) f();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    f();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

const fmt = (ms: number) => (ms >= 10 ? ms.toFixed(1) : ms.toFixed(3));

await selectBackend({ prefer: 'wasm', log: null });
for (const [key, label, spec] of MODELS) {
  if (!WANT.includes(key)) continue;
  const set = data(spec);
  const idx = Array.from({ length: BATCH }, (_, i) => i);
  const slow = key === 'resnet' || key === 'resnet18';
  console.log(`\n### ${label}, batch ${BATCH}\n`);

  // 1. tfjs
  const batch = makeBatch(spec, set, idx);
  let params = unflattenParams(spec, spec.initParams(1));
  const step = () => {
    const next = tf.tidy(() => {
      const { loss, grads } = lossAndGrads((ps) => lossOf(spec, ps, batch), params);
      loss.dataSync();
      return sgd(params, grads, 0.01);
    });
    params.forEach((p) => p.dispose());
    params = next;
  };
  const forward = () => tf.tidy(() => lossOf(spec, params, batch).dataSync());
  const tfjsReps = key === 'resnet18' ? 1 : slow ? 3 : 20;
  const wallStep = time(step, key === 'resnet18' ? 1 : 3, tfjsReps);
  const wallForward = time(forward, 2, tfjsReps);
  const info = await tf.profile(step);
  const byName = new Map<string, { n: number; ms: number }>();
  let kernelMs = 0;
  let bytes = 0;
  for (const k of info.kernels) {
    const e = byName.get(k.name) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += k.kernelTimeMs as number;
    kernelMs += k.kernelTimeMs as number;
    bytes += (k.outputShapes as number[][]).reduce((s, shape) => s + 4 * shape.reduce((a, b) => a * b, 1), 0);
    byName.set(k.name, e);
  }
  params.forEach((p) => p.dispose());
  disposeBatch(batch);
  console.log(`tfjs (wasm backend): ${fmt(wallStep)} ms per step (forward alone ${fmt(wallForward)} ms), ${info.kernels.length} kernels dispatched, ` +
    `${(bytes / 2 ** 20).toFixed(1)} MiB of kernel outputs allocated; under tf.profile the kernels took ${fmt(kernelMs)} ms of the step.\n`);
  console.log('| tfjs kernel | calls per step | ms (tf.profile) | share of kernel time |');
  console.log('|---|---|---|---|');
  for (const [name, e] of [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 10)) {
    console.log(`| ${name} | ${e.n} | ${fmt(e.ms)} | ${((100 * e.ms) / kernelMs).toFixed(1)}% |`);
  }

  // 2. the fused engine
  const engine = new Engine(spec);
  engine.setParams(spec.initParams(1));
  const plan = engine.plan(BATCH);
  engine.load(plan, set, idx);
  const engineReps = key === 'resnet18' ? 3 : slow ? 10 : 200;
  const wallEngine = time(() => {
    plan.lossAndGrad();
    engine.sgd(0.01);
  }, key === 'resnet18' ? 3 : slow ? 10 : 200, engineReps);
  const profiled = engine.profilePlan(BATCH);
  engine.load(profiled, set, idx);
  const best = new Map<string, number>();
  for (let r = 0; r < Math.max(3, engineReps); r++) {
    for (const [k, ms] of profiled.timeSteps()) best.set(k, Math.min(best.get(k) ?? Infinity, ms));
  }
  const total = [...best.values()].reduce((a, b) => a + b, 0);
  console.log(`\nfused engine: ${fmt(wallEngine)} ms per step (${(wallStep / wallEngine).toFixed(1)}x tfjs); by kernel kind (separately compiled kernels, best of ${Math.max(3, engineReps)}):\n`);
  console.log('| engine kernel | ms | share |');
  console.log('|---|---|---|');
  for (const [k, ms] of [...best.entries()].sort((a, b) => b[1] - a[1])) console.log(`| ${k} | ${fmt(ms)} | ${((100 * ms) / total).toFixed(1)}% |`);
}
