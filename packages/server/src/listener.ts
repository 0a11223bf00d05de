/**
 * The WebSocket listener: wss over node:https when a cert/key is given, plain ws over
 * node:http only when `insecure: true` is explicit. `maxPayload` is one chunk plus its
 * header, so ws itself refuses any bigger frame (close 1009) before buffering it.
 *
 * The same port answers one plain HTTP(S) request: GET /status, a read-only JSON
 * snapshot (PublicStatus: round, phase, how many are connected and benched, epsilon spent and
 * budget). It is public like the TLS handshake itself, so it carries counts only: no
 * client names, keys or addresses, nothing about any one client's update.
 *
 * With an operator credential configured (ServerOptions.dashboard), the same port also serves
 * the operator's dashboard under /dashboard and Prometheus metrics at /metrics, both behind
 * that credential (./dashboard/console.ts); they reach the listener as `HTTP_ROUTES`.
 *
 * Failed TLS handshakes (a client that does not trust the certificate, plain ws:// or HTTP
 * on the TLS port, no common TLS version) are logged as `tls.handshake-failed` events with
 * the remote address and OpenSSL's reason, rate-limited per address (HandshakeFailureLog),
 * so a scanner cannot flood the log.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { wsMaxPayload, type Limits } from '@fedmeta/transport';
import { ServerError } from './errors.js';
import type { DpOptions, ServerEvent, ServerOptions, ServerStatus } from './options.js';

/**
 * Extra HTTP routes on the coordinator's port: answers the request and returns true, or
 * returns false to leave it to the listener (GET /status, else 426).
 */
export type HttpRoutes = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * The key under which startServer hands the operator's routes to the listener on the
 * options object (not part of the public ServerOptions; set from `dashboard`).
 */
export const HTTP_ROUTES: unique symbol = Symbol('fedmeta.httpRoutes');

/** What GET /status returns (served as JSON). */
export interface PublicStatus {
  federationId: string;
  /** The round running or about to run (1-based). */
  round: number;
  rounds: number;
  phase: string;
  /** Authenticated client connections right now (a count only). */
  connected: number;
  /** Roster members benched for missed deadlines right now (a count only). */
  benched: number;
  /** DP accounting, or null when DP is off. */
  privacy: { epsilonSpent: number; epsilonBudget: number; delta: number } | null;
}

/** The public part of a ServerStatus: counts instead of who is connected. */
export function publicStatus(s: ServerStatus, dp: DpOptions | undefined): PublicStatus {
  return {
    federationId: s.federationId,
    round: s.round,
    rounds: s.rounds,
    phase: s.phase,
    connected: s.connected.length,
    benched: s.benched.length,
    privacy: dp ? { epsilonSpent: s.epsilon ?? 0, epsilonBudget: dp.epsilonBudget, delta: dp.delta } : null,
  };
}

export interface Listener {
  wss: WebSocketServer;
  http: HttpServer;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** How failed TLS handshakes are logged (the defaults suit production; tests shorten them). */
export interface HandshakeLogPolicy {
  /** One line per remote address per window; the rest are counted. Default 10 s. */
  windowMs?: number;
  /** Addresses tracked per window; failures from further addresses are counted together. Default 32. */
  maxAddresses?: number;
}

type Level = ServerEvent['level'];

/**
 * Rate-limited log of failed TLS handshakes. The first failure from an address in a window is
 * logged at once (`tls.handshake-failed`); the others are counted and reported by one
 * `tls.handshake-failed.suppressed` line when the window ends. At most `maxAddresses`
 * addresses are tracked at a time; failures from any further address are counted under
 * `remote: "(other addresses)"`. So the log gets at most about 2 * maxAddresses + 1 lines
 * per window whatever the failure rate, and the memory held is bounded too.
 */
export class HandshakeFailureLog {
  private readonly windowMs: number;
  private readonly maxAddresses: number;
  private readonly seen = new Map<string, { until: number; suppressed: number; level: Level; code: string }>();
  private overflow = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly log: (level: Level, event: string, fields: Record<string, unknown>) => void, policy: HandshakeLogPolicy = {}) {
    this.windowMs = Math.max(1, policy.windowMs ?? 10_000);
    this.maxAddresses = Math.max(1, policy.maxAddresses ?? 32);
  }

  /** Records one failure; logs it unless this address already had a line in this window. */
  failed(remote: string, level: Level, fields: { code: string; reason: string; [k: string]: unknown }): void {
    const now = Date.now();
    const key = `${level} ${remote}`;
    const entry = this.seen.get(key);
    if (entry && now < entry.until) {
      entry.suppressed++;
      return;
    }
    if (!entry && this.seen.size >= this.maxAddresses) {
      this.overflow++;
      this.arm();
      return;
    }
    // A window that ended with failures not yet reported: report them with this line.
    const earlier = entry?.suppressed ?? 0;
    this.seen.set(key, { until: now + this.windowMs, suppressed: 0, level, code: fields.code });
    this.log(level, 'tls.handshake-failed', { remote, ...fields, ...(earlier > 0 ? { suppressedBefore: earlier } : {}) });
    this.arm();
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.sweep(), this.windowMs);
    this.timer.unref();
  }

  /** Reports the counts of windows that ended and forgets their addresses. */
  private sweep(): void {
    this.timer = null;
    const now = Date.now();
    for (const [key, e] of this.seen) {
      if (now < e.until) continue;
      this.seen.delete(key);
      if (e.suppressed > 0) this.log(e.level, 'tls.handshake-failed.suppressed', { remote: key.slice(key.indexOf(' ') + 1), count: e.suppressed, lastCode: e.code, windowMs: this.windowMs });
    }
    if (this.overflow > 0) {
      this.log('warn', 'tls.handshake-failed.suppressed', { remote: '(other addresses)', count: this.overflow, windowMs: this.windowMs });
      this.overflow = 0;
    }
    if (this.seen.size > 0) this.arm();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * What a failed server-side TLS handshake means, for the log. Node reports a client that
 * hangs up mid-handshake (which is what a client that rejects our certificate does) as
 * ECONNRESET; one that never sent a byte is a port check or a scanner (debug level).
 */
function handshakeFailure(err: Error & { code?: unknown; reason?: unknown }, bytesRead: number | undefined): { level: Level; code: string; reason: string; hint?: string } {
  const code = typeof err.code === 'string' ? err.code : 'UNKNOWN';
  const reason = typeof err.reason === 'string' && err.reason ? err.reason : err.message;
  if ((code === 'ECONNRESET' || code === 'ERR_TLS_HANDSHAKE_TIMEOUT') && bytesRead === 0) {
    return { level: 'debug', code, reason, hint: 'no TLS ClientHello was received: a port check or a scanner' };
  }
  if (code === 'ECONNRESET') {
    return { level: 'warn', code, reason, hint: 'the client hung up during the handshake: it may not trust this certificate (its client.ca) or dialled a name or IP the certificate does not carry; the client prints which' };
  }
  if (code === 'ERR_SSL_HTTP_REQUEST') return { level: 'warn', code, reason, hint: 'plain HTTP or ws:// on the TLS port: clients must dial wss://' };
  if (/wrong version number|unknown protocol|packet length too long/i.test(reason)) return { level: 'warn', code, reason, hint: 'the client did not speak TLS' };
  if (/protocol version|unsupported protocol|no shared cipher|handshake failure/i.test(reason)) return { level: 'warn', code, reason, hint: 'no TLS version or cipher in common with the client' };
  return { level: 'warn', code, reason };
}

/**
 * Binds the listener. A failed TLS handshake is logged through `options.logger` (when given)
 * as `tls.handshake-failed`, rate-limited by `handshakeLog`.
 * @throws ServerError ERR_SERVER_CONFIG without tls and without insecure: true; ERR_LISTEN when binding fails
 */
/** Pre-upgrade limits (resolved ConnectionOptions). */
export interface ConnectionLimits {
  max: number;
  perAddress: number;
  idleTimeoutMs: number;
  headersTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { max: 1024, perAddress: 64, idleTimeoutMs: 10_000, headersTimeoutMs: 10_000 };

/**
 * Caps and timeouts before the upgrade: at most `max` sockets in all and `perAddress` per
 * remote address (extra sockets are destroyed at once, counted in `connections.refused`
 * events, rate-limited), a socket silent for `idleTimeoutMs` before its upgrade is closed,
 * and Node's own headersTimeout / requestTimeout bound a slow-header drip. Once upgraded,
 * the idle timer is cleared: liveness is the heartbeat's job from then on.
 */
function limitConnections(http: HttpServer, c: ConnectionLimits, log: ((fields: Record<string, unknown>) => void) | null): () => void {
  http.maxConnections = c.max;
  http.keepAliveTimeout = Math.min(5_000, c.idleTimeoutMs);
  const perAddress = new Map<string, number>();
  let refused = 0;
  let lastReport = 0;
  http.on('connection', (raw: Socket) => {
    const addr = raw.remoteAddress ?? 'unknown';
    const n = (perAddress.get(addr) ?? 0) + 1;
    if (n > c.perAddress) {
      refused++;
      const now = Date.now();
      if (log && now - lastReport >= 10_000) {
        lastReport = now;
        log({ remote: addr, perAddress: c.perAddress, refusedSinceLast: refused });
        refused = 0;
      }
      raw.destroy();
      return;
    }
    perAddress.set(addr, n);
    raw.once('close', () => {
      const left = (perAddress.get(addr) ?? 1) - 1;
      if (left <= 0) perAddress.delete(addr);
      else perAddress.set(addr, left);
    });
    raw.setTimeout(c.idleTimeoutMs, () => raw.destroy());
  });
  const onUpgrade = (req: { socket: Socket }) => {
    const sock = req.socket as Socket & { _parent?: Socket | null };
    sock.setTimeout(0);
    sock._parent?.setTimeout(0);
  };
  http.on('upgrade', onUpgrade);
  return () => perAddress.clear();
}

export async function listen(
  options: Pick<ServerOptions, 'host' | 'port' | 'tls' | 'insecure'> & { logger?: ServerOptions['logger']; connectionLimits?: ConnectionLimits; [HTTP_ROUTES]?: HttpRoutes },
  limits: Limits,
  status?: () => PublicStatus,
  handshakeLog?: HandshakeLogPolicy,
): Promise<Listener> {
  const host = options.host ?? '127.0.0.1';
  if (!options.tls && options.insecure !== true) {
    throw new ServerError('ERR_SERVER_CONFIG', 'tls: give { cert, key } for wss, or set insecure: true to run plain ws explicitly');
  }
  if (options.tls && (!options.tls.cert || !options.tls.key)) {
    throw new ServerError('ERR_SERVER_CONFIG', 'tls.cert and tls.key must both be given (PEM bytes or strings)');
  }
  const conn = options.connectionLimits ?? DEFAULT_CONNECTION_LIMITS;
  // Node checks header and request deadlines on its own interval (30 s by default): check
  // often enough that headersTimeout means what it says.
  const timing = { headersTimeout: conn.headersTimeoutMs, requestTimeout: conn.headersTimeoutMs + 5_000, connectionsCheckingInterval: Math.min(1_000, conn.headersTimeoutMs) };
  const http: HttpServer = options.tls
    ? createHttpsServer({ cert: Buffer.from(options.tls.cert), key: Buffer.from(options.tls.key), ...timing })
    : createHttpServer(timing);
  const logger = options.logger;
  const stopLimits = limitConnections(
    http,
    conn,
    logger ? (fields) => logger({ time: new Date().toISOString(), level: 'warn', event: 'connections.refused', ...fields }) : null,
  );
  const failures = options.tls && logger
    ? new HandshakeFailureLog((level, event, fields) => logger({ time: new Date().toISOString(), level, event, ...fields }), handshakeLog)
    : null;
  if (failures) {
    // Read the peer address while the TCP socket is open (a TLS socket that failed has
    // already lost it); Node caches it on the raw socket, which the TLS socket wraps.
    http.on('connection', (raw: Socket) => void raw.remoteAddress);
    http.on('tlsClientError', (err: Error, tlsSocket: TLSSocket) => {
      const raw = (tlsSocket as TLSSocket & { _parent?: Socket | null })._parent ?? undefined;
      const remote = tlsSocket.remoteAddress ?? raw?.remoteAddress ?? 'unknown';
      const { level, ...fields } = handshakeFailure(err, raw?.bytesRead);
      try {
        failures.failed(remote, level, fields);
      } catch {
        // A throwing logger must not take the listener down.
      }
    });
  }
  const routes = options[HTTP_ROUTES];
  http.on('request', (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (routes) {
      try {
        if (routes(req, res)) return;
      } catch {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('fedmeta: internal error\n');
        return;
      }
    }
    if (path !== '/status' || !status) {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('fedmeta: WebSocket only (and GET /status)\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('fedmeta: /status is read-only (GET)\n');
      return;
    }
    let body: string;
    try {
      body = JSON.stringify(status()) + '\n';
    } catch {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('fedmeta: status unavailable\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new ServerError('ERR_LISTEN', `cannot listen on ${host}:${options.port}: ${err.message}`, { cause: err }));
    http.once('error', onError);
    http.listen(options.port, host, () => {
      http.off('error', onError);
      resolve();
    });
  });
  // Attach ws only once bound: a WebSocketServer re-emits the http server's errors, and an
  // EADDRINUSE must surface as ERR_LISTEN, not as an unhandled 'error' event.
  const wss = new WebSocketServer({ server: http, maxPayload: wsMaxPayload(limits), perMessageDeflate: false, clientTracking: true });
  wss.on('error', () => undefined); // runtime socket errors are handled per connection
  const port = (http.address() as AddressInfo).port;
  const scheme = options.tls ? 'wss' : 'ws';
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    wss,
    http,
    port,
    url: `${scheme}://${urlHost}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        failures?.close();
        stopLimits();
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => http.close(() => resolve()));
        http.closeAllConnections?.();
      }),
  };
}
