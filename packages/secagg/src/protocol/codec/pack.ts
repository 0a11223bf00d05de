/**
 * Bit packing of vectors mod 2^bits: entry i occupies bits [i*bits, (i+1)*bits) of an
 * LSB-first bit stream, i.e. little-endian; bits = 32 is plain little-endian uint32.
 * Unused high bits of the last byte must be zero (one canonical encoding per vector).
 */
import { DecodeError } from './reader.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Bytes needed to pack `length` entries of `bits` bits. */
export function packedByteLength(length: number, bits: number): number {
  return Math.ceil((length * bits) / 8);
}

/** Packs `vector` (entries already < 2^bits) into `out` (exactly packedByteLength bytes). */
export function packInto(vector: Uint32Array, bits: number, out: Uint8Array): void {
  if (bits === 32) {
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength));
    } else {
      const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
      for (let i = 0; i < vector.length; i++) view.setUint32(4 * i, vector[i]!, true);
    }
    return;
  }
  // acc holds < 8 + bits <= 39 pending bits: exact in a double, so use arithmetic, not
  // 32-bit bitwise operators.
  let acc = 0;
  let accBits = 0;
  let o = 0;
  let scale = 1; // 2^accBits
  for (let i = 0; i < vector.length; i++) {
    acc += vector[i]! * scale;
    accBits += bits;
    scale *= 2 ** bits;
    while (accBits >= 8) {
      out[o++] = acc % 256;
      acc = Math.floor(acc / 256);
      accBits -= 8;
      scale /= 256;
    }
  }
  if (accBits > 0) out[o++] = acc;
}

/**
 * Unpacks `length` entries of `bits` bits from `packed` (exactly packedByteLength bytes).
 * @throws DecodeError ERR_DECODE_NONCANONICAL when padding bits are not zero.
 */
export function unpack(packed: Uint8Array, length: number, bits: number, what: string): Uint32Array {
  const out = new Uint32Array(length);
  if (bits === 32) {
    if (LITTLE_ENDIAN) {
      new Uint8Array(out.buffer).set(packed);
    } else {
      const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
      for (let i = 0; i < length; i++) out[i] = view.getUint32(4 * i, true);
    }
    return out;
  }
  const modulus = 2 ** bits;
  let acc = 0;
  let accBits = 0;
  let scale = 1;
  let p = 0;
  for (let i = 0; i < length; i++) {
    while (accBits < bits) {
      acc += packed[p++]! * scale;
      scale *= 256;
      accBits += 8;
    }
    out[i] = acc % modulus;
    acc = Math.floor(acc / modulus);
    scale /= modulus;
    accBits -= bits;
  }
  if (acc !== 0 || p !== packed.length) {
    throw new DecodeError('ERR_DECODE_NONCANONICAL', `${what}: non-zero padding bits after the last entry`);
  }
  return out;
}
