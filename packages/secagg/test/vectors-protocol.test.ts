// The protocol vector kinds added for faulty members and conformance: transcript-faults,
// decode-errors, server-rejections, client-aborts. Each is generated from the implementation,
// verifies, and fails on an altered verdict.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ready } from '../src/crypto/index.js';
import { seededRng } from '../src/rng.js';
import { decodeMessage, type SimulationOutcome } from '../src/protocol/index.js';
import { loadVectorKinds, vectorKind, vectorKindRng, type Vector } from '../src/vectors/index.js';
import { checkCulprits, FAULT_SCENARIOS, generateFaultTranscriptVectors, verifyTranscript } from '../src/vectors/transcripts.js';

await ready();
await loadVectorKinds();

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const generated = async (kind: string): Promise<Vector[]> => clone(await vectorKind(kind)!.generate(vectorKindRng(kind)));

test('transcript-faults: every scenario completes or aborts as its description says, with the culprits named', async () => {
  const vectors = clone(await generateFaultTranscriptVectors(seededRng(new Uint8Array(32).fill(0x3c))));
  assert.deepEqual(vectors.map((v) => v.name), FAULT_SCENARIOS.map((s) => s.name));
  for (const v of vectors) verifyTranscript(v, FAULT_SCENARIOS);
  const outcome = (name: string) => vectors.find((v) => v.name === name)!.outcome as Record<string, unknown>;
  assert.deepEqual(outcome('faults-bad-share-corrected').faults, [{ id: 5, kind: 'unmask-shares', owners: [1] }]);
  assert.deepEqual(outcome('faults-bad-share-corrected').survivors, [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(outcome('faults-bad-key-share-located').faults, [{ id: 2, kind: 'unmask-shares', owners: [5] }]);
  assert.equal(outcome('faults-bad-share-abort').abort_reason, 'INCONSISTENT_SHARES');
  assert.match(outcome('faults-bad-share-abort').abort_detail as string, /from holders 1,2,3,4 /);
  assert.deepEqual(outcome('faults-share-not-in-field').faults, [{ id: 3, kind: 'invalid-message', message: 'unmask-response' }]);
  assert.deepEqual(outcome('faults-share-not-in-field').survivors, [1, 2, 3, 4, 5]);
  assert.deepEqual(outcome('faults-garbage-ciphertexts').dropped, [2]);
  assert.equal(outcome('faults-garbage-ciphertexts-abort').abort_reason, 'TOO_FEW_MASKED_INPUTS');
  assert.deepEqual(outcome('faults-garbage-ciphertexts-abort').client_aborts, [1, 3].map((id) => ({ id, abort_reason: 'SHARE_DECRYPTION_FAILED', abort_code: 10 })));
  assert.deepEqual((outcome('faults-active-garbage-and-bad-share').faults as { id: number }[]).map((f) => f.id), [1, 6]);
  // the garbage transcripts carry share-reports, sent just before the reporter's masked input
  const garbage = vectors.find((v) => v.name === 'faults-garbage-ciphertexts')!;
  const types = (garbage.messages as { from: number; type: string }[]).filter((m) => m.from === 3).map((m) => m.type);
  assert.deepEqual(types, ['advertise-keys', 'share-keys', 'share-report', 'masked-input', 'unmask-response']);
});

test('checkCulprits: a completed round that does not name a faulty member, or keeps a garbage sender, is refused', () => {
  const result = (faulty: number[], survivors: number[]) => ({ result: { sum: new Uint32Array(1), survivors, dropped: [], faulty, faults: [] }, server: { abortDetail: '' } }) as unknown as Pick<SimulationOutcome, 'result' | 'server'>;
  const garbage = new Map([[2, { corrupts: 'share-ciphertexts', how: 'flip-last-byte' } as const]]);
  assert.doesNotThrow(() => checkCulprits(garbage, result([2], [1, 3])));
  assert.throws(() => checkCulprits(garbage, result([], [1, 3])), /client 2 in faulty/);
  assert.throws(() => checkCulprits(garbage, result([2], [1, 2, 3])), /not a survivor/);
  const aborted = (detail: string) => ({ result: null, server: { abortDetail: detail } }) as unknown as Pick<SimulationOutcome, 'result' | 'server'>;
  const bad = new Map([[4, { corrupts: 'unmask-share', owner: 1, how: 'zero' } as const]]);
  assert.doesNotThrow(() => checkCulprits(bad, aborted('b of client 1: the 4 shares from holders 1,2,3,4 do not fit')));
  assert.throws(() => checkCulprits(bad, aborted('b of client 1: the 3 shares from holders 1,2,3 do not fit')), /names client 4/);
});

test('decode-errors: every vector raises its code; another code fails verification', async () => {
  const def = vectorKind('decode-errors')!;
  const vectors = await generated('decode-errors');
  assert.ok(vectors.length >= 40);
  const codes = new Set(vectors.map((v) => v.expect_error));
  for (const code of ['TRUNCATED', 'MAGIC', 'VERSION', 'TYPE', 'FIELD', 'LIMIT', 'ORDER', 'NONCANONICAL', 'UTF8', 'TRAILING']) assert.ok(codes.has(`ERR_DECODE_${code}`), code);
  for (const v of vectors) await def.verify(v);
  const wrong = { ...vectors.find((v) => v.name === 'share-report-empty')!, expect_error: 'ERR_DECODE_FIELD' };
  await assert.rejects(async () => def.verify(wrong), /expect_error/);
});

test('server-rejections: each refused message names its sender and leaves the server as it was; a wrong code fails', async () => {
  const def = vectorKind('server-rejections')!;
  const vectors = await generated('server-rejections');
  for (const v of vectors) await def.verify(v);
  const byName = new Map(vectors.map((v) => [v.name, v]));
  assert.equal(byName.get('unmask-share-not-in-field')!.expect_error, 'ERR_INVALID_MESSAGE');
  assert.equal(byName.get('share-report-after-masked-input')!.expect_error, 'ERR_UNEXPECTED_MESSAGE');
  assert.equal(byName.get('masked-input-after-close')!.expect_error, 'ERR_LATE_MESSAGE');
  // the steps are a real session: the masked-input-after-close one closes three rounds
  assert.equal((byName.get('masked-input-after-close')!.steps as { op: string }[]).filter((s) => s.op === 'close').length, 3);
  await assert.rejects(async () => def.verify({ ...byName.get('advertise-twice')!, expect_error: 'ERR_INVALID_MESSAGE' }), /expect_error/);
  // a step the server refuses is caught and named
  const broken = clone(byName.get('masked-input-after-close')!);
  (broken.steps as { hex: string }[])[0]!.hex = (broken.steps as { hex: string }[])[1]!.hex;
  await assert.rejects(async () => def.verify(broken), /steps/);
});

test('client-aborts: a fresh client fed the recorded server messages sends exactly the recorded messages, its abort last', async () => {
  const def = vectorKind('client-aborts')!;
  const vectors = await generated('client-aborts');
  for (const v of vectors) {
    await def.verify(v);
    const sent = (v.client_messages as { hex: string }[]).map((m) => decodeMessage(Uint8Array.from(Buffer.from(m.hex, 'hex'))));
    const last = sent.at(-1)!;
    assert.equal(last.kind, 'abort', v.name);
    assert.equal(last.kind === 'abort' && last.reason, v.abort_code, v.name);
    assert.equal(last.kind === 'abort' && last.detail, `client ${v.target as number} aborted`);
    assert.ok(!sent.some((m) => m.kind === 'unmask-response'), `${v.name}: nothing revealed`);
  }
  const spoiled = vectors.find((v) => v.name === 'share-delivery-all-spoiled')!;
  assert.deepEqual((spoiled.client_messages as { type: string }[]).map((m) => m.type), ['advertise-keys', 'share-keys', 'share-report', 'abort']);
  // an altered server message changes what the client does
  const altered = clone(vectors.find((v) => v.name === 'survivors-without-self')!);
  const msgs = altered.server_messages as { hex: string }[];
  msgs[1]!.hex = msgs[1]!.hex.slice(0, -2) + (msgs[1]!.hex.endsWith('00') ? '01' : '00');
  await assert.rejects(async () => def.verify(altered));
});
