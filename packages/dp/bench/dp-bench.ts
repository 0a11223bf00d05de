/**
 * dp benchmarks: discrete Gaussian sampler throughput and DDG encode/decode for m = 1M,
 * each reported as a ratio to a plain pass over the same vector (Float32Array copy+scale)
 * measured in the same run. Run: `npm run bench -w packages/dp` (after `npx tsc -b packages/dp`).
 * Prints a markdown table.
 */
import { cryptoRandom, seededRandom } from '../src/rng.js';
import { sampleDiscreteGaussian } from '../src/discrete-gaussian.js';
import { fillGaussian, sampleStandardNormal } from '../src/gaussian.js';
import { createDdgEncoder, addModular } from '../src/ddg.js';
import { rotate, rotationSigns } from '../src/hadamard.js';
import { rdpEpsilon } from '../src/accountant/rdp.js';
import { pldEpsilon } from '../src/accountant/pld.js';

function time(fn: () => void, reps = 3): number {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    fn();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

const M = 1_000_000;
const rows: string[][] = [];
const rng = cryptoRandom();

// Baseline: one plain pass over a 1M Float32Array (copy + scale).
const src = Float32Array.from({ length: M }, (_, i) => Math.sin(i) * 0.001);
let sink = 0;
const plain = time(() => {
  const out = new Float32Array(M);
  for (let i = 0; i < M; i++) out[i] = src[i]! * 0.5;
  sink += out[M - 1]!;
}, 25);
rows.push(['plain pass: Float32Array copy+scale, m=1M', `${plain.toFixed(2)} ms`, '1.0']);

for (const sigma of [1, 10, 1000]) {
  const n = 300_000;
  const ms = time(() => {
    for (let i = 0; i < n; i++) sink += sampleDiscreteGaussian(sigma, rng);
  }, 2);
  const perM = (ms * M) / n;
  rows.push([`discrete Gaussian sampler (CKS, crypto RNG), sigma=${sigma}`, `${((n / ms) * 1000 / 1e6).toFixed(2)} M values/s`, `${(perM / plain).toFixed(0)} (per 1M values)`]);
}
{
  const n = 1_000_000;
  const ms = time(() => {
    for (let i = 0; i < n; i++) sink += sampleStandardNormal(rng);
  }, 2);
  rows.push(['continuous N(0,1) (Box-Muller, crypto RNG)', `${((n / ms) * 1000 / 1e6).toFixed(2)} M values/s`, `${(ms / plain).toFixed(0)} (per 1M values)`]);
}
for (const [name, r] of [['crypto RNG', rng], ['seeded AES-CTR RNG', seededRandom(new Uint8Array(32).fill(5))]] as const) {
  // the bulk sampler in DP-SGD-sized calls (the MLP 784-64-10's 50,890 parameters)
  const n = 50_890;
  const calls = 20;
  const out = new Float32Array(n);
  const ms = time(() => {
    for (let c = 0; c < calls; c++) fillGaussian(out, 1, r);
    sink += out[0]!;
  }, 5);
  rows.push([`continuous N(0,1) fillGaussian (bulk ziggurat, ${name}), calls of 50,890`, `${(((n * calls) / ms) * 1000 / 1e6).toFixed(2)} M values/s`, `${((ms * M) / (n * calls) / plain).toFixed(1)} (per 1M values)`]);
}

const seed = new Uint8Array(32).fill(3);
{
  const x = new Float64Array(1 << 20).map((_, i) => Math.cos(i));
  const signs = rotationSigns(seed, 1 << 20);
  const ms = time(() => rotate(x, signs), 3);
  rows.push(['randomised Walsh-Hadamard rotation, n=2^20', `${ms.toFixed(1)} ms`, (ms / plain).toFixed(1)]);
}

const ddg = createDdgEncoder({ dim: M, numClients: 100, l2Clip: 1, noiseMultiplier: 1, bits: 20 });
const update = Float32Array.from({ length: M }, (_, i) => Math.sin(i) * 0.0005);
let enc: Uint32Array = new Uint32Array(0);
const seeded = seededRandom(new Uint8Array(32).fill(4));
const encodeMs = time(() => {
  enc = ddg.encode(update, seed, seeded);
}, 2);
rows.push([`DDG encode m=1M (pad 2^20, 20 bits, local sigma ${ddg.params.localSigma.toFixed(1)} steps)`, `${encodeMs.toFixed(0)} ms`, (encodeMs / plain).toFixed(1)]);
const summed = addModular(enc, enc, 20);
const decodeMs = time(() => {
  sink += ddg.decode(summed, seed)[0]!;
}, 3);
rows.push(['DDG decode m=1M', `${decodeMs.toFixed(0)} ms`, (decodeMs / plain).toFixed(1)]);

const acc: Array<[string, () => number]> = [
  ['RDP epsilon q=0.01 sigma=0.7 T=120 (default grid)', () => rdpEpsilon({ q: 0.01, sigma: 0.7, steps: 120, delta: 1e-5 }).epsilon],
  ['PLD epsilon q=0.01 sigma=0.7 T=120 (1e-4)', () => pldEpsilon({ q: 0.01, sigma: 0.7, steps: 120, delta: 1e-5 }).epsilon],
  ['PLD epsilon q=150/60000 sigma=1.3 T=6000 (1e-4)', () => pldEpsilon({ q: 150 / 60000, sigma: 1.3, steps: 6000, delta: 1e-5 }).epsilon],
];
for (const [name, fn] of acc) {
  let v = 0;
  const ms = time(() => {
    v = fn();
  }, 1);
  rows.push([`${name} = ${v.toFixed(7)}`, `${ms.toFixed(0)} ms`, '-']);
}

console.log('| benchmark | result | ratio to plain pass (m=1M) |');
console.log('|---|---:|---:|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
if (sink === 42.4242) console.log('');
