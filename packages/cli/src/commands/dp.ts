/**
 * `fedmeta dp plan|epsilon|account`: differential-privacy planning and accounting.
 * Argument parsing and output only; all the mathematics lives in @fedmeta/dp.
 */
import { parseArgs } from 'node:util';
import { CliError } from '../errors.js';
import { usageRequested } from '../usage.js';
import {
  DpError,
  PrivacyBudgetError,
  epsilonFor,
  planNoiseMultiplier,
  planRecordLevelSettings,
  recordDdgParams,
  ownShareOnlyEvent,
  epsilonOfEvents,
  noiseToSignal,
  utilityWarning,
  openLedger,
  type AccountantName,
  type NoiseToSignal,
  type PrivacyEvent,
  type RecordLevelSettingsPlan,
  type RecordLevelSettingsQuery,
  type RecordNoiseMode,
} from '@fedmeta/dp';

const USAGE = `usage:
  fedmeta dp plan --epsilon E --delta D --rounds T [--unit client|record] [--dim P]
                  [--accountant rdp|pld] [--clip C] [--json]
      client-level (default): --clients-per-round K --population N
      record-level:  --sample-rate Q (dp.sampleRate) or --records N --batch B (Q = B/N)
                     [--local-steps S] [--sites n] [--mode local|distributed]
                     distributed: --threshold t --dim P [--bits b]
      smallest noise multiplier sigma meeting (E, D). Client-level: each site's whole update
      is the unit, q = K/N per round; prints the epsilon after each round and the per-client
      noise std (clip * sigma / sqrt(K)). Record-level: DP-SGD at each site with Poisson rate
      Q, planned exactly as \`fedmeta server\` plans dp.unit record (the same function, the
      event every site's ledger charges, rdp): local, S = meta.localSteps steps per round at
      sigma; distributed, one step per round whose noise is split into discrete Gaussian
      shares in SecAgg's b-bit ring (b = secagg.bits, default 32), t = the fewest shares in
      any released sum (the SecAgg threshold the server announces), P = the model's
      parameter count. With --dim P it also prints the expected noise-to-signal ratio
      (record-level: given --batch or --records) and warns when the noise dominates.
  fedmeta dp plan --sweep --dim P --delta D --rounds T [--epsilons E1,E2,...] [--epsilon E] ...
      privacy-utility table: epsilon vs noise multiplier vs expected noise-to-signal, for
      client-level (given --clients-per-round, --population) and record-level (given
      --records and --batch, or --sample-rate and --records) DP
  fedmeta dp epsilon --sigma S --q Q --steps T --delta D [--accountant rdp|pld] [--interval I] [--json]
      epsilon spent by T rounds of the Poisson-subsampled Gaussian (--interval: PLD grid, default 1e-4)
  fedmeta dp account --ledger FILE [--json]
      epsilon spent according to a privacy ledger (the server's client-level ledger or a
      site's record-level one)

noise-to-signal (lower bounds: real updates are shorter than the clip and not aligned):
  per round/step: expected L2 norm of the noise of one noisy sum / the largest norm of its
  signal (m contributions clipped to C: m*C) = sigma * E||N(0,I_dim)|| / m, m = sites
  (client-level), the expected batch B (record-level, local) or sites * B (distributed);
  over the run: the same for the sum of all the run's noisy sums (divided by sqrt(count)).`;

/** Exit code for a privacy budget that cannot be met. */
const EXIT_UNREACHABLE = 3;

/** The default epsilons of `plan --sweep`. */
const SWEEP_EPSILONS = [0.5, 1, 2, 4, 8, 16, 32, 64];

function num(name: string, raw: string | undefined, check: (v: number) => boolean, what: string): number {
  if (raw === undefined) throw new CliError(`missing --${name}\n\n${USAGE}`);
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || !check(v)) throw new CliError(`--${name} must be ${what}, got '${raw}'`);
  return v;
}

function optNum(name: string, raw: string | undefined, check: (v: number) => boolean, what: string): number | undefined {
  return raw === undefined ? undefined : num(name, raw, check, what);
}

const isPosInt = (v: number): boolean => Number.isInteger(v) && v >= 1;

function accountantOf(raw: string | undefined): AccountantName {
  const a = raw ?? 'rdp';
  if (a !== 'rdp' && a !== 'pld') throw new CliError(`--accountant must be 'rdp' or 'pld', got '${a}'`);
  return a;
}

/** Rounds at which `plan` reports the running epsilon: all if few, else a log/linear schedule. */
function roundSchedule(total: number): number[] {
  if (total <= 50) return Array.from({ length: total }, (_, i) => i + 1);
  const set = new Set<number>([1, total]);
  for (let r = 1; r < total; r *= 2) set.add(r);
  for (let i = 1; i <= 10; i++) set.add(Math.max(1, Math.round((total * i) / 10)));
  return [...set].sort((a, b) => a - b);
}

function wrapDpError(err: unknown): never {
  if (err instanceof PrivacyBudgetError) throw new CliError(err.message, EXIT_UNREACHABLE);
  if (err instanceof DpError) throw new CliError(err.message, 2);
  throw err;
}

/** Compact number for tables and one-line reports. */
function fmt(x: number): string {
  if (!Number.isFinite(x) || (Number.isInteger(x) && Math.abs(x) < 1e5)) return String(x);
  if (x !== 0 && (Math.abs(x) >= 1e5 || Math.abs(x) < 1e-3)) return x.toExponential(2);
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toPrecision(3);
}

const LEVEL_WORDS: Record<NoiseToSignal['level'], string> = {
  signal: 'the signal can dominate each round',
  noisy: 'each noisy sum is mostly noise; learning relies on averaging over the run',
  dominated: 'NOISE DOMINATES even over the whole run',
};

function utilityJson(r: NoiseToSignal): Record<string, unknown> {
  return {
    unit: r.unit, ...(r.mode ? { mode: r.mode } : {}), dim: r.dim, contributions: r.contributions, releases: r.releases,
    noiseNorm: r.noiseNorm, maxSignalNorm: r.maxSignalNorm,
    perRelease: r.perRelease, perCoordinate: r.perCoordinate, perDirection: r.perDirection, overRun: r.overRun, level: r.level,
  };
}

function utilityLine(r: NoiseToSignal): string {
  const what = r.unit === 'client'
    ? `client-level, ${r.contributions} site update(s) summed per round, ${r.dim} parameters`
    : `record-level, ${r.mode} noise, ${fmt(r.contributions)} record gradients expected per noisy sum, ${r.dim} parameters`;
  const per = r.unit === 'client' ? 'per round' : 'per step';
  return (
    `noise-to-signal (${what}): >= ${fmt(r.perRelease)} ${per} (expected noise norm ${fmt(r.noiseNorm)} x clip vs a signal of at most ${fmt(r.maxSignalNorm)} x clip), ` +
    `>= ${fmt(r.overRun)} over the run (${r.releases} noisy sums); per direction ${fmt(r.perDirection)}: ${LEVEL_WORDS[r.level]}`
  );
}

interface PlanValues {
  epsilon?: string; delta?: string; rounds?: string; unit?: string; dim?: string; accountant?: string; clip?: string; json?: boolean;
  'clients-per-round'?: string; population?: string;
  records?: string; batch?: string; 'sample-rate'?: string; 'local-steps'?: string; sites?: string; mode?: string; threshold?: string; bits?: string;
  sweep?: boolean; epsilons?: string;
}

/** Client-level inputs when both are given (or required), else undefined. */
function clientInputs(v: PlanValues, required: boolean): { k: number; population: number } | undefined {
  if (!required && v['clients-per-round'] === undefined && v.population === undefined) return undefined;
  const k = num('clients-per-round', v['clients-per-round'], isPosInt, 'an integer >= 1');
  const population = num('population', v.population, isPosInt, 'an integer >= 1');
  if (k > population) throw new CliError(`--clients-per-round (${k}) must not exceed --population (${population})`);
  return { k, population };
}

interface RecordInputs {
  /** q: the Poisson sampling rate of every site's records per step. */
  q: number;
  /** The expected batch size (for the noise-to-signal ratio only), when known. */
  batch?: number;
  records?: number;
  localSteps: number;
  sites: number;
  mode: RecordNoiseMode;
  threshold?: number;
  bits?: number;
}

/** Record-level inputs when --sample-rate or --records/--batch are given (or required), else undefined. */
function recordInputs(v: PlanValues, required: boolean): RecordInputs | undefined {
  if (!required && v['sample-rate'] === undefined && v.records === undefined && v.batch === undefined) return undefined;
  const records = optNum('records', v.records, isPosInt, 'an integer >= 1');
  let q: number;
  let batch: number | undefined;
  if (v['sample-rate'] !== undefined) {
    if (v.batch !== undefined) throw new CliError('give --sample-rate Q or --records N --batch B (Q = B/N), not both');
    q = num('sample-rate', v['sample-rate'], (x) => x > 0 && x <= 1, 'a number in (0, 1]');
    if (records !== undefined) batch = q * records;
  } else {
    if (records === undefined || v.batch === undefined) throw new CliError(`record-level DP needs --sample-rate Q (dp.sampleRate) or --records N --batch B\n\n${USAGE}`);
    batch = num('batch', v.batch, (x) => x > 0, 'a number > 0');
    if (batch > records) throw new CliError(`--batch (${batch}) must not exceed --records (${records})`);
    q = batch / records;
  }
  const localSteps = optNum('local-steps', v['local-steps'], isPosInt, 'an integer >= 1') ?? 1;
  const sites = optNum('sites', v.sites, isPosInt, 'an integer >= 1');
  const mode = v.mode ?? 'local';
  if (mode !== 'local' && mode !== 'distributed') throw new CliError(`--mode must be 'local' or 'distributed', got '${mode}'`);
  const threshold = optNum('threshold', v.threshold, isPosInt, 'an integer >= 1');
  const bits = optNum('bits', v.bits, (x) => Number.isInteger(x) && x >= 8 && x <= 32, 'an integer in [8, 32]');
  if (mode === 'distributed') {
    if (threshold === undefined) throw new CliError('--mode distributed needs --threshold t: the fewest sites whose noise shares are in every secure sum (the guarantee holds only if at least t of them add their share honestly)');
    if (sites !== undefined && threshold > sites) throw new CliError(`--threshold (${threshold}) must not exceed --sites (${sites})`);
  } else {
    if (threshold !== undefined) throw new CliError('--threshold applies to --mode distributed only (local noise: each site adds all of sigma)');
    if (bits !== undefined) throw new CliError('--bits applies to --mode distributed only (the ring the noise shares are added in)');
  }
  return {
    q, localSteps, sites: sites ?? threshold ?? 1, mode,
    ...(batch !== undefined ? { batch } : {}), ...(records !== undefined ? { records } : {}),
    ...(threshold !== undefined ? { threshold } : {}), ...(bits !== undefined ? { bits } : {}),
  };
}

/**
 * The dp query of a record-level setting: the same fields `fedmeta server` passes
 * (config/options.ts recordDpOptions) to the same planner, so the plan is the runtime's.
 */
export function recordSettingsQuery(r: RecordInputs, p: { epsilon: number; delta: number; rounds: number; clip: number; dim: number | undefined }): RecordLevelSettingsQuery {
  if (r.mode === 'distributed' && p.dim === undefined) throw new CliError('--mode distributed needs --dim P (the model\'s parameter count): the discrete Gaussian shares\' accounting depends on it');
  return {
    mode: r.mode, epsilon: p.epsilon, delta: p.delta, l2Clip: p.clip, sampleRate: r.q, rounds: p.rounds, localSteps: r.localSteps,
    threshold: r.mode === 'distributed' ? r.threshold! : 1,
    ...(p.dim !== undefined ? { dim: p.dim } : {}),
    ...(r.bits !== undefined ? { bits: r.bits } : {}),
  };
}

function planRecord(r: RecordInputs, p: { epsilon: number; delta: number; rounds: number; clip: number; dim: number | undefined }): RecordLevelSettingsPlan {
  return planRecordLevelSettings(recordSettingsQuery(r, p));
}

/** Noise-to-signal of a record-level plan; undefined without the expected batch size. */
function recordUtility(r: RecordInputs, sigma: number, rounds: number, dim: number): NoiseToSignal | undefined {
  if (r.batch === undefined) return undefined;
  return noiseToSignal({ unit: 'record', mode: r.mode, noiseMultiplier: sigma, batchSize: r.batch, sites: r.sites, dim, steps: r.localSteps * rounds });
}

async function plan(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      epsilon: { type: 'string' }, delta: { type: 'string' }, rounds: { type: 'string' },
      unit: { type: 'string' }, dim: { type: 'string' },
      'clients-per-round': { type: 'string' }, population: { type: 'string' },
      records: { type: 'string' }, batch: { type: 'string' }, 'local-steps': { type: 'string' }, sites: { type: 'string' },
      'sample-rate': { type: 'string' }, mode: { type: 'string' }, threshold: { type: 'string' }, bits: { type: 'string' },
      accountant: { type: 'string' }, clip: { type: 'string' }, json: { type: 'boolean' },
      sweep: { type: 'boolean' }, epsilons: { type: 'string' },
    },
    strict: true,
  });
  if (v.sweep) return sweep(v);
  const unit = v.unit ?? 'client';
  if (unit !== 'client' && unit !== 'record') throw new CliError(`--unit must be 'client' or 'record', got '${unit}'`);
  const epsilon = num('epsilon', v.epsilon, (x) => x > 0, 'a number > 0');
  const delta = num('delta', v.delta, (x) => x > 0 && x < 1, 'a number in (0, 1)');
  const rounds = num('rounds', v.rounds, isPosInt, 'an integer >= 1');
  const dim = optNum('dim', v.dim, isPosInt, 'an integer >= 1');
  const clip = v.clip === undefined ? 1 : num('clip', v.clip, (x) => x > 0, 'a number > 0');
  const accountant = accountantOf(v.accountant);
  if (unit === 'record') return planRecordUnit(v, { epsilon, delta, rounds, dim, clip, accountant });
  const { k, population } = clientInputs(v, true)!;
  const record = recordInputs(v, false);
  const q = k / population;
  let result;
  try {
    result = planNoiseMultiplier({ epsilon, delta, q, steps: rounds, accountant });
  } catch (err) {
    wrapDpError(err);
  }
  const schedule = roundSchedule(rounds).map((round) => ({
    round,
    epsilon: round === rounds ? result.epsilon : epsilonFor({ q, sigma: result.sigma, steps: round, delta, accountant }),
  }));
  const utility = dim === undefined ? undefined : noiseToSignal({ unit: 'client', noiseMultiplier: result.sigma, sites: k, dim, rounds });
  const warning = utility ? utilityWarning(utility) : undefined;
  // The record-level alternative at the same epsilon, when the noise dominates and the inputs allow.
  let alternative: { plan: RecordLevelSettingsPlan; utility: NoiseToSignal } | { error: string } | undefined;
  if (warning && record?.batch !== undefined && dim !== undefined) {
    try {
      const rp = planRecord(record, { epsilon, delta, rounds, clip, dim });
      alternative = { plan: rp, utility: recordUtility(record, rp.sigma, rounds, dim)! };
    } catch (err) {
      if (!(err instanceof DpError)) throw err;
      alternative = { error: err.message };
    }
  }
  const out = {
    command: 'plan',
    unit: 'client',
    accountant,
    sigma: result.sigma,
    noiseMultiplier: result.sigma,
    epsilon: result.epsilon,
    targetEpsilon: epsilon,
    delta,
    rounds,
    q,
    clientsPerRound: k,
    population,
    clip,
    centralNoiseStddev: result.sigma * clip,
    perClientNoiseStddev: (result.sigma * clip) / Math.sqrt(k),
    epsilonByRound: schedule,
    utility: utility ? utilityJson(utility) : null,
    warning: warning ?? null,
    ...(alternative ? { recordLevelAlternative: 'error' in alternative ? { error: alternative.error } : { sigma: alternative.plan.sigma, epsilon: alternative.plan.epsilon, q: record!.q, steps: record!.localSteps * rounds, mode: alternative.plan.mode, utility: utilityJson(alternative.utility) } } : {}),
  };
  if (v.json) {
    if (warning) console.error(warning);
    console.log(JSON.stringify(out));
    return 0;
  }
  console.log(`noise multiplier sigma: ${out.sigma.toPrecision(6)} (${accountant}, q=${q.toPrecision(6)}, ${rounds} rounds, delta=${delta})`);
  console.log(`epsilon after ${rounds} rounds: ${out.epsilon.toPrecision(6)} (target ${epsilon})`);
  console.log(`central noise std: ${out.centralNoiseStddev.toPrecision(6)} (clip ${clip}); per-client noise std: ${out.perClientNoiseStddev.toPrecision(6)} (${k} clients)`);
  if (utility) console.log(utilityLine(utility));
  else console.log(`noise-to-signal: pass --dim P (the model's parameter count) to see it; per direction it is >= sigma / K = ${fmt(result.sigma / k)}`);
  if (warning) console.log(warning);
  if (alternative) {
    if ('error' in alternative) console.log(`record-level DP at epsilon ${epsilon}: ${alternative.error}`);
    else {
      const a = alternative.plan;
      const r = record!;
      const sample = r.records !== undefined ? `${r.records} records per site, batch ${fmt(r.batch!)}, ` : '';
      console.log(
        `record-level DP at the same epsilon (${a.mode} noise; ${sample}q=${fmt(r.q)}, ${r.localSteps} local step(s) x ${rounds} rounds): ` +
          `sigma ${fmt(a.sigma)}; noise-to-signal >= ${fmt(alternative.utility.perRelease)} per step, >= ${fmt(alternative.utility.overRun)} over the run (${alternative.utility.level})`,
      );
    }
  }
  console.log('\n| round | epsilon |\n|---:|---:|');
  for (const r of schedule) console.log(`| ${r.round} | ${r.epsilon.toPrecision(6)} |`);
  return 0;
}

async function planRecordUnit(v: PlanValues, p: { epsilon: number; delta: number; rounds: number; dim: number | undefined; clip: number; accountant: AccountantName }): Promise<number> {
  if (p.accountant !== 'rdp') throw new CliError('--accountant: record-level sites\' ledgers account with rdp; the plan uses the same (omit --accountant or pass rdp)');
  const r = recordInputs(v, true)!;
  let rp: RecordLevelSettingsPlan;
  try {
    rp = planRecord(r, p);
  } catch (err) {
    wrapDpError(err);
  }
  const steps = r.localSteps * p.rounds;
  const t = rp.mode === 'distributed' ? r.threshold! : 1;
  const encoding = rp.mode === 'distributed' ? recordDdgParams({ dim: p.dim!, l2Clip: p.clip, noiseMultiplier: rp.sigma, threshold: t, ...(r.bits !== undefined ? { bits: r.bits } : {}) }) : undefined;
  const utility = p.dim === undefined ? undefined : recordUtility(r, rp.sigma, p.rounds, p.dim);
  const warning = utility ? utilityWarning(utility) : undefined;
  const shareMultiplier = rp.sigma / Math.sqrt(t);
  const out = {
    command: 'plan',
    unit: 'record',
    mode: rp.mode,
    accountant: 'rdp',
    sigma: rp.sigma,
    noiseMultiplier: rp.sigma,
    epsilon: rp.epsilon,
    targetEpsilon: p.epsilon,
    delta: p.delta,
    q: r.q,
    sampleRate: r.q,
    ...(r.records !== undefined ? { records: r.records } : {}),
    ...(r.batch !== undefined ? { batchSize: r.batch } : {}),
    rounds: p.rounds,
    localSteps: r.localSteps,
    steps,
    sites: r.sites,
    threshold: t,
    clip: p.clip,
    noiseStddev: rp.sigma * p.clip,
    shareMultiplier,
    shareNoiseStddev: shareMultiplier * p.clip,
    encoding: encoding ? { dim: encoding.dim, bits: encoding.bits, scaleBits: encoding.scaleBits } : null,
    epsilonOwnShareOnly: rp.epsilonOwnShareOnly ?? null,
    roundEvent: rp.roundEvent,
    utility: utility ? utilityJson(utility) : null,
    warning: warning ?? null,
  };
  if (v.json) {
    if (warning) console.error(warning);
    console.log(JSON.stringify(out));
    return 0;
  }
  const sample = r.records !== undefined && v['sample-rate'] === undefined ? ` = batch ${fmt(r.batch!)} / ${r.records} records` : '';
  console.log(`record-level DP-SGD noise multiplier sigma: ${rp.sigma.toPrecision(6)} (${rp.mode} noise, rdp, q=${r.q.toPrecision(6)}${sample}, ${r.localSteps} local step(s) x ${p.rounds} rounds = ${steps} steps, delta=${p.delta})`);
  console.log(`epsilon of each record at every site after ${p.rounds} rounds: ${rp.epsilon.toPrecision(6)} (target ${p.epsilon}), by the event each site's ledger charges`);
  if (rp.mode === 'local') {
    console.log(`noise: each site adds std ${fmt(out.noiseStddev)} (sigma x per-example clip ${p.clip}) per coordinate to every step's clipped gradient sum`);
  } else {
    console.log(
      `noise: each site adds a discrete Gaussian share (std ${fmt(out.shareNoiseStddev)} = sigma/sqrt(${t}) x clip ${p.clip}) to its rounded clipped gradient sum in the ${encoding!.bits}-bit ring ` +
        `(${p.dim} parameters, step clip/2^${encoding!.scaleBits}); the secure sum of ${t} shares carries std ${fmt(out.noiseStddev)}`,
    );
    console.log(
      `trust: this holds only if at least ${t} sites in every sum add their share honestly and keep it secret; ` +
        `protected by its own share alone a site's records get epsilon ${fmt(rp.epsilonOwnShareOnly!)} (rdp)`,
    );
  }
  console.log(`ledger: every site charges ${JSON.stringify(rp.roundEvent)} to its ledger each round, before its update leaves the site`);
  if (utility) console.log(utilityLine(utility));
  else if (p.dim === undefined) console.log('noise-to-signal: pass --dim P (the model\'s parameter count) to see it');
  else console.log('noise-to-signal: pass --records N (a site\'s record count; the expected batch is q x N) to see it');
  if (warning) console.log(warning);
  return 0;
}

function epsilonList(v: PlanValues): number[] {
  const list = v.epsilons === undefined ? [...SWEEP_EPSILONS] : v.epsilons.split(',').map((raw) => num('epsilons', raw, (x) => x > 0, 'a comma-separated list of numbers > 0'));
  if (v.epsilon !== undefined) list.push(num('epsilon', v.epsilon, (x) => x > 0, 'a number > 0'));
  return [...new Set(list)].sort((a, b) => a - b);
}

type SweepCell = { noiseMultiplier: number; epsilon: number; utility: NoiseToSignal } | { unreachable: string };

async function sweep(v: PlanValues): Promise<number> {
  const delta = num('delta', v.delta, (x) => x > 0 && x < 1, 'a number in (0, 1)');
  const rounds = num('rounds', v.rounds, isPosInt, 'an integer >= 1');
  const dim = num('dim', v.dim, isPosInt, 'an integer >= 1 (the model\'s parameter count: the noise-to-signal depends on it)');
  const accountant = accountantOf(v.accountant);
  const client = clientInputs(v, false);
  const record = recordInputs(v, false);
  if (!client && !record) throw new CliError(`--sweep needs client-level inputs (--clients-per-round, --population), record-level ones (--records and --batch, or --sample-rate and --records) or both\n\n${USAGE}`);
  if (record && record.batch === undefined) throw new CliError('--sweep with record-level DP needs --records N (the noise-to-signal depends on the expected batch q x N)');
  const clip = v.clip === undefined ? 1 : num('clip', v.clip, (x) => x > 0, 'a number > 0');
  const epsilons = epsilonList(v);
  const cell = (f: () => { noiseMultiplier: number; epsilon: number; utility: NoiseToSignal }): SweepCell => {
    try {
      return f();
    } catch (err) {
      if (err instanceof PrivacyBudgetError) return { unreachable: err.message };
      if (err instanceof DpError) throw new CliError(err.message, 2);
      throw err;
    }
  };
  const rows = epsilons.map((epsilon) => ({
    epsilon,
    ...(client ? {
      client: cell(() => {
        const p = planNoiseMultiplier({ epsilon, delta, q: client.k / client.population, steps: rounds, accountant });
        return { noiseMultiplier: p.sigma, epsilon: p.epsilon, utility: noiseToSignal({ unit: 'client', noiseMultiplier: p.sigma, sites: client.k, dim, rounds }) };
      }),
    } : {}),
    ...(record ? {
      record: cell(() => {
        const p = planRecord(record, { epsilon, delta, rounds, clip, dim });
        return { noiseMultiplier: p.sigma, epsilon: p.epsilon, utility: recordUtility(record, p.sigma, rounds, dim)! };
      }),
    } : {}),
  }));
  const cellJson = (c: SweepCell | undefined) => (c === undefined ? undefined : 'unreachable' in c ? { unreachable: true, message: c.unreachable } : { noiseMultiplier: c.noiseMultiplier, epsilon: c.epsilon, utility: utilityJson(c.utility) });
  if (v.json) {
    console.log(JSON.stringify({
      command: 'plan', sweep: rows.map((r) => ({ epsilon: r.epsilon, ...(r.client ? { client: cellJson(r.client) } : {}), ...(r.record ? { record: cellJson(r.record) } : {}) })),
      delta, rounds, dim, accountant,
      ...(client ? { clientsPerRound: client.k, population: client.population } : {}),
      ...(record ? { records: record.records, batchSize: record.batch, sampleRate: record.q, recordAccountant: 'rdp', localSteps: record.localSteps, sites: record.sites, mode: record.mode, ...(record.threshold !== undefined ? { threshold: record.threshold } : {}) } : {}),
    }));
    return 0;
  }
  const heads: string[] = [];
  if (client) heads.push(`client-level: ${client.k} of ${client.population} sites per round (q=${fmt(client.k / client.population)}), ${rounds} rounds`);
  if (record) heads.push(`record-level (${record.mode} noise${record.threshold !== undefined ? `, t=${record.threshold}` : ''}, rdp as the sites' ledgers): ${record.records} records per site, expected batch ${fmt(record.batch!)} (q=${fmt(record.q)}), ${record.localSteps} local step(s) x ${rounds} rounds, ${record.sites} site(s)`);
  console.log(`privacy-utility sweep (${accountant}, delta ${delta}, ${dim} parameters)`);
  for (const h of heads) console.log(`  ${h}`);
  console.log('noise-to-signal: expected noise norm / largest signal norm of one noisy sum ("per sum") and of the whole run ("run"); lower bounds. >1 per sum: noisy; >1 over the run: noise dominates (!)');
  const cols = ['epsilon'];
  if (client) cols.push('client z', 'client per round', 'client run');
  if (record) cols.push('record sigma', 'record per step', 'record run');
  console.log(`\n| ${cols.join(' | ')} |\n|${cols.map(() => '---:').join('|')}|`);
  const cellText = (c: SweepCell): string[] => ('unreachable' in c ? ['unreachable', '-', '-'] : [fmt(c.noiseMultiplier), fmt(c.utility.perRelease), `${fmt(c.utility.overRun)}${c.utility.level === 'dominated' ? ' (!)' : ''}`]);
  for (const r of rows) {
    const cells = [String(r.epsilon)];
    if (r.client) cells.push(...cellText(r.client));
    if (r.record) cells.push(...cellText(r.record));
    console.log(`| ${cells.join(' | ')} |`);
  }
  return 0;
}

async function epsilon(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sigma: { type: 'string' }, q: { type: 'string' }, steps: { type: 'string' }, delta: { type: 'string' },
      accountant: { type: 'string' }, interval: { type: 'string' }, json: { type: 'boolean' },
    },
    strict: true,
  });
  const sigma = num('sigma', values.sigma, (v) => v > 0, 'a number > 0');
  const q = num('q', values.q, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  const steps = num('steps', values.steps, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0');
  const delta = num('delta', values.delta, (v) => v > 0 && v < 1, 'a number in (0, 1)');
  const accountant = accountantOf(values.accountant);
  const interval = values.interval === undefined ? undefined : num('interval', values.interval, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  let eps: number;
  try {
    eps = epsilonFor({ q, sigma, steps, delta, accountant, ...(interval !== undefined ? { interval } : {}) });
  } catch (err) {
    wrapDpError(err);
  }
  if (!Number.isFinite(eps)) console.error(`fedmeta dp: epsilon is unbounded at delta ${delta} (${accountant}); JSON reports null`);
  if (values.json) console.log(JSON.stringify({ command: 'epsilon', accountant, epsilon: Number.isFinite(eps) ? eps : null, unbounded: !Number.isFinite(eps), sigma, q, steps, delta }));
  else console.log(`epsilon: ${eps} (${accountant}, sigma=${sigma}, q=${q}, steps=${steps}, delta=${delta})`);
  return 0;
}

async function account(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ledger: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  if (!values.ledger) throw new CliError(`missing --ledger\n\n${USAGE}`);
  let summary;
  let last: { round: number; q: number; sigma: number; steps: number } | { round: number; mechanism: 'ddg'; q: number; localSigma: number; l2Sensitivity: number; numClients: number; dim: number } | undefined;
  try {
    const ledger = openLedger(values.ledger, { readOnly: true });
    summary = ledger.summary();
    const e = ledger.events.at(-1);
    if (e?.mechanism === 'gaussian') last = { round: e.round, q: e.q, sigma: e.sigma, steps: e.steps ?? 1 };
    else if (e?.mechanism === 'ddg') last = { round: e.round, mechanism: 'ddg', q: e.q, localSigma: e.localSigma, l2Sensitivity: e.l2Sensitivity, numClients: e.numClients, dim: e.dim };
    // Own share only: a DDG round counts one share (numClients 1), a Gaussian one sigma/sqrt(t).
    // Recomputed here from the events, the same as the planner's (record-ddg.ts ownShareOnlyEvent).
    if (summary.recordLevel?.mode === 'distributed' && summary.tornRecords === 0) {
      const t = summary.recordLevel.threshold;
      const own = ledger.events.map(({ round: _r, seq: _s, epsilonAfter: _e, ...ev }) => ownShareOnlyEvent(ev as PrivacyEvent, t));
      summary.epsilonOwnShareOnly = epsilonOfEvents(own, summary.delta, 'rdp');
    }
    ledger.close();
  } catch (err) {
    if (err instanceof Error && 'code' in err && (err as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`ledger file not found: ${values.ledger}`);
    wrapDpError(err);
  }
  const out = { command: 'account', ledger: values.ledger, ...summary, epsilon: Number.isFinite(summary.epsilon) ? summary.epsilon : null, ...(last ? { lastCharge: last } : {}) };
  if (values.json) console.log(JSON.stringify(out));
  else {
    const torn = summary.tornRecords ? `, ${summary.tornRecords} torn record(s) counted as spent` : '';
    if (summary.unit === 'record') {
      const how = summary.recordLevel?.mode === 'distributed' ? `distributed noise, threshold ${summary.recordLevel.threshold}` : 'local noise';
      console.log(`${summary.site !== undefined ? `site ${summary.site}: ` : ''}record-level DP-SGD (${how}): epsilon spent ${summary.epsilon} at delta ${summary.delta} (${summary.accountant}) over ${summary.steps} steps in ${summary.events} charge(s)${torn}`);
      if (last && 'sigma' in last) console.log(`last charge: round ${last.round}, ${last.steps} step(s) at q=${last.q}, sigma=${last.sigma}`);
      else if (last) console.log(`last charge: round ${last.round}, one discrete Gaussian step at q=${last.q}: ${last.numClients} shares of s=${fmt(last.localSigma)}, sensitivity ${fmt(last.l2Sensitivity)} (integer units), ${last.dim} parameters`);
      if (summary.epsilonOwnShareOnly !== undefined) {
        console.log(`if no other site's noise share were honest (this site's own share, sigma/sqrt(${summary.recordLevel!.threshold}), only): epsilon ${summary.epsilonOwnShareOnly} (rdp)`);
      }
    } else {
      console.log(`epsilon spent: ${summary.epsilon} at delta ${summary.delta} (${summary.accountant}, client-level, ${summary.events} events${torn})`);
    }
    console.log(`budget: ${summary.budget}; remaining: ${Math.max(0, summary.budget - summary.epsilon)}`);
  }
  return 0;
}

/** Entry point: `fedmeta dp <plan|epsilon|account> [options]`. */
export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const helped = usageRequested(sub, USAGE);
  if (helped !== null) return helped;
  try {
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(USAGE);
      return 0;
    }
    if (sub === 'plan') return await plan(rest);
    if (sub === 'epsilon') return await epsilon(rest);
    if (sub === 'account') return await account(rest);
  } catch (err) {
    if (err instanceof TypeError && 'code' in err && String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) {
      throw new CliError(`${err.message}\n\n${USAGE}`);
    }
    throw err;
  }
  throw new CliError(`unknown dp sub-command '${sub}'\n\n${USAGE}`);
}
