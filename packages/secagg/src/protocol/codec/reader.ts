/**
 * A bounds-checked little-endian reader. Every read checks the remaining length first
 * and throws a typed ERR_DECODE_* error, so decoding garbage can never over-read,
 * over-allocate or hang (every loop is bounded by a count that was checked against
 * the bytes actually present).
 */
import { SecAggError } from '../../errors.js';

/** Raised for any malformed wire message. `code` is one of the ERR_DECODE_* codes. */
export class DecodeError extends SecAggError {
  override readonly name = 'DecodeError';
}

export class ByteReader {
  private offset = 0;
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  /** Throws ERR_DECODE_TRUNCATED unless `n` more bytes are present. */
  need(n: number, field: string): void {
    if (n > this.remaining) {
      throw new DecodeError(
        'ERR_DECODE_TRUNCATED',
        `${this.what}.${field}: needs ${n} bytes at offset ${this.offset}, ${this.remaining} left`,
      );
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.view.getUint8(this.offset++);
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }

  /** A copy of the next `n` bytes (copy: decoded messages never alias the input buffer). */
  bytesCopy(n: number, field: string): Uint8Array {
    this.need(n, field);
    const out = this.bytes.slice(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** A view (no copy) of the next `n` bytes, for immediate unpacking. */
  bytesView(n: number, field: string): Uint8Array {
    this.need(n, field);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /**
   * Reads a count and checks that `count * minEntryBytes` bytes remain and that it is
   * within `cap`, before the caller allocates anything for the entries.
   */
  count16(field: string, minEntryBytes: number, cap: number): number {
    const count = this.u16(`${field}.count`);
    if (count > cap) throw new DecodeError('ERR_DECODE_LIMIT', `${this.what}.${field}: count ${count} exceeds cap ${cap}`);
    this.need(count * minEntryBytes, field);
    return count;
  }

  /** Throws ERR_DECODE_TRAILING when bytes are left over. */
  end(): void {
    if (this.remaining !== 0) {
      throw new DecodeError('ERR_DECODE_TRAILING', `${this.what}: ${this.remaining} trailing bytes`);
    }
  }
}

/** A growable little-endian writer; encoders size it exactly up front where they can. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private offset = 0;
  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }
  private ensure(n: number): void {
    if (this.offset + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.offset + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.offset));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.ensure(1);
    this.view.setUint8(this.offset++, v);
  }
  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.offset, v, true);
    this.offset += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.offset, v, true);
    this.offset += 4;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.offset);
    this.offset += b.length;
  }
  /** Reserves `n` bytes and returns a view to fill in place (used for packed vectors). */
  reserve(n: number): Uint8Array {
    this.ensure(n);
    const view = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return view;
  }
  finish(): Uint8Array {
    return this.buf.length === this.offset ? this.buf : this.buf.slice(0, this.offset);
  }
}
