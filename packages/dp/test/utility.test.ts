import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectedGaussianNorm, noiseToSignal, utilityWarning, sitesForClientLevelSignal } from '../src/utility.js';
import { sampleStandardNormal } from '../src/gaussian.js';
import { seededRandom } from '../src/rng.js';
import { DpArgumentError } from '../src/errors.js';

const close = (a: number, b: number, rel: number, what = '') => assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${what} ${a} vs ${b}`);

test('expectedGaussianNorm: exact small dimensions and kappa_d * kappa_(d+1) = d on both sides of the series switch', () => {
  close(expectedGaussianNorm(1), Math.sqrt(2 / Math.PI), 1e-15, 'd=1');
  close(expectedGaussianNorm(2), Math.sqrt(Math.PI / 2), 1e-15, 'd=2');
  close(expectedGaussianNorm(3), 2 * Math.sqrt(2 / Math.PI), 1e-15, 'd=3');
  for (const d of [10, 255, 256, 257, 1000, 50890, 1e6, 2 ** 28]) {
    close(expectedGaussianNorm(d) * expectedGaussianNorm(d + 1), d, 1e-13, `d=${d}`);
    assert.ok(expectedGaussianNorm(d) < Math.sqrt(d) && expectedGaussianNorm(d) > Math.sqrt(d - 1));
  }
  assert.throws(() => expectedGaussianNorm(0), DpArgumentError);
  assert.throws(() => expectedGaussianNorm(2.5), DpArgumentError);
});

test('client-level ratio: the expected norm of sampled central noise over the largest summed signal', () => {
  // The example consortium: 3 sites, noise multiplier 2.854, a 784-64-10 MLP, 20 rounds.
  const dim = 50890;
  const r = noiseToSignal({ unit: 'client', noiseMultiplier: 2.854, sites: 3, dim, rounds: 20 });
  const rng = seededRandom(new Uint8Array(32).fill(7));
  let mean = 0;
  const draws = 20;
  for (let k = 0; k < draws; k++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) {
      const x = 2.854 * sampleStandardNormal(rng); // central noise, clip 1
      ss += x * x;
    }
    mean += Math.sqrt(ss) / draws;
  }
  close(r.noiseNorm, mean, 2e-3, 'noise norm vs sampled');
  close(r.perRelease, mean / 3, 2e-3, 'ratio vs sampled');
  close(r.overRun, r.perRelease / Math.sqrt(20), 1e-15);
  close(r.perCoordinate, (2.854 * Math.sqrt(dim)) / 3, 1e-15);
  close(r.perDirection, 2.854 / 3, 1e-15);
  assert.ok(r.perRelease > 200 && r.overRun > 40, `${r.perRelease} ${r.overRun}`);
  assert.equal(r.level, 'dominated');
});

test('levels: signal, noisy (noise per round, not over the run) and dominated', () => {
  assert.equal(noiseToSignal({ unit: 'client', noiseMultiplier: 1, sites: 1000, dim: 10000, rounds: 10 }).level, 'signal'); // 100/1000
  const noisy = noiseToSignal({ unit: 'client', noiseMultiplier: 1, sites: 100, dim: 10000, rounds: 100 }); // 1.0/1 per round, 0.1 over the run
  assert.ok(noisy.perRelease > 0.99 && noisy.perRelease < 1 && noisy.level === 'signal');
  const noisier = noiseToSignal({ unit: 'client', noiseMultiplier: 2, sites: 100, dim: 10000, rounds: 100 });
  assert.equal(noisier.level, 'noisy');
  assert.equal(noiseToSignal({ unit: 'client', noiseMultiplier: 2, sites: 100, dim: 10000, rounds: 3 }).level, 'dominated');
});

test('record-level: local noise sums sites x steps releases of one batch, distributed one release of all batches per step', () => {
  const base = { noiseMultiplier: 0.9, batchSize: 32, sites: 4, dim: 20000, steps: 300 };
  const local = noiseToSignal({ unit: 'record', mode: 'local', ...base });
  const dist = noiseToSignal({ unit: 'record', mode: 'distributed', ...base });
  assert.equal(local.contributions, 32);
  assert.equal(local.releases, 4 * 300);
  assert.equal(dist.contributions, 4 * 32);
  assert.equal(dist.releases, 300);
  close(dist.perRelease, local.perRelease / 4, 1e-15);
  close(dist.overRun, local.overRun / 2, 1e-14); // sqrt(4) better over the run
  close(local.perRelease, (0.9 * expectedGaussianNorm(20000)) / 32, 1e-15);
  assert.equal(noiseToSignal({ unit: 'record', mode: 'local', noiseMultiplier: 0.9, batchSize: 32, dim: 20000, steps: 300 }).releases, 300, 'one site by default');
});

test('utilityWarning: only when the noise dominates; it says so, gives the ratios and suggests record-level DP or more sites', () => {
  const setting = { unit: 'client' as const, noiseMultiplier: 2.854, sites: 3, dim: 50890, rounds: 20 };
  const r = noiseToSignal(setting);
  const w = utilityWarning(setting);
  assert.ok(w !== undefined);
  assert.equal(utilityWarning(r), w);
  assert.match(w, /noise dominates/);
  assert.match(w, /record-level DP-SGD/);
  assert.match(w, /more sites per round/);
  assert.ok(w.includes(`about ${sitesForClientLevelSignal(r)} `), w);
  // that many sites would indeed bring the ratio over the run to <= 1 (and one fewer would not)
  const n = sitesForClientLevelSignal(r);
  assert.ok(noiseToSignal({ ...setting, sites: n }).overRun <= 1);
  assert.ok(noiseToSignal({ ...setting, sites: n - 1 }).overRun > 1);
  assert.equal(utilityWarning({ unit: 'client', noiseMultiplier: 2, sites: 100, dim: 10000, rounds: 100 }), undefined, 'noisy is not dominated');
  assert.equal(utilityWarning({ unit: 'client', noiseMultiplier: 1, sites: 1000, dim: 10000, rounds: 10 }), undefined);
  const rw = utilityWarning({ unit: 'record', mode: 'local', noiseMultiplier: 1.5, batchSize: 4, dim: 1e6, steps: 200 });
  assert.ok(rw !== undefined && /record-level DP noise dominates/.test(rw) && /distributed noise/.test(rw), rw);
});

test('invalid settings are typed errors naming the argument', () => {
  const ok = { unit: 'client' as const, noiseMultiplier: 1, sites: 3, dim: 10, rounds: 5 };
  assert.throws(() => noiseToSignal({ ...ok, noiseMultiplier: 0 }), (e: unknown) => e instanceof DpArgumentError && /noiseMultiplier/.test((e as Error).message));
  assert.throws(() => noiseToSignal({ ...ok, sites: 0 }), /sites/);
  assert.throws(() => noiseToSignal({ ...ok, rounds: 1.5 }), /rounds/);
  assert.throws(() => noiseToSignal({ ...ok, dim: -1 }), /dim/);
  assert.throws(() => noiseToSignal({ unit: 'record', mode: 'local', noiseMultiplier: 1, batchSize: 0, dim: 10, steps: 5 }), /batchSize/);
  assert.throws(() => noiseToSignal({ unit: 'record', mode: 'central' as 'local', noiseMultiplier: 1, batchSize: 1, dim: 10, steps: 5 }), /mode/);
  assert.throws(() => noiseToSignal({ unit: 'patient' } as unknown as typeof ok), /unit/);
  assert.throws(() => sitesForClientLevelSignal(noiseToSignal({ unit: 'record', mode: 'local', noiseMultiplier: 1, batchSize: 1, dim: 10, steps: 5 })), DpArgumentError);
});
