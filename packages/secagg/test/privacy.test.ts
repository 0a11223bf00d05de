// What the server sees reveals nothing about one client's input, and t-1 colluding
// clients' shares reveal nothing about a secret. Statistical checks with fixed seeds
// (deterministic, so they cannot flake) and thresholds at p < 1e-4.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ready } from '../src/crypto/index.js';
import { seededRng } from '../src/rng.js';
import { shamirCombine, shamirSplit } from '../src/shamir/index.js';
import { decodeMessage, simulateSession, type SecAggConfig } from '../src/protocol/index.js';

await ready();

/** The masked vector client `who` uploaded in a 3-client session where every client's input is `input(id)`. */
function maskedUpload(seed: number, m: number, bits: number, input: (id: number) => Uint32Array, who = 1): Uint32Array {
  const config: SecAggConfig = { sessionNonce: new Uint8Array(32).fill(seed), clientIds: [1, 2, 3], threshold: 2, bits, vectorLength: m, degree: 0, mode: 'semi-honest' };
  const out = simulateSession({
    config,
    inputs: new Map([1, 2, 3].map((id) => [id, input(id)])),
    clientRng: (id) => seededRng(new Uint8Array(32).fill(seed * 7 + id)),
  });
  const rec = out.transcript.find((r) => r.from === who && r.bytes[5] === 0x03)!;
  const msg = decodeMessage(rec.bytes);
  assert.equal(msg.kind, 'masked-input');
  return msg.kind === 'masked-input' ? msg.vector : new Uint32Array(0);
}

function chiSquareUniform(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const e = total / counts.length;
  return counts.reduce((acc, c) => acc + (c - e) ** 2 / e, 0);
}

// chi-square critical values at p = 1e-4: df 255 -> 349.0, df 15 -> 42.6
const CRIT_255 = 349;
const CRIT_15 = 42.6;

test('privacy: a constant input uploads as uniform bytes (chi-square, bits = 32 and bits = 8)', () => {
  for (const bits of [32, 8]) {
    const y = maskedUpload(1, 40_000, bits, () => new Uint32Array(40_000)); // all-zero input
    const counts = new Array<number>(256).fill(0);
    for (const v of y) {
      if (bits === 32) for (let s = 0; s < 32; s += 8) counts[(v >>> s) & 0xff]!++;
      else counts[v]!++;
    }
    const chi2 = chiSquareUniform(counts);
    assert.ok(chi2 < CRIT_255, `bits=${bits}: chi2 ${chi2.toFixed(1)} >= ${CRIT_255}`);
  }
});

test('privacy: the masked vectors of two very different inputs are identically distributed', () => {
  // input A = all zeros, input B = all 2^bits - 1 (bits = 4): the 16-bin histograms of the
  // two masked uploads pass a chi-square homogeneity test, and each is uniform.
  const m = 30_000;
  const bits = 4;
  const a = maskedUpload(2, m, bits, () => new Uint32Array(m));
  const b = maskedUpload(3, m, bits, () => new Uint32Array(m).fill(15));
  const ca = new Array<number>(16).fill(0);
  const cb = new Array<number>(16).fill(0);
  for (const v of a) ca[v]!++;
  for (const v of b) cb[v]!++;
  let chi2 = 0;
  for (let i = 0; i < 16; i++) {
    const e = (ca[i]! + cb[i]!) / 2;
    chi2 += (ca[i]! - e) ** 2 / e + (cb[i]! - e) ** 2 / e;
  }
  assert.ok(chi2 < CRIT_15, `homogeneity chi2 ${chi2.toFixed(1)}`);
  assert.ok(chiSquareUniform(ca) < CRIT_15 && chiSquareUniform(cb) < CRIT_15);
  // and the upload is not the input: y - x is the mask, which is not zero anywhere near everywhere
  let equal = 0;
  for (const v of a) if (v === 0) equal++;
  assert.ok(equal < m / 8, `${equal} of ${m} masked entries equal the input`);
});

test('privacy: the masked upload is uncorrelated with the input (random inputs, bits = 16)', () => {
  const m = 20_000;
  let s = 12345;
  const x = Uint32Array.from({ length: m }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 16));
  const y = maskedUpload(4, m, 16, (id) => (id === 1 ? x : new Uint32Array(m)));
  const mean = (v: Uint32Array): number => {
    let acc = 0;
    for (const e of v) acc += e;
    return acc / v.length;
  };
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < m; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  const r = sxy / Math.sqrt(sxx * syy);
  // |r| ~ N(0, 1/m) under independence: 4.5 sigma = 0.032
  assert.ok(Math.abs(r) < 4.5 / Math.sqrt(m), `correlation ${r}`);
});

test('privacy: t-1 Shamir shares are distributed the same whatever the secret, and do not reconstruct it', () => {
  // t = 3, holders x = 1..5; colluders hold x = 2 and 4. Compare the top byte of their y
  // values over 3000 sharings of secret A = 0^32 and of secret B = 0xff^32.
  const t = 3;
  const trials = 3000;
  const rng = seededRng(new Uint8Array(32).fill(42));
  const hist = (secret: Uint8Array) => {
    const h = new Array<number>(16).fill(0);
    for (let i = 0; i < trials; i++) {
      const shares = shamirSplit(secret, t, [1, 2, 3, 4, 5], rng);
      // y is a field element < p ~ 2^256 in 33 big-endian bytes: bin bits 252..255 (byte 1's high nibble)
      for (const s of [shares[1]!, shares[3]!]) h[s.y[1]! >>> 4]!++;
    }
    return h;
  };
  const secretA = new Uint8Array(32);
  const secretB = new Uint8Array(32).fill(0xff);
  const ha = hist(secretA);
  const hb = hist(secretB);
  let chi2 = 0;
  for (let i = 0; i < 16; i++) {
    const e = (ha[i]! + hb[i]!) / 2;
    chi2 += (ha[i]! - e) ** 2 / e + (hb[i]! - e) ** 2 / e;
  }
  assert.ok(chi2 < CRIT_15, `homogeneity chi2 ${chi2.toFixed(1)}`);
  // With t-1 shares reconstruction is refused; forcing threshold t-1 yields a wrong value.
  const shares = shamirSplit(secretB, t, [1, 2, 3, 4, 5], rng);
  assert.throws(() => shamirCombine([shares[1]!, shares[3]!], t), (e: unknown) => (e as { code?: string }).code === 'ERR_TOO_FEW_SHARES');
  let forced: Uint8Array | null = null;
  try {
    forced = shamirCombine([shares[1]!, shares[3]!], t - 1);
  } catch {
    forced = null; // interpolates to a field element >= 2^256: not a secret at all
  }
  assert.ok(forced === null || Buffer.compare(Buffer.from(forced), Buffer.from(secretB)) !== 0);
  assert.deepEqual(shamirCombine([shares[0]!, shares[2]!, shares[4]!], t), secretB);
});
