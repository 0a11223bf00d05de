/**
 * Strict readers for vector fields. Verification reads every field through these, so a
 * malformed, missing or unexpected field fails with the field's name, and an output that
 * differs fails with a VectorMismatchError showing expected and actual.
 */
import { SecAggError } from '../errors.js';
import { toHex } from '../crypto/bytes.js';
import type { Vector, VectorValue } from './registry.js';

/** A recomputed value differs from the one in the file. */
export class VectorMismatchError extends SecAggError {
  override readonly name = 'VectorMismatchError';
  constructor(readonly field: string, expected: string, actual: string) {
    super('ERR_VECTOR_MISMATCH', `field '${field}' differs: file has ${clip(expected)}, implementation gives ${clip(actual)}`);
  }
}

/** A field is missing, unexpected or of the wrong type. */
export class VectorFormatError extends SecAggError {
  override readonly name = 'VectorFormatError';
  constructor(message: string) {
    super('ERR_VECTOR_MALFORMED', message);
  }
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Asserts the vector has exactly the fields `required` plus any of `optional`. */
export function expectFields(v: Vector, required: readonly string[], optional: readonly string[] = []): void {
  const allowed = new Set(['name', ...required, ...optional]);
  for (const key of Object.keys(v)) if (!allowed.has(key)) throw new VectorFormatError(`unexpected field '${key}'`);
  for (const key of required) if (!(key in v)) throw new VectorFormatError(`missing field '${key}'`);
}

/** A lower-case hex field as bytes (optionally of a fixed length). */
export function hexField(v: { [k: string]: VectorValue }, field: string, length?: number): Uint8Array {
  const value = v[field];
  if (typeof value !== 'string' || value.length % 2 !== 0 || !/^[0-9a-f]*$/.test(value)) {
    throw new VectorFormatError(`field '${field}' must be an even-length lower-case hex string`);
  }
  const bytes = new Uint8Array(Buffer.from(value, 'hex'));
  if (length !== undefined && bytes.length !== length) throw new VectorFormatError(`field '${field}' must be ${length} bytes, has ${bytes.length}`);
  return bytes;
}

/** An integer field in [min, max]. */
export function intField(v: { [k: string]: VectorValue }, field: string, min: number, max: number): number {
  const value = v[field];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new VectorFormatError(`field '${field}' must be an integer in [${min}, ${max}]`);
  }
  return value;
}

/** A finite number field. */
export function numberField(v: { [k: string]: VectorValue }, field: string): number {
  const value = v[field];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new VectorFormatError(`field '${field}' must be a finite number`);
  return value;
}

/** A string field, optionally one of `allowed`. */
export function stringField(v: { [k: string]: VectorValue }, field: string, allowed?: readonly string[]): string {
  const value = v[field];
  if (typeof value !== 'string') throw new VectorFormatError(`field '${field}' must be a string`);
  if (allowed && !allowed.includes(value)) throw new VectorFormatError(`field '${field}' must be one of ${allowed.join(', ')}`);
  return value;
}

/** A boolean field. */
export function boolField(v: { [k: string]: VectorValue }, field: string): boolean {
  const value = v[field];
  if (typeof value !== 'boolean') throw new VectorFormatError(`field '${field}' must be true or false`);
  return value;
}

/** An array field. */
export function arrayField(v: { [k: string]: VectorValue }, field: string): VectorValue[] {
  const value = v[field];
  if (!Array.isArray(value)) throw new VectorFormatError(`field '${field}' must be an array`);
  return value;
}

/** An object field. */
export function objectField(v: { [k: string]: VectorValue }, field: string): { [k: string]: VectorValue } {
  const value = v[field];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new VectorFormatError(`field '${field}' must be an object`);
  return value;
}

/** Throws VectorMismatchError unless `actual` bytes equal the hex `expected`. */
export function expectHex(field: string, expected: string, actual: Uint8Array): void {
  const got = toHex(actual);
  if (got !== expected) throw new VectorMismatchError(field, expected, got);
}

/** Throws VectorMismatchError unless the two JSON-representable values are equal. */
export function expectSame(field: string, expected: VectorValue, actual: VectorValue): void {
  const e = JSON.stringify(expected);
  const a = JSON.stringify(actual);
  if (e !== a) throw new VectorMismatchError(field, e, a);
}

/** Runs `fn`, which must throw an error with `code`; else VectorMismatchError on 'expect_error'. */
export async function expectErrorCode(code: string, fn: () => unknown): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const got = (err as { code?: unknown }).code;
    if (got === code) return;
    throw new VectorMismatchError('expect_error', code, `error ${String(got)}: ${(err as Error).message}`);
  }
  throw new VectorMismatchError('expect_error', code, 'no error');
}

/** Little-endian bytes of 32-bit words (the wire order of masks and encoded vectors). */
export function wordsToHex(words: Uint32Array): string {
  const out = new Uint8Array(words.length * 4);
  const dv = new DataView(out.buffer);
  words.forEach((w, i) => dv.setUint32(4 * i, w, true));
  return toHex(out);
}

/** Parses little-endian 32-bit words from a hex field. */
export function wordsField(v: { [k: string]: VectorValue }, field: string): Uint32Array {
  const bytes = hexField(v, field);
  if (bytes.length % 4 !== 0) throw new VectorFormatError(`field '${field}' must hold whole 32-bit words`);
  const dv = new DataView(bytes.buffer);
  return Uint32Array.from({ length: bytes.length / 4 }, (_, i) => dv.getUint32(4 * i, true));
}
