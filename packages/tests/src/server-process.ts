/**
 * A coordinator in its own process, for the kill-and-restart e2e test. Reads a JSON
 * spec (argv[2]) with the port, checkpoint dir, roster (hex keys) and round count,
 * starts the real server and prints every structured event as one JSON line on stdout.
 */
import { readFileSync } from 'node:fs';
import { startServer } from '@fedmeta/server';
import { baseServerOptions } from './harness.js';

interface Spec {
  port: number;
  checkpointDir: string;
  rounds: number;
  roster: { name: string; publicKey: string }[];
  dp: { l2Clip: number; noiseMultiplier: number; delta: number; epsilonBudget: number };
  /** FedAvg local steps per round (the test sizes rounds to last long enough to kill one). */
  localSteps: number;
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Spec;
const print = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const handle = await startServer({
  ...baseServerOptions([], {
    port: spec.port,
    rounds: spec.rounds,
    checkpointDir: spec.checkpointDir,
    aggregation: { mode: 'secagg' },
    dp: spec.dp,
    cohort: { minClients: 3 },
    algorithm: { name: 'fedavg', hyper: { localSteps: spec.localSteps, batchSize: 32, lr: 0.05 } },
    logger: print,
  }),
  roster: spec.roster.map((r) => ({ name: r.name, publicKey: new Uint8Array(Buffer.from(r.publicKey, 'hex')) })),
});
print({ event: 'process.listening', port: handle.port, url: handle.url });
const summary = await handle.done;
print({ event: 'process.done', endReason: summary.endReason, roundsCompleted: summary.roundsCompleted, epsilon: summary.epsilon, rounds: summary.rounds.map((r) => ({ round: r.round, status: r.status, epsilon: r.epsilon })) });
