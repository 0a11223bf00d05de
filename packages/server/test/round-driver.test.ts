/**
 * The round driver without sockets: members are in-memory endpoints that run REAL SecAgg
 * client machines (or send plain inputs), messages travel through a queue flushed by the
 * test, and time is a fake clock advanced by hand. Every phase transition, deadline and
 * refusal of the driver is exercised here, without a single real timer.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, ed25519Keypair, encodeMessage, ready, SecAggClient, systemRng, type ClientMessage, type SecAggConfig, type ServerMessage } from '@fedmeta/secagg';
import { TransportError, type RoundConfig, type RuntimeMessage } from '@fedmeta/transport';
import { RoundDriver, IDLE_BULK_CAP, LATE_TIMER_MS, type RoundDeadlines, type RoundMember, type RoundOutcome } from '../src/round.js';
import type { Clock, TimerHandle } from '../src/clock.js';
import type { ServerPhase } from '../src/options.js';

before(async () => {
  await ready(); // libsodium, for the clients' share encryption
});

class FakeClock implements Clock {
  t = 1_000_000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private seq = 0;
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.push({ at: this.t + ms, fn, id });
    return { id };
  }
  clearTimer(h: TimerHandle): void {
    this.timers = this.timers.filter((x) => x.id !== h.id);
  }
  get pending(): number {
    return this.timers.length;
  }
  /** Moves time forward, firing due timers in order (and flushing the network after each). */
  advance(ms: number, net: Net): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
      net.flush();
    }
    this.t = end;
  }
  /** A stalled event loop: time passes, no timer runs and nothing is read from the network. */
  stall(ms: number): void {
    this.t += ms;
  }
  /**
   * The loop resumes after a stall: timers already due run first (late), as Node runs
   * them before it reads the sockets; the network is flushed after each. At most `limit`.
   */
  runDue(net: Net, limit = Infinity): void {
    for (let n = 0; n < limit; n++) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > this.t) return;
      this.timers.shift();
      next.fn();
      net.flush();
    }
  }
}

const VECTOR = 6;
const BITS = 16;

/** The in-memory network: what members send is queued and handed to the driver on flush. */
class Net {
  queue: (() => void)[] = [];
  flush(): void {
    while (this.queue.length) this.queue.shift()!();
  }
}

/**
 * honest: trains at once and answers every phase. silent: sends nothing. advertise-only:
 * stops after its advertise-keys. progress-only: sends one progress frame and keeps
 * training until the test calls finishTraining(). withhold-consistency / withhold-unmask:
 * honest until the phase named, then silent. advertise-before-progress: its advertise-keys
 * reaches the driver before its first progress frame (as a late message of an earlier
 * round would), then again after it.
 */
type Behaviour = 'honest' | 'silent' | 'advertise-only' | 'progress-only' | 'withhold-consistency' | 'withhold-unmask' | 'advertise-before-progress';

const WITHHELD: Partial<Record<Behaviour, ClientMessage['kind']>> = { 'withhold-consistency': 'consistency-signature', 'withhold-unmask': 'unmask-response' };

class Member implements RoundMember {
  readonly received: RuntimeMessage[] = [];
  refusedWith: TransportError | null = null;
  isReady = true;
  cap = IDLE_BULK_CAP;
  machine: SecAggClient | null = null;
  driver!: RoundDriver<Member>;
  /** Active mode: this member's identity secret key and every member's public key. */
  identity: { secretKey: Uint8Array; roster: Map<number, Uint8Array> } | null = null;
  /** Sends a progress frame before its first input (an evaluation round's client does). */
  progressFirst = false;
  private startMsg: Extract<RuntimeMessage, { type: 'roundStart' }> | null = null;
  constructor(
    readonly name: string,
    readonly input: Uint32Array,
    private readonly net: Net,
    public behaviour: Behaviour = 'honest',
  ) {}
  send(msg: RuntimeMessage): void {
    this.received.push(msg);
    if (!this.isReady) return;
    if (msg.type === 'roundStart') return this.onStart(msg);
    if (msg.type === 'secagg' && this.machine) {
      const replies = this.machine.receive(decodeMessage(msg.payload) as ServerMessage);
      for (const r of replies) {
        if (r.kind === WITHHELD[this.behaviour]) {
          this.machine = null;
          return;
        }
        this.up({ type: 'secagg', round: msg.round, payload: encodeMessage(r) });
      }
    }
  }
  private onStart(msg: Extract<RuntimeMessage, { type: 'roundStart' }>): void {
    this.startMsg = msg;
    if (this.behaviour === 'silent') return;
    if (this.behaviour === 'progress-only') return this.up({ type: 'progress', round: msg.round, stage: 'training', fraction: 0.1 });
    this.train(msg);
  }
  /** A progress-only member ends its training and answers from now on. */
  finishTraining(): void {
    this.behaviour = 'honest';
    this.train(this.startMsg!);
  }
  private train(msg: Extract<RuntimeMessage, { type: 'roundStart' }>): void {
    if (this.progressFirst && this.behaviour !== 'advertise-before-progress') this.up({ type: 'progress', round: msg.round, stage: 'training', fraction: 0 });
    const cfg = (msg.config as unknown as RoundConfig).aggregation;
    if (cfg.mode === 'plaintext') return this.up({ type: 'plainInput', round: msg.round, vector: this.input });
    const s = cfg.secagg!;
    this.machine = new SecAggClient({
      id: msg.participantId,
      config: { sessionNonce: Buffer.from(s.sessionNonce, 'hex'), clientIds: s.clientIds, threshold: s.threshold, bits: cfg.bits, vectorLength: cfg.vectorLength, degree: s.degree, mode: s.mode },
      rng: systemRng,
      input: this.input,
      ...(this.identity ? { identity: { secretKey: this.identity.secretKey }, roster: this.identity.roster } : {}),
    });
    const advertise: RuntimeMessage = { type: 'secagg', round: msg.round, payload: encodeMessage(this.machine.start()) };
    if (this.behaviour === 'advertise-before-progress') {
      this.up(advertise);
      this.up({ type: 'progress', round: msg.round, stage: 'training', fraction: 0 });
    }
    this.up(advertise);
    if (this.behaviour === 'advertise-only') this.machine = null;
  }
  /** Queues a message from this member to the driver. */
  up(msg: RuntimeMessage): void {
    this.net.queue.push(() => this.driver.receive(this, msg));
  }
  refuse(err: TransportError): void {
    this.refusedWith = err;
    this.isReady = false;
    this.net.queue.push(() => this.driver.memberClosed(this));
  }
  setBulkCap(bytes: number): void {
    this.cap = bytes;
  }
}

const deadlines: RoundDeadlines = { trainingMs: 60_000, shareKeysMs: 10_000, maskedInputMs: 10_000, consistencyMs: 10_000, unmaskingMs: 10_000, progressMs: 5_000 };

interface Setup {
  n?: number;
  threshold?: number;
  minAggregate?: number;
  /** 'active': SecAgg with identity signatures and the consistency phase. */
  mode?: 'secagg' | 'active' | 'plaintext';
  behaviours?: Behaviour[];
  awaitProgress?: boolean;
}

function setup(o: Setup = {}) {
  const n = o.n ?? 3;
  const net = new Net();
  const clock = new FakeClock();
  const inputs = Array.from({ length: n }, (_, i) => Uint32Array.from({ length: VECTOR }, (_, j) => (i + 1) * 100 + j));
  const members = inputs.map((v, i) => new Member(`m${i + 1}`, v, net, o.behaviours?.[i] ?? 'honest'));
  const clientIds = members.map((_, i) => i + 1);
  const threshold = o.threshold ?? 2;
  const mode = o.mode ?? 'secagg';
  const secMode = mode === 'active' ? 'active' : 'semi-honest';
  const nonce = systemRng.fill(new Uint8Array(32));
  const secagg: SecAggConfig | null = mode === 'plaintext' ? null : { sessionNonce: nonce, clientIds, threshold, bits: BITS, vectorLength: VECTOR, degree: 0, mode: secMode };
  let identities: Map<number, Uint8Array> | null = null;
  if (mode === 'active') {
    const keys = members.map(() => ed25519Keypair(systemRng));
    identities = new Map(keys.map((k, i) => [i + 1, k.publicKey]));
    members.forEach((m, i) => (m.identity = { secretKey: keys[i]!.secretKey, roster: identities! }));
  }
  if (o.awaitProgress) for (const m of members) m.progressFirst = true;
  const config = {
    federationId: 'f',
    round: 7,
    aggregation: {
      mode: mode === 'plaintext' ? 'plaintext' : 'secagg',
      vectorLength: VECTOR,
      bits: BITS,
      ...(secagg ? { secagg: { sessionNonce: Buffer.from(nonce).toString('hex'), clientIds, threshold, degree: 0, mode: secMode } } : {}),
    },
  } as unknown as RoundConfig;
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  const phases: ServerPhase[] = [];
  const driver = new RoundDriver<Member>({
    round: 7,
    cohort: members,
    config,
    params: new Float32Array(4),
    secagg,
    identities,
    deadlines,
    rng: systemRng,
    clock,
    minAggregate: o.minAggregate ?? 2,
    ...(o.awaitProgress ? { awaitProgress: true } : {}),
    log: (_l, event, fields) => events.push({ event, fields }),
    progress: (phase) => {
      if (phases.at(-1) !== phase) phases.push(phase);
    },
  });
  for (const m of members) m.driver = driver;
  let outcome: RoundOutcome<Member> | null = null;
  void driver.outcome.then((x) => (outcome = x));
  const settled = async () => {
    await Promise.resolve();
    await Promise.resolve();
    return outcome;
  };
  return { net, clock, members, inputs, driver, events, phases, settled };
}

function sumOf(vs: readonly Uint32Array[]): number[] {
  return Array.from({ length: VECTOR }, (_, j) => vs.reduce((a, v) => (a + v[j]!) % 2 ** BITS, 0));
}

test('driver: an honest round walks every phase and releases the exact sum, with no timer left', async () => {
  const s = setup();
  s.driver.start();
  s.net.flush();
  const o = await s.settled();
  assert.ok(o && o.status === 'completed');
  assert.deepEqual([...o.sum], sumOf(s.inputs));
  assert.deepEqual(o.survivors, s.members);
  assert.deepEqual(o.laggards, []);
  assert.deepEqual(s.phases, ['training', 'share-keys', 'masked-input', 'unmasking']);
  assert.equal(s.clock.pending, 0, 'every timer cleared');
  for (const m of s.members) assert.equal(m.cap, IDLE_BULK_CAP, 'bulk caps restored');
  assert.equal(s.members[0]!.received[0]!.type, 'roundStart');
});

test('driver: during the round a member may send a vector-sized message, outside it only the idle cap', () => {
  const s = setup();
  s.driver.start();
  assert.equal(s.members[0]!.cap, 4 * VECTOR + (64 << 10));
});

test('driver: a member silent since roundStart is dropped after progressMs, long before the training deadline', async () => {
  const s = setup({ n: 4, behaviours: ['honest', 'honest', 'honest', 'silent'] });
  s.driver.start();
  s.net.flush();
  assert.equal(await s.settled(), null, 'waits for the silent member');
  s.clock.advance(deadlines.progressMs - 1, s.net);
  assert.equal(await s.settled(), null, 'not before progressMs');
  s.clock.advance(1, s.net);
  const o = await s.settled();
  assert.ok(o && o.status === 'completed');
  assert.deepEqual(o.survivors.map((m) => m.name), ['m1', 'm2', 'm3']);
  assert.equal(o.laggards.length, 1);
  assert.equal(o.laggards[0]!.member.name, 'm4');
  assert.equal(o.laggards[0]!.phase, 'training');
  assert.match(o.laggards[0]!.reason, /no training progress for 5000 ms/);
  assert.ok(s.events.some((e) => e.event === 'round.laggard' && e.fields.peer === 'm4' && e.fields.reason === 'silent'));
});

test('driver: progress frames keep a training member until the training deadline; then it is a laggard', async () => {
  const s = setup({ n: 4, behaviours: ['honest', 'honest', 'honest', 'progress-only'] });
  s.driver.start();
  s.net.flush();
  const slow = s.members[3]!;
  // 4 s of silence at a time, 14 times: 56 s, always under progressMs (5 s).
  for (let t = 0; t < 14; t++) {
    s.clock.advance(4_000, s.net);
    slow.up({ type: 'progress', round: 7, stage: 'training', fraction: 0.5 });
    s.net.flush();
  }
  assert.equal(await s.settled(), null, 'kept alive by its progress');
  s.clock.advance(deadlines.trainingMs - 56_000, s.net);
  const o = await s.settled();
  assert.ok(o && o.status === 'completed');
  assert.deepEqual(o.laggards.map((l) => [l.member.name, l.phase]), [['m4', 'training']]);
  assert.match(o.laggards[0]!.reason, /missed the training deadline \(60000 ms\)/);
});

test('driver: a member that stops after advertising keys misses the share-keys deadline and the round completes without it', async () => {
  const s = setup({ n: 4, behaviours: ['honest', 'honest', 'honest', 'advertise-only'] });
  s.driver.start();
  s.net.flush();
  assert.equal(await s.settled(), null);
  s.clock.advance(deadlines.shareKeysMs, s.net);
  const o = await s.settled();
  assert.ok(o && o.status === 'completed');
  assert.deepEqual([...o.sum], sumOf(s.inputs.slice(0, 3)));
  assert.deepEqual(o.laggards.map((l) => [l.member.name, l.phase]), [['m4', 'share-keys']]);
  // What it sends after the deadline is late, not hostile: ignored, its connection kept.
  s.members[3]!.up({ type: 'secagg', round: 7, payload: new Uint8Array([1, 2, 3]) });
  s.net.flush();
  assert.equal(s.members[3]!.refusedWith, null);
});

test('driver: a dropout below the floor aborts TOO_FEW_SURVIVORS and releases nothing', async () => {
  const s = setup({ n: 3, minAggregate: 3, behaviours: ['honest', 'honest', 'advertise-only'] });
  s.driver.start();
  s.net.flush();
  s.clock.advance(deadlines.shareKeysMs, s.net);
  s.clock.advance(deadlines.maskedInputMs, s.net);
  const o = await s.settled();
  assert.ok(o && o.status === 'aborted');
  assert.equal(o.reason, 'TOO_FEW_SURVIVORS');
  assert.equal(s.clock.pending, 0);
});

test('driver: refusals are typed: wrong round, a frame that has no place in a round, garbage secagg bytes, a wrong-length vector', async () => {
  const cases: [RuntimeMessage, string][] = [
    [{ type: 'progress', round: 8, stage: 'training', fraction: 0 }, 'ERR_ROUND_MISMATCH'],
    [{ type: 'heartbeat', sentAt: 0 }, 'ERR_UNEXPECTED_FRAME'],
    [{ type: 'plainInput', round: 7, vector: new Uint32Array(VECTOR) }, 'ERR_UNEXPECTED_FRAME'],
    [{ type: 'secagg', round: 7, payload: new Uint8Array([0x46, 0x4d, 0x53, 0x41, 9, 9]) }, 'ERR_PROTOCOL'],
  ];
  for (const [msg, code] of cases) {
    const s = setup({ behaviours: ['silent', 'honest', 'honest'] });
    s.driver.start();
    s.members[0]!.up(msg);
    s.net.flush();
    assert.equal(s.members[0]!.refusedWith?.code, code, `${msg.type}: ${s.members[0]!.refusedWith?.message}`);
    assert.ok(s.events.some((e) => e.event === 'round.refused' && e.fields.code === code));
  }
  // A masked input of the wrong length: the member reaches the masked-input phase first.
  const s = setup({ n: 3 });
  const liar = s.members[0]!;
  const send = liar.send.bind(liar);
  liar.send = (msg) => {
    if (msg.type === 'secagg' && liar.machine) {
      const replies = liar.machine.receive(decodeMessage(msg.payload) as ServerMessage);
      for (const r of replies) {
        const out = r.kind === 'masked-input' ? { ...r, vector: r.vector.subarray(0, VECTOR - 1) } : r;
        liar.up({ type: 'secagg', round: 7, payload: encodeMessage(out) });
      }
      liar.received.push(msg);
      return;
    }
    send(msg);
  };
  s.driver.start();
  s.net.flush();
  assert.equal(liar.refusedWith?.code, 'ERR_VECTOR_LENGTH');
});

test('driver: late messages of an earlier round are dropped quietly', async () => {
  const s = setup();
  s.driver.start();
  s.members[0]!.up({ type: 'secagg', round: 6, payload: new Uint8Array(3) });
  s.net.flush();
  assert.equal(s.members[0]!.refusedWith, null);
  assert.ok(s.events.some((e) => e.event === 'round.late-message'));
  assert.equal((await s.settled())?.status, 'completed');
});

test('driver: plaintext rounds sum the inputs; fewer than the floor abort', async () => {
  const ok = setup({ mode: 'plaintext', minAggregate: 2 });
  ok.driver.start();
  ok.net.flush();
  const o = await ok.settled();
  assert.ok(o && o.status === 'completed');
  assert.deepEqual([...o.sum], sumOf(ok.inputs));
  const short = setup({ mode: 'plaintext', minAggregate: 3, behaviours: ['honest', 'honest', 'silent'] });
  short.driver.start();
  short.net.flush();
  short.clock.advance(deadlines.trainingMs, short.net);
  const a = await short.settled();
  assert.ok(a && a.status === 'aborted');
  assert.equal(a.reason, 'TOO_FEW_SURVIVORS');
});

test('driver: a member revoked before its input leaves as a dropout; after its input, the round aborts MEMBER_REVOKED', async () => {
  const early = setup({ n: 4, behaviours: ['honest', 'honest', 'honest', 'silent'] });
  early.driver.start();
  early.net.flush();
  early.driver.revoke(early.members[3]!, new TransportError('ERR_AUTH_REVOKED', 'revoked'));
  early.net.flush();
  const e = await early.settled();
  assert.ok(e && e.status === 'completed');
  assert.deepEqual(e.survivors.map((m) => m.name), ['m1', 'm2', 'm3']);

  const late = setup({ mode: 'plaintext', behaviours: ['honest', 'honest', 'silent'] });
  late.driver.start();
  late.net.flush();
  late.driver.revoke(late.members[0]!, new TransportError('ERR_AUTH_REVOKED', 'revoked'));
  const l = await late.settled();
  assert.ok(l && l.status === 'aborted');
  assert.equal(l.reason, 'MEMBER_REVOKED');
  assert.equal(late.clock.pending, 0);
});

test('driver: cancel aborts the session, tells the members and clears its timers', async () => {
  const s = setup({ behaviours: ['honest', 'honest', 'silent'] });
  s.driver.start();
  s.net.flush();
  s.driver.cancel('server shutting down');
  const o = await s.settled();
  assert.ok(o && o.status === 'aborted');
  assert.equal(o.reason, 'CANCELLED');
  assert.equal(s.clock.pending, 0);
  const last = s.members[0]!.received.at(-1)!;
  assert.equal(last.type, 'secagg');
  assert.equal((decodeMessage((last as { payload: Uint8Array }).payload) as ServerMessage).kind, 'abort');
});

test('driver: a member not connected at roundStart counts as dropped at once', async () => {
  const s = setup({ n: 4 });
  s.members[2]!.isReady = false;
  s.driver.start();
  s.net.flush();
  const o = await s.settled();
  assert.ok(o && o.status === 'completed');
  assert.deepEqual(o.dropped.map((m) => m.name), ['m3']);
  assert.equal(s.members[2]!.received.length, 0);
});

test('driver: a member revealing a corrupted unmask share is named faulty, and the round still releases the exact sum', async () => {
  const s = setup({ n: 4, threshold: 2 });
  const liar = s.members[1]!;
  const send = liar.send.bind(liar);
  liar.send = (msg) => {
    if (msg.type === 'secagg' && liar.machine) {
      liar.received.push(msg);
      for (const r of liar.machine.receive(decodeMessage(msg.payload) as ServerMessage)) {
        let out = r;
        if (r.kind === 'unmask-response' && r.selfMaskShares.length > 0) {
          // Flip a byte of the first revealed self-mask share.
          const share = Uint8Array.from(r.selfMaskShares[0]!.share);
          share[0] = share[0]! ^ 0x01;
          out = { ...r, selfMaskShares: [{ ...r.selfMaskShares[0]!, share }, ...r.selfMaskShares.slice(1)] };
        }
        liar.up({ type: 'secagg', round: 7, payload: encodeMessage(out) });
      }
      return;
    }
    send(msg);
  };
  s.driver.start();
  s.net.flush();
  const o = await s.settled();
  assert.ok(o && o.status === 'completed', o && o.status === 'aborted' ? `${o.reason}: ${o.detail}` : 'pending');
  assert.deepEqual([...o.sum], sumOf(s.inputs));
  assert.deepEqual(o.faulty.map((m) => m.name), ['m2']);
});

const progressOf = (round = 7): RuntimeMessage => ({ type: 'progress', round, stage: 'training', fraction: 0.5 });
const laggardEvents = (s: ReturnType<typeof setup>) => s.events.filter((e) => e.event === 'round.laggard').map((e) => [e.fields.peer, e.fields.reason]);

test('driver: a silence check that fires late (stalled loop) lets the frames that arrived meanwhile count; the silent member is still dropped', async () => {
  const s = setup({ n: 4, behaviours: ['progress-only', 'progress-only', 'progress-only', 'silent'] });
  s.driver.start();
  s.net.flush();
  // The loop stalls past progressMs; the training members' progress frames arrive during
  // the stall and wait unread.
  s.clock.stall(deadlines.progressMs - 1_000);
  for (const m of s.members.slice(0, 3)) m.up(progressOf());
  s.clock.stall(3_000);
  s.clock.runDue(s.net);
  assert.deepEqual(laggardEvents(s), [['m4', 'silent']], 'only the member that sent nothing is dropped');
  const late = s.events.find((e) => e.event === 'round.timer-late');
  assert.ok(late, 'the late check is logged');
  assert.equal(late.fields.lateMs, 2_000);
  assert.equal(await s.settled(), null, 'the training members are still in the round');
  for (const m of s.members.slice(0, 3)) m.finishTraining();
  s.net.flush();
  const o = await s.settled();
  assert.ok(o && o.status === 'completed', o && o.status === 'aborted' ? `${o.reason}: ${o.detail}` : 'pending');
  assert.deepEqual(o.survivors.map((m) => m.name), ['m1', 'm2', 'm3']);
  assert.deepEqual([...o.sum], sumOf(s.inputs.slice(0, 3)));
  assert.deepEqual(o.laggards.map((l) => [l.member.name, l.phase]), [['m4', 'training']]);
  assert.match(o.laggards[0]!.reason, /no training progress for 7000 ms/);
});

test('driver: a late silence check is deferred once only: a second stall before the deferred check does not defer it again', async () => {
  const s = setup({ n: 4, behaviours: ['progress-only', 'progress-only', 'progress-only', 'progress-only'] });
  s.driver.start();
  s.net.flush();
  s.clock.stall(deadlines.progressMs + 2_000);
  s.members[0]!.up(progressOf());
  s.members[1]!.up(progressOf());
  s.clock.runDue(s.net, 1); // the late check: deferred, and the waiting frames are read
  assert.deepEqual(laggardEvents(s), []);
  s.clock.stall(3_000); // stalls again before the deferred check runs
  s.clock.runDue(s.net);
  assert.deepEqual(laggardEvents(s), [['m3', 'silent'], ['m4', 'silent']]);
  assert.equal(s.events.filter((e) => e.event === 'round.timer-late').length, 1);
  s.members[0]!.finishTraining();
  s.members[1]!.finishTraining();
  s.net.flush();
  const o = await s.settled();
  assert.ok(o && o.status === 'completed');
  assert.deepEqual(o.survivors.map((m) => m.name), ['m1', 'm2']);
});

test('driver: a phase deadline that fires late (stalled loop) lets the inputs that arrived meanwhile count instead of dropping their senders', async () => {
  const s = setup({ n: 4 });
  // m1..m3's share-keys messages are held back, then arrive while the loop is stalled.
  const held: (() => void)[] = [];
  for (const m of s.members.slice(0, 3)) {
    const up = m.up.bind(m);
    m.up = (msg) => {
      if (msg.type === 'secagg' && decodeMessage(msg.payload).kind === 'share-keys') held.push(() => up(msg));
      else up(msg);
    };
  }
  s.driver.start();
  s.net.flush();
  assert.equal(s.phases.at(-1), 'share-keys');
  assert.equal(held.length, 3);
  s.clock.stall(deadlines.shareKeysMs + 2_000);
  for (const release of held) release();
  s.clock.runDue(s.net, 1);
  const late = s.events.find((e) => e.event === 'round.timer-late');
  assert.ok(late, 'the late deadline is logged');
  assert.deepEqual([late.fields.timer, late.fields.phase, late.fields.lateMs], ['deadline', 'share-keys', 2_000]);
  s.net.flush();
  s.clock.runDue(s.net);
  const o = await s.settled();
  assert.ok(o && o.status === 'completed', o && o.status === 'aborted' ? `${o.reason}: ${o.detail}` : 'pending');
  assert.deepEqual(o.laggards, [], 'nobody is dropped for the stall');
  assert.deepEqual([...o.sum], sumOf(s.inputs));
});

test(`driver: a silence check that fires on time (or less than ${LATE_TIMER_MS} ms late) decides at once`, async () => {
  const s = setup({ n: 4, behaviours: ['progress-only', 'progress-only', 'progress-only', 'silent'] });
  s.driver.start();
  s.net.flush();
  s.clock.stall(deadlines.progressMs + LATE_TIMER_MS);
  for (const m of s.members.slice(0, 3)) m.up(progressOf());
  s.clock.runDue(s.net, 1);
  assert.deepEqual(
    laggardEvents(s).map(([peer]) => peer),
    ['m1', 'm2', 'm3', 'm4'],
    'every member silent for progressMs is dropped by the check itself',
  );
  assert.ok(!s.events.some((e) => e.event === 'round.timer-late'));
});

test('driver: plaintext rounds show the training phase while members train, and drop a silent member after progressMs', async () => {
  const s = setup({ mode: 'plaintext', n: 4, behaviours: ['honest', 'honest', 'honest', 'silent'] });
  s.driver.start();
  s.net.flush();
  assert.deepEqual(s.phases, ['training']);
  assert.equal(await s.settled(), null, 'waits for the silent member');
  s.clock.advance(deadlines.progressMs, s.net);
  const o = await s.settled();
  assert.ok(o && o.status === 'completed');
  assert.deepEqual([...o.sum], sumOf(s.inputs.slice(0, 3)));
  assert.deepEqual(o.laggards.map((l) => [l.member.name, l.phase]), [['m4', 'training']]);
  assert.match(o.laggards[0]!.reason, /no training progress for 5000 ms/);
  assert.deepEqual(s.phases, ['training']);
});

test('driver: in a plaintext round, a member that sends progress frames stays in the round past progressMs until its input arrives', async () => {
  const s = setup({ mode: 'plaintext', n: 3, behaviours: ['honest', 'honest', 'progress-only'] });
  s.driver.start();
  s.net.flush();
  for (let t = 0; t < 5; t++) {
    s.clock.advance(4_000, s.net);
    s.members[2]!.up(progressOf());
    s.net.flush();
  }
  assert.equal(await s.settled(), null, 'kept alive by its progress');
  s.members[2]!.finishTraining();
  s.net.flush();
  const o = await s.settled();
  assert.ok(o && o.status === 'completed');
  assert.deepEqual([...o.sum], sumOf(s.inputs));
  assert.deepEqual(o.laggards, []);
});

test('driver: plaintext refusals are typed: a second input, an entry not below 2^bits, a wrong-length vector, a secagg message', async () => {
  const big = new Uint32Array(VECTOR);
  big[3] = 2 ** BITS;
  const cases: [RuntimeMessage[], string, RegExp][] = [
    [[{ type: 'plainInput', round: 7, vector: new Uint32Array(VECTOR) }, { type: 'plainInput', round: 7, vector: new Uint32Array(VECTOR) }], 'ERR_PROTOCOL', /duplicate plainInput/],
    [[{ type: 'plainInput', round: 7, vector: big }], 'ERR_BAD_PAYLOAD', /plainInput\[3\] is not below 2\^16/],
    [[{ type: 'plainInput', round: 7, vector: new Uint32Array(VECTOR + 1) }], 'ERR_VECTOR_LENGTH', /7 entries, expected 6/],
    [[{ type: 'secagg', round: 7, payload: new Uint8Array(8) }], 'ERR_UNEXPECTED_FRAME', /secagg message in a plaintext round/],
  ];
  for (const [msgs, code, message] of cases) {
    // m2 trains on: the round is still collecting when m1's messages arrive.
    const s = setup({ mode: 'plaintext', n: 4, behaviours: ['silent', 'progress-only', 'honest', 'honest'] });
    s.driver.start();
    for (const msg of msgs) s.members[0]!.up(msg);
    s.net.flush();
    s.members[1]!.finishTraining();
    s.net.flush();
    const m1 = s.members[0]!;
    assert.equal(m1.refusedWith?.code, code, m1.refusedWith?.message);
    assert.match(m1.refusedWith.message, message);
    assert.ok(s.events.some((e) => e.event === 'round.refused' && e.fields.peer === 'm1' && e.fields.code === code));
    const o = await s.settled();
    assert.ok(o && o.status === 'completed');
    if (code === 'ERR_PROTOCOL') {
      // Its first input was taken before the duplicate: the sum holds it.
      assert.deepEqual([...o.sum], sumOf([new Uint32Array(VECTOR), ...s.inputs.slice(1)]));
    } else {
      assert.deepEqual([...o.sum], sumOf(s.inputs.slice(1)), 'nothing of the refused input is summed');
      assert.deepEqual(o.dropped.map((m) => m.name), ['m1']);
    }
  }
});

test('driver: an active-mode round walks the consistency phase and releases the exact sum', async () => {
  const s = setup({ mode: 'active', n: 4, threshold: 3 });
  s.driver.start();
  s.net.flush();
  const o = await s.settled();
  assert.ok(o && o.status === 'completed', o && o.status === 'aborted' ? `${o.reason}: ${o.detail}` : 'pending');
  assert.deepEqual([...o.sum], sumOf(s.inputs));
  assert.deepEqual(s.phases, ['training', 'share-keys', 'masked-input', 'consistency', 'unmasking']);
  assert.equal(s.clock.pending, 0);
});

test('driver: in active mode, a member that withholds its consistency signature misses the consistency deadline', async () => {
  const s = setup({ mode: 'active', n: 4, threshold: 3, behaviours: ['honest', 'honest', 'honest', 'withhold-consistency'] });
  s.driver.start();
  s.net.flush();
  assert.equal(s.phases.at(-1), 'consistency');
  s.clock.advance(deadlines.consistencyMs - 1, s.net);
  assert.equal(await s.settled(), null, 'not before the consistency deadline');
  s.clock.advance(1, s.net);
  const o = await s.settled();
  assert.ok(o && o.status === 'completed', o && o.status === 'aborted' ? `${o.reason}: ${o.detail}` : 'pending');
  assert.deepEqual(o.laggards.map((l) => [l.member.name, l.phase]), [['m4', 'consistency']]);
  assert.match(o.laggards[0]!.reason, /missed the consistency deadline \(10000 ms\)/);
  // Its masked input was taken before the check: the sum holds it.
  assert.deepEqual([...o.sum], sumOf(s.inputs));
  assert.ok(s.events.some((e) => e.event === 'round.deadline' && e.fields.phase === 'consistency'));
});

test('driver: in active mode, too few consistency signatures at the deadline abort the round', async () => {
  const s = setup({ mode: 'active', n: 4, threshold: 3, behaviours: ['honest', 'honest', 'withhold-consistency', 'withhold-consistency'] });
  s.driver.start();
  s.net.flush();
  s.clock.advance(deadlines.consistencyMs, s.net);
  const o = await s.settled();
  assert.ok(o && o.status === 'aborted');
  assert.deepEqual(o.laggards.map((l) => [l.member.name, l.phase]), [['m3', 'consistency'], ['m4', 'consistency']]);
  assert.equal(s.clock.pending, 0);
});

test('driver: a member that withholds its unmask response misses the unmasking deadline; the others release the exact sum', async () => {
  const s = setup({ n: 4, threshold: 2, behaviours: ['honest', 'honest', 'honest', 'withhold-unmask'] });
  s.driver.start();
  s.net.flush();
  assert.equal(s.phases.at(-1), 'unmasking');
  s.clock.advance(deadlines.unmaskingMs - 1, s.net);
  assert.equal(await s.settled(), null, 'not before the unmasking deadline');
  s.clock.advance(1, s.net);
  const o = await s.settled();
  assert.ok(o && o.status === 'completed', o && o.status === 'aborted' ? `${o.reason}: ${o.detail}` : 'pending');
  assert.deepEqual(o.laggards.map((l) => [l.member.name, l.phase]), [['m4', 'unmasking']]);
  assert.match(o.laggards[0]!.reason, /missed the unmasking deadline \(10000 ms\)/);
  assert.deepEqual([...o.sum], sumOf(s.inputs), 'its masked input is in the sum');
});

test('driver: evaluation rounds (awaitProgress) ignore a member\'s secagg message before its first progress frame', async () => {
  const s = setup({ n: 3, awaitProgress: true, behaviours: ['advertise-before-progress', 'honest', 'honest'] });
  s.driver.start();
  s.net.flush();
  const m1 = s.members[0]!;
  assert.equal(m1.refusedWith, null, 'the early copy is not a duplicate: it was never fed to the machine');
  assert.ok(s.events.some((e) => e.event === 'round.late-message' && e.fields.peer === 'm1' && e.fields.before === 'progress'));
  const o = await s.settled();
  assert.ok(o && o.status === 'completed', o && o.status === 'aborted' ? `${o.reason}: ${o.detail}` : 'pending');
  assert.deepEqual([...o.sum], sumOf(s.inputs));
});

test('driver: in an evaluation round, a member that sends input but never a progress frame is silent and dropped after progressMs', async () => {
  const s = setup({ n: 4, awaitProgress: true });
  // m4 answers like a client of the finished training round: no progress frame of this round.
  s.members[3]!.progressFirst = false;
  s.driver.start();
  s.net.flush();
  assert.equal(await s.settled(), null);
  assert.ok(s.events.some((e) => e.event === 'round.late-message' && e.fields.peer === 'm4'));
  s.clock.advance(deadlines.progressMs, s.net);
  const o = await s.settled();
  assert.ok(o && o.status === 'completed');
  assert.deepEqual(o.survivors.map((m) => m.name), ['m1', 'm2', 'm3']);
  assert.deepEqual(o.laggards.map((l) => [l.member.name, l.phase]), [['m4', 'training']]);
});
