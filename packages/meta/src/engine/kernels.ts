/**
 * The non-GEMM kernels of the training engine, generated for one call site like the GEMMs
 * (addresses and sizes are constants of the code): im2col / col2im for KxK convolutions with
 * TensorFlow's 'same' or 'valid' padding, ReLU's backward mask, bias gradients (column sums),
 * residual adds, per-channel sums (average pooling, group norm statistics), per-channel
 * affine maps (group norm), a transpose, and fills. Addresses are byte offsets into the
 * engine's memory; element counts are float32s. Every buffer the engine allocates is a
 * multiple of four floats followed by slack, so vector loops may round counts up to a
 * multiple of four.
 */
import { Fn, I, type Expr, type Local } from './wasm-asm.js';
import { poolOf } from './gemm.js';

const up4 = (n: number) => Math.ceil(n / 4) * 4;

/** for (counter = count; counter > 0; counter--) body; count >= 1 is a constant. */
function countDown(counter: Local, count: number, body: Expr[]): Expr {
  if (count < 1) return I.seq();
  return I.seq(I.set(counter, I.i32(count)), I.doWhile([...body, I.set(counter, I.sub(I.get(counter), I.i32(1)))], I.get(counter)));
}

/** p = start; do { body; p += step } while (p != start + count * step): a pointer loop with constant bounds. */
function ptrLoop(p: Local, start: number, count: number, step: number, body: Expr[]): Expr {
  if (count < 1) return I.seq();
  return I.seq(I.set(p, I.i32(start)), I.doWhile([...body, I.set(p, I.add(I.get(p), I.i32(step)))], I.ne(I.get(p), I.i32(start + count * step))));
}

/** Several pointers advanced together, `count` times; the first one ends the loop. */
function ptrsLoop(ptrs: { p: Local; start: number; step: number }[], count: number, body: Expr[]): Expr {
  if (count < 1) return I.seq();
  const [first] = ptrs as [{ p: Local; start: number; step: number }];
  return I.seq(
    ...ptrs.map((q) => I.set(q.p, I.i32(q.start))),
    I.doWhile([...body, ...ptrs.map((q) => I.set(q.p, I.add(I.get(q.p), I.i32(q.step))))], I.ne(I.get(first.p), I.i32(first.start + count * first.step))),
  );
}

/** dst[0 .. floats) = value (rounded up to whole vectors). */
export function emitFill(f: Fn, dst: number, floats: number, value = 0): void {
  const [p] = poolOf(f).int(1) as [Local];
  const [v] = poolOf(f).vec(1) as [Local];
  const n = up4(floats) / 4;
  const unroll = n % 4 === 0 ? 4 : 1;
  const body: Expr[] = [];
  for (let u = 0; u < unroll; u++) body.push(I.v128Store(I.get(p), 16 * u, I.get(v)));
  f.emit(I.set(v, I.f32x4Splat(I.f32(value))), ptrLoop(p, dst, n / unroll, 16 * unroll, body));
}

/** dst = src (floats rounded up to whole vectors). */
export function emitCopy(f: Fn, dst: number, src: number, floats: number): void {
  const [p] = poolOf(f).int(1) as [Local];
  const n = up4(floats) / 4;
  f.emit(ptrLoop(p, 0, n, 16, [I.v128Store(I.get(p), dst, I.v128Load(I.get(p), src))]));
}

/** ReLU backward in place: dy = y > 0 ? dy : 0 (y is the ReLU's output). */
export function emitReluMask(f: Fn, dy: number, y: number, floats: number): void {
  const [p] = poolOf(f).int(1) as [Local];
  const [zero] = poolOf(f).vec(1) as [Local];
  f.emit(
    I.set(zero, I.v128Zero()),
    ptrLoop(p, 0, up4(floats) / 4, 16, [I.v128Store(I.get(p), dy, I.v128And(I.v128Load(I.get(p), dy), I.f32x4Gt(I.v128Load(I.get(p), y), I.get(zero))))]),
  );
}

/** out = a + b, then ReLU if asked; out may alias a or b. */
export function emitAdd(f: Fn, out: number, a: number, b: number, floats: number, relu: boolean): void {
  const [p] = poolOf(f).int(1) as [Local];
  const [zero] = poolOf(f).vec(1) as [Local];
  let v: Expr = I.f32x4Add(I.v128Load(I.get(p), a), I.v128Load(I.get(p), b));
  if (relu) v = I.f32x4Max(v, I.get(zero));
  f.emit(I.set(zero, I.v128Zero()), ptrLoop(p, 0, up4(floats) / 4, 16, [I.v128Store(I.get(p), out, v)]));
}

/**
 * Column sums of a row-major [rows x cols] matrix (leading dimension ld), times `scale`:
 * out[j] (+)= scale * sum_i src[i, j]. Bias gradients (scale 1) and average pooling.
 */
export function emitColSum(f: Fn, out: number, src: number, rows: number, cols: number, ld: number, accumulate: boolean, scale = 1): void {
  const pool = poolOf(f);
  const [p] = pool.int(1) as [Local];
  for (let j0 = 0; j0 < cols; j0 += 16) {
    const nv = Math.min(4, Math.ceil((cols - j0) / 4));
    const acc = pool.vec(nv + 1);
    const code: Expr[] = [];
    for (let v = 0; v < nv; v++) code.push(I.set(acc[v]!, I.v128Zero()));
    code.push(ptrLoop(p, src + 4 * j0, rows, 4 * ld, Array.from({ length: nv }, (_, v) => I.set(acc[v]!, I.f32x4Add(I.get(acc[v]!), I.v128Load(I.get(p), 16 * v))))));
    const sc = acc[nv]!;
    code.push(I.set(sc, I.f32x4Splat(I.f32(scale))));
    for (let v = 0; v < nv; v++) {
      let val: Expr = scale === 1 ? I.get(acc[v]!) : I.f32x4Mul(I.get(acc[v]!), I.get(sc));
      const at = out + 4 * (j0 + 4 * v);
      if (accumulate) val = I.f32x4Add(val, I.v128Load(I.i32(at), 0));
      const lanes = Math.min(4, cols - j0 - 4 * v);
      if (lanes === 4) code.push(I.v128Store(I.i32(at), 0, val));
      else {
        code.push(I.set(acc[v]!, val));
        for (let l = 0; l < lanes; l++) code.push(I.f32Store(I.i32(at), 4 * l, I.extractLane(I.get(acc[v]!), l)));
      }
    }
    f.emit(...code);
  }
}

/**
 * dst [cols x rows] = transpose of src [rows x cols], by 4x4 tiles of vector shuffles and
 * scalar edges. With `blocks` > 1, src is `blocks` such matrices one after another and block
 * b is written to dst block (reverse ? blocks - 1 - b : b): a conv kernel [kh * kw, c, o]
 * becomes the [kh * kw, o, c] kernel of the transposed convolution (taps reversed).
 */
export function emitTranspose(f: Fn, dst: number, src: number, rows: number, cols: number, blocks = 1, reverse = false): void {
  const pool = poolOf(f);
  const [i, j, ps, pd] = pool.int(4) as [Local, Local, Local, Local];
  const r = pool.vec(8);
  const size = 4 * rows * cols;
  const rows4 = rows - (rows % 4);
  const cols4 = cols - (cols % 4);
  for (let blk = 0; blk < blocks; blk++) {
    const s0 = src + blk * size;
    const d0 = dst + (reverse ? blocks - 1 - blk : blk) * size;
    // Tiles: i over row groups of 4 (byte offset of the row group in src), j over column groups.
    if (rows4 > 0 && cols4 > 0) {
      const tile: Expr[] = [];
      // ps = s0 + i * cols + j (bytes: i counts rows * 4 bytes... kept as element indices times 4)
      tile.push(I.set(ps, I.add(I.i32(s0), I.add(I.mul(I.get(i), I.i32(cols)), I.get(j)))));
      tile.push(I.set(pd, I.add(I.i32(d0), I.add(I.mul(I.get(j), I.i32(rows)), I.get(i)))));
      for (let k = 0; k < 4; k++) tile.push(I.set(r[k]!, I.v128Load(I.get(ps), 4 * k * cols)));
      tile.push(I.set(r[4]!, I.shuffle32(I.get(r[0]!), I.get(r[1]!), [0, 4, 1, 5])));
      tile.push(I.set(r[5]!, I.shuffle32(I.get(r[0]!), I.get(r[1]!), [2, 6, 3, 7])));
      tile.push(I.set(r[6]!, I.shuffle32(I.get(r[2]!), I.get(r[3]!), [0, 4, 1, 5])));
      tile.push(I.set(r[7]!, I.shuffle32(I.get(r[2]!), I.get(r[3]!), [2, 6, 3, 7])));
      tile.push(I.v128Store(I.get(pd), 0, I.shuffle32(I.get(r[4]!), I.get(r[6]!), [0, 1, 4, 5])));
      tile.push(I.v128Store(I.get(pd), 4 * rows, I.shuffle32(I.get(r[4]!), I.get(r[6]!), [2, 3, 6, 7])));
      tile.push(I.v128Store(I.get(pd), 8 * rows, I.shuffle32(I.get(r[5]!), I.get(r[7]!), [0, 1, 4, 5])));
      tile.push(I.v128Store(I.get(pd), 12 * rows, I.shuffle32(I.get(r[5]!), I.get(r[7]!), [2, 3, 6, 7])));
      // i and j hold element offsets times 4 (bytes) of the tile's first row / column.
      // Column groups outside: dst is then written row after row.
      f.emit(ptrLoop(j, 0, cols4 / 4, 16, [ptrLoop(i, 0, rows4 / 4, 16, tile)]));
    }
    // Edges: the last rows % 4 rows (all columns) and the last cols % 4 columns (tile rows).
    const scalar = (r0: number, r1: number, c0: number, c1: number) => {
      for (let a = r0; a < r1; a++) {
        if (c1 - c0 <= 0) continue;
        f.emit(ptrLoop(j, 4 * c0, c1 - c0, 4, [I.f32Store(I.mul(I.get(j), I.i32(rows)), d0 + 4 * a, I.f32Load(I.get(j), s0 + 4 * a * cols))]));
      }
    };
    scalar(rows4, rows, 0, cols);
    if (cols4 < cols) {
      if (rows4 > 0) {
        f.emit(ptrLoop(i, 0, rows4, 4, Array.from({ length: cols - cols4 }, (_, k) => I.f32Store(I.get(i), d0 + 4 * (cols4 + k) * rows, I.f32Load(I.mul(I.get(i), I.i32(cols)), s0 + 4 * (cols4 + k))))));
      }
    }
  }
}

export interface ConvGeometry {
  n: number;
  h: number;
  w: number;
  c: number;
  kh: number;
  kw: number;
  stride: number;
  outH: number;
  outW: number;
  padTop: number;
  padLeft: number;
}

/**
 * Copies (or zero-fills, when add is false and the tap falls in the padding) `c` floats per
 * tap between an image and its column matrix. `copy(src, dst)` handles one tap's channels.
 */
function perTap(
  f: Fn,
  g: ConvGeometry,
  image: number,
  cols: number,
  tap: (imageAddr: Expr, colAddr: Expr, colOffset: number) => Expr[],
  padding: (colAddr: Expr, colOffset: number) => Expr[],
): void {
  const pool = poolOf(f);
  const [nn, oy, ox, row, pc, px, iy, ix] = pool.int(8) as [Local, Local, Local, Local, Local, Local, Local, Local];
  const c4 = 4 * g.c;
  const kcols = g.kh * g.kw * g.c;
  // row = address of image row (n, oy * stride - padTop), column 0: may point outside the
  // image when that row is padding; it is only dereferenced for valid taps.
  const taps: Expr[] = [];
  for (let ki = 0; ki < g.kh; ki++) {
    const inner: Expr[] = [];
    for (let kj = 0; kj < g.kw; kj++) {
      const colOffset = 4 * (ki * g.kw + kj) * g.c;
      // x index of the tap: ox * stride + kj - padLeft, unsigned-compared against w.
      const validX = I.ltU(I.add(I.get(ix), I.i32(kj)), I.i32(g.w));
      const src = I.add(I.get(px), I.i32((ki * g.w + kj) * c4));
      if (g.padLeft === 0 && (g.outW - 1) * g.stride + g.kw - 1 < g.w) inner.push(...tap(src, I.get(pc), colOffset));
      else inner.push(I.ifElse(validX, tap(src, I.get(pc), colOffset), padding(I.get(pc), colOffset)));
    }
    const validY = I.ltU(I.add(I.get(iy), I.i32(ki)), I.i32(g.h));
    if (g.padTop === 0 && (g.outH - 1) * g.stride + g.kh - 1 < g.h) taps.push(...inner);
    else {
      const pads: Expr[] = [];
      for (let kj = 0; kj < g.kw; kj++) pads.push(...padding(I.get(pc), 4 * (ki * g.kw + kj) * g.c));
      taps.push(I.ifElse(validY, inner, pads));
    }
  }
  f.emit(
    I.set(pc, I.i32(cols)),
    countDown(nn, g.n, [
      I.set(iy, I.i32(-g.padTop)),
      // row = image + ((n_index * h + iy) * w) * c * 4, with n_index = n - nn.
      I.set(row, I.add(I.i32(image - 4 * g.padTop * g.w * g.c), I.mul(I.sub(I.i32(g.n), I.get(nn)), I.i32(4 * g.h * g.w * g.c)))),
      countDown(oy, g.outH, [
        I.set(ix, I.i32(-g.padLeft)),
        I.set(px, I.sub(I.get(row), I.i32(4 * g.padLeft * g.c))),
        countDown(ox, g.outW, [
          ...taps,
          I.set(pc, I.add(I.get(pc), I.i32(4 * kcols))),
          I.set(ix, I.add(I.get(ix), I.i32(g.stride))),
          I.set(px, I.add(I.get(px), I.i32(g.stride * c4))),
        ]),
        I.set(iy, I.add(I.get(iy), I.i32(g.stride))),
        I.set(row, I.add(I.get(row), I.i32(g.stride * g.w * c4))),
      ]),
    ]),
  );
}

/** Copies c floats: whole vectors when c is a multiple of 4, else scalars. */
function moveChannels(c: number, srcAddr: Expr, srcOff: number, dstAddr: Expr, dstOff: number, add: boolean): Expr[] {
  const out: Expr[] = [];
  if (c % 4 === 0) {
    for (let k = 0; k < c; k += 4) {
      let v: Expr = I.v128Load(srcAddr, srcOff + 4 * k);
      if (add) v = I.f32x4Add(v, I.v128Load(dstAddr, dstOff + 4 * k));
      out.push(I.v128Store(dstAddr, dstOff + 4 * k, v));
    }
  } else {
    for (let k = 0; k < c; k++) {
      let v: Expr = I.f32Load(srcAddr, srcOff + 4 * k);
      if (add) v = I.f32Add(v, I.f32Load(dstAddr, dstOff + 4 * k));
      out.push(I.f32Store(dstAddr, dstOff + 4 * k, v));
    }
  }
  return out;
}

function zeroChannels(c: number, dstAddr: Expr, dstOff: number): Expr[] {
  const out: Expr[] = [];
  if (c % 4 === 0) for (let k = 0; k < c; k += 4) out.push(I.v128Store(dstAddr, dstOff + 4 * k, I.v128Zero()));
  else for (let k = 0; k < c; k++) out.push(I.f32Store(dstAddr, dstOff + 4 * k, I.f32(0)));
  return out;
}

/**
 * cols [n * outH * outW, kh * kw * c] from the NHWC image x: row (n, oy, ox), column
 * (ki, kj, ch) = x[n, oy * stride + ki - padTop, ox * stride + kj - padLeft, ch] or 0.
 * The column order matches a [kh, kw, c, out] kernel read as a [kh * kw * c, out] matrix.
 */
export function emitIm2col(f: Fn, g: ConvGeometry, x: number, cols: number): void {
  perTap(
    f,
    g,
    x,
    cols,
    (src, dst, off) => moveChannels(g.c, src, 0, dst, off, false),
    (dst, off) => zeroChannels(g.c, dst, off),
  );
}

/** The adjoint of im2col: dx[n, iy, ix, ch] += every column entry that copied it. dx must be initialised. */
export function emitCol2im(f: Fn, g: ConvGeometry, dcols: number, dx: number): void {
  perTap(
    f,
    g,
    dx,
    dcols,
    (image, col, off) => moveChannels(g.c, col, off, image, 0, true),
    () => [],
  );
}

/**
 * Runs `block(bases)` once per example, each base pointer starting at `start` and advancing by
 * its `step` bytes per example: a run-time loop, so the code does not grow with the batch.
 */
function perExample(f: Fn, n: number, bases: { start: number; step: number }[], block: (bases: Local[]) => Expr[]): void {
  const pool = poolOf(f);
  // i32 locals 2.. of the pool: 0 and 1 are the pixel pointers of the blocks inside.
  const locals = pool.int(3 + bases.length).slice(2) as Local[];
  const [e, ...ptrs] = locals as [Local, ...Local[]];
  const body = [...block(ptrs), ...ptrs.map((p, i) => I.set(p, I.add(I.get(p), I.i32(bases[i]!.step))))];
  f.emit(
    ...ptrs.map((p, i) => I.set(p, I.i32(bases[i]!.start))),
    ...(n === 1 ? body : [I.set(e, I.i32(n)), I.doWhile([...body, I.set(e, I.sub(I.get(e), I.i32(1)))], I.get(e))]),
  );
}

/** Pointers advanced together `count` times from run-time starts; `counter` ends the loop. */
function ptrsFrom(counter: Local, ptrs: { p: Local; start: Expr; step: number }[], count: number, body: Expr[]): Expr {
  if (count < 1) return I.seq();
  return I.seq(
    ...ptrs.map((q) => I.set(q.p, q.start)),
    I.set(counter, I.i32(count)),
    I.doWhile([...body, ...ptrs.map((q) => I.set(q.p, I.add(I.get(q.p), I.i32(q.step)))), I.set(counter, I.sub(I.get(counter), I.i32(1)))], I.get(counter)),
  );
}

/**
 * Per-(example, channel) sums over the pixels of an NHWC tensor [n, p, c]:
 *   kind 'sum':    out[n, c] = scale * sum_p x
 *   kind 'sqdev':  out[n, c] = sum_p (x - mu[n, c])^2   (mu at `other`)
 *   kind 'dot':    out[n, c] = sum_p x * y              (y, another [n, p, c] tensor, at `other`)
 */
export function emitChannelReduce(
  f: Fn,
  kind: 'sum' | 'sqdev' | 'dot',
  x: number,
  n: number,
  pixels: number,
  c: number,
  out: number,
  other = 0,
  scale = 1,
): void {
  if (c % 4 !== 0) throw new RangeError(`channel reduction needs channels % 4 == 0, got ${c}`);
  const pool = poolOf(f);
  const [p, q] = pool.int(2) as [Local, Local];
  const counter = pool.int(8)[7]!;
  const image = 4 * pixels * c;
  const bases = [{ start: x, step: image }, { start: out, step: 4 * c }];
  if (kind === 'sqdev') bases.push({ start: other, step: 4 * c });
  if (kind === 'dot') bases.push({ start: other, step: image });
  perExample(f, n, bases, ([bx, bo, bm]) => {
    const code: Expr[] = [];
    for (let c0 = 0; c0 < c; c0 += 16) {
      const nv = Math.min(4, (c - c0) / 4);
      const regs = pool.vec(2 * nv + 1);
      const acc = (v: number) => regs[v]!;
      const mu = (v: number) => regs[nv + v]!;
      const t = regs[2 * nv]!;
      for (let v = 0; v < nv; v++) {
        code.push(I.set(acc(v), I.v128Zero()));
        if (kind === 'sqdev') code.push(I.set(mu(v), I.v128Load(I.get(bm!), 4 * c0 + 16 * v)));
      }
      const body: Expr[] = [];
      for (let v = 0; v < nv; v++) {
        const xv = I.v128Load(I.get(p), 16 * v);
        if (kind === 'sum') body.push(I.set(acc(v), I.f32x4Add(I.get(acc(v)), xv)));
        else if (kind === 'sqdev') body.push(I.set(t, I.f32x4Sub(xv, I.get(mu(v)))), I.set(acc(v), I.f32x4Add(I.get(acc(v)), I.f32x4Mul(I.get(t), I.get(t)))));
        else body.push(I.set(acc(v), I.f32x4Add(I.get(acc(v)), I.f32x4Mul(xv, I.v128Load(I.get(q), 16 * v)))));
      }
      const ptrs = [{ p, start: I.add(I.get(bx!), I.i32(4 * c0)), step: 4 * c }];
      if (kind === 'dot') ptrs.push({ p: q, start: I.add(I.get(bm!), I.i32(4 * c0)), step: 4 * c });
      code.push(ptrsFrom(counter, ptrs, pixels, body));
      code.push(I.set(t, I.f32x4Splat(I.f32(scale))));
      for (let v = 0; v < nv; v++) code.push(I.v128Store(I.get(bo!), 4 * c0 + 16 * v, scale === 1 ? I.get(acc(v)) : I.f32x4Mul(I.get(acc(v)), I.get(t))));
    }
    return code;
  });
}

/**
 * Per-(example, channel) affine maps over the pixels of [n, p, c] tensors:
 *   y (+)= a[n, c] * x + b[n, c]                 (then ReLU if asked; not with accumulate)
 *   y (+)= a[n, c] * x + b[n, c] * z + d[n, c]   (three-term form, group norm's input gradient)
 * `coef` holds the coefficient arrays a, b(, d) one after another, each [n, c].
 */
export function emitChannelAffine(
  f: Fn,
  y: number,
  x: number,
  n: number,
  pixels: number,
  c: number,
  coef: number,
  opts: { relu?: boolean; z?: number; accumulate?: boolean } = {},
): void {
  if (c % 4 !== 0) throw new RangeError(`channel affine needs channels % 4 == 0, got ${c}`);
  const pool = poolOf(f);
  const [px, py] = pool.int(2) as [Local, Local];
  const pz = pool.int(9)[8]!;
  const counter = pool.int(8)[7]!;
  const three = opts.z !== undefined;
  const plane = 4 * n * c;
  const image = 4 * pixels * c;
  const bases = [{ start: x, step: image }, { start: y, step: image }, { start: coef, step: 4 * c }];
  if (three) bases.push({ start: opts.z!, step: image });
  perExample(f, n, bases, ([bx, by, bc, bz]) => {
    const code: Expr[] = [];
    for (let c0 = 0; c0 < c; c0 += 8) {
      const nv = Math.min(2, (c - c0) / 4);
      const regs = pool.vec(3 * nv + 1);
      for (let v = 0; v < nv; v++) {
        code.push(I.set(regs[v]!, I.v128Load(I.get(bc!), 4 * c0 + 16 * v)));
        code.push(I.set(regs[nv + v]!, I.v128Load(I.get(bc!), plane + 4 * c0 + 16 * v)));
        if (three) code.push(I.set(regs[2 * nv + v]!, I.v128Load(I.get(bc!), 2 * plane + 4 * c0 + 16 * v)));
      }
      const zero = regs[3 * nv]!;
      code.push(I.set(zero, I.v128Zero()));
      const body: Expr[] = [];
      for (let v = 0; v < nv; v++) {
        let val: Expr = I.f32x4Mul(I.get(regs[v]!), I.v128Load(I.get(px), 16 * v));
        if (three) val = I.f32x4Add(I.f32x4Add(val, I.f32x4Mul(I.get(regs[nv + v]!), I.v128Load(I.get(pz), 16 * v))), I.get(regs[2 * nv + v]!));
        else val = I.f32x4Add(val, I.get(regs[nv + v]!));
        if (opts.relu) val = I.f32x4Max(val, I.get(zero));
        if (opts.accumulate) val = I.f32x4Add(val, I.v128Load(I.get(py), 16 * v));
        body.push(I.v128Store(I.get(py), 16 * v, val));
      }
      const ptrs = [
        { p: px, start: I.add(I.get(bx!), I.i32(4 * c0)), step: 4 * c },
        { p: py, start: I.add(I.get(by!), I.i32(4 * c0)), step: 4 * c },
      ];
      if (three) ptrs.push({ p: pz, start: I.add(I.get(bz!), I.i32(4 * c0)), step: 4 * c });
      code.push(ptrsFrom(counter, ptrs, pixels, body));
    }
    return code;
  });
}

/** dx[n, p, c] (+)= scale * dy[n, c] for every pixel p: average pooling's backward. */
export function emitBroadcastPixels(f: Fn, dx: number, dy: number, n: number, pixels: number, c: number, scale: number, accumulate: boolean): void {
  if (c % 4 !== 0) throw new RangeError(`broadcast needs channels % 4 == 0, got ${c}`);
  const pool = poolOf(f);
  const [p] = pool.int(1) as [Local];
  const counter = pool.int(8)[7]!;
  perExample(f, n, [{ start: dx, step: 4 * pixels * c }, { start: dy, step: 4 * c }], ([bx, by]) => {
    const code: Expr[] = [];
    for (let c0 = 0; c0 < c; c0 += 16) {
      const nv = Math.min(4, (c - c0) / 4);
      const regs = pool.vec(nv + 1);
      code.push(I.set(regs[nv]!, I.f32x4Splat(I.f32(scale))));
      for (let v = 0; v < nv; v++) code.push(I.set(regs[v]!, I.f32x4Mul(I.v128Load(I.get(by!), 4 * c0 + 16 * v), I.get(regs[nv]!))));
      const body: Expr[] = [];
      for (let v = 0; v < nv; v++) {
        const val = accumulate ? I.f32x4Add(I.get(regs[v]!), I.v128Load(I.get(p), 16 * v)) : I.get(regs[v]!);
        body.push(I.v128Store(I.get(p), 16 * v, val));
      }
      code.push(ptrsFrom(counter, [{ p, start: I.add(I.get(bx!), I.i32(4 * c0)), step: 4 * c }], pixels, body));
    }
    return code;
  });
}

/** Run-time vector ops on the engine's memory (byte addresses, float counts): SGD and the MAML family's arithmetic. */
export function vectorOps(): Fn[] {
  // axpy(y, x, a, n): y += a * x
  const axpy = new Fn('axpy', ['i32', 'i32', 'f32', 'i32']);
  {
    const [y, x, a, n] = axpy.paramLocals as [Local, Local, Local, Local];
    const av = axpy.local('v128');
    const end = axpy.local('i32');
    axpy.emit(
      I.set(av, I.f32x4Splat(I.get(a))),
      I.set(end, I.add(I.get(y), I.mul(I.get(n), I.i32(4)))),
      I.when(I.ltU(I.get(y), I.get(end)), [
        I.doWhile(
          [
            I.v128Store(I.get(y), 0, I.f32x4Add(I.v128Load(I.get(y), 0), I.f32x4Mul(I.get(av), I.v128Load(I.get(x), 0)))),
            I.set(y, I.add(I.get(y), I.i32(16))),
            I.set(x, I.add(I.get(x), I.i32(16))),
          ],
          I.ltU(I.get(y), I.get(end)),
        ),
      ]),
    );
  }
  // diff(out, a, b, n) -> probe: out = a - b; returns the sum over a of (a - a), which is 0
  // when every entry of a is finite and NaN otherwise.
  const diff = new Fn('diff', ['i32', 'i32', 'i32', 'i32'], ['f32']);
  {
    const [out, a, b, n] = diff.paramLocals as [Local, Local, Local, Local];
    const probe = diff.local('v128');
    const v = diff.local('v128');
    const end = diff.local('i32');
    diff.emit(
      I.set(probe, I.v128Zero()),
      I.set(end, I.add(I.get(out), I.mul(I.get(n), I.i32(4)))),
      I.when(I.ltU(I.get(out), I.get(end)), [
        I.doWhile(
          [
            I.set(v, I.v128Load(I.get(a), 0)),
            I.v128Store(I.get(out), 0, I.f32x4Sub(I.get(v), I.v128Load(I.get(b), 0))),
            I.set(probe, I.f32x4Add(I.get(probe), I.f32x4Sub(I.get(v), I.get(v)))),
            I.set(out, I.add(I.get(out), I.i32(16))),
            I.set(a, I.add(I.get(a), I.i32(16))),
            I.set(b, I.add(I.get(b), I.i32(16))),
          ],
          I.ltU(I.get(out), I.get(end)),
        ),
      ]),
      (o) => {
        // horizontal sum of the probe's four lanes, left on the stack as the result
        I.f32Add(I.f32Add(I.extractLane(I.get(probe), 0), I.extractLane(I.get(probe), 1)), I.f32Add(I.extractLane(I.get(probe), 2), I.extractLane(I.get(probe), 3)))(o);
      },
    );
  }
  return [axpy, diff];
}
