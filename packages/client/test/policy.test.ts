/**
 * The site policy's pure checks against announced settings and round configs: a site that
 * asks for DP (requireDp or maxEpsilon) and a federation whose statistics round releases
 * feature sums without DP noise; and the checks every site applies, policy or not, of each
 * round against the settings it accepted at the welcome (consistencyViolations).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseFederationSettings, TransportError, type FederationSettings, type RecordLevelDpSettings, type RoundConfig } from '@fedmeta/transport';
import { consistencyViolations, describeSettings, guaranteedShares, roundViolations, settingsViolations, weakenedSettings } from '../src/policy.js';

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

/** A DDG training round as the server builds it (privacy.ts encoding(): numClients = the cohort's SecAgg threshold). */
function ddgRound(over: { round?: number; params?: Record<string, unknown>; clientIds?: number[]; threshold?: number; federation?: FederationSettings; mode?: 'secagg' | 'secagg+' | 'plaintext' } = {}): RoundConfig {
  const clientIds = over.clientIds ?? [1, 2, 3, 4, 5];
  const threshold = over.threshold ?? 4;
  const mode = over.mode ?? 'secagg';
  return {
    round: over.round ?? 1,
    federation: over.federation ?? settings(),
    encoding: { kind: 'ddg', params: { dim: 10, numClients: threshold, l2Clip: 1, noiseMultiplier: 1, bits: 32, ...over.params }, roundSeed: '00'.repeat(32) },
    aggregation: { mode, vectorLength: 16, bits: 32, ...(mode === 'plaintext' ? {} : { secagg: { sessionNonce: '00'.repeat(32), clientIds, threshold, degree: 0, mode: 'semi-honest' } }) },
  } as unknown as RoundConfig;
}

test('every site, with or without a policy, refuses a DDG round whose parameters give less privacy than announced', () => {
  const accepted = settings();
  // The round the server sends: z and clip as announced, numClients = t.
  assert.deepEqual(consistencyViolations(accepted, ddgRound()), []);
  assert.deepEqual(consistencyViolations(accepted, ddgRound({ params: { noiseMultiplier: 1.5, l2Clip: 0.5 } })), [], 'more noise, a smaller clip: more privacy');
  const refused = (c: RoundConfig, re: RegExp, policy = {}) => {
    const v = consistencyViolations(accepted, c, policy);
    assert.equal(v.length, 1, JSON.stringify(v));
    assert.match(v[0]!, re);
  };
  refused(ddgRound({ params: { noiseMultiplier: 0.1 } }), /round 1's noise multiplier 0\.1 \(encoding\.params\.noiseMultiplier\) is below the announced 1/);
  refused(ddgRound({ params: { noiseMultiplier: undefined } }), /noise multiplier undefined .* below the announced 1/);
  refused(ddgRound({ params: { l2Clip: 4 } }), /round 1's L2 clip 4 \(encoding\.params\.l2Clip\) is above the announced 1/);
  refused(ddgRound({ params: { localNoiseStddev: 1e-6 } }), /sets each site's noise directly \(encoding\.params\.localNoiseStddev/);
  refused(ddgRound({ params: { noiseStddevPerClient: 1e-6 } }), /sets each site's noise directly/);
  // numClients inflated: each share shrinks, and a sum of 4 survivors carries less than z * clip.
  refused(ddgRound({ params: { numClients: 5 } }), /sizes each site's noise for 5 shares \(encoding\.params\.numClients\), but a released sum is only sure to hold 4/);
  refused(ddgRound({ params: { numClients: 1000 } }), /for 1000 shares/);
  // A site's own floor on survivors is part of the guarantee: with minAggregate 5 its machine unmasks only sums of 5.
  assert.equal(guaranteedShares(accepted, ddgRound({ params: { numClients: 5 } }), { minAggregate: 5 }), 5);
  assert.deepEqual(consistencyViolations(accepted, ddgRound({ params: { numClients: 5 } }), { minAggregate: 5 }), []);
  refused(ddgRound({ round: 11 }), /round 11 is beyond the 10 rounds announced/);
});

test('a DP federation: a training round without its noise, or with noise the federation did not announce, is refused', () => {
  const quantize = { ...ddgRound(), encoding: { kind: 'quantize', bits: 32, maxClients: 5, elementClip: 1, maxWeight: 100 } } as unknown as RoundConfig;
  assert.match(consistencyViolations(settings(), quantize).join('\n'), /round 1 encodes with quantize; the client-level DP this site accepted encodes with ddg/);
  // A DP-off federation and a site with no DP wish: the quantiser is the expected encoding.
  const off = settings({ dp: null });
  assert.deepEqual(consistencyViolations(off, { ...quantize, federation: off } as RoundConfig), []);
  assert.match(consistencyViolations(off, ddgRound({ federation: off })).join('\n'), /client-level DP noise \(ddg\) that the federation did not announce/);
  // In plaintext nothing is masked: numClients is not bounded (the coordinator sees every input), the rest still is.
  const plain = settings({ aggregation: { mode: 'plaintext', security: 'semi-honest', minClients: 3, minAggregate: 3 } });
  assert.deepEqual(consistencyViolations(plain, ddgRound({ mode: 'plaintext', federation: plain, params: { numClients: 5 } })), []);
  assert.match(consistencyViolations(plain, ddgRound({ mode: 'plaintext', federation: plain, params: { noiseMultiplier: 0.5 } })).join('\n'), /below the announced 1/);
});

test('record-level distributed DP: a round whose noise shares are sized for more sites than announced or than a sum holds is refused', () => {
  const record: RecordLevelDpSettings = { unit: 'record', mode: 'distributed', epsilonBudget: 4, delta: 1e-5, noiseMultiplier: 1.2, l2Clip: 1, sampleRate: 0.1, localSteps: 1, threshold: 3, encoding: { dim: 10, bits: 32, scaleBits: 16 } };
  const accepted = settings({ dp: record });
  const round = (params: Record<string, unknown>, threshold = 3, mode: 'secagg' | 'plaintext' = 'secagg') => {
    const c = ddgRound({ federation: accepted, threshold, mode, clientIds: [1, 2, 3, 4] });
    return { ...c, encoding: { kind: 'record-ddg', params: { dim: 10, l2Clip: 1, noiseMultiplier: 1.2, threshold: 3, bits: 32, scaleBits: 16, ...params } } } as unknown as RoundConfig;
  };
  assert.deepEqual(consistencyViolations(accepted, round({})), []);
  assert.match(consistencyViolations(accepted, round({ threshold: 4 }, 4)).join('\n'), /noise share for 4 sites \(encoding\.params\.threshold\), more than the announced 3/);
  assert.match(consistencyViolations(accepted, round({ noiseMultiplier: 0.3 })).join('\n'), /noise multiplier 0\.3 .* below the announced 1\.2/);
  assert.match(consistencyViolations(accepted, round({ l2Clip: 2 })).join('\n'), /L2 clip 2 .* above the announced 1/);
  assert.match(consistencyViolations(accepted, round({}, 3, 'plaintext')).join('\n'), /round 1 is aggregated in plaintext; this site accepted secagg/);
  // A threshold-3 share in a round whose sums may hold 2 (t = 2, floors 2): less noise than planned.
  const low = settings({ dp: record, aggregation: { mode: 'secagg', security: 'semi-honest', minClients: 2, minAggregate: 2 } });
  const c = { ...round({}, 2), federation: low } as RoundConfig;
  assert.match(consistencyViolations(low, c).join('\n'), /noise share for 3 sites \(encoding\.params\.threshold\), but a released sum is only sure to hold 2/);
});

test('every site refuses a round whose own copy of the settings is weaker than what it accepted at the welcome', () => {
  const accepted = settings({ aggregation: { mode: 'secagg', security: 'active', minClients: 5, minAggregate: 5, fullCohort: { clients: 6, threshold: 4, degree: 0 } }, evaluation: { everyRounds: 1, report: 'secure', bins: 10 } });
  assert.deepEqual(weakenedSettings(accepted, accepted, 1), []);
  const cases: [Partial<FederationSettings>, RegExp][] = [
    [{ aggregation: { ...accepted.aggregation, minAggregate: 2 } }, /round 1 announces minAggregate 2, below the 5 this site accepted/],
    [{ aggregation: { ...accepted.aggregation, minClients: 3 } }, /minClients 3, below the 5/],
    [{ aggregation: { ...accepted.aggregation, security: 'semi-honest' } }, /semi-honest secure aggregation; this site accepted active/],
    [{ aggregation: { ...accepted.aggregation, mode: 'plaintext', fullCohort: undefined } }, /aggregation mode plaintext, weaker than the secagg/],
    [{ aggregation: { ...accepted.aggregation, mode: 'secagg+' } }, /aggregation mode secagg\+, weaker than the secagg/],
    [{ aggregation: { ...accepted.aggregation, fullCohort: { clients: 6, threshold: 2, degree: 0 } } }, /threshold 2 \(degree 0\) for a full cohort of 6; this site accepted threshold 4/],
    [{ dp: null }, /no differential privacy; this site accepted client-level DP/],
    [{ dp: { ...dp!, epsilonBudget: 80 } }, /an epsilon budget of 80, above the 8/],
    [{ dp: { ...dp!, noiseMultiplier: 0.5 } }, /a noise multiplier of 0\.5, below the 1/],
    [{ dp: { ...dp!, l2Clip: 3 } }, /an L2 clip of 3, above the 1/],
    [{ dp: { ...dp!, delta: 0.1 } }, /delta 0\.1, above the 0\.00001/],
    [{ rounds: 40 }, /40 rounds; this site accepted 10/],
    [{ preprocessing: 'federated-standardise' }, /a statistics round .* not announced/],
    [{ evaluation: { everyRounds: 1, report: 'per-site', bins: 10 } }, /per-site evaluation reports; this site accepted secure/],
  ];
  for (const [over, re] of cases) {
    const v = weakenedSettings(accepted, { ...accepted, ...over }, 1);
    assert.equal(v.length, 1, `${JSON.stringify(over)}: ${JSON.stringify(v)}`);
    assert.match(v[0]!, re);
  }
  // Stronger is fine: more members, a higher floor, less epsilon, more noise.
  assert.deepEqual(weakenedSettings(accepted, { ...accepted, aggregation: { ...accepted.aggregation, minAggregate: 6 }, dp: { ...dp!, epsilonBudget: 2, noiseMultiplier: 3 } }, 1), []);
  // The round-level check carries it, with no policy at all.
  assert.match(consistencyViolations(accepted, ddgRound({ federation: { ...accepted, aggregation: { ...accepted.aggregation, minAggregate: 2 } }, clientIds: [1, 2, 3, 4, 5, 6] })).join('\n'), /minAggregate 2, below the 5/);
});

test('the announced SecAgg plan of a full cohort: validated, printed, and a round of that size with a lower threshold is refused', () => {
  const raw = (fullCohort: unknown, mode = 'secagg') => ({ rounds: 3, aggregation: { mode, security: 'semi-honest', minClients: 3, minAggregate: 3, fullCohort }, dp: null });
  const parsed = parseFederationSettings(raw({ clients: 5, threshold: 4, degree: 0 }), 'welcome.settings');
  assert.deepEqual(parsed.aggregation.fullCohort, { clients: 5, threshold: 4, degree: 0 });
  assert.equal(parseFederationSettings({ ...raw(undefined) }, 'welcome.settings').aggregation.fullCohort, undefined);
  for (const [bad, field] of [
    [{ clients: 5, threshold: 6, degree: 0 }, 'aggregation.fullCohort.threshold'],
    [{ clients: 40, threshold: 9, degree: 7 }, 'aggregation.fullCohort.threshold'],
    [{ clients: 5, threshold: 1, degree: 0 }, 'aggregation.fullCohort.threshold'],
    [{ clients: 5, threshold: 3, degree: 5 }, 'aggregation.fullCohort.degree'],
    [{ clients: 1, threshold: 2, degree: 0 }, 'aggregation.fullCohort.clients'],
    ['5 of 5', 'aggregation.fullCohort'],
  ] as const) {
    assert.throws(() => parseFederationSettings(raw(bad), 'welcome.settings'), (e: unknown) => e instanceof TransportError && e.code === 'ERR_BAD_PAYLOAD' && e.message.includes(`welcome.settings.${field}:`), JSON.stringify(bad));
  }
  assert.throws(() => parseFederationSettings(raw({ clients: 5, threshold: 4, degree: 0 }, 'plaintext'), 'welcome.settings'), /aggregation\.fullCohort: expected absent with mode 'plaintext'/);
  assert.match(describeSettings(parsed), /, SecAgg threshold 4 of 5 in a full cohort of 5$/);
  assert.match(describeSettings(parseFederationSettings(raw({ clients: 40, threshold: 9, degree: 15 }, 'auto'), 'w')), /SecAgg\+ threshold 9 of 16 \(each member and its 15 neighbours\) in a full cohort of 40$/);
  const accepted = settings({ dp: null, aggregation: { ...parsed.aggregation } });
  const round = (clientIds: number[], threshold: number, degree = 0) =>
    ({ round: 1, federation: accepted, encoding: { kind: 'quantize' }, aggregation: { mode: degree ? 'secagg+' : 'secagg', secagg: { clientIds, threshold, degree, mode: 'semi-honest' } } }) as unknown as RoundConfig;
  assert.deepEqual(consistencyViolations(accepted, round([1, 2, 3, 4, 5], 4)), []);
  assert.match(consistencyViolations(accepted, round([1, 2, 3, 4, 5], 3)).join('\n'), /round 1 unmasks its cohort of 5 with threshold 3, below the announced 4/);
  // Another cohort size: its plan was not announced (t for 4 members is the server's planCohort(4)).
  assert.deepEqual(consistencyViolations(accepted, round([1, 2, 3, 4], 3)), []);
  assert.match(consistencyViolations(accepted, round([1, 2], 2)).join('\n'), /round 1 has a cohort of 2, below the announced minClients 3/);
});
