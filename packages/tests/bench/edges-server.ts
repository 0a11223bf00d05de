/**
 * The coordinator of the memory bench (edges.ts), alone in its own process: started by
 * the bench with `node --expose-gc`, so that garbage collection can be forced and
 * process.memoryUsage() read here, where nothing but the server lives. It talks to the
 * bench over the fork IPC channel:
 *
 *   -> { id, cmd: 'memory', gcs }   forces `gcs` full collections (a macrotask apart), then
 *   <- { id, memory, events }        answers process.memoryUsage() and the server's event counts
 *   -> { id, cmd: 'snapshot', path } writes a V8 heap snapshot to `path`
 *   -> { id, cmd: 'stop' }           closes the server and exits
 *
 * The server is the real one (small MLP, FedAvg, plain ws on loopback, a roster of three
 * members nobody authenticates as), waiting for its first cohort for the whole run: the
 * only traffic it sees is the bench's short pre-auth connections. Its logger only counts
 * events by name (a logger that kept them would itself be a growing heap).
 */
import { writeHeapSnapshot } from 'node:v8';
import { startServer } from '@fedmeta/server';
import { baseServerOptions, institutions } from '../src/harness.js';

type Command = { id: number; cmd: 'memory'; gcs: number } | { id: number; cmd: 'snapshot'; path: string } | { id: number; cmd: 'stop' };

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('edges-server: run with node --expose-gc');
const events: Record<string, number> = {};
const server = await startServer(
  baseServerOptions(institutions(3, 'mem'), {
    federationId: 'edges-memory',
    rounds: 1,
    cohort: { minClients: 3 },
    logger: (e) => void (events[e.event] = (events[e.event] ?? 0) + 1),
  }),
);
const macrotask = () => new Promise((r) => setTimeout(r, 50));

process.on('message', (raw) => {
  const m = raw as Command;
  void (async () => {
    if (m.cmd === 'memory') {
      for (let i = 0; i < m.gcs; i++) {
        gc();
        await macrotask();
      }
      process.send!({ id: m.id, memory: process.memoryUsage(), events: { ...events } });
    } else if (m.cmd === 'snapshot') {
      gc();
      process.send!({ id: m.id, path: writeHeapSnapshot(m.path) });
    } else {
      await server.close();
      process.send!({ id: m.id }, () => process.exit(0));
    }
  })();
});
process.send!({ id: 0, url: server.url, pid: process.pid });
