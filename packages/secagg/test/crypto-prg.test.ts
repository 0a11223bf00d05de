// The mask PRG: AES-128-CTR keystream (NIST SP 800-38A F.5.1), element layout, chunk
// boundaries, the SIMD kernel against the JS kernel, signs and the modulus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { fromHex, toHex } from '../src/crypto/bytes.js';
import { MASK_CHUNK_WORDS, addMask, addVectors, applyMasks, expandMask, keystream, maskKernel } from '../src/crypto/prg.js';
import { seededRng } from '../src/rng.js';
import { simdModuleBytes } from '../src/crypto/simd.js';

// NIST SP 800-38A appendix F.5.1, CTR-AES128.Encrypt.
const F51 = {
  key: '2b7e151628aed2a6abf7158809cf4f3c',
  counter: 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff',
  plaintext: '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710',
  outputBlocks: 'ec8cdf7398607cb0f2d21675ea9ea1e4362b7c3c6773516318a077d7fc5073ae6a2cc3787889374fbeb4c81b17ba6c44e89c399ff0f198c6d40a31db156cabfe',
  ciphertext: '874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee',
};

/** An independent mask: one whole-buffer createCipheriv call, words read with DataView. */
function referenceMask(seed: Uint8Array, length: number, bits: number): Uint32Array {
  const ks = createCipheriv('aes-128-ctr', seed, Buffer.alloc(16)).update(Buffer.alloc(length * 4));
  const dv = new DataView(ks.buffer, ks.byteOffset, ks.byteLength);
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i++) out[i] = bits === 32 ? dv.getUint32(4 * i, true) : dv.getUint32(4 * i, true) % 2 ** bits;
  return out;
}

test('NIST SP 800-38A F.5.1: the keystream is the output blocks, and keystream XOR plaintext the ciphertext', () => {
  const ks = keystream(fromHex(F51.key), 64, fromHex(F51.counter));
  assert.equal(toHex(ks), F51.outputBlocks);
  const pt = fromHex(F51.plaintext);
  assert.equal(toHex(ks.map((b, i) => b ^ pt[i]!)), F51.ciphertext);
});

test('expandMask element i is LE keystream word i mod 2^bits (with an all-zero initial counter)', () => {
  const seed = fromHex('000102030405060708090a0b0c0d0e0f');
  const ks = keystream(seed, 16);
  const m = expandMask(seed, 4, 32);
  assert.equal(m[0], ks[0]! | (ks[1]! << 8) | (ks[2]! << 16) | ((ks[3]! << 24) >>> 0));
  assert.equal(m[0], new DataView(ks.buffer).getUint32(0, true));
  assert.deepEqual(expandMask(seed, 4, 16), m.map((v) => v & 0xffff));
});

test('expandMask equals a whole-buffer AES-CTR computation across chunk boundaries, both kernels', () => {
  const seed = fromHex('ffeeddccbbaa99887766554433221100');
  const lengths = [0, 1, 3, 4, 15, 16, 17, 63, MASK_CHUNK_WORDS - 1, MASK_CHUNK_WORDS, MASK_CHUNK_WORDS + 1, 2 * MASK_CHUNK_WORDS + 37];
  for (const length of lengths) {
    for (const bits of [32, 31, 17, 8, 1]) {
      const ref = referenceMask(seed, length, bits);
      assert.deepEqual(expandMask(seed, length, bits), ref, `length ${length}, bits ${bits}`);
      assert.deepEqual(applyMasks(new Uint32Array(length), [{ seed, sign: 1 }], bits, { kernel: 'js' }), ref);
    }
  }
});

test('applyMasks adds and subtracts mod 2^bits exactly like a reference sum (property, both kernels)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ seed: fc.uint8Array({ minLength: 16, maxLength: 16 }), sign: fc.constantFrom(1 as const, -1 as const) }), { maxLength: 5 }),
      fc.integer({ min: 0, max: 40000 }),
      fc.integer({ min: 1, max: 32 }),
      (terms, length, bits) => {
        const mod = 2 ** bits;
        const start = Uint32Array.from({ length }, (_, i) => (i * 2654435761) % mod);
        const expected = start.slice();
        for (const t of terms) {
          const mask = referenceMask(t.seed, length, 32);
          for (let i = 0; i < length; i++) {
            const v = t.sign === 1 ? expected[i]! + mask[i]! : expected[i]! - mask[i]!;
            expected[i] = ((v % mod) + mod) % mod;
          }
        }
        assert.deepEqual(applyMasks(start.slice(), terms, bits), expected);
        assert.deepEqual(applyMasks(start.slice(), terms, bits, { kernel: 'js' }), expected);
      },
    ),
    { numRuns: 25 },
  );
});

test('every SIMD kernel (1-4 sources, every sign pattern) agrees with the JS kernel', () => {
  // Groups of four terms map onto one kernel each; 1..9 terms with alternating sign
  // patterns reach every (sources, pattern) pair.
  for (let count = 1; count <= 9; count++) {
    for (let pattern = 0; pattern < 16; pattern++) {
      const terms = Array.from({ length: count }, (_, k) => ({
        seed: Uint8Array.from({ length: 16 }, (_, i) => (i * 7 + k * 13 + pattern) & 0xff),
        sign: ((pattern >> (k % 4)) & 1 ? -1 : 1) as 1 | -1,
      }));
      const input = Uint32Array.from({ length: 1000 + count }, (_, i) => i * 40503);
      assert.deepEqual(applyMasks(input.slice(), terms, 32), applyMasks(input.slice(), terms, 32, { kernel: 'js' }), `${count} terms, pattern ${pattern}`);
    }
  }
});

test('a mask added then subtracted cancels; pairwise masks of opposite sign cancel in a sum', () => {
  const a = fromHex('0f0e0d0c0b0a09080706050403020100');
  const input = Uint32Array.from({ length: 50000 }, (_, i) => i);
  const acc = addMask(addMask(input.slice(), a, 1, 32), a, -1, 32);
  assert.deepEqual(acc, input);
  const u = applyMasks(new Uint32Array(1000).fill(5), [{ seed: a, sign: 1 }], 20);
  const v = applyMasks(new Uint32Array(1000).fill(7), [{ seed: a, sign: -1 }], 20);
  assert.ok(u.every((x, i) => (x + v[i]!) % 2 ** 20 === 12));
});

test('the wasm SIMD kernel is available on this Node and its module validates', () => {
  assert.equal(maskKernel(), 'wasm-simd');
  assert.equal(WebAssemblyValidate(simdModuleBytes()), true);
});

function WebAssemblyValidate(bytes: Uint8Array): boolean {
  return (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly.validate(bytes);
}

test('masked vectors look uniform: byte histogram of a masked constant vector passes chi-square', () => {
  const acc = applyMasks(new Uint32Array(65536).fill(123456), [{ seed: new Uint8Array(16).fill(1), sign: 1 }], 32);
  const bytes = new Uint8Array(acc.buffer);
  const counts = new Array<number>(256).fill(0);
  for (const b of bytes) counts[b]!++;
  const expected = bytes.length / 256;
  const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  // 255 degrees of freedom: the 0.9999 quantile is about 347.
  assert.ok(chi2 < 347, `chi2 = ${chi2}`);
});

test('bad arguments give ERR_INVALID_ARGUMENT naming the field', () => {
  const seed = new Uint8Array(16);
  assert.throws(() => expandMask(new Uint8Array(32), 4, 32), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT' && /seed/.test(e.message));
  assert.throws(() => expandMask(seed, -1, 32), /length/);
  assert.throws(() => expandMask(seed, 1.5, 32), /length/);
  assert.throws(() => expandMask(seed, 4, 0), /bits/);
  assert.throws(() => expandMask(seed, 4, 33), /bits/);
  assert.throws(() => applyMasks(new Uint32Array(4), [{ seed, sign: 2 as never }], 32), /terms\[0\]\.sign/);
  assert.throws(() => applyMasks(new Uint32Array(4), [{ seed, sign: 1 }, { seed: new Uint8Array(15), sign: 1 }], 32), /terms\[1\]\.seed/);
  assert.throws(() => applyMasks(new Int32Array(4) as never, [], 32), /acc/);
});

test('addVectors: SIMD and JS kernels equal a plain mod 2^32 sum (chunk edges, tails, 0-9 vectors); bad input is typed', () => {
  const rng = seededRng(new Uint8Array(32).fill(0x5a));
  for (const length of [0, 1, 15, 16, 17, 16384, 16385, 40_003]) {
    for (const count of [0, 1, 3, 4, 5, 9]) {
      const vectors = Array.from({ length: count }, () => new Uint32Array(rng.fill(new Uint8Array(4 * length)).buffer));
      const start = new Uint32Array(rng.fill(new Uint8Array(4 * length)).buffer);
      const expected = start.slice();
      for (const v of vectors) for (let i = 0; i < length; i++) expected[i] = (expected[i]! + v[i]!) >>> 0;
      assert.deepEqual(addVectors(start.slice(), vectors), expected, `simd length ${length} count ${count}`);
      assert.deepEqual(addVectors(start.slice(), vectors, { kernel: 'js' }), expected, `js length ${length} count ${count}`);
    }
  }
  assert.throws(() => addVectors(new Uint32Array(4), [new Uint32Array(3)]), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT' && /vectors\[0\]/.test(e.message));
  assert.throws(() => addVectors([] as unknown as Uint32Array, []), { code: 'ERR_INVALID_ARGUMENT' });
});
