/**
 * Small byte helpers shared by the crypto suite: argument checks with typed errors,
 * fixed-width integer encodings and hex. Kept here so every primitive validates its
 * inputs the same way (argument name in the message, stable error code).
 */
import { InvalidArgumentError } from '../errors.js';

/**
 * Asserts that `value` is a Uint8Array (optionally of an exact length).
 * @param value - the argument to check
 * @param name - the argument's name, used in the error message
 * @param length - the required length, if any
 * @throws InvalidArgumentError (code ERR_INVALID_ARGUMENT) on a wrong type or length
 */
export function assertBytes(value: unknown, name: string, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidArgumentError(`${name} must be a Uint8Array, got ${describe(value)}`);
  }
  if (length !== undefined && value.length !== length) {
    throw new InvalidArgumentError(`${name} must be ${length} bytes, got ${value.length}`);
  }
}

/**
 * Asserts that `value` is an integer in [min, max].
 * @throws InvalidArgumentError when it is not a number, not an integer or out of range
 */
export function assertInt(value: unknown, name: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}], got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

/** Concatenates byte arrays into a new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** The 2-byte big-endian encoding of an integer in [0, 65535]. */
export function u16be(value: number): Uint8Array {
  assertInt(value, 'value', 0, 0xffff);
  return Uint8Array.of(value >>> 8, value & 0xff);
}

/** The 4-byte big-endian encoding of an integer in [0, 2^32 - 1]. */
export function u32be(value: number): Uint8Array {
  assertInt(value, 'value', 0, 0xffffffff);
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/** Constant-time-ish equality of two byte arrays (no early exit on the first difference). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * Parses lower- or upper-case hex (even length, no prefix).
 * @param name - the field's name, used in the error message
 * @throws InvalidArgumentError (ERR_INVALID_ARGUMENT) for a non-string, odd length or a non-hex character
 */
export function fromHex(hex: unknown, name = 'hex'): Uint8Array {
  if (typeof hex !== 'string') throw new InvalidArgumentError(`${name} must be a hex string, got ${describe(hex)}`);
  if (hex.length % 2 !== 0) throw new InvalidArgumentError(`${name} must have an even number of hex digits, got ${hex.length}`);
  if (!/^[0-9a-fA-F]*$/.test(hex)) throw new InvalidArgumentError(`${name} contains a character that is not a hex digit`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Overwrites key material with zeros (best effort: JS engines may hold copies). */
export function wipe(bytes: Uint8Array): void {
  bytes.fill(0);
}
