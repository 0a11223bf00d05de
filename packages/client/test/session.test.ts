/**
 * The client session without sockets: a fake clock, an in-memory link, a plain-function
 * trainer, and REAL SecAgg machines on both sides (the test plays the coordinator with
 * the secagg server machine). Every refusal, timer and phase of a session is driven here.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ABORT_REASONS, decodeMessage, encodeMessage, ready, SecAggServer, systemRng, type ClientMessage, type ServerMessage } from '@fedmeta/secagg';
import { paddedLength } from '@fedmeta/dp';
import { TransportError, type FederationSettings, type RoundConfig, type RuntimeMessage } from '@fedmeta/transport';
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
const settings: FederationSettings = { rounds: 10, aggregation: { mode: 'secagg' as const, security: 'semi-honest' as const, minClients: 3, minAggregate: 3 }, dp: null };

function roundConfig(
  round: number,
  ids: number[],
  nonce: Uint8Array,
  extra: { mode?: 'secagg' | 'plaintext'; encoding?: RoundConfig['encoding']; vectorLength?: number; threshold?: number; federation?: FederationSettings } = {},
): RoundConfig {
  const mode = extra.mode ?? 'secagg';
  return {
    federationId: 'fed',
    round,
    model: { kind: 'mlp', inputShape: [2], hidden: [1], numClasses: 2 },
    paramCount: PARAMS,
    algorithm: { name: 'fedavg', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } },
    trainSeed: 1,
    encoding: extra.encoding ?? { kind: 'quantize', bits: 32, maxClients: ids.length, elementClip: 1, maxWeight: 100 },
    aggregation: {
      mode,
      vectorLength: extra.vectorLength ?? PARAMS + 1,
      bits: 32,
      ...(mode === 'plaintext' ? {} : { secagg: { sessionNonce: Buffer.from(nonce).toString('hex'), clientIds: ids, threshold: extra.threshold ?? 3, degree: 0, mode: 'semi-honest' as const } }),
    },
    trainingMs: 10_000,
    federation: extra.federation ?? settings,
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
    accepted: settings,
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

/** Client-level DP as announced: z = 1, clip 1 (the federation the DP tests accepted). */
const dpSettings: FederationSettings = { ...settings, dp: { unit: 'client', epsilonBudget: 8, delta: 1e-5, noiseMultiplier: 1, l2Clip: 1 } };
/** A DDG round as the server builds it for a cohort of 3 with t = 3 (numClients = t), with `over` in its params. */
function ddgRound(round: number, over: Record<string, unknown> = {}, federation: FederationSettings = dpSettings): RoundConfig {
  return roundConfig(round, [1, 2, 3], new Uint8Array(32), {
    encoding: { kind: 'ddg', params: { dim: PARAMS, numClients: 3, l2Clip: 1, noiseMultiplier: 1, bits: 32, ...over }, roundSeed: '11'.repeat(32) },
    vectorLength: paddedLength(PARAMS),
    federation,
  });
}
const start = (h: Harness, config: RoundConfig) => h.session.receive({ type: 'roundStart', round: config.round, participantId: 1, config: config as unknown as Record<string, unknown>, params: new Float32Array(PARAMS) });

test('session: with no policy, a DP round whose noise is weaker than announced is refused before anything is trained or sent', async () => {
  const clock = new FakeClock();
  // The round the server sends is accepted: trained, encoded with DP noise, masked.
  let trained = 0;
  const counting = { accepted: dpSettings, train: async (): Promise<LocalResult> => (trained++, { update: new Float32Array(PARAMS).fill(0.1), weight: 1, metrics: { lossFirst: 1, lossLast: 1, examples: 1, steps: 1, millis: 1 } }) };
  const ok = session(clock, counting);
  start(ok, ddgRound(1));
  await settle(clock);
  assert.deepEqual(ok.failed, []);
  assert.equal(trained, 1);
  assert.deepEqual(secaggOut(ok).map((m) => m.kind), ['advertise-keys']);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ numClients: 1000 }, /sizes each site's noise for 1000 shares \(encoding\.params\.numClients\), but a released sum is only sure to hold 3/],
    [{ noiseMultiplier: 0.01 }, /noise multiplier 0\.01 \(encoding\.params\.noiseMultiplier\) is below the announced 1/],
    [{ l2Clip: 100 }, /L2 clip 100 \(encoding\.params\.l2Clip\) is above the announced 1/],
    [{ localNoiseStddev: 1e-9 }, /sets each site's noise directly/],
  ];
  for (const [over, re] of cases) {
    trained = 0;
    const h = session(clock, counting);
    start(h, ddgRound(2, over));
    await settle(clock);
    assert.equal(h.failed[0]?.code, 'ERR_POLICY_REFUSED', JSON.stringify(over));
    assert.match(h.failed[0]!.message, /round 2 breaks the federation settings this site accepted/);
    assert.match(h.failed[0]!.message, re);
    assert.deepEqual(h.sent, [], 'nothing sent');
    assert.equal(trained, 0, 'nothing trained');
    assert.ok(h.events.some((e) => e.event === 'policy.refused' && e.fields.round === 2));
  }
  // A round beyond the announced rounds.
  const late = session(clock, counting);
  start(late, ddgRound(11));
  await settle(clock);
  assert.match(late.failed[0]?.message ?? '', /round 11 is beyond the 10 rounds announced/);
  assert.deepEqual(late.sent, []);
});

test('session: a round whose copy of the settings is weaker than what the site accepted at the welcome is refused, nothing sent', async () => {
  const clock = new FakeClock();
  const accepted: FederationSettings = { ...settings, aggregation: { ...settings.aggregation, minAggregate: 5, minClients: 3 } };
  const weaker: [FederationSettings, RegExp][] = [
    [{ ...accepted, aggregation: { ...accepted.aggregation, minAggregate: 2 } }, /round 1 announces minAggregate 2, below the 5 this site accepted/],
    [{ ...accepted, aggregation: { ...accepted.aggregation, minClients: 2 } }, /round 1 announces minClients 2, below the 3/],
    [{ ...accepted, aggregation: { ...accepted.aggregation, mode: 'plaintext' } }, /aggregation mode plaintext, weaker than the secagg/],
  ];
  const five = [1, 2, 3, 4, 5];
  for (const [federation, re] of weaker) {
    const h = session(clock, { accepted });
    start(h, roundConfig(1, five, new Uint8Array(32), { federation, threshold: 4 }));
    await settle(clock);
    assert.equal(h.failed[0]?.code, 'ERR_POLICY_REFUSED');
    assert.match(h.failed[0]!.message, re);
    assert.deepEqual(h.sent, []);
  }
  // DP removed from a round's settings, and its noise with it.
  const h = session(clock, { accepted: dpSettings });
  start(h, roundConfig(1, [1, 2, 3], new Uint8Array(32), { federation: settings }));
  await settle(clock);
  assert.match(h.failed[0]?.message ?? '', /round 1 announces no differential privacy; this site accepted client-level DP/);
  assert.match(h.failed[0]!.message, /round 1 encodes with quantize; the client-level DP this site accepted encodes with ddg/);
  assert.deepEqual(h.sent, []);
  // The same round against the settings it repeats is accepted.
  const same = session(clock, { accepted });
  start(same, roundConfig(1, five, new Uint8Array(32), { federation: accepted, threshold: 4 }));
  await settle(clock);
  assert.deepEqual(same.failed, []);
  assert.deepEqual(secaggOut(same).map((m) => m.kind), ['advertise-keys']);
});

test('session: a malformed round config, or params of another length, is refused typed (ERR_BAD_PAYLOAD, ERR_VECTOR_LENGTH) before anything is sent', async () => {
  const clock = new FakeClock();
  const good = roundConfig(1, [1, 2, 3], new Uint8Array(32));
  const cases: [Record<string, unknown>, Float32Array, string, RegExp][] = [
    [{ ...good, encoding: { kind: 'gzip' } }, new Float32Array(PARAMS), 'ERR_BAD_PAYLOAD', /roundStart\.config\.encoding\.kind/],
    [{ ...good, aggregation: { ...good.aggregation, secagg: { ...good.aggregation.secagg!, clientIds: [2, 3] } } }, new Float32Array(PARAMS), 'ERR_BAD_PAYLOAD', /clientIds: expected to contain this client's id 1/],
    [{ ...good, aggregation: { ...good.aggregation, secagg: { ...good.aggregation.secagg!, threshold: 9 } } }, new Float32Array(PARAMS), 'ERR_BAD_PAYLOAD', /roundStart\.config\.aggregation\.secagg/],
    [good as unknown as Record<string, unknown>, new Float32Array(PARAMS + 2), 'ERR_VECTOR_LENGTH', /roundStart\.params has 7 entries, config\.paramCount says 5/],
  ];
  for (const [config, params, code, re] of cases) {
    const h = session(clock);
    h.session.receive({ type: 'roundStart', round: 1, participantId: 1, config, params });
    await settle(clock);
    assert.equal(h.failed[0]?.code, code, JSON.stringify(config.aggregation));
    assert.match(h.failed[0]!.message, re);
    assert.deepEqual(secaggOut(h), [], 'no SecAgg message');
  }
  // A DDG encoding whose dimension is not the update's: found after training, nothing masked.
  const h = session(clock, { accepted: dpSettings });
  start(h, ddgRound(1, { dim: PARAMS + 3 }));
  await settle(clock);
  assert.equal(h.failed[0]?.code, 'ERR_VECTOR_LENGTH');
  assert.match(h.failed[0]!.message, /encoding\.params\.dim 8 differs from the update length 5/);
  assert.deepEqual(secaggOut(h), []);
});

test('session: a site whose own floor is above the survivors refuses to unmask: the round aborts TOO_FEW_SURVIVORS and no unmask response leaves', async () => {
  const clock = new FakeClock();
  const nonce = systemRng.fill(new Uint8Array(32));
  const ids = [1, 2, 3];
  // The federation accepts sums of 2 (t = 2); sites 1 and 2 want at least 3 (client.policy.minAggregate).
  const low: FederationSettings = { ...settings, aggregation: { ...settings.aggregation, minClients: 2, minAggregate: 2 } };
  const hs = ids.map((id) => session(clock, { accepted: low, ...(id < 3 ? { policy: { minAggregate: 3 } } : {}) }));
  const server = new SecAggServer({ sessionNonce: nonce, clientIds: ids, threshold: 2, bits: 32, vectorLength: PARAMS + 1, degree: 0, mode: 'semi-honest' }, systemRng);
  const cursor = hs.map(() => 0);
  const deliver = (sends: readonly { to: number; message: ServerMessage }[]) => {
    for (const { to, message } of sends) hs[to - 1]!.session.receive({ type: 'secagg', round: 1, payload: encodeMessage(message) });
  };
  ids.forEach((id, i) => hs[i]!.session.receive({ type: 'roundStart', round: 1, participantId: id, config: roundConfig(1, ids, nonce, { threshold: 2, federation: low }) as unknown as Record<string, unknown>, params: new Float32Array(PARAMS) }));
  await settle(clock);
  let dropped = false;
  for (let pass = 0; pass < 10 && server.state !== 'completed' && server.state !== 'aborted'; pass++) {
    hs.forEach((h, i) => {
      const out = secaggOut(h);
      for (const m of out.slice(cursor[i])) {
        // Site 3 crashes before its masked input: the survivor set is {1, 2}.
        if (ids[i] === 3 && m.kind === 'masked-input') {
          if (!dropped) deliver(server.clientDropped(3).sends);
          dropped = true;
          continue;
        }
        deliver(server.receive(ids[i]!, m).sends);
      }
      cursor[i] = out.length;
    });
    while (server.readyToAdvance) deliver(server.closeRound().sends);
  }
  assert.ok(dropped);
  assert.equal(server.state, 'aborted');
  assert.equal(server.abortReason, ABORT_REASONS.TOO_FEW_SURVIVORS);
  for (const h of hs.slice(0, 2)) {
    const kinds = secaggOut(h).map((m) => m.kind);
    assert.ok(kinds.includes('abort'), kinds.join());
    assert.ok(!kinds.includes('unmask-response'), 'no unmasking share of a sum of 2 left this site');
    const e = h.events.find((x) => x.event === 'round.aborted-by-client');
    assert.equal(e?.fields.reason, 'TOO_FEW_SURVIVORS');
    assert.deepEqual(h.failed, [], 'the link stays open for the next round');
  }
});
