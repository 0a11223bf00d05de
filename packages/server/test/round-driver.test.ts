/**
 * The round driver without sockets: members are in-memory endpoints that run REAL SecAgg
 * client machines (or send plain inputs), messages travel through a queue flushed by the
 * test, and time is a fake clock advanced by hand. Every phase transition, deadline and
 * refusal of the driver is exercised here, without a single real timer.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, encodeMessage, ready, SecAggClient, systemRng, type SecAggConfig, type ServerMessage } from '@fedmeta/secagg';
import { TransportError, type RoundConfig, type RuntimeMessage } from '@fedmeta/transport';
import { RoundDriver, IDLE_BULK_CAP, type RoundDeadlines, type RoundMember, type RoundOutcome } from '../src/round.js';
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
      this.t = next.at;
      next.fn();
      net.flush();
    }
    this.t = end;
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

type Behaviour = 'honest' | 'silent' | 'advertise-only' | 'progress-only';

class Member implements RoundMember {
  readonly received: RuntimeMessage[] = [];
  refusedWith: TransportError | null = null;
  isReady = true;
  cap = IDLE_BULK_CAP;
  machine: SecAggClient | null = null;
  driver!: RoundDriver<Member>;
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
    if (msg.type === 'secagg' && this.machine && this.behaviour === 'honest') {
      const replies = this.machine.receive(decodeMessage(msg.payload) as ServerMessage);
      for (const r of replies) this.up({ type: 'secagg', round: msg.round, payload: encodeMessage(r) });
    }
  }
  private onStart(msg: Extract<RuntimeMessage, { type: 'roundStart' }>): void {
    if (this.behaviour === 'silent') return;
    if (this.behaviour === 'progress-only') return this.up({ type: 'progress', round: msg.round, stage: 'training', fraction: 0.1 });
    const cfg = (msg.config as unknown as RoundConfig).aggregation;
    if (cfg.mode === 'plaintext') return this.up({ type: 'plainInput', round: msg.round, vector: this.input });
    const s = cfg.secagg!;
    this.machine = new SecAggClient({
      id: msg.participantId,
      config: { sessionNonce: Buffer.from(s.sessionNonce, 'hex'), clientIds: s.clientIds, threshold: s.threshold, bits: cfg.bits, vectorLength: cfg.vectorLength, degree: s.degree, mode: s.mode },
      rng: systemRng,
      input: this.input,
    });
    this.up({ type: 'secagg', round: msg.round, payload: encodeMessage(this.machine.start()) });
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
  mode?: 'secagg' | 'plaintext';
  behaviours?: Behaviour[];
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
  const nonce = systemRng.fill(new Uint8Array(32));
  const secagg: SecAggConfig | null = mode === 'plaintext' ? null : { sessionNonce: nonce, clientIds, threshold, bits: BITS, vectorLength: VECTOR, degree: 0, mode: 'semi-honest' };
  const config = {
    federationId: 'f',
    round: 7,
    aggregation: {
      mode,
      vectorLength: VECTOR,
      bits: BITS,
      ...(secagg ? { secagg: { sessionNonce: Buffer.from(nonce).toString('hex'), clientIds, threshold, degree: 0, mode: 'semi-honest' } } : {}),
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
    identities: null,
    deadlines,
    rng: systemRng,
    clock,
    minAggregate: o.minAggregate ?? 2,
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
