import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRoundConfig } from '../src/round-config.js';
import { TransportError } from '../src/errors.js';

const good = () => ({
  federationId: 'fed',
  round: 3,
  model: { kind: 'mlp', inputShape: [4], hidden: [2], numClasses: 2 },
  paramCount: 16,
  algorithm: { name: 'fedavg', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } },
  trainSeed: 5,
  encoding: { kind: 'quantize', bits: 32, maxClients: 4, elementClip: 1, maxWeight: 100 },
  aggregation: { mode: 'secagg', vectorLength: 17, bits: 32, secagg: { sessionNonce: 'ab'.repeat(32), clientIds: [1, 2, 3], threshold: 2, degree: 0, mode: 'semi-honest' } },
  trainingMs: 1000,
  federation: {
    rounds: 10,
    aggregation: { mode: 'auto', security: 'semi-honest', minClients: 3, minAggregate: 3 },
    dp: { unit: 'client', epsilonBudget: 8, delta: 1e-5, noiseMultiplier: 1.5, l2Clip: 1 } as null | Record<string, unknown>,
  },
});
const expected = { round: 3, paramCount: 16, federationId: 'fed', participantId: 2 };

function code(mutate: (c: ReturnType<typeof good>) => void, exp = expected): string {
  const c = good();
  mutate(c);
  try {
    parseRoundConfig(c as never, exp);
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof TransportError);
    return `${e.code} ${e.message}`;
  }
}

test('a valid round config parses', () => {
  const c = parseRoundConfig(good() as never, expected);
  assert.equal(c.aggregation.secagg!.threshold, 2);
  assert.equal(c.encoding.kind, 'quantize');
  assert.deepEqual(c.federation.aggregation, { mode: 'auto', security: 'semi-honest', minClients: 3, minAggregate: 3 });
  assert.equal(c.federation.dp?.epsilonBudget, 8);
});

test('every invalid field is refused with its name', () => {
  assert.match(code((c) => (c.round = 4)), /^ERR_ROUND_MISMATCH/);
  assert.match(code((c) => (c.paramCount = 15)), /^ERR_VECTOR_LENGTH/);
  assert.match(code((c) => (c.federationId = 'other')), /^ERR_BAD_PAYLOAD .*federationId/);
  assert.match(code((c) => (c.encoding.bits = 64)), /encoding.bits/);
  assert.match(code((c) => ((c.encoding as { kind: string }).kind = 'zip')), /encoding.kind/);
  assert.match(code((c) => (c.aggregation.secagg.sessionNonce = 'zz')), /sessionNonce/);
  assert.match(code((c) => (c.aggregation.secagg.clientIds = [1, 3, 4])), /clientIds: expected to contain this client's id 2/);
  assert.match(code((c) => (c.aggregation.secagg.clientIds = [1, 2.5] as number[])), /clientIds\[1\]/);
  assert.match(code((c) => ((c.aggregation as { mode: string }).mode = 'magic')), /aggregation.mode/);
  assert.match(code((c) => ((c.aggregation.secagg as { mode: string }).mode = 'active')), /identities/);
  assert.match(code((c) => ((c as { model: unknown }).model = [1])), /model/);
  assert.match(code((c) => (c.trainingMs = 0)), /trainingMs/);
  assert.match(code((c) => ((c as { federation?: unknown }).federation = undefined)), /federation\.\(root\): expected an object/);
  assert.match(code((c) => (c.federation.aggregation.minAggregate = 1)), /federation\.aggregation\.minAggregate: expected an integer >= 2/);
  assert.match(code((c) => ((c.federation.aggregation as { security: string }).security = 'none')), /federation\.aggregation\.security/);
  assert.match(code((c) => (c.federation.dp = { unit: 'example' })), /federation\.dp\.unit/);
  assert.match(code((c) => (c.federation.dp = { unit: 'record', mode: 'central', epsilonBudget: 8, delta: 1e-5, noiseMultiplier: 1, l2Clip: 1 })), /federation\.dp\.mode/);
  assert.match(code((c) => (c.federation.dp = { unit: 'record', mode: 'distributed', epsilonBudget: 8, delta: 1e-5, noiseMultiplier: 1, l2Clip: 1, sampleRate: 0.1, localSteps: 3, threshold: 2 })), /federation\.dp\.localSteps/);
  assert.match(code((c) => (c.federation.dp = { unit: 'client', epsilonBudget: -1, delta: 1e-5, noiseMultiplier: 1, l2Clip: 1 })), /federation\.dp\.epsilonBudget/);
  assert.equal(code((c) => (c.federation.dp = null)), 'ok');
});
