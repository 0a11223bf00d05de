/**
 * A hand-driven WebSocket peer for the refusal tests: it speaks the real framing
 * (transport's FrameWriter/FrameReader) so it can authenticate, and then sends exactly
 * the bytes a test wants - replayed frames, garbage, oversized declarations.
 */
import WebSocket from 'ws';
import { ed25519Sign } from '@fedmeta/secagg';
import { authTranscript, FrameReader, FrameWriter, resolveLimits, type Limits, type RuntimeMessage } from '@fedmeta/transport';

export interface RawOutcome {
  /** The typed error frame the server sent before closing (if any). */
  errorCode: string | null;
  closeCode: number;
}

export class RawPeer {
  readonly limits: Limits = resolveLimits();
  readonly writer = new FrameWriter(this.limits);
  private readonly reader = new FrameReader(this.limits);
  readonly received: RuntimeMessage[] = [];
  /** Every frame this peer sent, in order (for replays). */
  readonly sent: Uint8Array[] = [];
  readonly outcome: Promise<RawOutcome>;
  private waiters: { pred: (m: RuntimeMessage) => boolean; resolve: (m: RuntimeMessage) => void }[] = [];

  private constructor(readonly socket: WebSocket) {
    let errorCode: string | null = null;
    this.outcome = new Promise((resolve) => {
      socket.on('close', (code) => resolve({ errorCode, closeCode: code }));
    });
    socket.on('message', (data: Buffer) => {
      const msg = this.reader.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      if (!msg) return;
      if (msg.type === 'error') errorCode = msg.code;
      this.received.push(msg);
      this.waiters = this.waiters.filter((w) => (w.pred(msg) ? (w.resolve(msg), false) : true));
    });
    socket.on('error', () => undefined);
  }

  static async connect(url: string): Promise<RawPeer> {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const peer = new RawPeer(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return peer;
  }

  next(pred: (m: RuntimeMessage) => boolean): Promise<RuntimeMessage> {
    const found = this.received.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  send(msg: RuntimeMessage): void {
    for (const f of this.writer.frames(msg)) this.sendRaw(f);
  }

  sendRaw(bytes: Uint8Array): void {
    this.sent.push(bytes);
    this.socket.send(bytes, { binary: true });
  }

  /** Answers the challenge with `identity` and waits for welcome (or the refusal). */
  async authenticate(identity: { publicKey: Uint8Array; secretKey: Uint8Array }): Promise<void> {
    const ch = await this.next((m) => m.type === 'challenge');
    if (ch.type !== 'challenge') throw new Error('unreachable');
    const clientNonce = crypto.getRandomValues(new Uint8Array(32));
    const signature = ed25519Sign(identity.secretKey, authTranscript(ch.federationId, ch.serverNonce, clientNonce, identity.publicKey));
    this.send({ type: 'auth', publicKey: identity.publicKey, clientNonce, signature });
  }
}
