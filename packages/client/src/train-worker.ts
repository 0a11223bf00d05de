/**
 * Worker-thread side of `trainInWorker`: local training is synchronous tfjs work that can
 * run for minutes; on the main thread it would stall the socket (no pongs, no progress
 * frames) and get the client declared dead. Here it runs off the main thread, which keeps
 * answering pings and sending progress heartbeats.
 *
 * Protocol with the parent: { kind: 'init', data, backend } once, then
 * { kind: 'train', id, config, params, seed } -> { id, update, weight, metrics } | { id, error }.
 */
import { parentPort } from 'node:worker_threads';
import type { RoundConfig } from '@fedmeta/transport';
import type { BackendPreference } from '@fedmeta/meta';
import { ensureBackend, trainLocal } from './pipeline.js';
import type { ClientDataOptions } from './options.js';

type Job =
  | { kind: 'init'; data: ClientDataOptions; backend: BackendPreference }
  | { kind: 'train'; id: number; config: RoundConfig; params: Float32Array; seed: number };

let data: ClientDataOptions | null = null;
let backend: Promise<string> | null = null;

parentPort!.on('message', (job: Job) => {
  if (job.kind === 'init') {
    data = job.data;
    backend = ensureBackend(job.backend);
    return;
  }
  void (async () => {
    try {
      if (!data || !backend) throw new Error('train-worker: train before init');
      await backend;
      const r = await trainLocal(job.config, job.params, data, job.seed);
      parentPort!.postMessage({ id: job.id, update: r.update, weight: r.weight, metrics: r.metrics }, [r.update.buffer as ArrayBuffer]);
    } catch (err) {
      const e = err as Error & { code?: string };
      parentPort!.postMessage({ id: job.id, error: { code: e.code ?? 'ERR_INTERNAL', message: e.message } });
    }
  })();
});
