import { TransportError } from './errors.js';

/** Lower-case hex of bytes. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/**
 * Parses lower/upper-case hex of an exact byte length.
 * @throws TransportError ERR_BAD_PAYLOAD naming `field`.
 */
export function fromHex(s: unknown, bytes: number, field: string): Uint8Array {
  if (typeof s !== 'string' || s.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new TransportError('ERR_BAD_PAYLOAD', `${field} must be ${bytes * 2} hex characters`);
  }
  return new Uint8Array(Buffer.from(s, 'hex'));
}
