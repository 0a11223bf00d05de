/**
 * `fedmeta simulate`: a whole federation in one process - the real server and N real
 * clients talking over loopback WebSockets (port 0, plain ws: explicit and local only),
 * non-IID MNIST, secure aggregation and distributed DP by default, then a summary table.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CliError } from '../errors.js';
import { flagInt, flagOnOff, flagPositive, flagString, parseFlags } from '../config/args.js';
import { loadConfig, setPath, type RawConfig } from '../config/load.js';
import { suggest } from '../config/schema.js';
import { checkSimulateConfig } from '../config/rules.js';
import type { FedmetaConfig } from '../config/fedmeta-schema.js';
import type { ClientHandle } from '@fedmeta/client';
import { algorithmOptions, clientPolicy, modelConfig, serverOptionsFromConfig } from '../config/options.js';
import { hasGlobalLabels, loadDemoFederation } from '../config/data.js';
import { generateIdentity } from '../identity.js';
import { ProgressView, RoundTracker } from '../ui/progress.js';
import { openJsonLog } from '../ui/log.js';
import { toCliError } from '../ui/errors.js';
import { referenceRows, renderSummary, type SimulationReport, type ReportRound } from '../ui/summary.js';
import { writeReport } from '../ui/report.js';
import { formatDuration, formatPercent } from '../ui/format.js';
import type { DashboardSnapshot, FederationMonitor as FederationMonitorType } from '@fedmeta/server';

const HELP = `usage: fedmeta simulate [options]

Runs a whole federation in this process: the server and N clients over loopback
WebSockets (plain ws on 127.0.0.1), non-IID MNIST, secure aggregation and distributed DP,
then reference runs on the same test set: the model trained on the pooled data of all
clients, and each client alone.

options (each overrides the config file):
  --config FILE        a fedmeta config file (JSON or YAML); see docs/configuration.md
  --clients N          clients (default 20)                    [simulate.clients]
  --rounds N           rounds (default 10)                     [server.rounds]
  --dataset NAME       mnist or fashion (Fashion-MNIST) (default mnist) [data.source]
  --model NAME         mlp, linear or cnn (default mlp; cnn takes the tuned CNN defaults:
                       embedding 64, 5 local steps of batch 20, lr 0.1) [meta.model]
  --algorithm NAME     reptile, fomaml, maml, perfedavg-fo, perfedavg-hf, fedavg,
                       fedavg-ft, fedprox, protonets (default reptile) [meta.algorithm]
  --secagg MODE        secagg, secagg+, auto, plaintext (default secagg) [secagg.mode]
  --dp on|off          distributed DP (default on)            [dp.enabled]
  --epsilon E          total privacy budget (default 50)      [dp.epsilon]
  --drop SPEC          crashes: ROUND:PHASE[,...] or none (default 2:share-keys) [simulate.drop]
  --label-codes MODE   shared, or local: each client codes its classes 0..k-1 in its
                       own order (default shared)              [data.labelCodes]
  --seed N             data split, model init, batches         [data.seed]
  --reference on|off   the pooled and site-alone reference runs (default on)
                                                               [simulate.reference]
  --backend NAME       auto, tensorflow, webgpu, wasm, cpu     [meta.backend]
  --out DIR            final model (tfjs format) goes here     [output.model]
  --log FILE           structured JSON logs ("-" for stderr)   [output.log]
  --checkpoint DIR     keep the server's checkpoint and DP ledger in DIR (must not hold
                       one yet) for \`fedmeta status --checkpoint DIR\`; default: a temp dir
  --report FILE        also write a self-contained HTML report (the dashboard's plots and
                       the run's tables; opens offline)
  --json               print the summary as one JSON object on stdout (progress goes to stderr)
  -h, --help

Ctrl-C (SIGINT) or SIGTERM stops after the current step, prints the summary of the rounds
run so far and exits with 130.`;

const FLAGS = {
  config: { type: 'string' },
  clients: { type: 'string' },
  rounds: { type: 'string' },
  dataset: { type: 'string' },
  model: { type: 'string' },
  reference: { type: 'string' },
  algorithm: { type: 'string' },
  secagg: { type: 'string' },
  dp: { type: 'string' },
  epsilon: { type: 'string' },
  drop: { type: 'string' },
  seed: { type: 'string' },
  'label-codes': { type: 'string' },
  backend: { type: 'string' },
  out: { type: 'string' },
  log: { type: 'string' },
  checkpoint: { type: 'string' },
  report: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * Defaults of the demo, under any config file: sized so `npm start` finishes in a few
 * minutes on 2 cores (see docs/simulate.md for the measured time).
 */
export const SIMULATE_DEFAULTS: RawConfig = {
  server: {
    rounds: 10,
    minClients: 3,
    heartbeat: { intervalMs: 2_000, timeoutMs: 20_000 },
    deadlines: { training: 60_000, shareKeys: 15_000, maskedInput: 15_000, unmasking: 15_000 },
  },
  simulate: { clients: 20 },
  // Classic SecAgg: at 20 clients the complete graph is cheap, and its threshold
  // (floor(2n/3)+1 = 14) is what each client's share of the DP noise is sized for, so
  // every client adds far less noise than under SecAgg+'s small neighbourhood threshold.
  secagg: { mode: 'secagg' },
  // A small MLP (784-16-10, 12.7k parameters): the DP noise grows with sqrt(parameters).
  meta: { hidden: 16 },
  data: { supportPerClass: 20, queryPerClass: 50 },
  // Client-level DP over 20 clients is costly; 50 is a weak guarantee picked so the demo
  // visibly learns through the noise. docs/simulate.md has the measured trade-off.
  dp: { epsilon: 50 },
};

/**
 * What `--model cnn` (meta.model cnn) changes in the demo's defaults: the CNN family's
 * architecture tuned on Fashion-MNIST (@fedmeta/meta FASHION_MNIST_DEFAULTS.cnn: two stride-2
 * convs [16, 32] and a 64-wide embedding; a test keeps them equal) and its batch of 20, with
 * the lr tuned for this demo's split: each client holds 2 classes and every client trains
 * every round, where the meta bench's lr 0.3 (Dirichlet 0.3, 5 clients per round) collapses
 * the federated CNN to one class. The grid (lr 0.03 / 0.05 / 0.1 x 5 / 10 local steps,
 * tuning seed 100) is in docs/simulate.md; lr 0.1 is also the personalised evaluation's
 * fine-tuning lr.
 */
export const SIMULATE_CNN_DEFAULTS: RawConfig = {
  meta: { hidden: 64, localSteps: 5, batchSize: 20, lr: 0.1 },
};

/** `--dataset` names: the config's data.source values, and `fashion` for fashion-mnist. */
const DATASETS: Record<string, string> = { mnist: 'mnist', fashion: 'fashion-mnist', 'fashion-mnist': 'fashion-mnist' };

/** The demo's defaults for a model: the CNN's tuned ones over SIMULATE_DEFAULTS for cnn. */
export function simulateDefaults(model: string): RawConfig {
  if (model !== 'cnn') return SIMULATE_DEFAULTS;
  const meta = { ...(SIMULATE_DEFAULTS['meta'] as RawConfig), ...(SIMULATE_CNN_DEFAULTS['meta'] as RawConfig) };
  return { ...SIMULATE_DEFAULTS, meta };
}

/** Flags as a raw config document (validated together with the file). */
function overridesFrom(f: Record<string, string | boolean | undefined>): RawConfig {
  const o: RawConfig = {};
  const set = (path: string, v: unknown) => v !== undefined && setPath(o, path, v);
  set('simulate.clients', flagInt('clients', f.clients, 2, 1000));
  set('server.rounds', flagInt('rounds', f.rounds, 1, 1_000_000));
  set('data.source', flagDataset(flagString(f.dataset)));
  set('meta.model', flagString(f.model));
  set('simulate.reference', flagOnOff('reference', f.reference));
  set('meta.algorithm', flagString(f.algorithm));
  set('secagg.mode', flagString(f.secagg));
  set('dp.enabled', flagOnOff('dp', f.dp));
  set('dp.epsilon', flagPositive('epsilon', f.epsilon));
  set('simulate.drop', flagString(f.drop));
  set('data.seed', flagInt('seed', f.seed, 0, 2 ** 32 - 1));
  set('data.labelCodes', flagString(f['label-codes']));
  set('meta.backend', flagString(f.backend));
  set('output.model', flagString(f.out));
  set('output.log', flagString(f.log));
  return o;
}

/** `--dataset NAME` as a data.source. @throws CliError naming the flag and the closest name */
function flagDataset(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const source = DATASETS[v];
  if (source !== undefined) return source;
  const close = suggest(v, Object.keys(DATASETS));
  throw new CliError(`--dataset: must be mnist or fashion (got ${JSON.stringify(v)})${close ? `; did you mean '${close}'?` : ''}`);
}

/** "2:share-keys,3:masked-input" -> one crash per entry, the i-th for client i. */
export function parseDrops(spec: string): { round: number; phase: string }[] {
  if (spec === 'none') return [];
  return spec.split(',').map((item) => {
    const [round, phase] = item.split(':');
    return { round: Number(round), phase: phase! };
  });
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  if (f.help) {
    console.log(HELP);
    return 0;
  }
  let config: FedmetaConfig;
  const file = flagString(f.config);
  try {
    const overrides = overridesFrom(f);
    config = loadConfig({ ...(file ? { file } : {}), defaults: SIMULATE_DEFAULTS, overrides });
    // The model decides the rest of the defaults: load again under the CNN's (the file and
    // the flags still override them).
    if (config.meta.model === 'cnn') config = loadConfig({ ...(file ? { file } : {}), defaults: simulateDefaults('cnn'), overrides });
    checkSimulateConfig(config, file);
  } catch (err) {
    toCliError(err);
  }
  const drops = parseDrops(config.simulate.drop);
  if (drops.length >= config.simulate.clients) throw new CliError(`--drop: ${drops.length} crashes need more than ${config.simulate.clients} clients`);
  const json = f.json === true;
  const out = json ? process.stderr : process.stdout;
  const view = new ProgressView(out);
  const log = openJsonLog(config.output.log);
  const say = (line: string) => view.log(line);
  const reportFile = flagString(f.report);
  const { FederationMonitor } = await import('@fedmeta/server');
  const monitor = reportFile === undefined
    ? null
    : new FederationMonitor({
        federationId: config.server.federationId,
        rounds: config.server.rounds,
        privacy: config.dp.enabled ? { budget: config.dp.epsilon, delta: config.dp.delta } : null,
        roster: { active: config.simulate.clients, size: config.simulate.clients },
        title: `fedmeta simulate: ${config.simulate.clients} clients, ${config.meta.algorithm}, ${config.secagg.mode}${config.dp.enabled ? `, epsilon ${config.dp.epsilon}` : ', DP off'}`,
      });
  try {
    const report = await simulate(config, drops, view, say, log.log.bind(log), flagString(f.checkpoint), monitor).catch(toCliError);
    view.finish();
    if (json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else out.write('\n' + renderSummary(report) + '\n');
    if (monitor && reportFile !== undefined) {
      const path = await writeReport(reportFile, simulationSnapshot(monitor, report));
      out.write(`report: ${path}\n`);
    }
    if (report.endReason === 'closed') return 130;
    return report.roundsCompleted > 0 ? 0 : 1;
  } finally {
    log.close();
  }
}

type Log = ReturnType<typeof openJsonLog>['log'];

async function simulate(
  c: FedmetaConfig,
  drops: { round: number; phase: string }[],
  view: ProgressView,
  say: (l: string) => void,
  log: Log,
  keepCheckpoint: string | undefined,
  monitor: FederationMonitorType | null = null,
): Promise<SimulationReport> {
  const started = performance.now();
  const meta = await import('@fedmeta/meta');
  const { startServer, loadCheckpoint } = await import('@fedmeta/server');
  // The testing entry point: simulate injects the crashes that simulate.drop asks for.
  const { runClientWithHooks } = await import('@fedmeta/client/testing');
  const backend = await meta.selectBackend({ prefer: c.meta.backend, log: null });
  const n = c.simulate.clients;
  const fed = await loadDemoFederation(c.data, n);
  const globalLabels = hasGlobalLabels(c.data);
  const shape = fed.test.shape;
  const numClasses = fed.test.numClasses;
  const spec = meta.createModel(modelConfig(c, shape, numClasses) as unknown as Parameters<typeof meta.createModel>[0]);
  const algorithm = meta.createAlgorithm(c.meta.algorithm, spec);
  const evalLr = c.meta.innerLr ?? c.meta.lr;
  const personalised = (params: Float32Array) => meta.evaluatePersonalized(algorithm, params, fed.clients, { steps: c.meta.evalSteps, lr: evalLr });
  const initial = spec.initParams(c.data.seed);
  const before = personalised(initial);
  const identities = Array.from({ length: n }, (_, i) => generateIdentity(`client-${i}`));
  // Fresh identities every run: an old checkpoint would not match, so never resume one.
  if (keepCheckpoint !== undefined && existsSync(join(keepCheckpoint, 'checkpoint.fmck'))) {
    throw new CliError(`--checkpoint: ${keepCheckpoint} already holds a checkpoint; pick an empty directory`);
  }
  const checkpointDir = keepCheckpoint !== undefined ? resolve(keepCheckpoint) : mkdtempSync(join(tmpdir(), 'fedmeta-simulate-'));
  const base = await serverOptionsFromConfig(c, spec.paramCount, null);
  const dpNote = base.dp ? `DP on: epsilon budget ${c.dp.epsilon}, delta ${c.dp.delta}, noise multiplier ${base.dp.noiseMultiplier.toFixed(3)}` : 'DP off';
  say(`fedmeta simulate: ${n} clients, ${c.server.rounds} rounds, ${c.meta.algorithm} on ${c.meta.model} (${spec.paramCount} parameters; ${c.meta.localSteps} local steps of batch ${c.meta.batchSize}, lr ${c.meta.lr}), ${c.secagg.mode}, ${dpNote}, tfjs ${backend.name}`);
  say(`data: ${c.data.source}, ${c.data.partition === 'classes' ? `${c.data.classesPerClient} classes per client` : `Dirichlet alpha ${c.data.alpha}`}, ${fed.clients.map((x) => x.support.count).reduce((a, b) => a + b, 0)} support examples in all; ${globalLabels ? `server evaluates on ${fed.test.count} held-out examples` : 'site-local label codes, so no global test accuracy (personalised accuracy only)'}`);

  const tracker = new RoundTracker();
  // The global model after each completed round, read back from the server's checkpoint,
  // for the per-round personalised accuracy (evaluated after the run, so the rounds'
  // wall times stay clean).
  const paramsByRound = new Map<number, Float32Array>();
  let lastShownRound = 0;
  const snapshot = () => {
    const cp = loadCheckpoint(checkpointDir);
    const finished = cp ? cp.nextRound - 1 : 0;
    const record = (cp?.meta['rounds'] as { round: number; status: string }[] | undefined)?.at(-1);
    if (cp && record?.round === finished && record.status === 'completed' && !paramsByRound.has(finished)) {
      paramsByRound.set(finished, cp.arrays['params']!);
    }
  };
  const server = await startServer({
    ...base,
    host: '127.0.0.1',
    port: 0,
    insecure: true,
    roster: identities.map((id) => ({ name: id.name, publicKey: id.publicKey })),
    model: { config: spec.config as unknown as { kind: string } & Record<string, unknown>, initialParams: initial },
    algorithm: algorithmOptions(c),
    checkpointDir,
    ...(globalLabels ? { evaluate: { data: fed.test } } : {}),
    logger: (e) => {
      monitor?.event(e);
      log(e.level, e.event, { ...e, component: 'server' });
    },
    onProgress: (p) => {
      monitor?.progress(p);
      const shown = tracker.map(p);
      view.update(shown);
      // A new round (or the end) means the previous round's checkpoint is on disk.
      if (shown.round !== lastShownRound || p.phase === 'done') setImmediate(snapshot);
      lastShownRound = shown.round;
    },
  });
  if (base.dashboard) say(`dashboard: http://127.0.0.1:${server.port}/dashboard (log in with the server.dashboard token); metrics: http://127.0.0.1:${server.port}/metrics`);
  const stop = () => void server.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  for (const [i, d] of drops.entries()) say(`client-${i} will crash in round ${d.round} after ${d.phase}${c.simulate.reconnect ? ' and reconnect' : ''}`);
  let clients: ClientHandle[] = [];
  try {
    clients = identities.map((identity, i) => {
      const drop = drops[i];
      return runClientWithHooks({
        url: server.url,
        identity,
        federationId: c.server.federationId,
        data: fed.clients[i]!,
        // The simulation's operator runs every site: a plaintext simulation is asked for explicitly.
        policy: { ...clientPolicy(c), requireSecAgg: c.client.policy.requireSecAgg && c.secagg.mode !== 'plaintext' },
        reconnect: { maxAttempts: 20, baseDelayMs: 100, maxDelayMs: 2_000 },
        seed: c.data.seed * 1009 + i,
        logger: (e) => log(e.level, e.event, { ...e, component: identity.name }),
      }, drop ? { dropAfterPhase: { phase: drop.phase as 'share-keys', round: drop.round, reconnect: c.simulate.reconnect } } : {});
    });
    const summary = await server.done;
    // Clients end by themselves on the server's goodbye; after a SIGINT they would keep
    // retrying, so give them a moment and then close whoever is left.
    const allDone = Promise.all(clients.map((h) => h.done));
    const grace = new Promise<void>((r) => setTimeout(r, summary.endReason === 'closed' ? 0 : 5_000).unref());
    await Promise.race([allDone, grace]);
    await Promise.all(clients.map((h) => h.close()));
    const clientSummaries = await allDone;
    snapshot();
    const after = personalised(summary.finalParams);
    const completed = summary.rounds.filter((r) => r.status === 'completed').length;
    let reference: SimulationReport['reference'];
    if (c.simulate.reference && globalLabels && completed > 0) {
      say(`reference runs: the model on the pooled training data of all ${n} clients, then each client alone`);
      const refStarted = performance.now();
      // Minibatch steps a client trains per round (Reptile's inner loop is its local training).
      const stepsPerRound = c.meta.algorithm === 'reptile' ? (c.meta.innerSteps ?? c.meta.localSteps) : c.meta.localSteps;
      // What each client spent: the rounds its update was aggregated in.
      const clientRounds = clientSummaries.map((s) => s.rounds.filter((r) => r.status === 'completed').length);
      const runs = meta.referenceRuns({
        spec,
        sites: fed.clients.map((x) => x.support),
        test: fed.test,
        stepsPerRound,
        rounds: clientRounds,
        batchSize: c.meta.batchSize,
        lr: c.meta.lr,
        seed: c.data.seed,
        // The coordinator's own measure of the global model.
        accuracy: (params, test) => algorithm.accuracy(params, test, test),
      });
      reference = { ...runs, stepsPerRound, wallMs: performance.now() - refStarted };
    }
    const personalisedByRound = new Map([...paramsByRound].map(([round, params]) => [round, personalised(params).mean]));
    const model = resolve(c.output.model);
    await meta.exportTfjsModel(spec, summary.finalParams, model);
    const rounds: ReportRound[] = summary.rounds.map((r) => ({
      round: r.round,
      status: r.status,
      cohort: r.cohort,
      survivors: r.survivors,
      dropped: r.dropped,
      degree: r.degree,
      threshold: r.threshold,
      globalAccuracy: r.accuracy,
      epsilon: r.epsilon,
      bytesUp: r.bytesIn,
      bytesDown: r.bytesOut,
      wallMs: r.wallMs,
      personalisedAccuracy: personalisedByRound.get(r.round),
      ...(r.abortReason ? { abortReason: r.abortReason } : {}),
    }));
    return {
      clients: n,
      roundsPlanned: c.server.rounds,
      roundsCompleted: completed,
      dataset: c.data.source,
      endReason: summary.endReason,
      algorithm: c.meta.algorithm,
      model: c.meta.model,
      parameters: spec.paramCount,
      secagg: c.secagg.mode,
      backend: backend.name,
      dp: base.dp ? { epsilonBudget: c.dp.epsilon, delta: c.dp.delta, noiseMultiplier: base.dp.noiseMultiplier, l2Clip: c.dp.l2Clip, epsilonSpent: summary.epsilon ?? 0 } : null,
      evalSteps: c.meta.evalSteps,
      labelCodes: c.data.labelCodes,
      initial: { globalAccuracy: globalLabels ? algorithm.accuracy(initial, meta.concat(fed.clients.map((x) => x.support)), fed.test) : undefined, personalisedAccuracy: before.mean, noAdaptationAccuracy: before.before.mean },
      final: { globalAccuracy: rounds.filter((r) => r.globalAccuracy !== undefined).at(-1)?.globalAccuracy, personalisedAccuracy: after.mean, noAdaptationAccuracy: after.before.mean, personalisedStd: after.std },
      ...(reference ? { reference } : {}),
      rounds,
      clientsReport: clientSummaries.map((s) => ({ name: s.name, endReason: s.endReason, rounds: s.rounds.filter((r) => r.status === 'completed').length, ...(s.error ? { error: s.error.code } : {}) })),
      bytesUp: rounds.reduce((a, r) => a + r.bytesUp, 0),
      bytesDown: rounds.reduce((a, r) => a + r.bytesDown, 0),
      wallMs: performance.now() - started,
      modelDir: model,
    };
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await Promise.all(clients.map((h) => h.close()));
    await server.close();
    if (keepCheckpoint === undefined) rmSync(checkpointDir, { recursive: true, force: true });
  }
}

/** The report's snapshot: the monitored run plus simulate's own measurements. */
function simulationSnapshot(monitor: FederationMonitorType, r: SimulationReport): DashboardSnapshot {
  for (const row of r.rounds) if (row.personalisedAccuracy !== undefined) monitor.annotateRound(row.round, { personalisedAccuracy: row.personalisedAccuracy });
  const facts: [string, string][] = [
    ['clients', String(r.clients)],
    ['rounds', `${r.roundsCompleted} completed of ${r.roundsPlanned} planned (${r.endReason})`],
    ['training', `${r.algorithm} on ${r.model} (${r.parameters} parameters), tfjs ${r.backend}`],
    ...(r.dataset ? [['data', r.dataset] as [string, string]] : []),
    ['aggregation', r.secagg],
    ['privacy', r.dp ? `epsilon ${r.dp.epsilonSpent.toFixed(3)} of ${r.dp.epsilonBudget} spent, delta ${r.dp.delta}, noise multiplier ${r.dp.noiseMultiplier.toFixed(3)}, L2 clip ${r.dp.l2Clip}` : 'DP off'],
    ['global accuracy', `${formatPercent(r.initial.globalAccuracy)} -> ${formatPercent(r.final.globalAccuracy)}`],
    ['personalised accuracy', `${formatPercent(r.initial.personalisedAccuracy)} -> ${formatPercent(r.final.personalisedAccuracy)} (${r.evalSteps} fine-tuning steps)`],
    ['no adaptation', `${formatPercent(r.initial.noAdaptationAccuracy)} -> ${formatPercent(r.final.noAdaptationAccuracy)}`],
    ...referenceFacts(r),
    ['wall time', formatDuration(r.wallMs)],
    ['model', r.modelDir ?? '-'],
  ];
  for (const [k, v] of facts) monitor.addFact(k, v);
  return monitor.snapshot('report');
}

/** The report's facts for the reference runs: one per row, federated first. */
function referenceFacts(r: SimulationReport): [string, string][] {
  return referenceRows(r).map((x) => [`test accuracy: ${x.setting}`, `${formatPercent(x.accuracy)} (${x.note})`]);
}
