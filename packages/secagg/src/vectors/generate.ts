/**
 * Generates the vector files: `v1/<kind>.json` for every registered kind plus
 * `v1/MANIFEST.json` (SHA-256 of each file). Pure: returns path -> bytes; the caller
 * writes them. Deterministic: kind K draws from seededRng(SHA-256("fedmeta/test-vectors/v1/" + K)).
 */
import { SUITE_ID } from '../crypto/hkdf.js';
import { sha256 } from '../crypto/sha256.js';
import { toHex } from '../crypto/bytes.js';
import { seededRng } from '../rng.js';
import { loadVectorKinds } from './load.js';
import { registeredVectorKinds, type Vector } from './registry.js';

export const VECTOR_FORMAT = 'fedmeta-test-vectors';
export const VECTOR_FORMAT_VERSION = 1;
/** The directory (under the vectors root) holding this version's files. */
export const VECTOR_VERSION_DIR = 'v1';
export const VECTOR_MANIFEST_FILE = 'MANIFEST.json';

/** Header + vectors of one `v1/<kind>.json`. */
export interface VectorFile {
  format: typeof VECTOR_FORMAT;
  version: typeof VECTOR_FORMAT_VERSION;
  suite: string;
  kind: string;
  description: string;
  vectors: Vector[];
}

/**
 * `v1/MANIFEST.json`: for each file, the SHA-256 of its exact bytes and of each vector's
 * compact JSON (vectorDigest), so an altered byte is pinned to its vector even where
 * recomputation cannot notice (e.g. one invalid input swapped for another).
 */
export interface VectorManifest {
  format: typeof VECTOR_FORMAT;
  version: typeof VECTOR_FORMAT_VERSION;
  suite: string;
  files: Record<string, { sha256: string; vectors: Record<string, string> }>;
}

/** Lower-case hex SHA-256 of JSON.stringify(vector) (fields in file order, no whitespace). */
export function vectorDigest(vector: unknown): string {
  return toHex(sha256(new TextEncoder().encode(JSON.stringify(vector))));
}

/** The seeded Rng a kind's generator receives. */
export function vectorKindRng(kind: string) {
  return seededRng(sha256(new TextEncoder().encode(`fedmeta/test-vectors/v1/${kind}`)));
}

/** Canonical serialisation: two-space JSON and a final newline. */
export function serializeVectorJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Every vector file, keyed by its path relative to the vectors root ("v1/x25519.json").
 * Each generated vector is verified before it is returned.
 * @throws Error when a kind generates duplicate names or a vector that fails its own verify
 */
export async function generateVectorFiles(): Promise<Map<string, Uint8Array>> {
  await loadVectorKinds();
  const files = new Map<string, Uint8Array>();
  const manifest: VectorManifest = { format: VECTOR_FORMAT, version: VECTOR_FORMAT_VERSION, suite: SUITE_ID, files: {} };
  for (const [kind, def] of registeredVectorKinds()) {
    const vectors = await def.generate(vectorKindRng(kind));
    const names = new Set<string>();
    for (const v of vectors) {
      if (names.has(v.name)) throw new Error(`vector kind ${kind}: duplicate vector name '${v.name}'`);
      names.add(v.name);
      try {
        await def.verify(JSON.parse(JSON.stringify(v)) as Vector);
      } catch (err) {
        throw new Error(`vector kind ${kind}: generated vector '${v.name}' fails its own verification: ${(err as Error).message}`, { cause: err });
      }
    }
    const file: VectorFile = { format: VECTOR_FORMAT, version: VECTOR_FORMAT_VERSION, suite: SUITE_ID, kind, description: def.description, vectors };
    const bytes = serializeVectorJson(file);
    files.set(`${VECTOR_VERSION_DIR}/${kind}.json`, bytes);
    const digests: Record<string, string> = {};
    for (const v of vectors) digests[v.name] = vectorDigest(v);
    manifest.files[`${kind}.json`] = { sha256: toHex(sha256(bytes)), vectors: digests };
  }
  files.set(`${VECTOR_VERSION_DIR}/${VECTOR_MANIFEST_FILE}`, serializeVectorJson(manifest));
  return files;
}
