/**
 * The WebSocket listener: wss over node:https when a cert/key is given, plain ws over
 * node:http only when `insecure: true` is explicit. `maxPayload` is one chunk plus its
 * header, so ws itself refuses any bigger frame (close 1009) before buffering it.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { wsMaxPayload, type Limits } from '@fedmeta/transport';
import { ServerError } from './errors.js';
import type { ServerOptions } from './options.js';

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
export async function listen(options: Pick<ServerOptions, 'host' | 'port' | 'tls' | 'insecure'>, limits: Limits): Promise<Listener> {
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
  http.on('request', (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('fedmeta: WebSocket only\n');
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
