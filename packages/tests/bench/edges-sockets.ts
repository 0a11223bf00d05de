/**
 * The two nuisances of the faulty-member bench (edges.ts), as real sockets:
 *
 * - IdleSockets: plain node:net TCP connections to the coordinator's port that never send
 *   a byte (run in a process of its own by edges-idle.ts). Every one the server closes is reopened at once, so the count held stays at
 *   the target for the whole run. Sockets are spread over several loopback source
 *   addresses (127.0.0.2, 127.0.0.3, ...) so that the per-address cap does not refuse them
 *   outright: the coordinator has to hold all of them until its own timeouts close them.
 * - Dripper: an authenticated roster member (RawPeer) that, once welcomed, starts ONE
 *   WebSocket message and sends one byte of it per second as continuation fragments
 *   (FIN never set), the first bytes being a real frame header. The message never
 *   completes, so nothing reaches the coordinator's frame reader; the ws client keeps
 *   answering pings, so the connection is alive to the heartbeat. It never answers a
 *   round. When the coordinator closes it, it reconnects after a second, as a faulty but
 *   persistent client would.
 */
import { connect, type Socket } from 'node:net';
import type { Ed25519Keypair } from '@fedmeta/secagg';
import { RawPeer } from '../src/raw-client.js';

/** A close the holder saw: how long the socket lived and whether the server answered 408. */
interface IdleClose {
  lifetimeMs: number;
  got408: boolean;
}

export interface IdleStats {
  target: number;
  addresses: number;
  opened: number;
  /** Closed by the server after about idleTimeoutMs of silence, without a byte (the idle timer). */
  closedByIdleTimeout: number;
  /** Closed by the server after about headersTimeoutMs with an HTTP 408 (Node's headers timer). */
  closedByHeadersTimeout: number;
  /** Closed sooner than 90% of the idle timeout (refused by a connection cap, reset). */
  closedEarly: number;
  connectErrors: number;
  /** Sockets held open, sampled every 100 ms while running: fewest, mean, most. */
  heldMin: number;
  heldMean: number;
  heldMax: number;
  meanLifetimeMs: number;
}

export class IdleSockets {
  private readonly live = new Set<Socket>();
  private readonly closes: IdleClose[] = [];
  private opened = 0;
  private connectErrors = 0;
  private stopped = false;
  private heldMin = Infinity;
  private heldMax = 0;
  private heldSum = 0;
  private samples = 0;
  private sampler: NodeJS.Timeout | null = null;
  private connected = 0;

  constructor(
    private readonly port: number,
    private readonly target: number,
    private readonly addresses: number,
    private readonly idleTimeoutMs: number,
  ) {}

  /** Opens the target number of sockets and resolves once all are connected. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.target }, (_, i) => this.open(i)));
    this.sampler = setInterval(() => {
      this.heldMin = Math.min(this.heldMin, this.connected);
      this.heldMax = Math.max(this.heldMax, this.connected);
      this.heldSum += this.connected;
      this.samples++;
    }, 100);
  }

  private open(slot: number): Promise<void> {
    return new Promise((resolve) => {
      const localAddress = `127.0.0.${2 + (slot % this.addresses)}`;
      const s = connect({ port: this.port, host: '127.0.0.1', localAddress });
      this.opened++;
      this.live.add(s);
      let connectedAt = 0;
      let got408 = false;
      s.on('connect', () => {
        connectedAt = Date.now();
        this.connected++;
        resolve();
      });
      s.on('data', (d: Buffer) => {
        if (d.toString('latin1').startsWith('HTTP/1.1 408')) got408 = true;
      });
      s.on('error', () => {
        if (!connectedAt) this.connectErrors++;
      });
      s.on('close', () => {
        this.live.delete(s);
        if (connectedAt) {
          this.connected--;
          if (!this.stopped) this.closes.push({ lifetimeMs: Date.now() - connectedAt, got408 });
        }
        resolve();
        if (this.stopped) return;
        // Reopen at once after a timeout close; back off a little after a refusal so a cap
        // that refuses does not turn the holder into a busy loop.
        const quick = connectedAt && Date.now() - connectedAt >= 1000;
        setTimeout(() => void this.open(slot), quick ? 0 : 250);
      });
    });
  }

  stop(): IdleStats {
    this.stopped = true;
    if (this.sampler) clearInterval(this.sampler);
    for (const s of this.live) s.destroy();
    const timedOut = this.closes.filter((c) => c.lifetimeMs >= 0.9 * this.idleTimeoutMs);
    return {
      target: this.target,
      addresses: this.addresses,
      opened: this.opened,
      closedByIdleTimeout: timedOut.filter((c) => !c.got408).length,
      closedByHeadersTimeout: timedOut.filter((c) => c.got408).length,
      closedEarly: this.closes.length - timedOut.length,
      connectErrors: this.connectErrors,
      heldMin: this.heldMin === Infinity ? 0 : this.heldMin,
      heldMean: this.samples ? this.heldSum / this.samples : 0,
      heldMax: this.heldMax,
      meanLifetimeMs: timedOut.length ? timedOut.reduce((a, c) => a + c.lifetimeMs, 0) / timedOut.length : 0,
    };
  }
}

export interface DripStats {
  /** Connections made (1 + reconnections). */
  connections: number;
  /** Close codes the coordinator ended its connections with, with counts. */
  closeCodes: Record<string, number>;
  /** Error codes the coordinator sent before closing. */
  errorCodes: Record<string, number>;
  bytesDripped: number;
  roundStarts: number;
}

export class Dripper {
  private peer: RawPeer | null = null;
  private readonly peers: RawPeer[] = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly stats: DripStats = { connections: 0, closeCodes: {}, errorCodes: {}, bytesDripped: 0, roundStarts: 0 };

  constructor(
    private readonly url: string,
    private readonly identity: Ed25519Keypair,
  ) {}

  /** Connects, authenticates and starts dripping; resolves once welcomed. */
  async start(): Promise<void> {
    const peer = await RawPeer.connect(this.url);
    this.peer = peer;
    this.peers.push(peer);
    this.stats.connections++;
    void peer.outcome.then((o) => {
      if (this.stopped) return;
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      this.stats.closeCodes[o.closeCode] = (this.stats.closeCodes[o.closeCode] ?? 0) + 1;
      if (o.errorCode) this.stats.errorCodes[o.errorCode] = (this.stats.errorCodes[o.errorCode] ?? 0) + 1;
      setTimeout(() => void this.start().catch(() => undefined), 1000);
    });
    await peer.authenticate(this.identity);
    const answer = await peer.next((m) => m.type === 'welcome' || m.type === 'error');
    if (answer.type !== 'welcome') throw new Error(`dripper refused: ${answer.type === 'error' ? answer.code : answer.type}`);
    // The bytes of a real frame (a progress report that is never finished), then filler:
    // the WebSocket message they travel in never gets its FIN, so neither is ever complete.
    const head = peer.writer.frames({ type: 'progress', round: 1, stage: 'training', fraction: 0 })[0]!;
    let i = 0;
    this.timer = setInterval(() => {
      if (peer.socket.readyState !== 1) return;
      const byte = i < head.length - 1 ? head[i]! : 0;
      i++;
      this.stats.bytesDripped++;
      peer.socket.send(Buffer.of(byte), { binary: true, fin: false });
    }, 1000);
  }

  stop(): DripStats {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.peer?.socket.terminate();
    this.stats.roundStarts = this.peers.reduce((a, p) => a + p.received.filter((m) => m.type === 'roundStart').length, 0);
    return this.stats;
  }
}
