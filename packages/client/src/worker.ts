/**
 * Main-thread handle of the training worker (see train-worker.ts). One persistent worker
 * per client: the data is sent once, each round sends only the config and the params.
 */
import { Worker } from 'node:worker_threads';
import type { BackendPreference, LocalResult } from '@fedmeta/meta';
import { isTransportErrorCode, TransportError, type RoundConfig } from '@fedmeta/transport';
import type { ClientDataOptions } from './options.js';

export class TrainingWorker {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: LocalResult) => void; reject: (e: Error) => void }>();

  constructor(data: ClientDataOptions, backend: BackendPreference) {
    this.worker = new Worker(new URL('./train-worker.js', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (m: { id: number; update?: Float32Array; weight?: number; metrics?: LocalResult['metrics']; error?: { code: string; message: string } }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) {
        p.reject(new TransportError(isTransportErrorCode(m.error.code) ? m.error.code : 'ERR_INTERNAL', m.error.message));
      } else {
        p.resolve({ update: m.update!, weight: m.weight!, metrics: m.metrics! });
      }
    });
    this.worker.on('error', (err) => this.failAll(new TransportError('ERR_INTERNAL', `training worker crashed: ${err.message}`, { cause: err })));
    this.worker.postMessage({ kind: 'init', data, backend });
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Trains one round off the main thread. */
  train(config: RoundConfig, params: Float32Array, seed: number): Promise<LocalResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ kind: 'train', id, config, params, seed });
    }).finally(() => {
      if (this.pending.size === 0) this.worker.unref();
    }) as Promise<LocalResult>;
  }

  async terminate(): Promise<void> {
    this.failAll(new TransportError('ERR_CLOSED', 'training worker stopped'));
    await this.worker.terminate();
  }
}
