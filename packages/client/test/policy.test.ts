/**
 * The site policy's pure checks against announced settings and round configs: a site that
 * asks for DP (requireDp or maxEpsilon) and a federation whose statistics round releases
 * feature sums without DP noise.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { FederationSettings, RoundConfig } from '@fedmeta/transport';
import { roundViolations, settingsViolations } from '../src/policy.js';

const dp: FederationSettings['dp'] = { unit: 'client', epsilonBudget: 8, delta: 1e-5, noiseMultiplier: 1, l2Clip: 1 };
const settings = (over: Partial<FederationSettings> = {}): FederationSettings => ({
  rounds: 10,
  aggregation: { mode: 'secagg', security: 'semi-honest', minClients: 3, minAggregate: 3 },
  dp,
  ...over,
});

/** A round config of `kind` carrying `federation` (only the fields the policy reads). */
function config(round: number, kind: 'stats' | 'ddg', federation: FederationSettings): RoundConfig {
  return {
    round,
    federation,
    encoding: { kind } as unknown as RoundConfig['encoding'],
    aggregation: { mode: 'secagg', secagg: { clientIds: [1, 2, 3] } } as unknown as RoundConfig['aggregation'],
  } as unknown as RoundConfig;
}

test('a site asking for DP refuses, when announced, a DP federation whose statistics round is not DP, naming allowStatistics', () => {
  const s = settings({ preprocessing: 'federated-standardise' });
  for (const policy of [{ requireDp: true }, { maxEpsilon: 8 }]) {
    const v = settingsViolations(policy, s);
    assert.equal(v.length, 1, JSON.stringify(v));
    assert.match(v[0]!, /statistics round \(federated standardisation\) releases the sites' feature sums without DP noise/);
    assert.match(v[0]!, /client\.policy\.allowStatistics: true/);
    assert.match(v[0]!, /data\.standardise: false/);
  }
  // Without federated standardisation, or with the site's consent, the settings are accepted.
  assert.deepEqual(settingsViolations({ requireDp: true, maxEpsilon: 8 }, settings()), []);
  assert.deepEqual(settingsViolations({ requireDp: true, maxEpsilon: 8, allowStatistics: true }, s), []);
  // A site that does not ask for DP is not concerned.
  assert.deepEqual(settingsViolations({ requireSecAgg: true }, s), []);
});

test('with allowStatistics the statistics round is accepted, and training rounds must still carry DP noise', () => {
  const s = settings({ preprocessing: 'federated-standardise' });
  const policy = { maxEpsilon: 8, allowStatistics: true };
  assert.deepEqual(roundViolations(policy, config(0, 'stats', s)), []);
  assert.deepEqual(roundViolations(policy, config(1, 'ddg', s)), []);
  // A training round without DP noise is refused even so: allowStatistics covers round 0's sums only.
  const v = roundViolations(policy, { ...config(1, 'stats', s), encoding: { kind: 'quantize' } as unknown as RoundConfig['encoding'] });
  assert.match(v.join('\n'), /round 1 carries no DP noise \(encoding quantize\)/);
  // Without the consent the statistics round is refused too (the settings check names the fix).
  assert.match(roundViolations({ maxEpsilon: 8 }, config(0, 'stats', s)).join('\n'), /round 0 carries no DP noise \(encoding stats\)/);
});
