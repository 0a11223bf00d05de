/**
 * The client pipeline's record-level DP paths: local DP-SGD is exactly meta's dpSgdUpdate
 * with the same randomness, and a distributed share carries discrete Gaussian noise of the
 * planned variance (sigma * C)^2 / t per coordinate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, dpSgdUpdate } from '@fedmeta/meta';
import { createRecordDdgEncoder, fillGaussian, seededRandom } from '@fedmeta/dp';
import { seededRng } from '@fedmeta/secagg';
import type { Rng } from '@fedmeta/secagg';
import type { RoundConfig, RecordLevelDpSettings } from '@fedmeta/transport';
import { encodeLocal, trainLocal } from '../src/pipeline.js';
import { recordDpSources } from '../src/record-dp.js';

const F = 6;
const MODEL = { kind: 'mlp', inputShape: [F], hidden: [], numClasses: 2 };

function data(n: number) {
  const r = seededRandom(new Uint8Array(16).fill(3));
  const x = Float32Array.from({ length: n * F }, () => r.uniform53() * 2 - 1);
  const y = Int32Array.from({ length: n }, (_, i) => (x[i * F]! > 0 ? 1 : 0));
  const set = { x, y, count: n, shape: [F], numClasses: 2 };
  return { id: 0, support: set, query: set };
}

function config(dp: RecordLevelDpSettings, encoding: RoundConfig['encoding'], paramCount: number): RoundConfig {
  return {
    federationId: 'f', round: 1, model: MODEL, paramCount, algorithm: { name: 'fedavg', hyper: { localSteps: dp.localSteps, batchSize: 8, lr: 0.3 } }, trainSeed: 1, encoding,
    aggregation: { mode: 'secagg', vectorLength: paramCount, bits: 32 }, trainingMs: 1000,
    federation: { rounds: 1, aggregation: { mode: 'secagg', security: 'semi-honest', minClients: 3, minAggregate: 3 }, dp },
  } as RoundConfig;
}

test('record-level local mode: trainLocal returns meta dpSgdUpdate\'s update (same CSPRNG stream) with weight 1', async () => {
  const spec = createModel(MODEL as never);
  const params = spec.initParams(5);
  const dp: RecordLevelDpSettings = { unit: 'record', mode: 'local', epsilonBudget: 3, delta: 1e-5, noiseMultiplier: 1.1, l2Clip: 0.7, sampleRate: 0.2, localSteps: 4, threshold: 1 };
  const d = data(60);
  const cfg = config(dp, { kind: 'quantize', bits: 32, maxClients: 3, elementClip: 1, maxWeight: 1 }, spec.paramCount);
  const seed = new Uint8Array(16).fill(9);
  const got = await trainLocal(cfg, params, d, 0, undefined, recordDpSources(seededRandom(seed)));
  const want = dpSgdUpdate(spec, params, d, { steps: 4, sampleRate: 0.2, lr: 0.3, l2Clip: 0.7, noiseStd: 1.1 * 0.7 }, recordDpSources(seededRandom(seed)));
  assert.deepEqual(Array.from(got.update), Array.from(want.update));
  assert.equal(got.weight, 1);
  assert.ok(got.update.some((v) => v !== 0));
});

test('recordDpSources: one CSPRNG stream for both (uniforms then fillGaussian noise, as drawn directly), N(0, std^2) noise over an Rng', () => {
  const src = recordDpSources(seededRandom(new Uint8Array(16).fill(11)));
  const direct = seededRandom(new Uint8Array(16).fill(11));
  const a = new Float32Array(1000);
  const b = new Float32Array(1000);
  for (let k = 0; k < 3; k++) {
    assert.equal(src.uniform(), direct.uniform53());
    src.gaussian(a, 0.5);
    fillGaussian(b, 0.5, direct);
    assert.deepEqual(a, b);
  }
  assert.equal(src.uniform(), direct.uniform53());
  // over a secagg Rng (what a client holds): std scales the noise
  const viaRng = recordDpSources(seededRng(new Uint8Array(32).fill(12)));
  const n = 1 << 18;
  const noise = new Float32Array(n);
  viaRng.gaussian(noise, 3);
  let s2 = 0;
  for (const v of noise) s2 += v * v;
  assert.ok(Math.abs(s2 / n / 9 - 1) < 6 * Math.sqrt(2 / n), `variance ${s2 / n}, want 9`);
});

test('record-level distributed mode: the encoded share of a zero gradient is discrete Gaussian noise with variance (sigma C)^2 / t (4 sd)', () => {
  const dim = 4096;
  const p = { dim, l2Clip: 1.5, noiseMultiplier: 1.2, threshold: 3, bits: 32, scaleBits: 10 };
  const dp: RecordLevelDpSettings = { unit: 'record', mode: 'distributed', epsilonBudget: 3, delta: 1e-5, noiseMultiplier: 1.2, l2Clip: 1.5, sampleRate: 0.1, localSteps: 1, threshold: 3, expectedBatchSize: 10, encoding: { dim, bits: 32, scaleBits: 10 } };
  const cfg = config(dp, { kind: 'record-ddg', params: p }, dim);
  const r = seededRandom(new Uint8Array(16).fill(4));
  const rng: Rng = { fill: (out: Uint8Array) => { for (let i = 0; i < out.length; i++) out[i] = r.uint32() & 0xff; return out; } } as Rng;
  const enc = encodeLocal(cfg, { update: new Float32Array(dim), weight: 1, metrics: { lossFirst: 0, lossLast: 0, examples: 0, steps: 1, millis: 0 } }, rng);
  const noise = createRecordDdgEncoder(p).decode(enc);
  let s2 = 0;
  for (const v of noise) s2 += v * v;
  const variance = s2 / dim;
  const planned = (1.2 * 1.5) ** 2 / 3;
  // The sample variance of n normals has sd planned * sqrt(2 / n).
  assert.ok(Math.abs(variance - planned) <= 4 * planned * Math.sqrt(2 / dim), `variance ${variance}, planned ${planned}`);
});
