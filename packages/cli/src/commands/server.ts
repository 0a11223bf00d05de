/**
 * `fedmeta server --config FILE`: the coordinator of a real federation. Reads the config,
 * roster and TLS files, runs the rounds with progress lines, resumes from its checkpoint
 * after a restart, exports the final model, and shuts down cleanly on SIGINT/SIGTERM
 * (a second signal exits at once).
 */
import { basename, dirname, join, resolve } from 'node:path';
import { CliError } from '../errors.js';
import { flagInt, flagString, parseFlags } from '../config/args.js';
import { loadConfig, setPath, type RawConfig } from '../config/load.js';
import { checkServerConfig } from '../config/rules.js';
import type { FedmetaConfig } from '../config/fedmeta-schema.js';
import { modelConfig, serverOptionsFromConfig, serverRoster, serverTls } from '../config/options.js';
import { hasGlobalLabels, loadServerReference } from '../config/data.js';
import { ProgressView, RoundTracker } from '../ui/progress.js';
import { openJsonLog } from '../ui/log.js';
import { toCliError } from '../ui/errors.js';
import { renderRoundsTable, type ReportRound } from '../ui/summary.js';
import { formatEpsilon } from '../ui/format.js';
import { checkpointMismatchError } from '../ui/checkpoint-mismatch.js';
import { watchRoster } from '../roster-watch.js';
import { writeModelDir } from '../model-files.js';
import { utilityWarning } from '@fedmeta/dp';
import type { ResumeInfo, RoundPlan, ServerHandle } from '@fedmeta/server';

const HELP = `usage: fedmeta server --config FILE [options]

Runs the federation coordinator described by FILE (JSON or YAML; see README
"Configuration" and examples/server.yaml). Needs server.roster and either server.tls
(cert + key) or server.insecure: true. Resumes from server.checkpointDir when it holds a
checkpoint of the same configuration. SIGINT/SIGTERM: close every connection and exit.

options (each overrides the config file):
  --config FILE     the config file (required)
  --port N          [server.port]
  --rounds N        [server.rounds]
  --out DIR         final model, tfjs format   [output.model]
  --log FILE        JSON logs ("-": stderr)   [output.log]
  --json            print the final summary as JSON on stdout
  -h, --help`;

const FLAGS = {
  config: { type: 'string' },
  port: { type: 'string' },
  rounds: { type: 'string' },
  out: { type: 'string' },
  log: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Loads and checks the server config with flag overrides. @throws CliError */
export function loadServerConfig(argv: string[]): { config: FedmetaConfig; json: boolean; file: string } | undefined {
  const f = parseFlags(argv, FLAGS);
  if (f.help) {
    console.log(HELP);
    return undefined;
  }
  const file = flagString(f.config);
  if (file === undefined) throw new CliError(`--config FILE is required\n\n${HELP}`);
  const o: RawConfig = {};
  const port = flagInt('port', f.port, 1, 65535);
  const rounds = flagInt('rounds', f.rounds, 1, 1_000_000);
  if (port !== undefined) setPath(o, 'server.port', port);
  if (rounds !== undefined) setPath(o, 'server.rounds', rounds);
  if (typeof f.out === 'string') setPath(o, 'output.model', f.out);
  if (typeof f.log === 'string') setPath(o, 'output.log', f.log);
  try {
    const config = loadConfig({ file, overrides: o });
    checkServerConfig(config, file);
    return { config, json: f.json === true, file };
  } catch (err) {
    return toCliError(err);
  }
}

/** '; personalised 93.1% (loss 0.2100; 5 adaptation steps at lr 0.1)' from a federated evaluation's personalised numbers. */
function personalisedText(v: unknown): string {
  const p = v as { accuracy?: unknown; loss?: unknown; steps?: unknown; lr?: unknown } | null | undefined;
  if (!p || typeof p.accuracy !== 'number') return '';
  return `; personalised ${(p.accuracy * 100).toFixed(1)}% (${typeof p.loss === 'number' ? `loss ${p.loss.toFixed(4)}; ` : ''}${String(p.steps)} adaptation steps at lr ${String(p.lr)})`;
}

/**
 * Server events an operator must see on the console, not only in the JSON log, in the
 * words of the config file (server.minClients, not cohort.minClients).
 */
export function consoleNotice(e: { event: string; level?: string; [k: string]: unknown }, c?: FedmetaConfig): string | null {
  switch (e.event) {
    case 'peer.refused':
      return `refused ${e.peer} from ${e.remote}: ${e.message}`;
    case 'peer.revoked':
      return `closed the session of ${e.peer} (${e.why})`;
    case 'peer.policy-refused':
      return `${e.peer} refused the federation under its site policy: ${e.message}`;
    case 'peer.data-refused':
      return `${e.peer} cannot take part: ${e.message}`;
    case 'peer.error':
      return `${e.peer} reported a failure${typeof e.round === 'number' ? ` in round ${e.round}` : ''} (${e.code}): ${e.message}`;
    case 'round.evaluated': {
      const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
      const site = (p: { name: string; accuracy: number; count: number; auc?: number }) => `${p.name} ${pct(p.accuracy)} (${p.count} rows${p.auc !== undefined ? `, AUC ${p.auc.toFixed(3)}` : ''})`;
      const per = (e.perSite as { name: string; accuracy: number; count: number; auc?: number }[] | undefined) ?? [];
      return (
        `round ${e.round} federated evaluation (${e.report}, ${e.sites} sites, ${e.count} held-out rows): accuracy ${pct(Number(e.accuracy))} (weighted mean)` +
        `${typeof e.loss === 'number' ? `, loss ${e.loss.toFixed(4)}` : ''}${typeof e.auc === 'number' ? `, AUC ${e.auc.toFixed(3)}` : ''}` +
        `${per.length ? `; ${per.map(site).join(', ')}` : e.report === 'secure' ? '; per-site metrics stay with the sites (secure sum)' : ''}${personalisedText(e.personalised)}; best round so far ${e.best}`
      );
    }
    case 'evaluation.skipped':
    case 'evaluation.empty':
      return String(e.message);
    case 'evaluation.aborted':
      return `the evaluation of round ${e.round} aborted: ${e.reason}${e.detail ? ` (${e.detail})` : ''}`;
    case 'session.replaced':
      return `${e.peer}: a new session from ${e.remote} replaced a silent one from ${e.silent}`;
    case 'round.faulty':
      return `round ${e.round}: faulty member(s) ${(e.peers as string[]).join(', ')}: the protocol discarded their bad unmasking shares (rebuilding the secrets from the others), or left out the sender of share ciphertexts others could not use; the sum is exactly the inputs of the round's survivors`;
    case 'peer.benched':
      return `${e.peer} benched for ${e.rounds} round(s) (until round ${e.untilRound}): ${e.reason}`;
    case 'cohort.roster-too-small': {
      const minClients = Number(e.minClients);
      const minAggregate = Number(e.minAggregate);
      const floor = Math.max(minClients, minAggregate);
      return `no round starts: only ${e.active} member(s) of the roster are active (not revoked), and a round needs ${floor} (${floorKeys(minClients, minAggregate, c?.server.minAggregate !== undefined)}): add members to the roster file (reloaded on change or SIGHUP)`;
    }
    case 'round.aborted':
      return `round ${e.round} aborted: ${e.reason}${e.detail ? ` (${e.detail})` : ''}`;
    case 'tls.handshake-failed': {
      // Debug level: no ClientHello at all (a port check or a scanner); the JSON log keeps it.
      if (e.level === 'debug') return null;
      const before = Number(e.suppressedBefore ?? 0);
      return (
        `TLS handshake failed from ${e.remote}: ${e.reason ?? e.message ?? ''}${typeof e.code === 'string' ? ` (${e.code})` : ''}` +
        `${typeof e.hint === 'string' ? `: ${e.hint}` : ''}` +
        `${before > 0 ? ` (and ${before} earlier failure(s) from this address, counted but not shown one by one)` : ''}`
      );
    }
    case 'tls.handshake-failed.suppressed': {
      if (e.level === 'debug') return null;
      const windowS = Number(e.windowMs) / 1000;
      return `${e.count} more failed TLS handshake(s) from ${e.remote} within ${Number.isFinite(windowS) ? `${windowS} s` : 'the window'} after the one shown${typeof e.lastCode === 'string' ? ` (last ${e.lastCode})` : ''}, counted but not shown one by one`;
    }
    default:
      return null;
  }
}

export async function run(argv: string[]): Promise<number> {
  const loaded = loadServerConfig(argv);
  if (!loaded) return 0;
  const { config: c, json, file } = loaded;
  const out = json ? process.stderr : process.stdout;
  const view = new ProgressView(out);
  const log = openJsonLog(c.output.log);
  try {
    return await serve(c, json, view, log.log.bind(log)).catch((err: unknown) => {
      throw checkpointMismatchError(err, c.server.checkpointDir, file) ?? toCliError(err);
    });
  } finally {
    log.close();
  }
}

async function serve(c: FedmetaConfig, json: boolean, view: ProgressView, log: ReturnType<typeof openJsonLog>['log']): Promise<number> {
  const meta = await import('@fedmeta/meta');
  const { startServer } = await import('@fedmeta/server');
  const backend = await meta.selectBackend({ prefer: c.meta.backend, log: null });
  const roster = serverRoster(c);
  const reference = await loadServerReference(c.data);
  if (!reference) throw new CliError('data: the server needs the data shape: use a demo data.source or point data.path at a reference file');
  const evalData = reference.dataset;
  const spec = meta.createModel(modelConfig(c, evalData.shape, evalData.numClasses) as unknown as Parameters<typeof meta.createModel>[0]);
  const base = await serverOptionsFromConfig(c, spec.paramCount);
  const tracker = new RoundTracker();
  let bannerShown = false;
  // Notices of the server's start (a roster below the floor, a failed handshake) come before
  // the banner can be printed (it needs the bound URL): kept, and printed after it.
  const early: string[] = [];
  const server = await startServer({
    ...base,
    ...serverTls(c),
    roster,
    // Announced to every site, which checks its own file against it before it joins.
    dataSchema: reference.schema,
    ...(reference.federatedStandardise ? { preprocessing: { standardise: 'federated' as const } } : {}),
    model: { config: spec.config as unknown as { kind: string } & Record<string, unknown> },
    // Without shared labels the data still gives the model's shape, but no score.
    ...(hasGlobalLabels(c.data) ? { evaluate: { data: evalData } } : {}),
    logger: (e) => {
      log(e.level, e.event, e);
      const line = consoleNotice(e, c);
      if (!line) return;
      if (bannerShown) view.log(line);
      else early.push(line);
    },
    // Progress starts once the banner (which needs the bound URL) is out.
    onProgress: (p) => {
      if (bannerShown) view.update(tracker.map(p));
    },
  });
  const active = roster.filter((r) => !r.revoked).length;
  view.log(
    `fedmeta server: ${server.url} federation '${c.server.federationId}', ${active} clients on the roster${roster.length > active ? ` (and ${roster.length - active} revoked)` : ''}, ${c.server.rounds} rounds, ` +
      `${c.secagg.mode}, ${dpBanner(c, base.dp)}, tfjs ${backend.name}`,
  );
  if (server.resumed) view.log(resumeLine(c, server.resumed));
  if (reference.federatedStandardise && server.resumed?.standardisationRestored) {
    view.log('the sites\' shared feature standardisation (from the statistics round before round 1) comes back from the checkpoint; that round does not run again');
  } else if (reference.federatedStandardise) {
    view.log(
      `before round 1 the sites standardise their features together: a statistics round sums their feature count, sum and sum of squares under SecAgg${base.dp ? '; these sums are released without DP noise, so the epsilon budget covers the training rounds only (data.standardise: false keeps everything under the budget)' : ''}`,
    );
  }
  if (base.dashboard) {
    const http = server.url.replace(/^ws/, 'http');
    view.log(`dashboard: ${http}/dashboard (operator token from server.dashboard); metrics: ${http}/metrics (same token, as a bearer token)`);
  }
  view.log(planLine(server, c, active, roster.length - active));
  // The dp planner's utility check: warn when client-level noise swamps the summed updates.
  const dpWarning = base.dp ? utilityWarning({ unit: 'client', noiseMultiplier: base.dp.noiseMultiplier, sites: Math.max(1, c.server.clientsPerRound > 0 ? Math.min(active, c.server.clientsPerRound) : active), dim: spec.paramCount, rounds: c.server.rounds }) : undefined;
  if (dpWarning) {
    view.log(dpWarning);
    log('warn', 'dp.utility-warning', { message: dpWarning });
  }
  bannerShown = true;
  for (const line of early.splice(0)) view.log(line);
  log('info', 'cli.server.started', { url: server.url, roster: active, rounds: c.server.rounds });
  const rosterPath = resolve(c.server.roster!);
  const rosterWatch = watchRoster(rosterPath, (entries) => server.updateRoster(entries), {
    onUpdated: (ch) => {
      const parts = [ch.added.length ? `added ${ch.added.join(', ')}` : '', ch.revoked.length ? `revoked ${ch.revoked.join(', ')}` : '', ch.disconnected.length ? `disconnected ${ch.disconnected.join(', ')}` : ''].filter(Boolean);
      view.log(`roster reloaded from ${rosterPath}${parts.length ? `: ${parts.join('; ')}` : ' (no change in membership)'}`);
    },
    onRejected: (message) => {
      view.log(`roster NOT reloaded (the previous roster stays in force): ${message}`);
      log('error', 'roster.rejected', { message });
    },
  });
  const onHup = () => rosterWatch.reload();
  process.on('SIGHUP', onHup);
  let signals = 0;
  const onSignal = (signal: string) => {
    signals++;
    if (signals > 1) process.exit(130);
    view.log(`${signal}: closing connections (again to exit at once)`);
    void server.close();
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const summary = await server.done;
    view.finish();
    const modelDir = resolve(c.output.model);
    const wrote = summary.rounds.some((r) => r.status === 'completed');
    if (wrote) await writeModelDir(modelDir, summary.manifest, summary.finalParams);
    // The best round by the federated evaluation, next to the last: output.best, or best/ beside model/.
    const bestDir = c.output.best !== undefined ? resolve(c.output.best) : join(dirname(modelDir), basename(modelDir) === 'best' ? 'best-round' : 'best');
    if (wrote && summary.best) await writeModelDir(bestDir, summary.best.manifest, summary.best.params);
    const rounds: ReportRound[] = summary.rounds.map((r) => ({
      round: r.round, status: r.status, cohort: r.cohort, survivors: r.survivors, dropped: r.dropped, degree: r.degree, threshold: r.threshold,
      globalAccuracy: r.accuracy, epsilon: r.epsilon, bytesUp: r.bytesIn, bytesDown: r.bytesOut, wallMs: r.wallMs,
      ...(r.abortReason ? { abortReason: r.abortReason } : {}),
    }));
    if (json) {
      process.stdout.write(
        JSON.stringify(
          {
            federationId: summary.federationId, endReason: summary.endReason, roundsCompleted: summary.roundsCompleted, epsilon: summary.epsilon ?? null, rounds, modelDir: wrote ? modelDir : null,
            ...(summary.best ? { best: { round: summary.best.round, dir: wrote ? bestDir : null, metrics: summary.best.manifest.metrics }, sentToSites: summary.sentToSites } : {}),
          },
          null,
          2,
        ) + '\n',
      );
    } else {
      const lines = [
        '',
        renderRoundsTable(rounds),
        '',
        `fedmeta server: ${summary.endReason}; ${summary.roundsCompleted} rounds completed in all` +
          (summary.epsilon !== undefined ? `; epsilon ${formatEpsilon(summary.epsilon)} of ${c.dp.epsilon} spent` : ''),
        wrote
          ? `model: ${modelDir}/model.json (tfjs layers format) with its manifest ${modelDir}/fedmeta-model.json (round ${summary.manifest.round}); checkpoint: ${c.server.checkpointDir}`
          : `no round completed, so no model was written (see the aborted rounds above and the sites' consoles); checkpoint: ${c.server.checkpointDir}`,
        ...(wrote && summary.best
          ? [
              `best round by ${summary.best.manifest.selection?.metric ?? 'the federated evaluation'}: round ${summary.best.round} (accuracy ${((summary.best.manifest.metrics.federated?.accuracy ?? 0) * 100).toFixed(1)}%): ${bestDir}/model.json; ` +
                `${modelDir} holds the last round (${summary.manifest.round}); the sites received the ${summary.sentToSites === 'best' ? `best round's (${summary.best.round})` : `last round's (${summary.manifest.round})`}`,
            ]
          : []),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    }
    if (summary.endReason === 'closed') return 130;
    // A federation in which no round completed did not do its job.
    return wrote ? 0 : 1;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onHup);
    rosterWatch.stop();
    await server.close();
  }
}

/**
 * What a round will look like: the cohort a round is sampled at (server.clientsPerRound when
 * set, else the whole active roster; the server's planForCohort), its secure aggregation
 * threshold and the dropouts it survives. With fewer active members than the floor
 * (server.minClients, and server.minAggregate when larger) no round can start: the line
 * says so, and what a round will be once enough are active.
 */
export function planLine(server: Pick<ServerHandle, 'plan' | 'planForCohort'>, c: FedmetaConfig, active: number, revoked: number): string {
  const minAggregate = server.plan(Math.max(2, active)).minAggregate;
  const floor = Math.max(c.server.minClients, minAggregate);
  const describe = (p: RoundPlan): string =>
    p.mode === 'plaintext'
      ? `a round of ${p.n} members releases sums of >= ${p.minAggregate} inputs in plaintext; it tolerates ${p.toleratedDropouts} dropout(s)`
      : `a round of ${p.n} members runs ${p.mode}${p.degree ? ` (k ${p.degree})` : ''} with threshold t ${p.threshold} and releases sums of >= ${p.minAggregate} inputs: it tolerates ${p.toleratedDropouts} dropout(s)${p.toleratedDropouts === 0 ? ' (any dropout aborts the round: add members, or lower secagg.threshold / server.minAggregate knowingly)' : ''}`;
  if (active < floor) {
    const byMinClients = c.server.minClients === floor && !(c.server.minAggregate !== undefined && minAggregate === floor);
    return (
      `no round starts until ${floor} members are active (${floorKeys(c.server.minClients, minAggregate, c.server.minAggregate !== undefined)}): the roster has ${active} active member(s)${revoked > 0 ? ` and ${revoked} revoked` : ''}; ` +
      `add members to the roster (reloaded on change or SIGHUP), or lower ${byMinClients ? 'server.minClients' : 'server.minAggregate'} knowingly. Once they are active, ${describe(server.plan(floor))}`
    );
  }
  return describe(server.planForCohort());
}

/**
 * The config keys behind the floor max(minClients, minAggregate): server.minClients when it
 * sets it (an unset minAggregate defaults to it, at least 3 with secure aggregation), else
 * server.minAggregate.
 */
function floorKeys(minClients: number, minAggregate: number, minAggregateSet: boolean): string {
  if (minAggregate > minClients) return `server.minAggregate ${minAggregate}${minAggregateSet ? '' : ', its default with secure aggregation'}`;
  if (minAggregateSet && minAggregate === minClients) return `server.minClients ${minClients}, server.minAggregate ${minAggregate}`;
  return `server.minClients ${minClients}`;
}

/**
 * The line of a resumed coordinator: where it continues, what DP has spent, and the noise
 * multiplier of the rounds left next to the one the checkpoint was written under. For
 * client-level DP without dp.noiseMultiplier the CLI re-plans it from what the ledger has
 * left of the budget (config/options.ts planNoise), so raising server.rounds can change it
 * by orders of magnitude: the line says why.
 */
export function resumeLine(c: FedmetaConfig, r: ResumeInfo): string {
  const done = r.nextRound - 1;
  const left = Math.max(0, r.rounds - done);
  const head = `resumed from the checkpoint in ${r.checkpointDir} at round ${r.nextRound} (${r.roundsCompleted} of the ${done} round(s) before it completed)`;
  if (left === 0) return `${head}: all ${r.rounds} rounds of server.rounds have run; raise server.rounds to continue the federation`;
  const rest = `the ${left} remaining round(s) (server.rounds ${r.rounds})`;
  const dp = r.dp;
  if (!dp) return `${head}: ${rest} to run, DP off`;
  const z = dp.noiseMultiplier.now.toFixed(3);
  const before = dp.noiseMultiplier.before;
  const changed = before !== null && before.toFixed(3) !== z;
  if (dp.unit === 'record') {
    return `${head}: epsilon ${formatEpsilon(dp.epsilonSpent)} of ${dp.epsilonBudget} spent per site; DP-SGD noise multiplier ${z}${changed ? ` (was ${before!.toFixed(3)})` : ''} for ${rest}`;
  }
  const spent = `epsilon ${formatEpsilon(dp.epsilonSpent)} of ${dp.epsilonBudget} spent`;
  if (c.dp.noiseMultiplier !== undefined) return `${head}: ${spent}; noise multiplier ${z} (dp.noiseMultiplier)${changed ? `, was ${before!.toFixed(3)},` : ''} for ${rest}`;
  return (
    `${head}: ${spent}; noise multiplier re-planned ${changed ? `from ${before!.toFixed(3)} ` : ''}to ${z} for ${rest}, ` +
    `the smallest that keeps all rounds within dp.epsilon ${dp.epsilonBudget} after what is spent`
  );
}

/** The banner's DP part: the unit of privacy, whose budget it is, and the noise. */
function dpBanner(c: FedmetaConfig, dp: { noiseMultiplier: number } | undefined): string {
  if (!dp) return 'DP off';
  const z = dp.noiseMultiplier.toFixed(3);
  if (c.dp.unit === 'record') {
    return `DP record-level (DP-SGD at every site, ${c.dp.mode} noise): epsilon ${c.dp.epsilon} per site, each charged to the site's own ledger (noise multiplier ${z}, sampling rate ${c.dp.sampleRate}, clip ${c.dp.l2Clip})`;
  }
  return `DP client-level, epsilon budget ${c.dp.epsilon} (noise multiplier ${z})`;
}
