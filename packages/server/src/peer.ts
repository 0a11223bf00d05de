/**
 * One connected institution as seen by the server: a framed connection that goes
 * challenged -> ready -> closed. The handshake lives here (auth.ts holds the checks);
 * after it, messages go to whichever round handler is attached.
 */
import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import { Connection, TransportError, toHex, type Limits, type RuntimeMessage } from '@fedmeta/transport';
import { checkAuth, type Roster } from './auth.js';
import { IDLE_BULK_CAP, type RoundMember } from './round.js';

export type PeerState = 'challenged' | 'admitting' | 'ready' | 'closed';

export interface PeerContext {
  federationId: string;
  /** The roster in force now (it may be replaced while the server runs). */
  roster(): Roster;
  limits: Limits;
  authMs: number;
  /** Next round number, told to the client in the welcome frame. */
  nextRound(): number;
  /**
   * Called once the signature verified, before the welcome: resolves with null to admit
   * the peer, or with the refusal (e.g. another live session of the same identity).
   */
  admit(peer: Peer): Promise<TransportError | null>;
  /** Announced federation settings, sent in the welcome frame. */
  settings(): Record<string, unknown>;
  onReady(peer: Peer): void;
  onClosed(peer: Peer, error: TransportError | null): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>): void;
}

export class Peer implements RoundMember {
  readonly conn: Connection;
  state: PeerState = 'challenged';
  name = '';
  publicKeyHex = '';
  publicKey: Uint8Array = new Uint8Array(0);
  readonly connectedAt = new Date();
  /** Attached by the round driver; receives every post-handshake message except heartbeats. */
  handler: ((msg: RuntimeMessage) => void) | null = null;
  /** Called when the connection closes (round drivers use it to report drops). */
  closeListeners = new Set<(error: TransportError | null) => void>();
  private readonly serverNonce = randomBytes(32);
  private readonly authTimer: NodeJS.Timeout;

  constructor(
    socket: WebSocket,
    readonly remote: string,
    private readonly ctx: PeerContext,
  ) {
    this.conn = new Connection(socket, ctx.limits, {
      onMessage: (msg) => this.onMessage(msg),
      onClose: (code, reason, error) => this.onClose(code, reason, error),
    });
    // Before authentication only tiny control frames are accepted: a stranger cannot make
    // us allocate a bulk reassembly buffer.
    this.conn.setAccept((t) => t === 'auth' || t === 'heartbeat' || t === 'error');
    this.authTimer = setTimeout(() => this.conn.fail(new TransportError('ERR_AUTH_TIMEOUT', `no auth within ${ctx.authMs} ms`)), ctx.authMs);
    this.authTimer.unref();
    this.conn.send({ type: 'challenge', serverNonce: this.serverNonce, federationId: ctx.federationId, chunkBytes: ctx.limits.chunkBytes, maxMessageBytes: ctx.limits.maxMessageBytes });
  }

  private onMessage(msg: RuntimeMessage): void {
    if (msg.type === 'heartbeat') return;
    if (msg.type === 'error') {
      // A client refusing the federation under its own policy is an operator matter, not noise.
      const event = msg.code === 'ERR_POLICY_REFUSED' ? 'peer.policy-refused' : msg.code === 'ERR_SCHEMA_MISMATCH' ? 'peer.data-refused' : 'peer.error';
      this.ctx.log('warn', event, { peer: this.name || this.remote, code: msg.code, message: msg.message });
      return;
    }
    if (this.state === 'challenged') {
      if (msg.type !== 'auth') throw new TransportError('ERR_UNEXPECTED_FRAME', `${msg.type} before auth`);
      const entry = checkAuth(this.ctx.roster(), this.ctx.federationId, this.serverNonce, msg);
      this.state = 'admitting';
      this.name = entry.name;
      this.publicKey = entry.publicKey;
      this.publicKeyHex = toHex(entry.publicKey);
      void this.ctx.admit(this).then(
        (refusal) => this.admitted(refusal),
        (err: unknown) => this.conn.fail(new TransportError('ERR_INTERNAL', String((err as Error)?.message ?? err))),
      );
      return;
    }
    if (this.state === 'admitting') throw new TransportError('ERR_UNEXPECTED_FRAME', `${msg.type} before welcome`);
    if (!this.handler) {
      // A round-tagged message that arrives after its round closed (its phase deadline had
      // fired) is late, not hostile: drop it. Anything else outside a round is refused.
      if ((msg.type === 'secagg' || msg.type === 'progress' || msg.type === 'plainInput' || msg.type === 'evalReport') && msg.round < this.ctx.nextRound()) {
        this.ctx.log('debug', 'peer.late-message', { peer: this.name, type: msg.type, round: msg.round });
        return;
      }
      throw new TransportError('ERR_UNEXPECTED_FRAME', `${msg.type} outside a round`);
    }
    this.handler(msg);
  }

  private admitted(refusal: TransportError | null): void {
    if (this.state !== 'admitting' || !this.conn.isOpen) return;
    if (refusal) {
      this.ctx.log('warn', 'peer.refused', { peer: this.name, remote: this.remote, code: refusal.code, message: refusal.message });
      this.conn.fail(refusal);
      return;
    }
    // The roster may have changed while we waited (a revocation during the probe).
    const entry = this.ctx.roster().lookup(this.publicKey);
    if (!entry || entry.revoked) {
      this.conn.fail(new TransportError('ERR_AUTH_REVOKED', `the key of '${this.name}' is ${entry ? 'revoked' : 'no longer on the roster'}`));
      return;
    }
    clearTimeout(this.authTimer);
    this.state = 'ready';
    this.conn.setAccept((t) => t !== 'auth' && t !== 'challenge' && t !== 'welcome' && t !== 'roundStart' && t !== 'roundEnd' && t !== 'bye' && t !== 'finalModel');
    this.conn.setBulkCap(IDLE_BULK_CAP);
    this.conn.send({ type: 'welcome', name: this.name, nextRound: this.ctx.nextRound(), sessionId: randomBytes(16), settings: this.ctx.settings() });
    this.ctx.log('info', 'peer.authenticated', { peer: this.name, remote: this.remote });
    this.ctx.onReady(this);
  }

  private onClose(code: number, reason: string, error: TransportError | null): void {
    clearTimeout(this.authTimer);
    const wasReady = this.state === 'ready';
    this.state = 'closed';
    this.ctx.log(error ? 'warn' : 'info', 'peer.closed', { peer: this.name || this.remote, code, reason, error: error?.code });
    for (const l of this.closeListeners) l(error);
    if (wasReady || error) this.ctx.onClosed(this, error);
  }

  get isReady(): boolean {
    return this.state === 'ready' && this.conn.isOpen;
  }

  send(msg: RuntimeMessage): boolean {
    return this.conn.send(msg);
  }

  /** Closes the connection with a typed refusal (error frame, then the code's close). */
  refuse(err: TransportError): void {
    this.conn.fail(err);
  }

  setBulkCap(bytes: number): void {
    this.conn.setBulkCap(bytes);
  }
}
