/**
 * One framed connection over a `ws` WebSocket, shared by server and client: owns the
 * FrameWriter/FrameReader pair (sequence numbers, chunking, caps), counts bytes, and
 * turns every framing error into a typed `error` frame followed by a close with the
 * error's close code. Knows nothing about rounds or authentication.
 */
import type WebSocket from 'ws';
import { FrameReader, FrameWriter } from './chunking.js';
import { TransportError, closeCodeFor } from './errors.js';
import type { FrameTypeName, RuntimeMessage } from './frames.js';
import type { Limits } from './limits.js';

export interface ConnectionEvents {
  /** A complete, decoded message. Errors thrown by the handler close the connection. */
  onMessage(msg: RuntimeMessage): void;
  /** The socket closed (for any reason); `error` is set when we closed it over an error. */
  onClose(code: number, reason: string, error: TransportError | null): void;
}

export class Connection {
  readonly reader: FrameReader;
  private readonly writer: FrameWriter;
  bytesIn = 0;
  bytesOut = 0;
  /** ms timestamp of the last frame or pong received. */
  lastSeen = Date.now();
  private closed = false;
  private closeError: TransportError | null = null;

  constructor(
    readonly socket: WebSocket,
    limits: Limits,
    private readonly events: ConnectionEvents,
  ) {
    this.reader = new FrameReader(limits);
    this.writer = new FrameWriter(limits);
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data, isBinary) => this.onData(data as Buffer, isBinary));
    socket.on('pong', () => {
      this.lastSeen = Date.now();
    });
    socket.on('ping', () => {
      this.lastSeen = Date.now();
    });
    socket.on('close', (code, reason) => {
      this.closed = true;
      this.events.onClose(code, reason.toString('utf8'), this.closeError);
    });
    socket.on('error', (err: Error & { code?: string }) => {
      // ws raises its own errors (e.g. WS_ERR_UNSUPPORTED_MESSAGE_LENGTH for a frame over
      // maxPayload) and closes with 1009/1002 itself; record them as typed errors.
      const code = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'ERR_FRAME_TOO_LARGE' : 'ERR_FRAME_MALFORMED';
      this.closeError ??= new TransportError(code, `websocket: ${err.message}`, { cause: err });
    });
  }

  get isOpen(): boolean {
    return !this.closed && this.socket.readyState === 1;
  }

  /** Adopts the peer's announced chunk size for what we send (never above our own). */
  limitSendChunkBytes(peerChunkBytes: number): void {
    this.writer.limitChunkBytes(peerChunkBytes);
  }

  /** Caps bulk messages to what the current state needs (null: the configured maximum). */
  setBulkCap(bytes: number | null): void {
    this.reader.bulkCap = bytes;
  }

  /** Restricts which message types are accepted (checked before any allocation). */
  setAccept(accept: (type: FrameTypeName) => boolean): void {
    this.reader.accept = accept;
  }

  private onData(data: Buffer, isBinary: boolean): void {
    if (this.closed || this.closeError) return;
    this.bytesIn += data.length;
    this.lastSeen = Date.now();
    try {
      if (!isBinary) throw new TransportError('ERR_FRAME_MALFORMED', 'text frames are not part of the protocol');
      const msg = this.reader.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      if (msg) this.events.onMessage(msg);
    } catch (err) {
      this.fail(err instanceof TransportError ? err : new TransportError('ERR_INTERNAL', String((err as Error)?.message ?? err), { cause: err }));
    }
  }

  /**
   * Sends one message (chunked as needed). Returns false when the socket is already closed.
   * @throws TransportError ERR_BAD_PAYLOAD / ERR_FRAME_TOO_LARGE for a message we must not send.
   */
  send(msg: RuntimeMessage): boolean {
    if (!this.isOpen) return false;
    for (const frame of this.writer.frames(msg)) {
      this.bytesOut += frame.length;
      this.socket.send(frame, { binary: true });
    }
    return true;
  }

  /** Sends raw bytes as one ws message, bypassing the writer (fault-injection tests only). */
  sendRaw(bytes: Uint8Array): void {
    this.bytesOut += bytes.length;
    this.socket.send(bytes, { binary: true });
  }

  /** Sends a typed `error` frame and closes with the error's close code. */
  fail(err: TransportError): void {
    if (this.closed || this.closeError) return;
    this.closeError = err;
    try {
      this.send({ type: 'error', code: err.code, message: err.message });
    } catch {
      // the error frame is best effort; the close code carries the class of failure
    }
    this.close(err.closeCode, err.code);
  }

  /** Closes the socket with `code` (a 4xxx runtime code or 1000/1001). */
  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    try {
      this.socket.close(code, reason.slice(0, 120));
    } catch {
      this.socket.terminate();
    }
    // A peer that never answers the close handshake must not keep us waiting.
    const timer = setTimeout(() => this.socket.terminate(), 2000);
    timer.unref();
  }

  /** Sends a ws ping; the pong updates `lastSeen`. */
  ping(): void {
    if (this.isOpen) this.socket.ping();
  }

  /** Hard-closes without a close handshake (a real network drop from the peer's view). */
  terminate(): void {
    this.socket.terminate();
  }
}

export { closeCodeFor };
