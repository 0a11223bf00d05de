/** L2 and element clipping of a model update, in float64. */
import { SecAggError } from '../errors.js';

/**
 * Returns a clipped float64 copy of x: first scaled by min(1, l2Clip / ||x||_2) when
 * l2Clip is set, then each coordinate clamped to [-elementClip, elementClip].
 * @throws SecAggError ERR_NON_FINITE when x contains NaN or +-Infinity (naming the index)
 */
export function clipVector(x: ArrayLike<number>, elementClip: number, l2Clip: number | null): Float64Array {
  const out = new Float64Array(x.length);
  let sumSq = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new SecAggError('ERR_NON_FINITE', `x[${i}] is ${String(v)}; only finite numbers can be quantised`);
    }
    out[i] = v;
    sumSq += v * v;
  }
  if (l2Clip !== null) {
    // sumSq can overflow to Infinity for huge finite inputs; fall back to a scaled norm.
    const norm = Number.isFinite(sumSq) ? Math.sqrt(sumSq) : scaledNorm(out);
    if (norm > l2Clip) {
      const f = l2Clip / norm;
      for (let i = 0; i < out.length; i++) out[i] = out[i]! * f;
    }
  }
  for (let i = 0; i < out.length; i++) {
    const v = out[i]!;
    if (v > elementClip) out[i] = elementClip;
    else if (v < -elementClip) out[i] = -elementClip;
  }
  return out;
}

function scaledNorm(x: Float64Array): number {
  let max = 0;
  for (const v of x) max = Math.max(max, Math.abs(v));
  let s = 0;
  for (const v of x) s += (v / max) * (v / max);
  return max * Math.sqrt(s);
}
