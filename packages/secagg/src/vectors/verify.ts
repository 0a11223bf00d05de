/**
 * Verifies a set of vector files: the manifest's SHA-256 of every file, the file headers,
 * and every vector recomputed by its kind. Pure: takes path -> bytes, returns a report
 * naming each failing file and vector.
 */
import { SUITE_ID } from '../crypto/hkdf.js';
import { sha256 } from '../crypto/sha256.js';
import { toHex } from '../crypto/bytes.js';
import { VECTOR_FORMAT, VECTOR_FORMAT_VERSION, VECTOR_MANIFEST_FILE, VECTOR_VERSION_DIR, vectorDigest } from './generate.js';
import { loadVectorKinds } from './load.js';
import { registeredVectorKinds, vectorKind, type Vector } from './registry.js';

export interface VectorFailure {
  /** Path relative to the vectors root, e.g. "v1/prg.json". */
  file: string;
  /** The vector's name, when the failure is inside one vector. */
  vector?: string;
  message: string;
}

export interface VectorVerifyReport {
  ok: boolean;
  files: number;
  vectors: number;
  failures: VectorFailure[];
}

/** One line per failure: `v1/prg.json: vector 'expand-8bit-3': field 'mask_prefix' differs: ...`. */
export function formatVectorFailure(f: VectorFailure): string {
  return `${f.file}: ${f.vector !== undefined ? `vector '${f.vector}': ` : ''}${f.message}`;
}

function parseJson(bytes: Uint8Array): unknown {
  return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

/**
 * Verifies `files` (path relative to the vectors root -> exact bytes). Only paths under
 * "v1/" are considered; every file there must be a known kind's JSON or the manifest.
 */
export async function verifyVectorFiles(files: ReadonlyMap<string, Uint8Array>): Promise<VectorVerifyReport> {
  await loadVectorKinds();
  const failures: VectorFailure[] = [];
  const fail = (file: string, message: string, vector?: string) => failures.push(vector === undefined ? { file, message } : { file, vector, message });
  const prefix = `${VECTOR_VERSION_DIR}/`;
  const manifestPath = prefix + VECTOR_MANIFEST_FILE;
  const inDir = [...files.keys()].filter((p) => p.startsWith(prefix)).sort();
  let vectorCount = 0;

  let manifest: Record<string, unknown> = {};
  const manifestBytes = files.get(manifestPath);
  if (!manifestBytes) fail(manifestPath, 'missing: every vector directory needs a manifest');
  else {
    try {
      const m = parseJson(manifestBytes);
      if (!isObject(m) || m.format !== VECTOR_FORMAT || m.version !== VECTOR_FORMAT_VERSION || m.suite !== SUITE_ID || !isObject(m.files)) {
        fail(manifestPath, `not a ${VECTOR_FORMAT} v${VECTOR_FORMAT_VERSION} manifest for suite ${SUITE_ID}`);
      } else manifest = m.files;
    } catch (err) {
      fail(manifestPath, `not valid JSON: ${(err as Error).message}`);
    }
  }
  for (const name of Object.keys(manifest)) {
    if (!files.has(prefix + name)) fail(prefix + name, 'listed in the manifest but missing');
  }
  for (const [kind] of registeredVectorKinds()) {
    if (!files.has(`${prefix}${kind}.json`)) fail(`${prefix}${kind}.json`, `missing: no vectors for registered kind '${kind}'`);
  }

  for (const path of inDir) {
    if (path === manifestPath) continue;
    const bytes = files.get(path)!;
    const base = path.slice(prefix.length);
    const listed = manifest[base];
    let digests: Record<string, unknown> | null = null;
    if (!isObject(listed) || typeof listed.sha256 !== 'string' || !isObject(listed.vectors)) fail(path, 'not listed in the manifest (or its entry is malformed)');
    else {
      if (listed.sha256 !== toHex(sha256(bytes))) fail(path, 'SHA-256 differs from the manifest (the file was altered)');
      digests = listed.vectors;
    }
    const match = /^([a-z0-9][a-z0-9-]*)\.json$/.exec(base);
    const def = match ? vectorKind(match[1]!) : undefined;
    if (!match || !def) {
      fail(path, 'unknown file: not a registered vector kind');
      continue;
    }
    let file: unknown;
    try {
      file = parseJson(bytes);
    } catch (err) {
      fail(path, `not valid JSON: ${(err as Error).message}`);
      continue;
    }
    if (!isObject(file) || file.format !== VECTOR_FORMAT || file.version !== VECTOR_FORMAT_VERSION || file.suite !== SUITE_ID || file.kind !== match[1] || !Array.isArray(file.vectors)) {
      fail(path, `header must be { format: ${VECTOR_FORMAT}, version: ${VECTOR_FORMAT_VERSION}, suite: ${SUITE_ID}, kind: ${match[1]}, vectors: [...] }`);
      continue;
    }
    if (file.description !== def.description) fail(path, 'description differs from the registered kind');
    if (digests) {
      const names = new Set((file.vectors as unknown[]).map((v) => (isObject(v) ? v.name : undefined)));
      for (const name of Object.keys(digests)) if (!names.has(name)) fail(path, 'listed in the manifest but missing from the file', name);
    }
    const extra = Object.keys(file).filter((k) => !['format', 'version', 'suite', 'kind', 'description', 'vectors'].includes(k));
    if (extra.length > 0) fail(path, `unexpected header field(s): ${extra.join(', ')}`);
    const seen = new Set<string>();
    for (const [i, raw] of (file.vectors as unknown[]).entries()) {
      const label = isObject(raw) && typeof raw.name === 'string' ? raw.name : `#${i}`;
      if (!isObject(raw) || typeof raw.name !== 'string' || raw.name.length === 0) {
        fail(path, 'vector has no name', label);
        continue;
      }
      if (seen.has(raw.name)) fail(path, 'duplicate vector name', label);
      seen.add(raw.name);
      if (digests) {
        const want = digests[raw.name];
        if (typeof want !== 'string') fail(path, 'not listed in the manifest (renamed or added)', label);
        else if (want !== vectorDigest(raw)) fail(path, 'differs from its SHA-256 in the manifest (the vector was altered)', label);
      }
      vectorCount++;
      try {
        await def.verify(raw as Vector);
      } catch (err) {
        const e = err as { code?: string; message?: string };
        fail(path, `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`, label);
      }
    }
  }
  return { ok: failures.length === 0, files: inDir.length, vectors: vectorCount, failures };
}
