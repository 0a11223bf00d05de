// The server machine driven by hand: rejected messages (wrong round, late, duplicate,
// malformed, foreign) raise typed errors and change nothing; the round goes on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ready } from '../src/crypto/index.js';
import { InvalidArgumentError } from '../src/errors.js';
import { seededRng } from '../src/rng.js';
import {
  clipDetail, encodeMessage, SecAggClient, SecAggProtocolError, SecAggServer, type ClientMessage, type SecAggConfig, type ServerOutputs,
} from '../src/protocol/index.js';

await ready();

const N = 5;
const ids = [1, 2, 3, 4, 5];
const config: SecAggConfig = { sessionNonce: new Uint8Array(32).fill(2), clientIds: ids, threshold: 3, bits: 32, vectorLength: 6, degree: 0, mode: 'semi-honest' };
const input = (id: number) => Uint32Array.from({ length: 6 }, (_, i) => (id * 1_000_003 + i * 0x9e3779b9) >>> 0);

function setup() {
  const server = new SecAggServer(config, seededRng(new Uint8Array(32)));
  const clients = new Map(ids.map((id) => [id, new SecAggClient({ id, config, rng: seededRng(new Uint8Array(32).fill(id)), input: input(id) })]));
  /** Delivers server outputs; returns each client's replies (not yet sent). */
  const deliver = (out: ServerOutputs): Map<number, ClientMessage[]> => {
    const replies = new Map<number, ClientMessage[]>();
    for (const { to, message } of out.sends) replies.set(to, clients.get(to)!.receive(message));
    return replies;
  };
  return { server, clients, deliver };
}

function expectReject(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => e instanceof SecAggProtocolError && e.code === code, code);
}

const sum = (members: number[]) => {
  const out = new Uint32Array(6);
  for (const id of members) input(id).forEach((v, i) => (out[i] = (out[i]! + v) >>> 0));
  return out;
};

test('server: bad messages are rejected with typed errors and the session still completes exactly', () => {
  const { server, clients, deliver } = setup();
  const adverts = new Map(ids.map((id) => [id, clients.get(id)!.start()]));
  expectReject(() => server.receive(9, adverts.get(1)!), 'ERR_UNKNOWN_CLIENT');
  expectReject(() => server.receive(2, adverts.get(1)!), 'ERR_CLIENT_ID_MISMATCH');
  expectReject(() => server.receive(1, { kind: 'masked-input', clientId: 1, bits: 32, vector: new Uint32Array(6) }), 'ERR_UNEXPECTED_MESSAGE');
  expectReject(() => server.receive(1, { ...adverts.get(1)!, maskingPublicKey: new Uint8Array(32) }), 'ERR_INVALID_MESSAGE'); // low-order (zero) key
  expectReject(() => server.receive(1, { ...adverts.get(1)!, signature: new Uint8Array(64) }), 'ERR_INVALID_MESSAGE'); // signature in semi-honest mode
  for (const [id, m] of adverts) server.receive(id, m);
  expectReject(() => server.receive(1, adverts.get(1)!), 'ERR_DUPLICATE_MESSAGE');
  expectReject(() => server.receive(2, { ...adverts.get(1)!, clientId: 2 }), 'ERR_DUPLICATE_MESSAGE');
  assert.equal(server.state, 'advertise-keys');
  assert.equal(server.readyToAdvance, true);
  const shareKeys = deliver(server.closeRound());
  assert.equal(server.state, 'share-keys');
  assert.ok(server.sessionId instanceof Uint8Array);
  expectReject(() => server.receive(1, adverts.get(1)!), 'ERR_UNEXPECTED_MESSAGE');
  const sk1 = shareKeys.get(1)![0]! as Extract<ClientMessage, { kind: 'share-keys' }>;
  expectReject(() => server.receive(1, { ...sk1, shares: sk1.shares.slice(1) }), 'ERR_INVALID_MESSAGE');
  expectReject(() => server.receive(1, { ...sk1, shares: sk1.shares.map((s) => ({ ...s, ciphertext: s.ciphertext.subarray(1) })) }), 'ERR_INVALID_MESSAGE');
  for (const [id, [m]] of shareKeys) server.receive(id, m!);
  const masked = deliver(server.closeRound());
  const m1 = masked.get(1)![0]! as Extract<ClientMessage, { kind: 'masked-input' }>;
  expectReject(() => server.receive(1, { ...m1, vector: m1.vector.subarray(1) }), 'ERR_INVALID_MESSAGE');
  expectReject(() => server.receive(1, { ...m1, bits: 31 }), 'ERR_INVALID_MESSAGE');
  for (const [id, [m]] of masked) server.receive(id, m!);
  const unmask = deliver(server.closeRound());
  assert.equal(server.state, 'unmasking');
  const u1 = unmask.get(1)![0]! as Extract<ClientMessage, { kind: 'unmask-response' }>;
  expectReject(() => server.receive(1, { ...u1, selfMaskShares: u1.selfMaskShares.slice(1) }), 'ERR_INVALID_MESSAGE');
  expectReject(() => server.receive(1, { ...u1, keyShares: [{ ownerId: 2, share: new Uint8Array(33) }] }), 'ERR_INVALID_MESSAGE');
  for (const [id, [m]] of unmask) server.receive(id, m!);
  assert.equal(server.readyToAdvance, true);
  server.closeRound();
  assert.equal(server.state, 'completed');
  assert.deepEqual(server.result!.sum, sum(ids));
  expectReject(() => server.receive(1, u1), 'ERR_SESSION_FINISHED');
  expectReject(() => server.closeRound(), 'ERR_SESSION_FINISHED');
});

test('server: a late masked input (after the round closed) is rejected and never enters the sum', () => {
  const { server, clients, deliver } = setup();
  for (const id of ids) server.receive(id, clients.get(id)!.start());
  const shareKeys = deliver(server.closeRound());
  for (const [id, [m]] of shareKeys) server.receive(id, m!);
  const masked = deliver(server.closeRound());
  // client 4 is slow: the host's deadline fires before its masked input arrives
  for (const [id, [m]] of masked) if (id !== 4) server.receive(id, m!);
  assert.equal(server.readyToAdvance, false);
  assert.deepEqual(server.pendingClients, [4]);
  const unmask = deliver(server.closeRound());
  expectReject(() => server.receive(4, masked.get(4)![0]!), 'ERR_LATE_MESSAGE');
  assert.ok(!unmask.has(4), 'the late client is not asked to unmask');
  // every survivor reveals 4's s_sk share (4 is dropped) and no b-share of 4
  for (const [, [r]] of unmask) {
    const resp = r as Extract<ClientMessage, { kind: 'unmask-response' }>;
    assert.deepEqual(resp.keyShares.map((s) => s.ownerId), [4]);
    assert.ok(!resp.selfMaskShares.some((s) => s.ownerId === 4));
    server.receive(resp.clientId, resp);
  }
  expectReject(() => server.receive(4, masked.get(4)![0]!), 'ERR_LATE_MESSAGE');
  server.closeRound();
  assert.equal(server.state, 'completed');
  assert.deepEqual(server.result!.survivors, [1, 2, 3, 5]);
  assert.deepEqual(server.result!.dropped, [4]);
  assert.deepEqual(server.result!.sum, sum([1, 2, 3, 5]));
});

test('server: messages from a client declared dropped are rejected; readyToAdvance counts drops', () => {
  const { server, clients, deliver } = setup();
  const adverts = new Map(ids.map((id) => [id, clients.get(id)!.start()]));
  for (const [id, m] of adverts) if (id !== 5) server.receive(id, m);
  assert.equal(server.readyToAdvance, false);
  server.clientDropped(5);
  assert.equal(server.readyToAdvance, true);
  expectReject(() => server.receive(5, adverts.get(5)!), 'ERR_LATE_MESSAGE');
  const shareKeys = deliver(server.closeRound());
  assert.ok(!shareKeys.has(5));
  expectReject(() => server.receive(5, { kind: 'share-keys', clientId: 5, shares: [] }), 'ERR_NOT_PARTICIPATING');
  expectReject(() => server.clientDropped(77), 'ERR_UNKNOWN_CLIENT');
});

test('server: host abort and too-few aborts notify every live participant with the reason', () => {
  const { server, clients, deliver } = setup();
  for (const id of [1, 2]) server.receive(id, clients.get(id)!.start());
  server.clientDropped(3);
  const out = server.closeRound();
  assert.equal(server.state, 'aborted');
  assert.equal(server.abortReason, 1); // TOO_FEW_ADVERTISED
  // clients 1, 2 (responded) and 4, 5 (silent but connected) are told; 3 is gone
  assert.deepEqual(out.sends.map((s) => s.to), [1, 2, 4, 5]);
  deliver({ sends: out.sends.filter((s) => s.to <= 2) });
  assert.equal(clients.get(1)!.state, 'aborted');
  assert.equal(clients.get(1)!.abortReason, 1);
  assert.equal(clients.get(1)!.abortedByServer, true);
  const other = new SecAggServer(config);
  const cancelled = other.abort('shutting down');
  assert.equal(other.state, 'aborted');
  assert.equal(cancelled.sends.length, N);
});

test('server and client: configuration and option errors name the field', () => {
  const bad: [Partial<SecAggConfig>, RegExp][] = [
    [{ sessionNonce: new Uint8Array(31) }, /sessionNonce/],
    [{ clientIds: [1] }, /clientIds/],
    [{ clientIds: [1, 1, 2] }, /duplicate/],
    [{ clientIds: [0, 1, 2] }, /clientIds/],
    [{ threshold: 1 }, /threshold/],
    [{ threshold: 6 }, /threshold/],
    [{ bits: 0 }, /bits/],
    [{ vectorLength: 0 }, /vectorLength/],
    [{ degree: 3 }, /degree/],
    [{ mode: 'evil' as never }, /mode/],
    [{ mode: 'active', threshold: 2 }, /active mode needs threshold/],
  ];
  for (const [patch, re] of bad) {
    assert.throws(() => new SecAggServer({ ...config, ...patch }), (e: unknown) => e instanceof InvalidArgumentError && re.test(e.message), re.source);
  }
  assert.throws(() => new SecAggClient({ id: 9, config, input: new Uint32Array(6) }), /options.id/);
  assert.throws(() => new SecAggClient({ id: 1, config: { ...config, mode: 'active', threshold: 3 }, input: new Uint32Array(6) }), /identity/);
  const c = new SecAggClient({ id: 1, config, input: new Uint32Array(6) });
  expectReject(() => c.receive({ kind: 'key-list', entries: [] }), 'ERR_NOT_STARTED');
  c.start();
  expectReject(() => c.start(), 'ERR_ALREADY_STARTED');
});

test('client: a bad local input is a typed abort (INVALID_LOCAL_INPUT), evaluated lazily', () => {
  const { server, clients } = setup();
  let called = 0;
  const lazy = new SecAggClient({ id: 1, config, rng: seededRng(new Uint8Array(32).fill(1)), input: () => { called++; return new Uint32Array(5); } });
  clients.set(1, lazy);
  for (const id of ids) server.receive(id, clients.get(id)!.start());
  const keyList = server.closeRound().sends.find((s) => s.to === 1)!.message;
  const shares = new Map<number, ClientMessage>();
  // the key list is the same message for every client
  for (const id of ids) shares.set(id, clients.get(id)!.receive(keyList)[0]!);
  assert.equal(called, 0, 'input not read before the shares arrive');
  for (const [id, m] of shares) server.receive(id, m);
  const delivery = server.closeRound().sends.find((s) => s.to === 1)!.message;
  assert.throws(() => lazy.receive(delivery), (e: unknown) => e instanceof Error && 'reasonName' in e && (e as { reasonName: string }).reasonName === 'INVALID_LOCAL_INPUT');
  assert.equal(called, 1);
  assert.equal(lazy.state, 'aborted');
  assert.deepEqual(lazy.abortMessage()?.reason, 18);
});

/** Runs a round where 4 drops after ShareKeys; `corrupt` may rewrite each unmask response. */
function runWithCorruptResponses(corrupt: (id: number, r: Extract<ClientMessage, { kind: 'unmask-response' }>) => ClientMessage, members = ids) {
  const { server, clients, deliver } = setup();
  for (const id of members) server.receive(id, clients.get(id)!.start());
  const shareKeys = deliver(server.closeRound());
  for (const [id, [m]] of shareKeys) server.receive(id, m!);
  const masked = deliver(server.closeRound());
  for (const [id, [m]] of masked) if (id !== 4) server.receive(id, m!); // 4 dropped after ShareKeys
  const unmask = deliver(server.closeRound());
  const refused: unknown[] = [];
  for (const [id, [r]] of unmask) {
    try {
      server.receive(id, corrupt(id, r as Extract<ClientMessage, { kind: 'unmask-response' }>));
    } catch (err) {
      refused.push(err);
    }
  }
  const out = server.closeRound();
  return { server, out, refused };
}

const flipShare = (r: Extract<ClientMessage, { kind: 'unmask-response' }>, which: 'selfMaskShares' | 'keyShares', owner: number) =>
  ({ ...r, [which]: r[which].map((s) => (s.ownerId === owner ? { ...s, share: s.share.map((b, j) => (j === 32 ? b ^ 1 : b)) } : s)) });

test('server: a wrong s_sk share among t + 1 is located by the s_pk check, its holder named, and the sum is exact', () => {
  // U3 = {1,2,3,5}; s_sk_4 (4 dropped) has 4 = t + 1 shares: no polynomial correction
  // (floor((4-3)/2) = 0), but exactly one leave-one-out subset matches s_pk_4.
  const { server } = runWithCorruptResponses((id, r) => (id === 2 ? flipShare(r, 'keyShares', 4) : r));
  assert.equal(server.state, 'completed', server.abortDetail);
  assert.deepEqual(server.result!.sum, sum([1, 2, 3, 5]));
  assert.deepEqual(server.result!.faulty, [2]);
  assert.deepEqual(server.result!.faults, [{ clientId: 2, kind: 'unmask-shares', owners: [4] }]);
});

test('server: a wrong b share among t + 1 is detected but cannot be located: INCONSISTENT_SHARES naming the holders, no sum', () => {
  const { server, out } = runWithCorruptResponses((id, r) => (id === 2 ? flipShare(r, 'selfMaskShares', 1) : r));
  assert.equal(server.state, 'aborted');
  assert.equal(server.abortReason, 14); // INCONSISTENT_SHARES
  assert.equal(server.abortDetail, 'b of client 1: the 4 shares from holders 1,2,3,5 do not fit one polynomial of degree < 3 with at most 0 of them wrong');
  assert.equal(server.result, null);
  assert.ok(out.sends.length > 0 && out.sends.every((s) => s.message.kind === 'abort'));
});

test('server: an unmask share >= p is refused on receipt naming its sender, who then counts as silent', () => {
  const p = Uint8Array.from(Buffer.from('01' + '00'.repeat(30) + '0129', 'hex')); // p = 2^256 + 297 itself
  const { server, refused } = runWithCorruptResponses((id, r) => (id === 3 ? { ...r, selfMaskShares: r.selfMaskShares.map((s) => (s.ownerId === 5 ? { ...s, share: p } : s)) } : r));
  assert.equal(refused.length, 1);
  const err = refused[0] as SecAggProtocolError;
  assert.ok(err instanceof SecAggProtocolError);
  assert.equal(err.code, 'ERR_INVALID_MESSAGE');
  assert.equal(err.clientId, 3);
  assert.match(err.message, /client 3 .*share of client 5 is not a field element/);
  // 1, 2, 5 answered: t = 3 holders for every secret, so the round completes without 3's shares
  assert.equal(server.state, 'completed', server.abortDetail);
  assert.deepEqual(server.result!.sum, sum([1, 2, 3, 5]));
  assert.deepEqual(server.result!.faults, [{ clientId: 3, kind: 'invalid-message', message: 'unmask-response' }]);
});

test('client: messages handed over without the codec are validated too (order, duplicates, junk)', () => {
  const { server, clients } = setup();
  for (const id of ids) server.receive(id, clients.get(id)!.start());
  const keyList = server.closeRound().sends[0]!.message;
  for (const id of ids) server.receive(id, clients.get(id)!.receive(keyList)[0]!);
  const deliveries = new Map(server.closeRound().sends.map((s) => [s.to, s.message]));
  const d1 = deliveries.get(1)! as Extract<typeof keyList, { kind: 'share-delivery' }>;
  const abortReason = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      return (e as { reasonName?: string }).reasonName ?? `not an abort: ${String(e)}`;
    }
    return 'no error';
  };
  assert.equal(abortReason(() => clients.get(1)!.receive({ ...d1, shares: [...d1.shares].reverse() })), 'INVALID_SHARE_DELIVERY');
  assert.equal(clients.get(1)!.state, 'aborted');
  const d2 = deliveries.get(2)! as typeof d1;
  assert.equal(abortReason(() => clients.get(2)!.receive({ ...d2, shares: [d2.shares[0]!, d2.shares[0]!] })), 'INVALID_SHARE_DELIVERY');
  assert.equal(abortReason(() => clients.get(3)!.receive(null as never)), 'PROTOCOL_VIOLATION');
  // Ciphertexts that do not open are reported, not aborted on, while t - 1 usable ones remain;
  // with fewer, the client returns its report and its abort (SHARE_DECRYPTION_FAILED).
  const d4 = deliveries.get(4)! as typeof d1;
  const replies = clients.get(4)!.receive({ ...d4, shares: d4.shares.map((s) => ({ ...s, ciphertext: s.ciphertext.subarray(0, 10) })) });
  assert.deepEqual(replies.map((m) => m.kind), ['share-report', 'abort']);
  assert.deepEqual(replies[0], { kind: 'share-report', clientId: 4, faults: [1, 2, 3, 5].map((senderId) => ({ senderId, cause: 1 })) });
  assert.deepEqual(replies[1], { kind: 'abort', reason: 10, detail: 'client 4 aborted' });
  assert.equal(clients.get(4)!.state, 'aborted');
  assert.equal(clients.get(4)!.abortReason, 10);
  const d5 = deliveries.get(5)! as typeof d1;
  const one = clients.get(5)!.receive({ ...d5, shares: d5.shares.map((s, i) => (i === 0 ? { ...s, ciphertext: s.ciphertext.subarray(0, 10) } : s)) });
  assert.deepEqual(one.map((m) => m.kind), ['share-report', 'masked-input']);
  assert.deepEqual(one[0], { kind: 'share-report', clientId: 5, faults: [{ senderId: 1, cause: 1 }] });
});

test('server: an abort detail over 1024 UTF-8 bytes is cut at a character boundary, ends in "...", and still encodes', () => {
  const { server } = setup();
  // 1019 + 3 x 2 = 1025 bytes: whole characters up to 1021 bytes are kept (one 'é'), then '...'
  const out = server.abort(`${'x'.repeat(1019)}\u00e9\u00e9\u00e9`);
  const detail = server.abortDetail;
  assert.equal(detail, `${'x'.repeat(1019)}\u00e9...`);
  assert.ok(new TextEncoder().encode(detail).length <= 1024);
  assert.equal(out.sends.length, N);
  for (const s of out.sends) {
    assert.equal(s.message.kind === 'abort' && s.message.detail, detail);
    assert.doesNotThrow(() => encodeMessage(s.message));
  }
  assert.equal(clipDetail('short'), 'short');
});
