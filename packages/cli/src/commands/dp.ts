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
  openLedger,
  type AccountantName,
} from '@fedmeta/dp';

const USAGE = `usage:
  fedmeta dp plan --epsilon E --delta D --rounds T --clients-per-round K --population N
                  [--accountant rdp|pld] [--clip C] [--json]
      smallest noise multiplier sigma meeting (E, D); prints sigma, the epsilon after
      each round (a schedule of rounds) and the per-client noise std (clip * sigma / sqrt(K))
  fedmeta dp epsilon --sigma S --q Q --steps T --delta D [--accountant rdp|pld] [--interval I] [--json]
      epsilon spent by T rounds of the Poisson-subsampled Gaussian (--interval: PLD grid, default 1e-4)
  fedmeta dp account --ledger FILE [--json]
      epsilon spent according to a privacy ledger`;

/** Exit code for a privacy budget that cannot be met. */
const EXIT_UNREACHABLE = 3;

function num(name: string, raw: string | undefined, check: (v: number) => boolean, what: string): number {
  if (raw === undefined) throw new CliError(`missing --${name}\n\n${USAGE}`);
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || !check(v)) throw new CliError(`--${name} must be ${what}, got '${raw}'`);
  return v;
}

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

async function plan(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      epsilon: { type: 'string' }, delta: { type: 'string' }, rounds: { type: 'string' },
      'clients-per-round': { type: 'string' }, population: { type: 'string' },
      accountant: { type: 'string' }, clip: { type: 'string' }, json: { type: 'boolean' },
    },
    strict: true,
  });
  const epsilon = num('epsilon', values.epsilon, (v) => v > 0, 'a number > 0');
  const delta = num('delta', values.delta, (v) => v > 0 && v < 1, 'a number in (0, 1)');
  const rounds = num('rounds', values.rounds, (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
  const k = num('clients-per-round', values['clients-per-round'], (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
  const population = num('population', values.population, (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
  if (k > population) throw new CliError(`--clients-per-round (${k}) must not exceed --population (${population})`);
  const clip = values.clip === undefined ? 1 : num('clip', values.clip, (v) => v > 0, 'a number > 0');
  const accountant = accountantOf(values.accountant);
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
  const out = {
    command: 'plan',
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
  };
  if (values.json) console.log(JSON.stringify(out));
  else {
    console.log(`noise multiplier sigma: ${out.sigma.toPrecision(6)} (${accountant}, q=${q.toPrecision(6)}, ${rounds} rounds, delta=${delta})`);
    console.log(`epsilon after ${rounds} rounds: ${out.epsilon.toPrecision(6)} (target ${epsilon})`);
    console.log(`central noise std: ${out.centralNoiseStddev.toPrecision(6)} (clip ${clip}); per-client noise std: ${out.perClientNoiseStddev.toPrecision(6)} (${k} clients)`);
    console.log('\n| round | epsilon |\n|---:|---:|');
    for (const r of schedule) console.log(`| ${r.round} | ${r.epsilon.toPrecision(6)} |`);
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
  try {
    const ledger = openLedger(values.ledger, { readOnly: true });
    summary = ledger.summary();
    ledger.close();
  } catch (err) {
    if (err instanceof Error && 'code' in err && (err as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`ledger file not found: ${values.ledger}`);
    wrapDpError(err);
  }
  const out = { command: 'account', ledger: values.ledger, ...summary };
  if (values.json) console.log(JSON.stringify(out));
  else {
    console.log(`epsilon spent: ${summary.epsilon} at delta ${summary.delta} (${summary.accountant}, ${summary.events} events${summary.tornRecords ? `, ${summary.tornRecords} torn record counted as spent` : ''})`);
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
