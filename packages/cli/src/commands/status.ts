/**
 * `fedmeta status`: the state of a federation from what its server left on disk - the
 * checkpoint (round, model size, round history) and the DP ledger (epsilon spent, which
 * is recomputed from the ledger's events, never taken from the checkpoint). Read-only:
 * safe to run next to a live server. With --url, the live state from the running
 * server's GET /status on its own port (counts only, see server/src/listener.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { PublicStatus } from '@fedmeta/server';
import { join, resolve } from 'node:path';
import { CliError } from '../errors.js';
import { readConfiguredFile } from '../config/options.js';
import { flagString, parseFlags } from '../config/args.js';
import { loadConfig } from '../config/load.js';
import { readRoster } from '../identity.js';
import { toCliError } from '../ui/errors.js';
import { formatBytes, formatDuration, formatEpsilon, formatPercent } from '../ui/format.js';
import { renderRoundsTable, type ReportRound } from '../ui/summary.js';
import { replayLog, writeReport } from '../ui/report.js';
import type { DashboardSnapshot, RoundSummary } from '@fedmeta/server';

const HELP = `usage: fedmeta status --checkpoint DIR [--roster FILE] [--log FILE] [--report FILE] [--json]
       fedmeta status --config server.yaml [--report FILE] [--json]
       fedmeta status --url https://host:port [--ca cert.pem] [--json]

Shows a federation's state from its server's checkpoint directory: the next round, the
epsilon spent (recomputed from the DP ledger) against the budget, the roster, and the
per-round history. With --config, the checkpoint directory and roster come from the file.
With --url, asks the running server (GET /status on its port; wss:// and ws:// URLs
work too): round, phase, connected clients, epsilon spent. --ca trusts a self-signed
server certificate (the same PEM its clients pin).

--report FILE writes one self-contained HTML file (opens offline) with the dashboard's
plots and the round history; with the coordinator's JSON log (--log, or output.log of
--config) it also holds the audit trail and the time each round spent in each phase.`;

const FLAGS = {
  checkpoint: { type: 'string' },
  roster: { type: 'string' },
  config: { type: 'string' },
  url: { type: 'string' },
  ca: { type: 'string' },
  log: { type: 'string' },
  report: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface FederationStatus {
  checkpointDir: string;
  federationId: string;
  nextRound: number;
  roundsCompleted: number;
  parameters: number;
  checkpointWritten: string;
  lastRound?: ReportRound;
  rounds: ReportRound[];
  privacy: { epsilon: number; budget: number; delta: number; accountant: string; events: number; tornRecords: number; ledger: string } | null;
  /** Record-level DP: the announced setting and the epsilon each site's ledger holds by now (the coordinator keeps no ledger). */
  recordDp?: { mode: string; epsilonBudget: number; delta: number; noiseMultiplier: number; sampleRate: number; epsilonPerSite: number };
  roster: { file: string; clients: number; active: number } | null;
  /** Federated evaluation: each evaluated round's metrics over the sites' held-out rows, and the best round by them. */
  evaluations: FederatedRow[];
  best: { round: number; accuracy: number; loss?: number } | null;
}

export interface FederatedRow {
  round: number;
  report: string;
  sites: number;
  count: number;
  accuracy: number;
  loss?: number;
  auc?: number;
  /** Each site's model adapted on its training rows (`steps` steps at `lr`), on the same held-out rows. */
  personalised?: { sites: number; count: number; accuracy: number; loss?: number; steps: number; lr: number };
  perSite?: { name: string; count: number; accuracy: number; loss?: number; auc?: number; personalised?: { accuracy: number; loss?: number } }[];
}

/** Reads the status; every missing or corrupt file is a typed error naming the file. */
export async function readStatus(dir: string, rosterFile: string | undefined): Promise<FederationStatus> {
  const { loadCheckpoint, CHECKPOINT_FILE } = await import('@fedmeta/server');
  const cp = loadCheckpoint(dir);
  if (!cp) throw new CliError(`--checkpoint: no ${CHECKPOINT_FILE} in ${dir} (is it the server's server.checkpointDir, and has a round finished?)`, 1);
  const rounds = (Array.isArray(cp.meta['rounds']) ? cp.meta['rounds'] : []) as Record<string, unknown>[];
  const toRow = (r: Record<string, unknown>): ReportRound => ({
    round: Number(r['round']),
    status: r['status'] === 'completed' ? 'completed' : 'aborted',
    cohort: Number(r['cohort'] ?? 0),
    survivors: Number(r['survivors'] ?? 0),
    dropped: Number(r['dropped'] ?? 0),
    degree: Number(r['degree'] ?? 0),
    threshold: Number(r['threshold'] ?? 0),
    globalAccuracy: typeof r['accuracy'] === 'number' ? r['accuracy'] : undefined,
    ...(typeof (r['evaluation'] as FederatedRow | null | undefined)?.personalised?.accuracy === 'number' ? { personalisedAccuracy: (r['evaluation'] as FederatedRow).personalised!.accuracy } : {}),
    epsilon: typeof r['epsilon'] === 'number' ? r['epsilon'] : undefined,
    bytesUp: Number(r['bytesIn'] ?? 0),
    bytesDown: Number(r['bytesOut'] ?? 0),
    wallMs: Number(r['wallMs'] ?? 0),
    ...(typeof r['abortReason'] === 'string' ? { abortReason: r['abortReason'] } : {}),
  });
  const rows = rounds.map(toRow);
  const ledgerPath = join(dir, 'ledger.json');
  let privacy: FederationStatus['privacy'] = null;
  if (existsSync(ledgerPath)) {
    const { openLedger } = await import('@fedmeta/dp');
    const ledger = openLedger(ledgerPath, { readOnly: true });
    try {
      const s = ledger.summary();
      privacy = { epsilon: s.epsilon, budget: s.budget, delta: s.delta, accountant: s.accountant, events: s.events, tornRecords: s.tornRecords, ledger: ledgerPath };
    } finally {
      ledger.close();
    }
  }
  let roster: FederationStatus['roster'] = null;
  if (rosterFile !== undefined) {
    const r = readRoster(rosterFile);
    roster = { file: rosterFile, clients: r.clients.length, active: r.clients.filter((c) => !c.revoked).length };
  }
  const last = rows.at(-1);
  const evaluations: FederatedRow[] = rounds
    .filter((r) => r['evaluation'] !== null && typeof r['evaluation'] === 'object')
    .map((r) => ({ round: Number(r['round']), ...(r['evaluation'] as Omit<FederatedRow, 'round'>) }));
  const recordMeta = cp.meta['recordDp'] as Omit<NonNullable<FederationStatus['recordDp']>, 'epsilonPerSite'> | null | undefined;
  const recordDp = recordMeta ? { ...recordMeta, epsilonPerSite: typeof cp.meta['epsilon'] === 'number' ? cp.meta['epsilon'] : 0 } : undefined;
  const bestMeta = cp.meta['best'] as { round: number; evaluation: { accuracy: number; loss?: number } } | null | undefined;
  const best = bestMeta ? { round: bestMeta.round, accuracy: bestMeta.evaluation.accuracy, ...(bestMeta.evaluation.loss !== undefined ? { loss: bestMeta.evaluation.loss } : {}) } : null;
  return {
    checkpointDir: dir,
    federationId: cp.federationId,
    nextRound: cp.nextRound,
    roundsCompleted: rows.filter((r) => r.status === 'completed').length,
    parameters: cp.arrays['params']?.length ?? 0,
    checkpointWritten: statSync(join(dir, CHECKPOINT_FILE)).mtime.toISOString(),
    ...(last ? { lastRound: last } : {}),
    rounds: rows,
    privacy,
    ...(recordDp ? { recordDp } : {}),
    roster,
    evaluations,
    best,
  };
}

/** The privacy line: the coordinator's ledger, record-level DP (the sites' ledgers), or DP off. */
function privacyText(s: FederationStatus): string {
  if (s.privacy) {
    return `epsilon ${formatEpsilon(s.privacy.epsilon)} of ${s.privacy.budget} spent (delta ${s.privacy.delta}, ${s.privacy.accountant}, ${s.privacy.events} releases${s.privacy.tornRecords ? `, ${s.privacy.tornRecords} torn records counted as spent` : ''})`;
  }
  if (s.recordDp) {
    const r = s.recordDp;
    return `record-level DP-SGD (${r.mode} noise): epsilon ${formatEpsilon(r.epsilonPerSite)} of ${r.epsilonBudget} per site by the rounds released (delta ${r.delta}, noise multiplier ${r.noiseMultiplier.toFixed(3)}, sampling rate ${r.sampleRate}); each site's own ledger is the record (fedmeta dp account --ledger FILE at the site)`;
  }
  return 'no DP ledger (DP off)';
}

/** The status as text. */
export function renderStatus(s: FederationStatus, now = Date.now()): string {
  const ago = formatDuration(Math.max(0, now - Date.parse(s.checkpointWritten)));
  const lines = [
    `federation   ${s.federationId}`,
    `checkpoint   ${s.checkpointDir} (written ${s.checkpointWritten}, ${ago} ago)`,
    `rounds       ${s.roundsCompleted} completed, ${s.rounds.length - s.roundsCompleted} aborted; next round ${s.nextRound}`,
    `model        ${s.parameters} parameters (${formatBytes(4 * s.parameters)})`,
    `privacy      ${privacyText(s)}`,
    s.roster ? `roster       ${s.roster.clients} clients, ${s.roster.active} active (${s.roster.file})` : 'roster       (pass --roster FILE or --config to count it)',
  ];
  if (s.lastRound) {
    const r = s.lastRound;
    lines.push(`last round   ${r.round}: ${r.status}, ${r.survivors}/${r.cohort} clients, accuracy ${formatPercent(r.globalAccuracy)}, ${formatDuration(r.wallMs)}`);
  }
  const ev = s.evaluations.at(-1);
  if (ev) {
    const site = (p: NonNullable<FederatedRow['perSite']>[number]) => `${p.name} ${formatPercent(p.accuracy)} (${p.count} rows${p.auc !== undefined ? `, AUC ${p.auc.toFixed(3)}` : ''}${p.personalised ? `, personalised ${formatPercent(p.personalised.accuracy)}` : ''})`;
    lines.push(
      `federated    round ${ev.round} (${ev.report}): accuracy ${formatPercent(ev.accuracy)} over ${ev.sites} sites (${ev.count} held-out rows)${ev.loss !== undefined ? `, loss ${ev.loss.toFixed(4)}` : ''}${ev.auc !== undefined ? `, AUC ${ev.auc.toFixed(3)}` : ''}`,
    );
    const own = ev.personalised;
    if (own) lines.push(`personalised round ${ev.round}: accuracy ${formatPercent(own.accuracy)} over ${own.sites} sites (${own.count} held-out rows)${own.loss !== undefined ? `, loss ${own.loss.toFixed(4)}` : ''}; each site's model adapted on its training rows, ${own.steps} steps at lr ${own.lr}`);
    if (ev.perSite?.length) lines.push(`per site     ${ev.perSite.map(site).join(', ')}`);
  }
  if (s.best) lines.push(`best round   ${s.best.round}: federated accuracy ${formatPercent(s.best.accuracy)}${s.best.loss !== undefined ? `, loss ${s.best.loss.toFixed(4)}` : ''} (exported to best/ beside the model)`);
  if (s.rounds.length > 0) lines.push('', renderRoundsTable(s.rounds, s.evaluations.findLast((e) => e.personalised)?.personalised?.steps ?? 0));
  return lines.join('\n');
}

const LIVE_TIMEOUT_MS = 10_000;
const LIVE_MAX_BYTES = 64 * 1024;

/** The status endpoint for a server URL (http(s) or the clients' ws(s) URL). @throws CliError naming --url */
export function statusEndpoint(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliError(`--url: not a URL: ${JSON.stringify(url)} (expected https://host:port or wss://host:port)`);
  }
  const scheme = ({ 'https:': 'https:', 'wss:': 'https:', 'http:': 'http:', 'ws:': 'http:' } as Record<string, string>)[u.protocol];
  if (!scheme) throw new CliError(`--url: unsupported scheme ${u.protocol} (expected https, wss, http or ws)`);
  const endpoint = new URL(`${scheme}//${u.host}/status`);
  return endpoint;
}

/**
 * Asks a running server for its public status (GET /status).
 * @param ca PEM certificate(s) to trust (a self-signed server certificate); https only
 * @throws CliError (exit 1) when the server is unreachable, untrusted, not a fedmeta
 *   server with a status endpoint, slow (10 s) or answers something that is not a status
 */
export async function fetchLiveStatus(url: string, ca?: Uint8Array): Promise<PublicStatus> {
  const endpoint = statusEndpoint(url);
  if (ca !== undefined && endpoint.protocol !== 'https:') throw new CliError('--ca: only for https:// or wss:// URLs (the server speaks plain http here)');
  const where = endpoint.host;
  const res = await new Promise<{ status: number; body: string }>((resolveRes, reject) => {
    const onResponse = (r: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      r.on('data', (c: Buffer) => {
        size += c.length;
        if (size > LIVE_MAX_BYTES) {
          req.destroy();
          reject(new CliError(`--url: ${where} sent more than ${LIVE_MAX_BYTES} bytes for its status; not a fedmeta server?`, 1));
          return;
        }
        chunks.push(c);
      });
      r.on('end', () => resolveRes({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      r.on('error', reject);
    };
    // agent: false - one request, no pooled keep-alive socket outliving it.
    const req =
      endpoint.protocol === 'https:'
        ? httpsRequest(endpoint, { method: 'GET', agent: false, ...(ca !== undefined ? { ca: Buffer.from(ca) } : {}), timeout: LIVE_TIMEOUT_MS }, onResponse)
        : httpRequest(endpoint, { method: 'GET', agent: false, timeout: LIVE_TIMEOUT_MS }, onResponse);
    req.on('timeout', () => req.destroy(new CliError(`--url: ${where} did not answer within ${LIVE_TIMEOUT_MS / 1000} s`, 1)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof CliError) return reject(err);
      const code = err.code ?? '';
      if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
        reject(new CliError(`--url: the certificate of ${where} is not trusted (${code}); pass --ca FILE with the server's certificate`, 1));
      } else if (code === 'EPROTO' || /wrong version number|packet length too long/i.test(err.message)) {
        reject(new CliError(`--url: TLS failed with ${where} (${err.message.split('\n')[0]}); is it a plain ws:// server? then use http:// or ws://`, 1));
      } else {
        reject(new CliError(`--url: cannot reach ${where} (${code || err.message})`, 1));
      }
    });
    req.end();
  });
  if (res.status !== 200) {
    throw new CliError(`--url: ${where} answered HTTP ${res.status} to GET /status${res.status === 426 ? ' (a fedmeta server without the status endpoint?)' : ''}`, 1);
  }
  let s: unknown;
  try {
    s = JSON.parse(res.body);
  } catch {
    throw new CliError(`--url: ${where} answered GET /status with something that is not JSON`, 1);
  }
  const o = s as Partial<PublicStatus> | null;
  const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const privacyOk = (p: unknown) =>
    p === null || (typeof p === 'object' && ['epsilonSpent', 'epsilonBudget', 'delta'].every((k) => typeof (p as Record<string, unknown>)[k] === 'number'));
  if (!o || typeof o.federationId !== 'string' || !int(o.round) || !int(o.rounds) || typeof o.phase !== 'string' || !int(o.connected) || (o.benched !== undefined && !int(o.benched)) || !privacyOk(o.privacy)) {
    throw new CliError(`--url: ${where} answered GET /status with JSON that is not a fedmeta status`, 1);
  }
  return o as PublicStatus;
}

/** The live status as text. */
export function renderLiveStatus(s: PublicStatus, url: string): string {
  const done = s.phase === 'done';
  return [
    `federation   ${s.federationId} (live, ${url})`,
    `round        ${done ? `done after ${Math.min(s.round - 1, s.rounds)}` : `${s.round}`} of ${s.rounds}${done ? '' : `, phase ${s.phase}`}`,
    `connected    ${s.connected} client${s.connected === 1 ? '' : 's'}${s.benched ? `, ${s.benched} benched (left out of the next rounds for missing deadlines)` : ''}`,
    s.privacy
      ? `privacy      epsilon ${formatEpsilon(s.privacy.epsilonSpent)} of ${s.privacy.epsilonBudget} spent (delta ${s.privacy.delta})`
      : 'privacy      DP off',
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  if (f.help) {
    console.log(HELP);
    return 0;
  }
  const url = flagString(f.url);
  const caFile = flagString(f.ca);
  if (url !== undefined) {
    if (f.checkpoint !== undefined || f.config !== undefined || f.roster !== undefined || f.log !== undefined || f.report !== undefined) {
      throw new CliError('--url asks a running server; it does not go with --checkpoint, --config, --roster, --log or --report (the live dashboard is https://HOST:PORT/dashboard)');
    }
    const ca = caFile !== undefined ? readConfiguredFile('--ca', caFile) : undefined;
    const live = await fetchLiveStatus(url, ca);
    if (f.json) process.stdout.write(JSON.stringify(live, null, 2) + '\n');
    else console.log(renderLiveStatus(live, url));
    return 0;
  }
  if (caFile !== undefined) throw new CliError('--ca: only with --url');
  let dir = flagString(f.checkpoint);
  let roster = flagString(f.roster);
  let logFile = flagString(f.log);
  let planned: number | undefined;
  const config = flagString(f.config);
  if (config !== undefined) {
    try {
      const c = loadConfig({ file: config });
      dir ??= c.server.checkpointDir;
      roster ??= c.server.roster;
      if (c.output.log !== undefined && c.output.log !== '-') logFile ??= c.output.log;
      planned = c.server.rounds;
    } catch (err) {
      toCliError(err);
    }
  }
  if (dir === undefined) throw new CliError(`--checkpoint DIR or --config FILE is required\n\n${HELP}`);
  const status = await readStatus(resolve(dir), roster).catch(toCliError);
  if (f.json) process.stdout.write(JSON.stringify(status, null, 2) + '\n');
  else console.log(renderStatus(status));
  const reportFile = flagString(f.report);
  if (reportFile !== undefined) {
    const path = await writeReport(reportFile, await statusSnapshot(status, logFile, planned));
    (f.json ? process.stderr : process.stdout).write(`report: ${path}${logFile === undefined ? ' (no --log: without the coordinator\'s JSON log it has no audit trail and no phase times)' : ''}\n`);
  }
  return 0;
}

/**
 * The report of a checkpointed federation: its round history and ledger are the record;
 * the coordinator's log, when given, adds the audit trail and the phase times.
 */
export async function statusSnapshot(s: FederationStatus, logFile: string | undefined, planned: number | undefined): Promise<DashboardSnapshot> {
  const { FederationMonitor, loadCheckpoint } = await import('@fedmeta/server');
  const monitor = new FederationMonitor({
    federationId: s.federationId,
    rounds: planned ?? Math.max(s.nextRound - 1, s.rounds.length),
    privacy: s.privacy
      ? { budget: s.privacy.budget, delta: s.privacy.delta, unit: 'client' }
      : s.recordDp
        ? { budget: s.recordDp.epsilonBudget, delta: s.recordDp.delta, unit: 'record' }
        : null,
    roster: s.roster ? { active: s.roster.active, size: s.roster.clients } : null,
    title: `fedmeta federation '${s.federationId}': status report`,
  });
  if (logFile !== undefined) replayLog(monitor, resolve(logFile));
  const cp = loadCheckpoint(s.checkpointDir);
  monitor.restoreRounds(((cp?.meta['rounds'] as RoundSummary[] | undefined) ?? []));
  if (s.privacy) monitor.setEpsilonSpent(s.privacy.epsilon);
  else if (s.recordDp) monitor.setEpsilonSpent(s.recordDp.epsilonPerSite);
  monitor.setRounds(planned ?? Math.max(s.nextRound - 1, s.rounds.length));
  const facts: [string, string][] = [
    ['checkpoint', `${s.checkpointDir} (written ${s.checkpointWritten})`],
    ['rounds', `${s.roundsCompleted} completed, ${s.rounds.length - s.roundsCompleted} aborted; next round ${s.nextRound}${planned !== undefined ? ` of ${planned} planned` : ''}`],
    ['model', `${s.parameters} parameters`],
    ['privacy', s.privacy ? `epsilon ${formatEpsilon(s.privacy.epsilon)} of ${s.privacy.budget} spent (delta ${s.privacy.delta}, ${s.privacy.accountant}, ${s.privacy.events} releases; recomputed from ${s.privacy.ledger})` : privacyText(s)],
    ['roster', s.roster ? `${s.roster.clients} clients, ${s.roster.active} active (${s.roster.file})` : '(not given)'],
    ['log', logFile !== undefined ? resolve(logFile) : '(not given: no audit trail, no phase times)'],
  ];
  for (const [k, v] of facts) monitor.addFact(k, v);
  const snap = monitor.snapshot('report');
  snap.round = s.nextRound;
  // The traffic of record: the rounds' own counts in the checkpoint (the live counter, which
  // also holds the traffic between rounds, is not on disk).
  snap.bytes = {
    in: Math.max(snap.bytes.in, s.rounds.reduce((a, r) => a + r.bytesUp, 0)),
    out: Math.max(snap.bytes.out, s.rounds.reduce((a, r) => a + r.bytesDown, 0)),
  };
  if (logFile === undefined) {
    // Without the log all we know is where the checkpoint stands.
    snap.phase = planned !== undefined && s.nextRound > planned ? 'done' : 'checkpointed';
    snap.phaseSince = null;
  }
  return snap;
}
