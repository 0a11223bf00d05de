/**
 * Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016) for 3x3 stride-1 'same'
 * convolutions on even-sized NHWC images: each 2x2 output tile is
 *   Y = A^T [ (G g G^T) (.) (B^T d B) ] A
 * for the tile's 4x4 input patch d and the 3x3 kernel g, so the products become 16 GEMMs
 * ([tiles x in] by [in x out], one per position of the 4x4 transform) with 16 multiplies
 * per tile and channel pair instead of 36: 2.25 times fewer. The transforms are additions
 * (and halvings), vectorised over 4 channels. Exact in real arithmetic; in float32 it differs
 * from the direct convolution by rounding only (the coefficients are 0, +-1, +-1/2).
 *
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 *
 * The backward passes reuse the same algebra: the input gradient is the forward transform of
 * dY with the kernel's taps reversed and its channel axes swapped (a 'same' convolution), and
 * the kernel gradient, by the transpose of each linear map, is
 *   dg = G^T [ sum over tiles and channels of (A dY A^T) (.) (B^T d B) ] G
 * i.e. the 16 GEMMs V^T Z of the transformed input V and the transformed output gradient Z.
 *
 * Layouts (byte addresses, float32): the padded image [n, h + 2, w + 2, c] (zero border), the
 * transformed input V [16][tiles][c], the transformed kernel U [16][c][o], the products M and
 * Z [16][tiles][o]; tiles in (image, tile row, tile column) order.
 */
import { poolOf } from './gemm.js';
import { Fn, I, type Expr, type Local } from './wasm-asm.js';

export interface WinogradShape {
  n: number;
  /** even height and width of the input and of the output */
  h: number;
  w: number;
}

export const tilesOf = (s: WinogradShape) => (s.n * s.h * s.w) / 4;

const add = I.f32x4Add;
const sub = I.f32x4Sub;
const bump = (l: Local, by: number) => I.set(l, I.add(I.get(l), I.i32(by)));

/** counter-driven loop: body runs `count` (>= 1) times */
function times(counter: Local, count: number, body: Expr[]): Expr[] {
  if (count === 1) return body;
  return [I.set(counter, I.i32(count)), I.doWhile([...body, I.set(counter, I.sub(I.get(counter), I.i32(1)))], I.get(counter))];
}

/** The padded copy [n, h + 2, w + 2, c] of x [n, h, w, c], its one-pixel border written as zeros. */
export function emitPadImage(f: Fn, x: number, xp: number, s: WinogradShape, c: number): void {
  if (c % 4 !== 0) throw new RangeError(`winograd needs channels % 4 == 0, got ${c}`);
  const [src, dst, rows, k, e] = poolOf(f).int(5) as [Local, Local, Local, Local, Local];
  const rowBytes = 4 * (s.w + 2) * c;
  const zeros = (count: number): Expr[] => times(k, count, [I.v128Store(I.get(dst), 0, I.v128Zero()), bump(dst, 16)]);
  const copy = (count: number): Expr[] => times(k, count, [I.v128Store(I.get(dst), 0, I.v128Load(I.get(src), 0)), bump(src, 16), bump(dst, 16)]);
  const image: Expr[] = [
    ...zeros(rowBytes / 16),
    ...times(rows, s.h, [...zeros(c / 4), ...copy((s.w * c) / 4), ...zeros(c / 4)]),
    ...zeros(rowBytes / 16),
  ];
  f.emit(I.set(src, I.i32(x)), I.set(dst, I.i32(xp)), ...times(e, s.n, image));
}

/**
 * Runs `tile` for every tile and group of 4 channels: `p` points at the tile's first input
 * pixel in the padded image (row 2ty, column 2tx) plus the group's channel offset, `q` at the
 * tile's row of a [tiles][channels] plane plus the same offset. With `outputSide`, `p` walks the
 * unpadded [n, h, w, c] image at the tile's top-left output pixel instead.
 */
function forTiles(f: Fn, s: WinogradShape, image: number, planes: number, c: number, outputSide: boolean, tile: (p: Local, q: Local) => Expr[]): void {
  // The pool's first 7 i32 locals; callers needing more take theirs after them.
  const [p, q, rowP, e, ty, tx, g] = poolOf(f).int(7) as [Local, Local, Local, Local, Local, Local, Local];
  const wp = outputSide ? s.w : s.w + 2;
  const hp = outputSide ? s.h : s.h + 2;
  const pixel = 4 * c;
  const groups = c / 4;
  const inner = [...tile(p, q), bump(p, 16), bump(q, 16)];
  f.emit(
    I.set(q, I.i32(planes)),
    I.set(rowP, I.i32(image)),
    ...times(e, s.n, [
      ...times(ty, s.h / 2, [
        I.set(p, I.get(rowP)),
        ...times(tx, s.w / 2, [
          ...times(g, groups, inner),
          // p moved one pixel (the channel groups); on to the next tile, two pixels right.
          bump(p, pixel),
        ]),
        bump(rowP, 2 * wp * pixel),
      ]),
      // the padded image's two extra rows
      bump(rowP, (hp - s.h) * wp * pixel),
    ]),
  );
}

/**
 * V = B^T d B for every tile and channel, from the padded image. Row by row of B^T d (each row
 * two loads per column), so only a few vectors are live: a transform holding all 16 inputs
 * makes V8 spill, the way unrolled GEMM loops do.
 */
export function emitInputTransform(f: Fn, xp: number, v: number, s: WinogradShape, c: number): void {
  const plane = 4 * tilesOf(s) * c;
  const row = 4 * (s.w + 2) * c;
  const t = poolOf(f).vec(4);
  // B^T's rows as (first, sign, second): row0 = d0 - d2, row1 = d1 + d2, row2 = d2 - d1, row3 = d1 - d3
  const rows: [number, 1 | -1, number][] = [[0, -1, 2], [1, 1, 2], [2, -1, 1], [1, -1, 3]];
  forTiles(f, s, xp, v, c, false, (p, q) => {
    const code: Expr[] = [];
    const d = (i: number, j: number) => I.v128Load(I.get(p), i * row + j * 4 * c);
    rows.forEach(([a, sign, b], i) => {
      for (let j = 0; j < 4; j++) code.push(I.set(t[j]!, sign > 0 ? add(d(a, j), d(b, j)) : sub(d(a, j), d(b, j))));
      const x = (j: number) => I.get(t[j]!);
      code.push(I.v128Store(I.get(q), (4 * i + 0) * plane, sub(x(0), x(2))));
      code.push(I.v128Store(I.get(q), (4 * i + 1) * plane, add(x(1), x(2))));
      code.push(I.v128Store(I.get(q), (4 * i + 2) * plane, sub(x(2), x(1))));
      code.push(I.v128Store(I.get(q), (4 * i + 3) * plane, sub(x(1), x(3))));
    });
    return code;
  });
}

/**
 * Y = A^T M A per tile (then bias, ReLU, or added to Y's contents), from the 16 planes M
 * [16][tiles][o] into the NHWC output [n, h, w, o].
 */
export function emitOutputTransform(f: Fn, m: number, y: number, s: WinogradShape, o: number, opts: { bias?: number; relu?: boolean; accumulate?: boolean }): void {
  const plane = 4 * tilesOf(s) * o;
  const row = 4 * s.w * o;
  const vecs = poolOf(f).vec(6);
  const t = vecs.slice(0, 4);
  const zero = vecs[4]!;
  const b = vecs[5]!;
  const pb = poolOf(f).int(8)[7]!;
  if (opts.bias !== undefined) f.emit(I.set(pb, I.i32(opts.bias)));
  f.emit(I.set(zero, I.v128Zero()));
  // y's pointer walks the output; the bias pointer cycles over the channel groups.
  forTiles(f, s, y, m, o, true, (p, q) => {
    const code: Expr[] = [];
    const mm = (i: number, j: number) => I.v128Load(I.get(q), (4 * i + j) * plane);
    if (opts.bias !== undefined) code.push(I.set(b, I.v128Load(I.get(pb), 0)));
    // A^T M row by row: row 0 = m0 + m1 + m2, row 1 = m1 - m2 - m3 (per column j), then times A
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 4; j++) code.push(I.set(t[j]!, i === 0 ? add(add(mm(0, j), mm(1, j)), mm(2, j)) : sub(sub(mm(1, j), mm(2, j)), mm(3, j))));
      const x = (j: number) => I.get(t[j]!);
      const outs = [add(add(x(0), x(1)), x(2)), sub(sub(x(1), x(2)), x(3))];
      outs.forEach((val, j) => {
        let v = val;
        if (opts.bias !== undefined) v = add(v, I.get(b));
        if (opts.relu) v = I.f32x4Max(v, I.get(zero));
        if (opts.accumulate) v = add(v, I.v128Load(I.get(p), i * row + j * 4 * o));
        code.push(I.v128Store(I.get(p), i * row + j * 4 * o, v));
      });
    }
    if (opts.bias !== undefined) {
      // next channel group, wrapping at o
      code.push(bump(pb, 16), I.when(I.eq(I.get(pb), I.i32(opts.bias + 4 * o)), [I.set(pb, I.i32(opts.bias))]));
    }
    return code;
  });
}

/** Z = A dY A^T per tile: the output gradient's transform, for the kernel gradient. */
export function emitOutputGradTransform(f: Fn, dy: number, z: number, s: WinogradShape, o: number): void {
  const plane = 4 * tilesOf(s) * o;
  const row = 4 * s.w * o;
  const t = poolOf(f).vec(2);
  forTiles(f, s, dy, z, o, true, (p, q) => {
    const code: Expr[] = [];
    const d = (i: number, j: number) => I.v128Load(I.get(p), i * row + j * 4 * o);
    // A dy row by row: e0 = d0, e1 = d0 + d1, e2 = d0 - d1, e3 = -d1 (two columns), then
    // each row (x0, x1) times A^T -> (x0, x0 + x1, x0 - x1, -x1)
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 2; j++) {
        const val = i === 0 ? d(0, j) : i === 1 ? add(d(0, j), d(1, j)) : i === 2 ? sub(d(0, j), d(1, j)) : sub(I.v128Zero(), d(1, j));
        code.push(I.set(t[j]!, val));
      }
      const x0 = I.get(t[0]!);
      const x1 = I.get(t[1]!);
      code.push(I.v128Store(I.get(q), (4 * i + 0) * plane, x0));
      code.push(I.v128Store(I.get(q), (4 * i + 1) * plane, add(x0, x1)));
      code.push(I.v128Store(I.get(q), (4 * i + 2) * plane, sub(x0, x1)));
      code.push(I.v128Store(I.get(q), (4 * i + 3) * plane, sub(I.v128Zero(), x1)));
    }
    return code;
  });
}

/** Runs `body` over the c * o / 4 vectors of a [c][o] plane, `p` walking the 3x3 (or 4x4) planes' first one. */
function forKernelVectors(f: Fn, vectors: number, src: number, dst: number, body: (p: Local, q: Local) => Expr[]): void {
  const [p, q, k] = poolOf(f).int(3) as [Local, Local, Local];
  f.emit(I.set(p, I.i32(src)), I.set(q, I.i32(dst)), ...times(k, vectors, [...body(p, q), bump(p, 16), bump(q, 16)]));
}

/** The kernel transforms' shared set-up: the plane stride, 12 vector registers and x -> x / 2. */
function kernelTransformRegisters(f: Fn, c: number, o: number): { plane: number; r: Local[]; h: (x: Expr) => Expr } {
  const vecs = poolOf(f).vec(13);
  const half = vecs[12]!;
  f.emit(I.set(half, I.f32x4Splat(I.f32(0.5))));
  return { plane: 4 * c * o, r: vecs.slice(0, 12), h: (x: Expr) => I.f32x4Mul(x, I.get(half)) };
}

/** U = G g G^T for a [3, 3, c, o] kernel: 16 planes [c][o]. */
export function emitKernelTransform(f: Fn, g: number, u: number, c: number, o: number): void {
  const { plane, r, h } = kernelTransformRegisters(f, c, o);
  forKernelVectors(f, (c * o) / 4, g, u, (p, q) => {
    const code: Expr[] = [];
    const gg = (i: number, j: number) => I.v128Load(I.get(p), (3 * i + j) * plane);
    // G g: rows q0 = g0, q1 = (g0 + g1 + g2) / 2, q2 = (g0 - g1 + g2) / 2, q3 = g2; per column j
    for (let j = 0; j < 3; j++) {
      code.push(I.set(r[j]!, gg(0, j)));
      code.push(I.set(r[3 + j]!, h(add(add(gg(0, j), gg(1, j)), gg(2, j)))));
      code.push(I.set(r[6 + j]!, h(add(sub(gg(0, j), gg(1, j)), gg(2, j)))));
      code.push(I.set(r[9 + j]!, gg(2, j)));
    }
    // (G g) G^T: each row (x0, x1, x2) -> (x0, (x0 + x1 + x2) / 2, (x0 - x1 + x2) / 2, x2)
    for (let i = 0; i < 4; i++) {
      const x = (j: number) => I.get(r[3 * i + j]!);
      code.push(I.v128Store(I.get(q), (4 * i + 0) * plane, x(0)));
      code.push(I.v128Store(I.get(q), (4 * i + 1) * plane, h(add(add(x(0), x(1)), x(2)))));
      code.push(I.v128Store(I.get(q), (4 * i + 2) * plane, h(add(sub(x(0), x(1)), x(2)))));
      code.push(I.v128Store(I.get(q), (4 * i + 3) * plane, x(2)));
    }
    return code;
  });
}

/** dg = G^T dU G: the kernel gradient [3, 3, c, o] from the 16 planes dU [c][o]. */
export function emitKernelGradTransform(f: Fn, du: number, dg: number, c: number, o: number): void {
  const { plane, r, h } = kernelTransformRegisters(f, c, o);
  forKernelVectors(f, (c * o) / 4, du, dg, (p, q) => {
    const code: Expr[] = [];
    const u = (i: number, j: number) => I.v128Load(I.get(p), (4 * i + j) * plane);
    // G^T dU: rows h0 = u0 + (u1 + u2) / 2, h1 = (u1 - u2) / 2, h2 = (u1 + u2) / 2 + u3; per column j
    for (let j = 0; j < 4; j++) {
      code.push(I.set(r[j]!, add(u(0, j), h(add(u(1, j), u(2, j))))));
      code.push(I.set(r[4 + j]!, h(sub(u(1, j), u(2, j)))));
      code.push(I.set(r[8 + j]!, add(h(add(u(1, j), u(2, j))), u(3, j))));
    }
    // (G^T dU) G: each row (x0, x1, x2, x3) -> (x0 + (x1 + x2) / 2, (x1 - x2) / 2, (x1 + x2) / 2 + x3)
    for (let i = 0; i < 3; i++) {
      const x = (j: number) => I.get(r[4 * i + j]!);
      code.push(I.v128Store(I.get(q), (3 * i + 0) * plane, add(x(0), h(add(x(1), x(2))))));
      code.push(I.v128Store(I.get(q), (3 * i + 1) * plane, h(sub(x(1), x(2)))));
      code.push(I.v128Store(I.get(q), (3 * i + 2) * plane, add(h(add(x(1), x(2))), x(3))));
    }
    return code;
  });
}
