/**
 * Crash-safe checkpoints of the federation: global params, optimiser state, next round,
 * the configuration it is bound to (a hash, and each bound field's value, so that a
 * refused restart names what changed) and round history. One file, written atomically (tmp file + fsync + rename
 * + directory fsync), so a SIGKILL at any instant leaves either the old or the new
 * checkpoint, never a torn one.
 *
 * File layout: "FMCK" | u32 header length | JSON header | f32 arrays back to back (LE).
 * The header lists each array's name and length and the SHA-256 of everything after it.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ServerError } from './errors.js';

const MAGIC = 'FMCK';
export const CHECKPOINT_FILE = 'checkpoint.fmck';

export interface CheckpointState {
  federationId: string;
  configHash: string;
  /** The bound configuration, field by field (dotted path -> canonical JSON); absent in older checkpoints. */
  configFields?: Record<string, string>;
  /** The next round to run (rounds completed or aborted so far). */
  nextRound: number;
  /** Named float arrays: 'params' and the optimiser's state vectors. */
  arrays: Record<string, Float32Array>;
  /** Small JSON state: optimiser scalars, round summaries. */
  meta: Record<string, unknown>;
}

interface Header {
  version: 1;
  federationId: string;
  configHash: string;
  configFields?: Record<string, string>;
  nextRound: number;
  arrays: { name: string; length: number }[];
  meta: Record<string, unknown>;
  bodySha256: string;
}

/** Writes `bytes` to `path` atomically and durably. */
export function atomicWrite(path: string, dir: string, chunks: Uint8Array[]): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    for (const c of chunks) {
      let off = 0;
      while (off < c.length) off += writeSync(fd, c, off, c.length - off);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // The rename itself is only durable once the directory entry is flushed.
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** Saves a checkpoint into `dir` (created if missing). */
export function saveCheckpoint(dir: string, state: CheckpointState): void {
  mkdirSync(dir, { recursive: true });
  const arrays = Object.entries(state.arrays);
  const body = arrays.map(([, a]) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  const digest = createHash('sha256');
  for (const b of body) digest.update(b);
  const header: Header = {
    version: 1,
    federationId: state.federationId,
    configHash: state.configHash,
    ...(state.configFields ? { configFields: state.configFields } : {}),
    nextRound: state.nextRound,
    arrays: arrays.map(([name, a]) => ({ name, length: a.length })),
    meta: state.meta,
    bodySha256: digest.digest('hex'),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32BE(headerBytes.length, 4);
  atomicWrite(join(dir, CHECKPOINT_FILE), dir, [prefix, headerBytes, ...body]);
}

/**
 * Loads the checkpoint in `dir`, or null when there is none.
 * @throws ServerError ERR_CHECKPOINT_CORRUPT when the file is truncated or fails its digest.
 */
export function loadCheckpoint(dir: string): CheckpointState | null {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) return null;
  const buf = readFileSync(path);
  const corrupt = (why: string): never => {
    throw new ServerError('ERR_CHECKPOINT_CORRUPT', `${path}: ${why}`);
  };
  if (buf.length < 8 || buf.toString('latin1', 0, 4) !== MAGIC) corrupt('bad magic');
  const headerLen = buf.readUInt32BE(4);
  if (8 + headerLen > buf.length) corrupt('truncated header');
  let header: Header;
  try {
    header = JSON.parse(buf.toString('utf8', 8, 8 + headerLen)) as Header;
  } catch (cause) {
    throw new ServerError('ERR_CHECKPOINT_CORRUPT', `${path}: header is not JSON`, { cause });
  }
  if (header.version !== 1 || !Array.isArray(header.arrays) || !Number.isInteger(header.nextRound)) corrupt('unsupported header');
  let off = 8 + headerLen;
  const digest = createHash('sha256');
  const arrays: Record<string, Float32Array> = {};
  for (const { name, length } of header.arrays) {
    if (!Number.isInteger(length) || length < 0 || off + 4 * length > buf.length) corrupt(`array ${name} overruns the file`);
    const bytes = buf.subarray(off, off + 4 * length);
    digest.update(bytes);
    const a = new Float32Array(length);
    new Uint8Array(a.buffer).set(bytes);
    arrays[name] = a;
    off += 4 * length;
  }
  if (off !== buf.length) corrupt(`${buf.length - off} trailing bytes`);
  if (digest.digest('hex') !== header.bodySha256) corrupt('body digest mismatch');
  const fields = header.configFields && typeof header.configFields === 'object' ? { configFields: header.configFields } : {};
  return { federationId: header.federationId, configHash: header.configHash, ...fields, nextRound: header.nextRound, arrays, meta: header.meta };
}

/** SHA-256 hex of a JSON value with sorted keys (stable across runs and processes). */
export function configHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function canonicalJson(v: unknown): string {
  if (v === undefined) return 'null';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (ArrayBuffer.isView(v)) return JSON.stringify(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex'));
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
}

/** The configuration a checkpoint is bound to: its hash and each field's canonical value. */
export interface ConfigFingerprint {
  hash: string;
  /** Dotted path -> canonical JSON of the value (values over 160 characters as their SHA-256). */
  fields: Record<string, string>;
}

const LONG_VALUE = 160;

/** Flattens plain objects into dotted paths; arrays and typed arrays are single values. */
function flatten(v: unknown, path: string, out: Record<string, string>): void {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    if (entries.length === 0) out[path] = '{}';
    for (const [k, x] of entries) flatten(x, path ? `${path}.${k}` : k, out);
    return;
  }
  const json = canonicalJson(v);
  out[path] = json.length > LONG_VALUE ? `sha256:${createHash('sha256').update(json).digest('hex')}` : json;
}

/** The fingerprint of a configuration object (see configFields). */
export function configFingerprint(bound: Record<string, unknown>): ConfigFingerprint {
  const fields: Record<string, string> = {};
  flatten(bound, '', fields);
  return { hash: configHash(fields), fields };
}

/**
 * What a checkpoint binds, from the server's options: everything that makes it the same
 * federation. Not bound, so a finished federation can be continued: `rounds`, and the DP
 * noise multiplier (every round is charged to the ledger with the noise it really had, and
 * the ledger's budget and delta are bound, so a new noise multiplier for the remaining
 * rounds cannot overspend). Deadlines, limits, cohort sizes and the roster never were.
 */
export function federationFingerprint(o: {
  federationId: string;
  seed: number;
  aggregation: unknown;
  raw: { model: { config: unknown }; algorithm: unknown; optimizer?: unknown; dp?: object | undefined };
}): ConfigFingerprint & { legacyHash: string } {
  const raw = o.raw;
  const dp = raw.dp ? Object.fromEntries(Object.entries(raw.dp).filter(([k]) => k !== 'noiseMultiplier')) : null;
  const fp = configFingerprint({ federationId: o.federationId, model: { config: raw.model.config }, algorithm: raw.algorithm, optimizer: raw.optimizer ?? null, aggregation: o.aggregation, dp, seed: o.seed });
  // The single hash checkpoints carried before fields were stored (still accepted).
  const legacyHash = configHash({ federationId: o.federationId, model: raw.model.config, algorithm: raw.algorithm, optimizer: raw.optimizer ?? null, aggregation: o.aggregation, dp: raw.dp ?? null, seed: o.seed });
  return { ...fp, legacyHash };
}

/**
 * One bound option whose value differs between a checkpoint and the options now. Values
 * are canonical JSON text (sorted keys), 'sha256:<hex>' for a value over 160 characters,
 * or null where that side does not set the option.
 */
export interface CheckpointFieldChange {
  /** The server option's dotted path, as in ServerOptions (e.g. 'model.config.hidden', 'dp.epsilonBudget', 'federationId'). */
  path: string;
  /** The value the checkpoint was written under. */
  checkpoint: string | null;
  /** The value in the options now. */
  now: string | null;
}

/** Why a checkpoint cannot be continued: the message, and each differing option. */
export interface CheckpointDiff {
  message: string;
  /** Every differing option (all of them; the message lists at most 8); empty when the checkpoint predates per-field records. */
  fields: CheckpointFieldChange[];
}

/**
 * ERR_CHECKPOINT_MISMATCH with each differing option in structured form (`fields`), so that
 * a front end can name the option as its users write it.
 */
export class CheckpointMismatchError extends ServerError {
  readonly fields: readonly CheckpointFieldChange[];
  constructor(message: string, fields: readonly CheckpointFieldChange[]) {
    super('ERR_CHECKPOINT_MISMATCH', message);
    this.fields = fields;
  }
}

/**
 * Why a checkpoint cannot be continued under `current`, or null when it can.
 * @returns the message (e.g. "belongs to another configuration: model.config.hidden is [16]
 *   in the checkpoint and [32] now") and every differing option
 */
export function checkpointDiff(ck: Pick<CheckpointState, 'federationId' | 'configHash' | 'configFields'>, current: ConfigFingerprint & { legacyHash: string }, federationId: string): CheckpointDiff | null {
  if (ck.federationId !== federationId) {
    return { message: `belongs to federation '${ck.federationId}', not '${federationId}' (federationId)`, fields: [{ path: 'federationId', checkpoint: JSON.stringify(ck.federationId), now: JSON.stringify(federationId) }] };
  }
  if (ck.configHash === current.hash || ck.configHash === current.legacyHash) return null;
  const stored = ck.configFields;
  if (!stored) {
    return {
      message: `belongs to a federation with a different configuration (hash ${ck.configHash.slice(0, 12)} vs ${current.hash.slice(0, 12)}; this checkpoint predates per-field records, so the field cannot be named: compare model, algorithm, optimizer, aggregation, dp and seed with the run that wrote it)`,
      fields: [],
    };
  }
  const show = (v: string | null) => (v === null ? '(not set)' : v.startsWith('sha256:') ? `(a value with ${v.slice(0, 19)}...)` : v);
  const paths = [...new Set([...Object.keys(stored), ...Object.keys(current.fields)])].sort();
  const fields = paths.filter((p) => stored[p] !== current.fields[p]).map((p) => ({ path: p, checkpoint: stored[p] ?? null, now: current.fields[p] ?? null }));
  if (fields.length === 0) return { message: `belongs to a federation with a different configuration (hash ${ck.configHash.slice(0, 12)} vs ${current.hash.slice(0, 12)})`, fields };
  const diffs = fields.map((f) => `${f.path} is ${show(f.checkpoint)} in the checkpoint and ${show(f.now)} now`);
  const listed = diffs.length > 8 ? [...diffs.slice(0, 8), `and ${diffs.length - 8} more`] : diffs;
  return {
    message: `belongs to a federation with a different configuration: ${listed.join('; ')}. Only rounds and the DP noise multiplier may change to continue it; for a new federation use an empty checkpoint directory`,
    fields,
  };
}

/**
 * Why a checkpoint cannot be continued under `current`, or null when it can (the message of checkpointDiff).
 */
export function checkpointMismatch(ck: Pick<CheckpointState, 'federationId' | 'configHash' | 'configFields'>, current: ConfigFingerprint & { legacyHash: string }, federationId: string): string | null {
  return checkpointDiff(ck, current, federationId)?.message ?? null;
}
