// One rule for the DP numClients: what the server charges a round with (accountedClients
// of the round's plan) equals dpNumClients, which the CLI plans with through
// plannedDpNumClients; and the real Privacy class, driven as the federation drives it,
// stays within a budget planned that way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDdgEncoder, planDdgNoiseMultiplier } from '@fedmeta/dp';
import { planCohort } from '../src/cohort.js';
import { accountedClients, dpNumClients, plannedDpNumClients, Privacy } from '../src/privacy.js';
import { resolveServerOptions } from '../src/validate.js';
import type { AggregationOptions, ServerOptions } from '../src/options.js';

const roster = Array.from({ length: 3 }, (_, i) => ({ name: `c${i}`, publicKey: new Uint8Array(32).fill(i + 1) }));
const options = (aggregation: AggregationOptions | undefined): ServerOptions => ({
  port: 0,
  insecure: true,
  federationId: 'plan',
  roster,
  rounds: 1,
  model: { config: { kind: 'mlp', inputShape: [4], hidden: [3], numClasses: 2 } },
  algorithm: { name: 'fedavg', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } },
  cohort: { minClients: 2, minAggregate: 2 },
  ...(aggregation ? { aggregation } : {}),
});

test('dpNumClients (raw options, server defaults) equals what the federation charges with resolved options', () => {
  const policies: (AggregationOptions | undefined)[] = [
    undefined,
    { mode: 'secagg' },
    { mode: 'secagg+' },
    { mode: 'auto', plusFromClients: 8, dropoutFraction: 0.2 },
    { mode: 'secagg', security: 'active' },
    { mode: 'secagg+', degree: 6, threshold: 3 },
    { mode: 'secagg', threshold: 5 },
    { mode: 'plaintext' },
  ];
  for (const a of policies) {
    const resolved = resolveServerOptions(options(a)).aggregation;
    for (let n = 2; n <= 40; n++) {
      assert.equal(dpNumClients(n, a), accountedClients(planCohort(n, resolved), n), `${JSON.stringify(a)} n=${n}`);
    }
  }
});

test('a DDG round\'s epsilon grows with numClients at a fixed noise multiplier (why the plan takes the largest)', () => {
  const eps = (numClients: number) => createDdgEncoder({ dim: 100, numClients, l2Clip: 1, noiseMultiplier: 1, bits: 10 }).epsilon({ q: 1, steps: 5, delta: 1e-5 });
  const series = [2, 3, 5, 8, 14, 30].map(eps);
  for (let i = 1; i < series.length; i++) assert.ok(series[i]! > series[i - 1]!, series.join(' '));
});

test('the real Privacy, driven as the federation drives it, spends within a budget planned with plannedDpNumClients', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-dp-plan-'));
  try {
    const aggregation: AggregationOptions = { mode: 'auto', plusFromClients: 8 };
    const cohorts = [12, 5, 7, 3, 12, 9];
    const numClients = plannedDpNumClients({ minClients: 3, maxClients: 12 }, aggregation);
    assert.equal(numClients, dpNumClients(7, aggregation), 'the complete graph just below plusFromClients has the largest t');
    const dp = { l2Clip: 1, delta: 1e-5, epsilonBudget: 6, bits: 10 };
    const dim = 100;
    const { noiseMultiplier } = planDdgNoiseMultiplier({ dim, numClients, l2Clip: dp.l2Clip, bits: dp.bits, epsilon: dp.epsilonBudget, delta: dp.delta, q: 1, steps: cohorts.length });
    const privacy = new Privacy({ ...dp, noiseMultiplier }, join(dir, 'ledger.json'), dim);
    privacy.open();
    try {
      const resolved = resolveServerOptions(options(aggregation)).aggregation;
      cohorts.forEach((n, i) => {
        const round = i + 1;
        privacy.encoding(round, accountedClients(planCohort(n, resolved), n));
        const charged = privacy.charge(round);
        assert.ok(charged.ok, `round ${round} (cohort ${n}) hit the hard stop at epsilon ${charged.epsilon}`);
      });
      assert.ok(privacy.spent() <= dp.epsilonBudget);
    } finally {
      privacy.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('plaintext DP rounds are accounted with the floor on a released sum: every sum the round can release holds the planned central noise', () => {
  const resolved = resolveServerOptions(options({ mode: 'plaintext' })).aggregation;
  for (let n = 2; n <= 20; n++) {
    for (let minAggregate = 2; minAggregate <= n; minAggregate++) {
      const numClients = accountedClients(planCohort(n, resolved), n, minAggregate);
      // Each site adds variance (z C)^2 / numClients; a released sum holds at least
      // minAggregate of them (the plaintext aggregator's floor), so at least (z C)^2 in all.
      assert.ok(minAggregate / numClients >= 1, `n ${n}, minAggregate ${minAggregate}: numClients ${numClients}`);
      assert.equal(dpNumClients(n, { mode: 'plaintext' }, minAggregate), numClients);
    }
  }
  assert.equal(plannedDpNumClients({ minClients: 3, maxClients: 12, minAggregate: 4 }, { mode: 'plaintext' }), 4);
  assert.equal(plannedDpNumClients({ minClients: 3, maxClients: 12 }, { mode: 'plaintext' }), 3, 'the floor defaults to minClients, as the server\'s');
});
