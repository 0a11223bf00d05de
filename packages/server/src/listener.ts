/**
 * The WebSocket listener: wss over node:https when a cert/key is given, plain ws over
 * node:http only when `insecure: true` is explicit. `maxPayload` is one chunk plus its
 * header, so ws itself refuses any bigger frame (close 1009) before buffering it.
 *
 * The same port answers one plain HTTP(S) request: GET /status, a read-only JSON
 * snapshot (PublicStatus: round, phase, how many are connected, epsilon spent and
 * budget). It is public like the TLS handshake itself, so it carries counts only: no
 * client names, keys or addresses, nothing about any one client's update.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { wsMaxPayload, type Limits } from '@fedmeta/transport';
import { ServerError } from './errors.js';
import type { DpOptions, ServerOptions, ServerStatus } from './options.js';

/** What GET /status returns (served as JSON). */
export interface PublicStatus {
  federationId: string;
  /** The round running or about to run (1-based). */
  round: number;
  rounds: number;
  phase: string;
  /** Authenticated client connections right now (a count only). */
  connected: number;
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

/**
 * Binds the listener.
 * @throws ServerError ERR_SERVER_CONFIG without tls and without insecure: true; ERR_LISTEN when binding fails
 */
export async function listen(options: Pick<ServerOptions, 'host' | 'port' | 'tls' | 'insecure'>, limits: Limits, status?: () => PublicStatus): Promise<Listener> {
  const host = options.host ?? '127.0.0.1';
  if (!options.tls && options.insecure !== true) {
    throw new ServerError('ERR_SERVER_CONFIG', 'tls: give { cert, key } for wss, or set insecure: true to run plain ws explicitly');
  }
  if (options.tls && (!options.tls.cert || !options.tls.key)) {
    throw new ServerError('ERR_SERVER_CONFIG', 'tls.cert and tls.key must both be given (PEM bytes or strings)');
  }
  const http: HttpServer = options.tls
    ? createHttpsServer({ cert: Buffer.from(options.tls.cert), key: Buffer.from(options.tls.key) })
    : createHttpServer();
  http.on('request', (req, res) => {
    const path = (req.url ?? '').split('?')[0];
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
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => http.close(() => resolve()));
        http.closeAllConnections?.();
      }),
  };
}
