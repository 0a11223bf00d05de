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
import { Fn, I, type Expr, type Local } from './wasm-asm.js';

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
  /** byte address of a 16 * kBlock byte buffer: pack A's row blocks (only when aRow = 1) */
  packA?: number;
  /** byte address of a 32 * kBlock byte buffer: pack B's 8-column panels */
  packB?: number;
  /**
   * steps of k per loop iteration (default 1: measured here, unrolling by 2-8 makes V8's
   * register allocator spill the accumulators and halves the rate, ~29 vs ~14 GMAC/s)
   */
  unroll?: number;
  /** run-time byte offsets added to a, b and c (emitGemmBatch) */
  offsets?: { a: Local; b: Local; c: Local };
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

/**
 * Appends C (+)= A B to `f`.
 *
 * Loops: row blocks of `rows` (4) rows, column blocks of 8 columns (two f32x4 accumulators per
 * row), the reduction innermost; the full column blocks are one run-time loop (the code of a
 * block is the same for every column but its addresses), a last partial block is straight code.
 * Two packings avoid cache-set conflicts (a power-of-two row stride puts every row of a panel
 * in the same L1 set) and give the inner loop contiguous operands:
 * - `packA` (when aRow = 1, i.e. A is a transposed row-major matrix: weight gradients): for
 *   each block of rows, A's [rows x kBlock] slice is first copied k-major into a small
 *   buffer, then every column block reads it from L1. Row blocks outside, columns inside.
 * - `packB` (for few rows, many columns: a dense layer's input gradient): for each block of 8
 *   columns, B's [kBlock x 8] panel is copied contiguously, then every row block reads it.
 *   Column blocks outside, rows inside.
 * Without packing: row blocks outside, column blocks inside (the A panel stays in L1).
 */
export function emitGemm(f: Fn, g: GemmArgs): void {
  f.emit(...gemmCode(f, g));
}

/**
 * `count` GEMMs of the same shape whose A, B and C lie `stride` bytes apart (the 16 products of
 * a Winograd transform), as one run-time loop around a single copy of the code.
 */
export function emitGemmBatch(f: Fn, g: GemmArgs, count: number, stride: { a: number; b: number; c: number }): void {
  if (count === 1) return emitGemm(f, g);
  // The pool's i32 locals 11-14: gemmCode uses the first 11.
  const [oa, ob, oc, n] = poolOf(f).int(15).slice(11) as [Local, Local, Local, Local];
  const offsets = { a: oa, b: ob, c: oc };
  const bump = (l: Local, by: number) => I.set(l, I.add(I.get(l), I.i32(by)));
  f.emit(
    I.set(offsets.a, I.i32(0)), I.set(offsets.b, I.i32(0)), I.set(offsets.c, I.i32(0)), I.set(n, I.i32(count)),
    I.doWhile([...gemmCode(f, { ...g, offsets }), bump(offsets.a, stride.a), bump(offsets.b, stride.b), bump(offsets.c, stride.c), I.set(n, I.sub(I.get(n), I.i32(1)))], I.get(n)),
  );
}

function gemmCode(f: Fn, g: GemmArgs): Expr[] {
  check(g);
  const out: Expr[] = [];
  const off = g.offsets;
  /** constant address plus the run-time offset of A, B or C when batched */
  const at = (which: 'a' | 'b' | 'c', x: number): Expr => (off ? I.add(I.get(off[which]), I.i32(x)) : I.i32(x));
  const rowsMax = g.rows ?? 4;
  const pool = poolOf(f);
  const L = pool.int(11) as Local[];
  const [pa, pc, ka, kb, pp, pj, bj, zj, cnt, jc, cj] = L as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const kBlock = Math.min(g.kBlock ?? g.k, g.k);
  const packA = g.packA !== undefined && g.aRow === 1 && rowsMax === 4 ? g.packA : undefined;
  const packB = packA === undefined ? g.packB : undefined;
  const fullCols = Math.floor(g.n / 8);
  const tailCols = g.n % 8;
  const fullRows = Math.floor(g.m / rowsMax);
  const tailRows = g.m % rowsMax;
  for (let k0 = 0; k0 < g.k; k0 += kBlock) {
    const kl = Math.min(kBlock, g.k - k0);
    const last = k0 + kl >= g.k;
    const base = { kl, accumulate: !!g.accumulate || k0 > 0, bias: last && g.bias !== undefined, relu: last && !!g.relu, ka, kb, pj, zj, cnt };
    const bAt = (j: number) => g.b + 4 * (k0 * g.ldb + j);
    const micro = (rows: number, cols: number, aStart: Expr, aRow: number, aCol: number, bStart: Expr, ldb: number) =>
      microKernel(f, g, { ...base, rows, nv: Math.ceil(cols / 4), lanesLast: cols - 4 * (Math.ceil(cols / 4) - 1), aStart, aRow, aCol, bStart, ldb });
    /** Repeats `body` (which advances its own pointers) `count` times: straight code when once. */
    const times = (counter: Local, count: number, body: Expr[]): Expr[] =>
      count === 1 ? body : [I.set(counter, I.i32(count)), I.doWhile([...body, I.set(counter, I.sub(I.get(counter), I.i32(1)))], I.get(counter))];
    const bump = (l: Local, by: number) => I.set(l, I.add(I.get(l), I.i32(by)));

    if (packB !== undefined) {
      // Column blocks outside: pack B's panel, then every row block.
      const column = (cols: number): Expr[] => {
        const panel = I.seq(
          I.set(pp, I.i32(packB)),
          I.set(kb, I.get(bj)),
          I.doWhile(
            [I.v128Store(I.get(pp), 0, I.v128Load(I.get(kb), 0)), I.v128Store(I.get(pp), 16, I.v128Load(I.get(kb), 16)), bump(pp, 32), bump(kb, 4 * g.ldb)],
            I.ne(I.get(pp), I.i32(packB + 32 * kl)),
          ),
        );
        const rowsLoop = (rows: number, count: number, first: number): Expr[] => [
          I.set(pa, at('a', g.a + 4 * (first * g.aRow + k0 * g.aCol))),
          I.set(pj, I.add(I.get(cj), I.i32(4 * first * g.ldc))),
          ...times(pc, count, [micro(rows, cols, I.get(pa), g.aRow, g.aCol, I.i32(packB), 8), bump(pa, 4 * rows * g.aRow), bump(pj, 4 * rows * g.ldc)]),
        ];
        return [
          panel,
          ...(fullRows > 0 ? rowsLoop(rowsMax, fullRows, 0) : []),
          ...(tailRows > 0 ? rowsLoop(tailRows, 1, fullRows * rowsMax) : []),
        ];
      };
      const zStart = g.bias ?? 0;
      if (fullCols > 0) {
        out.push(I.set(cj, at('c', g.c)), I.set(bj, at('b', bAt(0))), I.set(zj, I.i32(zStart)), ...times(jc, fullCols, [...column(8), bump(cj, 32), bump(bj, 32), bump(zj, 32)]));
      }
      if (tailCols > 0) out.push(I.set(cj, at('c', g.c + 32 * fullCols)), I.set(bj, at('b', bAt(8 * fullCols))), I.set(zj, I.i32(zStart + 32 * fullCols)), ...column(tailCols));
      continue;
    }

    // Row blocks outside (A's slice packed first with packA), column blocks inside.
    const rowBlock = (rows: number): Expr[] => {
      const aStart = packA !== undefined ? I.i32(packA) : I.get(pa);
      const aRow = packA !== undefined ? 1 : g.aRow;
      const aCol = packA !== undefined ? 4 : g.aCol;
      const out: Expr[] = [];
      if (packA !== undefined) {
        out.push(
          I.set(pp, I.i32(packA)),
          I.set(ka, I.get(pa)),
          I.doWhile([I.v128Store(I.get(pp), 0, I.v128Load(I.get(ka), 0)), bump(pp, 16), bump(ka, 4 * g.aCol)], I.ne(I.get(pp), I.i32(packA + 16 * kl))),
        );
      }
      const zStart = g.bias ?? 0;
      if (fullCols > 0) {
        out.push(I.set(pj, I.get(pc)), I.set(bj, at('b', bAt(0))), I.set(zj, I.i32(zStart)));
        out.push(...times(jc, fullCols, [micro(rows, 8, aStart, aRow, aCol, I.get(bj), g.ldb), bump(pj, 32), bump(bj, 32), bump(zj, 32)]));
      }
      if (tailCols > 0) {
        out.push(I.set(pj, I.add(I.get(pc), I.i32(32 * fullCols))), I.set(bj, at('b', bAt(8 * fullCols))), I.set(zj, I.i32(zStart + 32 * fullCols)));
        out.push(micro(rows, tailCols, aStart, aRow, aCol, I.get(bj), g.ldb));
      }
      return out;
    };
    const rowStart = (r: number) => [I.set(pa, at('a', g.a + 4 * (r * g.aRow + k0 * g.aCol))), I.set(pc, at('c', g.c + 4 * r * g.ldc))];
    if (fullRows > 0) {
      out.push(...rowStart(0), ...times(cj, fullRows, [...rowBlock(rowsMax), bump(pa, 4 * rowsMax * g.aRow), bump(pc, 4 * rowsMax * g.ldc)]));
    }
    if (tailRows > 0) out.push(...rowStart(fullRows * rowsMax), ...rowBlock(tailRows));
  }
  return out;
}

interface MicroArgs {
  rows: number;
  /** f32x4 accumulators per row (1 or 2) and the valid lanes of the last one (1..4) */
  nv: number;
  lanesLast: number;
  kl: number;
  accumulate: boolean;
  /** add the bias vector at zj (byte address of this block's first column) */
  bias: boolean;
  relu: boolean;
  ka: Local;
  kb: Local;
  /** C address of the block's first element */
  pj: Local;
  zj: Local;
  cnt: Local;
  /** A's address at (first row, k = 0 of the chunk) and its element strides */
  aStart: Expr;
  aRow: number;
  aCol: number;
  /** B's address at (k = 0 of the chunk, first column) and its row stride in elements */
  bStart: Expr;
  ldb: number;
}

/** One register block: rows x (4 * nv) outputs, reducing over kl steps of k. */
function microKernel(f: Fn, g: GemmArgs, m: MicroArgs): Expr {
  const { nv } = m;
  const pool = poolOf(f);
  const regs = pool.vec(m.rows * nv + nv + 2);
  const acc = (r: number, v: number) => regs[r * nv + v]!;
  const bv = (v: number) => regs[m.rows * nv + v]!;
  const as = regs[m.rows * nv + nv]!;
  const zero = regs[m.rows * nv + nv + 1]!;
  const code: Expr[] = [];
  const cOff = (r: number, v: number) => 4 * (r * g.ldc + 4 * v);
  for (let r = 0; r < m.rows; r++) {
    for (let v = 0; v < nv; v++) code.push(I.set(acc(r, v), m.accumulate ? I.v128Load(I.get(m.pj), cOff(r, v)) : I.v128Zero()));
  }
  // `unroll` steps of k per iteration (default 1), addressed by constant offsets from ka and kb.
  const step = (u: number) => {
    const s: Expr[] = [];
    for (let v = 0; v < nv; v++) s.push(I.set(bv(v), I.v128Load(I.get(m.kb), 4 * (u * m.ldb + 4 * v))));
    for (let r = 0; r < m.rows; r++) {
      s.push(I.set(as, I.splatLoad(I.get(m.ka), 4 * (r * m.aRow + u * m.aCol))));
      for (let v = 0; v < nv; v++) s.push(I.set(acc(r, v), I.f32x4Add(I.get(acc(r, v)), I.f32x4Mul(I.get(as), I.get(bv(v))))));
    }
    return s;
  };
  const unroll = Math.min(g.unroll ?? 1, m.kl);
  const iters = Math.floor(m.kl / unroll);
  const rem = m.kl - iters * unroll;
  code.push(I.set(m.ka, m.aStart), I.set(m.kb, m.bStart));
  const body: Expr[] = [];
  for (let u = 0; u < unroll; u++) body.push(...step(u));
  const advance = (n: number) => [I.set(m.ka, I.add(I.get(m.ka), I.i32(4 * n * m.aCol))), I.set(m.kb, I.add(I.get(m.kb), I.i32(4 * n * m.ldb)))];
  if (iters === 1) code.push(...body, ...(rem ? advance(unroll) : []));
  else if (iters > 1) {
    code.push(I.set(m.cnt, I.i32(iters)), I.doWhile([...body, ...advance(unroll), I.set(m.cnt, I.sub(I.get(m.cnt), I.i32(1)))], I.get(m.cnt)));
  }
  for (let u = 0; u < rem; u++) code.push(...step(u));
  // Epilogue: bias, ReLU, store (lane by lane for a partial last vector).
  if (m.relu) code.push(I.set(zero, I.v128Zero()));
  for (let r = 0; r < m.rows; r++) {
    for (let v = 0; v < nv; v++) {
      let val = I.get(acc(r, v));
      if (m.bias) val = I.f32x4Add(val, I.v128Load(I.get(m.zj), 16 * v));
      if (m.relu) val = I.f32x4Max(val, I.get(zero));
      const lanes = v === nv - 1 ? m.lanesLast : 4;
      if (lanes === 4) code.push(I.v128Store(I.get(m.pj), cOff(r, v), val));
      else {
        code.push(I.set(acc(r, v), val));
        for (let l = 0; l < lanes; l++) code.push(I.f32Store(I.get(m.pj), cOff(r, v) + 4 * l, I.extractLane(I.get(acc(r, v)), l)));
      }
    }
  }
  return I.seq(...code);
}
