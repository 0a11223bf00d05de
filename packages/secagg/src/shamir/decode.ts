/**
 * Robust Shamir reconstruction: with more shares than the threshold, find the secret even
 * when some shares are wrong, and say which ones (protocol-spec/02-shamir.md sec. 5).
 *
 * Shares of one secret are a Reed-Solomon codeword: n evaluations of a polynomial of
 * degree < t. Any polynomial of degree < t that disagrees with at most
 * e = floor((n - t) / 2) of them is the only one (two such polynomials would agree on
 * n - 2e >= t points, hence be equal), so up to e wrong shares can be corrected, and the
 * wrong ones named. With n = t + 1 (e = 0) one wrong share is detected but not located;
 * a public check on the secret (e.g. X25519(s_sk, 9) = s_pk) then locates it by trying
 * the t + 1 subsets that leave one share out.
 *
 * Cost per call with n shares: one interpolation and n - t evaluations, O(n t) field
 * operations, when no share is wrong (the common case); otherwise at most two
 * Berlekamp-Welch solves (an n x (2e + t) linear system, O(n^3)) and, with a public
 * check and n = t + 1, t + 1 more interpolations (O(t^2) each).
 */
import { bigintToBytes, bytesToBigint, invModP, modP, SHAMIR_PRIME, SHAMIR_SECRET_BYTES } from './field.js';
import { checkShareSet, lagrangeEvaluator } from './combine.js';
import type { ShamirShare } from './split.js';

export interface ShamirDecodeOptions {
  /**
   * A public check of the secret (e.g. that it is the X25519 secret of a known public key).
   * A decoding whose secret fails it is rejected, and with exactly t + 1 shares it locates
   * one wrong share.
   */
  readonly check?: (secret: Uint8Array) => boolean;
  /**
   * x-coordinates of holders already known to have sent a wrong share of another secret.
   * Their shares are first left out (treated as erasures: with f of them left out,
   * floor((n - f - t) / 2) errors among the rest are corrected); if that fails, every
   * share is decoded as usual. They are still named when their share is wrong here.
   */
  readonly suspects?: ReadonlySet<number>;
}

/** A decoded secret and the shares that are off its polynomial. */
export interface ShamirDecoded {
  readonly secret: Uint8Array;
  /** x of every share that is not on the decoded polynomial (ascending). */
  readonly faulty: readonly number[];
}

/** How many wrong shares `n` shares of a threshold-t secret can correct (with or without a public check). */
export function correctableErrors(n: number, threshold: number, checked: boolean): number {
  if (n < threshold) return 0;
  const e = Math.floor((n - threshold) / 2);
  return checked && n === threshold + 1 ? 1 : e;
}

interface Point {
  readonly x: bigint;
  readonly y: bigint;
  readonly xNum: number;
}

/** A candidate polynomial, as an evaluator. */
type Poly = (x: bigint) => bigint;

/** The polynomial of degree < pts.length through pts (cached Lagrange basis). */
function through(pts: readonly Point[]): Poly {
  return lagrangeEvaluator(pts.map((pt) => pt.xNum), pts.map((pt) => pt.y));
}

/** p(x) by Horner, coefficients lowest first. */
function horner(coeffs: readonly bigint[]): Poly {
  return (x) => {
    let acc = 0n;
    for (let i = coeffs.length - 1; i >= 0; i--) acc = (acc * x + coeffs[i]!) % SHAMIR_PRIME;
    return acc;
  };
}

/**
 * Berlekamp-Welch: a polynomial P of degree < t with P(x_i) = y_i for all but at most e
 * points, or null. Solves Q(x_i) = y_i E(x_i) for E monic of degree e and Q of degree
 * < e + t (Gaussian elimination mod p, free unknowns set to 0), then P = Q / E.
 */
function berlekampWelch(pts: readonly Point[], t: number, e: number): Poly | null {
  const cols = 2 * e + t; // e_0..e_{e-1}, q_0..q_{e+t-1}
  const rows = pts.map((pt) => {
    const row = new Array<bigint>(cols + 1);
    let xp = 1n;
    for (let j = 0; j < e; j++) {
      row[j] = modP(-pt.y * xp);
      xp = (xp * pt.x) % SHAMIR_PRIME;
    }
    // xp = x^e now: the monic term moves to the right-hand side
    row[cols] = (pt.y * xp) % SHAMIR_PRIME;
    let xq = 1n;
    for (let j = 0; j < e + t; j++) {
      row[e + j] = xq;
      xq = (xq * pt.x) % SHAMIR_PRIME;
    }
    return row;
  });
  const pivotCols: number[] = [];
  let r = 0;
  for (let c = 0; c < cols && r < rows.length; c++) {
    let p = r;
    while (p < rows.length && rows[p]![c] === 0n) p++;
    if (p === rows.length) continue;
    [rows[r], rows[p]] = [rows[p]!, rows[r]!];
    const pivot = rows[r]!;
    const inv = invModP(pivot[c]!);
    for (let k = c; k <= cols; k++) pivot[k] = (pivot[k]! * inv) % SHAMIR_PRIME;
    for (let q = 0; q < rows.length; q++) {
      const row = rows[q]!;
      if (q === r || row[c] === 0n) continue;
      const f = row[c]!;
      for (let k = c; k <= cols; k++) row[k] = modP(row[k]! - f * pivot[k]!);
    }
    pivotCols.push(c);
    r++;
  }
  // Inconsistent: a zero row with a non-zero right-hand side.
  for (let q = r; q < rows.length; q++) if (rows[q]![cols] !== 0n) return null;
  const sol = new Array<bigint>(cols).fill(0n);
  pivotCols.forEach((c, i) => (sol[c] = rows[i]![cols]!));
  const eCoeffs = [...sol.slice(0, e), 1n];
  // Long division of Q by the monic E; the remainder must vanish.
  const rem = sol.slice(e);
  const quot = new Array<bigint>(t).fill(0n);
  for (let d = rem.length - 1; d >= e; d--) {
    const coef = rem[d]!;
    if (coef === 0n) continue;
    quot[d - e] = coef;
    for (let j = 0; j <= e; j++) rem[d - e + j] = modP(rem[d - e + j]! - coef * eCoeffs[j]!);
  }
  for (let d = 0; d < e; d++) if (rem[d] !== 0n) return null;
  return horner(quot);
}

/** The points off `poly`. */
function offPolynomial(poly: Poly, pts: readonly Point[]): Point[] {
  return pts.filter((pt) => poly(pt.x) !== pt.y);
}

/** The secret of `poly` when it is < 2^256 and passes the public check, else null. */
function acceptable(poly: Poly, check: ((s: Uint8Array) => boolean) | undefined): Uint8Array | null {
  const s = poly(0n);
  if (s >= 1n << 256n) return null;
  const secret = bigintToBytes(s, SHAMIR_SECRET_BYTES);
  return check === undefined || check(secret) ? secret : null;
}

/** Decodes one set of points (ascending x); returns the polynomial, its secret and the points of the set off it, or null. */
function decodeSet(pts: readonly Point[], t: number, check: ((s: Uint8Array) => boolean) | undefined): { poly: Poly; secret: Uint8Array; off: Point[] } | null {
  const m = pts.length;
  if (m < t) return null;
  const e = Math.floor((m - t) / 2);
  // Fast path: the first t points (on it by construction); the answer if at most e of the others are off it.
  const first = through(pts.slice(0, t));
  const off = offPolynomial(first, pts.slice(t));
  if (off.length <= e) {
    const secret = acceptable(first, check);
    if (secret) return { poly: first, secret, off };
    // The only close polynomial fails the check: more than e shares are wrong.
  } else if (e >= 1) {
    const bw = berlekampWelch(pts, t, e);
    if (bw) {
      const bwOff = offPolynomial(bw, pts);
      const secret = bwOff.length <= e ? acceptable(bw, check) : null;
      if (secret) return { poly: bw, secret, off: bwOff };
    }
  }
  if (check !== undefined && m === t + 1 && off.length > 0) {
    // One wrong share among t + 1: exactly one leave-one-out subset may pass the check.
    const found: Array<{ poly: Poly; secret: Uint8Array; off: Point[] }> = [];
    for (let i = 0; i < m; i++) {
      const poly = through(pts.filter((_, j) => j !== i));
      const secret = acceptable(poly, check);
      if (secret) found.push({ poly, secret, off: [pts[i]!] });
    }
    if (found.length === 1) return found[0]!;
  }
  return null;
}

/**
 * Reconstructs a secret from `shares` (at least `threshold`), correcting up to
 * correctableErrors(n, t, check given) wrong shares and naming them.
 * @returns the secret and the x of every share off its polynomial, or null when the shares
 *   cannot be decoded (too many wrong shares, or none of the candidates passes the check)
 * @throws SecAggError ERR_SHARE_INVALID / ERR_SHARE_DUPLICATE / ERR_TOO_FEW_SHARES as
 *   shamirCombine; InvalidArgumentError for a bad threshold
 */
export function shamirDecode(shares: readonly ShamirShare[], threshold: number, options: ShamirDecodeOptions = {}): ShamirDecoded | null {
  checkShareSet(shares, threshold);
  const pts: Point[] = shares.map((s) => ({ x: BigInt(s.x), y: bytesToBigint(s.y), xNum: s.x })).sort((a, b) => a.xNum - b.xNum);
  const { check } = options;
  const suspects = options.suspects ?? new Set<number>();
  const attempts: Point[][] = [];
  const trusted = pts.filter((pt) => !suspects.has(pt.xNum));
  if (trusted.length < pts.length && trusted.length >= threshold) attempts.push(trusted);
  attempts.push(pts);
  for (const set of attempts) {
    const found = decodeSet(set, threshold, check);
    if (found === null) continue;
    // The set's points off the polynomial, and any left-out suspect off it too.
    const erased = set.length < pts.length ? offPolynomial(found.poly, pts.filter((pt) => !set.includes(pt))) : [];
    const faulty = [...found.off, ...erased].map((pt) => pt.xNum).sort((a, b) => a - b);
    return { secret: found.secret, faulty };
  }
  return null;
}
