/**
 * Cohort selection and the secagg parameters for a cohort: which connected clients
 * take part in a round, and (mode, k, t) for their number. The graph maths is secagg's
 * (findGraphParameters); this module only applies the configured policy.
 */
import { findGraphParameters } from '@fedmeta/secagg';
import type { ResolvedServerOptions } from './validate.js';

export interface CohortPlan {
  mode: 'secagg' | 'secagg+' | 'plaintext';
  /** 0 = complete graph. */
  degree: number;
  threshold: number;
}

/**
 * Picks up to `max` of `candidates` with a seeded Fisher-Yates shuffle (deterministic per
 * round, so a restarted server samples the same way).
 */
export function sampleCohort<T>(candidates: readonly T[], max: number, seed: number, round: number): T[] {
  const a = [...candidates];
  if (a.length <= max) return a;
  let s = (seed * 0x9e3779b1 + round * 0x85ebca6b) >>> 0 || 1;
  const next = () => {
    // xorshift32: sampling needs reproducibility, not secrecy.
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, max);
}

/** Mode, degree and threshold for a cohort of `n` clients under the configured policy. */
export function planCohort(n: number, o: ResolvedServerOptions['aggregation']): CohortPlan {
  if (o.mode === 'plaintext') return { mode: 'plaintext', degree: 0, threshold: 0 };
  const usePlus = o.mode === 'secagg+' || (o.mode === 'auto' && n >= o.plusFromClients);
  // Active mode needs t > holders / 2 (two disjoint halves must not both reach t); the
  // configured or found threshold is raised to that floor and capped at the holder count.
  const fit = (t: number, holders: number) => Math.min(holders, Math.max(t, o.security === 'active' ? Math.floor(holders / 2) + 1 : 2));
  if (usePlus) {
    if (o.degree !== undefined && o.degree < n - 1) {
      const holders = o.degree + 1;
      return { mode: 'secagg+', degree: o.degree, threshold: fit(o.threshold ?? Math.floor(holders / 2) + 1, holders) };
    }
    const found = o.degree === undefined ? findGraphParameters({ n, dropoutFraction: o.dropoutFraction, corruptFraction: o.corruptFraction }) : null;
    if (found) return { mode: 'secagg+', degree: found.degree, threshold: fit(o.threshold ?? found.threshold, found.degree + 1) };
  }
  // Complete graph: either asked for, or no k < n-1 meets the security target at this n.
  return { mode: 'secagg', degree: 0, threshold: fit(o.threshold ?? Math.floor((2 * n) / 3) + 1, n) };
}
