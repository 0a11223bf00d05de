// Whole-round transcript vectors: deterministic, self-verifying, and any altered byte of
// any message is caught and named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ready } from '../src/crypto/index.js';
import { seededRng } from '../src/rng.js';
import { VectorMismatchError, type Vector } from '../src/vectors/index.js';
import { generateTranscriptVectors, TRANSCRIPT_SCENARIOS, verifyTranscript } from '../src/vectors/transcripts.js';

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
