/**
 * Crash-safe checkpoints of the federation: global params, optimiser state, next round,
 * config hash and round history. One file, written atomically (tmp file + fsync + rename
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
  return { federationId: header.federationId, configHash: header.configHash, nextRound: header.nextRound, arrays, meta: header.meta };
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
