// A faithless server: the client machines must catch every manipulation below and
// abort with the registered reason before revealing anything they should not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ed25519Keypair, ready, x25519Keypair } from '../src/crypto/index.js';
import { seededRng } from '../src/rng.js';
import {
  ABORT_REASONS, abortReasonName, decodeMessage, SHARE_FAULT_CAUSES, simulateSession, type DropPoint, type SecAggConfig, type ServerSend, type SimulationOutcome,
} from '../src/protocol/index.js';

await ready();

const ids = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
const rng = (tag: number, id: number) => seededRng(new Uint8Array(32).fill(tag).map((b, i) => (i === 0 ? id : b)));

const N = 6;
const roster = new Map<number, Uint8Array>();
const identities = new Map<number, Uint8Array>();
for (const id of ids(N)) {
  const k = ed25519Keypair(rng(200, id));
  roster.set(id, k.publicKey);
  identities.set(id, k.secretKey);
}
const activeConfig: SecAggConfig = { sessionNonce: new Uint8Array(32).fill(4), clientIds: ids(N), threshold: 4, bits: 32, vectorLength: 8, degree: 0, mode: 'active' };
const honestConfig: SecAggConfig = { ...activeConfig, mode: 'semi-honest', threshold: 3 };

function run(config: SecAggConfig, tamper: (s: ServerSend) => ServerSend | null, dropouts = new Map<number, DropPoint>()): SimulationOutcome {
  const inputs = new Map(ids(N).map((id) => [id, new Uint32Array(8).fill(id)]));
  const active = config.mode === 'active';
  // The faithless server does not check signatures itself (an honest one would reject them first).
  return simulateSession({ config, inputs, clientRng: (id) => rng(1, id), dropouts, tamper, serverChecksSignatures: false, ...(active ? { roster, identities } : {}) });
}

function assertClientAbort(out: SimulationOutcome, id: number, reason: keyof typeof ABORT_REASONS): void {
  const err = out.clientAborts.get(id);
  assert.ok(err, `client ${id} should have aborted with ${reason}`);
  assert.equal(abortReasonName(err.reason), reason, err.message);
  assert.equal(err.code, 'ERR_SECAGG_ABORTED');
  assert.equal(out.clients.get(id)!.state, 'aborted');
}

/** Messages client `id` sent of a kind (decoded from the transcript header type byte). */
function sentKinds(out: SimulationOutcome, id: number): number[] {
  return out.transcript.filter((r) => r.from === id).map((r) => r.bytes[5]!);
}

const rewrite = (kind: string, to: number, f: (m: any) => any) => (s: ServerSend): ServerSend =>
  s.message.kind === kind && s.to === to ? { to: s.to, message: f(s.message) } : s;

test('adversary: active mode - a server that swaps a client key in the forwarded list is caught by the roster signatures', () => {
  const evil = x25519Keypair(rng(66, 0)).publicKey;
  const out = run(activeConfig, rewrite('key-list', 1, (m) => ({
    ...m,
    entries: m.entries.map((e: any) => (e.clientId === 2 ? { ...e, maskingPublicKey: evil } : e)),
  })));
  assertClientAbort(out, 1, 'INVALID_KEY_SIGNATURE');
  assert.ok(!sentKinds(out, 1).includes(0x02), 'client 1 sent no shares');
});

test('adversary: active mode - inconsistent survivor sets are caught by the consistency check', () => {
  // Client 1 is told U3 without client 6 (so it would reveal 6's s_sk share) while the
  // others are told 6 survived (they reveal 6's b share).
  const shrink = (m: any) => ({ ...m, survivors: m.survivors.filter((v: number) => v !== 6) });
  let out = run(activeConfig, rewrite('consistency-request', 1, shrink));
  assertClientAbort(out, 1, 'INCONSISTENT_SURVIVORS');
  assert.ok(!sentKinds(out, 1).includes(0x05), 'client 1 revealed no shares');
  // A cleverer server also sends the shrunken set in the unmask request, with the signatures it has.
  out = run(activeConfig, (s) => rewrite('unmask-request', 1, shrink)(rewrite('consistency-request', 1, shrink)(s)));
  assertClientAbort(out, 1, 'INVALID_CONSISTENCY_SIGNATURES');
  assert.ok(!sentKinds(out, 1).includes(0x05));
  // Dropping signatures below t is caught too.
  out = run(activeConfig, rewrite('unmask-request', 2, (m) => ({ ...m, signatures: m.signatures.slice(0, 3) })));
  assertClientAbort(out, 2, 'INVALID_CONSISTENCY_SIGNATURES');
  // A forged signature.
  out = run(activeConfig, rewrite('unmask-request', 3, (m) => ({
    ...m,
    signatures: m.signatures.map((s: any, i: number) => (i === 0 ? { ...s, signature: s.signature.map((b: number) => b ^ 1) } : s)),
  })));
  assertClientAbort(out, 3, 'INVALID_CONSISTENCY_SIGNATURES');
});

test('adversary: a semi-honest key swap splits the session: client 1 opens no share, reports and leaves; the others finish without it', () => {
  const evil = x25519Keypair(rng(67, 0));
  const out = run(honestConfig, rewrite('key-list', 1, (m) => ({
    ...m,
    entries: m.entries.map((e: any) => (e.clientId === 2 ? { ...e, encryptionPublicKey: evil.publicKey } : e)),
  })));
  // Client 1 derives another session id, so every share it sends or receives fails to open:
  // it reports all its neighbours, then leaves (SHARE_DECRYPTION_FAILED); each of them reports it.
  assertClientAbort(out, 1, 'SHARE_DECRYPTION_FAILED');
  assert.deepEqual(sentKinds(out, 1), [0x01, 0x02, 0x06, 0x7f], 'keys, shares, share-report, abort: no masked input');
  for (const id of [2, 3, 4, 5, 6]) assert.ok(sentKinds(out, id).includes(0x06), `client ${id} reported client 1`);
  assert.ok(out.result, out.server.abortDetail);
  assert.deepEqual(out.result.survivors, [2, 3, 4, 5, 6]);
  assert.deepEqual(out.result.faults, [{ clientId: 1, kind: 'share-reports', reportedBy: [2, 3, 4, 5, 6], reported: [2, 3, 4, 5, 6] }]);
});

test('adversary: the client refuses a survivor it was earlier shown as dropped (no both-shares leak)', () => {
  // The server withholds 5's shares from client 1 (so 1 treats 5 as dropped after AdvertiseKeys)
  // and later lists 5 as a survivor: 1 must not reveal 5's b-share.
  const out = run(honestConfig, rewrite('share-delivery', 1, (m) => ({ ...m, shares: m.shares.filter((s: any) => s.peerId !== 5) })));
  assertClientAbort(out, 1, 'INCONSISTENT_SURVIVORS');
  assert.ok(!sentKinds(out, 1).includes(0x05));
});

test('adversary: malformed key lists are rejected', () => {
  const cases: [string, (m: any) => any, keyof typeof ABORT_REASONS][] = [
    ['own key altered', (m) => ({ ...m, entries: m.entries.map((e: any) => (e.clientId === 1 ? { ...e, maskingPublicKey: x25519Keypair(rng(9, 9)).publicKey } : e)) }), 'INVALID_KEY_LIST'],
    ['self missing', (m) => ({ ...m, entries: m.entries.filter((e: any) => e.clientId !== 1) }), 'INVALID_KEY_LIST'],
    ['unknown id', (m) => ({ ...m, entries: [...m.entries, { ...m.entries[1], clientId: 77, encryptionPublicKey: x25519Keypair(rng(8, 1)).publicKey, maskingPublicKey: x25519Keypair(rng(8, 2)).publicKey }] }), 'INVALID_KEY_LIST'],
    ['duplicate key (reflection)', (m) => ({ ...m, entries: m.entries.map((e: any) => (e.clientId === 2 ? { ...e, maskingPublicKey: m.entries[0].maskingPublicKey } : e)) }), 'INVALID_KEY_LIST'],
    ['low-order key', (m) => ({ ...m, entries: m.entries.map((e: any) => (e.clientId === 3 ? { ...e, encryptionPublicKey: new Uint8Array(32).fill(0).map((_, i) => (i === 0 ? 1 : 0)) } : e)) }), 'INVALID_KEY_LIST'],
    ['too few entries', (m) => ({ ...m, entries: m.entries.slice(0, 2) }), 'INVALID_KEY_LIST'],
    ['signature in semi-honest mode', (m) => ({ ...m, entries: m.entries.map((e: any) => ({ ...e, signature: new Uint8Array(64) })) }), 'INVALID_KEY_LIST'],
  ];
  for (const [name, f, reason] of cases) {
    const out = run(honestConfig, rewrite('key-list', 1, f));
    assertClientAbort(out, 1, reason);
    assert.ok(!sentKinds(out, 1).includes(0x02), name);
  }
});

test('adversary: a spoiled share ciphertext is reported, its sender left out of U3 and named; the round completes exactly', () => {
  // The server flips a byte of the ciphertext 2 -> 1. Client 1 cannot tell a spoiled
  // ciphertext from a garbage one: it reports sender 2, which is left out like a dropout.
  const flip = (m: any) => ({ ...m, shares: m.shares.map((s: any, i: number) => (i === 0 ? { ...s, ciphertext: s.ciphertext.map((b: number, j: number) => (j === 40 ? b ^ 1 : b)) } : s)) });
  const out = run(honestConfig, rewrite('share-delivery', 1, flip));
  assert.equal(out.clientAborts.size, 0);
  assert.ok(out.result, out.server.abortDetail);
  assert.deepEqual(out.result.survivors, [1, 3, 4, 5, 6]);
  assert.deepEqual(out.result.sum, new Uint32Array(8).fill(1 + 3 + 4 + 5 + 6));
  assert.deepEqual(out.result.faults, [{ clientId: 2, kind: 'share-reports', reportedBy: [1], reported: [] }]);
});

test('adversary: tampered, misaddressed or foreign share deliveries are rejected', () => {
  // The ciphertext 2 -> 1 relabelled as coming from 3: AEAD associated data binds the sender,
  // so client 1 reports 3; and 2, listed as a survivor though it delivered 1 nothing, is refused.
  const relabel = (m: any) => ({ ...m, shares: m.shares.filter((s: any) => s.peerId !== 3).map((s: any) => (s.peerId === 2 ? { ...s, peerId: 3 } : s)) });
  const relabelled = run(honestConfig, rewrite('share-delivery', 1, relabel));
  const report = relabelled.transcript.find((r) => r.from === 1 && r.bytes[5] === 0x06)!;
  assert.deepEqual(decodeMessage(report.bytes), { kind: 'share-report', clientId: 1, faults: [{ senderId: 3, cause: SHARE_FAULT_CAUSES.UNOPENABLE }] });
  assertClientAbort(relabelled, 1, 'INCONSISTENT_SURVIVORS');
  assert.ok(!sentKinds(relabelled, 1).includes(0x05));
  assertClientAbort(run(honestConfig, rewrite('share-delivery', 1, (m) => ({ ...m, recipientId: 2 }))), 1, 'INVALID_SHARE_DELIVERY');
  assertClientAbort(run(honestConfig, rewrite('share-delivery', 1, (m) => ({ ...m, shares: m.shares.slice(0, 1) }))), 1, 'NEIGHBOURHOOD_TOO_SMALL');
  // SecAgg+: a share from a non-neighbour
  const plus: SecAggConfig = { ...honestConfig, clientIds: ids(N), degree: 2, threshold: 2 };
  let nonNeighbour = 0;
  const out = run(plus, (s) => {
    if (s.message.kind === 'share-delivery' && s.to === 1) {
      const have = new Set(s.message.shares.map((x) => x.peerId));
      nonNeighbour = ids(N).find((v) => v !== 1 && !have.has(v))!;
      const extra = { peerId: nonNeighbour, ciphertext: s.message.shares[0]!.ciphertext };
      return { to: 1, message: { ...s.message, shares: [...s.message.shares, extra].sort((a, b) => a.peerId - b.peerId) } };
    }
    return s;
  });
  assert.ok(nonNeighbour > 0);
  assertClientAbort(out, 1, 'INVALID_SHARE_DELIVERY');
});

test('adversary: malformed survivor sets and out-of-order messages are rejected', () => {
  const cases: [string, (s: ServerSend) => ServerSend | null, keyof typeof ABORT_REASONS][] = [
    ['self missing', rewrite('unmask-request', 1, (m) => ({ ...m, survivors: m.survivors.filter((v: number) => v !== 1) })), 'INCONSISTENT_SURVIVORS'],
    ['unknown survivor', rewrite('unmask-request', 1, (m) => ({ ...m, survivors: [...m.survivors, 99] })), 'INCONSISTENT_SURVIVORS'],
    ['too few survivors', rewrite('unmask-request', 1, (m) => ({ ...m, survivors: [1, 2] })), 'INCONSISTENT_SURVIVORS'],
    ['signatures in semi-honest mode', rewrite('unmask-request', 1, (m) => ({ ...m, signatures: [{ clientId: 1, signature: new Uint8Array(64) }] })), 'PROTOCOL_VIOLATION'],
    ['consistency request in semi-honest mode', rewrite('unmask-request', 1, (m) => ({ kind: 'consistency-request', survivors: m.survivors })), 'PROTOCOL_VIOLATION'],
    ['key list twice', rewrite('share-delivery', 1, () => ({ kind: 'key-list', entries: [] })), 'PROTOCOL_VIOLATION'],
  ];
  for (const [name, tamper, reason] of cases) {
    const out = run(honestConfig, tamper);
    assertClientAbort(out, 1, reason);
    assert.ok(!sentKinds(out, 1).includes(0x05), name);
  }
});

test('adversary: clients that abort tell the server, and the round degrades like a dropout', () => {
  const out = run(honestConfig, rewrite('key-list', 1, (m) => ({ ...m, entries: m.entries.filter((e: any) => e.clientId !== 1) })));
  // client 1's abort message reached the server (type 0x7f) and the others completed without it
  assert.ok(sentKinds(out, 1).includes(0x7f));
  assert.ok(out.result);
  assert.deepEqual(out.result.survivors, [2, 3, 4, 5, 6]);
});

// SecAgg+ (Bell et al.): every threshold check is per neighbourhood. n = 10, k = 4, so each
// client has 5 share holders (itself and 4 neighbours), t = 3 (2t > 5 for active mode).
const SPARSE_N = 10;
const sparseRoster = new Map<number, Uint8Array>();
const sparseIdentities = new Map<number, Uint8Array>();
for (const id of ids(SPARSE_N)) {
  const k = ed25519Keypair(rng(201, id));
  sparseRoster.set(id, k.publicKey);
  sparseIdentities.set(id, k.secretKey);
}
const sparseConfig = (mode: SecAggConfig['mode']): SecAggConfig => ({
  sessionNonce: new Uint8Array(32).fill(5), clientIds: ids(SPARSE_N), threshold: 3, bits: 32, vectorLength: 8, degree: 4, mode,
});
function runSparse(config: SecAggConfig, opts: { tamper?: (s: ServerSend) => ServerSend | null; dropouts?: Map<number, DropPoint> } = {}): SimulationOutcome {
  const inputs = new Map(ids(SPARSE_N).map((id) => [id, new Uint32Array(8).fill(id)]));
  return simulateSession({
    config, inputs, clientRng: (id) => rng(2, id), serverChecksSignatures: false,
    ...(config.mode === 'active' ? { roster: sparseRoster, identities: sparseIdentities } : {}),
    ...(opts.tamper ? { tamper: opts.tamper } : {}), ...(opts.dropouts ? { dropouts: opts.dropouts } : {}),
  });
}
/** Every client's neighbours, as the share deliveries of an honest run show them. */
function sparseNeighbours(config: SecAggConfig): Map<number, number[]> {
  const seen = new Map<number, number[]>();
  const out = runSparse(config, { tamper: (s) => (s.message.kind === 'share-delivery' && seen.set(s.to, s.message.shares.map((x) => x.peerId)), s) });
  assert.ok(out.result, 'the honest run completes');
  assert.ok([...seen.values()].every((n) => n.length === 4));
  return seen;
}
const neighboursOfOne = (config: SecAggConfig): number[] => sparseNeighbours(config).get(1)!;

test('adversary (SecAgg+): a client refuses a survivor set that keeps fewer than t of its own holders', () => {
  const config = sparseConfig('semi-honest');
  const near = neighboursOfOne(config);
  // U3 without client 1's neighbours still has 6 >= t members, but only client 1 of its own
  // holders: it would reveal the s_sk shares of all four neighbours for nothing.
  const out = runSparse(config, { tamper: rewrite('unmask-request', 1, (m) => ({ ...m, survivors: m.survivors.filter((v: number) => !near.includes(v)) })) });
  assertClientAbort(out, 1, 'NEIGHBOURHOOD_TOO_SMALL');
  assert.ok(!sentKinds(out, 1).includes(0x05), 'client 1 revealed no shares');
});

test('adversary (SecAgg+, active): consistency signatures count only from the client\'s own holders', () => {
  const config = sparseConfig('active');
  const near = neighboursOfOne(config);
  // Seven valid signatures over the right U3, none from client 1's neighbourhood.
  const out = runSparse(config, { tamper: rewrite('unmask-request', 1, (m) => ({ ...m, signatures: m.signatures.filter((s: any) => s.clientId !== 1 && !near.includes(s.clientId)) })) });
  assertClientAbort(out, 1, 'INVALID_CONSISTENCY_SIGNATURES');
  assert.ok(!sentKinds(out, 1).includes(0x05), 'client 1 revealed no shares');
  assert.match(out.clientAborts.get(1)!.message, /from this client's share holders/);
});

test('SecAgg+ server: it aborts as soon as a survivor keeps fewer than t holders among U3, then among the signers', () => {
  for (const [mode, point, closing] of [['semi-honest', 'after-share-keys', 'masked-input'], ['active', 'after-masked-input', 'consistency-check']] as const) {
    const config = sparseConfig(mode);
    const near = neighboursOfOne(config);
    // Three of client 1's four neighbours leave: |U3| (or |U4|) = 7 >= t, but client 1 keeps 2 holders.
    const out = runSparse(config, { dropouts: new Map(near.slice(0, 3).map((v) => [v, point])) });
    assert.equal(out.result, null);
    assert.equal(out.serverAbortReason, ABORT_REASONS.NEIGHBOURHOOD_TOO_SMALL, `${mode}: closing ${closing}`);
    assert.ok(ids(SPARSE_N).every((id) => !sentKinds(out, id).includes(0x05)), `${mode}: nobody was asked to reveal`);
    assert.match(out.server.abortDetail, /survivor 1 keeps 2 share holders|client 1 has 2 signing share holders/);
  }
});

test('SecAgg+ server: it aborts before Unmasking when a dropped client\'s s_sk could not be rebuilt from U3', () => {
  const config = sparseConfig('semi-honest');
  const near = sparseNeighbours(config);
  // Client 1 and two of its neighbours that share no other neighbour with both of them drop
  // after ShareKeys: every survivor keeps >= t holders, but client 1 keeps only 2 in U3.
  const [a, b] = near.get(1)!.flatMap((x, i, all) => all.slice(i + 1).map((y) => [x, y] as const))
    .find(([x, y]) => !near.get(x)!.includes(y) && ids(SPARSE_N).every((u) => [1, x, y].includes(u) || ![1, x, y].every((d) => near.get(u)!.includes(d))))!;
  const out = runSparse(config, { dropouts: new Map([1, a, b].map((v) => [v, 'after-share-keys'])) });
  assert.equal(out.serverAbortReason, ABORT_REASONS.NEIGHBOURHOOD_TOO_SMALL);
  assert.match(out.server.abortDetail, /dropped client 1 keeps 2 share holders in U3/);
  assert.ok(ids(SPARSE_N).every((id) => !sentKinds(out, id).includes(0x05)), 'nobody was asked to reveal');
});
