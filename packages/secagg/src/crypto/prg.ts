/**
 * The mask PRG: AES-128-CTR keystream from Node's crypto (OpenSSL, AES-NI), with the
 * 16-byte mask seed as the key and an all-zero initial counter block. Each seed keys
 * exactly one mask, so a fixed IV never repeats a (key, counter) pair.
 *
 * Element i of a mask of `bits` bits is little-endian 32-bit word i of the keystream
 * (keystream bytes 4i..4i+3), reduced mod 2^bits (protocol-spec/01-crypto.md, "Mask PRG").
 *
 * Masking cost is dominated by the keystream, so the API adds many masks into one
 * accumulator in cache-sized chunks: every seed keeps one cipher for the whole vector,
 * each chunk of the accumulator stays in L1/L2 while all keystreams are added to it,
 * and the add runs in a small WebAssembly SIMD kernel (simd.ts) that adds four
 * keystreams per pass, with a JS fallback.
 */
import { createCipheriv, type Cipher } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { assertBytes, assertInt } from './bytes.js';
import { SIMD_BLOCK_BYTES, SIMD_SLOT_BYTES, SIMD_SOURCES, simdAdder, type SimdAdder } from './simd.js';

/** Bytes of a mask seed (AES-128 key). */
export const PRG_SEED_BYTES = 16;
/** Accumulator words processed per step: 16 Ki words = 64 KiB of keystream per cipher call. */
export const MASK_CHUNK_WORDS = 16384;
/** The longest mask (2^30 words = 4 GiB): far beyond any model here, and inside the PRF bound of protocol-spec/01-crypto.md sec. 6. */
export const MAX_MASK_LENGTH = 2 ** 30;

const ZERO_IV = Buffer.alloc(16);
const ZERO_CHUNK = Buffer.alloc(MASK_CHUNK_WORDS * 4);

/** Which add kernel applyMasks uses: 'auto' (wasm SIMD when available) or 'js'. */
export interface MaskOptions {
  kernel?: 'auto' | 'js';
}

/** The kernel applyMasks uses by default on this host. */
export function maskKernel(): 'wasm-simd' | 'js' {
  return simdAdder() ? 'wasm-simd' : 'js';
}

/** One mask to add (+1) or subtract (-1). */
export interface MaskTerm {
  seed: Uint8Array;
  sign: 1 | -1;
}

function newKeystream(seed: Uint8Array, name: string): Cipher {
  assertBytes(seed, name, PRG_SEED_BYTES);
  return createCipheriv('aes-128-ctr', seed, ZERO_IV);
}

function assertBits(bits: number): void {
  assertInt(bits, 'bits', 1, 32);
}

/** The next `words` keystream words of `cipher` as an Int32Array (aligned view or copy). */
function nextWords(cipher: Cipher, words: number): Int32Array {
  const ks = cipher.update(words === MASK_CHUNK_WORDS ? ZERO_CHUNK : ZERO_CHUNK.subarray(0, words * 4));
  if ((ks.byteOffset & 3) === 0) return new Int32Array(ks.buffer, ks.byteOffset, words);
  return new Int32Array(new Uint8Array(ks).buffer);
}

// The keystream is little-endian words; Int32Array views read host order. Every
// platform Node supports for this package is little-endian; refuse others loudly.
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error('fedmeta secagg mask PRG requires a little-endian host');
}

/**
 * Adds (sign +1) or subtracts (sign -1) the masks of `terms` into `acc`, in place,
 * mod 2^bits. acc's entries must already be < 2^bits; on return they are again.
 * @param acc - the accumulator (e.g. the encoded input vector)
 * @param terms - seeds with their signs; order does not matter
 * @param bits - the modulus exponent, 1..32
 * @param options - kernel choice (tests and benches only; results are identical)
 * @returns acc
 * @throws InvalidArgumentError for a wrong seed length, sign or bits
 */
export function applyMasks(acc: Uint32Array, terms: readonly MaskTerm[], bits: number, options: MaskOptions = {}): Uint32Array {
  if (!(acc instanceof Uint32Array)) throw new InvalidArgumentError('acc must be a Uint32Array');
  if (!Array.isArray(terms)) throw new InvalidArgumentError('terms must be an array of { seed, sign }');
  assertBits(bits);
  if (acc.length > MAX_MASK_LENGTH) throw new InvalidArgumentError(`acc.length must be at most ${MAX_MASK_LENGTH}`);
  const signs = new Int8Array(terms.length);
  terms.forEach((t, i) => {
    if (t === null || typeof t !== 'object') throw new InvalidArgumentError(`terms[${i}] must be { seed, sign }`);
    if (t.sign !== 1 && t.sign !== -1) throw new InvalidArgumentError(`terms[${i}].sign must be 1 or -1`);
    assertBytes(t.seed, `terms[${i}].seed`, PRG_SEED_BYTES);
    signs[i] = t.sign;
  });
  // One cipher per seed for the whole vector (created after every term is validated).
  const ciphers = terms.map((t) => newKeystream(t.seed, 'seed'));
  const simd = options.kernel === 'js' ? null : simdAdder();
  if (simd) maskChunksSimd(acc, ciphers, signs, simd);
  else maskChunksJs(acc, ciphers, signs);
  if (bits < 32) {
    const m = 2 ** bits - 1;
    for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! & m;
  }
  return acc;
}

/**
 * SIMD path: each accumulator chunk is copied into the wasm memory at offset 0; the
 * ciphers' next 64 KiB of keystream are copied into the source slots four at a time and
 * added (or subtracted) in one pass; the chunk is copied back. The copies run at memcpy
 * speed and everything stays in L2 for the whole inner loop.
 */
function maskChunksSimd(acc: Uint32Array, ciphers: Cipher[], signs: Int8Array, simd: SimdAdder): void {
  const mem = simd.memory;
  const memWords = new Int32Array(mem.buffer, 0, ((1 + SIMD_SOURCES) * SIMD_SLOT_BYTES) / 4);
  const accBytes = new Uint8Array(acc.buffer, acc.byteOffset, acc.byteLength);
  for (let start = 0; start < acc.length; start += MASK_CHUNK_WORDS) {
    const words = Math.min(MASK_CHUNK_WORDS, acc.length - start);
    const bytes = words * 4;
    const blocks = Math.floor(bytes / SIMD_BLOCK_BYTES);
    const tailFrom = (blocks * SIMD_BLOCK_BYTES) / 4;
    const zeros = words === MASK_CHUNK_WORDS ? ZERO_CHUNK : ZERO_CHUNK.subarray(0, bytes);
    mem.set(accBytes.subarray(start * 4, start * 4 + bytes), 0);
    for (let k = 0; k < ciphers.length; k += SIMD_SOURCES) {
      const group = Math.min(SIMD_SOURCES, ciphers.length - k);
      let pattern = 0;
      for (let g = 0; g < group; g++) {
        mem.set(ciphers[k + g]!.update(zeros), SIMD_SLOT_BYTES * (1 + g));
        if (signs[k + g] === -1) pattern |= 1 << g;
      }
      if (blocks > 0) simd.kernels[group]![pattern]!(0, SIMD_SLOT_BYTES, blocks);
      // The last < 16 words of the vector, if any, in JS.
      for (let g = 0; g < group && tailFrom < words; g++) {
        const base = (SIMD_SLOT_BYTES * (1 + g)) / 4;
        const minus = signs[k + g] === -1;
        for (let i = tailFrom; i < words; i++) memWords[i] = minus ? (memWords[i]! - memWords[base + i]!) | 0 : (memWords[i]! + memWords[base + i]!) | 0;
      }
    }
    accBytes.set(mem.subarray(0, bytes), start * 4);
  }
}

/** Fallback without WebAssembly SIMD: the same chunking with JS loops on Int32Array views. */
function maskChunksJs(acc: Uint32Array, ciphers: Cipher[], signs: Int8Array): void {
  const all = new Int32Array(acc.buffer, acc.byteOffset, acc.length);
  for (let start = 0; start < acc.length; start += MASK_CHUNK_WORDS) {
    const words = Math.min(MASK_CHUNK_WORDS, acc.length - start);
    const chunk = all.subarray(start, start + words);
    ciphers.forEach((c, k) => (signs[k] === 1 ? addInto : subInto)(chunk, nextWords(c, words)));
  }
}

function addInto(acc: Int32Array, ks: Int32Array): void {
  const n = acc.length;
  for (let i = 0; i < n; i++) acc[i] = (acc[i]! + ks[i]!) | 0;
}

function subInto(acc: Int32Array, ks: Int32Array): void {
  const n = acc.length;
  for (let i = 0; i < n; i++) acc[i] = (acc[i]! - ks[i]!) | 0;
}

/**
 * Adds or subtracts one mask into `acc` mod 2^bits (applyMasks with one term).
 * @returns acc
 */
export function addMask(acc: Uint32Array, seed: Uint8Array, sign: 1 | -1, bits: number): Uint32Array {
  return applyMasks(acc, [{ seed, sign }], bits);
}

/**
 * The mask of `seed`: `length` elements, element i = LE word i of the keystream mod 2^bits.
 * @throws InvalidArgumentError for a wrong seed length, a negative or huge length, or bits outside 1..32
 */
export function expandMask(seed: Uint8Array, length: number, bits: number): Uint32Array {
  assertBytes(seed, 'seed', PRG_SEED_BYTES);
  assertInt(length, 'length', 0, MAX_MASK_LENGTH);
  assertBits(bits);
  return applyMasks(new Uint32Array(length), [{ seed, sign: 1 }], bits);
}

/**
 * Raw AES-128-CTR keystream of `seed` (for tests, vectors and the bench baseline).
 * @param initialCounter - the first 16-byte counter block; the mask PRG always uses zeros
 */
export function keystream(seed: Uint8Array, bytes: number, initialCounter: Uint8Array = ZERO_IV): Uint8Array {
  assertBytes(seed, 'seed', PRG_SEED_BYTES);
  assertInt(bytes, 'bytes', 0, MAX_MASK_LENGTH * 4);
  assertBytes(initialCounter, 'initialCounter', 16);
  const c = createCipheriv('aes-128-ctr', seed, initialCounter);
  return new Uint8Array(c.update(Buffer.alloc(bytes)));
}

/**
 * Adds every vector of `vectors` into `acc` mod 2^32, in place: the server's sum of the
 * masked inputs. Same chunking and SIMD kernel as applyMasks (4 vectors per pass over each
 * accumulator chunk), JS loop without WebAssembly SIMD.
 * @returns acc
 * @throws InvalidArgumentError unless every vector is a Uint32Array of acc's length
 */
export function addVectors(acc: Uint32Array, vectors: readonly Uint32Array[], options: MaskOptions = {}): Uint32Array {
  if (!(acc instanceof Uint32Array)) throw new InvalidArgumentError('acc must be a Uint32Array');
  if (!Array.isArray(vectors)) throw new InvalidArgumentError('vectors must be an array of Uint32Array');
  vectors.forEach((v, i) => {
    if (!(v instanceof Uint32Array) || v.length !== acc.length) {
      throw new InvalidArgumentError(`vectors[${i}] must be a Uint32Array of length ${acc.length}`);
    }
  });
  const simd = options.kernel === 'js' ? null : simdAdder();
  const all = new Int32Array(acc.buffer, acc.byteOffset, acc.length);
  if (!simd) {
    for (const v of vectors) addInto(all, new Int32Array(v.buffer, v.byteOffset, v.length));
    return acc;
  }
  const mem = simd.memory;
  const memWords = new Int32Array(mem.buffer, 0, ((1 + SIMD_SOURCES) * SIMD_SLOT_BYTES) / 4);
  const accBytes = new Uint8Array(acc.buffer, acc.byteOffset, acc.byteLength);
  const sources = vectors.map((v) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  for (let start = 0; start < acc.length; start += MASK_CHUNK_WORDS) {
    const words = Math.min(MASK_CHUNK_WORDS, acc.length - start);
    const from = start * 4;
    const bytes = words * 4;
    const blocks = Math.floor(bytes / SIMD_BLOCK_BYTES);
    const tailFrom = (blocks * SIMD_BLOCK_BYTES) / 4;
    mem.set(accBytes.subarray(from, from + bytes), 0);
    for (let k = 0; k < sources.length; k += SIMD_SOURCES) {
      const group = Math.min(SIMD_SOURCES, sources.length - k);
      for (let g = 0; g < group; g++) mem.set(sources[k + g]!.subarray(from, from + bytes), SIMD_SLOT_BYTES * (1 + g));
      if (blocks > 0) simd.kernels[group]![0]!(0, SIMD_SLOT_BYTES, blocks);
      for (let g = 0; g < group && tailFrom < words; g++) {
        const base = (SIMD_SLOT_BYTES * (1 + g)) / 4;
        for (let i = tailFrom; i < words; i++) memWords[i] = (memWords[i]! + memWords[base + i]!) | 0;
      }
    }
    accBytes.set(mem.subarray(0, bytes), from);
  }
  return acc;
}
