/**
 * ERR_CHECKPOINT_MISMATCH in the words of the config file. The server names the option
 * paths of its own ServerOptions (`model.config.hidden`, `dp.epsilonBudget`); an operator
 * edits config keys (`meta.hidden`, `dp.epsilon`). This maps each differing path to the
 * config key it comes from (config/options.ts builds the options from those keys) and
 * shows the values as the config file writes them.
 */
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
 * The differing fields of a mismatch: the structured list when the error carries one
 * (`fields` of @fedmeta/server CheckpointMismatchError: path, checkpoint, now; null for
 * not set), else read from the message ("PATH is A in the checkpoint and B now", the
 * wording of @fedmeta/server checkpointMismatch). Empty when neither names a field.
 */
export function mismatchFields(err: unknown): MismatchField[] {
  const structured = (err as { fields?: unknown } | null)?.fields;
  if (Array.isArray(structured)) {
    const out: MismatchField[] = [];
    for (const f of structured as Record<string, unknown>[]) {
      const path = typeof f?.['path'] === 'string' ? f['path'] : typeof f?.['field'] === 'string' ? f['field'] : undefined;
      if (path === undefined) continue;
      const pick = (...names: string[]) => {
        for (const n of names) if (typeof f[n] === 'string') return f[n] as string;
        return undefined;
      };
      out.push({ path, checkpoint: pick('checkpoint', 'stored', 'was'), now: pick('now', 'current') });
    }
    if (out.length > 0) return out;
  }
  const message = err instanceof Error ? err.message : String(err);
  const out: MismatchField[] = [];
  const re = /(?:^|: |; )([A-Za-z][\w.]*) is (.+?) in the checkpoint and (.+?) now(?=; |\. |\.?$)/g;
  for (let m = re.exec(message); m; m = re.exec(message)) {
    const raw = (v: string) => (v === '(not set)' ? undefined : v);
    out.push({ path: m[1]!, checkpoint: raw(m[2]!), now: raw(m[3]!) });
  }
  return out;
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
  // The message lists at most 8 fields; a structured list has them all.
  const listed = (err as { fields?: unknown }).fields;
  const structured = Array.isArray(listed) && listed.length > 0;
  const more = structured ? null : /; and (\d+) more\b/.exec(err.message);
  return new CliError(
    `ERR_CHECKPOINT_MISMATCH: the checkpoint in ${dir} (server.checkpointDir) belongs to a federation with another configuration: ${lines.join('; ')}` +
      `${more ? `; and ${more[1]} more` : ''}. ` +
      `To continue it, set these back in ${configFile} (only server.rounds and dp.noiseMultiplier may change); for a new federation point server.checkpointDir at an empty directory`,
    1,
  );
}
