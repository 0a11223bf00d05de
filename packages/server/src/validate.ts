/**
 * Option validation and defaults. Every error names the option path and the fix, so the
 * CLI can show it as is.
 */
import { systemRng, type Rng } from '@fedmeta/secagg';
import { resolveLimits, TransportError, type Limits } from '@fedmeta/transport';
import { Roster } from './auth.js';
import { ServerError } from './errors.js';
import { systemClock, type Clock } from './clock.js';
import type { AggregationMode, ServerOptions } from './options.js';

export interface ResolvedServerOptions {
  raw: ServerOptions;
  federationId: string;
  rounds: number;
  roster: Roster;
  limits: Limits;
  rng: Rng;
  seed: number;
  cohort: { minClients: number; maxClients: number; minAggregate: number };
  aggregation: {
    mode: AggregationMode;
    security: 'semi-honest' | 'active';
    plusFromClients: number;
    dropoutFraction: number;
    corruptFraction: number;
    threshold?: number;
    degree?: number;
    bits: number;
    elementClip: number;
    l2Clip?: number;
    maxWeight: number;
  };
  deadlines: { authMs: number; waitForClientsMs: number; trainingMs: number; progressMs: number; shareKeysMs: number; maskedInputMs: number; consistencyMs: number; unmaskingMs: number };
  stragglers: { benchRounds: number; maxBenchRounds: number };
  connections: { max: number; perAddress: number; idleTimeoutMs: number; headersTimeoutMs: number };
  clock: Clock;
  heartbeat: { intervalMs: number; timeoutMs: number };
}

function fail(field: string, want: string, got: unknown): never {
  throw new ServerError('ERR_SERVER_CONFIG', `${field}: expected ${want}, got ${JSON.stringify(got) ?? String(got)}`);
}
function posInt(v: unknown, field: string, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(field, `an integer >= ${min}`, v);
  return v;
}
function fraction(v: unknown, field: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) fail(field, 'a number in [0, 1)', v);
  return v;
}
function positive(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(field, 'a finite number > 0', v);
  return v;
}
function ms(v: unknown, field: string, dflt: number): number {
  return v === undefined ? dflt : posInt(v, field);
}

/** The default floor on a released sum: minClients, and never below 3 when masking. */
export function defaultMinAggregate(minClients: number, mode: AggregationMode): number {
  return mode === 'plaintext' ? minClients : Math.max(3, minClients);
}

/**
 * Checks every option and fills defaults.
 * @throws ServerError ERR_SERVER_CONFIG naming the option
 */
export function resolveServerOptions(o: ServerOptions): ResolvedServerOptions {
  if (o === null || typeof o !== 'object') throw new ServerError('ERR_SERVER_CONFIG', 'options: expected an object');
  if (typeof o.federationId !== 'string' || o.federationId.length === 0 || Buffer.byteLength(o.federationId) > 256) {
    fail('federationId', 'a non-empty string of at most 256 bytes', o.federationId);
  }
  if (typeof o.port !== 'number' || !Number.isInteger(o.port) || o.port < 0 || o.port > 65535) fail('port', 'an integer in [0, 65535] (0 = any free port)', o.port);
  const rounds = posInt(o.rounds, 'rounds');
  const roster = new Roster(o.roster);
  if (!o.model || typeof o.model.config?.kind !== 'string') fail('model.config', "a meta model config with a 'kind'", o.model?.config);
  if (o.model.initialParams !== undefined && !(o.model.initialParams instanceof Float32Array)) fail('model.initialParams', 'a Float32Array', typeof o.model.initialParams);
  if (!o.algorithm || typeof o.algorithm.name !== 'string') fail('algorithm.name', 'a meta algorithm name', o.algorithm?.name);
  if (!o.algorithm.hyper || typeof o.algorithm.hyper !== 'object') fail('algorithm.hyper', '{ localSteps, batchSize, lr, ... }', o.algorithm.hyper);
  if (!o.cohort) fail('cohort', '{ minClients }', o.cohort);
  const minClients = posInt(o.cohort.minClients, 'cohort.minClients', 2);
  const maxClients = o.cohort.maxClients === undefined ? 0xffff : posInt(o.cohort.maxClients, 'cohort.maxClients', minClients);
  if (minClients > roster.size) fail('cohort.minClients', `at most the roster size ${roster.size}`, minClients);
  const a = o.aggregation ?? {};
  const mode = a.mode ?? 'auto';
  if (!['auto', 'secagg', 'secagg+', 'plaintext'].includes(mode)) fail('aggregation.mode', "'auto', 'secagg', 'secagg+' or 'plaintext'", mode);
  const minAggregate = o.cohort.minAggregate === undefined ? defaultMinAggregate(minClients, mode) : posInt(o.cohort.minAggregate, 'cohort.minAggregate', 2);
  if (minAggregate > roster.size) {
    throw new ServerError(
      'ERR_SERVER_CONFIG',
      `cohort.minAggregate: ${minAggregate}${o.cohort.minAggregate === undefined ? ' (the default: at least 3 with SecAgg, since in a sum of 2 inputs each member learns the other\'s by subtraction)' : ''} exceeds the roster's ${roster.size} members: add members, or set cohort.minAggregate: 2 explicitly if every member may learn the other's update`,
    );
  }
  const security = a.security ?? 'semi-honest';
  if (security !== 'semi-honest' && security !== 'active') fail('aggregation.security', "'semi-honest' or 'active'", security);
  if (o.dp) {
    positive(o.dp.l2Clip, 'dp.l2Clip');
    positive(o.dp.noiseMultiplier, 'dp.noiseMultiplier');
    fraction(o.dp.delta, 'dp.delta');
    positive(o.dp.epsilonBudget, 'dp.epsilonBudget');
    if (!o.dp.ledgerPath && !o.checkpointDir) fail('dp.ledgerPath', 'a path (or set checkpointDir): the privacy ledger must be persisted', undefined);
    if (o.dp.unit !== undefined && o.dp.unit !== 'client' && o.dp.unit !== 'record') fail('dp.unit', "'client' or 'record'", o.dp.unit);
    if (o.dp.unit === 'record') {
      const r = o.dp.record;
      if (!r || (r.mode !== 'local' && r.mode !== 'distributed')) fail('dp.record.mode', "'local' or 'distributed'", r?.mode);
      if (!(typeof r!.sampleRate === 'number' && r!.sampleRate > 0 && r!.sampleRate <= 1)) fail('dp.record.sampleRate', 'a number in (0, 1]', r!.sampleRate);
      if (r!.mode === 'distributed' && o.aggregation?.mode === 'plaintext') fail('dp.record.mode', "'local' with plaintext aggregation (distributed noise shares need SecAgg)", r!.mode);
      if (r!.mode === 'distributed' && r!.localSteps !== undefined && r!.localSteps !== 1) fail('dp.record.localSteps', '1 with distributed noise', r!.localSteps);
      if (r!.mode === 'distributed') positive(r!.expectedBatchSize, 'dp.record.expectedBatchSize');
      // Every site trains with DP-SGD (FedAvg's step on clipped, noised per-example gradients):
      // another algorithm would silently not run, and its inner steps would not be accounted.
      if (o.algorithm.name !== 'fedavg') fail('algorithm.name', "'fedavg' with record-level DP (every site trains with DP-SGD, FedAvg's step on clipped, noised per-example gradients; meta.algorithm: fedavg)", o.algorithm.name);
      const kind = o.model.config.kind;
      if (kind !== 'linear' && kind !== 'mlp' && kind !== 'cnn') fail('model.config.kind', "linear, mlp or cnn with record-level DP (DP-SGD's per-example gradients)", kind);
    }
  }
  let limits: Limits;
  try {
    limits = resolveLimits(o.limits);
  } catch (e) {
    throw new ServerError('ERR_SERVER_CONFIG', (e as TransportError).message);
  }
  const d = o.deadlines ?? {};
  const h = o.heartbeat ?? {};
  const resolved: ResolvedServerOptions = {
    raw: o,
    federationId: o.federationId,
    rounds,
    roster,
    limits,
    rng: o.rng ?? systemRng,
    seed: o.seed === undefined ? 1 : posInt(o.seed, 'seed', 0),
    cohort: { minClients, maxClients, minAggregate },
    aggregation: {
      mode,
      security,
      plusFromClients: a.plusFromClients === undefined ? 16 : posInt(a.plusFromClients, 'aggregation.plusFromClients', 2),
      dropoutFraction: a.dropoutFraction === undefined ? 0.1 : fraction(a.dropoutFraction, 'aggregation.dropoutFraction'),
      corruptFraction: a.corruptFraction === undefined ? 0.05 : fraction(a.corruptFraction, 'aggregation.corruptFraction'),
      ...(a.threshold === undefined ? {} : { threshold: posInt(a.threshold, 'aggregation.threshold', 2) }),
      ...(a.degree === undefined ? {} : { degree: posInt(a.degree, 'aggregation.degree', 2) }),
      bits: a.bits === undefined ? 32 : posInt(a.bits, 'aggregation.bits', 8),
      elementClip: a.elementClip === undefined ? 1 : positive(a.elementClip, 'aggregation.elementClip'),
      ...(a.l2Clip === undefined ? {} : { l2Clip: positive(a.l2Clip, 'aggregation.l2Clip') }),
      maxWeight: a.maxWeight === undefined ? 10_000 : posInt(a.maxWeight, 'aggregation.maxWeight'),
    },
    deadlines: {
      authMs: ms(d.authMs, 'deadlines.authMs', 10_000),
      waitForClientsMs: ms(d.waitForClientsMs, 'deadlines.waitForClientsMs', 60_000),
      trainingMs: ms(d.trainingMs, 'deadlines.trainingMs', 120_000),
      progressMs: ms(d.progressMs, 'deadlines.progressMs', 30_000),
      shareKeysMs: ms(d.shareKeysMs, 'deadlines.shareKeysMs', 30_000),
      maskedInputMs: ms(d.maskedInputMs, 'deadlines.maskedInputMs', 30_000),
      consistencyMs: ms(d.consistencyMs, 'deadlines.consistencyMs', 30_000),
      unmaskingMs: ms(d.unmaskingMs, 'deadlines.unmaskingMs', 30_000),
    },
    stragglers: {
      benchRounds: o.stragglers?.benchRounds === undefined ? 1 : posInt(o.stragglers.benchRounds, 'stragglers.benchRounds', 0),
      maxBenchRounds: o.stragglers?.maxBenchRounds === undefined ? 8 : posInt(o.stragglers.maxBenchRounds, 'stragglers.maxBenchRounds', 0),
    },
    clock: o.clock ?? systemClock,
    connections: {
      max: o.connections?.max === undefined ? 1024 : posInt(o.connections.max, 'connections.max'),
      perAddress: o.connections?.perAddress === undefined ? 64 : posInt(o.connections.perAddress, 'connections.perAddress'),
      idleTimeoutMs: ms(o.connections?.idleTimeoutMs, 'connections.idleTimeoutMs', 10_000),
      headersTimeoutMs: ms(o.connections?.headersTimeoutMs, 'connections.headersTimeoutMs', 10_000),
    },
    heartbeat: { intervalMs: ms(h.intervalMs, 'heartbeat.intervalMs', 5_000), timeoutMs: ms(h.timeoutMs, 'heartbeat.timeoutMs', 30_000) },
  };
  if (resolved.aggregation.degree !== undefined && resolved.aggregation.degree % 2 !== 0) fail('aggregation.degree', 'an even integer >= 2', resolved.aggregation.degree);
  if (resolved.aggregation.bits > 32) fail('aggregation.bits', 'an integer in [8, 32]', resolved.aggregation.bits);
  return resolved;
}
