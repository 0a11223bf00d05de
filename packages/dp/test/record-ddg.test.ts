// The record-level integer-ring encoder (distributed DP-SGD shares) and the planner the
// runtime uses: decoding, the deterministic sensitivity bound, the share's variance, the
// planner's epsilon against the ledger's, and typed argument errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkRecordSettings,
  createRecordDdgEncoder,
  planRecordLevelSettings,
  recordDdgParams,
  recordLevelEpsilon,
  recordLevelRoundEvent,
  type RecordLevelSettingsQuery,
} from '../src/record-ddg.js';
import { ownShareOnlyEvent } from '../src/ledger.js';
import { sampleDiscreteGaussian } from '../src/discrete-gaussian.js';
import { seededRandom, type RandomSource } from '../src/rng.js';
import { epsilonOfEvents, openSiteLedger } from '../src/ledger.js';
import { DpArgumentError, PrivacyBudgetError } from '../src/errors.js';

const seed = (b: number): Uint8Array => new Uint8Array(32).fill(b);

/** The secure sum: coordinate-wise sum of the sites' encodings mod 2^bits. */
function modularSum(parts: Uint32Array[], bits: number): Uint32Array {
  const m = 2 ** bits;
  const out = new Uint32Array(parts[0]!.length);
  for (const p of parts) for (let j = 0; j < out.length; j++) out[j] = (out[j]! + p[j]!) % m;
  return out;
}

/** Centres a residue into [-2^(bits-1), 2^(bits-1)). */
function centre(v: number, bits: number): number {
  return v >= 2 ** (bits - 1) ? v - 2 ** bits : v;
}

/**
 * The encoder's draws for one coordinate, replayed from the same seeded stream: its
 * rounding uniform, then its discrete Gaussian share.
 */
function replay(rng: RandomSource, dim: number, localSigma: number): { u: number[]; noise: number[] } {
  const u: number[] = [];
  const noise: number[] = [];
  for (let j = 0; j < dim; j++) {
    u.push(rng.uniform53());
    noise.push(sampleDiscreteGaussian(localSigma, rng));
  }
  return { u, noise };
}

/** A site's clipped-gradient sum: `records` random gradients each clipped to norm C. */
function clippedSum(rng: RandomSource, dim: number, records: number, c: number): Float64Array {
  const sum = new Float64Array(dim);
  for (let i = 0; i < records; i++) {
    const g = Array.from({ length: dim }, () => rng.uniform53() * 2 - 1);
    const norm = Math.hypot(...g);
    const f = Math.min(1, c / norm);
    for (let j = 0; j < dim; j++) sum[j]! += g[j]! * f;
  }
  return sum;
}

test('the modular sum of several sites\' encodings decodes to the sum of their clipped sums plus their shares, within one rounding step per site', () => {
  const bits = 32;
  const cfg = { dim: 40, l2Clip: 1.5, noiseMultiplier: 0.8, threshold: 4, bits, scaleBits: 12 };
  const enc = createRecordDdgEncoder(cfg);
  const { gamma, localSigma } = enc.params;
  assert.equal(gamma, 1.5 / 2 ** 12);
  const data = seededRandom(seed(1));
  const sites = 5;
  const sums = Array.from({ length: sites }, (_, k) => clippedSum(data, cfg.dim, 10 + 7 * k, cfg.l2Clip));
  // negative totals on some coordinates: the decode must centre the residues
  for (const s of sums) s[0] = -Math.abs(s[0]!) - 3;
  const encodings = sums.map((s, k) => enc.encode(s, seededRandom(seed(10 + k))));
  const draws = sums.map((_, k) => replay(seededRandom(seed(10 + k)), cfg.dim, localSigma));
  const decoded = enc.decode(modularSum(encodings, bits));
  const roundingErrors: number[] = [];
  for (let j = 0; j < cfg.dim; j++) {
    const truth = sums.reduce((a, s) => a + s[j]!, 0);
    const noise = draws.reduce((a, d) => a + d.noise[j]!, 0);
    // in integer units: decoded/gamma = sum_k round(x_k) + noise, and |round(x) - x| < 1
    const err = decoded[j]! / gamma - noise - truth / gamma;
    assert.ok(Math.abs(err) < sites, `coordinate ${j}: rounding error ${err} integer steps`);
    roundingErrors.push(err);
  }
  assert.ok(decoded[0]! < -15, `a negative total decodes negative, got ${decoded[0]}`);
  // unbiased rounding: floor(x) + Bernoulli(frac(x)); the mean error over 40 x 5 roundings is near 0
  const mean = roundingErrors.reduce((a, b) => a + b, 0) / roundingErrors.length;
  assert.ok(Math.abs(mean) < 0.5, `mean rounding error ${mean} per coordinate (5 roundings each)`);
  // the exact residues: every site's encoding is round(x) + its share mod 2^bits
  for (let k = 0; k < sites; k++) {
    for (let j = 0; j < cfg.dim; j++) {
      const x = sums[k]![j]! / gamma;
      const lo = Math.floor(x);
      const r = lo + (draws[k]!.u[j]! < x - lo ? 1 : 0) + draws[k]!.noise[j]!;
      assert.equal(centre(encodings[k]![j]!, bits), r);
    }
  }
});

test('decoding in a small ring wraps the sum and centres it (bits 16)', () => {
  const enc = createRecordDdgEncoder({ dim: 8, l2Clip: 1, noiseMultiplier: 1, threshold: 2, bits: 16, scaleBits: 4 });
  const { gamma, localSigma } = enc.params;
  const sums = [Float64Array.from([-1, 1, -0.5, 0.5, 0, 2, -2, 0.25]), Float64Array.from([-1, -1, -0.5, 0.5, 0, 2, -2, 0.25])];
  const encodings = sums.map((s, k) => enc.encode(s, seededRandom(seed(40 + k))));
  const draws = sums.map((_, k) => replay(seededRandom(seed(40 + k)), 8, localSigma));
  const decoded = enc.decode(modularSum(encodings, 16));
  for (let j = 0; j < 8; j++) {
    const err = decoded[j]! / gamma - (draws[0]!.noise[j]! + draws[1]!.noise[j]!) - (sums[0]![j]! + sums[1]![j]!) / gamma;
    assert.ok(Math.abs(err) < 2, `coordinate ${j}: ${err}`);
  }
});

/**
 * Encodes two neighbouring sums with the same seeded stream (the coupling of the bound:
 * the same rounding uniforms and the same shares) and returns the L2 norm of the
 * difference of the encodings in integer units.
 */
function coupledDistance(enc: ReturnType<typeof createRecordDdgEncoder>, a: Float64Array, b: Float64Array, s: Uint8Array): number {
  const ea = enc.encode(a, seededRandom(s));
  const eb = enc.encode(b, seededRandom(s));
  let sq = 0;
  for (let j = 0; j < a.length; j++) sq += centre((ea[j]! - eb[j]! + 2 ** 32) % 2 ** 32, 32) ** 2;
  return Math.sqrt(sq);
}

test('sensitivity: adding or removing one clipped gradient moves the rounded vector by at most C/gamma + sqrt(d), on random and adversarial inputs', () => {
  const dim = 1024;
  const cfg = { dim, l2Clip: 2, noiseMultiplier: 1, threshold: 3, scaleBits: 4 };
  const enc = createRecordDdgEncoder(cfg);
  const { gamma, l2Sensitivity, localSigma } = enc.params;
  assert.equal(l2Sensitivity, cfg.l2Clip / gamma + Math.sqrt(dim));
  assert.equal(l2Sensitivity, 16 + 32);
  const rng = seededRandom(seed(2));
  // random: a site's sum with and without one more clipped record
  for (let trial = 0; trial < 20; trial++) {
    const base = clippedSum(rng, dim, 5, cfg.l2Clip);
    const one = clippedSum(rng, dim, 1, cfg.l2Clip);
    const neighbour = base.map((v, j) => v + one[j]!);
    const d = coupledDistance(enc, base, neighbour, seed(100 + trial));
    assert.ok(d <= l2Sensitivity, `trial ${trial}: ${d} > ${l2Sensitivity}`);
  }
  // adversarial: the added gradient is C along one axis, and every coordinate's fractional
  // part straddles its rounding uniform, so every coordinate rounds one step apart
  const s = seed(7);
  const { u } = replay(seededRandom(s), dim, localSigma);
  const x = new Float64Array(dim);
  const y = new Float64Array(dim);
  for (let j = 0; j < dim; j++) {
    x[j] = (3 + Math.min(u[j]! + 1e-6, 1 - 1e-9)) * gamma; // rounds up to 4
    y[j] = (3 + Math.max(u[j]! - 1e-6, 0)) * gamma; // rounds down to 3
  }
  x[0]! += cfg.l2Clip; // one record's clipped gradient, norm exactly C
  let inputDistance = 0;
  for (let j = 0; j < dim; j++) inputDistance += ((x[j]! - y[j]!) / gamma) ** 2;
  assert.ok(Math.sqrt(inputDistance) <= cfg.l2Clip / gamma + 1e-3, 'the inputs are neighbours: one clipped gradient (plus float noise) apart');
  const d = coupledDistance(enc, x, y, s);
  assert.ok(d <= l2Sensitivity, `${d} > ${l2Sensitivity}`);
  // the sqrt(d) term is needed: rounding alone moves the vector far beyond C/gamma + 1
  assert.ok(d > cfg.l2Clip / gamma + 1 + 10, `adversarial distance ${d}`);
});

/** Sample mean and variance of the decoded share of an all-zero sum, in integer units. */
function shareMoments(cfg: Parameters<typeof createRecordDdgEncoder>[0], s: Uint8Array): { mean: number; variance: number; n: number; localSigma: number; integers: boolean } {
  const enc = createRecordDdgEncoder(cfg);
  const out = enc.decode(enc.encode(new Float64Array(cfg.dim), seededRandom(s)));
  let sum = 0;
  let sq = 0;
  let integers = true;
  for (const v of out) {
    const z = v / enc.params.gamma;
    integers &&= Number.isInteger(z);
    sum += z;
    sq += z * z;
  }
  const n = out.length;
  const mean = sum / n;
  return { mean, variance: sq / n - mean * mean, n, localSigma: enc.params.localSigma, integers };
}

test('one site\'s share is a centred discrete Gaussian of the planned variance (sigma C / (sqrt(t) gamma))^2, within 5 standard errors', () => {
  // localSigma = 0.375 * 16 / sqrt(4) = 3 integer steps
  const small = shareMoments({ dim: 40_000, l2Clip: 1, noiseMultiplier: 0.375, threshold: 4, scaleBits: 4 }, seed(3));
  assert.equal(small.localSigma, 3);
  assert.ok(small.integers, 'the share is an integer vector');
  const s2 = small.localSigma ** 2;
  assert.ok(Math.abs(small.variance - s2) <= 5 * s2 * Math.sqrt(2 / small.n), `variance ${small.variance}, planned ${s2}`);
  assert.ok(Math.abs(small.mean) <= 5 * small.localSigma / Math.sqrt(small.n), `mean ${small.mean}`);
  // the default scale (2^16 steps per C): a wide share, the variance still as planned
  const wide = shareMoments({ dim: 8000, l2Clip: 0.5, noiseMultiplier: 1.1, threshold: 3 }, seed(4));
  assert.equal(wide.localSigma, (1.1 * 2 ** 16) / Math.sqrt(3));
  const w2 = wide.localSigma ** 2;
  assert.ok(Math.abs(wide.variance - w2) <= 5 * w2 * Math.sqrt(2 / wide.n), `variance ${wide.variance}, planned ${w2}`);
  assert.ok(Math.abs(wide.mean) <= 5 * wide.localSigma / Math.sqrt(wide.n), `mean ${wide.mean}`);
});

const DIST: RecordLevelSettingsQuery = { mode: 'distributed', epsilon: 3, delta: 1e-5, l2Clip: 1, sampleRate: 0.05, rounds: 20, threshold: 3, dim: 500 };

test('the planner\'s epsilon falls as sigma grows and equals the ledger\'s epsilon of the same events (distributed and local)', () => {
  let last = Infinity;
  for (const sigma of [0.4, 0.6, 0.8, 1, 1.5, 2, 4, 8]) {
    const eps = recordLevelEpsilon(DIST, sigma);
    assert.ok(eps < last, `sigma ${sigma}: epsilon ${eps} not below ${last}`);
    last = eps;
  }
  const plan = planRecordLevelSettings(DIST);
  assert.ok(plan.epsilon <= DIST.epsilon);
  assert.ok(recordLevelEpsilon(DIST, plan.sigma / (1 + 2e-4)) > DIST.epsilon, 'the smallest sigma within the search tolerance');
  assert.deepEqual(plan.roundEvent, createRecordDdgEncoder({ dim: 500, l2Clip: 1, noiseMultiplier: plan.sigma, threshold: 3 }).privacyEvent(0.05));
  assert.equal(plan.epsilon, epsilonOfEvents(Array(20).fill(plan.roundEvent), 1e-5, 'rdp'));
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-record-ddg-'));
  const ledger = openSiteLedger(join(dir, 'dist.jsonl'), { site: 's', budget: 3, delta: 1e-5, recordLevel: { mode: 'distributed', threshold: 3 } });
  for (let r = 1; r <= 20; r++) ledger.charge({ ...recordLevelRoundEvent(DIST, plan.sigma), round: r });
  assert.equal(ledger.spent(), plan.epsilon);
  // The ledger's own-share figure (what `fedmeta dp account` and reports read) is the planner's.
  assert.equal(ledger.summary().epsilonOwnShareOnly, plan.epsilonOwnShareOnly);
  ledger.close();
  // own share only: one share per round, more epsilon than t shares
  assert.equal(plan.epsilonOwnShareOnly, epsilonOfEvents(Array(20).fill(ownShareOnlyEvent(plan.roundEvent, 3)), 1e-5, 'rdp'));
  assert.ok(plan.epsilonOwnShareOnly! > plan.epsilon);
  // local: localSteps Gaussian steps per round, the ledger composes them as the planner does
  const local: RecordLevelSettingsQuery = { mode: 'local', epsilon: 3, delta: 1e-5, l2Clip: 1, sampleRate: 0.05, rounds: 20, localSteps: 3 };
  const lp = planRecordLevelSettings(local);
  assert.deepEqual(lp.roundEvent, { mechanism: 'gaussian', q: 0.05, sigma: lp.sigma, steps: 3 });
  const ll = openSiteLedger(join(dir, 'local.jsonl'), { site: 's', budget: 3, delta: 1e-5, recordLevel: { mode: 'local', threshold: 1 } });
  for (let r = 1; r <= 20; r++) ll.charge({ ...lp.roundEvent, round: r });
  assert.ok(Math.abs(ll.spent() - lp.epsilon) <= 1e-9 * lp.epsilon, `ledger ${ll.spent()}, plan ${lp.epsilon}`);
  assert.ok(recordLevelEpsilon(local, lp.sigma * 0.99) > 3);
  ll.close();
});

test('ownShareOnlyEvent: one discrete Gaussian share, or sigma / sqrt(t) for a Gaussian event', () => {
  const ev = createRecordDdgEncoder({ dim: 10, l2Clip: 1, noiseMultiplier: 1, threshold: 4 }).privacyEvent(0.1);
  assert.deepEqual(ownShareOnlyEvent(ev, 4), { ...ev, numClients: 1 });
  assert.deepEqual(ownShareOnlyEvent({ mechanism: 'gaussian', q: 0.1, sigma: 2 }, 4), { mechanism: 'gaussian', q: 0.1, sigma: 1 });
  assert.throws(() => ownShareOnlyEvent(ev, 0), DpArgumentError);
});

test('bad parameters throw DpArgumentError naming the parameter; an unreachable target throws PrivacyBudgetError', () => {
  const ok = { dim: 10, l2Clip: 1, noiseMultiplier: 1, threshold: 2 };
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ dim: 0 }, /dim/], [{ dim: 2.5 }, /dim/], [{ l2Clip: 0 }, /l2Clip/], [{ l2Clip: Number.NaN }, /l2Clip/],
    [{ noiseMultiplier: 0 }, /noiseMultiplier/], [{ threshold: 0 }, /threshold/], [{ threshold: 1.5 }, /threshold/],
    [{ bits: 33 }, /bits/], [{ bits: 7 }, /bits/], [{ bits: 16, scaleBits: 15 }, /scaleBits/], [{ scaleBits: 0 }, /scaleBits/],
    // share parameter 0.01 * 2 / sqrt(2) < 0.5
    [{ noiseMultiplier: 0.01, scaleBits: 1 }, /below 0\.5/],
  ];
  for (const [patch, msg] of bad) {
    assert.throws(() => recordDdgParams({ ...ok, ...patch } as typeof ok), (e: unknown) => e instanceof DpArgumentError && msg.test((e as Error).message), JSON.stringify(patch));
  }
  assert.throws(() => recordDdgParams(null as never), DpArgumentError);
  const enc = createRecordDdgEncoder(ok);
  assert.throws(() => enc.encode(new Float64Array(9)), (e: unknown) => e instanceof DpArgumentError && /9 entries/.test((e as Error).message));
  assert.throws(() => enc.encode(Float64Array.from({ length: 10 }, (_, j) => (j === 4 ? Number.NaN : 0))), (e: unknown) => e instanceof DpArgumentError && /sum\[4\]/.test((e as Error).message));
  assert.throws(() => enc.decode(new Uint32Array(11)), DpArgumentError);
  assert.throws(() => enc.privacyEvent(1.5), (e: unknown) => e instanceof DpArgumentError && /\bq\b/.test((e as Error).message));
  const settings: Array<[Partial<RecordLevelSettingsQuery>, RegExp]> = [
    [{ mode: 'central' as never }, /mode/], [{ epsilon: 0 }, /epsilon/], [{ delta: 1 }, /delta/], [{ l2Clip: -1 }, /l2Clip/],
    [{ sampleRate: 0 }, /sampleRate/], [{ sampleRate: 1.2 }, /sampleRate/], [{ rounds: 0 }, /rounds/],
    [{ localSteps: 2 }, /localSteps must be 1/], [{ threshold: undefined }, /threshold/], [{ dim: undefined }, /dim/],
  ];
  for (const [patch, msg] of settings) {
    const q = { ...DIST, ...patch };
    assert.throws(() => checkRecordSettings(q), (e: unknown) => e instanceof DpArgumentError && msg.test((e as Error).message), JSON.stringify(patch));
    assert.throws(() => planRecordLevelSettings(q), DpArgumentError);
  }
  assert.throws(() => planRecordLevelSettings({ ...DIST, epsilon: 1e-4, delta: 1e-10, sampleRate: 1, rounds: 10_000 }), PrivacyBudgetError);
});
