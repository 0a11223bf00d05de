/**
 * Checkpointing the meta-optimiser's state (SGD momentum buffer, Adam moments and step).
 * MetaOptimizer (meta package) keeps them in private fields `m`, `v`, `t` and has no
 * export/import API yet, so this module reads and restores exactly those three fields;
 * if meta renames them, the round-trip test in test/checkpoint.test.ts fails loudly.
 */
import type { MetaOptimizer } from '@fedmeta/meta';

interface OptimizerInternals {
  m?: Float64Array;
  v?: Float64Array;
  t: number;
}

/** The optimiser's state as float arrays (for the checkpoint body) and JSON scalars. */
export function readOptimizerState(opt: MetaOptimizer): { arrays: Record<string, Float32Array>; meta: { t: number; hasM: boolean; hasV: boolean; m64?: string; v64?: string } } {
  const s = opt as unknown as OptimizerInternals;
  const arrays: Record<string, Float32Array> = {};
  // Float64 state is stored as pairs of float32 words (its raw bytes) so nothing is rounded.
  if (s.m) arrays['optimizer.m'] = new Float32Array(s.m.buffer.slice(0));
  if (s.v) arrays['optimizer.v'] = new Float32Array(s.v.buffer.slice(0));
  return { arrays, meta: { t: typeof s.t === 'number' ? s.t : 0, hasM: !!s.m, hasV: !!s.v } };
}

/** Restores what readOptimizerState captured. */
export function restoreOptimizerState(opt: MetaOptimizer, arrays: Record<string, Float32Array>, meta: unknown): void {
  const s = opt as unknown as OptimizerInternals;
  const m = arrays['optimizer.m'];
  const v = arrays['optimizer.v'];
  if (m) s.m = new Float64Array(m.buffer.slice(0));
  if (v) s.v = new Float64Array(v.buffer.slice(0));
  const t = (meta as { t?: unknown } | undefined)?.t;
  if (typeof t === 'number' && Number.isInteger(t) && t >= 0) s.t = t;
}
