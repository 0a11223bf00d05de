/**
 * Client masking bench: time to add n pairwise masks and one self mask to an encoded
 * vector of m + 1 words, as a ratio to Node's raw AES-128-CTR keystream time for the
 * same bytes, measured in the same run (median over interleaved repetitions of the
 * per-repetition ratio).
 * Also: the same including the n X25519 agreements and HKDF derivations, and upload
 * bytes / 4m of the encoded masked-input message (weight coordinate + m words).
 * Run: `npm run bench -w @fedmeta/secagg` (or `node dist/bench/mask.js` in the package).
 */
import { createCipheriv } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  applyMasks,
  derivePairwiseMaskSeed,
  deriveSelfMaskSeed,
  MASK_CHUNK_WORDS,
  seededRng,
  x25519Keypair,
  x25519SharedSecret,
  type MaskTerm,
} from '../src/index.js';
import { simdAdder } from '../src/crypto/simd.js';
import { encodeMessage } from '../src/protocol/index.js';

/** Repetitions: more for the small cases, whose single runs are short and noisy. */
const repsFor = (n: number, m: number): number => (n * m >= 50_000_000 ? 9 : 31);
const CHUNK = MASK_CHUNK_WORDS * 4;
const ZERO = Buffer.alloc(CHUNK);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The baseline: each seed's keystream for `bytes` bytes, in 64 KiB update() calls. */
function rawKeystream(seeds: Uint8Array[], bytes: number): number {
  let sink = 0;
  for (const seed of seeds) {
    const c = createCipheriv('aes-128-ctr', seed, Buffer.alloc(16));
    for (let off = 0; off < bytes; off += CHUNK) {
      const ks = c.update(off + CHUNK <= bytes ? ZERO : ZERO.subarray(0, bytes - off));
      sink ^= ks[0]!;
    }
  }
  return sink;
}

function time(f: () => unknown): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

interface Row {
  n: number;
  m: number;
  reps: number;
  rawMs: number;
  maskMs: number;
  fullMs: number;
  /** Median over repetitions of (masking time / raw time of the same repetition). */
  maskRatio: number;
  fullRatio: number;
  /** The same masking with the plain-JS add kernel (no wasm), for comparison. */
  jsRatio: number;
  /** Bytes of the encoded masked-input message (weight + m words, b = 32). */
  uploadBytes: number;
}

function benchCase(n: number, m: number): Row {
  const rng = seededRng(new Uint8Array(32).fill(n % 251));
  const sessionId = rng.fill(new Uint8Array(32));
  const me = x25519Keypair(rng);
  const peers = Array.from({ length: n }, () => x25519Keypair(rng).publicKey);
  const selfSecret = rng.fill(new Uint8Array(32));
  const myId = n + 1;
  // Fresh copies of the keys on every call: x25519.ts caches imported keys per array, and a
  // real round imports each peer key once, so the bench must not profit from earlier reps.
  const deriveTerms = (): MaskTerm[] => {
    const secretKey = me.secretKey.slice();
    const terms: MaskTerm[] = peers.map((pk, i) => ({
      seed: derivePairwiseMaskSeed(x25519SharedSecret(secretKey, pk.slice()), sessionId, myId, i + 1),
      sign: myId < i + 1 ? 1 : -1,
    }));
    terms.push({ seed: deriveSelfMaskSeed(selfSecret, sessionId, myId), sign: 1 });
    return terms;
  };
  const terms = deriveTerms();
  const seeds = terms.map((t) => t.seed);
  const words = m + 1;
  const input = new Uint32Array(words).map((_, i) => i * 2654435761);
  const raw: number[] = [];
  const mask: number[] = [];
  const full: number[] = [];
  const js: number[] = [];
  // Warm-up once, then interleave so load changes hit all three alike.
  applyMasks(input.slice(), terms, 32);
  rawKeystream(seeds, words * 4);
  const reps = repsFor(n, m);
  let uploadBytes = 0;
  for (let r = 0; r < reps; r++) {
    raw.push(time(() => rawKeystream(seeds, words * 4)));
    const acc = input.slice();
    mask.push(time(() => applyMasks(acc, terms, 32)));
    const acc3 = input.slice();
    js.push(time(() => applyMasks(acc3, terms, 32, { kernel: 'js' })));
    const acc2 = input.slice();
    full.push(time(() => applyMasks(acc2, deriveTerms(), 32)));
    if (r === 0) uploadBytes = encodeMessage({ kind: 'masked-input', clientId: myId, bits: 32, vector: acc }).length;
  }
  // Ratios are taken per repetition (runs adjacent in time) and then the median, which
  // is robust to the load of a shared machine drifting during the bench.
  return {
    n, m, reps,
    rawMs: median(raw), maskMs: median(mask), fullMs: median(full), uploadBytes,
    maskRatio: median(mask.map((t, i) => t / raw[i]!)),
    fullRatio: median(full.map((t, i) => t / raw[i]!)),
    jsRatio: median(js.map((t, i) => t / raw[i]!)),
  };
}

const rows: Row[] = [];
for (const n of [10, 100]) for (const m of [100_000, 1_000_000]) rows.push(benchCase(n, m));

const fmt = (x: number, d = 1): string => x.toFixed(d);
console.log(`## Client masking (n pairwise masks + 1 self mask; medians; add kernel: ${simdAdder() ? 'wasm SIMD' : 'JS fallback'})\n`);
console.log('| n | m | reps | keystream MB | raw keystream ms | masking ms | masking / raw | JS add kernel / raw | incl. X25519+HKDF ms | incl. / raw | upload bytes / 4m |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const mb = ((r.n + 1) * (r.m + 1) * 4) / 1e6;
  // The whole masked-input wire message (04-messages.md): header, id, bits, m + 1 words.
  const upload = r.uploadBytes / (4 * r.m);
  console.log(`| ${r.n} | ${r.m.toLocaleString('en-US')} | ${r.reps} | ${fmt(mb)} | ${fmt(r.rawMs)} | ${fmt(r.maskMs)} | ${fmt(r.maskRatio, 2)} | ${fmt(r.jsRatio, 2)} | ${fmt(r.fullMs)} | ${fmt(r.fullRatio, 2)} | ${upload.toFixed(5)} |`);
}
