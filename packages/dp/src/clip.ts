/** L2 clipping: x * min(1, c / ||x||_2). */
import { DpArgumentError, checkNumber } from './errors.js';

/**
 * Returns a Float64Array copy of `update` scaled to L2 norm at most `l2Clip`.
 * @throws DpArgumentError for non-finite entries or l2Clip <= 0.
 */
export function clipL2(update: ArrayLike<number>, l2Clip: number): { clipped: Float64Array; norm: number } {
  checkNumber('l2Clip', l2Clip, { min: 0, minExclusive: true });
  const out = new Float64Array(update.length);
  let ss = 0;
  for (let i = 0; i < update.length; i++) {
    const v = update[i]!;
    if (!Number.isFinite(v)) throw new DpArgumentError(`update[${i}] must be finite, got ${v}`);
    out[i] = v;
    ss += v * v;
  }
  const norm = Math.sqrt(ss);
  if (norm > l2Clip) {
    const f = l2Clip / norm;
    for (let i = 0; i < out.length; i++) out[i] = out[i]! * f;
  }
  return { clipped: out, norm };
}
