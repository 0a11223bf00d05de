/**
 * Record-level DP bench: what does DP-SGD at each site cost, against client-level DP and
 * against each site alone? On breast cancer (569 x 30) and digits (1797 x 64, 10 classes),
 * Debian's python3-sklearn, split exactly as the tabular bench (tabular-data.ts
 * splitForSites: stratified 20% test set, the rest across 3 sites with Dirichlet(0.5) label
 * skew, data seed 1), logistic regression (meta's `linear` model), every row standardised
 * with the pooled training statistics.
 *
 * Rows, for epsilon in {1, 3, 8} (delta 1e-5), mean +- sd over the seeds:
 * - federated DP-SGD, distributed noise: one DP-SGD step per round under SecAgg: every site's
 *   clipped gradient sum (meta's clippedGradientSum, Poisson sampling at rate q) plus its
 *   discrete Gaussian share, through the dp package's record DDG encoder, summed mod 2^32 and
 *   decoded exactly as the coordinator does (privacy.ts), step -lr * sum / B;
 * - federated DP-SGD, local noise: every site runs `localSteps` steps of meta's dpSgdUpdate
 *   with all of sigma * C itself, the coordinator averages the updates (weight 1 each);
 * - federated FedAvg with client-level DP (DDG), the runtime's client-level mechanism
 *   (client-ddg.ts: createDdgEncoder; FedAvg settings of the tabular bench); its epsilon protects a
 *   whole site's data, the record-level rows' epsilon one record;
 * - each site alone with DP-SGD at the same record-level epsilon (its own sigma for its own steps);
 * - references without DP: federated FedAvg and pooled SGD (meta's fedavg localUpdate).
 * Sigma is planned per setting with @fedmeta/dp (planRecordLevelSettings: the event each
 * site's ledger charges; planDdgNoiseMultiplier for client level). The mechanism code is the
 * runtime's (pipeline.ts / privacy.ts call the same functions); the rounds run in-process
 * without sockets (tests/test/dp-record.test.ts runs the real runtime). Randomness: the dp
 * package's seeded AES-CTR CSPRNG per seed.
 *
 *   node packages/tests/dist/bench/dp-record.js
 *   BENCH_DP_SEEDS=10            seeds 1..n for breast cancer (default 10)
 *   BENCH_DP_DIGITS_SEEDS=10     seeds 1..n for digits (default 10)
 *   BENCH_DP_DATASETS=breast-cancer,digits
 *   BENCH_DP_TUNE=1              the tuning sweep (seeds 0, 100, 101; validation split of the training rows)
 */
import { writeFileSync } from 'node:fs';
import { createAlgorithm, createModel, selectBackend, clippedGradientSum, dpSgdUpdate, poissonSample, type Dataset, type ModelConfig, type ModelSpec } from '@fedmeta/meta';
import { addModular, createRecordDdgEncoder, planRecordLevelSettings, sampleStandardNormal, seededRandom, type RandomSource } from '@fedmeta/dp';
import { SPLIT, loadBreastCancer, loadDigits, splitForSites, type Loaded, type Table } from './tabular-data.js';
import { SETTINGS } from './tabular-settings.js';
import { clientLevelDdgFederation, planClientLevelDp } from './client-ddg.js';

const seedsOf = (name: string, fallback: number) => Array.from({ length: Number(process.env[name] || fallback) }, (_, i) => i + 1);
const EPSILONS = [1, 3, 8];
const DELTA = 1e-5;
const SITES = SPLIT.sites;
const DATA_SEED = 1;

interface Hyper {
  q: number;
  clip: number;
  distributed: { rounds: number; lr: number };
  local: { rounds: number; localSteps: number; lr: number };
  /** Non-private FedAvg (and the pooled reference's budget): the tabular bench's settings. */
  plain: { rounds: number; localSteps: number; batchSize: number; lr: number };
  /** Client-level DDG FedAvg (local steps, batch, lr of the tabular bench; rounds and clip tuned). */
  client: { rounds: number; localSteps: number; batchSize: number; lr: number; clip: number };
}

/** The tabular bench's FedAvg settings (tabular-settings.ts): the no-DP reference, and client level's local steps, batch and lr. */
const fromTabular = (name: string, client: { rounds: number; clip: number }): Pick<Hyper, 'plain' | 'client'> => {
  const s = SETTINGS[name]!;
  return {
    plain: { rounds: s.rounds, localSteps: s.localSteps, batchSize: s.batchSize, lr: s.lr },
    client: { localSteps: s.localSteps, batchSize: s.batchSize, lr: s.lr, ...client },
  };
};

/**
 * q = 0.1 and C = 1 (record level) fixed beforehand (standardised features). Chosen with
 * BENCH_DP_TUNE=1 (tune(): epsilon 8, seeds 0, 100, 101, a validation split of the training
 * rows, never the test rows), the best mean validation accuracy of each kind (a tie keeps
 * the setting in use before): DP-SGD rounds, local steps and lr; client level's rounds and
 * clip (the tabular bench's DP run uses 10 rounds and clip 1).
 */
const HYPER: Record<string, Hyper> = {
  'breast cancer': { q: 0.1, clip: 1, distributed: { rounds: 60, lr: 1 }, local: { rounds: 40, localSteps: 3, lr: 0.5 }, ...fromTabular('breast cancer', { rounds: 20, clip: 0.5 }) },
  digits: { q: 0.1, clip: 1, distributed: { rounds: 60, lr: 2 }, local: { rounds: 80, localSteps: 3, lr: 0.5 }, ...fromTabular('digits', { rounds: 10, clip: 2 }) },
};

const DATASETS: Record<string, { load: () => Loaded; seeds: number[] }> = {
  'breast-cancer': { load: () => loadBreastCancer(), seeds: seedsOf('BENCH_DP_SEEDS', 10) },
  digits: { load: () => loadDigits(), seeds: seedsOf('BENCH_DP_DIGITS_SEEDS', 10) },
};

const MODEL = (f: number, classes: number): ModelConfig => ({ kind: 'linear', inputShape: [f], numClasses: classes }) as unknown as ModelConfig;

function sources(r: RandomSource) {
  return { uniform: () => r.uniform53(), gaussian: (out: Float32Array, std: number) => { for (let i = 0; i < out.length; i++) out[i] = std * sampleStandardNormal(r); } };
}
const rngOf = (seed: number, label: string) => seededRandom(new Uint8Array(16).fill(seed & 0xff).map((v, i) => (i === 0 ? (seed >> 8) & 0xff : v)), `bench/dp-record/${label}`);
const acc = (spec: ModelSpec, p: Float32Array, test: Dataset) => createAlgorithm('fedavg', spec).accuracy(p, test, test);
const addInto = (p: Float32Array, u: Float32Array, s = 1) => { for (let i = 0; i < p.length; i++) p[i] = p[i]! + s * u[i]!; };
const client = (d: Dataset) => ({ id: 0, support: d, query: d });

function distributed(spec: ModelSpec, sites: Dataset[], eps: number, h: Hyper, seed: number): Float32Array {
  const { rounds, lr } = h.distributed;
  const plan = planRecordLevelSettings({ mode: 'distributed', epsilon: eps, delta: DELTA, l2Clip: h.clip, sampleRate: h.q, rounds, threshold: SITES, dim: spec.paramCount });
  const enc = createRecordDdgEncoder({ dim: spec.paramCount, l2Clip: h.clip, noiseMultiplier: plan.sigma, threshold: SITES });
  const B = h.q * sites.reduce((a, s) => a + s.count, 0);
  const params = spec.initParams(seed);
  const rs = sites.map((_, k) => rngOf(seed, `dist-${k}`));
  for (let r = 0; r < rounds; r++) {
    let sum = new Uint32Array(spec.paramCount);
    sites.forEach((d, k) => {
      const idx = poissonSample(d.count, h.q, () => rs[k]!.uniform53());
      sum = addModular(sum, enc.encode(clippedGradientSum(spec, params, d, idx, h.clip).sum, rs[k]!), 32) as Uint32Array<ArrayBuffer>;
    });
    addInto(params, enc.decode(sum), -lr / B);
  }
  return params;
}

function local(spec: ModelSpec, sites: Dataset[], eps: number, h: Hyper, seed: number): Float32Array {
  const { rounds, localSteps, lr } = h.local;
  const plan = planRecordLevelSettings({ mode: 'local', epsilon: eps, delta: DELTA, l2Clip: h.clip, sampleRate: h.q, rounds, localSteps });
  const params = spec.initParams(seed);
  const rs = sites.map((_, k) => rngOf(seed, `local-${k}`));
  for (let r = 0; r < rounds; r++) {
    const mean = new Float32Array(spec.paramCount);
    sites.forEach((d, k) => addInto(mean, dpSgdUpdate(spec, params, client(d), { steps: localSteps, sampleRate: h.q, lr, l2Clip: h.clip, noiseStd: plan.sigma * h.clip }, sources(rs[k]!)).update, 1 / sites.length));
    addInto(params, mean);
  }
  return params;
}

function alone(spec: ModelSpec, site: Dataset, k: number, eps: number, h: Hyper, seed: number): Float32Array {
  const { rounds, localSteps, lr } = h.local;
  const plan = planRecordLevelSettings({ mode: 'local', epsilon: eps, delta: DELTA, l2Clip: h.clip, sampleRate: h.q, rounds, localSteps });
  const params = spec.initParams(seed);
  addInto(params, dpSgdUpdate(spec, params, client(site), { steps: rounds * localSteps, sampleRate: h.q, lr, l2Clip: h.clip, noiseStd: plan.sigma * h.clip }, sources(rngOf(seed, `alone-${k}`))).update);
  return params;
}

/** Client-level DDG FedAvg, z planned for the run's rounds at `eps` (client-ddg.ts, the runtime's mechanism). */
function clientLevel(spec: ModelSpec, sites: Dataset[], eps: number, h: Hyper, seed: number): Float32Array {
  const c = h.client;
  const plan = planClientLevelDp({ dim: spec.paramCount, sites: SITES, l2Clip: c.clip, epsilon: eps, delta: DELTA, rounds: c.rounds });
  return clientLevelDdgFederation(spec, sites, { ...c, l2Clip: c.clip, noiseMultiplier: plan.noiseMultiplier, numClients: plan.numClients }, seed, (k) => rngOf(seed, `client-${k}`));
}

function fedavg(spec: ModelSpec, sites: Dataset[], h: Hyper, seed: number): Float32Array {
  const alg = createAlgorithm('fedavg', spec);
  const params = spec.initParams(seed);
  const total = sites.reduce((a, s) => a + s.count, 0);
  const { rounds, localSteps, batchSize, lr } = h.plain;
  for (let r = 0; r < rounds; r++) {
    const mean = new Float32Array(spec.paramCount);
    sites.forEach((d, k) => addInto(mean, alg.localUpdate(params, client(d), { localSteps, batchSize, lr }, seed * 1000 + r * 10 + k).update, d.count / total));
    addInto(params, mean);
  }
  return params;
}

function pooled(spec: ModelSpec, train: Dataset, h: Hyper, seed: number): Float32Array {
  const params = spec.initParams(seed);
  const { rounds, localSteps, batchSize, lr } = h.plain;
  addInto(params, createAlgorithm('fedavg', spec).localUpdate(params, client(train), { localSteps: rounds * SITES * localSteps, batchSize, lr }, seed).update);
  return params;
}

interface Split { sites: Dataset[]; train: Dataset; test: Dataset }

function split(t: Table, validation: boolean): Split {
  const s = splitForSites(t.data, { seed: DATA_SEED, validation });
  return { sites: s.sites, train: s.pooled, test: s.testStd };
}

const stat = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return { m, sd };
};
const fmt = (xs: number[]) => { const { m, sd } = stat(xs); return `${(100 * m).toFixed(1)} ± ${(100 * sd).toFixed(1)}`; };
const specOf = (t: Table) => createModel(MODEL(t.columns.length, t.classNames.length));

/** Seeds of the tuning sweep: none of them is a reported seed (1..n). */
const TUNE_SEEDS = [0, 100, 101];

/**
 * The tuning sweep at epsilon 8: every candidate's mean validation accuracy over TUNE_SEEDS,
 * training on the sites' share of 80% of the training rows and measuring on a stratified
 * validation split of the other 20% (the test rows are never looked at); the best of each kind.
 */
function tune(t: Table): void {
  const s = split(t, true);
  const spec = specOf(t);
  const H = HYPER[t.name]!;
  const v = (f: (seed: number) => Float32Array) => TUNE_SEEDS.reduce((a, seed) => a + acc(spec, f(seed), s.test), 0) / TUNE_SEEDS.length;
  console.log(`## ${t.name}: tuning at epsilon 8, seeds ${TUNE_SEEDS.join(', ')}, sites of ${s.sites.map((d) => d.count).join(' + ')} training rows, ${s.test.count} validation rows`);
  const kinds: Record<string, Array<{ what: string; a: number }>> = { distributed: [], local: [], 'client-level': [] };
  const note = (kind: string, what: string, a: number) => { kinds[kind]!.push({ what, a }); console.log(`${kind} ${what}: ${(100 * a).toFixed(1)}%`); };
  for (const rounds of [30, 60, 120]) for (const lr of [0.5, 1, 2, 4]) note('distributed', `rounds ${rounds} lr ${lr}`, v((seed) => distributed(spec, s.sites, 8, { ...H, distributed: { rounds, lr } }, seed)));
  for (const rounds of [10, 20, 40, 80]) for (const localSteps of [1, 3]) for (const lr of [0.5, 1, 2, 4]) note('local', `rounds ${rounds} x ${localSteps} lr ${lr}`, v((seed) => local(spec, s.sites, 8, { ...H, local: { rounds, localSteps, lr } }, seed)));
  for (const rounds of [5, 10, 20]) for (const clip of [0.5, 1, 2]) note('client-level', `rounds ${rounds} x ${H.client.localSteps} clip ${clip}`, v((seed) => clientLevel(spec, s.sites, 8, { ...H, client: { ...H.client, rounds, clip } }, seed)));
  for (const [kind, xs] of Object.entries(kinds)) {
    const best = xs.reduce((a, b) => (b.a > a.a ? b : a));
    console.log(`best ${kind}: ${best.what} (${(100 * best.a).toFixed(1)}%)`);
  }
}

interface Row { label: string; legend: string; byEps: number[][] }
interface Result { table: Table; rows: Row[]; plain: number[]; pool: number[]; seeds: number[] }

function bench(t: Table, seeds: number[]): Result {
  const started = performance.now();
  const s = split(t, false);
  const spec = specOf(t);
  const H = HYPER[t.name]!;
  const zs = EPSILONS.map((e) => planClientLevelDp({ dim: spec.paramCount, sites: SITES, l2Clip: H.client.clip, epsilon: e, delta: DELTA, rounds: H.client.rounds }).noiseMultiplier.toFixed(2));
  console.log(`\n## ${t.name}\n`);
  console.log(`${t.data.count} rows x ${t.columns.length} features, ${t.classNames.length} classes; sites of ${s.sites.map((d) => d.count).join(', ')} training rows, ${s.test.count} test rows; linear model (${spec.paramCount} params); seeds ${seeds.join(',')}`);
  const sigma = (mode: 'distributed' | 'local') => EPSILONS.map((e) => planRecordLevelSettings(mode === 'distributed'
    ? { mode, epsilon: e, delta: DELTA, l2Clip: H.clip, sampleRate: H.q, rounds: H.distributed.rounds, threshold: SITES, dim: spec.paramCount }
    : { mode, epsilon: e, delta: DELTA, l2Clip: H.clip, sampleRate: H.q, rounds: H.local.rounds, localSteps: H.local.localSteps }).sigma.toFixed(2)).join(' / ');
  console.log(`record level: q ${H.q}, C ${H.clip}; distributed ${H.distributed.rounds} rounds x 1 step, lr ${H.distributed.lr}, B = q x rows, sigma ${sigma('distributed')}; local (and each site alone) ${H.local.rounds} rounds x ${H.local.localSteps} steps, lr ${H.local.lr}, sigma ${sigma('local')}`);
  console.log(`client level: ${H.client.rounds} rounds x ${H.client.localSteps} steps, batch ${H.client.batchSize}, lr ${H.client.lr}, clip ${H.client.clip}, z ${zs.join(' / ')} at epsilon ${EPSILONS.join(' / ')}; no DP: ${H.plain.rounds} rounds x ${H.plain.localSteps} steps\n`);
  const rows: Row[] = [];
  const run = (label: string, legend: string, f: (eps: number, seed: number) => Float32Array) => {
    rows.push({ label, legend, byEps: EPSILONS.map((eps) => seeds.map((seed) => acc(spec, f(eps, seed), s.test))) });
  };
  run('federated DP-SGD, distributed noise (SecAgg)', 'record-level DP-SGD, distributed noise', (e, seed) => distributed(spec, s.sites, e, H, seed));
  run('federated DP-SGD, local noise', 'record-level DP-SGD, local noise', (e, seed) => local(spec, s.sites, e, H, seed));
  run('federated FedAvg, client-level DP (DDG, SecAgg)', 'client-level DDG (ε per site)', (e, seed) => clientLevel(spec, s.sites, e, H, seed));
  s.sites.forEach((d, k) => run(`site ${k + 1} alone (${d.count} rows), DP-SGD`, `site ${k + 1} alone, DP-SGD`, (e, seed) => alone(spec, d, k, e, H, seed)));
  const plain = seeds.map((seed) => acc(spec, fedavg(spec, s.sites, H, seed), s.test));
  const pool = seeds.map((seed) => acc(spec, pooled(spec, s.train, H, seed), s.test));
  const lines = [`| setting | ${EPSILONS.map((e) => `ε = ${e}`).join(' | ')} |`, `|---|${EPSILONS.map(() => '---:').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.label} | ${r.byEps.map(fmt).join(' | ')} |`);
  lines.push(`| federated FedAvg, no DP | ${EPSILONS.map(() => fmt(plain)).join(' | ')} |`);
  lines.push(`| pooled SGD, no DP | ${EPSILONS.map(() => fmt(pool)).join(' | ')} |`);
  console.log(lines.join('\n'));
  const m = (r: Row, i: number) => stat(r.byEps[i]!).m;
  const pc = (x: number) => `${(100 * x).toFixed(1)}%`;
  EPSILONS.forEach((e, i) => {
    const best = Math.max(...rows.slice(3).map((r) => m(r, i)));
    const [dist, loc, cl] = [m(rows[0]!, i), m(rows[1]!, i), m(rows[2]!, i)];
    console.log(`eps ${e}: distributed ${pc(dist)}, local ${pc(loc)}, client-level ${pc(cl)}, best site alone ${pc(best)}; distributed beats every site alone: ${dist > best ? 'yes' : 'NO'}; local: ${loc > best ? 'yes' : 'NO'}; record-level (distributed) above client-level: ${dist > cl ? 'yes' : 'NO'}`);
  });
  const dist8 = m(rows[0]!, 2);
  console.log(`acceptance (eps 8): distributed ${pc(dist8)} vs 90% of non-private federated ${(90 * stat(plain).m).toFixed(1)}%: ${dist8 >= 0.9 * stat(plain).m ? 'yes' : 'NO'}`);
  console.log(`${t.name}: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return { table: t, rows, plain, pool, seeds };
}

async function main(): Promise<void> {
  await selectBackend({ prefer: 'cpu', log: null });
  const started = performance.now();
  const wanted = (process.env.BENCH_DP_DATASETS ?? Object.keys(DATASETS).join(',')).split(',').map((x) => x.trim()).filter(Boolean);
  const results: Result[] = [];
  for (const name of wanted) {
    const d = DATASETS[name];
    if (!d) throw new Error(`BENCH_DP_DATASETS: unknown data set "${name}" (expected ${Object.keys(DATASETS).join(', ')})`);
    const loaded = d.load();
    if (!('table' in loaded)) {
      console.log(`\n## ${name}\n\nSkipped: ${loaded.missing}.`);
      continue;
    }
    if (process.env.BENCH_DP_TUNE) tune(loaded.table);
    else results.push(bench(loaded.table, d.seeds));
  }
  if (results.length === 0) return;
  console.log(`\nDelta ${DELTA.toExponential(0)}; mean ± sample sd of test accuracy (%) over the seeds (model init, sampling, noise; the data split is fixed).`);
  writeFileSync(new URL('../../../../docs/benchmarks-dp.svg', import.meta.url), svg(results));
  console.log(`wrote docs/benchmarks-dp.svg; ${((performance.now() - started) / 1000).toFixed(0)} s in all`);
}

const COLOURS = ['#1f77b4', '#ff7f0e', '#9467bd', '#2ca02c', '#d62728', '#8c564b'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** One panel per data set: mean accuracy vs epsilon per setting (± sd bars), no-DP levels as dashed reference lines; one legend. */
function svg(results: Result[]): string {
  const PW = 300, PH = 300, L = 50, T = 30, B = 46, gap = 60, LEG = 250;
  const W = L + results.length * (PW + gap) + LEG, Hh = T + PH + B;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${Hh}" viewBox="0 0 ${W} ${Hh}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${Hh}" fill="white"/>`];
  results.forEach((res, p) => {
    const x0 = L + p * (PW + gap);
    const x = (i: number) => x0 + 12 + (i / (EPSILONS.length - 1)) * (PW - 24);
    const lowest = Math.min(...res.rows.flatMap((r) => r.byEps.map((xs) => stat(xs).m - stat(xs).sd)));
    const lo = Math.min(0.5, Math.max(0, Math.floor(lowest * 10) / 10));
    const y = (a: number) => T + (1 - (Math.min(1, Math.max(lo, a)) - lo) / (1 - lo)) * PH;
    out.push(`<text x="${x0 + PW / 2}" y="${T - 12}" text-anchor="middle" font-size="13" font-weight="bold">${esc(res.table.name)} (${res.seeds.length} seeds)</text>`);
    out.push(`<rect x="${x0}" y="${T}" width="${PW}" height="${PH}" fill="none" stroke="#999"/>`);
    for (let a = lo; a <= 1.0001; a += 0.1) out.push(`<line x1="${x0}" x2="${x0 + PW}" y1="${y(a).toFixed(1)}" y2="${y(a).toFixed(1)}" stroke="#e4e4e4"/><text x="${x0 - 5}" y="${(y(a) + 4).toFixed(1)}" text-anchor="end">${Math.round(a * 100)}%</text>`);
    EPSILONS.forEach((e, i) => out.push(`<text x="${x(i).toFixed(1)}" y="${T + PH + 15}" text-anchor="middle">${e}</text>`));
    out.push(`<text x="${x0 + PW / 2}" y="${T + PH + 34}" text-anchor="middle">epsilon (δ = 1e-5)</text>`);
    if (p === 0) out.push(`<text transform="translate(14 ${T + PH / 2}) rotate(-90)" text-anchor="middle">test accuracy</text>`);
    const ref = (a: number, dash: string) => out.push(`<line x1="${x0}" x2="${x0 + PW}" y1="${y(a).toFixed(1)}" y2="${y(a).toFixed(1)}" stroke="#444" stroke-width="1.5" stroke-dasharray="${dash}"/>`);
    ref(stat(res.plain).m, '6 3');
    ref(stat(res.pool).m, '2 2');
    res.rows.forEach((r, k) => {
      const c = COLOURS[k % COLOURS.length];
      const pts = r.byEps.map((xs, i) => `${x(i).toFixed(1)},${y(stat(xs).m).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${pts}" fill="none" stroke="${c}" stroke-width="2"${k >= 3 ? ' stroke-opacity="0.7"' : ''}/>`);
      r.byEps.forEach((xs, i) => {
        const { m, sd } = stat(xs);
        const cx = (x(i) + (k - 2.5) * 3).toFixed(1);
        out.push(`<line x1="${cx}" x2="${cx}" y1="${y(m - sd).toFixed(1)}" y2="${y(m + sd).toFixed(1)}" stroke="${c}" stroke-opacity="0.6"/><circle cx="${x(i).toFixed(1)}" cy="${y(m).toFixed(1)}" r="3" fill="${c}"/>`);
      });
    });
  });
  const lx = L + results.length * (PW + gap);
  const legend = results[0]!.rows.map((r) => r.legend);
  legend.forEach((label, k) => out.push(`<line x1="${lx}" x2="${lx + 20}" y1="${T + 14 * k + 6}" y2="${T + 14 * k + 6}" stroke="${COLOURS[k % COLOURS.length]}" stroke-width="2"/><text x="${lx + 26}" y="${T + 14 * k + 10}">${esc(label)}</text>`));
  const n = legend.length;
  out.push(`<line x1="${lx}" x2="${lx + 20}" y1="${T + 14 * n + 6}" y2="${T + 14 * n + 6}" stroke="#444" stroke-width="1.5" stroke-dasharray="6 3"/><text x="${lx + 26}" y="${T + 14 * n + 10}">federated FedAvg, no DP</text>`);
  out.push(`<line x1="${lx}" x2="${lx + 20}" y1="${T + 14 * (n + 1) + 6}" y2="${T + 14 * (n + 1) + 6}" stroke="#444" stroke-width="1.5" stroke-dasharray="2 2"/><text x="${lx + 26}" y="${T + 14 * (n + 1) + 10}">pooled SGD, no DP</text>`);
  const notes = ['Points: mean over seeds; bars: ± 1 sd.', 'Record-level rows and sites alone:', 'ε per record. Client-level DDG:', 'ε per site (all its records).', 'Site numbers differ per data set.'];
  notes.forEach((t, i) => out.push(`<text x="${lx}" y="${T + 14 * (n + 3) + 14 * i + 10}" fill="#555">${esc(t)}</text>`));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

await main();
