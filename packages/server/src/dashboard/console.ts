/**
 * The operator's console on the coordinator's own port (TLS like everything else there):
 *
 *   GET  /dashboard              the dashboard page (a login form without a credential)
 *   POST /dashboard/login        token=... -> an HttpOnly session cookie, then /dashboard
 *   POST /dashboard/logout       ends the session
 *   GET  /dashboard/assets/NAME  the page's script, styles and the bundled uPlot
 *   GET  /dashboard/api/state    the DashboardSnapshot as JSON
 *   GET  /dashboard/api/events   live updates as server-sent events (snapshot, then deltas:
 *                                the round rows added or changed, the new audit entries)
 *   GET  /metrics                Prometheus text format (../metrics.ts)
 *
 * Every route but the login form and the login itself needs the operator credential: the
 * session cookie or `Authorization: Bearer <token>` (Prometheus, curl). Without it the
 * answer is 401 and nothing about the federation; anonymous visitors keep only the
 * counts-only GET /status of the listener. A wrong credential is logged as
 * `operator.refused`; after 10 wrong ones in a minute an address gets 429 for the rest of
 * that minute.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ServerError } from '../errors.js';
import type { ServerEvent } from '../options.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from '../metrics.js';
import type { FederationMonitor } from './monitor.js';
import { dashboardAsset, livePageHtml, loginPageHtml } from './page.js';

/** The operator credential (ServerOptions.dashboard). */
export interface DashboardOptions {
  /**
   * Shared secret of the operators (at least 16 characters; e.g. `openssl rand -hex 24`).
   * Browsers exchange it once for a session cookie; Prometheus sends it as a bearer token.
   */
  token: string;
  /** Lifetime of a browser session; default 12 hours. */
  sessionHours?: number;
}

/** @throws ServerError ERR_SERVER_CONFIG naming dashboard.token or dashboard.sessionHours */
export function checkDashboardOptions(d: unknown): DashboardOptions {
  if (d === null || typeof d !== 'object') throw new ServerError('ERR_SERVER_CONFIG', 'dashboard: expected { token }');
  const { token, sessionHours } = d as Record<string, unknown>;
  if (typeof token !== 'string' || token.length < 16 || /\s/.test(token) || Buffer.byteLength(token) > 1024) {
    throw new ServerError('ERR_SERVER_CONFIG', 'dashboard.token: expected a secret of 16 to 1024 characters without spaces (e.g. the output of `openssl rand -hex 24`)');
  }
  if (sessionHours !== undefined && (typeof sessionHours !== 'number' || !(sessionHours > 0 && sessionHours <= 24 * 30))) {
    throw new ServerError('ERR_SERVER_CONFIG', `dashboard.sessionHours: expected a number of hours in (0, 720], got ${JSON.stringify(sessionHours)}`);
  }
  return { token, ...(sessionHours !== undefined ? { sessionHours: sessionHours as number } : {}) };
}

const COOKIE = 'fedmeta_operator';
const MAX_SESSIONS = 256;
const MAX_STREAMS = 16;
const FLUSH_MS = 250;
const KEEPALIVE_MS = 15_000;
const FAILURE_WINDOW_MS = 60_000;
const MAX_FAILURES = 10;

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
} as const;

interface Stream {
  res: ServerResponse;
  /** The monitor's round-row change number this stream is up to date with. */
  rounds: number;
  audit: number;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export class OperatorConsole {
  private readonly tokenDigest: Buffer;
  private readonly sessionMs: number;
  private readonly sessions = new Map<string, number>();
  private readonly failures = new Map<string, { count: number; until: number }>();
  private readonly streams = new Set<Stream>();
  private flushTimer: NodeJS.Timeout | null = null;
  private keepalive: NodeJS.Timeout | null = null;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(
    private readonly monitor: FederationMonitor,
    options: DashboardOptions,
    private readonly secure: boolean,
    private readonly log: (level: ServerEvent['level'], event: string, fields: Record<string, unknown>) => void,
  ) {
    this.tokenDigest = digest(options.token);
    this.sessionMs = (options.sessionHours ?? 12) * 3_600_000;
    this.unsubscribe = monitor.onChange(() => this.schedule());
  }

  /** The listener's HttpRoutes: true when this console answered. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const path = (req.url ?? '').split('?')[0]!;
    if (path !== '/metrics' && path !== '/dashboard' && !path.startsWith('/dashboard/')) return false;
    const method = req.method ?? 'GET';
    const remote = req.socket.remoteAddress ?? 'unknown';
    if (path === '/dashboard/login') {
      if (method !== 'POST') return this.send(res, 405, 'text/plain', 'fedmeta: POST the token\n', { allow: 'POST' });
      this.login(req, res, remote);
      return true;
    }
    if (path === '/dashboard/logout') {
      const sid = this.cookie(req);
      if (sid) this.sessions.delete(sid);
      res.writeHead(303, { ...SECURITY_HEADERS, location: '/dashboard', 'set-cookie': this.cookieHeader('', 0) }).end();
      return true;
    }
    if (method !== 'GET' && method !== 'HEAD') return this.send(res, 405, 'text/plain', 'fedmeta: read-only (GET)\n', { allow: 'GET, HEAD' });
    const auth = this.authenticate(req, remote);
    if (auth === 'throttled') return this.send(res, 429, 'text/plain', 'fedmeta: too many wrong operator credentials; wait a minute\n', { 'retry-after': '60' });
    if (auth !== 'ok') {
      if (path === '/dashboard' || path === '/dashboard/') return this.send(res, 401, 'text/html; charset=utf-8', loginPageHtml(auth === 'wrong'));
      return this.send(res, 401, 'text/plain', 'fedmeta: operator credential required\n', { 'www-authenticate': 'Bearer realm="fedmeta"' });
    }
    if (path === '/metrics') return this.send(res, 200, METRICS_CONTENT_TYPE, renderMetrics(this.monitor), {}, method === 'HEAD');
    if (path === '/dashboard' || path === '/dashboard/') return this.send(res, 200, 'text/html; charset=utf-8', livePageHtml(), {}, method === 'HEAD');
    if (path === '/dashboard/api/state') return this.send(res, 200, 'application/json; charset=utf-8', JSON.stringify(this.monitor.snapshot('live')), {}, method === 'HEAD');
    if (path === '/dashboard/api/events') {
      this.openStream(req, res);
      return true;
    }
    if (path.startsWith('/dashboard/assets/')) {
      const asset = dashboardAsset(path.slice('/dashboard/assets/'.length));
      if (asset) return this.send(res, 200, asset.type, asset.body, { 'cache-control': 'private, max-age=300' }, method === 'HEAD');
    }
    return this.send(res, 404, 'text/plain', 'fedmeta: no such page\n');
  };

  private send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}, head = false): true {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': bytes.length, ...headers });
    res.end(head ? undefined : bytes);
    return true;
  }

  private cookie(req: IncomingMessage): string | null {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [k, v] = part.trim().split('=');
      if (k === COOKIE && v) return v;
    }
    return null;
  }

  private cookieHeader(value: string, maxAgeS: number): string {
    return `${COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${this.secure ? '; Secure' : ''}`;
  }

  private tokenMatches(candidate: string): boolean {
    return timingSafeEqual(digest(candidate), this.tokenDigest);
  }

  private throttled(remote: string): boolean {
    const f = this.failures.get(remote);
    return f !== undefined && f.count >= MAX_FAILURES && Date.now() < f.until;
  }

  private failed(remote: string, path: string): void {
    const now = Date.now();
    let f = this.failures.get(remote);
    if (!f || now >= f.until) {
      if (this.failures.size >= 1024) for (const [k, v] of this.failures) if (now >= v.until) this.failures.delete(k);
      f = { count: 0, until: now + FAILURE_WINDOW_MS };
      this.failures.set(remote, f);
    }
    f.count++;
    this.log('warn', 'operator.refused', { remote, path, failures: f.count });
  }

  /** 'ok', 'missing' (no credential offered), 'wrong' or 'throttled'. */
  private authenticate(req: IncomingMessage, remote: string): 'ok' | 'missing' | 'wrong' | 'throttled' {
    const header = req.headers.authorization;
    const sid = this.cookie(req);
    if (header === undefined && sid === null) return 'missing';
    if (this.throttled(remote)) return 'throttled';
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (m && this.tokenMatches(m[1]!)) return 'ok';
      this.failed(remote, (req.url ?? '').split('?')[0]!);
      return 'wrong';
    }
    const expires = this.sessions.get(sid!);
    if (expires !== undefined && Date.now() < expires) return 'ok';
    // An expired or unknown session is not an attack: just ask for the token again.
    if (expires !== undefined) this.sessions.delete(sid!);
    return 'missing';
  }

  private login(req: IncomingMessage, res: ServerResponse, remote: string): void {
    if (this.throttled(remote)) {
      this.send(res, 429, 'text/plain', 'fedmeta: too many wrong operator credentials; wait a minute\n', { 'retry-after': '60' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 4096) {
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token') ?? '';
      if (!this.tokenMatches(token)) {
        this.failed(remote, '/dashboard/login');
        this.send(res, 401, 'text/html; charset=utf-8', loginPageHtml(true));
        return;
      }
      const sid = randomBytes(24).toString('hex');
      const now = Date.now();
      for (const [k, exp] of this.sessions) if (exp <= now) this.sessions.delete(k);
      while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
      this.sessions.set(sid, now + this.sessionMs);
      this.log('info', 'operator.login', { remote });
      res.writeHead(303, { ...SECURITY_HEADERS, location: '/dashboard', 'set-cookie': this.cookieHeader(sid, Math.floor(this.sessionMs / 1000)) }).end();
    });
    req.on('error', () => undefined);
  }

  private openStream(req: IncomingMessage, res: ServerResponse): void {
    if (this.closed || this.streams.size >= MAX_STREAMS) {
      this.send(res, 503, 'text/plain', `fedmeta: at most ${MAX_STREAMS} live dashboards at a time\n`, { 'retry-after': '10' });
      return;
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    const snap = this.monitor.snapshot('live');
    const stream: Stream = { res, rounds: this.monitor.roundsSeq, audit: this.monitor.auditSeq };
    res.write(`retry: 2000\nevent: snapshot\ndata: ${JSON.stringify(snap)}\n\n`);
    this.streams.add(stream);
    // A stream is long-lived like an upgraded WebSocket: the listener's idle timer for
    // sockets that never upgrade must not cut it (liveness is the keepalive's job).
    const sock = req.socket as typeof req.socket & { _parent?: { setTimeout(ms: number): unknown } | null };
    sock.setTimeout(0);
    sock._parent?.setTimeout(0);
    sock.setNoDelay(true);
    const drop = () => this.streams.delete(stream);
    res.on('close', drop);
    req.on('close', drop);
    if (!this.keepalive) {
      this.keepalive = setInterval(() => {
        for (const s of this.streams) s.res.write(': keepalive\n\n');
      }, KEEPALIVE_MS);
      this.keepalive.unref();
    }
  }

  private schedule(): void {
    if (this.flushTimer || this.streams.size === 0 || this.closed) return;
    this.flushTimer = setTimeout(() => this.flush(), FLUSH_MS);
    this.flushTimer.unref();
  }

  /** Sends every live dashboard what changed since its last update. */
  private flush(): void {
    this.flushTimer = null;
    for (const s of this.streams) {
      if (s.res.destroyed) {
        this.streams.delete(s);
        continue;
      }
      // A slow reader (full socket buffer) waits for the next flush instead of piling up.
      if (s.res.writableNeedDrain) continue;
      // Rows added or changed since (a round's federated evaluation arrives after its row).
      const update = this.monitor.snapshot('live', { roundsFrom: this.monitor.roundsChangedFrom(s.rounds), auditAfter: s.audit });
      s.rounds = this.monitor.roundsSeq;
      s.audit = this.monitor.auditSeq;
      s.res.write(`event: update\ndata: ${JSON.stringify(update)}\n\n`);
    }
  }

  /** Ends the live streams and timers (the listener closes the sockets). */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.keepalive) clearInterval(this.keepalive);
    this.flushTimer = null;
    this.keepalive = null;
    for (const s of this.streams) {
      // One last update so an open page shows how the federation ended.
      if (!s.res.destroyed) {
        const update = this.monitor.snapshot('live', { roundsFrom: this.monitor.roundsChangedFrom(s.rounds), auditAfter: s.audit });
        s.res.end(`event: update\ndata: ${JSON.stringify(update)}\n\n`);
      }
    }
    this.streams.clear();
  }
}
