/**
 * Distributed DP glue. Clients clip and add discrete Gaussian noise with the dp package's
 * DDG encoder; the server decodes the SecAgg sum with the same encoder and charges the
 * dp package's crash-safe ledger BEFORE the aggregate is applied or released. The ledger
 * refuses (BudgetExceededError) a charge that would exceed the budget: the federation
 * then stops without using that round's aggregate.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { BudgetExceededError, createDdgEncoder, openLedger, paddedLength, type DdgConfig, type DdgEncoder, type Ledger } from '@fedmeta/dp';
import { toHex, type DdgEncoding } from '@fedmeta/transport';
import type { RoundEncoding } from './encoding.js';
import type { DpOptions } from './options.js';

/** A DDG round's encoding plus what the server needs to decode and account it. */
export interface DpRoundEncoding extends Omit<RoundEncoding, 'wire' | 'decode'> {
  wire: DdgEncoding;
  encoder: DdgEncoder;
  roundSeed: Uint8Array;
}

export class Privacy {
  private ledger: Ledger | null = null;
  private readonly rounds = new Map<number, DpRoundEncoding>();

  constructor(
    private readonly o: DpOptions,
    private readonly ledgerPath: string,
    private readonly paramCount: number,
  ) {}

  /** Opens (or creates) the ledger; a restarted server sees everything charged before the crash. */
  open(): void {
    mkdirSync(dirname(this.ledgerPath), { recursive: true });
    this.ledger = openLedger(this.ledgerPath, { budget: this.o.epsilonBudget, delta: this.o.delta });
  }

  /**
   * The DDG configuration of one round. `minSurvivors` (the secagg threshold) is the
   * fewest clients whose noise can end up in the sum, so the accounting is conservative.
   */
  encoding(round: number, minSurvivors: number): DpRoundEncoding {
    const cfg: DdgConfig = {
      dim: this.paramCount,
      numClients: minSurvivors,
      l2Clip: this.o.l2Clip,
      noiseMultiplier: this.o.noiseMultiplier,
      bits: this.o.bits ?? 32,
    };
    const encoder = createDdgEncoder(cfg);
    // Public per-round seed of the randomised rotation; fresh each round.
    const roundSeed = new Uint8Array(randomBytes(32));
    const enc: DpRoundEncoding = {
      wire: { kind: 'ddg', params: { ...cfg }, roundSeed: toHex(roundSeed) },
      vectorLength: paddedLength(this.paramCount),
      bits: encoder.params.bits,
      encoder,
      roundSeed,
    };
    this.rounds.set(round, enc);
    return enc;
  }

  /**
   * Charges the round to the ledger (fsync'd before returning).
   * @returns ok=false when the budget would be exceeded (nothing charged, nothing may be released)
   */
  charge(round: number): { ok: boolean; epsilon: number } {
    const enc = this.rounds.get(round);
    if (!enc || !this.ledger) throw new Error(`privacy: round ${round} was not prepared`);
    // q = 1: the cohort is whoever is connected, not a uniformly random (Poisson) sample of
    // the population, so no privacy amplification by sampling is claimed.
    try {
      const { epsilon } = this.ledger.charge({ ...enc.encoder.privacyEvent(1), round });
      return { ok: true, epsilon };
    } catch (err) {
      if (err instanceof BudgetExceededError) return { ok: false, epsilon: err.epsilonIfCharged };
      throw err;
    }
  }

  /** The survivors' mean update from the modular sum (sum of clipped + noised updates / count). */
  decode(sum: Uint32Array, round: number, survivors: number): { mean: Float32Array; totalWeight: number } {
    const enc = this.rounds.get(round);
    if (!enc) throw new Error(`privacy: round ${round} was not prepared`);
    this.rounds.delete(round);
    const total = enc.encoder.decode(sum, enc.roundSeed);
    for (let i = 0; i < total.length; i++) total[i] = total[i]! / survivors;
    return { mean: total, totalWeight: survivors };
  }

  /** Epsilon spent so far, recomputed from every ledger record. */
  spent(): number {
    return this.ledger?.spent() ?? 0;
  }

  close(): void {
    this.ledger?.close();
    this.ledger = null;
  }
}
