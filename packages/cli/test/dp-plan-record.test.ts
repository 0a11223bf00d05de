// `fedmeta dp plan --unit record` plans what the runtime uses: the same dp function
// (planRecordLevelSettings) with the same inputs as `fedmeta server` (config/options.ts
// recordDpOptions), so the sigma it prints is the one the coordinator announces and the
// epsilon it prints is what a site's ledger holds after every round is charged as the
// client charges it (record-dp.ts: recordLevelRoundEvent of the announced setting).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSiteLedger, planRecordLevelSettings, recordDdgParams, recordLevelRoundEvent } from '@fedmeta/dp';
import { recordLevelQuery } from '@fedmeta/server';
import type { RecordLevelDpSettings } from '@fedmeta/transport';
import { validate } from '../src/config/schema.js';
import { fedmetaSchema } from '../src/config/fedmeta-schema.js';
import { recordDpOptions } from '../src/config/options.js';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'fedmeta.js');
const dir = mkdtempSync(join(tmpdir(), 'fedmeta-dp-plan-record-'));
const DIM = 62; // a 30-feature, 2-class linear model

function planJson(...args: string[]): Record<string, any> {
  const r = spawnSync(process.execPath, [bin, 'dp', 'plan', '--unit', 'record', ...args, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'exactly one JSON object');
  return JSON.parse(lines[0]!);
}

const config = (mode: 'local' | 'distributed') =>
  validate(fedmetaSchema, {
    server: { rounds: 12, minClients: 3 },
    simulate: { clients: 5 },
    secagg: { mode: 'secagg', bits: 24 },
    meta: { model: 'linear', localSteps: 4 },
    dp: { unit: 'record', mode, epsilon: 3, delta: 1e-5, l2Clip: 0.5, sampleRate: 0.05, ...(mode === 'distributed' ? { expectedBatchSize: 20 } : {}) },
  });

/** The setting the coordinator announces from these server options (server/src/privacy.ts recordLevelSettings). */
function announced(o: Awaited<ReturnType<typeof recordDpOptions>>): RecordLevelDpSettings {
  const r = o.record!;
  const distributed = r.mode === 'distributed';
  const enc = distributed ? recordDdgParams({ dim: DIM, l2Clip: o.l2Clip, noiseMultiplier: o.noiseMultiplier, threshold: r.threshold!, bits: o.bits ?? 32 }) : undefined;
  return {
    unit: 'record', mode: r.mode, epsilonBudget: o.epsilonBudget, delta: o.delta, noiseMultiplier: o.noiseMultiplier, l2Clip: o.l2Clip,
    sampleRate: r.sampleRate, localSteps: r.localSteps!, threshold: r.threshold!,
    ...(distributed ? { expectedBatchSize: r.expectedBatchSize!, encoding: { dim: DIM, bits: enc!.bits, scaleBits: enc!.scaleBits } } : {}),
  };
}

/** Epsilon a site's ledger holds after every round is charged as the client charges it. */
function ledgerEpsilon(s: RecordLevelDpSettings, rounds: number, name: string): number {
  const ledger = openSiteLedger(join(dir, `${name}.jsonl`), { site: name, budget: 100, delta: s.delta, recordLevel: { mode: s.mode, threshold: s.threshold } });
  try {
    let eps = 0;
    for (let round = 1; round <= rounds; round++) eps = ledger.charge({ ...recordLevelRoundEvent(recordLevelQuery(s, rounds), s.noiseMultiplier), round }).epsilon;
    assert.equal(ledger.spent(), eps);
    return eps;
  } finally {
    ledger.close();
  }
}

test('dp plan --unit record, local: the sigma fedmeta server announces and the epsilon a site ledger holds after all rounds', async () => {
  const c = config('local');
  const o = await recordDpOptions(c, DIM);
  const out = planJson('--mode', 'local', '--epsilon', '3', '--delta', '1e-5', '--rounds', '12', '--sample-rate', '0.05', '--local-steps', '4', '--clip', '0.5');
  const plan = planRecordLevelSettings({ mode: 'local', epsilon: 3, delta: 1e-5, l2Clip: 0.5, sampleRate: 0.05, rounds: 12, localSteps: 4, threshold: 1 });
  assert.equal(out.sigma, plan.sigma);
  assert.equal(out.epsilon, plan.epsilon);
  assert.equal(out.sigma, o.noiseMultiplier, 'the noise multiplier recordDpOptions derives from the equivalent config');
  assert.deepEqual(out.roundEvent, { mechanism: 'gaussian', q: 0.05, sigma: plan.sigma, steps: 4 });
  assert.equal(out.steps, 48);
  const held = ledgerEpsilon(announced(o), 12, 'local');
  assert.ok(Math.abs(out.epsilon - held) <= 1e-9 * held, `plan ${out.epsilon}, ledger ${held}`);
  assert.ok(held <= 3);
  // --records/--batch is the same setting as --sample-rate B/N
  const byBatch = planJson('--mode', 'local', '--epsilon', '3', '--delta', '1e-5', '--rounds', '12', '--records', '400', '--batch', '20', '--local-steps', '4', '--clip', '0.5');
  assert.equal(byBatch.sigma, out.sigma);
  assert.equal(byBatch.epsilon, out.epsilon);
});

test('dp plan --unit record, distributed: the discrete Gaussian plan (t, ring bits, dim) fedmeta server uses, and the epsilon a site ledger holds', async () => {
  const c = config('distributed');
  const o = await recordDpOptions(c, DIM);
  const t = o.record!.threshold!;
  assert.equal(t, 3, 'classic SecAgg over 3..5 clients: the fewest shares in a released sum');
  const out = planJson('--mode', 'distributed', '--epsilon', '3', '--delta', '1e-5', '--rounds', '12', '--sample-rate', '0.05', '--threshold', String(t), '--dim', String(DIM), '--bits', '24', '--clip', '0.5');
  const plan = planRecordLevelSettings({ mode: 'distributed', epsilon: 3, delta: 1e-5, l2Clip: 0.5, sampleRate: 0.05, rounds: 12, localSteps: 1, threshold: t, dim: DIM, bits: 24 });
  assert.equal(out.sigma, plan.sigma);
  assert.equal(out.epsilon, plan.epsilon);
  assert.equal(out.sigma, o.noiseMultiplier, 'the noise multiplier recordDpOptions derives from the equivalent config');
  assert.deepEqual(out.roundEvent, plan.roundEvent);
  assert.equal(out.roundEvent.mechanism, 'ddg');
  assert.equal(out.epsilonOwnShareOnly, plan.epsilonOwnShareOnly);
  const s = announced(o);
  assert.deepEqual(out.encoding, s.encoding);
  const held = ledgerEpsilon(s, 12, 'distributed');
  assert.equal(out.epsilon, held, 'the plan recomputes the same events as the ledger');
  assert.ok(held <= 3);
});
