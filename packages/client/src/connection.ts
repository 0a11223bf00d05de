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
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect as tlsConnect, type DetailedPeerCertificate, type PeerCertificate } from 'node:tls';
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
      ? new TransportError(frame.code, `server: ${frame.message.startsWith(`${frame.code}: `) ? frame.message.slice(frame.code.length + 2) : frame.message}`)
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
 *   announcing another federation id, ERR_TLS_UNTRUSTED / ERR_TLS_HOSTNAME / ERR_TLS_EXPIRED /
 *   ERR_TLS_PROTOCOL when TLS fails (see connectError)
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
      if (settled || socket.readyState === WebSocket.OPEN) return;
      // Settle now (no handshake timeout meanwhile); the diagnosis may open one probe connection.
      settled = true;
      clearTimeout(timer);
      socket.terminate();
      void connectError(options.url, options.tls?.ca, err).then(reject);
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

/**
 * Node's certificate verification codes, by what fixes them. A chain code means the client
 * does not trust whoever signed the server's certificate: `client.ca` (option `tls.ca`) is the
 * fix. The incomplete-chain codes can also mean the server sends its leaf without the
 * intermediate CA. Other verification codes mean the certificate itself is unusable.
 */
const CHAIN_CODES = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED']);
const INCOMPLETE_CHAIN_CODES = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);
const REJECTED_CODES = new Set(['CERT_SIGNATURE_FAILURE', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_CHAIN_TOO_LONG', 'CERT_REVOKED', 'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'CERT_REJECTED']);
const EXPIRED_CODES = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD']);
const HOSTNAME_CODES = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH']);
/** OpenSSL's reasons when the bytes that came back are not TLS at all. */
const NOT_TLS_REASONS = /wrong version number|packet length too long|record layer failure|http request/i;
const README_RECIPE = 'docs/deployment.md, "3. The coordinator gets a TLS certificate"';
const PROBE_MS = 3000;

/** The first error code on `err` or its causes (ws passes Node's socket errors through; a wrapper may not). */
function errorCode(err: unknown): string | undefined {
  let first: string | undefined;
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (isTlsCode(code)) return code;
    first ??= code;
  }
  return first;
}

function isTlsCode(code: string): boolean {
  return CHAIN_CODES.has(code) || REJECTED_CODES.has(code) || EXPIRED_CODES.has(code) || HOSTNAME_CODES.has(code) || code === 'EPROTO' || code.startsWith('ERR_SSL_');
}

/** The OpenSSL reason in a TLS error ("wrong version number"), else its message. */
function sslReason(err: Error): string {
  const reason = (err as { reason?: unknown }).reason;
  if (typeof reason === 'string' && reason) return reason;
  return /SSL routines:[^:]*:([^:]+)/.exec(err.message)?.[1] ?? err.message;
}

/** "CN=localhost, O=Hospital" from a certificate's subject or issuer. */
function dn(name: PeerCertificate['subject'] | undefined): string {
  if (!name) return '(none)';
  const parts = Object.entries(name).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`);
  return parts.length > 0 ? parts.join(', ') : '(empty)';
}

/** One line about a certificate the server presented: subject, issuer, SHA-256 fingerprint. */
function describeCert(cert: PeerCertificate): string {
  const subject = dn(cert.subject);
  const issuer = dn(cert.issuer);
  const self = (cert as DetailedPeerCertificate).issuerCertificate === cert || subject === issuer;
  return `subject "${subject}", ${self ? 'self-signed' : `issued by "${issuer}"`}, SHA-256 fingerprint ${cert.fingerprint256}`;
}

/** What the pinned `client.ca` holds, for the message (never throws). */
function describeCa(ca: Uint8Array | string): string {
  const pem = Buffer.from(ca);
  const count = (pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;
  try {
    const x = new X509Certificate(pem);
    const first = `"${x.subject.split('\n').join(', ')}" (SHA-256 fingerprint ${x.fingerprint256})`;
    return count > 1 ? `${count} certificates, the first ${first}` : first;
  } catch {
    return 'no certificate that can be read as PEM';
  }
}

/** "DNS:localhost, IP:127.0.0.1" from a certificate's subjectaltname. */
function altNames(cert: PeerCertificate | undefined): string[] {
  const san = cert?.subjectaltname;
  if (!san) return [];
  return san.split(/,\s*/).map((s) => s.replace(/^IP Address:/, 'IP:')).filter((s) => s.startsWith('DNS:') || s.startsWith('IP:'));
}

/**
 * Connects once with TLS, verifying nothing, to read the certificate the server presents;
 * null when no TLS handshake completes within PROBE_MS. Used only to explain a failure: the
 * result is never trusted for anything.
 */
function probeCertificate(host: string, port: number): Promise<DetailedPeerCertificate | null> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, ...(isIP(host) ? {} : { servername: host }) });
    const done = (cert: DetailedPeerCertificate | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(cert);
    };
    const timer = setTimeout(() => done(null), PROBE_MS);
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate(true);
      done(cert && Object.keys(cert).length > 0 ? cert : null);
    });
    socket.once('error', () => done(null));
  });
}

/**
 * The typed error for a connection that failed before the WebSocket opened. TLS failures get
 * their own codes (final for the client: see FATAL_CODES) and a message with the cause and
 * the fix, naming the config keys an operator edits (`client.server`, `client.ca`); anything
 * else is ERR_CLOSED (retried). Never rejects.
 */
export async function connectError(url: string, ca: Uint8Array | string | undefined, err: Error): Promise<TransportError> {
  const closed = () => new TransportError('ERR_CLOSED', `cannot connect to ${url}: ${err.message}`, { cause: err });
  try {
    const u = new URL(url);
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const secure = u.protocol === 'wss:' || u.protocol === 'https:';
    const port = Number(u.port || (secure ? 443 : 80));
    const code = errorCode(err);
    const tls = (c: 'ERR_TLS_UNTRUSTED' | 'ERR_TLS_HOSTNAME' | 'ERR_TLS_EXPIRED' | 'ERR_TLS_PROTOCOL', message: string) => new TransportError(c, message, { cause: err });
    const certOf = async (): Promise<PeerCertificate | null> => {
      const carried = (err as { cert?: unknown }).cert;
      return carried && typeof carried === 'object' && Object.keys(carried).length > 0 ? (carried as PeerCertificate) : probeCertificate(host, port);
    };

    if (code && (CHAIN_CODES.has(code) || REJECTED_CODES.has(code))) {
      const cert = await certOf();
      const presents = cert ? `; it presents ${describeCert(cert)}` : '';
      if (REJECTED_CODES.has(code)) {
        return tls('ERR_TLS_UNTRUSTED', `the server certificate of ${url} is rejected (${code}: ${err.message})${presents}. Fix: the coordinator must re-issue its certificate (${README_RECIPE}) and, if it is self-signed, give clients the new one as client.ca.`);
      }
      const pinned = ca !== undefined
        ? ` client.ca holds ${describeCa(ca)}, which does not vouch for it.`
        : ' No client.ca is set, so only the public CAs this machine trusts are accepted.';
      const incomplete = INCOMPLETE_CHAIN_CODES.has(code)
        ? '; or, if client.ca already holds the CA that issued it, the server\'s chain is incomplete: the coordinator\'s tls.cert file must also hold the intermediate CA certificate(s)'
        : '';
      return tls('ERR_TLS_UNTRUSTED',
        `the server certificate of ${url} is not trusted (${code}: ${err.message})${presents}.${pinned} ` +
        `Fix: set client.ca in the client's config (option tls.ca) to the PEM file of the CA or self-signed certificate the server uses (for a self-signed coordinator, its server.crt)${incomplete}.`);
    }

    if (code && EXPIRED_CODES.has(code)) {
      const cert = await certOf();
      const validity = cert ? `: it is valid from ${cert.valid_from} to ${cert.valid_to} (${describeCert(cert)})` : '';
      const what = code === 'CERT_NOT_YET_VALID' ? 'is not valid yet' : code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'has an unreadable validity period';
      return tls('ERR_TLS_EXPIRED',
        `the server certificate of ${url} ${what} (${code})${validity}, and this machine's clock says ${new Date().toISOString()}. ` +
        `Fix: the coordinator must renew its certificate (${README_RECIPE}) and, if it is self-signed, give clients the new one as client.ca; or correct this machine's clock.`);
    }

    if (code && HOSTNAME_CODES.has(code)) {
      const cert = await certOf();
      const names = altNames(cert ?? undefined);
      const ip = isIP(host) !== 0;
      const carries = names.length > 0
        ? `it carries ${names.join(', ')}`
        : `it carries no subjectAltName${cert ? ` (subject "${dn(cert.subject)}")` : ''}`;
      const dialable = names
        .map((n) => n.replace(/^(DNS|IP):/, ''))
        .filter((n) => !n.includes('*'))
        .map((n) => `wss://${n.includes(':') ? `[${n}]` : n}:${port}`);
      const useName = dialable.length > 0
        ? `set client.server to ${dialable.length === 1 ? dialable[0] : `one of ${dialable.join(', ')}`} (a name or IP the certificate lists; the name must resolve to the coordinator from here)`
        : 'set client.server to a host name the certificate lists';
      return tls('ERR_TLS_HOSTNAME',
        `the server certificate of ${url} does not carry the ${ip ? 'IP address' : 'host name'} ${host} that client.server dials: ${carries} (${code}). ` +
        `Fix: ${useName}, or re-issue the certificate with subjectAltName including ${ip ? `IP:${host}` : `DNS:${host}`} (${README_RECIPE}) and give clients the new one.`);
    }

    if (code && (code === 'EPROTO' || code.startsWith('ERR_SSL_'))) {
      const reason = sslReason(err);
      if (NOT_TLS_REASONS.test(reason)) {
        return tls('ERR_TLS_PROTOCOL',
          `${url}: the server did not answer the TLS handshake (${reason}): what listens on ${host}:${port} does not speak TLS, e.g. a plain ws:// coordinator (insecure: true) or another service. ` +
          `Fix: check the port in client.server; use ws:// only for a coordinator deliberately run with insecure: true.`);
      }
      return tls('ERR_TLS_PROTOCOL',
        `the TLS handshake with ${url} failed (${reason}): client and server share no TLS version or cipher, or a proxy interferes. ` +
        `Fix: check that client.server names the coordinator's own TLS port; the coordinator logs the same failure as tls.handshake-failed.`);
    }

    // Plain ws:// to a TLS port: the server hangs up on the unencrypted request. Only a TLS
    // handshake that completes tells this apart from a server that simply dropped us.
    if (!secure && (code === 'ECONNRESET' || /socket hang up/i.test(err.message))) {
      const cert = await probeCertificate(host, port);
      if (cert) {
        return tls('ERR_TLS_PROTOCOL',
          `${url} is a TLS (wss://) server, which hangs up on plain ws:// (its certificate: ${describeCert(cert)}). ` +
          `Fix: set client.server to wss://${u.host}, and client.ca to the server's certificate if it is self-signed.`);
      }
    }
  } catch {
    // A diagnosis that fails leaves the plain error.
  }
  return closed();
}
