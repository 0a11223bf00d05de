/**
 * The end-of-run report of `fedmeta simulate` (and `fedmeta server`): a plain data object
 * (what --json prints) and its table rendering.
 */
import { formatBytes, formatDuration, formatEpsilon, formatPercent } from './format.js';
import { renderTable, type Column } from './table.js';

export interface ReportRound {
  round: number;
  status: 'completed' | 'aborted';
  cohort: number;
  survivors: number;
  dropped: number;
  /** SecAgg+ graph degree (0 = complete graph) and Shamir threshold. */
  degree: number;
  threshold: number;
  /** Global model on the held-out test set after this round. */
  globalAccuracy?: number | undefined;
  /** Mean personalised accuracy (after evalSteps fine-tuning steps) when measured. */
  personalisedAccuracy?: number | undefined;
  /** Cumulative epsilon after this round. */
  epsilon?: number | undefined;
  bytesUp: number;
  bytesDown: number;
  wallMs: number;
  abortReason?: string;
}

export interface AccuracySnapshot {
  globalAccuracy?: number | undefined;
  /** Mean over clients of query accuracy after evalSteps steps on the support set. */
  personalisedAccuracy: number;
  /** Mean over clients of query accuracy without adaptation. */
  noAdaptationAccuracy: number;
  personalisedStd?: number;
}

/** One reference run (meta's referenceRuns): a model trained centrally and its test accuracy. */
export interface ReferenceRunReport {
  accuracy: number;
  /** minibatch SGD steps */
  steps: number;
  /** training examples */
  rows: number;
}

/**
 * The reference runs beside the federation, scored on the same test set: the model on the
 * pooled training data of all clients (as many examples as the federation processed) and
 * each client alone (the steps it trained in the federation).
 */
export interface ReferenceReport {
  pooled: ReferenceRunReport;
  /** client i alone, in client order */
  sites: ReferenceRunReport[];
  batchSize: number;
  lr: number;
  /** minibatch steps a client trains per round */
  stepsPerRound: number;
  testRows: number;
  wallMs: number;
}

export interface SimulationReport {
  clients: number;
  /** data.source */
  dataset?: string;
  roundsPlanned: number;
  roundsCompleted: number;
  endReason: string;
  algorithm: string;
  model: string;
  parameters: number;
  secagg: string;
  backend: string;
  dp: { epsilonBudget: number; delta: number; noiseMultiplier: number; l2Clip: number; epsilonSpent: number } | null;
  evalSteps: number;
  /** data.labelCodes: 'local' means no global test accuracy (clients' labels disagree) */
  labelCodes: 'shared' | 'local';
  initial: AccuracySnapshot;
  final: AccuracySnapshot;
  /** Absent when simulate.reference is off, without global labels, or when no round completed. */
  reference?: ReferenceReport;
  rounds: ReportRound[];
  clientsReport: { name: string; endReason: string; rounds: number; error?: string }[];
  bytesUp: number;
  bytesDown: number;
  wallMs: number;
  modelDir?: string;
}

/** Totals shown under the per-round table: the last accuracies and epsilon, summed traffic and time. */
export type RoundTotals = Pick<ReportRound, 'globalAccuracy' | 'personalisedAccuracy' | 'epsilon' | 'bytesUp' | 'bytesDown' | 'wallMs'>;

/**
 * The per-round table: status, survivors, drops, SecAgg+ degree/threshold, accuracy,
 * cumulative epsilon, traffic and wall time, with a totals row.
 */
export function renderRoundsTable(rounds: ReportRound[], evalSteps = 0, totals?: RoundTotals): string {
  const personalised = rounds.some((x) => x.personalisedAccuracy !== undefined);
  const columns: Column<ReportRound>[] = [
    { header: 'round', align: 'right', value: (x) => String(x.round) },
    { header: 'status', value: (x) => (x.status === 'completed' ? 'ok' : `aborted${x.abortReason ? ` (${x.abortReason})` : ''}`) },
    { header: 'clients', align: 'right', value: (x) => `${x.survivors}/${x.cohort}` },
    { header: 'dropped', align: 'right', value: (x) => String(x.dropped) },
    { header: 'k/t', align: 'right', value: (x) => `${x.degree === 0 ? 'all' : x.degree}/${x.threshold}` },
    { header: 'global acc', align: 'right', value: (x) => formatPercent(x.globalAccuracy) },
    ...(personalised ? [{ header: `pers. acc (${evalSteps} steps)`, align: 'right' as const, value: (x: ReportRound) => formatPercent(x.personalisedAccuracy) }] : []),
    { header: 'epsilon', align: 'right', value: (x) => formatEpsilon(x.epsilon) },
    { header: 'up', align: 'right', value: (x) => formatBytes(x.bytesUp) },
    { header: 'down', align: 'right', value: (x) => formatBytes(x.bytesDown) },
    { header: 'wall', align: 'right', value: (x) => formatDuration(x.wallMs) },
  ];
  const t: RoundTotals = totals ?? {
    globalAccuracy: rounds.filter((x) => x.globalAccuracy !== undefined).at(-1)?.globalAccuracy,
    personalisedAccuracy: rounds.filter((x) => x.personalisedAccuracy !== undefined).at(-1)?.personalisedAccuracy,
    epsilon: rounds.filter((x) => x.epsilon !== undefined).at(-1)?.epsilon,
    bytesUp: rounds.reduce((a, x) => a + x.bytesUp, 0),
    bytesDown: rounds.reduce((a, x) => a + x.bytesDown, 0),
    wallMs: rounds.reduce((a, x) => a + x.wallMs, 0),
  };
  const cells: Record<string, string> = {
    round: 'total',
    dropped: String(rounds.reduce((a, x) => a + x.dropped, 0)),
    'global acc': formatPercent(t.globalAccuracy),
    [`pers. acc (${evalSteps} steps)`]: formatPercent(t.personalisedAccuracy),
    epsilon: formatEpsilon(t.epsilon),
    up: formatBytes(t.bytesUp),
    down: formatBytes(t.bytesDown),
    wall: formatDuration(t.wallMs),
  };
  return renderTable(columns, rounds, columns.map((col) => cells[col.header] ?? ''));
}

/** A row of the reference table: federated, pooled, site alone. */
export interface ReferenceRow {
  setting: string;
  accuracy: number | undefined;
  note: string;
}

const range = (xs: number[]) => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? String(lo) : `${lo}-${hi}`;
};

/** Federated against the reference runs on the same test set; empty without reference runs. */
export function referenceRows(r: SimulationReport): ReferenceRow[] {
  const ref = r.reference;
  if (!ref) return [];
  const accs = ref.sites.map((x) => x.accuracy);
  const mean = accs.reduce((a, b) => a + b, 0) / accs.length;
  const rows: ReferenceRow[] = [
    { setting: 'federated', accuracy: r.final.globalAccuracy, note: `${r.roundsCompleted} rounds, ${r.clients} clients, ${r.algorithm}` },
    { setting: 'pooled', accuracy: ref.pooled.accuracy, note: `all clients' ${ref.pooled.rows} training examples in one place, ${ref.pooled.steps} steps (the examples the federation processed)` },
  ];
  if (ref.sites.length > 0) {
    rows.push({
      setting: 'client alone',
      accuracy: mean,
      note: `mean over ${ref.sites.length} clients (min ${formatPercent(Math.min(...accs))}, max ${formatPercent(Math.max(...accs))}); ${range(ref.sites.map((x) => x.rows))} examples, ${range(ref.sites.map((x) => x.steps))} steps each`,
    });
  }
  return rows;
}

/** The per-round table plus a few summary lines. */
export function renderSummary(r: SimulationReport): string {
  const table = renderRoundsTable(r.rounds, r.evalSteps, {
    globalAccuracy: r.final.globalAccuracy,
    personalisedAccuracy: r.final.personalisedAccuracy,
    epsilon: r.dp?.epsilonSpent,
    bytesUp: r.bytesUp,
    bytesDown: r.bytesDown,
    wallMs: r.wallMs,
  });
  const pct = formatPercent;
  const lines = [
    `fedmeta simulate: ${r.roundsCompleted}/${r.roundsPlanned} rounds completed (${r.endReason}), ${r.clients} clients, ${r.algorithm} ${r.model} (${r.parameters} parameters), ${r.secagg}, tfjs ${r.backend}`,
    '',
    table,
    '',
    `accuracy              before training -> after ${r.roundsCompleted} rounds`,
    r.labelCodes === 'local'
      ? '  global (test set)   none: clients use site-local label codes'
      : `  global (test set)   ${pct(r.initial.globalAccuracy).padStart(6)} -> ${pct(r.final.globalAccuracy)}`,
    `  personalised        ${pct(r.initial.personalisedAccuracy).padStart(6)} -> ${pct(r.final.personalisedAccuracy)}   (mean over clients, query set after ${r.evalSteps} steps on the support set)`,
    `  no adaptation       ${pct(r.initial.noAdaptationAccuracy).padStart(6)} -> ${pct(r.final.noAdaptationAccuracy)}   (same query sets, global model as is)`,
    r.dp
      ? `privacy               epsilon ${formatEpsilon(r.dp.epsilonSpent)} of ${r.dp.epsilonBudget} spent (delta ${r.dp.delta}, noise multiplier ${r.dp.noiseMultiplier.toFixed(3)}, L2 clip ${r.dp.l2Clip})`
      : 'privacy               DP off (secure aggregation only)',
    ...referenceLines(r),
    `traffic               up ${formatBytes(r.bytesUp)}, down ${formatBytes(r.bytesDown)}; wall time ${formatDuration(r.wallMs)}`,
  ];
  const failed = r.clientsReport.filter((c) => c.endReason === 'failed');
  if (failed.length > 0) lines.push(`clients that failed   ${failed.map((c) => `${c.name} (${c.error ?? 'unknown'})`).join(', ')}`);
  if (r.modelDir) lines.push(`model                 ${r.modelDir}/model.json (tfjs layers format)`);
  return lines.join('\n');
}

/** The summary's reference block: a header line and one line per row. */
function referenceLines(r: SimulationReport): string[] {
  const rows = referenceRows(r);
  if (rows.length === 0 || !r.reference) return [];
  return [
    `reference runs        test accuracy on the same ${r.reference.testRows} held-out examples (minibatch SGD, batch ${r.reference.batchSize}, lr ${r.reference.lr}; ${formatDuration(r.reference.wallMs)})`,
    ...rows.map((x) => `  ${x.setting.padEnd(18)}  ${formatPercent(x.accuracy).padStart(6)}   ${x.note}`),
  ];
}
