/**
 * Tabular accuracy bench: is the federated model as accurate as centralised training, and
 * better than what each site could train alone? On real tables (breast cancer, 569 x 30,
 * and digits, 1797 x 64, as Debian's python3-sklearn ships them), per data set and model:
 *
 * - a seeded stratified 20% held-out test set, the same for every row of the table;
 * - the other 80% across 3 sites with Dirichlet(alpha = 0.5) label skew (meta's
 *   partitionDirichlet, seeded; every site keeps at least 20 rows);
 * - pooled: the model trained centrally on all sites' training rows (meta's referenceRuns,
 *   shared with `fedmeta simulate`'s reference rows: FedAvg's local update, minibatch SGD,
 *   same batch and lr) for rounds x sites x localSteps steps,
 *   i.e. exactly as many examples as the whole federation processes (same epoch budget);
 * - each site alone: rounds x localSteps steps on its own rows only (what that site
 *   computes during the federation);
 * - federated: the real coordinator and 3 real clients over loopback WebSockets (classic
 *   SecAgg, cohort of 3, the statistics round for the standardisation, then FedAvg with
 *   `rounds` rounds of `localSteps` local steps), accuracy of FederationSummary.finalParams;
 * - federated with client-level DP at epsilon 8 (delta 1e-5): the same, with clients
 *   clipping and adding distributed discrete Gaussian noise; the noise multiplier is the
 *   smallest @fedmeta/dp's planDdgNoiseMultiplier gives for the DP rounds.
 *
 * Pooled and site-alone rows standardise every row with the pooled training rows' mean and
 * std; the federation computes the same statistics itself under SecAgg (the gap is printed).
 * Every setting runs once per seed (model init and batch sampling; the data split is fixed).
 *
 *   npm run bench -w @fedmeta/tests        (or: node packages/tests/dist/bench/tabular.js)
 *   BENCH_TABULAR_SEEDS=10                 seeds 1..n (default 10)
 *   BENCH_TABULAR_ROUNDS / _LOCAL_STEPS / _LR / _BATCH     override both data sets' settings
 *   BENCH_TABULAR_DP_ROUNDS                rounds of the DP federation
 *   BENCH_TABULAR_DP_CLIP                  its L2 clip
 *   BENCH_TABULAR_DATASETS=breast-cancer,digits   BENCH_TABULAR_MODELS=mlp,logistic
 *   BENCH_TABULAR_ALPHA=0.5   BENCH_TABULAR_DATA_SEED=1
 *   BENCH_TABULAR_DATA_DIR                 where the two files are (default: Debian's python3-sklearn)
 */
import { cpus } from 'node:os';
import { createAlgorithm, createModel, referenceRuns, selectBackend, type Dataset, type ModelConfig, type ModelSpec } from '@fedmeta/meta';
import { noiseToSignal, sitesForClientLevelSignal } from '@fedmeta/dp';
import { SKLEARN_DATA, SPLIT, describe, loadBreastCancer, loadDigits, splitForSites, standardisationGap, standardised, type Loaded, type Table } from './tabular-data.js';
import { SETTINGS, type Setting } from './tabular-settings.js';
import { clientLevelNumClients, planClientLevelDp } from './client-ddg.js';
import { runFederation } from './tabular-federation.js';

const env = (name: string): number | undefined => {
  const v = process.env[`BENCH_TABULAR_${name}`];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`BENCH_TABULAR_${name}: expected a positive number, got "${v}"`);
  return n;
};
const list = (name: string, all: string[]): string[] => (process.env[`BENCH_TABULAR_${name}`] ?? all.join(',')).split(',').map((s) => s.trim()).filter(Boolean);

const SITES = SPLIT.sites;
const ALPHA = env('ALPHA') ?? SPLIT.alpha;
const DATA_SEED = env('DATA_SEED') ?? 1;
const SEEDS = Array.from({ length: env('SEEDS') ?? 10 }, (_, i) => i + 1);
const EPSILON = 8;
const DELTA = 1e-5;

function settingFor(name: string): Setting {
  const s = SETTINGS[name]!;
  return {
    rounds: env('ROUNDS') ?? s.rounds,
    localSteps: env('LOCAL_STEPS') ?? s.localSteps,
    batchSize: env('BATCH') ?? s.batchSize,
    lr: env('LR') ?? s.lr,
    dpRounds: env('DP_ROUNDS') ?? s.dpRounds,
    dpClip: env('DP_CLIP') ?? s.dpClip,
  };
}

interface ModelChoice {
  label: string;
  config: ModelConfig;
}

/**
 * The models: a one-hidden-layer MLP (32 ReLU units) and logistic regression (softmax
 * regression): meta's `linear` kind when createModel has one, else an MLP without hidden
 * layers, which is the same model (logits = x W + b).
 */
function models(features: number, classes: number): ModelChoice[] {
  const out: ModelChoice[] = [];
  const wanted = list('MODELS', ['mlp', 'logistic']);
  if (wanted.includes('mlp')) out.push({ label: `MLP ${features}-32-${classes}`, config: { kind: 'mlp', inputShape: [features], hidden: [32], numClasses: classes } });
  if (wanted.includes('logistic')) {
    const linear = { kind: 'linear', inputShape: [features], numClasses: classes } as unknown as ModelConfig;
    let hasLinear = true;
    try {
      createModel(linear);
    } catch {
      hasLinear = false;
    }
    out.push(hasLinear
      ? { label: `logistic regression (kind linear, ${features}-${classes})`, config: linear }
      : { label: `logistic regression (MLP ${features}-${classes}, no hidden layer)`, config: { kind: 'mlp', inputShape: [features], hidden: [], numClasses: classes } });
  }
  return out;
}

/** L2 norm of each site's first-round local update (localSteps steps from spec.initParams(seed)). */
function firstUpdateNorms(spec: ModelSpec, sites: Dataset[], s: Setting, seed: number): number[] {
  const algorithm = createAlgorithm('fedavg', spec);
  return sites.map((d, k) => {
    const { update } = algorithm.localUpdate(spec.initParams(seed), { id: k, support: d, query: d }, { localSteps: s.localSteps, batchSize: s.batchSize, lr: s.lr }, seed);
    return Math.sqrt(update.reduce((a, v) => a + v * v, 0));
  });
}

function accuracy(spec: ModelSpec, params: Float32Array, test: Dataset): number {
  return createAlgorithm('fedavg', spec).accuracy(params, test, test);
}

/** Accuracy on `test` of always predicting the most frequent class of `train`. */
function majorityAccuracy(train: Dataset, test: Dataset): number {
  const counts = new Array<number>(train.numClasses).fill(0);
  for (const y of train.y) counts[y]!++;
  const top = counts.indexOf(Math.max(...counts));
  return test.y.filter((y) => y === top).length / test.count;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (n - 1); 0 for one seed. */
const std = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pct = (x: number) => (100 * x).toFixed(1);

interface Row {
  setting: string;
  accs: number[];
}

async function benchTable(t: Table): Promise<void> {
  const started = performance.now();
  const s = settingFor(t.name);
  const { train, test: testRaw, sitesRaw, stats, pooled, testStd: test, sites } = splitForSites(t.data, { seed: DATA_SEED, alpha: ALPHA });
  const F = t.columns.length;
  const C = t.classNames.length;
  const pooledSteps = s.rounds * SITES * s.localSteps;
  const siteSteps = s.rounds * s.localSteps;
  const numClients = clientLevelNumClients(SITES);

  console.log(`\n## ${t.name}\n`);
  console.log(`${t.data.count} rows x ${F} features, ${C} classes (${t.classNames.join(', ')}); source ${t.source}.\n`);
  console.log(`Held-out test set: ${describe(testRaw)} rows (per class), stratified, seed ${DATA_SEED}; predicting the training rows' majority class scores ${pct(majorityAccuracy(train, testRaw))}% on it. Training rows ${describe(train)} across ${SITES} sites, Dirichlet(${ALPHA}) label skew, seed ${DATA_SEED}:\n`);
  console.log(`| site | rows (per class) |`);
  console.log(`|---|---|`);
  sitesRaw.forEach((d, k) => console.log(`| site ${k + 1} | ${describe(d)} |`));
  console.log(`\nTraining: batch ${s.batchSize}, lr ${s.lr}. Federated: ${s.rounds} rounds x ${s.localSteps} local steps per site (FedAvg, server SGD lr 1, SecAgg over all ${SITES} sites). Pooled: ${pooledSteps} steps (= ${(pooledSteps * s.batchSize / train.count).toFixed(1)} epochs of the pooled rows, the examples the federation processes). Site alone: ${siteSteps} steps (what each site computes in the federation).`);

  for (const m of models(F, C)) {
    const spec = createModel(m.config);
    const dp = planClientLevelDp({ dim: spec.paramCount, sites: SITES, l2Clip: s.dpClip, epsilon: EPSILON, delta: DELTA, rounds: s.dpRounds });
    const rows: Row[] = [
      { setting: `pooled (centralised, ${pooledSteps} steps)`, accs: [] },
      ...sites.map((d, k) => ({ setting: `site ${k + 1} alone (${d.count} rows, ${siteSteps} steps)`, accs: [] as number[] })),
      { setting: `site alone: best of the ${SITES} (per seed)`, accs: [] },
      { setting: `site alone: mean of the ${SITES}`, accs: [] },
      { setting: `federated, SecAgg, no DP (${s.rounds} x ${s.localSteps})`, accs: [] },
      { setting: `federated, SecAgg, client-level DP eps ${EPSILON} (${s.dpRounds} x ${s.localSteps}, clip ${s.dpClip}, z ${dp.noiseMultiplier.toFixed(2)})`, accs: [] },
    ];
    const [pooledRow, best, meanSites, fed, fedDp] = [rows[0]!, rows[SITES + 1]!, rows[SITES + 2]!, rows[SITES + 3]!, rows[SITES + 4]!];
    let gap = 0;
    let disagree = 0;
    const spent: number[] = [];
    const ends = new Set<string>();
    let fedMs = 0;
    for (const seed of SEEDS) {
      // meta's reference runs: pooled for rounds x sites x localSteps steps, each site alone for rounds x localSteps.
      const refRuns = referenceRuns({ spec, sites, pooled, test, stepsPerRound: s.localSteps, rounds: s.rounds, batchSize: s.batchSize, lr: s.lr, seed });
      pooledRow.accs.push(refRuns.pooled.accuracy);
      const alone = refRuns.sites.map((x) => x.accuracy);
      alone.forEach((a, k) => rows[1 + k]!.accs.push(a));
      best.accs.push(Math.max(...alone));
      meanSites.accs.push(mean(alone));
      for (const withDp of [false, true]) {
        const r = await runFederation({
          federationId: `tabular-${t.name.replace(/\s+/g, '-')}-${spec.paramCount}-${seed}${withDp ? '-dp' : ''}`,
          sites: sitesRaw,
          columns: t.columns,
          classNames: t.classNames,
          test: testRaw,
          model: m.config as unknown as { kind: string } & Record<string, unknown>,
          hyper: { localSteps: s.localSteps, batchSize: s.batchSize, lr: s.lr },
          rounds: withDp ? s.dpRounds : s.rounds,
          seed,
          ...(withDp ? { dp: { l2Clip: s.dpClip, noiseMultiplier: dp.noiseMultiplier, delta: DELTA, epsilonBudget: EPSILON } } : {}),
        });
        fedMs += r.wallMs;
        const st = r.summary.standardisation!;
        gap = Math.max(gap, standardisationGap(st, stats));
        // The final model on the test set, standardised as the federation standardises.
        const testFed = standardised(testRaw, { mean: st.mean, std: st.std });
        const acc = accuracy(spec, r.summary.finalParams, testFed);
        if (r.serverAccuracy !== undefined && Math.abs(r.serverAccuracy - acc) > 1e-9) disagree++;
        (withDp ? fedDp : fed).accs.push(acc);
        if (withDp) {
          spent.push(r.summary.epsilon ?? NaN);
          ends.add(`${r.summary.endReason}, ${r.summary.roundsCompleted} rounds`);
        } else if (r.summary.roundsCompleted !== s.rounds) throw new Error(`${t.name}: the federation completed ${r.summary.roundsCompleted} of ${s.rounds} rounds`);
      }
    }
    const ref = mean(pooledRow.accs);
    const nts = noiseToSignal({ unit: 'client', noiseMultiplier: dp.noiseMultiplier, sites: SITES, dim: spec.paramCount, rounds: s.dpRounds });
    const norms = firstUpdateNorms(spec, sites, s, SEEDS[0]!);
    console.log(`\n### ${t.name}: ${m.label}, ${spec.paramCount} parameters\n`);
    console.log('| setting | test accuracy mean (%) | std (%) | seeds | mean / pooled mean |');
    console.log('|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.setting} | ${pct(mean(r.accs))} | ${pct(std(r.accs))} | ${r.accs.length} | ${(mean(r.accs) / ref).toFixed(3)} |`);
    const ratio = mean(fed.accs) / ref;
    const bestSite = Math.max(...rows.slice(1, 1 + SITES).map((r) => mean(r.accs)));
    console.log(`\nTarget (no DP): federated / pooled >= 0.97: ${ratio >= 0.97 ? 'met' : 'NOT met'} (${ratio.toFixed(3)}); beats every site alone (mean over seeds): ${mean(fed.accs) > bestSite ? 'yes' : 'NO'} (${pct(mean(fed.accs))}% vs best site ${pct(bestSite)}%); beats the best site of each seed in ${fed.accs.filter((a, i) => a > best.accs[i]!).length} of ${SEEDS.length} seeds.\n`);
    console.log(`DP: epsilon spent ${spent.map((e) => e.toFixed(2)).join(', ')} (budget ${EPSILON}, delta ${DELTA}, DDG accounted with ${numClients} clients per sum, q = 1); ${[...ends].join('; ')}. Federated standardisation vs pooled: largest relative gap ${gap.toExponential(1)}. Coordinator's own final accuracy differs from the bench's in ${disagree} runs. Federations took ${(fedMs / 1000).toFixed(1)} s.\n`);
    console.log(`DP noise against signal (@fedmeta/dp noiseToSignal, client level, ${SITES} sites, ${spec.paramCount} parameters, ${s.dpRounds} rounds): noise-to-signal >= ${nts.perRelease.toFixed(1)} per round, >= ${nts.overRun.toFixed(2)} over the run (level '${nts.level}'); about ${sitesForClientLevelSignal(nts)} sites per round would bring the run's ratio to 1 at this noise. First-round local update L2 norms per site (seed ${SEEDS[0]}): ${norms.map((n) => n.toFixed(2)).join(', ')} (clip ${s.dpClip}).`);
  }
  console.log(`\n${t.name}: ${((performance.now() - started) / 1000).toFixed(1)} s in all.`);
}

const DATA_DIR = process.env['BENCH_TABULAR_DATA_DIR'] || SKLEARN_DATA;
const loaders: Record<string, () => Loaded> = { 'breast-cancer': () => loadBreastCancer(DATA_DIR), digits: () => loadDigits(DATA_DIR) };
await selectBackend({ prefer: 'cpu', log: null });
const t0 = performance.now();
console.log(`# Tabular accuracy: federated vs pooled vs site alone\n\nSeeds ${SEEDS.join(', ')} (model init, batch sampling; DP noise and SecAgg keys come from the OS CSPRNG). Accuracy on the held-out test set; std is the sample std over seeds. Node ${process.version}, ${cpus().length} CPUs.`);
for (const name of list('DATASETS', Object.keys(loaders))) {
  const load = loaders[name];
  if (!load) throw new Error(`BENCH_TABULAR_DATASETS: unknown data set "${name}" (expected ${Object.keys(loaders).join(', ')})`);
  const loaded = load();
  if ('missing' in loaded) {
    console.log(`\n## ${name}\n\nSkipped: ${loaded.missing}.`);
    continue;
  }
  await benchTable(loaded.table);
}
console.log(`\nTotal ${((performance.now() - t0) / 1000).toFixed(1)} s.`);
