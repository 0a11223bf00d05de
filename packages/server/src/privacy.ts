/**
 * Distributed DP glue: the dp package's discrete Gaussian encoder parameters for the
 * round config, its decoder for the aggregate, and its crash-safe ledger, charged
 * BEFORE a round's aggregate is applied or released. Placeholder until the dp
 * package's encoder and ledger land: constructing it reports that DP is unavailable.
 */
import type { Rng } from '@fedmeta/secagg';
import { ServerError } from './errors.js';
import type { RoundEncoding } from './encoding.js';
import type { DpOptions } from './options.js';

export class Privacy {
  constructor(_o: DpOptions, _ledgerPath: string, _paramCount: number) {
    throw new ServerError('ERR_SERVER_CONFIG', 'dp: the distributed discrete Gaussian path is not wired yet in this build');
  }
  async open(): Promise<void> {}
  encoding(_n: number, _round: number, _rng: Rng): RoundEncoding {
    throw new Error('unreachable');
  }
  async charge(_round: number, _survivors: number): Promise<{ ok: boolean; epsilon: number }> {
    throw new Error('unreachable');
  }
  decode(_sum: Uint32Array, _round: number, _survivors: number): { mean: Float32Array; totalWeight: number } {
    throw new Error('unreachable');
  }
  spent(): number {
    return 0;
  }
  close(): void {}
}
