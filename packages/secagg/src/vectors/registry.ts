/**
 * The test-vector registry. Each vector kind owns one file, `v1/<kind>.json`, and two
 * functions: `generate` (deterministic given the Rng it is handed) and `verify` (recompute
 * one vector from its inputs with the implementation; throw on any difference).
 *
 * Extension point: any module may call registerVectorKind. The protocol layer's round
 * transcripts live in src/vectors/transcripts.ts, which loadVectorKinds() imports when it
 * exists (see index.ts).
 */
import { InvalidArgumentError } from '../errors.js';
import type { Rng } from '../rng.js';

/** A JSON value as it appears in a vector file (bytes are always lower-case hex strings). */
export type VectorValue = string | number | boolean | null | VectorValue[] | { [field: string]: VectorValue };

/** One vector: a stable, unique (per file) `name` plus kind-specific fields in snake_case. */
export interface Vector {
  name: string;
  [field: string]: VectorValue;
}

export interface VectorKind {
  /** One line saying what the vectors pin down; written into the file header. */
  description: string;
  /** The kind's vectors. Must be deterministic given `rng` (a seeded generator). */
  generate(rng: Rng): Vector[] | Promise<Vector[]>;
  /**
   * Recomputes `vector` from its inputs and throws (any Error; VectorMismatchError names
   * the field) if an output differs, a field is malformed, missing or unexpected.
   */
  verify(vector: Vector): void | Promise<void>;
}

const kinds = new Map<string, VectorKind>();

/**
 * Registers a vector kind; its file is `v1/<kind>.json`.
 * @param kind - lower-case letters, digits and dashes, e.g. "x25519" or "transcript"
 * @throws InvalidArgumentError for a bad name, a missing function, or a kind registered twice
 */
export function registerVectorKind(kind: string, definition: VectorKind): void {
  if (typeof kind !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(kind)) {
    throw new InvalidArgumentError(`vector kind must match /^[a-z0-9][a-z0-9-]*$/, got ${JSON.stringify(kind)}`);
  }
  if (kind === 'manifest') throw new InvalidArgumentError('vector kind "manifest" is reserved');
  if (kinds.has(kind)) throw new InvalidArgumentError(`vector kind "${kind}" is already registered`);
  if (!definition || typeof definition.generate !== 'function' || typeof definition.verify !== 'function' || typeof definition.description !== 'string') {
    throw new InvalidArgumentError(`vector kind "${kind}" needs description, generate and verify`);
  }
  kinds.set(kind, definition);
}

/** The registered kinds, sorted by name (the generation and verification order). */
export function registeredVectorKinds(): Array<[string, VectorKind]> {
  return [...kinds.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The definition of `kind`, or undefined. */
export function vectorKind(kind: string): VectorKind | undefined {
  return kinds.get(kind);
}
