import { TransportError } from './errors.js';

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** Growable big-endian writer for frame payloads. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;
  constructor(initial = 64) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }
  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): this {
    this.reserve(1);
    this.view.setUint8(this.len, v);
    this.len += 1;
    return this;
  }
  u16(v: number): this {
    this.reserve(2);
    this.view.setUint16(this.len, v);
    this.len += 2;
    return this;
  }
  u32(v: number): this {
    this.reserve(4);
    this.view.setUint32(this.len, v);
    this.len += 4;
    return this;
  }
  f64(v: number): this {
    this.reserve(8);
    this.view.setFloat64(this.len, v);
    this.len += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }
  /** A UTF-8 string prefixed by its u16 byte length. */
  str16(s: string, max: number, field: string): this {
    const b = utf8Encoder.encode(s);
    if (b.length > max) throw new TransportError('ERR_BAD_PAYLOAD', `${field} is ${b.length} bytes, cap ${max}`);
    return this.u16(b.length).bytes(b);
  }
  /** A UTF-8 string prefixed by its u32 byte length. */
  str32(s: string, max: number, field: string): this {
    const b = utf8Encoder.encode(s);
    if (b.length > max) throw new TransportError('ERR_BAD_PAYLOAD', `${field} is ${b.length} bytes, cap ${max}`);
    return this.u32(b.length).bytes(b);
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** Bounds-checked big-endian reader: every overrun is a typed ERR_BAD_PAYLOAD naming the field. */
export class ByteReader {
  private off = 0;
  private readonly view: DataView;
  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number, field: string): void {
    if (this.off + n > this.buf.length) {
      throw new TransportError('ERR_BAD_PAYLOAD', `${this.what}.${field}: needs ${n} bytes at offset ${this.off}, payload is ${this.buf.length}`);
    }
  }
  u8(field: string): number {
    this.need(1, field);
    return this.view.getUint8(this.off++);
  }
  u16(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.off);
    this.off += 2;
    return v;
  }
  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.off);
    this.off += 4;
    return v;
  }
  f64(field: string): number {
    this.need(8, field);
    const v = this.view.getFloat64(this.off);
    this.off += 8;
    return v;
  }
  /** A view (no copy) of the next `n` bytes. */
  bytes(n: number, field: string): Uint8Array {
    this.need(n, field);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }
  str16(field: string, max: number): string {
    const n = this.u16(`${field}.length`);
    if (n > max) throw new TransportError('ERR_BAD_PAYLOAD', `${this.what}.${field} is ${n} bytes, cap ${max}`);
    return this.utf8(this.bytes(n, field), field);
  }
  str32(field: string, max: number): string {
    const n = this.u32(`${field}.length`);
    if (n > max) throw new TransportError('ERR_BAD_PAYLOAD', `${this.what}.${field} is ${n} bytes, cap ${max}`);
    return this.utf8(this.bytes(n, field), field);
  }
  private utf8(b: Uint8Array, field: string): string {
    try {
      return utf8Decoder.decode(b);
    } catch (cause) {
      throw new TransportError('ERR_BAD_PAYLOAD', `${this.what}.${field} is not valid UTF-8`, { cause });
    }
  }
  /** The rest of the payload (no copy). */
  rest(): Uint8Array {
    const b = this.buf.subarray(this.off);
    this.off = this.buf.length;
    return b;
  }
  get remaining(): number {
    return this.buf.length - this.off;
  }
  /** Asserts the payload was consumed exactly: trailing bytes are malformed, not ignored. */
  end(): void {
    if (this.off !== this.buf.length) {
      throw new TransportError('ERR_BAD_PAYLOAD', `${this.what}: ${this.buf.length - this.off} trailing bytes`);
    }
  }
}
