/**
 * Convolution as im2col-style matMuls, built only from pad, slice, reshape, matMul and addN. Why: the wasm backend has no Conv2DBackpropFilter kernel, the cpu one is a
 * scalar loop (~1 s per small layer), and tfjs's conv filter gradient is not itself
 * differentiable. All ops used here have gradients that are differentiable again, so
 * this conv is usable inside second-order MAML, and its gradient runs as matMuls and pads.
 * Layouts follow tf.conv2d: x is NHWC, the filter is [kh, kw, inChannels, outChannels].
 */
import { MetaArgumentError } from '../errors.js';
import { tf, type Tensor } from '../tf.js';

export type Padding = 'same' | 'valid';

/** Output size and leading pad of one spatial dimension, with TensorFlow's 'same' rule. */
function outAndPad(size: number, k: number, stride: number, padding: Padding): { out: number; before: number; after: number } {
  if (padding === 'valid') {
    const out = Math.floor((size - k) / stride) + 1;
    return { out, before: 0, after: 0 };
  }
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + k - size, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

/**
 * 2-D convolution equal to tf.conv2d(x, filter, stride, padding) for NHWC inputs.
 * @param x [n, h, w, c]
 * @param filter [kh, kw, c, outC]
 * @throws MetaArgumentError on rank or channel mismatch, or an empty output
 */
export function conv2dIm2col(x: Tensor, filter: Tensor, stride: number, padding: Padding): Tensor {
  if (x.rank !== 4 || filter.rank !== 4) throw new MetaArgumentError(`conv2dIm2col: x and filter must be rank 4, got ${x.rank} and ${filter.rank}`);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const [kh, kw, fc, outC] = filter.shape as [number, number, number, number];
  if (fc !== c) throw new MetaArgumentError(`conv2dIm2col: filter has ${fc} input channels, x has ${c}`);
  if (!Number.isInteger(stride) || stride < 1) throw new MetaArgumentError(`conv2dIm2col: stride must be an integer >= 1, got ${stride}`);
  const ph = outAndPad(h, kh, stride, padding);
  const pw = outAndPad(w, kw, stride, padding);
  if (ph.out < 1 || pw.out < 1) throw new MetaArgumentError(`conv2dIm2col: kernel ${kh}x${kw} larger than input ${h}x${w}`);
  return tf.tidy(() => {
    // Pad so every window slice of height stride*out fits (extra rows are cut by the stride step).
    const needH = (kh - 1) + stride * ph.out;
    const needW = (kw - 1) + stride * pw.out;
    const padBottom = Math.max(needH - (h + ph.before), 0);
    const padRight = Math.max(needW - (w + pw.before), 0);
    const padded = ph.before || padBottom || pw.before || padRight
      ? tf.pad(x, [[0, 0], [ph.before, padBottom], [pw.before, padRight], [0, 0]])
      : x;
    // out = sum over kernel offsets (i, j) of patch_ij [n*outH*outW, c] x filter[i, j] [c, outC].
    // Summing per-offset matMuls instead of concatenating columns into one matMul avoids
    // concat, whose gradient (strided splits) is the slowest part on wasm (~2x overall).
    const perOffset = tf.reshape(filter, [kh * kw, c, outC]);
    const terms: Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        let patch = tf.slice(padded, [0, i, j, 0], [n, stride * ph.out, stride * pw.out, c]);
        if (stride > 1) {
          // Keep every stride-th row and column: a reshape exposes the row phase as an axis and
          // folds the column phase into the channels ([n*outH, stride, outW, stride*c], row-major
          // so no data moves), then a rank-4 slice takes phase 0 of both. Rank 4 on purpose:
          // the wasm backend's slice of higher rank falls back to a slow generic path.
          patch = tf.reshape(patch, [n * ph.out, stride, pw.out, stride * c]);
          patch = tf.slice(patch, [0, 0, 0, 0], [n * ph.out, 1, pw.out, c]);
        }
        const weights = tf.reshape(tf.slice(perOffset, [i * kw + j, 0, 0], [1, c, outC]), [c, outC]);
        terms.push(tf.matMul(tf.reshape(patch, [n * ph.out * pw.out, c]), weights));
      }
    }
    return tf.reshape(addAll(terms), [n, ph.out, pw.out, outC]);
  });
}

/**
 * addN in groups of at most 4 terms: tfjs's webgpu AddN binds one storage buffer per input and
 * fails past WebGPU's default limit of 8 per shader stage (9 taps of a 3x3 kernel need 10).
 */
export function addAll(terms: Tensor[]): Tensor {
  if (terms.length === 1) return terms[0]!;
  if (terms.length <= 4) return tf.addN(terms);
  const partial: Tensor[] = [];
  for (let i = 0; i < terms.length; i += 4) partial.push(addAll(terms.slice(i, i + 4)));
  return addAll(partial);
}

/** 2x2 average pooling (stride 2) by reshape + mean: twice differentiable, unlike tf.avgPool. */
export function avgPool2x2(x: Tensor): Tensor {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  if (h % 2 !== 0 || w % 2 !== 0) throw new MetaArgumentError(`avgPool2x2: height and width must be even, got ${h}x${w}`);
  return tf.tidy(() => tf.mean(tf.reshape(x, [n, h / 2, 2, w / 2, 2, c]), [2, 4]));
}

/** Global average pooling over height and width: [n, h, w, c] -> [n, c]. */
export function globalAvgPool(x: Tensor): Tensor {
  return tf.mean(x, [1, 2]);
}
