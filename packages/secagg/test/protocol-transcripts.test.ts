// Whole-round transcript vectors: deterministic, self-verifying, and any altered byte of
// any message is caught and named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ready } from '../src/crypto/index.js';
import { seededRng } from '../src/rng.js';
import { VectorMismatchError, type Vector } from '../src/vectors/index.js';
import { checkFloors, generateTranscriptVectors, TRANSCRIPT_SCENARIOS, verifyTranscript } from '../src/vectors/transcripts.js';
import { decodeMessage, simulateSession, type SecAggConfig } from '../src/protocol/index.js';

await ready();

const seed = () => seededRng(new Uint8Array(32).fill(0x5a));
const vectors: Vector[] = JSON.parse(JSON.stringify(await generateTranscriptVectors(seed()))) as Vector[];

test('transcripts: one vector per scenario, deterministic, and each verifies', async () => {
  assert.deepEqual(vectors.map((v) => v.name), TRANSCRIPT_SCENARIOS.map((s) => s.name));
  const again = JSON.parse(JSON.stringify(await generateTranscriptVectors(seed()))) as Vector[];
  assert.deepEqual(again, vectors);
  for (const v of vectors) verifyTranscript(v);
});

test('transcripts: outcomes match their scenarios (every dropout phase, SecAgg+, active, abort)', () => {
  const byName = new Map(vectors.map((v) => [v.name, v]));
  const outcome = (name: string) => byName.get(name)!.outcome as Record<string, unknown>;
  assert.deepEqual(outcome('secagg-no-dropout').survivors, [1, 2, 3, 4]);
  assert.deepEqual(outcome('secagg-drop-after-advertise').survivors, [1, 3, 4]);
  assert.deepEqual(outcome('secagg-drop-after-share-keys').survivors, [1, 2, 4]);
  assert.deepEqual(outcome('secagg-drop-after-masked-input').survivors, [1, 2, 3, 4]);
  assert.deepEqual(outcome('secagg-drop-during-unmasking').survivors, [1, 2, 3, 4]);
  assert.deepEqual(outcome('secagg-plus-harary').dropped, [6]);
  assert.deepEqual(outcome('secagg-active').survivors, [1, 2, 3, 4]);
  assert.equal(outcome('secagg-abort-too-few-masked-inputs').abort_reason, 'TOO_FEW_MASKED_INPUTS');
  // SecAgg+: enough survivors overall, too few in one neighbourhood; nobody is asked to reveal
  const thin = byName.get('secagg-plus-abort-neighbourhood')!;
  assert.equal((thin.outcome as Record<string, unknown>).abort_reason, 'NEIGHBOURHOOD_TOO_SMALL');
  assert.ok(!(thin.messages as { type: string }[]).some((m) => m.type === 'unmask-request' || m.type === 'unmask-response'));
  // the SecAgg+ round: share-keys messages carry k = 4 ciphertexts, not n - 1 = 6
  const plus = byName.get('secagg-plus-harary')!;
  const sk = (plus.messages as { type: string; hex: string }[]).find((m) => m.type === 'share-keys')!;
  assert.equal(parseInt(sk.hex.slice(16, 18), 16), 4);
  // the active round has consistency messages; the others do not
  const types = (v: Vector) => new Set((v.messages as { type: string }[]).map((m) => m.type));
  assert.ok(types(byName.get('secagg-active')!).has('consistency-signature'));
  assert.ok(!types(byName.get('secagg-no-dropout')!).has('consistency-request'));
  assert.ok(types(byName.get('secagg-abort-too-few-masked-inputs')!).has('abort'));
});

test('transcripts: the floor scenarios - client 1 refuses U3 below its min_survivors with only its abort; the server floor stops the round before any unmask request', () => {
  const byName = new Map(vectors.map((v) => [v.name, v]));
  type Msg = { from: number; to: number; type: string; hex: string };
  const refused = byName.get('secagg-client-refuses-below-floor')!;
  assert.deepEqual((refused.clients as { id: number; min_survivors?: number }[]).map((c) => c.min_survivors ?? null), [4, null, null, null]);
  assert.deepEqual(refused.outcome, {
    abort_reason: 'TOO_FEW_SURVIVORS', abort_code: 19,
    client_aborts: [{ id: 1, abort_reason: 'TOO_FEW_SURVIVORS', abort_code: 19 }],
  });
  const msgs = refused.messages as Msg[];
  const request = msgs.findIndex((m) => m.from === 0 && m.to === 1 && m.type === 'unmask-request');
  const after = msgs.slice(request + 1).filter((m) => m.from === 1);
  assert.equal(after.length, 1);
  const abort = decodeMessage(Buffer.from(after[0]!.hex, 'hex'));
  assert.equal(abort.kind, 'abort');
  assert.equal(abort.kind === 'abort' && abort.reason, 19);
  // the others did reveal: only the server honouring the refusal kept the sum back
  assert.deepEqual(msgs.filter((m) => m.type === 'unmask-response').map((m) => m.from), [2, 3]);
  const floor = byName.get('secagg-abort-server-floor')!;
  assert.equal(floor.server_min_survivors, 3);
  assert.deepEqual(floor.outcome, { abort_reason: 'TOO_FEW_SURVIVORS', abort_code: 19 });
  assert.ok(!(floor.messages as Msg[]).some((m) => m.type === 'unmask-request' || m.type === 'consistency-request'));
  // scenarios without floors carry none of the new fields
  const plain = byName.get('secagg-no-dropout')!;
  assert.ok(!('server_min_survivors' in plain) && !('client_aborts' in (plain.outcome as object)));
  assert.ok((plain.clients as object[]).every((c) => !('min_survivors' in c)));
});

test('transcripts: the floor check rejects a round where a client shown U3 below its floor revealed, or the server showed U3 below its own', () => {
  // The refusal scenario's round, but run without client 1's floor: it reveals and a sum is released.
  const config: SecAggConfig = { sessionNonce: new Uint8Array(32).fill(3), clientIds: [1, 2, 3, 4], threshold: 2, bits: 32, vectorLength: 4, degree: 0, mode: 'semi-honest' };
  const out = simulateSession({
    config, inputs: new Map([1, 2, 3, 4].map((id) => [id, new Uint32Array(4).fill(id)])),
    clientRng: (id) => seededRng(new Uint8Array(32).fill(id)), dropouts: new Map([[4, 'after-share-keys']]),
  });
  assert.deepEqual(out.result?.survivors, [1, 2, 3]);
  assert.throws(() => checkFloors(new Map([[1, 4]]), null, out), (e: unknown) => e instanceof VectorMismatchError && /client 1 after the unmask-request/.test(e.message) && /unmask-response/.test(e.message));
  assert.throws(() => checkFloors(new Map(), 4, out), (e: unknown) => e instanceof VectorMismatchError && /server_min_survivors 4/.test(e.message));
  // floors the round meets pass
  assert.doesNotThrow(() => checkFloors(new Map([[1, 3]]), 3, out));
});

test('transcripts: altering any single message byte fails verification naming that message', () => {
  const v = structuredClone(vectors.find((x) => x.name === 'secagg-drop-after-share-keys')!);
  const messages = v.messages as { hex: string }[];
  // a sample of positions across the whole transcript (every message would re-run ~100 rounds)
  for (const i of [0, 3, Math.floor(messages.length / 2), messages.length - 1]) {
    const copy = structuredClone(v);
    const m = (copy.messages as { hex: string }[])[i]!;
    const pos = 2 * Math.floor(m.hex.length / 4); // a byte in the middle
    m.hex = m.hex.slice(0, pos) + ((parseInt(m.hex.slice(pos, pos + 2), 16) ^ 0x01).toString(16).padStart(2, '0')) + m.hex.slice(pos + 2);
    assert.throws(() => verifyTranscript(copy), (e: unknown) => e instanceof VectorMismatchError && e.message.includes(`messages[${i}]`), `message ${i}`);
  }
  // altered inputs or seeds change the recomputed messages or the sum
  const seedCopy = structuredClone(v);
  (seedCopy.clients as { rng_seed: string }[])[2]!.rng_seed = '00'.repeat(32);
  assert.throws(() => verifyTranscript(seedCopy), VectorMismatchError);
  const outCopy = structuredClone(v);
  (outCopy.outcome as { sum: string }).sum = '00' + (outCopy.outcome as { sum: string }).sum.slice(2);
  assert.throws(() => verifyTranscript(outCopy), (e: unknown) => e instanceof VectorMismatchError && /outcome/.test(e.message));
  const dropped = structuredClone(v);
  (dropped.messages as unknown[]).pop();
  assert.throws(() => verifyTranscript(dropped), /messages/);
});
