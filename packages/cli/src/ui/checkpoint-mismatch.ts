/**
 * ERR_CHECKPOINT_MISMATCH in the words of the config file. The server names the option
 * paths of its own ServerOptions (`model.config.hidden`, `dp.epsilonBudget`); an operator
 * edits config keys (`meta.hidden`, `dp.epsilon`). This maps each differing path to the
 * config key it comes from (config/options.ts builds the options from those keys) and
 * shows the values as the config file writes them.
 */
import type { CheckpointFieldChange } from '@fedmeta/server';
import { CliError } from '../errors.js';

/** One option that differs between the checkpoint and the configuration now. */
export interface MismatchField {
  /** The server option path, e.g. model.config.hidden. */
  path: string;
  /** The canonical JSON in the checkpoint, or undefined when it has none. */
  checkpoint: string | undefined;
  /** The canonical JSON now, or undefined when the configuration has none. */
  now: string | undefined;
}

/** Server option path -> the config key behind it (exact paths). */
const KEYS: Record<string, string> = {
  federationId: 'server.federationId',
  seed: 'data.seed',
  'model.config.kind': 'meta.model',
  'model.config.hidden': 'meta.hidden',
  'model.config.embedding': 'meta.hidden',
  'model.config.inputShape': 'the data\'s input shape (data.source / data.path)',
  'model.config.numClasses': 'the data\'s number of classes (data.source / data.path / data.classNames)',
  'algorithm.name': 'meta.algorithm',
  'optimizer.kind': 'meta.serverOptimizer',
  'optimizer.lr': 'meta.serverLr',
  'optimizer.momentum': 'meta.serverMomentum',
  'optimizer.beta1': 'meta.serverMomentum',
  'aggregation.elementClip': 'secagg.clip',
  'dp.epsilonBudget': 'dp.epsilon',
  'dp.l2Clip': 'dp.l2Clip',
  'dp.delta': 'dp.delta',
  'dp.bits': 'secagg.bits',
  'dp.unit': 'dp.unit',
  'dp.record.mode': 'dp.mode',
  'dp.record.sampleRate': 'dp.sampleRate',
  'dp.record.expectedBatchSize': 'dp.expectedBatchSize',
  'dp.record.localSteps': 'meta.localSteps (with dp.mode local)',
  'dp.record.threshold': 'the record-level noise threshold (from server.minClients and secagg)',
};

/** Server option path prefix -> config section (the rest of the path is the same key). */
const SECTIONS: [string, string][] = [
  ['algorithm.hyper.', 'meta.'],
  ['aggregation.', 'secagg.'],
];

/** The config key an option path comes from, or the path itself when it maps to no key. */
export function configKeyOf(path: string): string {
  const exact = KEYS[path];
  if (exact !== undefined) return exact;
  for (const [prefix, section] of SECTIONS) {
    // Keys the config does not have (e.g. aggregation.maxWeight) keep their option path.
    if (path.startsWith(prefix) && SECTION_KEYS[section]!.has(path.slice(prefix.length))) return section + path.slice(prefix.length);
  }
  return path;
}

const SECTION_KEYS: Record<string, Set<string>> = {
  'meta.': new Set(['localSteps', 'batchSize', 'lr', 'innerLr', 'innerSteps', 'mu']),
  'secagg.': new Set(['mode', 'security', 'plusFromClients', 'dropoutFraction', 'corruptFraction', 'threshold', 'bits']),
};

/** A canonical JSON value as the config file writes it: strings bare, one-entry lists of meta.hidden as the number. */
function configValue(key: string, v: string | undefined): string {
  if (v === undefined) return '(not set)';
  if (v.startsWith('sha256:')) return `(a long value, ${v.slice(0, 19)}...)`;
  try {
    const x: unknown = JSON.parse(v);
    if (typeof x === 'string') return x;
    if (key === 'meta.hidden' && Array.isArray(x) && x.length === 1) return String(x[0]);
    return v;
  } catch {
    return v;
  }
}

/**
 * The differing fields of a mismatch: the `fields` of @fedmeta/server's
 * CheckpointMismatchError (path, checkpoint, now; null for not set). Empty when the error
 * names none (another federationId names its own; a checkpoint without per-field records
 * names none).
 */
export function mismatchFields(err: unknown): MismatchField[] {
  const fields = (err as { fields?: unknown } | null)?.fields;
  if (!Array.isArray(fields)) return [];
  return (fields as CheckpointFieldChange[]).map((f) => ({ path: f.path, checkpoint: f.checkpoint ?? undefined, now: f.now ?? undefined }));
}

/**
 * The lines naming config keys for a mismatch's fields. A whole dp section present on one
 * side only (DP on in one run, off in the other) is one line, dp.enabled.
 */
export function mismatchLines(fields: readonly MismatchField[], configFile: string): string[] {
  const dpWhole = fields.find((f) => f.path === 'dp');
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const f of fields) {
    if (dpWhole && f.path.startsWith('dp.')) continue; // folded into dp.enabled
    if (f.path === 'dp') {
      // DP off is `dp: null`; DP on has dp.* leaves and no `dp` path of its own.
      const enabled = (v: string | undefined) => (v === 'null' ? 'false' : 'true');
      lines.push(`dp.enabled: ${enabled(f.checkpoint)} in the checkpoint, ${enabled(f.now)} in ${configFile}`);
      continue;
    }
    const key = configKeyOf(f.path);
    const named = key === f.path ? key : key.includes(' ') ? `${key} [${f.path}]` : key;
    const checkpoint = f.path === 'dp.unit' && f.checkpoint === undefined ? 'client' : configValue(key, f.checkpoint);
    const now = f.path === 'dp.unit' && f.now === undefined ? 'client' : configValue(key, f.now);
    const line = `${named}: ${checkpoint} in the checkpoint, ${now} in ${configFile}`;
    if (seen.has(line)) continue;
    seen.add(line);
    lines.push(line);
  }
  return lines;
}

/**
 * A CliError naming config keys for ERR_CHECKPOINT_MISMATCH, or null for any other error
 * (and for a mismatch that names no field, e.g. another federationId or a checkpoint
 * without per-field records, whose message is left as it is).
 * @param dir the checkpoint directory (server.checkpointDir)
 * @param configFile the config file as the operator named it
 */
export function checkpointMismatchError(err: unknown, dir: string, configFile: string): CliError | null {
  if (!(err instanceof Error) || (err as { code?: unknown }).code !== 'ERR_CHECKPOINT_MISMATCH') return null;
  const fields = mismatchFields(err);
  if (fields.length === 0) return null;
  const lines = mismatchLines(fields, configFile);
  return new CliError(
    `ERR_CHECKPOINT_MISMATCH: the checkpoint in ${dir} (server.checkpointDir) belongs to a federation with another configuration: ${lines.join('; ')}. ` +
      `To continue it, set these back in ${configFile} (only server.rounds and dp.noiseMultiplier may change); for a new federation point server.checkpointDir at an empty directory`,
    1,
  );
}
