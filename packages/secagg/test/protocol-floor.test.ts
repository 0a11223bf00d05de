// The minimum-aggregate floor (minSurvivors): a client refuses to sign or reveal against a
// survivor set below its own floor, a server aborts instead of showing one, and a refusal
// ends the round without a sum. Real machines, real crypto, every message through the codec.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ed25519Keypair, ready } from '../src/crypto/index.js';
import { InvalidArgumentError } from '../src/errors.js';
import { seededRng } from '../src/rng.js';
import {
  ABORT_REASONS, abortReasonName, decodeMessage, SecAggClient, SecAggServer, simulateSession,
  type ClientMessage, type DropPoint, type SecAggConfig, type ServerMessage, type ServerOutputs, type ServerSend, type SimulationOutcome,
} from '../src/protocol/index.js';

await ready();

const ids = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
const rng = (tag: number, id: number) => seededRng(new Uint8Array(32).fill(tag).map((b, i) => (i === 0 ? id : b)));
const input = (id: number, m: number) => Uint32Array.from({ length: m }, (_, i) => (id * 7919 + i * 104729) >>> 0);

const roster = new Map<number, Uint8Array>();
const identities = new Map<number, Uint8Array>();
for (const id of ids(5)) {
  const k = ed25519Keypair(rng(90, id));
  roster.set(id, k.publicKey);
  identities.set(id, k.secretKey);
}

const config = (n: number, threshold: number, mode: SecAggConfig['mode']): SecAggConfig => ({
  sessionNonce: new Uint8Array(32).fill(11), clientIds: ids(n), threshold, bits: 32, vectorLength: 4, degree: 0, mode,
});

interface Run {
  config: SecAggConfig;
  dropouts?: [number, DropPoint][];
  clientFloors?: [number, number][];
  serverFloor?: number;
  tamper?: (s: ServerSend) => ServerSend | null;
}

function run(r: Run): SimulationOutcome {
  const { config: c } = r;
  const active = c.mode === 'active';
  return simulateSession({
    config: c,
    inputs: new Map(c.clientIds.map((id) => [id, input(id, c.vectorLength)])),
    clientRng: (id) => rng(1, id),
    dropouts: new Map(r.dropouts ?? []),
    ...(r.clientFloors ? { clientMinSurvivors: new Map(r.clientFloors) } : {}),
    ...(r.serverFloor !== undefined ? { serverMinSurvivors: r.serverFloor } : {}),
    ...(r.tamper ? { tamper: r.tamper } : {}),
    ...(active ? { roster, identities } : {}),
  });
}

function sum(members: readonly number[], m: number): Uint32Array {
  const out = new Uint32Array(m);
  for (const id of members) input(id, m).forEach((v, i) => (out[i] = (out[i]! + v) >>> 0));
  return out;
}

const decoded = (out: SimulationOutcome) => out.transcript.map((r) => ({ from: r.from, to: r.to, message: decodeMessage(r.bytes) }));

/** Everything client `id` sent after the first server message of `kind` addressed to it. */
function sentAfter(out: SimulationOutcome, id: number, kind: ServerMessage['kind']): ClientMessage[] {
  const all = decoded(out);
  const at = all.findIndex((r) => r.from === 0 && r.to === id && r.message.kind === kind);
  assert.ok(at >= 0, `client ${id} was sent a ${kind}`);
  return all.slice(at + 1).filter((r) => r.from === id).map((r) => r.message as ClientMessage);
}

function assertRefused(out: SimulationOutcome, id: number): void {
  const err = out.clientAborts.get(id);
  assert.ok(err, `client ${id} should have aborted`);
  assert.equal(err.reasonName, 'TOO_FEW_SURVIVORS', err.message);
  assert.equal(err.code, 'ERR_SECAGG_ABORTED');
  assert.equal(out.clients.get(id)!.state, 'aborted');
  assert.equal(out.clients.get(id)!.abortMessage()?.reason, ABORT_REASONS.TOO_FEW_SURVIVORS);
}

test('floor: semi-honest client with minSurvivors 3 shown a U3 of 2 sends only its TOO_FEW_SURVIVORS abort', () => {
  const out = run({ config: config(3, 2, 'semi-honest'), dropouts: [[3, 'after-share-keys']], clientFloors: [[1, 3]] });
  assertRefused(out, 1);
  const after = sentAfter(out, 1, 'unmask-request');
  assert.deepEqual(after, [{ kind: 'abort', reason: ABORT_REASONS.TOO_FEW_SURVIVORS, detail: 'client 1 aborted' }]);
  assert.equal(out.result, null);
});

test('floor: active client with minSurvivors 4 shown a U3 of 3 in the consistency request sends no signature, only its abort', () => {
  const out = run({ config: config(4, 3, 'active'), dropouts: [[4, 'after-share-keys']], clientFloors: [[1, 4]] });
  assertRefused(out, 1);
  const after = sentAfter(out, 1, 'consistency-request');
  assert.deepEqual(after, [{ kind: 'abort', reason: ABORT_REASONS.TOO_FEW_SURVIVORS, detail: 'client 1 aborted' }]);
  // the refusal ends the round before anyone is asked to unmask
  assert.equal(abortReasonName(out.serverAbortReason!), 'TOO_FEW_SURVIVORS');
  assert.ok(!decoded(out).some((r) => r.message.kind === 'unmask-request' || r.message.kind === 'unmask-response'));
  assert.equal(out.result, null);
});

test('floor: active client re-checks its floor in the unmask request: a shrunken U3 is refused as TOO_FEW_SURVIVORS, nothing revealed', () => {
  // Client 1 signs U3 = {1,2,3,4} (its floor of 4 is met); the server then shows it {1,2,3}.
  const shrink = (s: ServerSend): ServerSend => s.message.kind === 'unmask-request' && s.to === 1
    ? { to: 1, message: { ...s.message, survivors: s.message.survivors.filter((v) => v !== 4) } }
    : s;
  const out = run({ config: config(4, 3, 'active'), clientFloors: [[1, 4]], tamper: shrink });
  assertRefused(out, 1);
  assert.deepEqual(sentAfter(out, 1, 'consistency-request').map((m) => m.kind), ['consistency-signature', 'abort']);
  assert.deepEqual(sentAfter(out, 1, 'unmask-request'), [{ kind: 'abort', reason: ABORT_REASONS.TOO_FEW_SURVIVORS, detail: 'client 1 aborted' }]);
});

test('floor: a client floor equal to |U3| is met and the round completes exactly', () => {
  const out = run({ config: config(4, 2, 'semi-honest'), dropouts: [[4, 'after-share-keys']], clientFloors: [[1, 3], [2, 3], [3, 3]] });
  assert.equal(out.clientAborts.size, 0);
  assert.deepEqual(out.result?.survivors, [1, 2, 3]);
  assert.deepEqual(out.result?.sum, sum([1, 2, 3], 4));
});

test('floor: server without a floor, client with one: the refusal aborts the round (TOO_FEW_SURVIVORS) and no sum is released', () => {
  // n = 4, t = 2, client 4 drops: U3 = {1,2,3}. Clients 2 and 3 (no floor) reveal, which is
  // enough shares for t = 2 - so only the server honouring client 1's refusal stops the sum.
  const base = { config: config(4, 2, 'semi-honest'), dropouts: [[4, 'after-share-keys']] as [number, DropPoint][] };
  const control = run(base);
  assert.deepEqual(control.result?.survivors, [1, 2, 3], 'without the floor the same round completes');
  const out = run({ ...base, clientFloors: [[1, 4]] });
  assertRefused(out, 1);
  assert.deepEqual(sentAfter(out, 2, 'unmask-request').map((m) => m.kind), ['unmask-response']);
  assert.equal(out.result, null);
  assert.equal(out.server.state, 'aborted');
  assert.equal(abortReasonName(out.serverAbortReason!), 'TOO_FEW_SURVIVORS');
  // the other participants are told the reason
  for (const id of [2, 3]) {
    assert.equal(out.clients.get(id)!.abortReason, ABORT_REASONS.TOO_FEW_SURVIVORS);
    assert.equal(out.clients.get(id)!.abortedByServer, true);
  }
});

test('floor: server with minSurvivors 3 and a dropout leaving 2 aborts with TOO_FEW_SURVIVORS and sends no unmask or consistency request', () => {
  for (const mode of ['semi-honest', 'active'] as const) {
    const base = { config: config(3, 2, mode), dropouts: [[3, 'after-share-keys']] as [number, DropPoint][] };
    assert.deepEqual(run(base).result?.survivors, [1, 2], `${mode}: without the floor the same round completes`);
    const out = run({ ...base, serverFloor: 3 });
    assert.equal(abortReasonName(out.serverAbortReason!), 'TOO_FEW_SURVIVORS', mode);
    assert.equal(out.result, null);
    const all = decoded(out);
    assert.ok(!all.some((r) => ['unmask-request', 'consistency-request', 'unmask-response', 'consistency-signature'].includes(r.message.kind)), mode);
    // after the masked inputs, the server's only messages are the aborts to the two survivors
    const lastMasked = all.map((r) => r.message.kind).lastIndexOf('masked-input');
    assert.deepEqual(all.slice(lastMasked + 1).map((r) => [r.from, r.to, r.message.kind]), [[0, 1, 'abort'], [0, 2, 'abort']], mode);
    for (const id of [1, 2]) assert.equal(out.clients.get(id)!.abortReason, ABORT_REASONS.TOO_FEW_SURVIVORS, mode);
    assert.equal(out.clientAborts.size, 0, `${mode}: no client had to refuse`);
  }
});

test('floor: a server floor equal to |U3| is met and the round completes exactly', () => {
  const out = run({ config: config(3, 2, 'semi-honest'), serverFloor: 3 });
  assert.deepEqual(out.result?.survivors, [1, 2, 3]);
  assert.deepEqual(out.result?.sum, sum([1, 2, 3], 4));
});

test('floor: minSurvivors that is not an integer >= 2 is an InvalidArgumentError naming options.minSurvivors (client and server)', () => {
  const c = config(3, 2, 'semi-honest');
  for (const bad of [1, 0, -3, 2.5, Number.NaN, Number.POSITIVE_INFINITY, '3', null]) {
    const named = (e: unknown) => e instanceof InvalidArgumentError && /options\.minSurvivors/.test(e.message);
    assert.throws(() => new SecAggClient({ id: 1, config: c, input: new Uint32Array(4), minSurvivors: bad as never }), named, `client ${String(bad)}`);
    assert.throws(() => new SecAggServer(c, undefined, { minSurvivors: bad as never }), named, `server ${String(bad)}`);
  }
  assert.doesNotThrow(() => new SecAggClient({ id: 1, config: c, input: new Uint32Array(4), minSurvivors: 2 }));
  assert.doesNotThrow(() => new SecAggServer(c, undefined, { minSurvivors: 2 }));
});

/** Drives the machines by hand up to the unmask request (5 clients, t = 3, no floors). */
function toUnmasking() {
  const c = config(5, 3, 'semi-honest');
  const server = new SecAggServer(c, seededRng(new Uint8Array(32)));
  const clients = new Map(ids(5).map((id) => [id, new SecAggClient({ id, config: c, rng: rng(3, id), input: input(id, 4) })]));
  const deliver = (out: ServerOutputs): Map<number, ClientMessage[]> => new Map(out.sends.map(({ to, message }) => [to, clients.get(to)!.receive(message)]));
  for (const id of ids(5)) server.receive(id, clients.get(id)!.start());
  for (const [id, [m]] of deliver(server.closeRound())) server.receive(id, m!);
  for (const [id, [m]] of deliver(server.closeRound())) server.receive(id, m!);
  const unmask = deliver(server.closeRound());
  assert.equal(server.state, 'unmasking');
  return { server, clients, unmask };
}

const refusal = (id: number): ClientMessage => ({ kind: 'abort', reason: ABORT_REASONS.TOO_FEW_SURVIVORS, detail: `client ${id} aborted` });

test('floor: a survivor\'s TOO_FEW_SURVIVORS abort makes the round ready at once; closing it aborts and tells the others', () => {
  const { server, unmask } = toUnmasking();
  server.receive(2, unmask.get(2)![0]!);
  assert.deepEqual(server.receive(1, refusal(1)).sends, [], 'receive only records the refusal');
  assert.equal(server.state, 'unmasking');
  assert.deepEqual(server.pendingClients, [3, 4, 5]);
  assert.equal(server.readyToAdvance, true);
  const out = server.closeRound();
  assert.equal(server.state, 'aborted');
  assert.equal(server.abortReason, ABORT_REASONS.TOO_FEW_SURVIVORS);
  assert.equal(server.result, null);
  assert.deepEqual(out.sends.map((s) => [s.to, s.message.kind]), [[2, 'abort'], [3, 'abort'], [4, 'abort'], [5, 'abort']]);
});

test('floor: any other client abort in Unmasking stays a dropout and the round still completes', () => {
  const { server, unmask } = toUnmasking();
  server.receive(1, { kind: 'abort', reason: ABORT_REASONS.INCONSISTENT_SURVIVORS, detail: 'client 1 aborted' });
  assert.equal(server.readyToAdvance, false);
  for (const id of [2, 3, 4, 5]) server.receive(id, unmask.get(id)![0]!);
  server.closeRound();
  assert.equal(server.state, 'completed');
  assert.deepEqual(server.result!.sum, sum(ids(5), 4));
});

test('floor: a TOO_FEW_SURVIVORS abort before anyone was shown U3 is a dropout, not a refusal', () => {
  const c = config(5, 3, 'semi-honest');
  const server = new SecAggServer(c, seededRng(new Uint8Array(32)));
  const clients = new Map(ids(5).map((id) => [id, new SecAggClient({ id, config: c, rng: rng(3, id), input: input(id, 4) })]));
  for (const id of [1, 2, 3, 4]) server.receive(id, clients.get(id)!.start());
  server.receive(5, refusal(5));
  assert.equal(server.readyToAdvance, true, 'every client answered or dropped');
  server.closeRound();
  assert.equal(server.state, 'share-keys', 'the session goes on without client 5');
});
