import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planCohort, sampleCohort } from '../src/cohort.js';
import { defaultMinAggregate, resolveServerOptions } from '../src/validate.js';
import { ServerError } from '../src/errors.js';
import { Roster, checkAuth } from '../src/auth.js';
import { startServer } from '../src/server.js';
import { ed25519Keypair, ed25519Sign, systemRng } from '@fedmeta/secagg';
import { authTranscript, TransportError } from '@fedmeta/transport';

const agg = (o: object) => resolveServerOptions(base({ aggregation: o })).aggregation;
function base(extra: object = {}) {
  const k = ed25519Keypair(systemRng);
  const k2 = ed25519Keypair(systemRng);
  return {
    port: 0,
    insecure: true,
    federationId: 'f',
    roster: [{ name: 'a', publicKey: k.publicKey }, { name: 'b', publicKey: k2.publicKey }],
    rounds: 1,
    model: { config: { kind: 'mlp', inputShape: [4], hidden: [2], numClasses: 2 } },
    algorithm: { name: 'fedavg', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } },
    cohort: { minClients: 2, minAggregate: 2 },
    ...extra,
  };
}

test('planCohort: plaintext, classic thresholds, SecAgg+ from the finder or an explicit degree', () => {
  assert.deepEqual(planCohort(10, agg({ mode: 'plaintext' })), { mode: 'plaintext', degree: 0, threshold: 0 });
  assert.deepEqual(planCohort(6, agg({ mode: 'secagg' })), { mode: 'secagg', degree: 0, threshold: 5 });
  assert.deepEqual(planCohort(2, agg({ mode: 'secagg' })), { mode: 'secagg', degree: 0, threshold: 2 });
  // auto below plusFromClients -> classic
  assert.equal(planCohort(10, agg({ mode: 'auto' })).mode, 'secagg');
  // explicit degree
  assert.deepEqual(planCohort(10, agg({ mode: 'secagg+', degree: 4, threshold: 3 })), { mode: 'secagg+', degree: 4, threshold: 3 });
  // a degree that is the complete graph falls back to classic
  assert.equal(planCohort(5, agg({ mode: 'secagg+', degree: 4 })).mode, 'secagg');
  // active mode raises a threshold to > holders / 2; thresholds never exceed the holders
  assert.equal(planCohort(10, agg({ mode: 'secagg+', degree: 4, threshold: 2, security: 'active' })).threshold, 3);
  assert.equal(planCohort(4, agg({ mode: 'secagg', threshold: 9 })).threshold, 4);
  // large cohort: the parameter finder gives k < n - 1
  const big = planCohort(1000, agg({ mode: 'auto', dropoutFraction: 0.05, corruptFraction: 0.05 }));
  assert.equal(big.mode, 'secagg+');
  assert.ok(big.degree > 0 && big.degree < 999 && big.threshold >= 2 && big.threshold <= big.degree + 1, JSON.stringify(big));
});

test('sampleCohort is deterministic per (seed, round), bounded, and without repeats', () => {
  const all = Array.from({ length: 50 }, (_, i) => i);
  const a = sampleCohort(all, 10, 3, 7);
  assert.deepEqual(a, sampleCohort(all, 10, 3, 7));
  assert.notDeepEqual(a, sampleCohort(all, 10, 3, 8));
  assert.equal(new Set(a).size, 10);
  assert.deepEqual(sampleCohort([1, 2], 10, 1, 1), [1, 2]);
});

test('option errors name the option', () => {
  const bad = (extra: object, re: RegExp) =>
    assert.throws(() => resolveServerOptions(base(extra) as never), (e: unknown) => e instanceof ServerError && e.code === 'ERR_SERVER_CONFIG' && re.test(e.message));
  bad({ rounds: 0 }, /^ERR_SERVER_CONFIG: rounds/);
  bad({ port: 70000 }, /port/);
  bad({ cohort: { minClients: 1 } }, /cohort.minClients/);
  bad({ cohort: { minClients: 3 } }, /cohort.minClients: expected at most the roster size/);
  bad({ aggregation: { mode: 'fast' } }, /aggregation.mode/);
  bad({ aggregation: { degree: 3 } }, /aggregation.degree/);
  bad({ dp: { l2Clip: 1, noiseMultiplier: 1, delta: 1e-5, epsilonBudget: 1 } }, /dp.ledgerPath/);
  bad({ roster: [] }, /roster/);
  bad({ deadlines: { trainingMs: -1 } }, /deadlines.trainingMs/);
  bad({ cohort: { minClients: 2, minAggregate: 1 } }, /cohort.minAggregate: expected an integer >= 2/);
  // The default floor of 3 cannot be met by a roster of 2: say so, and how to opt in to 2.
  bad({ cohort: { minClients: 2 } }, /cohort.minAggregate: 3 \(the default: at least 3 with SecAgg.*exceeds the roster's 2 members.*set cohort.minAggregate: 2 explicitly/);
});

test('the floor on a released sum: minClients, never below 3 with masking unless set explicitly', () => {
  assert.equal(defaultMinAggregate(2, 'auto'), 3);
  assert.equal(defaultMinAggregate(2, 'secagg+'), 3);
  assert.equal(defaultMinAggregate(5, 'secagg'), 5);
  assert.equal(defaultMinAggregate(2, 'plaintext'), 2);
  assert.equal(resolveServerOptions(base({ cohort: { minClients: 2, minAggregate: 2 } }) as never).cohort.minAggregate, 2);
  assert.equal(resolveServerOptions(base({ cohort: { minClients: 2 }, aggregation: { mode: 'plaintext' } }) as never).cohort.minAggregate, 2);
});

test('roster and challenge-response: unknown, revoked, bad signature, ok', () => {
  const ok = ed25519Keypair(systemRng);
  const rev = ed25519Keypair(systemRng);
  const stranger = ed25519Keypair(systemRng);
  const roster = new Roster([{ name: 'ok', publicKey: ok.publicKey }, { name: 'rev', publicKey: rev.publicKey, revoked: true }]);
  assert.throws(() => new Roster([{ name: 'x', publicKey: ok.publicKey }, { name: 'y', publicKey: ok.publicKey }]), /duplicates/);
  const nonce = new Uint8Array(32).fill(9);
  const cn = new Uint8Array(32).fill(4);
  const auth = (k: { publicKey: Uint8Array; secretKey: Uint8Array }, fed = 'f', n = nonce) => ({
    type: 'auth' as const,
    publicKey: k.publicKey,
    clientNonce: cn,
    signature: ed25519Sign(k.secretKey, authTranscript(fed, n, cn, k.publicKey)),
  });
  const code = (fn: () => unknown) => {
    try {
      fn();
      return 'ok';
    } catch (e) {
      return e instanceof TransportError ? e.code : String(e);
    }
  };
  assert.equal(checkAuth(roster, 'f', nonce, auth(ok)).name, 'ok');
  assert.equal(code(() => checkAuth(roster, 'f', nonce, auth(stranger))), 'ERR_AUTH_UNKNOWN_KEY');
  assert.equal(code(() => checkAuth(roster, 'f', nonce, auth(rev))), 'ERR_AUTH_REVOKED');
  assert.equal(code(() => checkAuth(roster, 'f', nonce, auth(ok, 'other-federation'))), 'ERR_AUTH_BAD_SIGNATURE');
  assert.equal(code(() => checkAuth(roster, 'f', nonce, auth(ok, 'f', new Uint8Array(32)))), 'ERR_AUTH_BAD_SIGNATURE');
});

test('planForCohort plans the sampled cohort: min(maxClients, active roster), raised to the start floor, following roster updates', async () => {
  const roster = Array.from({ length: 20 }, (_, i) => ({ name: `m${i}`, publicKey: ed25519Keypair(systemRng).publicKey }));
  const sampled = await startServer({ ...base({ roster, cohort: { minClients: 3, maxClients: 6 } }), backend: 'cpu' });
  try {
    assert.deepEqual(sampled.planForCohort(), sampled.plan(6), 'clients per round below the roster: the cohort of 6');
    assert.equal(sampled.planForCohort().n, 6);
    // Revoking 16 members leaves 4 active: the cohort cannot exceed them.
    sampled.updateRoster(roster.map((e, i) => (i >= 4 ? { ...e, revoked: true } : e)));
    assert.deepEqual(sampled.planForCohort(), sampled.plan(4));
  } finally {
    await sampled.close();
  }
  const whole = await startServer({ ...base({ roster, cohort: { minClients: 3 } }), backend: 'cpu' });
  try {
    assert.deepEqual(whole.planForCohort(), whole.plan(20), 'no clients per round: the whole active roster');
  } finally {
    await whole.close();
  }
  const floor = await startServer({ ...base({ roster, cohort: { minClients: 2, maxClients: 2, minAggregate: 5 } }), backend: 'cpu' });
  try {
    assert.equal(floor.planForCohort().n, 5, 'a cohort is never sampled below max(minClients, minAggregate)');
  } finally {
    await floor.close();
  }
});
