/**
 * A tiny hand-assembled WebAssembly module that adds or subtracts 32-bit word arrays
 * into an accumulator with i32x4 SIMD. Plain JS typed-array loops cost about as much as
 * the AES-CTR keystream itself; this brings the add down to a fraction of it (measured by
 * `npm run bench -w @fedmeta/secagg`).
 *
 * Memory `mem` (6 pages = 384 KiB): the accumulator slice at offset 0 and up to
 * SIMD_SOURCES source slices at SIMD_SLOT_BYTES * (1 + k). One function per source count
 * s (1..4) and sign pattern p (bit k set: subtract source k), exported as `k<s>_<p>`,
 * all (acc, src, blocks), processing `blocks` 64-byte blocks mod 2^32:
 *   acc[i] = acc[i] +/- src_0[i] +/- ... +/- src_{s-1}[i],  src_k = src + k * SIMD_SLOT_BYTES
 * One pass over the accumulator serves up to four keystreams.
 * Hosts without WebAssembly SIMD get `null` and the caller falls back to a JS loop.
 */

/** 64 bytes (16 words) per loop iteration. */
export const SIMD_BLOCK_BYTES = 64;
/** Distance between source slices (and the accumulator slice's size). */
export const SIMD_SLOT_BYTES = 65536;
/** Sources the 4-way kernels read per pass. */
export const SIMD_SOURCES = 4;
const PAGES = 1 + SIMD_SOURCES + 1;

/** (accOffset, srcOffset, blocks) => void */
export type SimdKernel = (accOffset: number, srcOffset: number, blocks: number) => void;

export interface SimdAdder {
  memory: Uint8Array;
  /** kernels[s][p]: s sources (1..4), sign pattern p (bit k set = subtract source k). */
  kernels: SimdKernel[][];
}

const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;
const I32_CONST = 0x41;
const I32_ADD = 0x6a;
const I32_SUB = 0x6b;
const SIMD = 0xfd;
const V128_LOAD = [SIMD, 0x00];
const V128_STORE = [SIMD, 0x0b];
const I32X4_ADD = [SIMD, 0xae, 0x01];
const I32X4_SUB = [SIMD, 0xb1, 0x01];

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** memarg: alignment exponent 4 (16 bytes, a hint) and an offset. */
const memarg = (offset: number): number[] => [0x04, ...uleb(offset)];

/**
 * Body of f(acc, src, blocks) for `sources` sources:
 * do { for each of 4 lanes: acc[lane] = acc[lane] op src_0[lane] op ... ; acc += 64; src += 64 } while (--blocks).
 */
function loopBody(sources: number, pattern: number): number[] {
  const lanes: number[] = [];
  for (let lane = 0; lane < 4; lane++) {
    const off = 16 * lane;
    lanes.push(LOCAL_GET, 0); // store address
    lanes.push(LOCAL_GET, 0, ...V128_LOAD, ...memarg(off));
    for (let k = 0; k < sources; k++) {
      lanes.push(LOCAL_GET, 1, ...V128_LOAD, ...memarg(off + k * SIMD_SLOT_BYTES), ...((pattern >> k) & 1 ? I32X4_SUB : I32X4_ADD));
    }
    lanes.push(...V128_STORE, ...memarg(off));
  }
  const code = [
    0x00, // no extra locals
    0x03, 0x40, // loop (void)
    ...lanes,
    LOCAL_GET, 0, I32_CONST, 0xc0, 0x00, I32_ADD, LOCAL_SET, 0, // acc += 64 (signed LEB128 0xc0 0x00)
    LOCAL_GET, 1, I32_CONST, 0xc0, 0x00, I32_ADD, LOCAL_SET, 1, // src += 64
    LOCAL_GET, 2, I32_CONST, 0x01, I32_SUB, LOCAL_TEE, 2, // --blocks
    0x0d, 0x00, // br_if loop
    0x0b, // end loop
    0x0b, // end function
  ];
  return [...uleb(code.length), ...code];
}

function section(id: number, bytes: number[]): number[] {
  return [id, ...uleb(bytes.length), ...bytes];
}

function name(s: string): number[] {
  return [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
}

/** [name, sources, pattern] for every kernel, in function-index order. */
const EXPORTS: Array<[string, number, number]> = [];
for (let sources = 1; sources <= SIMD_SOURCES; sources++) {
  for (let pattern = 0; pattern < 1 << sources; pattern++) EXPORTS.push([`k${sources}_${pattern}`, sources, pattern]);
}

/** The module's bytes (exported for inspection and tests). */
export function simdModuleBytes(): Uint8Array {
  const exports = [...uleb(EXPORTS.length + 1), ...name('mem'), 0x02, 0];
  EXPORTS.forEach(([n], i) => exports.push(...name(n), 0x00, ...uleb(i)));
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    ...section(1, [1, 0x60, 3, 0x7f, 0x7f, 0x7f, 0]), // type 0: (i32, i32, i32) -> ()
    ...section(3, [...uleb(EXPORTS.length), ...EXPORTS.map(() => 0)]), // functions, all of type 0
    ...section(5, [1, 0x00, PAGES]), // one memory, min PAGES pages, no max
    ...section(7, exports),
    ...section(10, [...uleb(EXPORTS.length), ...EXPORTS.flatMap(([, sources, pattern]) => loopBody(sources, pattern))]),
  ]);
}

// lib ES2023 has no WebAssembly declarations and @types/node 20 adds none: declare the
// few members used here.
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

let cached: SimdAdder | null | undefined;

/** The SIMD adder, or null when this host's WebAssembly lacks SIMD. Instantiated once. */
export function simdAdder(): SimdAdder | null {
  if (cached !== undefined) return cached;
  try {
    const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    const bytes = simdModuleBytes();
    if (wasm === undefined || !wasm.validate(bytes)) return (cached = null);
    const ex = new wasm.Instance(new wasm.Module(bytes), {}).exports as Record<string, SimdKernel> & { mem: { buffer: ArrayBuffer } };
    const kernels: SimdKernel[][] = [[]];
    for (const [n, sources, pattern] of EXPORTS) (kernels[sources] ??= [])[pattern] = ex[n]!;
    cached = { memory: new Uint8Array(ex.mem.buffer), kernels };
  } catch {
    cached = null;
  }
  return cached;
}
