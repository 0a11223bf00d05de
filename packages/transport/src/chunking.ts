/**
 * Frames and chunking. Every WebSocket binary message is one frame:
 *
 *   version u8 | type u8 | flags u8 | reserved u8 (0) | seq u32 | total u32 | offset u32 | chunk
 *
 * (big-endian, 16-byte header). `flags` bit 0 = FIRST, bit 1 = LAST; a message that fits
 * one frame has both. `seq` counts frames per direction from 0 and must increase by exactly
 * one: a replayed, dropped or reordered frame is ERR_REPLAY. `total` is the whole message
 * payload length, the same in every chunk, and is checked against the type's cap on the
 * FIRST frame, before the reassembly buffer is allocated. Interleaving rule: while a
 * chunked message is being reassembled, only single-frame control messages (heartbeat,
 * progress, error) may arrive in between; anything else is ERR_CHUNK_INTERLEAVED.
 */
import { TransportError } from './errors.js';
import { decodePayload, encodePayload, FRAME_TYPE, frameTypeName, payloadCap, type FrameTypeName, type RuntimeMessage } from './frames.js';
import { FRAME_HEADER_BYTES, type Limits } from './limits.js';

export const FRAME_VERSION = 1;
export const FLAG_FIRST = 1;
export const FLAG_LAST = 2;

/** Message types that may interleave with a chunked message (always single-frame). */
const INTERLEAVABLE: ReadonlySet<FrameTypeName> = new Set(['heartbeat', 'progress', 'error']);

/** Writes frames for one direction of one connection (owns the outgoing sequence number). */
export class FrameWriter {
  private seq = 0;
  private chunkBytes: number;
  constructor(private readonly limits: Limits) {
    this.chunkBytes = limits.chunkBytes;
  }

  /**
   * Lowers the outgoing chunk size to what the peer accepts (its challenge announces it);
   * never raises it above our own limit.
   * @throws TransportError ERR_BAD_PAYLOAD for a chunk size below 1 KiB
   */
  limitChunkBytes(peerChunkBytes: number): void {
    if (!Number.isInteger(peerChunkBytes) || peerChunkBytes < 1024) {
      throw new TransportError('ERR_BAD_PAYLOAD', `peer chunkBytes ${peerChunkBytes} is below the 1024-byte minimum`);
    }
    this.chunkBytes = Math.min(this.limits.chunkBytes, peerChunkBytes);
  }

  /**
   * Encodes `msg` and splits it into frames of at most `chunkBytes` payload each.
   * The frames must be sent in order, back to back.
   * @throws TransportError ERR_BAD_PAYLOAD for an invalid message, ERR_FRAME_TOO_LARGE over the cap.
   */
  frames(msg: RuntimeMessage): Uint8Array[] {
    const payload = encodePayload(msg, this.limits);
    const cap = payloadCap(msg.type, this.limits);
    if (payload.length > cap) {
      throw new TransportError('ERR_FRAME_TOO_LARGE', `${msg.type} payload is ${payload.length} bytes, cap ${cap}`);
    }
    const type = FRAME_TYPE[msg.type];
    const chunk = this.chunkBytes;
    const out: Uint8Array[] = [];
    let offset = 0;
    do {
      const len = Math.min(chunk, payload.length - offset);
      const frame = new Uint8Array(FRAME_HEADER_BYTES + len);
      const view = new DataView(frame.buffer);
      const flags = (offset === 0 ? FLAG_FIRST : 0) | (offset + len === payload.length ? FLAG_LAST : 0);
      view.setUint8(0, FRAME_VERSION);
      view.setUint8(1, type);
      view.setUint8(2, flags);
      view.setUint32(4, this.nextSeq());
      view.setUint32(8, payload.length);
      view.setUint32(12, offset);
      frame.set(payload.subarray(offset, offset + len), FRAME_HEADER_BYTES);
      out.push(frame);
      offset += len;
    } while (offset < payload.length);
    return out;
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) >>> 0;
    return s;
  }
}

interface Reassembly {
  type: FrameTypeName;
  total: number;
  received: number;
  buf: Uint8Array;
}

/**
 * Reads frames for one direction of one connection: an explicit state machine
 * (idle | reassembling) that validates each header before touching its payload.
 */
export class FrameReader {
  private expectedSeq = 0;
  private pending: Reassembly | null = null;
  /**
   * Which message types the owner accepts right now (e.g. only `auth` before the
   * handshake). Checked on the FIRST frame, before any allocation.
   */
  accept: (type: FrameTypeName) => boolean = () => true;
  /**
   * Optional tighter cap on bulk messages, set by the owner to what the current state can
   * legitimately need (e.g. a round's masked vector). Checked before allocation.
   */
  bulkCap: number | null = null;

  constructor(private readonly limits: Limits) {}

  /** Bytes currently held for reassembly (bounded by the type caps). */
  get bufferedBytes(): number {
    return this.pending?.buf.length ?? 0;
  }

  /**
   * Consumes one frame. Returns the complete message when this frame finishes one,
   * otherwise null.
   * @throws TransportError with a stable code; the connection must then be closed.
   */
  push(frame: Uint8Array): RuntimeMessage | null {
    if (frame.length < FRAME_HEADER_BYTES) {
      throw new TransportError('ERR_FRAME_MALFORMED', `frame is ${frame.length} bytes, shorter than the ${FRAME_HEADER_BYTES}-byte header`);
    }
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const version = view.getUint8(0);
    if (version !== FRAME_VERSION) throw new TransportError('ERR_UNSUPPORTED_VERSION', `frame version ${version}, expected ${FRAME_VERSION}`);
    const typeByte = view.getUint8(1);
    const type = frameTypeName(typeByte);
    if (type === undefined) throw new TransportError('ERR_UNKNOWN_FRAME_TYPE', `frame type 0x${typeByte.toString(16)} is not registered`);
    const flags = view.getUint8(2);
    if ((flags & ~(FLAG_FIRST | FLAG_LAST)) !== 0 || view.getUint8(3) !== 0) {
      throw new TransportError('ERR_FRAME_MALFORMED', `reserved flag bits set (flags=0x${flags.toString(16)})`);
    }
    const seq = view.getUint32(4);
    if (seq !== this.expectedSeq) {
      throw new TransportError('ERR_REPLAY', `frame seq ${seq}, expected ${this.expectedSeq} (replayed, dropped or reordered frame)`);
    }
    this.expectedSeq = (this.expectedSeq + 1) >>> 0;
    const total = view.getUint32(8);
    const offset = view.getUint32(12);
    const chunk = frame.subarray(FRAME_HEADER_BYTES);
    if (chunk.length > this.limits.chunkBytes) {
      throw new TransportError('ERR_FRAME_TOO_LARGE', `frame carries ${chunk.length} bytes, chunk cap ${this.limits.chunkBytes}`);
    }
    const first = (flags & FLAG_FIRST) !== 0;
    const last = (flags & FLAG_LAST) !== 0;
    if (first) return this.onFirst(type, total, offset, chunk, last);
    return this.onContinuation(type, total, offset, chunk, last);
  }

  private onFirst(type: FrameTypeName, total: number, offset: number, chunk: Uint8Array, last: boolean): RuntimeMessage | null {
    if (this.pending && !(last && INTERLEAVABLE.has(type))) {
      throw new TransportError('ERR_CHUNK_INTERLEAVED', `${type} started while ${this.pending.type} is ${this.pending.received}/${this.pending.total} bytes in`);
    }
    if (offset !== 0) throw new TransportError('ERR_CHUNK_MISMATCH', `first frame of ${type} has offset ${offset}`);
    const cap = payloadCap(type, this.limits);
    const bulk = this.bulkCap !== null && cap === this.limits.maxMessageBytes ? Math.min(cap, this.bulkCap) : cap;
    if (total > bulk) throw new TransportError('ERR_FRAME_TOO_LARGE', `${type} declares ${total} bytes, cap ${bulk}`);
    if (!this.accept(type)) throw new TransportError('ERR_UNEXPECTED_FRAME', `${type} is not accepted in this connection state`);
    if (last) {
      if (chunk.length !== total) throw new TransportError('ERR_CHUNK_MISMATCH', `${type} declares ${total} bytes, frame carries ${chunk.length}`);
      return decodePayload(type, chunk, this.limits);
    }
    if (chunk.length === 0 || chunk.length >= total) {
      throw new TransportError('ERR_CHUNK_MISMATCH', `${type} first chunk of ${chunk.length} bytes for a ${total}-byte message without LAST`);
    }
    const buf = new Uint8Array(total);
    buf.set(chunk);
    this.pending = { type, total, received: chunk.length, buf };
    return null;
  }

  private onContinuation(type: FrameTypeName, total: number, offset: number, chunk: Uint8Array, last: boolean): RuntimeMessage | null {
    const p = this.pending;
    if (!p || p.type !== type) {
      throw new TransportError('ERR_CHUNK_INTERLEAVED', `continuation of ${type} without a matching first frame`);
    }
    if (total !== p.total || offset !== p.received) {
      throw new TransportError('ERR_CHUNK_MISMATCH', `${type} chunk (total ${total}, offset ${offset}) does not continue (total ${p.total}, offset ${p.received})`);
    }
    const end = p.received + chunk.length;
    if (chunk.length === 0 || end > p.total || (last ? end !== p.total : end === p.total)) {
      throw new TransportError('ERR_CHUNK_MISMATCH', `${type} chunk ends at ${end} of ${p.total} (last=${last})`);
    }
    p.buf.set(chunk, p.received);
    p.received = end;
    if (!last) return null;
    this.pending = null;
    return decodePayload(type, p.buf, this.limits);
  }
}
