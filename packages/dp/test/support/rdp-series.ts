/**
 * Independent reference for fractional-order RDP of the sampled Gaussian: the signed
 * series of Mironov, Talwar, Zhang (2019, Sec. 3.3), summed with signs (no |binomial|
 * bound). Used only by the tests to cross-check the production integration.
 */
import { logErfc } from '../../src/math.js';

export function logASignedSeries(q: number, sigma: number, a: number): number {
  const s2 = sigma * sigma;
  const z0 = s2 * Math.log(1 / q - 1) + 0.5;
  const terms: Array<{ log: number; sign: number }> = [];
  let logAbsCoef = 0; // log |C(a, 0)|
  let sign = 1;
  for (let i = 0; i < 200000; i++) {
    if (i > 0) {
      const f = (a - i + 1) / i;
      logAbsCoef += Math.log(Math.abs(f));
      if (f < 0) sign = -sign;
    }
    const j = a - i;
    const le0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const le1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const l0 = logAbsCoef + i * Math.log(q) + j * Math.log1p(-q) + (i * i - i) / (2 * s2) + le0;
    const l1 = logAbsCoef + j * Math.log(q) + i * Math.log1p(-q) + (j * j - j) / (2 * s2) + le1;
    terms.push({ log: l0, sign }, { log: l1, sign });
    if (i > a + 2 && Math.max(l0, l1) < -40) break;
  }
  const max = Math.max(...terms.map((t) => t.log));
  let sum = 0;
  for (const t of terms) sum += t.sign * Math.exp(t.log - max);
  return max + Math.log(sum);
}
