/**
 * Runtime bench: wall time of one federation round with SecAgg / SecAgg+ versus the
 * plaintext baseline (clients send their quantised vectors unmasked and the server just
 * sums them), n = 20 clients and one server in ONE process over loopback WebSockets,
 * m = 100,975 parameters (an MLP 784-127-10). Two tables from one run:
 *
 * - protocol only: clients use a synthetic update vector (the `trainer` option) instead of
 *   tfjs training, so the round is nothing but the protocol and runtime overhead (the
 *   worst case for the ratio);
 * - full round: every client really trains (Reptile with the `fedmeta` config defaults:
 *   10 local steps of batch 32, lr 0.05, on its own non-IID MNIST shard, tfjs on the
 *   auto-selected backend) before encoding, as a round of `fedmeta client` does.
 *
 * Everything else is the real stack: auth, framing, quantisation, masking, unmasking,
 * decoding, the meta-optimiser step.
 *
 * A third table prices the operator dashboard (`dashboard`: the live page and /metrics):
 * the protocol-only SecAgg federation with and without it, one live page streaming and
 * /metrics scraped every second, plus the dashboard's own work replayed in isolation (every
 * event and progress update of a measured round through a fresh monitor, the page updates a
 * round causes, one scrape), which is the number the < 2% goal is checked on: the
 * with/without wall times differ by less than their run-to-run noise.
 *
 *   npm run bench -w packages/tests      (or: node packages/tests/dist/bench/runtime.js)
 *   BENCH_PARTS=protocol|full|dashboard  runs one table only
 */
import { FederationMonitor, renderMetrics, startServer, type AggregationOptions, type ServerEvent, type ServerProgress } from '@fedmeta/server';
import { runClient } from '@fedmeta/client';
import { createModel, federatedMnist, type ClientData, type ModelConfig } from '@fedmeta/meta';
import { institutions, rosterOf } from '../src/harness.js';

const N = Number(process.env['BENCH_CLIENTS'] ?? 20);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 4); // the first is a warm-up and not counted
const MODEL = { kind: 'mlp', inputShape: [784], hidden: [127], numClasses: 10 };

const emptySet = { x: new Float32Array(784), y: new Int32Array(1), count: 1, shape: [784], numClasses: 10 };

function syntheticUpdate(m: number, seed: number): Float32Array {
  const u = new Float32Array(m);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < m; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    u[i] = (s / 2 ** 32 - 0.5) * 0.02;
  }
  return u;
}

interface Measured {
  label: string;
  roundMs: number[];
  /** Process CPU time (user + system, every party in this process) per round. */
  roundCpuMs: number[];
  bytesPerClientUp: number;
  degree: number;
  threshold: number;
  /** With the dashboard on: what the server said during the measured rounds, for the replay. */
  recorded?: { events: ServerEvent[]; progress: ServerProgress[]; rounds: number; streamBytes: number; scrapes: number };
}

const DASHBOARD_TOKEN = 'bench-operator-token-0123456789';

/** One live dashboard page (the event stream, read to the end) and a Prometheus scraping every second. */
function dashboardLoad(url: string): { stop(): Promise<{ streamBytes: number; scrapes: number }> } {
  const http = url.replace(/^ws/, 'http');
  const headers = { authorization: `Bearer ${DASHBOARD_TOKEN}` };
  const ctrl = new AbortController();
  let streamBytes = 0;
  let scrapes = 0;
  const stream = (async () => {
    const res = await fetch(`${http}/dashboard/api/events`, { headers, signal: ctrl.signal });
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      streamBytes += value.length;
    }
  })().catch(() => undefined);
  const timer = setInterval(() => {
    void fetch(`${http}/metrics`, { headers, signal: ctrl.signal }).then((r) => r.text()).then(() => scrapes++, () => undefined);
  }, 1000);
  return {
    async stop() {
      clearInterval(timer);
      ctrl.abort();
      await stream;
      return { streamBytes, scrapes };
    },
  };
}

/** The `fedmeta` config defaults for meta.* (packages/cli/src/config/fedmeta-schema.ts). */
const DEFAULT_TRAINING = { name: 'reptile', hyper: { localSteps: 10, batchSize: 32, lr: 0.05 } };
/** Real shards for the full-round table: Dirichlet(0.5) label skew, 20% support as in FedMeta. */
let shards: ClientData[] | null = null;
const shardsOnce = (): ClientData[] => (shards ??= federatedMnist({ clients: N, scheme: 'dirichlet', alpha: 0.5, seed: 1 }).clients);

async function runFederation(label: string, aggregation: AggregationOptions, train: boolean, dashboard = false): Promise<Measured> {
  const events: ServerEvent[] = [];
  const progress: ServerProgress[] = [];
  let measuring = false;
  const cpuAt = new Map<number, number>();
  const roundCpuMs: number[] = [];
  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const insts = institutions(N, 'bench');
  const paramCount = createModel(MODEL as unknown as ModelConfig).paramCount;
  const updates = insts.map((_, i) => syntheticUpdate(paramCount, i + 1));
  const server = await startServer({
    port: 0,
    insecure: true,
    federationId: `bench-${label}`,
    roster: rosterOf(insts),
    rounds: ROUNDS,
    model: { config: MODEL },
    algorithm: train ? DEFAULT_TRAINING : { name: 'fedavg', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } },
    cohort: { minClients: N },
    aggregation: { elementClip: 0.05, maxWeight: 1000, ...aggregation },
    deadlines: { waitForClientsMs: 60_000 },
    backend: train ? 'auto' : 'cpu',
    // CPU time per round from the server's own round events (the wall time is in the summary).
    logger: (e) => {
      if (e.event === 'round.started') cpuAt.set(e['round'] as number, cpuNow());
      if (e.event === 'round.finished' && (e['round'] as number) > 1) roundCpuMs.push(cpuNow() - cpuAt.get(e['round'] as number)!);
      if (e.event === 'round.finished' && e['round'] === 1) measuring = true;
      if (dashboard && measuring) events.push(e);
    },
    ...(dashboard ? { dashboard: { token: DASHBOARD_TOKEN }, onProgress: (p: ServerProgress) => void (measuring && progress.push({ ...p })) } : {}),
  });
  const load = dashboard ? dashboardLoad(server.url) : null;
  const clients = insts.map((inst, i) =>
    train
      ? runClient({ url: server.url, identity: inst.keys, data: shardsOnce()[i]!, backend: 'auto' })
      : runClient({ url: server.url, identity: inst.keys, data: { id: i, support: emptySet, query: emptySet }, backend: 'cpu', trainer: () => ({ update: updates[i]!, weight: 100 }) }),
  );
  const summary = await server.done;
  await Promise.all(clients.map((c) => c.done));
  const seen = await load?.stop();
  const counted = summary.rounds.slice(1);
  if (counted.some((r) => r.status !== 'completed' || r.survivors !== N)) throw new Error(`${label}: a round did not complete with all ${N} clients`);
  return {
    label,
    roundMs: counted.map((r) => r.wallMs),
    roundCpuMs,
    bytesPerClientUp: counted.reduce((a, r) => a + r.bytesIn, 0) / counted.length / N,
    degree: counted[0]!.degree,
    threshold: counted[0]!.threshold,
    ...(seen ? { recorded: { events, progress, rounds: counted.length, ...seen } } : {}),
  };
}

/**
 * The dashboard's own work for the recorded rounds, timed alone: every event and progress
 * update through a fresh monitor, one page update (snapshot delta + JSON) per 250 ms of
 * round time (the stream's flush period, the most it sends), and one /metrics rendering
 * per round (a scrape every second is about one per round here). Milliseconds per round.
 */
function replayCostMs(r: NonNullable<Measured['recorded']>, roundMs: number): number {
  const reps = 20;
  const flushes = Math.ceil(roundMs / 250);
  const t0 = performance.now();
  for (let k = 0; k < reps; k++) {
    const m = new FederationMonitor({ federationId: 'bench', rounds: ROUNDS, privacy: null, roster: { active: N, size: N } });
    let auditAfter = 0;
    let roundsFrom = 0;
    for (const e of r.events) m.event(e);
    for (const p of r.progress) m.progress(p);
    for (let f = 0; f < flushes * r.rounds; f++) {
      const u = m.snapshot('live', { roundsFrom, auditAfter });
      roundsFrom = u.roundsFrom + u.roundRows.length;
      auditAfter = m.auditSeq;
      JSON.stringify(u);
    }
    for (let i = 0; i < r.rounds; i++) renderMetrics(m);
  }
  return (performance.now() - t0) / reps / r.rounds;
}

async function dashboardTable(): Promise<void> {
  const agg: AggregationOptions = { mode: 'secagg' };
  const off: Measured[] = [];
  const on: Measured[] = [];
  // Alternating order (off, on, on, off, ...) so neither side always runs second.
  for (let rep = 0; rep < REPEATS; rep++) {
    for (const withIt of rep % 2 === 0 ? [false, true] : [true, false]) {
      (withIt ? on : off).push(await runFederation(withIt ? 'secagg+dashboard' : 'secagg', agg, false, withIt));
    }
  }
  const all = (ms: Measured[], k: 'roundMs' | 'roundCpuMs') => ms.flatMap((x) => x[k]);
  const wallOff = median(all(off, 'roundMs'));
  const wallOn = median(all(on, 'roundMs'));
  const cpuOff = median(all(off, 'roundCpuMs'));
  const cpuOn = median(all(on, 'roundCpuMs'));
  const rec = on.map((x) => x.recorded!);
  const perRound = (f: (r: NonNullable<Measured['recorded']>) => number) => rec.reduce((a, r) => a + f(r), 0) / rec.reduce((a, r) => a + r.rounds, 0);
  const work = median(rec.map((r) => replayCostMs(r, wallOn)));
  console.log(`\nDashboard cost, protocol-only SecAgg rounds (the shortest rounds, so the largest share). n = ${N} clients + server in one process, m = ${m} parameters, ${REPEATS} x ${ROUNDS - 1} measured rounds each, runs interleaved; with the dashboard, one live page reads the event stream and /metrics is scraped every second. Node ${process.version}\n`);
  console.log('| measure | without dashboard | with dashboard | difference |');
  console.log('|---|---|---|---|');
  console.log(`| median round wall time (ms) | ${wallOff.toFixed(0)} | ${wallOn.toFixed(0)} | ${(wallOn - wallOff).toFixed(0)} (${((100 * (wallOn - wallOff)) / wallOff).toFixed(1)}%) |`);
  console.log(`| median round CPU time, every party (ms) | ${cpuOff.toFixed(0)} | ${cpuOn.toFixed(0)} | ${(cpuOn - cpuOff).toFixed(0)} (${((100 * (cpuOn - cpuOff)) / cpuOff).toFixed(1)}%) |`);
  console.log(`| dashboard work per round, replayed alone (ms) | - | ${work.toFixed(2)} | ${((100 * work) / wallOn).toFixed(2)}% of the round |`);
  console.log(`\nPer round: ${perRound((r) => r.events.length).toFixed(0)} server events and ${perRound((r) => r.progress.length).toFixed(0)} progress updates through the monitor, ${(perRound((r) => r.streamBytes) / 1000).toFixed(1)} KB streamed to the page, ${perRound((r) => r.scrapes).toFixed(1)} scrapes.`);
  console.log(`Goal: dashboard work < 2% of the round time: ${(100 * work) / wallOn < 2 ? 'met' : 'NOT met'} (${((100 * work) / wallOn).toFixed(2)}%).`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const m = createModel(MODEL as unknown as ModelConfig).paramCount;
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 2);
// BENCH_ONLY=secagg (comma-separated) keeps the baseline plus the named modes, e.g. for profiling.
const only = process.env['BENCH_ONLY']?.split(',');
const parts = (process.env['BENCH_PARTS'] ?? 'protocol,full,dashboard').split(',');
const modes = ([
  ['plaintext', { mode: 'plaintext' }],
  ['secagg', { mode: 'secagg' }],
  ['secagg+', { mode: 'secagg+', degree: 8, threshold: 5 }],
] as [string, AggregationOptions][]).filter(([label]) => (label === 'plaintext' && process.env['BENCH_NO_BASELINE'] === undefined) || !only || only.includes(label));

async function table(train: boolean): Promise<void> {
  // Modes alternate (p, s, s+, p, s, s+, ...) so a change in machine load hits all of them.
  const results = new Map<string, Measured>();
  for (let rep = 0; rep < REPEATS; rep++) {
    for (const [label, agg] of modes) {
      const r = await runFederation(label, agg, train);
      const acc = results.get(label);
      if (acc) {
        acc.roundMs.push(...r.roundMs);
        acc.roundCpuMs.push(...r.roundCpuMs);
      } else results.set(label, r);
    }
  }
  const plain = results.get('plaintext') ?? [...results.values()][0]!;
  const baseWall = median(plain.roundMs);
  const baseCpu = median(plain.roundCpuMs);
  const what = train
    ? `full round: every client trains (Reptile, ${DEFAULT_TRAINING.hyper.localSteps} local steps of batch ${DEFAULT_TRAINING.hyper.batchSize}, its own MNIST shard) on the main thread, then encodes and aggregates`
    : 'protocol only: synthetic client updates, no training';
  console.log(`\nRuntime bench, ${what}. n = ${N} clients + server in one process (loopback ws), m = ${m} parameters, ${REPEATS} x ${ROUNDS - 1} measured rounds per mode (each federation's first round is a warm-up), modes interleaved, Node ${process.version}\n`);
  console.log('| mode | graph (k, t) | median round wall time (ms) | wall ratio to plaintext | median round CPU time (ms) | CPU ratio | upload per client per round (bytes) | upload / 4m |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results.values()) {
    const wall = median(r.roundMs);
    const cpu = median(r.roundCpuMs);
    const graph = r.label === 'plaintext' ? '-' : r.degree === 0 ? `complete (t=${r.threshold})` : `k=${r.degree}, t=${r.threshold}`;
    console.log(`| ${r.label} | ${graph} | ${wall.toFixed(0)} | ${(wall / baseWall).toFixed(2)}x | ${cpu.toFixed(0)} | ${(cpu / baseCpu).toFixed(2)}x | ${Math.round(r.bytesPerClientUp)} | ${(r.bytesPerClientUp / (4 * m)).toFixed(3)} |`);
  }
}

if (parts.includes('protocol')) await table(false);
if (parts.includes('full')) await table(true);
if (parts.includes('dashboard')) await dashboardTable();
console.log('\nGoal: SecAgg round <= 1.5x the plaintext round. CPU time counts every party (all run in this process) and is less sensitive to other load on the machine than wall time.');
