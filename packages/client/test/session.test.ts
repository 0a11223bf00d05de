/**
 * The client session without sockets: a fake clock, an in-memory link, a plain-function
 * trainer, and REAL SecAgg machines on both sides (the test plays the coordinator with
 * the secagg server machine). Every refusal, timer and phase of a session is driven here.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, encodeMessage, ready, SecAggServer, systemRng, type ClientMessage, type ServerMessage } from '@fedmeta/secagg';
import { TransportError, type RoundConfig, type RuntimeMessage } from '@fedmeta/transport';
import type { LocalResult } from '@fedmeta/meta';
import { encodeLocal } from '../src/pipeline.js';
import { ClientSession, type SessionClock, type SessionOptions } from '../src/session.js';
import type { ClientTestHooks } from '../src/options.js';

before(async () => {
  await ready();
});

class FakeClock implements SessionClock {
  t = 5_000_000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private seq = 0;
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): { id: unknown } {
    const id = ++this.seq;
    this.timers.push({ at: this.t + ms, fn, id });
    return { id };
  }
  clearTimer(h: { id: unknown }): void {
    this.timers = this.timers.filter((x) => x.id !== h.id);
  }
  get pending(): number {
    return this.timers.length;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}

const PARAMS = 5;
const settings = { rounds: 3, aggregation: { mode: 'secagg' as const, security: 'semi-honest' as const, minClients: 3, minAggregate: 3 }, dp: null };

function roundConfig(round: number, ids: number[], nonce: Uint8Array, extra: { mode?: 'secagg' | 'plaintext' } = {}): RoundConfig {
  const mode = extra.mode ?? 'secagg';
  return {
    federationId: 'fed',
    round,
    model: { kind: 'mlp', inputShape: [2], hidden: [1], numClasses: 2 },
    paramCount: PARAMS,
    algorithm: { name: 'fedavg', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } },
    trainSeed: 1,
    encoding: { kind: 'quantize', bits: 32, maxClients: ids.length, elementClip: 1, maxWeight: 100 },
    aggregation: {
      mode,
      vectorLength: PARAMS + 1,
      bits: 32,
      ...(mode === 'plaintext' ? {} : { secagg: { sessionNonce: Buffer.from(nonce).toString('hex'), clientIds: ids, threshold: 3, degree: 0, mode: 'semi-honest' as const } }),
    },
    trainingMs: 10_000,
    federation: settings,
  };
}

interface Harness {
  session: ClientSession;
  sent: RuntimeMessage[];
  failed: TransportError[];
  terminated: number;
  events: { event: string; fields: Record<string, unknown> }[];
  seen: { at: number };
}

function session(clock: FakeClock, over: Partial<SessionOptions> & { update?: Float32Array; trainGate?: Promise<void> } = {}): Harness {
  const { update: _u, trainGate: _g, ...rest } = over;
  const h: Harness = { session: null as unknown as ClientSession, sent: [], failed: [], terminated: 0, events: [], seen: { at: clock.now() } };
  let open = true;
  const update = over.update ?? Float32Array.from({ length: PARAMS }, (_, i) => (i - 2) / 10);
  h.session = new ClientSession({
    link: {
      send: (m) => void h.sent.push(m),
      fail: (e) => {
        h.failed.push(e);
        open = false;
      },
      terminate: () => {
        h.terminated++;
        open = false;
      },
      close: () => {
        open = false;
      },
      lastSeen: () => h.seen.at,
      get isOpen() {
        return open;
      },
    },
    clock,
    rng: systemRng,
    federationId: 'fed',
    identity: { publicKey: new Uint8Array(32), secretKey: new Uint8Array(32) },
    trusted: null,
    policy: {},
    prepare: () => undefined,
    train: async (): Promise<LocalResult> => {
      if (over.trainGate) await over.trainGate;
      return { update, weight: 10, metrics: { lossFirst: 1, lossLast: 0.5, examples: 10, steps: 1, millis: 1 } };
    },
    encode: encodeLocal,
    statistics: (features) => new Float64Array(1 + 2 * features),
    evaluate: (config) => ({ round: config.round, count: 0, correct: 0, positive: new Uint32Array(0), negative: new Uint32Array(0) }),
    standardise: () => undefined,
    progressIntervalMs: 0,
    serverTimeoutMs: 60_000,
    shared: { dropHookFired: false },
    log: (_l, event, fields = {}) => void h.events.push({ event, fields }),
    changed: () => undefined,
    ...rest,
  });
  h.session.start();
  return h;
}

/** Lets the session's zero-delay timer and the trainer's promise run. */
async function settle(clock: FakeClock): Promise<void> {
  for (let i = 0; i < 4; i++) {
    clock.advance(0);
    await new Promise((r) => setImmediate(r));
  }
}

const secaggOut = (h: Harness) => h.sent.filter((m): m is Extract<RuntimeMessage, { type: 'secagg' }> => m.type === 'secagg').map((m) => decodeMessage(m.payload) as ClientMessage);

test('session: a full SecAgg round against the real server machine releases the exact sum of the encoded inputs', async () => {
  const clock = new FakeClock();
  const nonce = systemRng.fill(new Uint8Array(32));
  const ids = [1, 2, 3];
  const encoded = new Map<number, Uint32Array>();
  const hs = ids.map((id) => session(clock, { hooks: { onEncodedInput: (_r, v) => encoded.set(id, v) } as ClientTestHooks, update: Float32Array.from({ length: PARAMS }, (_, i) => (id * (i + 1)) / 100) }));
  const server = new SecAggServer({ sessionNonce: nonce, clientIds: ids, threshold: 3, bits: 32, vectorLength: PARAMS + 1, degree: 0, mode: 'semi-honest' }, systemRng);
  const cursor = hs.map(() => 0);
  const deliver = (sends: readonly { to: number; message: ServerMessage }[]) => {
    for (const { to, message } of sends) hs[to - 1]!.session.receive({ type: 'secagg', round: 4, payload: encodeMessage(message) });
  };
  ids.forEach((id, i) => hs[i]!.session.receive({ type: 'roundStart', round: 4, participantId: id, config: roundConfig(4, ids, nonce) as unknown as Record<string, unknown>, params: new Float32Array(PARAMS) }));
  await settle(clock);
  // Relay until the machine completes: what each session sent goes into the server machine.
  for (let pass = 0; pass < 10 && server.state !== 'completed'; pass++) {
    hs.forEach((h, i) => {
      const out = secaggOut(h);
      for (const m of out.slice(cursor[i])) deliver(server.receive(ids[i]!, m).sends);
      cursor[i] = out.length;
    });
    while (server.readyToAdvance) deliver(server.closeRound().sends);
  }
  assert.equal(server.state, 'completed');
  const want = new Uint32Array(PARAMS + 1);
  for (const v of encoded.values()) for (let j = 0; j < want.length; j++) want[j] = (want[j]! + v[j]!) >>> 0;
  assert.deepEqual([...server.result!.sum], [...want]);
  assert.equal(encoded.size, 3);
  // The session's own frames: progress (training), progress (encoding), then the protocol.
  assert.deepEqual(hs[0]!.sent.slice(0, 2).map((m) => (m.type === 'progress' ? m.stage : m.type)), ['training', 'encoding']);
  for (const h of hs) h.session.receive({ type: 'roundEnd', round: 4, status: 'completed', summary: {} });
  assert.deepEqual(hs[0]!.session.records.map((r) => [r.round, r.status, r.weight]), [[4, 'completed', 10]]);
});

test('session: a round that violates the site policy is refused before anything is trained or sent', async () => {
  const clock = new FakeClock();
  const h = session(clock, { policy: { requireSecAgg: true } });
  const config = roundConfig(1, [1, 2, 3], new Uint8Array(32), { mode: 'plaintext' });
  h.session.receive({ type: 'roundStart', round: 1, participantId: 1, config: config as unknown as Record<string, unknown>, params: new Float32Array(PARAMS) });
  await settle(clock);
  assert.equal(h.failed[0]?.code, 'ERR_POLICY_REFUSED');
  assert.match(h.failed[0]!.message, /requireSecAgg: round 1 is aggregated in plaintext/);
  assert.deepEqual(h.sent, []);
});

test('session: protocol refusals are typed (wrong round, secagg before the round started, a frame the server may not send)', async () => {
  const clock = new FakeClock();
  const cases: [RuntimeMessage, string][] = [
    [{ type: 'secagg', round: 9, payload: new Uint8Array(4) }, 'ERR_ROUND_MISMATCH'],
    [{ type: 'auth', publicKey: new Uint8Array(32), clientNonce: new Uint8Array(32), signature: new Uint8Array(64) }, 'ERR_UNEXPECTED_FRAME'],
  ];
  for (const [msg, code] of cases) {
    const h = session(clock);
    h.session.receive(msg);
    assert.equal(h.failed[0]?.code, code);
  }
  const gated = session(clock, { trainGate: new Promise(() => undefined) });
  gated.session.receive({ type: 'roundStart', round: 2, participantId: 1, config: roundConfig(2, [1, 2, 3], new Uint8Array(32)) as unknown as Record<string, unknown>, params: new Float32Array(PARAMS) });
  gated.session.receive({ type: 'secagg', round: 2, payload: new Uint8Array(4) });
  assert.equal(gated.failed[0]?.code, 'ERR_UNEXPECTED_FRAME', 'secagg before this client started');
});

test('session: the watchdog closes a link the server stopped using, and leaves a live one alone', () => {
  const clock = new FakeClock();
  const live = session(clock);
  const dead = session(clock);
  for (let s = 0; s < 120; s += 10) {
    clock.advance(10_000);
    live.seen.at = clock.now();
  }
  assert.equal(live.terminated, 0);
  assert.equal(dead.terminated, 1);
  assert.ok(dead.events.some((e) => e.event === 'server.silent' && (e.fields.ms as number) > 60_000));
});

test('session: while training, progress frames go out every progressIntervalMs and stop when training ends', async () => {
  const clock = new FakeClock();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const h = session(clock, { progressIntervalMs: 1_000, trainGate: gate });
  h.session.receive({ type: 'roundStart', round: 3, participantId: 1, config: roundConfig(3, [1, 2, 3], new Uint8Array(32)) as unknown as Record<string, unknown>, params: new Float32Array(PARAMS) });
  await settle(clock);
  clock.advance(3_500);
  const training = () => h.sent.filter((m) => m.type === 'progress' && m.stage === 'training') as Extract<RuntimeMessage, { type: 'progress' }>[];
  assert.equal(training().length, 4, 'the first at roundStart, then one per second');
  assert.deepEqual(training().map((m) => m.fraction), [0, 0.1, 0.2, 0.3]);
  release();
  await settle(clock);
  const before = training().length;
  clock.advance(5_000);
  assert.equal(training().length, before, 'no beats after training');
});

test('session: a benched roundEnd is recorded and logged with its reason', () => {
  const clock = new FakeClock();
  const h = session(clock, { trainGate: new Promise(() => undefined) });
  h.session.receive({ type: 'roundStart', round: 5, participantId: 1, config: roundConfig(5, [1, 2, 3], new Uint8Array(32)) as unknown as Record<string, unknown>, params: new Float32Array(PARAMS) });
  h.session.receive({ type: 'roundEnd', round: 5, status: 'excluded', summary: { bench: { rounds: 2, untilRound: 7, reason: 'missed the share-keys deadline (30000 ms)' } } });
  assert.deepEqual(h.session.records.map((r) => r.status), ['excluded']);
  const e = h.events.find((x) => x.event === 'round.benched');
  assert.equal(e?.fields.rounds, 2);
  assert.match(String(e?.fields.reason), /share-keys deadline/);
});

test('session: the drop hook closes the link hard after its phase, once per client across sessions', async () => {
  const clock = new FakeClock();
  const shared = { dropHookFired: false };
  const hooks: ClientTestHooks = { dropAfterPhase: { phase: 'advertise-keys' } };
  const start = (h: Harness, round: number) =>
    h.session.receive({ type: 'roundStart', round, participantId: 1, config: roundConfig(round, [1, 2, 3], new Uint8Array(32)) as unknown as Record<string, unknown>, params: new Float32Array(PARAMS) });
  const first = session(clock, { hooks, shared });
  start(first, 1);
  await settle(clock);
  assert.equal(first.terminated, 1);
  assert.equal(first.session.droppedByHook, true);
  assert.deepEqual(secaggOut(first).map((m) => m.kind), ['advertise-keys']);
  const second = session(clock, { hooks, shared });
  start(second, 2);
  await settle(clock);
  assert.equal(second.terminated, 0, 'fired once');
});

test('session: closing mid-round records the round as disconnected and leaves no timer behind', async () => {
  const clock = new FakeClock();
  const h = session(clock, { progressIntervalMs: 500, trainGate: new Promise(() => undefined) });
  h.session.receive({ type: 'roundStart', round: 6, participantId: 1, config: roundConfig(6, [1, 2, 3], new Uint8Array(32)) as unknown as Record<string, unknown>, params: new Float32Array(PARAMS) });
  await settle(clock);
  h.session.close();
  assert.deepEqual(h.session.records.map((r) => [r.round, r.status]), [[6, 'disconnected']]);
  assert.equal(clock.pending, 0);
});

test('session: bye ends the federation and closes the link', () => {
  const clock = new FakeClock();
  const h = session(clock);
  h.session.receive({ type: 'bye', summary: { roundsCompleted: 3 } });
  assert.equal(h.session.sawBye, true);
  assert.ok(h.events.some((e) => e.event === 'federation.done'));
});

test('session: a left round whose training ends late does not stop the progress frames of the round now running', async () => {
  const clock = new FakeClock();
  let releaseFirst!: () => void;
  const first = new Promise<void>((r) => (releaseFirst = r));
  let calls = 0;
  const h = session(clock, {
    progressIntervalMs: 1_000,
    train: async () => {
      calls++;
      await (calls === 1 ? first : new Promise(() => undefined));
      return { update: new Float32Array(PARAMS), weight: 1, metrics: { lossFirst: 1, lossLast: 1, examples: 1, steps: 1, millis: 1 } };
    },
  });
  const start = (round: number) =>
    h.session.receive({ type: 'roundStart', round, participantId: 1, config: roundConfig(round, [1, 2, 3], new Uint8Array(32)) as unknown as Record<string, unknown>, params: new Float32Array(PARAMS) });
  start(1);
  await settle(clock);
  start(2); // the coordinator gave up on round 1: round 2 starts while round 1 still trains
  await settle(clock);
  releaseFirst(); // round 1's training ends late
  await settle(clock);
  const beats = () => h.sent.filter((m) => m.type === 'progress' && m.round === 2 && m.stage === 'training').length;
  const before = beats();
  clock.advance(3_500);
  assert.equal(beats() - before, 3, 'round 2 keeps sending a progress frame every second');
});
