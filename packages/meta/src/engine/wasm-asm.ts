/**
 * A small WebAssembly assembler: enough of the binary format (types, functions, one memory,
 * exports, code) and of the instruction set (i32, f32, the SIMD f32x4 subset) to generate
 * the training kernels of `src/engine/` at run time, specialised for one layer's shapes and
 * addresses. Written after the secagg package's hand-assembled masking kernel, with an
 * expression layer on top so kernels read as code rather than opcode lists.
 *
 * An `Expr` appends the code of one expression (which leaves its value on the stack) or one
 * statement (which leaves nothing) to an output array. Nothing is checked here beyond what
 * `WebAssembly.validate` checks when the module is compiled.
 */

export type ValType = 'i32' | 'f32' | 'v128';
const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

export type Expr = (out: number[]) => void;

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`uleb: ${n}`);
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(n: number): number[] {
  if (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 32) throw new RangeError(`sleb: ${n}`);
  n |= 0;
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function f32Bytes(v: number): number[] {
  return Array.from(new Uint8Array(new Float32Array([v]).buffer));
}

/** A local variable (parameters first, then declared locals) of one function. */
export interface Local {
  readonly index: number;
  readonly type: ValType;
}

const seq = (...parts: Expr[]): Expr => (o) => {
  for (const p of parts) p(o);
};
const op = (...bytes: number[]) => (...args: Expr[]): Expr => (o) => {
  for (const a of args) a(o);
  o.push(...bytes);
};
const simd = (code: number) => op(0xfd, ...uleb(code));
/** memarg: alignment exponent, then the constant byte offset. */
const mem = (bytes: number[], align: number) => (addr: Expr, offset = 0): Expr => (o) => {
  addr(o);
  o.push(...bytes, align, ...uleb(offset));
};
const store = (bytes: number[], align: number) => (addr: Expr, offset: number, value: Expr): Expr => (o) => {
  addr(o);
  value(o);
  o.push(...bytes, align, ...uleb(offset));
};

/** Instructions; loads and stores take (address, constant byte offset). */
export const I = {
  seq,
  get: (l: Local): Expr => (o) => o.push(0x20, ...uleb(l.index)),
  set: (l: Local, v: Expr): Expr => (o) => {
    v(o);
    o.push(0x21, ...uleb(l.index));
  },
  tee: (l: Local, v: Expr): Expr => (o) => {
    v(o);
    o.push(0x22, ...uleb(l.index));
  },
  drop: op(0x1a),
  i32: (v: number): Expr => (o) => o.push(0x41, ...sleb(v)),
  f32: (v: number): Expr => (o) => o.push(0x43, ...f32Bytes(v)),
  add: op(0x6a),
  sub: op(0x6b),
  mul: op(0x6c),
  eq: op(0x46),
  ne: op(0x47),
  ltS: op(0x48),
  ltU: op(0x49),
  geS: op(0x4e),
  eqz: op(0x45),
  f32Add: op(0x92),
  f32Sub: op(0x93),
  f32Mul: op(0x94),
  f32Div: op(0x95),
  f32Max: op(0x97),
  f32Sqrt: op(0x91),
  f32Gt: op(0x5e),
  select: op(0x1b),
  f32Load: mem([0x2a], 2),
  f32Store: store([0x38], 2),
  v128Load: mem([0xfd, ...uleb(0x00)], 4),
  /** v128.load32_splat: one f32 from memory into all four lanes. */
  splatLoad: mem([0xfd, ...uleb(0x09)], 2),
  v128Store: store([0xfd, ...uleb(0x0b)], 4),
  v128Zero: (): Expr => (o) => o.push(0xfd, ...uleb(0x0c), ...new Array(16).fill(0)),
  f32x4Splat: simd(0x13),
  extractLane: (v: Expr, lane: number): Expr => (o) => {
    v(o);
    o.push(0xfd, ...uleb(0x1f), lane);
  },
  /** i8x16.shuffle of a and b by float lanes (0-3 from a, 4-7 from b). */
  shuffle32: (a: Expr, b: Expr, lanes: [number, number, number, number]): Expr => (o) => {
    a(o);
    b(o);
    o.push(0xfd, ...uleb(0x0d));
    for (const l of lanes) o.push(4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3);
  },
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Div: simd(0xe7),
  f32x4Max: simd(0xe9),
  f32x4Sqrt: simd(0xe3),
  f32x4Gt: simd(0x44),
  v128And: simd(0x4e),
  /** Statement: loop body while `cond` (evaluated after the body) is true; body runs at least once. */
  doWhile: (body: Expr[], cond: Expr): Expr => (o) => {
    o.push(0x03, 0x40);
    for (const b of body) b(o);
    cond(o);
    o.push(0x0d, 0x00, 0x0b);
  },
  /** Statement: if (cond) { then } else { otherwise } */
  ifElse: (cond: Expr, then: Expr[], otherwise: Expr[]): Expr => (o) => {
    cond(o);
    o.push(0x04, 0x40);
    for (const t of then) t(o);
    o.push(0x05);
    for (const t of otherwise) t(o);
    o.push(0x0b);
  },
  /** Statement: if (cond) { then } */
  when: (cond: Expr, then: Expr[]): Expr => (o) => {
    cond(o);
    o.push(0x04, 0x40);
    for (const t of then) t(o);
    o.push(0x0b);
  },
};

/** One function under construction. */
export class Fn {
  readonly locals: ValType[] = [];
  readonly body: number[] = [];
  readonly paramLocals: Local[];
  constructor(
    readonly name: string,
    readonly params: ValType[] = [],
    readonly results: ValType[] = [],
  ) {
    this.paramLocals = params.map((type, index) => ({ index, type }));
  }
  local(type: ValType): Local {
    this.locals.push(type);
    return { index: this.params.length + this.locals.length - 1, type };
  }
  emit(...stmts: Expr[]): this {
    for (const s of stmts) s(this.body);
    return this;
  }
  /**
   * Statement helper: for (i = from; i < to; i += step) body, with a run-time i32 counter;
   * `to` and `step` are constants, and the loop is skipped when from >= to.
   */
  forRange(i: Local, from: number, to: number, step: number, body: Expr[]): this {
    if (from >= to) return this;
    return this.emit(I.set(i, I.i32(from)), I.doWhile([...body, I.set(i, I.add(I.get(i), I.i32(step)))], I.ltS(I.get(i), I.i32(to))));
  }
  /** The function's code entry: size, locals (run-length grouped by type), body, end. */
  encode(): Uint8Array {
    const groups: [number, ValType][] = [];
    for (const t of this.locals) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const head = [...uleb(groups.length), ...groups.flatMap(([n, t]) => [...uleb(n), VALTYPE[t]])];
    const size = uleb(head.length + this.body.length + 1);
    const out = new Uint8Array(size.length + head.length + this.body.length + 1);
    out.set(size, 0);
    out.set(head, size.length);
    // Large bodies (millions of bytes) are copied in slices, not spread into an array literal.
    for (let i = 0; i < this.body.length; i += 65536) out.set(this.body.slice(i, i + 65536), size.length + head.length + i);
    out[out.length - 1] = 0x0b;
    return out;
  }
}

function section(id: number, bytes: number[]): number[] {
  return [id, ...uleb(bytes.length), ...bytes];
}

function concat(parts: (number[] | Uint8Array)[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function nameBytes(s: string): number[] {
  const b = Array.from(new TextEncoder().encode(s));
  return [...uleb(b.length), ...b];
}

function vec(items: number[][]): number[] {
  const out = uleb(items.length);
  for (const it of items) for (const b of it) out.push(b);
  return out;
}

/**
 * Module bytes: the functions, each exported by its name, and one memory of at least `pages`
 * 64 KiB pages: imported as env.mem when `importMemory`, else defined and exported as `mem`.
 */
export function moduleBytes(fns: Fn[], pages: number, importMemory = false): Uint8Array {
  const sigs: string[] = [];
  const sigOf = fns.map((f) => {
    const key = `${f.params.join(',')}>${f.results.join(',')}`;
    let k = sigs.indexOf(key);
    if (k < 0) k = sigs.push(key) - 1;
    return k;
  });
  const types = sigs.map((key) => {
    const [p, r] = key.split('>') as [string, string];
    const ps = p ? p.split(',').map((t) => VALTYPE[t as ValType]) : [];
    const rs = r ? r.split(',').map((t) => VALTYPE[t as ValType]) : [];
    return [0x60, ...vec(ps.map((x) => [x])), ...vec(rs.map((x) => [x]))];
  });
  const fnExports = fns.map((f, i) => [...nameBytes(f.name), 0x00, ...uleb(i)]);
  const bodies = fns.map((f) => f.encode());
  const codeSize = uleb(fns.length).length + bodies.reduce((s, b) => s + b.length, 0);
  return concat([
    [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    section(1, vec(types)),
    importMemory ? section(2, vec([[...nameBytes('env'), ...nameBytes('mem'), 0x02, 0x00, ...uleb(pages)]])) : [],
    section(3, vec(sigOf.map((k) => uleb(k)))),
    importMemory ? [] : section(5, [1, 0x00, ...uleb(pages)]),
    section(7, vec(importMemory ? fnExports : [[...nameBytes('mem'), 0x02, 0x00], ...fnExports])),
    [10, ...uleb(codeSize), ...uleb(fns.length)],
    ...bodies,
  ]);
}

// lib ES2023 has no WebAssembly declarations and @types/node 20 adds none: the members used.
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
}

export function wasmApi(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}

export type WasmFn = (...args: number[]) => number | void;

/** A fresh memory of `pages` pages (growable to the 4 GiB of wasm32). */
export function newMemory(pages: number): WasmMemory {
  const wasm = wasmApi();
  if (!wasm) throw new Error('no WebAssembly in this host');
  return new wasm.Memory({ initial: pages, maximum: 65536 });
}

/** Compiles `fns` into a module that imports `memory` (grown first to `pages` if smaller) and instantiates it. */
export function instantiateWith(fns: Fn[], memory: WasmMemory, pages: number): Record<string, WasmFn> {
  const wasm = wasmApi();
  if (!wasm) throw new Error('no WebAssembly in this host');
  const have = memory.buffer.byteLength / 65536;
  if (have < pages) memory.grow(pages - have);
  const ex = new wasm.Instance(new wasm.Module(moduleBytes(fns, pages, true)), { env: { mem: memory } }).exports;
  const out: Record<string, WasmFn> = {};
  for (const f of fns) out[f.name] = ex[f.name] as WasmFn;
  return out;
}

/** Compiles and instantiates `fns` with a memory of their own. */
export function instantiate(fns: Fn[], pages: number): { memory: WasmMemory; fns: Record<string, WasmFn> } {
  const memory = newMemory(pages);
  return { memory, fns: instantiateWith(fns, memory, pages) };
}

/** True when this host validates a module using the SIMD instructions the kernels need. */
export function simdAvailable(): boolean {
  const wasm = wasmApi();
  if (!wasm) return false;
  const f = new Fn('probe', ['i32']);
  const p = f.paramLocals[0]!;
  f.emit(I.v128Store(I.get(p), 0, I.f32x4Add(I.splatLoad(I.get(p), 0), I.v128Load(I.get(p), 16))));
  try {
    return wasm.validate(moduleBytes([f], 1));
  } catch {
    return false;
  }
}
