/**
 * Mapping a validated config onto the server and client libraries' option objects.
 * Files are read here (TLS PEMs, roster, identity); the libraries only ever see bytes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientOptions } from '@fedmeta/client';
import type { ServerOptions } from '@fedmeta/server';
import { CliError } from '../errors.js';
import { readIdentity, readRoster, type Identity, type RosterEntry } from '../identity.js';
import type { FedmetaConfig } from './fedmeta-schema.js';

/** Reads a file named by a config field; a missing file is a CliError naming the field. */
export function readConfiguredFile(field: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CliError(`${field}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** The model config the meta package builds (inputs 28x28x1 for the demo datasets). */
export function modelConfig(c: FedmetaConfig, inputShape: number[], numClasses: number): ServerOptions['model']['config'] {
  if (c.meta.model === 'cnn') {
    if (inputShape.length !== 3) throw new CliError(`meta.model: cnn needs image data [height, width, channels] (the data has shape [${inputShape.join(', ')}]); use mlp`);
    return { kind: 'cnn', inputShape, channels: [16, 32], embedding: c.meta.hidden, numClasses };
  }
  if (c.meta.model === 'linear') return { kind: 'linear', inputShape, numClasses };
  return { kind: 'mlp', inputShape, hidden: [c.meta.hidden], numClasses };
}

/** Local training every client runs (the meta package's LocalHyper). */
export function algorithmOptions(c: FedmetaConfig): ServerOptions['algorithm'] {
  const m = c.meta;
  return {
    name: m.algorithm,
    hyper: {
      localSteps: m.localSteps,
      batchSize: m.batchSize,
      lr: m.lr,
      ...(m.innerLr !== undefined ? { innerLr: m.innerLr } : {}),
      ...(m.innerSteps !== undefined ? { innerSteps: m.innerSteps } : {}),
      ...(m.mu !== undefined ? { mu: m.mu } : {}),
    },
  };
}

/** The server's aggregation options from the config's secagg section. */
export function aggregationOptions(c: FedmetaConfig): NonNullable<ServerOptions['aggregation']> {
  const a = c.secagg;
  return {
    mode: a.mode,
    security: a.security,
    plusFromClients: a.plusFromClients,
    dropoutFraction: a.dropoutFraction,
    corruptFraction: a.corruptFraction,
    elementClip: a.clip,
    ...(a.threshold !== undefined ? { threshold: a.threshold } : {}),
    ...(a.bits !== undefined ? { bits: a.bits } : {}),
  };
}

/**
 * The cohort sizes the server may run a round with: at least server.minClients, at most
 * the clients per round and the population (the roster's active entries for a real
 * server, simulate.clients for `fedmeta simulate`, which builds its roster itself).
 */
export function cohortRange(c: FedmetaConfig): { minClients: number; maxClients: number; minAggregate?: number } {
  const population = c.server.roster !== undefined ? readRoster(c.server.roster).clients.filter((e) => !e.revoked).length : c.simulate.clients;
  const perRound = c.server.clientsPerRound > 0 ? Math.min(c.server.clientsPerRound, population) : population;
  const minClients = Math.max(2, c.server.minClients);
  return { minClients, maxClients: Math.max(minClients, perRound), ...(c.server.minAggregate !== undefined ? { minAggregate: c.server.minAggregate } : {}) };
}

/**
 * The noise multiplier: the configured one, or the smallest that keeps `rounds` releases
 * within the budget under the SAME accounting the server's ledger charges (the dp
 * package's distributed discrete Gaussian event), with q = 1 (every round counted as a
 * release of the whole population: no sampling amplification claimed). numClients is the
 * server's own choice (@fedmeta/server plannedDpNumClients over cohortRange): the largest
 * count any round can be charged with, since a DDG round's epsilon grows with it, so
 * every planned round fits the budget whichever cohort sizes occur.
 * @param dim the model's parameter count (the DDG accounting depends on it)
 */
export async function noiseMultiplier(c: FedmetaConfig, dim: number, resumeFrom: string | null = null): Promise<number> {
  if (c.dp.noiseMultiplier !== undefined) return c.dp.noiseMultiplier;
  return (await planNoise(c, dim, resumeFrom)).noiseMultiplier;
}

/** What a checkpoint directory says about a federation being continued: rounds done and the ledger's events. */
export interface ResumedPrivacy {
  ledger: string;
  roundsDone: number;
  events: import('@fedmeta/dp').PrivacyEvent[];
  spent: number;
  budget: number;
}

/** The checkpoint and ledger in `dir`, when both exist (else null: a fresh federation). */
export async function resumedPrivacy(dir: string): Promise<ResumedPrivacy | null> {
  const { loadCheckpoint } = await import('@fedmeta/server');
  const ledger = join(dir, 'ledger.json');
  let ck: ReturnType<typeof loadCheckpoint>;
  try {
    ck = loadCheckpoint(dir);
  } catch {
    return null; // unreadable: the server itself reports it, naming the file
  }
  if (!ck || !existsSync(ledger)) return null;
  const { openLedger } = await import('@fedmeta/dp');
  const l = openLedger(ledger, { readOnly: true });
  try {
    return { ledger, roundsDone: ck.nextRound - 1, events: l.events.map(({ round: _r, seq: _s, epsilonAfter: _e, ...ev }) => ev as import('@fedmeta/dp').PrivacyEvent), spent: l.spent(), budget: l.budget };
  } finally {
    l.close();
  }
}

/** The plan behind noiseMultiplier(): z, the numClients it was planned for and its epsilon. */
export async function planNoise(c: FedmetaConfig, dim: number, resumeFrom: string | null = null): Promise<{ noiseMultiplier: number; numClients: number; epsilon: number; resumed?: { roundsDone: number; spent: number; remaining: number } }> {
  const dp = await import('@fedmeta/dp');
  const { plannedDpNumClients } = await import('@fedmeta/server');
  const steps = c.server.rounds;
  const numClients = plannedDpNumClients(cohortRange(c), aggregationOptions(c));
  const resumed = resumeFrom === null ? null : await resumedPrivacy(resumeFrom);
  if (resumed && resumed.events.length > 0 && steps > resumed.roundsDone) {
    return { ...planRemainingNoise(dp, c, dim, numClients, resumed, steps - resumed.roundsDone), numClients };
  }
  try {
    const plan = dp.planDdgNoiseMultiplier({
      dim,
      numClients,
      l2Clip: c.dp.l2Clip,
      bits: c.secagg.bits ?? 32,
      epsilon: c.dp.epsilon,
      delta: c.dp.delta,
      q: 1,
      steps,
    });
    return { noiseMultiplier: plan.noiseMultiplier, numClients, epsilon: plan.epsilon };
  } catch (err) {
    throw new CliError(`dp.epsilon: cannot plan noise for epsilon ${c.dp.epsilon} over ${steps} rounds (${numClients} clients per sum): ${(err as Error).message}`);
  }
}

/**
 * The noise multiplier for the rounds a continued federation has left: the smallest z such
 * that the ledger's events so far plus `remaining` rounds at z stay within the budget
 * (epsilon recomputed over all of them, as the ledger will). Bisection on log z.
 * @throws CliError naming dp.epsilon when not even z = 1e4 fits (the budget is spent)
 */
function planRemainingNoise(dp: typeof import('@fedmeta/dp'), c: FedmetaConfig, dim: number, numClients: number, r: ResumedPrivacy, remaining: number): { noiseMultiplier: number; epsilon: number; resumed: { roundsDone: number; spent: number; remaining: number } } {
  const budget = c.dp.epsilon;
  const eps = (z: number): number => {
    try {
      const ev = dp.createDdgEncoder({ dim, numClients, l2Clip: c.dp.l2Clip, noiseMultiplier: z, bits: c.secagg.bits ?? 32 }).privacyEvent(1);
      return dp.epsilonOfEvents([...r.events, ...Array.from({ length: remaining }, () => ev)], c.dp.delta);
    } catch (err) {
      if (err instanceof dp.DpError && err.code === 'DP_WRAPAROUND_BOUND') return Infinity;
      throw err;
    }
  };
  if (!(eps(dp.MAX_NOISE_MULTIPLIER) <= budget)) {
    throw new CliError(
      `dp.epsilon: the ledger ${r.ledger} has spent epsilon ${r.spent.toFixed(4)} of ${r.budget} in ${r.roundsDone} round(s); ${remaining} more round(s) do not fit within epsilon ${budget} at any noise multiplier: ` +
        `this federation's privacy budget is spent (lower server.rounds to ${r.roundsDone}, or start a new federation in an empty server.checkpointDir)`,
    );
  }
  let lo = 1e-3;
  let hi = dp.MAX_NOISE_MULTIPLIER;
  if (eps(lo) <= budget) hi = lo;
  while (hi / lo > 1 + 1e-5) {
    const mid = Math.sqrt(lo * hi);
    if (eps(mid) <= budget) hi = mid;
    else lo = mid;
  }
  return { noiseMultiplier: hi, epsilon: eps(hi), resumed: { roundsDone: r.roundsDone, spent: r.spent, remaining } };
}

/**
 * Everything of ServerOptions that comes from the config alone (no data, roster or callbacks).
 * @param resumeFrom the checkpoint directory the server will continue (default
 *   server.checkpointDir): a planned noise multiplier then covers only the rounds left,
 *   within what the ledger there has left of the budget; null for a fresh federation.
 */
export async function serverOptionsFromConfig(c: FedmetaConfig, paramCount: number, resumeFrom: string | null = c.server.checkpointDir): Promise<Omit<ServerOptions, 'roster' | 'model' | 'port'> & { port: number }> {
  const s = c.server;
  const a = c.secagg;
  const d = s.deadlines;
  const options: Omit<ServerOptions, 'roster' | 'model'> = {
    host: s.host,
    port: s.port,
    federationId: s.federationId,
    rounds: s.rounds,
    algorithm: algorithmOptions(c),
    optimizer: {
      kind: c.meta.serverOptimizer,
      lr: c.meta.serverLr,
      ...(c.meta.serverMomentum !== undefined ? (c.meta.serverOptimizer === 'sgd' ? { momentum: c.meta.serverMomentum } : { beta1: c.meta.serverMomentum }) : {}),
    },
    cohort: { minClients: s.minClients, ...(s.clientsPerRound > 0 ? { maxClients: s.clientsPerRound } : {}), ...(s.minAggregate !== undefined ? { minAggregate: s.minAggregate } : {}) },
    aggregation: aggregationOptions(c),
    deadlines: {
      authMs: d.auth,
      waitForClientsMs: d.waitForClients,
      trainingMs: d.training,
      progressMs: d.progress,
      shareKeysMs: d.shareKeys,
      maskedInputMs: d.maskedInput,
      consistencyMs: d.consistency,
      unmaskingMs: d.unmasking,
    },
    heartbeat: { intervalMs: s.heartbeat.intervalMs, timeoutMs: s.heartbeat.timeoutMs },
    stragglers: { benchRounds: s.bench.rounds, maxBenchRounds: s.bench.maxRounds },
    connections: { max: s.connections.max, perAddress: s.connections.perAddress, idleTimeoutMs: s.connections.idleTimeout, headersTimeoutMs: s.connections.headersTimeout },
    checkpointDir: s.checkpointDir,
    seed: c.data.seed,
    ...(s.evaluation.report !== 'off' ? { evaluation: { report: s.evaluation.report, everyRounds: s.evaluation.everyRounds, bins: s.evaluation.bins, sendToSites: s.evaluation.sendToSites, evalSteps: c.meta.evalSteps } } : {}),
  };
  const dashboard = serverDashboard(c);
  if (dashboard) options.dashboard = dashboard;
  if (c.dp.enabled && c.dp.unit === 'record') {
    options.dp = await recordDpOptions(c, paramCount, resumeFrom);
  } else if (c.dp.enabled) {
    options.dp = {
      l2Clip: c.dp.l2Clip,
      noiseMultiplier: await noiseMultiplier(c, paramCount, resumeFrom),
      delta: c.dp.delta,
      epsilonBudget: c.dp.epsilon,
      ...(a.bits !== undefined ? { bits: a.bits } : {}),
    };
  }
  return options;
}

/**
 * The operator credential from server.dashboard (the token, or the first line of tokenFile),
 * or undefined when the dashboard is off.
 * @throws CliError naming server.dashboard.tokenFile when it cannot be read or holds no token
 */
export function serverDashboard(c: FedmetaConfig): ServerOptions['dashboard'] {
  const d = c.server.dashboard;
  if (d.token !== undefined) return { token: d.token };
  if (d.tokenFile === undefined) return undefined;
  const token = readConfiguredFile('server.dashboard.tokenFile', d.tokenFile).toString('utf8').split(/\r?\n/)[0]!.trim();
  if (!/^\S{16,1024}$/.test(token)) throw new CliError(`server.dashboard.tokenFile: ${d.tokenFile} must hold the token on its first line (16-1024 characters without spaces)`);
  return { token };
}

/** TLS material or the explicit insecure flag, read from the configured files. */
export function serverTls(c: FedmetaConfig): Pick<ServerOptions, 'tls' | 'insecure'> {
  const { tls, insecure } = c.server;
  if (tls.cert !== undefined && tls.key !== undefined) {
    return { tls: { cert: readConfiguredFile('server.tls.cert', tls.cert), key: readConfiguredFile('server.tls.key', tls.key) } };
  }
  return { insecure };
}

/** The roster file as the server's roster entries. */
export function serverRoster(c: FedmetaConfig): RosterEntry[] {
  return readRoster(c.server.roster!).clients;
}

/** Client options from the config, the identity file and the loaded data. */
export function clientOptionsFromConfig(c: FedmetaConfig, identity: Identity, data: ClientOptions['data']): ClientOptions {
  const cl = c.client;
  return {
    url: cl.server!,
    identity: { publicKey: identity.publicKey, secretKey: identity.secretKey },
    ...(cl.federationId !== undefined ? { federationId: cl.federationId } : {}),
    ...(cl.ca !== undefined ? { tls: { ca: readConfiguredFile('client.ca', cl.ca) } } : {}),
    // Only active entries: a revoked key listed by the server is refused like a stranger's.
    ...(cl.roster !== undefined ? { trustedIdentities: readRoster(cl.roster).clients.filter((e) => !e.revoked).map((e) => e.publicKey) } : {}),
    data,
    policy: clientPolicy(c),
    ...(cl.dp.ledger !== undefined ? { dp: { ledger: cl.dp.ledger, ...(cl.dp.budget !== undefined ? { budget: cl.dp.budget } : {}) } } : {}),
    reconnect: { maxAttempts: cl.reconnect.maxAttempts, baseDelayMs: cl.reconnect.baseDelayMs, maxDelayMs: cl.reconnect.maxDelayMs },
    seed: c.data.seed,
    // Local training off the main thread, so pings are answered during a long round.
    trainInWorker: true,
    backend: c.meta.backend,
  };
}

/**
 * Record-level DP server options. The DP-SGD noise multiplier is the configured one or the
 * smallest whose epsilon over server.rounds rounds (the event every site's ledger charges,
 * @fedmeta/dp planRecordLevelSettings) is within dp.epsilon. A federation continued from
 * `resumeFrom` with rounds left after the ones its coordinator released there plans only
 * the remaining rounds, composed with the released ones at the noise each was charged at
 * (@fedmeta/dp planRemainingRecordLevelSettings, as every site's ledger composes them); a
 * configured noise multiplier is then checked to fit with them.
 * @param resumeFrom the checkpoint directory the server will continue (default
 *   server.checkpointDir); null for a fresh federation
 * @throws CliError naming the dp field (dp.epsilon and server.rounds when the budget is spent)
 */
export async function recordDpOptions(c: FedmetaConfig, dim: number, resumeFrom: string | null = c.server.checkpointDir): Promise<NonNullable<ServerOptions['dp']>> {
  const dp = await import('@fedmeta/dp');
  const { recordDpThreshold } = await import('@fedmeta/server');
  const mode = c.dp.mode;
  if (mode === 'distributed' && c.dp.expectedBatchSize === undefined) throw new CliError('dp.expectedBatchSize: required with dp.unit record and dp.mode distributed (the released gradient sum is divided by it)');
  const a = aggregationOptions(c);
  const threshold = mode === 'distributed' ? recordDpThreshold(cohortRange(c), a) : 1;
  const localSteps = mode === 'distributed' ? 1 : c.meta.localSteps;
  const setting = { mode, epsilon: c.dp.epsilon, delta: c.dp.delta, l2Clip: c.dp.l2Clip, sampleRate: c.dp.sampleRate, localSteps, threshold, dim, ...(a.bits !== undefined ? { bits: a.bits } : {}) };
  const rounds = c.server.rounds;
  const resumed = resumeFrom === null ? null : await resumedRecordReleases(resumeFrom, (sigma) => dp.recordLevelRoundEvent({ ...setting, rounds }, sigma));
  let sigma = c.dp.noiseMultiplier;
  if (resumed && resumed.events.length > 0 && rounds > resumed.roundsDone) {
    sigma = planRemainingRecordNoise(dp, c, { ...setting, past: resumed.events, remainingRounds: rounds - resumed.roundsDone, announcedRounds: rounds }, resumed);
  } else if (sigma === undefined) {
    try {
      sigma = dp.planRecordLevelSettings({ ...setting, rounds }).sigma;
    } catch (err) {
      throw new CliError(`dp.epsilon: cannot plan record-level noise for epsilon ${c.dp.epsilon} over ${rounds} rounds: ${(err as Error).message}`);
    }
  }
  return {
    unit: 'record',
    l2Clip: c.dp.l2Clip,
    noiseMultiplier: sigma,
    delta: c.dp.delta,
    epsilonBudget: c.dp.epsilon,
    ...(a.bits !== undefined ? { bits: a.bits } : {}),
    record: { mode, sampleRate: c.dp.sampleRate, localSteps, threshold, ...(c.dp.expectedBatchSize !== undefined ? { expectedBatchSize: c.dp.expectedBatchSize } : {}) },
  };
}

/** What a checkpoint directory says about a record-level federation being continued. */
export interface ResumedRecordReleases {
  /** The coordinator's journal of released record-level rounds. */
  journal: string;
  /** Rounds run before (completed or not): the next round is roundsDone + 1. */
  roundsDone: number;
  /** The event every site charged for each released round, oldest first. */
  events: import('@fedmeta/dp').PrivacyEvent[];
}

/**
 * The released record-level rounds of the checkpoint in `dir` (@fedmeta/server's release
 * journal), or null without a readable checkpoint (a fresh federation; an unreadable one
 * the server itself reports, naming the file). Releases the checkpoint counts and the
 * journal lacks (a checkpoint written before the journal was kept) are counted at the
 * noise multiplier the checkpoint records, through `roundEventAt`.
 */
export async function resumedRecordReleases(dir: string, roundEventAt: (sigma: number) => import('@fedmeta/dp').PrivacyEvent): Promise<ResumedRecordReleases | null> {
  const { loadCheckpoint, readRecordReleases, recordReleasesPath } = await import('@fedmeta/server');
  const journal = recordReleasesPath(join(dir, 'ledger.json'));
  let ck: ReturnType<typeof loadCheckpoint>;
  let releases: ReturnType<typeof readRecordReleases>;
  try {
    ck = loadCheckpoint(dir);
    releases = readRecordReleases(journal);
  } catch {
    return null;
  }
  if (!ck) return null;
  const events = releases.map((r) => r.event);
  const counted = ck.meta.recordReleases;
  const completed = ((ck.meta.rounds as Array<{ status?: unknown }> | undefined) ?? []).filter((r) => r.status === 'completed').length;
  const released = Math.max(typeof counted === 'number' && Number.isInteger(counted) ? counted : 0, completed);
  const z = (ck.meta.recordDp as { noiseMultiplier?: unknown } | null | undefined)?.noiseMultiplier;
  if (released > events.length && typeof z === 'number' && z > 0) {
    const ev = roundEventAt(z);
    while (events.length < released) events.push(ev);
  }
  return { journal, roundsDone: ck.nextRound - 1, events };
}

/**
 * The noise multiplier of the rounds a continued record-level federation has left: the
 * configured one when the released rounds and the remaining ones at it fit dp.epsilon, or
 * the planned one (at least what every site's check of the announced setting requires).
 * @throws CliError naming dp.epsilon and server.rounds when the released rounds leave no
 *   room for the remaining ones, or dp.noiseMultiplier and dp.epsilon when the configured
 *   noise is too small for them
 */
function planRemainingRecordNoise(dp: typeof import('@fedmeta/dp'), c: FedmetaConfig, q: import('@fedmeta/dp').RemainingRecordLevelQuery, r: ResumedRecordReleases): number {
  const rounds = c.server.rounds;
  const remaining = q.remainingRounds;
  const released = `the ${r.events.length} record-level round(s) released in ${r.journal}`;
  const spentError = (past: number): CliError =>
    new CliError(
      `dp.epsilon: ${released} spend epsilon ${past.toFixed(4)} of ${c.dp.epsilon} per site; ${remaining} more round(s) (server.rounds ${rounds}) do not fit within dp.epsilon ${c.dp.epsilon} at any noise multiplier: ` +
        `this federation's privacy budget is spent (lower server.rounds to ${r.roundsDone}, or start a new federation in an empty server.checkpointDir)`,
    );
  const configured = c.dp.noiseMultiplier;
  if (configured !== undefined) {
    let past: number;
    let total: number;
    try {
      past = dp.epsilonOfEvents(r.events, c.dp.delta);
      total = dp.remainingRecordLevelEpsilon(q, configured);
    } catch (err) {
      throw new CliError(`dp.noiseMultiplier: cannot account ${configured} for the ${remaining} remaining round(s) after ${released}: ${(err as Error).message}`);
    }
    if (!(past < c.dp.epsilon)) throw spentError(past);
    if (!(total <= c.dp.epsilon)) {
      throw new CliError(
        `dp.noiseMultiplier: ${configured} for the ${remaining} remaining round(s) (server.rounds ${rounds}) brings epsilon to ${total.toFixed(4)} per site with ${released} (epsilon ${past.toFixed(4)}), above dp.epsilon ${c.dp.epsilon}: ` +
          'raise dp.noiseMultiplier, or leave it unset to plan the noise of the remaining rounds',
      );
    }
    return configured;
  }
  try {
    return dp.planRemainingRecordLevelSettings(q).sigma;
  } catch (err) {
    if (err instanceof dp.RecordBudgetSpentError) throw spentError(err.epsilonPast);
    throw new CliError(`dp.epsilon: cannot plan record-level noise for the ${remaining} remaining round(s) of server.rounds ${rounds} within epsilon ${c.dp.epsilon} after ${released}: ${(err as Error).message}`);
  }
}

/** The site policy from client.policy (omitted fields impose nothing). */
export function clientPolicy(c: FedmetaConfig): NonNullable<ClientOptions['policy']> {
  const p = c.client.policy;
  return {
    requireDp: p.requireDp,
    requireSecAgg: p.requireSecAgg,
    requireSecurity: p.requireSecurity,
    ...(p.allowStatistics ? { allowStatistics: true } : {}),
    ...(p.evaluation === 'secure' ? { evaluation: 'secure' as const } : {}),
    ...(p.maxEpsilon !== undefined ? { maxEpsilon: p.maxEpsilon } : {}),
    ...(p.minCohort !== undefined ? { minCohort: p.minCohort } : {}),
    ...(p.minAggregate !== undefined ? { minAggregate: p.minAggregate } : {}),
  };
}

/** Reads the client identity, printing the permissions warning if any. */
export function clientIdentity(c: FedmetaConfig, warn: (line: string) => void): Identity {
  const { identity, warning } = readIdentity(c.client.identity!);
  if (warning) warn(`warning: ${warning}`);
  return identity;
}
