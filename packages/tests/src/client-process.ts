/**
 * A client in its own process (for tests whose point is one process's event loop, e.g.
 * heartbeats during long training). argv[2] is a JSON spec; prints the client's summary
 * as one JSON line when it ends.
 */
import { readFileSync } from 'node:fs';
import { runClient } from '@fedmeta/client';
import { mnistFederation } from './harness.js';

interface Spec {
  url: string;
  publicKey: string;
  secretKey: string;
  clients: number;
  index: number;
  seed: number;
  trainInWorker: boolean;
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Spec;
const fed = mnistFederation(spec.clients, spec.seed);
const handle = runClient({
  url: spec.url,
  identity: { publicKey: new Uint8Array(Buffer.from(spec.publicKey, 'hex')), secretKey: new Uint8Array(Buffer.from(spec.secretKey, 'hex')) },
  data: fed.clients[spec.index]!,
  backend: 'cpu',
  trainInWorker: spec.trainInWorker,
  progressIntervalMs: 200,
  reconnect: { maxAttempts: 2, baseDelayMs: 50 },
  logger: (e) => process.stdout.write(`${JSON.stringify(e)}\n`),
});
const summary = await handle.done;
process.stdout.write(`${JSON.stringify({ event: 'process.summary', ...summary })}\n`);
