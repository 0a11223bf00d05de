/**
 * GET /metrics: the federation in the Prometheus text exposition format (version 0.0.4),
 * rendered from the same FederationMonitor as the dashboard. Served behind the operator
 * credential (ServerOptions.dashboard.token as a bearer token), e.g.
 *
 *   scrape_configs:
 *     - job_name: fedmeta
 *       scheme: https
 *       tls_config: { ca_file: server.crt }
 *       authorization: { credentials_file: dashboard.token }
 *       static_configs: [{ targets: ['coordinator.example.org:8443'] }]
 *
 * Names follow Prometheus conventions (base units, counters end in _total), checked by
 * `promtool check metrics` in the server tests.
 */
import type { FederationMonitor, Histogram } from './dashboard/monitor.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The phases a round goes through (every one is exported, 0 when not current). */
export const PHASES = ['waiting', 'training', 'share-keys', 'masked-input', 'consistency', 'unmasking', 'aggregating', 'evaluating', 'checkpointing', 'done'] as const;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

class Exposition {
  private readonly lines: string[] = [];
  family(name: string, type: 'gauge' | 'counter' | 'histogram', help: string, samples: [Record<string, string>, number][]): void {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
    for (const [l, v] of samples) this.lines.push(`${name}${labels(l)} ${num(v)}`);
  }
  histogram(name: string, help: string, series: [Record<string, string>, Histogram][]): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    for (const [l, h] of series) {
      h.bounds.forEach((b, i) => this.lines.push(`${name}_bucket${labels({ ...l, le: num(b) })} ${h.counts[i]}`));
      this.lines.push(`${name}_bucket${labels({ ...l, le: '+Inf' })} ${h.count}`, `${name}_sum${labels(l)} ${num(h.sum)}`, `${name}_count${labels(l)} ${h.count}`);
    }
  }
  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

/** The metrics text for one federation. */
export function renderMetrics(m: FederationMonitor): string {
  const g = m.gauges();
  const c = m.counters;
  const x = new Exposition();
  x.family('fedmeta_info', 'gauge', 'The federation this coordinator runs (always 1).', [[{ federation_id: m.federationId }, 1]]);
  x.family('fedmeta_round', 'gauge', 'The round running or about to run (1-based).', [[{}, g.round]]);
  x.family('fedmeta_rounds_planned', 'gauge', 'Rounds the federation is configured to run (server.rounds).', [[{}, g.rounds]]);
  x.family('fedmeta_phase', 'gauge', 'The phase the coordinator is in (1 for the current phase, 0 for the others).', PHASES.map((p) => [{ phase: p }, g.phase === p ? 1 : 0]));
  x.family('fedmeta_rounds_total', 'counter', 'Rounds finished since this process started, by outcome.', [
    [{ status: 'completed' }, c.roundsCompleted],
    [{ status: 'aborted' }, c.roundsAborted],
  ]);
  x.family('fedmeta_round_aborts_total', 'counter', 'Aborted rounds by reason.', [...c.abortsByReason].sort().map(([reason, n]) => [{ reason }, n]));
  x.histogram('fedmeta_round_duration_seconds', 'Wall time of finished rounds, from the cohort being picked to the round being summarised.', [[{}, c.roundSeconds]]);
  x.histogram(
    'fedmeta_phase_duration_seconds',
    'Time per round in each coordinator phase (waiting is the wait for a cohort before the round).',
    PHASES.filter((p) => c.phaseSeconds.has(p)).map((p) => [{ phase: p }, c.phaseSeconds.get(p)!]),
  );
  x.family('fedmeta_clients_connected', 'gauge', 'Authenticated client sessions now.', [[{}, g.connected]]);
  x.family('fedmeta_clients_benched', 'gauge', 'Members left out of cohorts for missing deadlines.', [[{}, g.benched]]);
  const roster: [Record<string, string>, number][] = [];
  if (g.rosterActive !== null) roster.push([{ state: 'active' }, g.rosterActive]);
  if (g.rosterRevoked !== null) roster.push([{ state: 'revoked' }, g.rosterRevoked]);
  x.family('fedmeta_roster_members', 'gauge', 'Roster entries by state.', roster);
  x.family('fedmeta_round_cohort_clients', 'gauge', 'Members of the round in progress (0 while waiting).', [[{}, g.cohort]]);
  x.family('fedmeta_dropouts_total', 'counter', 'Cohort members dropped from finished rounds.', [[{}, c.dropouts]]);
  x.family('fedmeta_refusals_total', 'counter', 'Clients refused, by error code (authentication, site policy, duplicate sessions).', [...c.refusalsByCode].sort().map(([code, n]) => [{ code }, n]));
  x.family('fedmeta_tls_handshake_failures_total', 'counter', 'Failed TLS handshakes on the coordinator port.', [[{}, c.tlsHandshakeFailures]]);
  x.family('fedmeta_operator_refusals_total', 'counter', 'Requests to the dashboard or metrics refused for a missing or wrong operator credential.', [[{}, c.operatorRefusals]]);
  x.family('fedmeta_received_bytes_total', 'counter', 'Bytes received from clients (WebSocket frames).', [[{}, g.bytesIn]]);
  x.family('fedmeta_sent_bytes_total', 'counter', 'Bytes sent to clients (WebSocket frames).', [[{}, g.bytesOut]]);
  const dp = m.privacy;
  if (dp) {
    x.family('fedmeta_dp_epsilon_spent', 'gauge', 'Privacy loss epsilon charged to the ledger so far.', [[{}, g.epsilon]]);
    x.family('fedmeta_dp_epsilon_budget', 'gauge', 'The epsilon budget; no release exceeds it.', [[{}, dp.budget]]);
    x.family('fedmeta_dp_delta', 'gauge', 'delta of the (epsilon, delta) guarantee.', [[{}, dp.delta]]);
  }
  if (g.accuracy !== null) x.family('fedmeta_model_accuracy_ratio', 'gauge', 'Accuracy of the global model on the held-out evaluation data at its last evaluation (0-1).', [[{}, g.accuracy]]);
  if (g.loss !== null) x.family('fedmeta_model_loss', 'gauge', 'Mean cross-entropy of the global model on the held-out evaluation data at its last evaluation.', [[{}, g.loss]]);
  const fed = m.latestEvaluation();
  if (fed) {
    const ev = fed.evaluation;
    // The federation-wide value has no label; per-site mode adds one sample per site.
    const bySite = (pick: (p: NonNullable<typeof ev.perSite>[number]) => number | undefined): [Record<string, string>, number][] =>
      (ev.perSite ?? []).flatMap((p) => (pick(p) === undefined ? [] : [[{ site: p.name }, pick(p)!] as [Record<string, string>, number]]));
    x.family('fedmeta_federated_round', 'gauge', 'The training round of the latest federated evaluation.', [[{}, fed.round]]);
    x.family('fedmeta_federated_accuracy', 'gauge', "Accuracy (0-1) of the latest federated evaluation on the sites' held-out rows: the mean weighted by rows, and per site in per-site mode (label site).", [[{}, ev.accuracy], ...bySite((p) => p.accuracy)]);
    if (ev.loss !== undefined) x.family('fedmeta_federated_loss', 'gauge', "Mean cross-entropy of the latest federated evaluation on the sites' held-out rows: the mean weighted by rows, and per site in per-site mode (label site).", [[{}, ev.loss], ...bySite((p) => p.loss)]);
    const own = ev.personalised;
    if (own) {
      const byOwn = (pick: (q: { accuracy: number; loss?: number }) => number | undefined) => bySite((p) => (p.personalised ? pick(p.personalised) : undefined));
      x.family('fedmeta_federated_personalised_accuracy', 'gauge', "Personalised accuracy (0-1) of the latest federated evaluation: each site's model adapted on its own training rows, scored on its held-out rows; the mean weighted by rows, and per site in per-site mode (label site).", [[{}, own.accuracy], ...byOwn((q) => q.accuracy)]);
      if (own.loss !== undefined) x.family('fedmeta_federated_personalised_loss', 'gauge', "Mean cross-entropy of the latest federated evaluation's personalised models on the sites' held-out rows: the mean weighted by rows, and per site in per-site mode (label site).", [[{}, own.loss], ...byOwn((q) => q.loss)]);
    }
    x.family('fedmeta_federated_rows', 'gauge', 'Held-out rows in the latest federated evaluation, in all and per site in per-site mode (label site).', [[{}, ev.count], ...bySite((p) => p.count)]);
  }
  const best = m.bestRound();
  if (best) x.family('fedmeta_federated_best_round', 'gauge', 'The best round by the federated evaluation (accuracy, loss breaks ties).', [[{}, best.round]]);
  return x.text();
}
