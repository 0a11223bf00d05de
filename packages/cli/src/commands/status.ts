/**
 * `fedmeta status`: the state of a federation from what its server left on disk - the
 * checkpoint (round, model size, round history) and the DP ledger (epsilon spent, which
 * is recomputed from the ledger's events, never taken from the checkpoint). Read-only:
 * safe to run next to a live server.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError } from '../errors.js';
import { flagString, parseFlags } from '../config/args.js';
import { loadConfig } from '../config/load.js';
import { readRoster } from '../identity.js';
import { toCliError } from '../ui/errors.js';
import { formatBytes, formatDuration, formatEpsilon, formatPercent } from '../ui/format.js';
import { renderRoundsTable, type ReportRound } from '../ui/summary.js';

const HELP = `usage: fedmeta status --checkpoint DIR [--roster FILE] [--json]
       fedmeta status --config server.yaml [--json]

Shows a federation's state from its server's checkpoint directory: the next round, the
epsilon spent (recomputed from the DP ledger) against the budget, the roster, and the
per-round history. With --config, the checkpoint directory and roster come from the file.`;

const FLAGS = {
  checkpoint: { type: 'string' },
  roster: { type: 'string' },
  config: { type: 'string' },
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
  roster: { file: string; clients: number; active: number } | null;
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
    roster,
  };
}

/** The status as text. */
export function renderStatus(s: FederationStatus, now = Date.now()): string {
  const ago = formatDuration(Math.max(0, now - Date.parse(s.checkpointWritten)));
  const lines = [
    `federation   ${s.federationId}`,
    `checkpoint   ${s.checkpointDir} (written ${s.checkpointWritten}, ${ago} ago)`,
    `rounds       ${s.roundsCompleted} completed, ${s.rounds.length - s.roundsCompleted} aborted; next round ${s.nextRound}`,
    `model        ${s.parameters} parameters (${formatBytes(4 * s.parameters)})`,
    s.privacy
      ? `privacy      epsilon ${formatEpsilon(s.privacy.epsilon)} of ${s.privacy.budget} spent (delta ${s.privacy.delta}, ${s.privacy.accountant}, ${s.privacy.events} releases${s.privacy.tornRecords ? `, ${s.privacy.tornRecords} torn records counted as spent` : ''})`
      : 'privacy      no DP ledger (DP off)',
    s.roster ? `roster       ${s.roster.clients} clients, ${s.roster.active} active (${s.roster.file})` : 'roster       (pass --roster FILE or --config to count it)',
  ];
  if (s.lastRound) {
    const r = s.lastRound;
    lines.push(`last round   ${r.round}: ${r.status}, ${r.survivors}/${r.cohort} clients, accuracy ${formatPercent(r.globalAccuracy)}, ${formatDuration(r.wallMs)}`);
  }
  if (s.rounds.length > 0) lines.push('', renderRoundsTable(s.rounds));
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  if (f.help) {
    console.log(HELP);
    return 0;
  }
  let dir = flagString(f.checkpoint);
  let roster = flagString(f.roster);
  const config = flagString(f.config);
  if (config !== undefined) {
    try {
      const c = loadConfig({ file: config });
      dir ??= c.server.checkpointDir;
      roster ??= c.server.roster;
    } catch (err) {
      toCliError(err);
    }
  }
  if (dir === undefined) throw new CliError(`--checkpoint DIR or --config FILE is required\n\n${HELP}`);
  const status = await readStatus(resolve(dir), roster).catch(toCliError);
  if (f.json) process.stdout.write(JSON.stringify(status, null, 2) + '\n');
  else console.log(renderStatus(status));
  return 0;
}
