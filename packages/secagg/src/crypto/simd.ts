/**
 * A tiny hand-assembled WebAssembly module that adds or subtracts one array of 32-bit
 * words into another with i32x4 SIMD, 64 bytes per loop iteration. Plain JS typed-array
 * loops cost about as much as the AES-CTR keystream itself; this brings the add down to a
 * small fraction of it (measured by `npm run bench -w @fedmeta/secagg`).
 *
 * Exports: memory `mem` (4 pages = 256 KiB) and two functions (acc, src, blocks) that
 * process `blocks` 64-byte blocks: acc[i] = acc[i] +/- src[i] mod 2^32 (i32x4.add / i32x4.sub).
 * Hosts without WebAssembly SIMD get `null` and the caller falls back to a JS loop.
 */

/** 64 bytes (16 words) per loop iteration. */
export const SIMD_BLOCK_BYTES = 64;
/** Size of the module's memory in bytes. */
export const SIMD_MEMORY_BYTES = 4 * 65536;

export interface SimdAdder {
  memory: Uint8Array;
  add(accOffset: number, srcOffset: number, blocks: number): void;
  sub(accOffset: number, srcOffset: number, blocks: number): void;
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

/** memarg: alignment exponent 4 (16 bytes, a hint) and a small offset (< 128, one LEB128 byte). */
const memarg = (offset: number): number[] => [0x04, offset];

/** Body of f(acc, src, blocks): do { 4 x (acc[k] = acc[k] op src[k]); acc += 64; src += 64 } while (--blocks). */
function loopBody(op: number[]): number[] {
  const lanes: number[] = [];
  for (let k = 0; k < 4; k++) {
    const off = 16 * k;
    lanes.push(LOCAL_GET, 0, LOCAL_GET, 0, ...V128_LOAD, ...memarg(off), LOCAL_GET, 1, ...V128_LOAD, ...memarg(off), ...op, ...V128_STORE, ...memarg(off));
  }
  const code = [
    0x00, // no extra locals
    0x03, 0x40, // loop (void)
    ...lanes,
    LOCAL_GET, 0, I32_CONST, 0xc0, 0x00, I32_ADD, LOCAL_SET, 0, // acc += 64 (LEB128 0xc0 0x00)
    LOCAL_GET, 1, I32_CONST, 0xc0, 0x00, I32_ADD, LOCAL_SET, 1, // src += 64
    LOCAL_GET, 2, I32_CONST, 0x01, I32_SUB, LOCAL_TEE, 2, // --blocks
    0x0d, 0x00, // br_if loop
    0x0b, // end loop
    0x0b, // end function
  ];
  return [...leb128(code.length), ...code];
}

function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function section(id: number, bytes: number[]): number[] {
  return [id, ...leb128(bytes.length), ...bytes];
}

function name(s: string): number[] {
  return [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
}

/** The module's bytes (exported for inspection and tests). */
export function simdModuleBytes(): Uint8Array {
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    ...section(1, [1, 0x60, 3, 0x7f, 0x7f, 0x7f, 0]), // type 0: (i32, i32, i32) -> ()
    ...section(3, [2, 0, 0]), // two functions of type 0
    ...section(5, [1, 0x00, 4]), // one memory, min 4 pages, no max
    ...section(7, [3, ...name('mem'), 0x02, 0, ...name('add'), 0x00, 0, ...name('sub'), 0x00, 1]),
    ...section(10, [2, ...loopBody(I32X4_ADD), ...loopBody(I32X4_SUB)]),
  ]);
}

// lib ES2023 has no WebAssembly declarations and @types/node 20 adds none: declare the
// few members used here.
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
interface WasmExports {
  mem: { buffer: ArrayBuffer };
  add: SimdAdder['add'];
  sub: SimdAdder['sub'];
}

let cached: SimdAdder | null | undefined;

/** The SIMD adder, or null when this host's WebAssembly lacks SIMD. Instantiated once. */
export function simdAdder(): SimdAdder | null {
  if (cached !== undefined) return cached;
  try {
    const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    const bytes = simdModuleBytes();
    if (wasm === undefined || !wasm.validate(bytes)) return (cached = null);
    const instance = new wasm.Instance(new wasm.Module(bytes), {});
    const ex = instance.exports as unknown as WasmExports;
    cached = { memory: new Uint8Array(ex.mem.buffer), add: ex.add, sub: ex.sub };
  } catch {
    cached = null;
  }
  return cached;
}
