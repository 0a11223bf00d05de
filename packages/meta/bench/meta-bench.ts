/**
 * Bench: personalised accuracy on non-IID MNIST for FedAvg, FedAvg+FT, Reptile, FO-MAML,
 * Per-FedAvg(HF) and ProtoNets, same data, rounds and local budget for all; then training
 * throughput per available backend and training engine. Prints markdown tables. (`npm run bench`
 * first runs bench/throughput.ts: fedmeta against PyTorch.)
 *
 *   npm run bench -w packages/meta              # the reported run (3 seeds)
 *   BENCH_TUNE=1 npm run bench -w packages/meta # the lr grid used to pick each method's lr (tuning seed 100)
 * Env: BENCH_ROUNDS, BENCH_SEEDS (e.g. "1,2,3"), BENCH_METHODS (comma list), BENCH_BACKEND,
 * BENCH_THROUGHPUT_ONLY=1, BENCH_FEDERATION (JSON options of federatedSplit), BENCH_BATCH,
 * BENCH_HELDOUT (clients that never train, default 10), BENCH_SERVER (JSON MetaOptimizerConfig for
 * every method), BENCH_HYPER (JSON per-method overrides, e.g. {"fomaml":{"innerSteps":5}}),
 * BENCH_DATASETS (mnist,mnist-local,fashion), BENCH_HIDDEN (JSON hidden widths), BENCH_LABELS=local.
 */
import { type FederatedOptions, federatedMnist, federatedSplit, loadFashionMnist } from '../src/data/index.js';
import { selectBackend, type BackendName } from '../src/backend.js';
import { createAlgorithm } from '../src/algorithms/index.js';
import type { AlgorithmName, ClientSet, LocalHyper } from '../src/algorithms/types.js';
import { mlp } from '../src/models/mlp.js';
import { cnn } from '../src/models/cnn.js';
import { unflattenParams, type ModelSpec } from '../src/models/spec.js';
import { disposeBatch, makeBatch } from '../src/algorithms/train.js';
import { runFederatedSimulation } from '../src/simulate.js';
import { evaluatePersonalized, type PersonalizedReport } from '../src/evaluate.js';
import type { MetaOptimizerConfig } from '../src/meta-optimizer.js';
import { tf } from '../src/tf.js';
import { setTrainingEngine, type TrainingEngineName } from '../src/engine/index.js';

const env = process.env;
const ROUNDS = Number(env['BENCH_ROUNDS'] ?? 25);
const SEEDS = (env['BENCH_SEEDS'] ?? '1,2,3').split(',').map(Number);
const EVAL_STEPS = 5;
/**
 * BENCH_FEDERATION (JSON options of federatedSplit) replaces every regime's split (the regime's
 * label coding stays unless it sets `labels`); BENCH_LABELS=local switches any regime to
 * site-local label codes.
 */
const FEDERATION_OVERRIDE: Partial<FederatedOptions> | null = JSON.parse(env['BENCH_FEDERATION'] ?? 'null');
const LOCAL_LABELS = env['BENCH_LABELS'] === 'local';
const CLIENTS_PER_ROUND = 5;
/**
 * BENCH_HELDOUT=k (default 10; 0 = none) adds k clients to the federation that never train
 * (the FedMeta setting: new sites personalise from the learned initialisation); they are
 * reported separately. The lr grid in docs/experiments/meta-learning.md was run with BENCH_HELDOUT=0.
 */
const HELDOUT = Number(env['BENCH_HELDOUT'] ?? 10);
/** BENCH_HYPER: JSON per algorithm name of overrides, e.g. {"fomaml":{"innerSteps":5,"evalLr":0.1}}. */
const OVERRIDES: Record<string, Partial<LocalHyper> & { evalLr?: number }> = JSON.parse(env['BENCH_HYPER'] ?? '{}');
const HIDDEN: number[] = JSON.parse(env['BENCH_HIDDEN'] ?? '[64]');
const spec = mlp({ inputShape: [28, 28, 1], hidden: HIDDEN, numClasses: 10 });
/**
 * BENCH_DATASETS: which regimes to tabulate, in order (default mnist,mnist-local).
 * - 'mnist': the 10k digits of the `mnist` package, Dirichlet(0.3) label skew, shared labels.
 *   Of the label-skew splits tried (2 classes per client with 5 or 10 support per class,
 *   Dirichlet 0.1 and 0.3) this one left the most headroom.
 * - 'mnist-local': the same split, but each site codes the classes it holds as 0..k-1 in its
 *   own order (federatedSplit's labels: 'local'): k-way 5-shot tasks, the setting
 *   meta-learning is built for, where one shared head cannot serve every site.
 * - 'fashion': Fashion-MNIST's 10k test split from Debian's dataset-fashion-mnist in the
 *   'mnist' regime (a harder task on the same grid; BENCH_FASHION_SPLIT=train takes the 60k split).
 */
type DatasetName = 'mnist' | 'mnist-local' | 'fashion';
const DATASETS = (env['BENCH_DATASETS'] ?? env['BENCH_DATASET'] ?? 'mnist,mnist-local').split(',') as DatasetName[];
/**
 * `lrs`: where a regime's own lr grid (docs/experiments/meta-learning.md) picked another cell than MNIST's grid, per
 * method label; every other method has the same cell in all grids.
 */
const REGIMES: Record<DatasetName, { title: string; federation: Omit<FederatedOptions, 'seed'>; lrs?: Record<string, { lr?: number; evalLr?: number }> }> = {
  mnist: { title: 'MNIST', federation: { clients: 20, scheme: 'dirichlet', alpha: 0.3, supportPerClass: 5, queryPerClass: 20 } },
  'mnist-local': {
    title: 'MNIST',
    federation: { clients: 20, scheme: 'dirichlet', alpha: 0.3, supportPerClass: 5, queryPerClass: 20, labels: 'local' },
    lrs: { 'FO-MAML': { lr: 0.1, evalLr: 0.3 } },
  },
  fashion: {
    title: 'Fashion-MNIST',
    federation: { clients: 20, scheme: 'dirichlet', alpha: 0.3, supportPerClass: 5, queryPerClass: 20 },
    lrs: { 'FedAvg+FT': { evalLr: 0.1 }, Reptile: { evalLr: 0.1 } },
  },
};
for (const d of DATASETS) if (!REGIMES[d]) throw new Error(`BENCH_DATASETS: unknown regime ${d} (mnist, mnist-local, fashion)`);
/** The regime's name in headers: the dataset, and the label coding when it is site-local. */
const regimeTitle = (dataset: DatasetName) => `${REGIMES[dataset].title}${federationOptions(dataset).labels === 'local' ? ', site-local label codes' : ''}`;
function federationOptions(dataset: DatasetName): Omit<FederatedOptions, 'seed'> {
  const regime = REGIMES[dataset].federation;
  const f = FEDERATION_OVERRIDE ? { labels: regime.labels, ...FEDERATION_OVERRIDE } as Omit<FederatedOptions, 'seed'> : regime;
  return LOCAL_LABELS ? { ...f, labels: 'local' } : f;
}
const fashion = DATASETS.includes('fashion') ? await loadFashionMnist({ split: (env['BENCH_FASHION_SPLIT'] as 'train' | 'test' | undefined) ?? 'test' }) : null;
/** Same local budget for every method: 5 local steps on minibatches of 10 support examples. */
const BASE: Omit<LocalHyper, 'lr'> = { localSteps: 5, batchSize: Number(env['BENCH_BATCH'] ?? 20) };

interface Method {
  label: string;
  algorithm: AlgorithmName;
  /** name in BENCH_METHODS / BENCH_HYPER (default: the algorithm's name) */
  key?: string;
  /** local hyperparameters beyond BASE */
  hyper: Partial<LocalHyper> & { lr: number };
  /** adaptation lr at evaluation (and the training inner lr of the MAML family) */
  evalLr: number;
  server: MetaOptimizerConfig;
}

/** Same server for all: plain averaging (FedAvg's rule). */
const SERVER: MetaOptimizerConfig = JSON.parse(env['BENCH_SERVER'] ?? 'null') ?? { kind: 'sgd', lr: 1 };

/**
 * Each method's best cell of the BENCH_TUNE grid (tuning seed 100, not a reported seed), per
 * regime (REGIMES[d].lrs); docs/experiments/meta-learning.md has the grids. The FedAvg+FT row at adaptation lr
 * 0.1 is shown where the tuned one is 0.3, for the held-out clients (see METHODS).
 */
function methodsFor(dataset: DatasetName): Method[] {
  const lrs = REGIMES[dataset].lrs ?? {};
  const tuned = (m: Method): Method => {
    const t = lrs[m.label];
    return t ? { ...m, hyper: { ...m.hyper, lr: t.lr ?? m.hyper.lr }, evalLr: t.evalLr ?? m.evalLr } : m;
  };
  return METHODS.filter((m) => dataset !== 'fashion' || m.key !== 'fedavg-ft-0.1').map(tuned).map(applyOverrides);
}

const METHODS: Method[] = ([
  { label: 'FedAvg', algorithm: 'fedavg', hyper: { lr: 0.3 }, evalLr: 0.3, server: SERVER },
  { label: 'FedAvg+FT', algorithm: 'fedavg-ft', hyper: { lr: 0.3 }, evalLr: 0.3, server: SERVER },
  // The same FedAvg training fine-tuned at the grid's other adaptation lr: on clients that never
  // trained, fine-tuning at 0.3 overfits the few support examples (docs/experiments/meta-learning.md), so the held-out
  // targets use the better of the two FedAvg+FT rows.
  { label: 'FedAvg+FT (adapt lr 0.1)', algorithm: 'fedavg-ft', key: 'fedavg-ft-0.1', hyper: { lr: 0.3 }, evalLr: 0.1, server: SERVER },
  // Reptile's inner loop is the evaluation-time adaptation: full-batch steps on the support set.
  { label: 'Reptile', algorithm: 'reptile', hyper: { lr: 0.3, batchSize: 1000 }, evalLr: 0.3, server: SERVER },
  { label: 'FO-MAML', algorithm: 'fomaml', hyper: { lr: 0.3, innerSteps: 2 }, evalLr: 0.1, server: SERVER },
  { label: 'Per-FedAvg(HF)', algorithm: 'perfedavg-hf', hyper: { lr: 0.1 }, evalLr: 0.1, server: SERVER },
  { label: 'ProtoNets', algorithm: 'protonets', hyper: { lr: 0.05 }, evalLr: 0.01, server: SERVER },
  // Only when named in BENCH_METHODS (explorations; see docs/experiments/meta-learning.md).
  { label: 'MAML', algorithm: 'maml', hyper: { lr: 0.3, innerSteps: 2 }, evalLr: 0.1, server: SERVER },
  { label: 'Per-FedAvg(FO)', algorithm: 'perfedavg-fo', hyper: { lr: 0.3 }, evalLr: 0.1, server: SERVER },
] satisfies Method[] as Method[]);

function applyOverrides(m: Method): Method {
  const o = OVERRIDES[m.key ?? m.algorithm];
  if (!o) return m;
  const { evalLr, ...hyper } = o;
  return { ...m, hyper: { ...m.hyper, ...hyper }, evalLr: evalLr ?? m.evalLr };
}
const DEFAULT_METHODS = ['fedavg', 'fedavg-ft', ...(HELDOUT ? ['fedavg-ft-0.1'] : []), 'reptile', 'fomaml', 'perfedavg-hf', 'protonets'];

interface RunResult {
  /** mean personalised accuracy after EVAL_STEPS adaptation steps, rounds 0..ROUNDS */
  curve: number[];
  /** the same without adaptation (FedAvg's global model when the method is FedAvg+FT) */
  plain: number[];
  /** the personalised curve on the held-out clients (empty without BENCH_HELDOUT) */
  heldout: number[];
  heldoutPlain: number[];
  millis: number;
}

/**
 * `control`: also evaluate the global model the ProtoNets way after every round (nearest
 * prototype of its hidden features, ProtoNets' adaptation), so that for FedAvg the table
 * separates what the prototype classifier brings from what meta-learning the embedding brings.
 */
function runMethod(m: Method, all: ClientSet[], seed: number, control?: Method): RunResult & { control?: RunResult } {
  const algorithm = createAlgorithm(m.algorithm, spec);
  const started = performance.now();
  const init = spec.initParams(seed);
  const clients = all.slice(0, all.length - HELDOUT);
  const heldoutIds = new Set(all.slice(all.length - HELDOUT).map((c) => c.id));
  const first = evaluatePersonalized(algorithm, init, all, { steps: EVAL_STEPS, lr: m.evalLr });
  const prototypes = control && createAlgorithm('protonets', spec);
  let controlMillis = 0; // kept out of the method's own time
  const evalControl = (p: Float32Array) => {
    const t = performance.now();
    const r = evaluatePersonalized(prototypes!, p, all, { steps: EVAL_STEPS, lr: control!.evalLr });
    controlMillis += performance.now() - t;
    return r;
  };
  const controlReports = prototypes ? [evalControl(init)] : [];
  const sim = runFederatedSimulation({
    algorithm, clients, rounds: ROUNDS, clientsPerRound: CLIENTS_PER_ROUND, seed, initial: init,
    hyper: { ...BASE, innerLr: m.evalLr, ...m.hyper }, serverOptimizer: m.server,
    evaluation: { steps: EVAL_STEPS, lr: m.evalLr, every: 1, clients: all },
    onRound: (_, p) => prototypes && controlReports.push(evalControl(p)),
  });
  const reports = [first, ...sim.rounds.map((r) => r.evaluation!)];
  const meanOf = (part: boolean, key: 'after' | 'before', rs = reports) => rs.map((r) => splitMean(r, heldoutIds, part, key));
  const millis = performance.now() - started - controlMillis;
  const controlCurves = (): RunResult => ({
    curve: meanOf(false, 'after', controlReports), plain: meanOf(false, 'before', controlReports),
    heldout: HELDOUT ? meanOf(true, 'after', controlReports) : [], heldoutPlain: [], millis: controlMillis,
  });
  return {
    ...(prototypes ? { control: controlCurves() } : {}),
    curve: meanOf(false, 'after'),
    plain: meanOf(false, 'before'),
    heldout: HELDOUT ? meanOf(true, 'after') : [],
    heldoutPlain: HELDOUT ? meanOf(true, 'before') : [],
    millis,
  };
}

/** Mean accuracy of one evaluation over seen + held-out clients, split by id. */
function splitMean(r: PersonalizedReport, heldoutIds: Set<ClientSet['id']>, heldout: boolean, key: 'after' | 'before'): number {
  const xs = r.perClient.filter((c) => heldoutIds.has(c.id) === heldout).map((c) => c[key]);
  return xs.length ? mean(xs) : NaN;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const pct = (xs: number[]) => `${(100 * mean(xs)).toFixed(1)} ± ${(100 * std(xs)).toFixed(1)}`;
/** First round whose accuracy reaches `target` (0 = already at initialisation), or undefined. */
const roundsToReach = (curve: number[], target: number) => {
  const r = curve.findIndex((a) => a >= target - 1e-9);
  return r < 0 ? undefined : r;
};

function federation(dataset: DatasetName, seed: number): ClientSet[] {
  const f = federationOptions(dataset);
  const opts = { ...f, clients: f.clients + HELDOUT, seed };
  return (dataset === 'fashion' ? federatedSplit(fashion!, opts) : federatedMnist(opts)).clients;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function accuracyTable(dataset: DatasetName): Promise<void> {
  const want = env['BENCH_METHODS']?.split(',') ?? DEFAULT_METHODS;
  const methods = methodsFor(dataset).filter((m) => want.includes(m.key ?? m.algorithm));
  // FedAvg and FedAvg+FT share one training run: the curve without adaptation is FedAvg's.
  const rows = new Map<string, RunResult[]>();
  const proto = methods.find((m) => m.algorithm === 'protonets');
  const CONTROL = 'FedAvg, prototype classifier (control)';
  for (const seed of SEEDS) {
    const clients = federation(dataset, seed);
    for (const m of methods) {
      if (m.algorithm === 'fedavg') continue;
      const r = runMethod(m, clients, seed, m.label === 'FedAvg+FT' ? proto : undefined);
      const every5 = (c: number[]) => c.filter((_, i) => i % 5 === 0 || i === c.length - 1).map((a) => (100 * a).toFixed(1)).join(' ');
      log(`${dataset} seed ${seed} ${m.label}: curve ${every5(r.curve)}${HELDOUT ? ` | held-out ${every5(r.heldout)}` : ''} (${(r.millis / 1000).toFixed(1)} s)`);
      rows.set(m.label, [...(rows.get(m.label) ?? []), r]);
      if (m.label === 'FedAvg+FT' && methods.some((x) => x.algorithm === 'fedavg')) {
        rows.set('FedAvg', [...(rows.get('FedAvg') ?? []), { ...r, curve: r.plain, heldout: r.heldoutPlain }]);
      }
      if (r.control) rows.set(CONTROL, [...(rows.get(CONTROL) ?? []), r.control]);
    }
  }
  const finals = (label: string, key: 'curve' | 'heldout' = 'curve') => rows.get(label)?.map((r) => r[key].at(-1)!);
  const ft = finals('FedAvg+FT');
  const fa = finals('FedAvg');
  // Held-out target per seed: the better of the two FedAvg+FT adaptation lrs.
  const ftAlt = finals('FedAvg+FT (adapt lr 0.1)', 'heldout');
  const ftHeld = finals('FedAvg+FT', 'heldout')?.map((x, k) => Math.max(x, ftAlt?.[k] ?? -1));
  const f = federationOptions(dataset);
  console.log(`\n### Personalised accuracy, non-IID ${regimeTitle(dataset)} (${f.clients} clients, ${f.scheme === 'dirichlet' ? `Dirichlet alpha ${f.alpha}` : `${f.classesPerClient} classes each`}, ` +
    `${f.supportPerClass} support + <= ${f.queryPerClass} query per class; ${CLIENTS_PER_ROUND} clients/round, ${ROUNDS} rounds; ` +
    `MLP 784-${HIDDEN.join('-')}-10; server ${JSON.stringify(SERVER)}; ${HELDOUT ? `${HELDOUT} held-out clients never train; ` : ''}seeds ${SEEDS.join(',')}; backend ${tf.getBackend()})\n`);
  const ho = HELDOUT ? ` held-out: final acc. (%) | held-out: rounds to the better FedAvg+FT's final |` : '';
  console.log(`| method | final acc., ${EVAL_STEPS} steps (%) | rounds to FedAvg's final | rounds to FedAvg+FT's final | final acc. without adaptation (%) |${ho} s per run |`);
  console.log(`|---|---|---|---|---|${HELDOUT ? '---|---|' : ''}---|`);
  const order = ['FedAvg', ...methods.filter((m) => m.algorithm !== 'fedavg').map((m) => m.label), CONTROL];
  for (const label of order) {
    const runs = rows.get(label);
    if (!runs) continue;
    // Targets are per seed: the baseline's own final accuracy on the same data.
    const reach = (targets: number[] | undefined, key: 'curve' | 'heldout' = 'curve') => {
      if (!targets) return 'n/a';
      const rs = runs.map((r, k) => roundsToReach(r[key], targets[k]!));
      return rs.every((x) => x !== undefined) ? `${mean(rs as number[]).toFixed(1)} (${rs.join(', ')})` : `not reached in ${rs.filter((x) => x === undefined).length}/${rs.length} seeds (${rs.map((x) => x ?? '-').join(', ')})`;
    };
    const final = label === 'FedAvg' ? pct(runs.map((r) => r.curve.at(-1)!)) + ' (no adaptation)' : pct(runs.map((r) => r.curve.at(-1)!));
    const heldCells = HELDOUT ? ` ${pct(runs.map((r) => r.heldout.at(-1)!))} | ${reach(ftHeld, 'heldout')} |` : '';
    console.log(`| ${label} | ${final} | ${reach(fa)} | ${reach(ft)} | ${pct(runs.map((r) => r.plain.at(-1)!))} |${heldCells} ${mean(runs.map((r) => r.millis / 1000)).toFixed(1)} |`);
  }
  const protoRuns = rows.get('ProtoNets');
  const controlFinals = finals(CONTROL);
  if (protoRuns && controlFinals) {
    const rs = protoRuns.map((r, k) => roundsToReach(r.curve, controlFinals[k]!));
    console.log(`\nThe control row is FedAvg's training run classified the ProtoNets way (nearest prototype of its hidden features, ` +
      `ProtoNets' adaptation), so ProtoNets minus the control is what meta-learning the embedding adds. ProtoNets reaches the control's final accuracy in rounds ${rs.map((x) => x ?? '-').join(', ')} of ${ROUNDS}.`);
  }
}

/**
 * The lr grid on a separate tuning seed (100), the same trials for every method: local (outer)
 * lr in {0.1, 0.3, 1} x adaptation lr in {0.1, 0.3} (also the MAML family's inner lr). ProtoNets,
 * whose logits are squared distances, gets the grid scaled by 0.5 and 0.1. Scored by the mean
 * personalised accuracy over the last three rounds, to damp round-to-round noise.
 */
async function tune(dataset: DatasetName): Promise<void> {
  const clients = federation(dataset, 100);
  const want = env['BENCH_METHODS']?.split(',') ?? DEFAULT_METHODS;
  console.log(`\n### lr grid, ${regimeTitle(dataset)}, tuning seed 100\n`);
  console.log('| method | lr | adaptation lr | final acc. (%) | mean of last 3 rounds (%) |\n|---|---|---|---|---|');
  for (const m of methodsFor(dataset).filter((x) => x.algorithm !== 'fedavg' && !x.key && want.includes(x.algorithm))) {
    for (const base of [0.1, 0.3, 1]) {
      for (const evalBase of [0.1, 0.3]) {
        const proto = m.algorithm === 'protonets';
        const lr = Number((proto ? base * 0.5 : base).toPrecision(3));
        const evalLr = Number((proto ? evalBase * 0.1 : evalBase).toPrecision(3));
        let line: string;
        try {
          const r = runMethod({ ...m, hyper: { ...m.hyper, lr }, evalLr }, clients, 100);
          line = `${(100 * r.curve.at(-1)!).toFixed(1)} | ${(100 * mean(r.curve.slice(-3))).toFixed(1)}`;
        } catch (e) {
          line = `diverged (${(e as { code?: string }).code ?? (e as Error).message}) | -`;
        }
        console.log(`| ${m.label} | ${lr} | ${evalLr} | ${line} |`);
      }
    }
  }
}

/** Examples per second of `localUpdate` (after one warm-up call). */
function samplesPerSecond(name: AlgorithmName, model: ModelSpec, clients: ClientSet[]): number {
  const a = createAlgorithm(name, model);
  const g = model.initParams(1);
  const h = { ...BASE, lr: 0.05, innerLr: 0.05, innerSteps: 1 };
  // Warm-up (kernel set-up, allocation, the engine's plans and V8's tier-up): 1 s and 2 calls.
  const warm = performance.now();
  for (let k = 0; k < 2 || performance.now() - warm < 1000; k++) a.localUpdate(g, clients[k % clients.length]!, h, k);
  let examples = 0;
  const started = performance.now();
  for (let k = 0; k < 4 || performance.now() - started < 1000; k++) examples += a.localUpdate(g, clients[k % clients.length]!, h, k).metrics.examples;
  return (examples * 1000) / (performance.now() - started);
}

/**
 * The same CNN trained with tf.conv2d (tfjs's own conv kernels and gradients) for comparison:
 * examples per second of SGD steps, or the reason it cannot run (wasm: no Conv2DBackpropFilter).
 */
function conv2dReferenceSamplesPerSecond(model: ModelSpec, clients: ClientSet[]): string {
  const data = clients[0]!.support;
  const params = unflattenParams(model, model.initParams(1));
  const batch = makeBatch(model, data, Array.from({ length: Math.min(20, data.count) }, (_, i) => i));
  const loss = (ps: tf.Tensor[]) => {
    let a = batch.x as tf.Tensor4D;
    for (let i = 0; i < 2; i++) a = tf.relu(tf.add(tf.conv2d(a, ps[2 * i] as tf.Tensor4D, 2, 'same'), ps[2 * i + 1]!)) as tf.Tensor4D;
    const e = tf.relu(tf.add(tf.matMul(tf.reshape(a, [batch.count, -1]), ps[4]!), ps[5]!));
    return tf.losses.softmaxCrossEntropy(batch.oneHot, tf.add(tf.matMul(e, ps[6]!), ps[7]!)) as tf.Scalar;
  };
  try {
    tf.tidy(() => tf.grads((...ps: tf.Tensor[]) => loss(ps))(params));
    const started = performance.now();
    const steps = 3;
    for (let k = 0; k < steps; k++) tf.tidy(() => tf.grads((...ps: tf.Tensor[]) => loss(ps))(params).forEach((g) => g.dataSync()));
    return ((steps * batch.count * 1000) / (performance.now() - started)).toFixed(0);
  } catch (e) {
    return `fails: ${(e as Error).message.split('\n')[0]!.slice(0, 60)}`;
  } finally {
    params.forEach((p) => p.dispose());
    disposeBatch(batch);
  }
}

/**
 * Training samples per second per available backend and training engine, MLP and CNN,
 * measured in one run: the fused wasm engine (what wasm and cpu train with by default), then
 * tfjs ops on each backend (FEDMETA_ENGINE=tfjs; the only path before the engine).
 */
async function throughput(): Promise<void> {
  const clients = federation(DATASETS[0]!, 1);
  const conv = cnn({ inputShape: [28, 28, 1], channels: [16, 32], embedding: 64, numClasses: 10 });
  const candidates: [BackendName, TrainingEngineName][] = [['wasm', 'wasm-simd'], ['tensorflow', 'tfjs'], ['webgpu', 'tfjs'], ['wasm', 'tfjs'], ['cpu', 'tfjs']];
  console.log('\n### Training throughput (samples/s of localUpdate, batch 20, one process)\n');
  console.log('| backend, engine | MLP FedAvg | MLP FO-MAML | MLP MAML (2nd order) | CNN FedAvg (im2col conv) | CNN MAML (2nd order) | CNN with tf.conv2d, SGD |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [name, engine] of candidates) {
    const choice = await selectBackend({ prefer: name, strict: true, log: null }).catch(() => undefined);
    if (!choice) {
      console.log(`| ${name} | not installed | | | | | |`);
      continue;
    }
    setTrainingEngine(engine);
    try {
      const cells = [
        samplesPerSecond('fedavg', spec, clients),
        samplesPerSecond('fomaml', spec, clients),
        samplesPerSecond('maml', spec, clients),
        samplesPerSecond('fedavg', conv, clients),
        samplesPerSecond('maml', conv, clients),
      ].map((x) => x.toFixed(0));
      log(`throughput on ${name}, ${engine} done`);
      const reference = engine === 'tfjs' ? conv2dReferenceSamplesPerSecond(conv, clients) : '(tfjs only)';
      console.log(`| ${name}${choice.provider ? ` (${choice.provider})` : ''}, ${engine === 'tfjs' ? 'tfjs ops' : 'fused wasm engine (MAML: tfjs ops)'} | ${cells.join(' | ')} | ${reference} |`);
    } finally {
      setTrainingEngine('auto');
    }
  }
}

const started = performance.now();
const choice = await selectBackend({ prefer: (env['BENCH_BACKEND'] as BackendName | undefined) ?? 'auto', log });
if (env['BENCH_TUNE']) for (const d of DATASETS) await tune(d);
else if (env['BENCH_THROUGHPUT_ONLY']) await throughput();
else {
  for (const d of DATASETS) await accuracyTable(d);
  if (!env['BENCH_METHODS']) await throughput();
}
log(`total ${((performance.now() - started) / 1000).toFixed(0)} s on ${choice.name}`);
