/**
 * Opening one authenticated session: connect (ws or wss with a pinned CA), read the
 * server's challenge, sign the auth transcript with the identity key, wait for welcome.
 * Everything the server sends is validated; a refusal arrives as a typed error frame
 * and/or a 44xx close code, both surfaced as a TransportError with that code.
 */
import { ed25519Sign } from '@fedmeta/secagg';
import {
  authTranscript,
  Connection,
  isTransportErrorCode,
  TransportError,
  TRANSPORT_ERRORS,
  wsMaxPayload,
  type Limits,
  type MessageOf,
  type RuntimeMessage,
} from '@fedmeta/transport';
import WebSocket from 'ws';
import type { ClientOptions } from './options.js';

export interface Session {
  conn: Connection;
  challenge: MessageOf<'challenge'>;
  welcome: MessageOf<'welcome'>;
  /** Replace to receive post-handshake messages. */
  onMessage: (msg: RuntimeMessage) => void;
  /** Replace to learn about the close (code, typed error if any). */
  onClose: (code: number, error: TransportError | null) => void;
  /** Installs both handlers and replays anything that arrived before. */
  attach(onMessage: (msg: RuntimeMessage) => void, onClose: (code: number, error: TransportError | null) => void): void;
}

const codeByClose = new Map<number, keyof typeof TRANSPORT_ERRORS>(
  (Object.entries(TRANSPORT_ERRORS) as [keyof typeof TRANSPORT_ERRORS, number][]).map(([k, v]) => [v, k]),
);

/** The typed error for a close by the peer (its error frame wins over the close code). */
export function errorForClose(code: number, reason: string, frame: MessageOf<'error'> | null): TransportError | null {
  if (frame) {
    return isTransportErrorCode(frame.code)
      ? new TransportError(frame.code, `server: ${frame.message}`)
      : new TransportError('ERR_INTERNAL', `server sent unregistered code ${frame.code}: ${frame.message}`);
  }
  const byCode = codeByClose.get(code);
  if (byCode) return new TransportError(byCode, `server closed with ${code} ${reason}`);
  if (code === 1009) return new TransportError('ERR_FRAME_TOO_LARGE', `server closed with 1009 ${reason}`);
  return null;
}

/**
 * Connects and authenticates.
 * @throws TransportError: the server's refusal code (e.g. ERR_AUTH_UNKNOWN_KEY), ERR_CLOSED on a
 *   dropped connection, ERR_AUTH_TIMEOUT when the handshake stalls, ERR_BAD_PAYLOAD for a server
 *   announcing another federation id
 */
export function openSession(options: ClientOptions, limits: Limits, handshakeMs = 15_000): Promise<Session> {
  return new Promise((resolve, reject) => {
    const tls = options.tls;
    const socket = new WebSocket(options.url, {
      maxPayload: wsMaxPayload(limits),
      perMessageDeflate: false,
      handshakeTimeout: handshakeMs,
      ...(tls?.ca ? { ca: Buffer.from(tls.ca) } : {}),
      ...(tls?.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
    });
    let settled = false;
    let errorFrame: MessageOf<'error'> | null = null;
    let challenge: MessageOf<'challenge'> | null = null;
    let session: Session | null = null;
    const timer = setTimeout(() => fail(new TransportError('ERR_AUTH_TIMEOUT', `no welcome within ${handshakeMs} ms`)), handshakeMs);
    const fail = (err: TransportError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.terminate();
      reject(err);
    };
    socket.on('error', (err) => {
      if (!settled && socket.readyState !== WebSocket.OPEN) fail(new TransportError('ERR_CLOSED', `cannot connect to ${options.url}: ${err.message}`, { cause: err }));
    });
    socket.on('open', () => {
      const conn = new Connection(socket, limits, {
        onMessage: (msg) => {
          if (session) return session.onMessage(msg);
          if (msg.type === 'error') {
            errorFrame = msg;
            return;
          }
          if (msg.type === 'heartbeat') return;
          if (msg.type === 'challenge' && !challenge) {
            if (options.federationId !== undefined && msg.federationId !== options.federationId) {
              throw new TransportError('ERR_BAD_PAYLOAD', `challenge.federationId '${msg.federationId}' is not the expected '${options.federationId}'`);
            }
            challenge = msg;
            conn.limitSendChunkBytes(msg.chunkBytes);
            const clientNonce = (options.rng ? options.rng.fill(new Uint8Array(32)) : crypto.getRandomValues(new Uint8Array(32)));
            const signature = ed25519Sign(options.identity.secretKey, authTranscript(msg.federationId, msg.serverNonce, clientNonce, options.identity.publicKey));
            conn.send({ type: 'auth', publicKey: options.identity.publicKey, clientNonce, signature });
            return;
          }
          if (msg.type === 'welcome' && challenge) {
            settled = true;
            clearTimeout(timer);
            // Frames that arrive in the same read as the welcome (e.g. an immediate roundStart)
            // are queued until the caller attaches its handler; see attach().
            const queued: RuntimeMessage[] = [];
            let closedEarly: [number, TransportError | null] | null = null;
            session = {
              conn,
              challenge,
              welcome: msg,
              onMessage: (m) => void queued.push(m),
              onClose: (code, err) => void (closedEarly = [code, err]),
              attach(onMessage, onClose) {
                this.onMessage = onMessage;
                this.onClose = onClose;
                for (const m of queued.splice(0)) onMessage(m);
                if (closedEarly) onClose(...closedEarly);
              },
            };
            conn.setAccept((t) => t !== 'auth' && t !== 'challenge' && t !== 'welcome' && t !== 'plainInput');
            resolve(session);
            return;
          }
          throw new TransportError('ERR_UNEXPECTED_FRAME', `${msg.type} during the handshake`);
        },
        onClose: (code, reason, error) => {
          const err = error ?? errorForClose(code, reason, errorFrame);
          if (session) return session.onClose(code, err);
          fail(err ?? new TransportError('ERR_CLOSED', `connection closed during the handshake (${code} ${reason})`));
        },
      });
      conn.setAccept((t) => t === 'challenge' || t === 'welcome' || t === 'error' || t === 'heartbeat');
    });
  });
}
