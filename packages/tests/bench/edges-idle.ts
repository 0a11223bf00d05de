/**
 * The idle-socket holder of the faulty-member bench (edges.ts), in its own process: a
 * stranger's sockets come from another machine, so their reopening must not run on the
 * event loop the coordinator and the honest clients share in the bench.
 *
 *   node edges-idle.js <port> <count> <addresses> <idleTimeoutMs>
 *   <- { kind: 'ready' }           once every socket is connected
 *   -> 'stop'                      closes them all
 *   <- { kind: 'stats', stats }    IdleStats, then exits
 */
import { IdleSockets } from './edges-sockets.js';

const [port, count, addresses, idleTimeoutMs] = process.argv.slice(2).map(Number) as [number, number, number, number];
const holder = new IdleSockets(port, count, addresses, idleTimeoutMs);
await holder.start();
process.send!({ kind: 'ready' });
process.on('message', () => {
  const stats = holder.stop();
  process.send!({ kind: 'stats', stats }, () => process.exit(0));
});
