/**
 * Record-level DP at a site: the checks before round 1, the site's own ledger and the
 * CSPRNG sources of DP-SGD.
 *
 * Before any round the site recomputes, from the announced public parameters only (q,
 * sigma, C, steps, t, the encoding), the epsilon its records will spend with the dp
 * package's accountant - the same event its ledger charges - and refuses (ERR_POLICY_REFUSED)
 * when the announced noise does not meet the announced target, when it exceeds
 * client.policy.maxEpsilon, or when the ledger's past charges plus the remaining rounds
 * exceed the site's own budget. Epsilon does not depend on the site's record count N (only
 * on q, sigma, the steps and t), so the coordinator needs no N and no site is refused for
 * its size.
 *
 * Every round, `charge` writes the round's event to the fsync'd ledger BEFORE training, so
 * before anything derived from the records leaves the site: a crash over-counts, never
 * under-counts. A charge that would exceed the budget throws (nothing is trained or sent).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { BudgetExceededError, BufferedRandom, epsilonOfEvents, fillGaussian, openSiteLedger, recordLevelEpsilon, recordLevelRoundEvent, type Ledger, type PrivacyEvent, type RandomSource, type RecordLevelSettingsQuery } from '@fedmeta/dp';
import type { Rng } from '@fedmeta/secagg';
import { TransportError, type FederationSettings, type RecordLevelDpSettings, type RoundConfig } from '@fedmeta/transport';
import type { DpSgdSources } from '@fedmeta/meta';
import type { SitePolicy } from './policy.js';

/** A site's record-level DP options (client.dp in the config file). */
export interface ClientDpOptions {
  /** Path of this site's own privacy ledger (created on first use, fsync'd on every charge). */
  ledger: string;
  /** This site's epsilon budget over every federation charged to this ledger; default client.policy.maxEpsilon, else the announced target. */
  budget?: number;
}

/** Relative slack for recomputing the coordinator's float epsilon. */
const SLACK = 1e-9;

/**
 * DP-SGD's Poisson sampling and Gaussian noise from one CSPRNG stream (the client's Rng, the OS
 * CSPRNG by default): the uniforms are 53-bit draws of the stream, the noise the dp package's
 * bulk sampler (fillGaussian: a ziggurat over bulk words of the same stream).
 */
export function recordDpSources(rng: Rng | RandomSource): DpSgdSources {
  const r: RandomSource = 'uniform53' in rng ? rng : new BufferedRandom((out) => void rng.fill(out));
  return {
    uniform: () => r.uniform53(),
    gaussian: (out, std) => fillGaussian(out, std, r),
  };
}

/** The dp query of an announced record-level setting. */
export function recordQuery(s: RecordLevelDpSettings, rounds: number): RecordLevelSettingsQuery {
  const e = s.encoding;
  return { mode: s.mode, epsilon: s.epsilonBudget, delta: s.delta, l2Clip: s.l2Clip, sampleRate: s.sampleRate, rounds, localSteps: s.localSteps, threshold: s.threshold, ...(e ? { dim: e.dim, bits: e.bits, scaleBits: e.scaleBits } : {}) };
}

function refuse(message: string): TransportError {
  return new TransportError('ERR_POLICY_REFUSED', `record-level DP: ${message}`);
}

/**
 * Problems with an announced record-level setting for this site (empty: accepted).
 */
export function recordLevelViolations(policy: SitePolicy, s: RecordLevelDpSettings, rounds: number): string[] {
  const v: string[] = [];
  let epsilon: number;
  try {
    epsilon = recordLevelEpsilon(recordQuery(s, rounds), s.noiseMultiplier);
  } catch (err) {
    return [`the announced setting cannot be accounted: ${(err as Error).message}`];
  }
  if (!(epsilon <= s.epsilonBudget * (1 + SLACK))) v.push(`the announced noise multiplier ${s.noiseMultiplier} gives epsilon ${epsilon.toFixed(4)} over ${rounds} rounds, above the announced target ${s.epsilonBudget}`);
  if (policy.maxEpsilon !== undefined && !(epsilon <= policy.maxEpsilon)) v.push(`maxEpsilon ${policy.maxEpsilon}: this site's records would spend epsilon ${epsilon.toFixed(4)} over ${rounds} rounds`);
  return v;
}

/** A site's record-level DP state for one federation: its ledger and the announced setting. */
export class SiteRecordDp {
  private constructor(
    readonly settings: RecordLevelDpSettings,
    private readonly ledger: Ledger,
    private readonly rounds: number,
  ) {}

  /**
   * Accepts or refuses the announced setting before any round (see the module comment).
   * @param nextRound the federation's next round (the welcome's): the rounds still to come
   * @throws TransportError ERR_POLICY_REFUSED naming the reason
   */
  static accept(o: ClientDpOptions | undefined, policy: SitePolicy, settings: FederationSettings, site: string, nextRound: number): SiteRecordDp {
    const s = settings.dp;
    if (!s || s.unit !== 'record') throw refuse('the federation announces no record-level setting');
    if (!o?.ledger) throw refuse('the federation protects records with DP-SGD, which needs this site\'s own ledger: set client.dp.ledger');
    const violations = recordLevelViolations(policy, s, settings.rounds);
    if (violations.length > 0) throw refuse(violations.join('; '));
    const budget = o.budget ?? policy.maxEpsilon ?? s.epsilonBudget;
    mkdirSync(dirname(o.ledger), { recursive: true });
    let ledger: Ledger;
    try {
      ledger = openSiteLedger(o.ledger, { site, budget, delta: s.delta, recordLevel: { mode: s.mode, threshold: s.threshold } });
    } catch (err) {
      throw refuse(`ledger ${o.ledger}: ${(err as Error).message}`);
    }
    const remaining = Math.max(0, settings.rounds - nextRound + 1);
    const ev = recordLevelRoundEvent(recordQuery(s, settings.rounds), s.noiseMultiplier);
    const past = ledger.events.map(({ round: _r, seq: _s, epsilonAfter: _e, ...e }) => e as PrivacyEvent);
    const total = epsilonOfEvents([...past, ...Array.from({ length: remaining }, () => ev)], ledger.delta, ledger.accountant);
    if (!(total <= ledger.budget)) {
      ledger.close();
      throw refuse(`the ledger ${o.ledger} has spent epsilon ${ledger.spent().toFixed(4)}; ${remaining} more round(s) would bring it to ${total.toFixed(4)}, above this site's budget ${ledger.budget}`);
    }
    return new SiteRecordDp(s, ledger, settings.rounds);
  }

  /** The event one round charges. */
  roundEvent(): PrivacyEvent {
    return recordLevelRoundEvent(recordQuery(this.settings, this.rounds), this.settings.noiseMultiplier);
  }

  /**
   * Charges round `config.round` to the ledger (fsync'd) before the site trains on its records.
   * @returns epsilon spent including this round
   * @throws TransportError ERR_POLICY_REFUSED when the charge would exceed the budget (nothing written)
   */
  charge(config: RoundConfig): number {
    const d = config.federation.dp;
    if (JSON.stringify(d) !== JSON.stringify(this.settings)) throw refuse(`round ${config.round} announces record-level settings other than those this site accepted`);
    const e = config.encoding;
    if (this.settings.mode === 'distributed') {
      const p = e.kind === 'record-ddg' ? (e.params as Record<string, unknown>) : null;
      const want = this.settings.encoding!;
      if (!p || p.dim !== want.dim || p.bits !== want.bits || p.scaleBits !== want.scaleBits || p.threshold !== this.settings.threshold || p.noiseMultiplier !== this.settings.noiseMultiplier || p.l2Clip !== this.settings.l2Clip) {
        throw refuse(`round ${config.round}'s encoding differs from the accepted distributed setting`);
      }
    } else if (e.kind !== 'quantize') throw refuse(`round ${config.round}: local noise expects the quantiser, got ${e.kind}`);
    try {
      return this.ledger.charge({ ...this.roundEvent(), round: config.round }).epsilon;
    } catch (err) {
      if (err instanceof BudgetExceededError) throw refuse(`round ${config.round} would bring this site's epsilon to ${err.epsilonIfCharged.toFixed(4)}, above its budget ${err.budget}: not training`);
      throw err;
    }
  }

  spent(): number {
    return this.ledger.spent();
  }

  close(): void {
    this.ledger.close();
  }
}
