/**
 * Checkpointing the meta-optimiser's state (SGD momentum buffer, Adam moments and step)
 * through MetaOptimizer's public state() / restore() API.
 *
 * On-disk layout (unchanged since the first checkpoint version, so older files load):
 * arrays 'optimizer.m' / 'optimizer.v' hold the Float64 buffers' raw bytes viewed as
 * float32 words (2 words per entry, nothing rounded); meta.optimizer is
 * { t, hasM, hasV, kind? } (`kind` added later; files without it are accepted).
 */
import { MetaError, type MetaOptimizer, type MetaOptimizerState } from '@fedmeta/meta';
import { ServerError } from './errors.js';

/** The JSON scalars of the optimiser state, stored in the checkpoint header. */
export interface OptimizerStateMeta {
  t: number;
  hasM: boolean;
  hasV: boolean;
  kind?: MetaOptimizerState['kind'];
}

const asWords = (a: Float64Array): Float32Array => new Float32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

/** The optimiser's state as float arrays (for the checkpoint body) and JSON scalars. */
export function readOptimizerState(opt: MetaOptimizer): { arrays: Record<string, Float32Array>; meta: OptimizerStateMeta } {
  const s = opt.state();
  const arrays: Record<string, Float32Array> = {};
  if (s.m) arrays['optimizer.m'] = asWords(s.m);
  if (s.v) arrays['optimizer.v'] = asWords(s.v);
  return { arrays, meta: { t: s.step, hasM: !!s.m, hasV: !!s.v, kind: s.kind } };
}

/**
 * Restores what readOptimizerState captured into `opt`.
 * @param paramCount the model's parameter count; the buffers must match it
 * @throws ServerError ERR_CHECKPOINT_CORRUPT when the stored state is malformed, of another
 *   optimiser kind, or of another length (the meta package's error is the cause)
 */
export function restoreOptimizerState(opt: MetaOptimizer, arrays: Record<string, Float32Array>, meta: unknown, paramCount = arrays['params']?.length): void {
  const corrupt = (why: string, cause?: unknown): never => {
    throw new ServerError('ERR_CHECKPOINT_CORRUPT', `optimizer state: ${why}`, cause === undefined ? undefined : { cause });
  };
  const m = meta as Partial<OptimizerStateMeta> | undefined;
  const words = (name: string): Float64Array | null => {
    const a = arrays[name];
    if (!a) return null;
    if (a.length % 2 !== 0) corrupt(`${name} has an odd number of float32 words (${a.length}); it must hold float64 entries`);
    return new Float64Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
  };
  const state: MetaOptimizerState = {
    // Files written before `kind` was recorded: the buffers are checked against the config's kind.
    kind: m?.kind ?? opt.config.kind,
    step: typeof m?.t === 'number' ? m.t : 0,
    m: words('optimizer.m'),
    v: words('optimizer.v'),
  };
  if (m?.hasM === true && !state.m) corrupt('meta says hasM but optimizer.m is missing');
  if (m?.hasV === true && !state.v) corrupt('meta says hasV but optimizer.v is missing');
  try {
    opt.restore(state, paramCount);
  } catch (err) {
    if (err instanceof MetaError) corrupt(err.message, err);
    throw err;
  }
}
