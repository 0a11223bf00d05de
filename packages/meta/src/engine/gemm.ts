/**
 * Matrix multiplication kernels, generated for one call site: every size, stride and address
 * is a constant of the generated code, so the inner loop is loads at constant offsets from two
 * running pointers and the edges (rows that do not fill a register block, a last vector that
 * is not four lanes wide) are straight-line code rather than run-time branches.
 *
 *   C[i, j] (+)= sum_k A[i, k] * B[k, j]  (+ bias[j]) (then max(0, .) for ReLU)
 *
 * A is addressed through two element strides (aRow, aCol), so A^T costs nothing: the kernel
 * broadcasts one A element per row of the block (v128.load32_splat) whatever its layout. B and
 * C are row-major with leading dimensions ldb and ldc. The register block is `rows` x 8 (two
 * f32x4 accumulators per row; rows = 4 by default: 8 accumulators, 2 B vectors and one
 * broadcast use 11 of the 16 xmm registers V8 allocates on x64). K is cut into chunks of
 * `kBlock` so that a long reduction (a weight gradient sums over every pixel of the batch)
 * keeps its slice of A in cache across the column blocks.
 *
 * Reads may run up to 12 bytes past the end of a row of B or C (the lanes beyond N of a last,
 * partial vector are computed and never stored): callers leave slack after their buffers.
 */
import { Fn, I, type Local } from './wasm-asm.js';

export interface GemmArgs {
  m: number;
  n: number;
  k: number;
  /** byte address of A and its element strides: A[i, k] = f32 at a + 4 * (i * aRow + k * aCol) */
  a: number;
  aRow: number;
  aCol: number;
  /** byte address of B, row-major with leading dimension ldb (elements) */
  b: number;
  ldb: number;
  /** byte address of C, row-major with leading dimension ldc (elements) */
  c: number;
  ldc: number;
  /** add to C's current contents instead of overwriting it */
  accumulate?: boolean;
  /** byte address of a bias vector [n] added in the epilogue */
  bias?: number;
  relu?: boolean;
  /** reduction chunk (default: all of K at once) */
  kBlock?: number;
  /** rows of the register block (1..6, default 4) */
  rows?: number;
}

/** Reusable v128 locals of a function, so many GEMMs in one function share registers. */
class Pool {
  private readonly v: Local[] = [];
  private readonly i: Local[] = [];
  constructor(private readonly f: Fn) {}
  vec(n: number): Local[] {
    while (this.v.length < n) this.v.push(this.f.local('v128'));
    return this.v.slice(0, n);
  }
  int(n: number): Local[] {
    while (this.i.length < n) this.i.push(this.f.local('i32'));
    return this.i.slice(0, n);
  }
}
const pools = new WeakMap<Fn, Pool>();
export function poolOf(f: Fn): Pool {
  let p = pools.get(f);
  if (!p) pools.set(f, (p = new Pool(f)));
  return p;
}

function check(g: GemmArgs): void {
  for (const key of ['m', 'n', 'k', 'a', 'aRow', 'aCol', 'b', 'ldb', 'c', 'ldc'] as const) {
    if (!Number.isInteger(g[key]) || g[key] < 0) throw new RangeError(`gemm: ${key} = ${g[key]}`);
  }
  if (g.m < 1 || g.n < 1 || g.k < 1) throw new RangeError(`gemm: empty ${g.m}x${g.n}x${g.k}`);
}

/** Appends C (+)= A B to `f`. */
export function emitGemm(f: Fn, g: GemmArgs): void {
  check(g);
  const rowsMax = g.rows ?? 4;
  const pool = poolOf(f);
  const [pa, pc, ka, kb] = pool.int(4) as [Local, Local, Local, Local];
  const kBlock = Math.min(g.kBlock ?? g.k, g.k);
  for (let k0 = 0; k0 < g.k; k0 += kBlock) {
    const kl = Math.min(kBlock, g.k - k0);
    const last = k0 + kl >= g.k;
    const accumulate = !!g.accumulate || k0 > 0;
    const micro = (rows: number) => {
      const out = [];
      for (let j0 = 0; j0 < g.n; j0 += 8) out.push(microKernel(f, g, { rows, j0, k0, kl, accumulate, bias: last ? g.bias : undefined, relu: last && !!g.relu, pa, pc, ka, kb }));
      return out;
    };
    const full = Math.floor(g.m / rowsMax);
    const tail = g.m % rowsMax;
    if (full > 0) {
      const cEnd = g.c + 4 * full * rowsMax * g.ldc;
      f.emit(
        I.set(pa, I.i32(g.a + 4 * k0 * g.aCol)),
        I.set(pc, I.i32(g.c)),
        I.doWhile(
          [...micro(rowsMax), I.set(pa, I.add(I.get(pa), I.i32(4 * rowsMax * g.aRow))), I.set(pc, I.add(I.get(pc), I.i32(4 * rowsMax * g.ldc)))],
          I.ne(I.get(pc), I.i32(cEnd)),
        ),
      );
    }
    if (tail > 0) {
      f.emit(I.set(pa, I.i32(g.a + 4 * (full * rowsMax * g.aRow + k0 * g.aCol))), I.set(pc, I.i32(g.c + 4 * full * rowsMax * g.ldc)), ...micro(tail));
    }
  }
}

interface MicroArgs {
  rows: number;
  j0: number;
  k0: number;
  kl: number;
  accumulate: boolean;
  bias: number | undefined;
  relu: boolean;
  pa: Local;
  pc: Local;
  ka: Local;
  kb: Local;
}

/** One register block: rows x (up to 8) outputs at column j0, reducing over k0..k0+kl. */
function microKernel(f: Fn, g: GemmArgs, m: MicroArgs): (out: number[]) => void {
  const nv = Math.min(2, Math.ceil((g.n - m.j0) / 4));
  const pool = poolOf(f);
  const regs = pool.vec(m.rows * nv + nv + 2);
  const acc = (r: number, v: number) => regs[r * nv + v]!;
  const bv = (v: number) => regs[m.rows * nv + v]!;
  const as = regs[m.rows * nv + nv]!;
  const zero = regs[m.rows * nv + nv + 1]!;
  const code: ((o: number[]) => void)[] = [];
  const cOff = (r: number, v: number) => 4 * (r * g.ldc + m.j0 + 4 * v);
  for (let r = 0; r < m.rows; r++) {
    for (let v = 0; v < nv; v++) code.push(I.set(acc(r, v), m.accumulate ? I.v128Load(I.get(m.pc), cOff(r, v)) : I.v128Zero()));
  }
  // Unrolled by `unroll` steps of k, addressed by constant offsets from ka and kb.
  const step = (u: number) => {
    const s: ((o: number[]) => void)[] = [];
    for (let v = 0; v < nv; v++) s.push(I.set(bv(v), I.v128Load(I.get(m.kb), 4 * (u * g.ldb + 4 * v))));
    for (let r = 0; r < m.rows; r++) {
      s.push(I.set(as, I.splatLoad(I.get(m.ka), 4 * (r * g.aRow + u * g.aCol))));
      for (let v = 0; v < nv; v++) s.push(I.set(acc(r, v), I.f32x4Add(I.get(acc(r, v)), I.f32x4Mul(I.get(as), I.get(bv(v))))));
    }
    return s;
  };
  const unroll = Math.min(4, m.kl);
  const iters = Math.floor(m.kl / unroll);
  const rem = m.kl - iters * unroll;
  const kbStart = g.b + 4 * (m.k0 * g.ldb + m.j0);
  code.push(I.set(m.ka, I.get(m.pa)), I.set(m.kb, I.i32(kbStart)));
  const body: ((o: number[]) => void)[] = [];
  for (let u = 0; u < unroll; u++) body.push(...step(u));
  const advance = (n: number) => [I.set(m.ka, I.add(I.get(m.ka), I.i32(4 * n * g.aCol))), I.set(m.kb, I.add(I.get(m.kb), I.i32(4 * n * g.ldb)))];
  if (iters === 1) code.push(...body, ...(rem ? advance(unroll) : []));
  else if (iters > 1) code.push(I.doWhile([...body, ...advance(unroll)], I.ne(I.get(m.kb), I.i32(kbStart + 4 * iters * unroll * g.ldb))));
  for (let u = 0; u < rem; u++) code.push(...step(u));
  // Epilogue: bias, ReLU, store (lane by lane for a partial last vector).
  if (m.relu) code.push(I.set(zero, I.v128Zero()));
  for (let r = 0; r < m.rows; r++) {
    for (let v = 0; v < nv; v++) {
      let val = I.get(acc(r, v));
      if (m.bias !== undefined) val = I.f32x4Add(val, I.v128Load(I.i32(m.bias), 4 * (m.j0 + 4 * v)));
      if (m.relu) val = I.f32x4Max(val, I.get(zero));
      const lanes = Math.min(4, g.n - m.j0 - 4 * v);
      if (lanes === 4) code.push(I.v128Store(I.get(m.pc), cOff(r, v), val));
      else {
        code.push(I.set(acc(r, v), val));
        for (let l = 0; l < lanes; l++) code.push(I.f32Store(I.get(m.pc), cOff(r, v) + 4 * l, I.extractLane(I.get(acc(r, v)), l)));
      }
    }
  }
  return I.seq(...code);
}
