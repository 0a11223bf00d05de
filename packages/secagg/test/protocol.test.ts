// End-to-end properties of the protocol: real client and server machines, real crypto,
// every message through the binary codec; random inputs and random dropout patterns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ready } from '../src/crypto/index.js';
import { ed25519Keypair } from '../src/crypto/index.js';
import { seededRng } from '../src/rng.js';
import {
  ABORT_REASONS, abortReasonName, buildGraph, DROP_POINTS, simulateSession, type AbortReasonName, type DropPoint, type SecAggConfig,
} from '../src/protocol/index.js';

await ready();

const ids = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** Deterministic per-(run, id) randomness: 32-byte seeds from a run seed. */
function rngFor(runSeed: number, id: number) {
  const s = new Uint8Array(32);
  new DataView(s.buffer).setUint32(0, runSeed >>> 0, true);
  new DataView(s.buffer).setUint16(4, id, true);
  return seededRng(s);
}

function randomInputs(clientIds: readonly number[], m: number, bits: number, seed: number): Map<number, Uint32Array> {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
  return new Map(clientIds.map((id) => [id, Uint32Array.from({ length: m }, () => (bits === 32 ? next() : next() % 2 ** bits))]));
}

function plainSum(inputs: ReadonlyMap<number, Uint32Array>, survivors: readonly number[], m: number, bits: number): Uint32Array {
  const out = new Uint32Array(m);
  for (const u of survivors) {
    const x = inputs.get(u)!;
    for (let i = 0; i < m; i++) out[i] = (out[i]! + x[i]!) >>> 0;
  }
  if (bits < 32) for (let i = 0; i < m; i++) out[i] = out[i]! % 2 ** bits;
  return out;
}

/**
 * What the protocol must do for a dropout pattern: the reason it aborts with, or the
 * survivor set U3 whose inputs the sum contains. Derived from the paper's rules, not
 * from the implementation: |U_i| >= t in every round, every client of U2 keeps >= t
 * share holders, every secret the server needs has >= t holders that answer.
 */
export function predict(
  config: SecAggConfig,
  dropouts: ReadonlyMap<number, DropPoint>,
  sessionId: Uint8Array | null,
): { abort: AbortReasonName } | { survivors: number[] } {
  const t = config.threshold;
  const stage = (id: number): number => {
    const p = dropouts.get(id);
    return p === undefined ? 9 : DROP_POINTS.indexOf(p);
  };
  const all = [...config.clientIds].sort((a, b) => a - b);
  const u1 = all.filter((id) => stage(id) >= 1);
  if (u1.length < t) return { abort: 'TOO_FEW_ADVERTISED' };
  const u2 = u1.filter((id) => stage(id) >= 2);
  if (u2.length < t) return { abort: 'TOO_FEW_SHARED' };
  const g = buildGraph(u1, config.degree, sessionId!);
  const in2 = new Set(u2);
  if (u2.some((u) => 1 + g.neighbours(u).filter((v) => in2.has(v)).length < t)) return { abort: 'NEIGHBOURHOOD_TOO_SMALL' };
  const u3 = u2.filter((id) => stage(id) >= 3);
  if (u3.length < t) return { abort: 'TOO_FEW_MASKED_INPUTS' };
  let asked = u3;
  if (config.mode === 'active') {
    asked = u3.filter((id) => stage(id) >= 4);
    if (asked.length < t) return { abort: 'TOO_FEW_SIGNATURES' };
  }
  const u5 = new Set(asked.filter((id) => stage(id) >= 5));
  if (u5.size < t) return { abort: 'TOO_FEW_UNMASK_RESPONSES' };
  const in3 = new Set(u3);
  for (const u of u3) if ([u, ...g.neighbours(u)].filter((v) => u5.has(v)).length < t) return { abort: 'TOO_FEW_SHARES' };
  for (const v of u2) if (!in3.has(v) && g.neighbours(v).filter((x) => u5.has(x)).length < t) return { abort: 'TOO_FEW_SHARES' };
  return { survivors: u3 };
}

const dropArb = fc.option(fc.constantFrom(...DROP_POINTS), { freq: 2 });

function runAndCheck(config: SecAggConfig, dropouts: Map<number, DropPoint>, seed: number, extra: Partial<Parameters<typeof simulateSession>[0]> = {}) {
  const inputs = randomInputs(config.clientIds, config.vectorLength, config.bits, seed);
  const out = simulateSession({ config, inputs, clientRng: (id) => rngFor(seed, id), dropouts, ...extra });
  const expected = predict(config, dropouts, out.server.sessionId);
  if ('survivors' in expected) {
    assert.equal(out.serverAbortReason, null, `unexpected abort ${out.server.abortDetail}`);
    assert.ok(out.result);
    assert.deepEqual(out.result.survivors, expected.survivors);
    assert.deepEqual(out.result.sum, plainSum(inputs, expected.survivors, config.vectorLength, config.bits), 'aggregate bit for bit');
    assert.equal(out.clientAborts.size, 0);
  } else {
    assert.equal(out.result, null, 'nothing released on abort');
    assert.equal(out.server.state, 'aborted');
    assert.equal(abortReasonName(out.serverAbortReason!), expected.abort, out.server.abortDetail);
  }
  return { out, expected };
}

test('protocol: classic SecAgg, random inputs, bits and dropouts in every phase: exact sum or the predicted abort', () => {
  let completed = 0;
  let aborted = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 3, max: 7 }),
      fc.integer({ min: 1, max: 32 }),
      fc.integer({ min: 1, max: 40 }),
      fc.array(dropArb, { minLength: 7, maxLength: 7 }),
      fc.integer(),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (n, bits, m, drops, seed, tFrac) => {
        const t = 2 + Math.floor(tFrac * (n - 1.0001));
        const config: SecAggConfig = { sessionNonce: new Uint8Array(32).fill(7), clientIds: ids(n), threshold: t, bits, vectorLength: m, degree: 0, mode: 'semi-honest' };
        const dropouts = new Map<number, DropPoint>();
        drops.slice(0, n).forEach((d, i) => d !== null && dropouts.set(i + 1, d));
        const { expected } = runAndCheck(config, dropouts, seed);
        if ('survivors' in expected) completed++;
        else aborted++;
      },
    ),
    // fixed seed: the outcome counts below are then deterministic (no flaky threshold)
    { numRuns: 30, endOnFailure: true, seed: 20261123 },
  );
  assert.ok(completed > 5 && aborted > 2, `both outcomes exercised (${completed} completed, ${aborted} aborted)`);
});

test('protocol: up to n - t dropouts spread over every phase always complete (classic SecAgg)', () => {
  const n = 10;
  const t = 4;
  const config: SecAggConfig = { sessionNonce: new Uint8Array(32), clientIds: ids(n), threshold: t, bits: 32, vectorLength: 64, degree: 0, mode: 'semi-honest' };
  // n - t = 6 dropouts: one or two in each phase
  const dropouts = new Map<number, DropPoint>([
    [2, 'before-advertise'], [3, 'after-advertise'], [5, 'after-share-keys'], [6, 'after-share-keys'], [8, 'after-masked-input'], [10, 'during-unmasking'],
  ]);
  const { out } = runAndCheck(config, dropouts, 1);
  assert.deepEqual(out.result!.survivors, [1, 4, 7, 8, 9, 10]);
  assert.deepEqual(out.result!.dropped, [2, 3, 5, 6]);
});

test('protocol: t - 1 survivors abort with the reason of the phase where the round fell below t', () => {
  const n = 6;
  const t = 4;
  const cases: [DropPoint, AbortReasonName][] = [
    ['before-advertise', 'TOO_FEW_ADVERTISED'],
    ['after-advertise', 'TOO_FEW_SHARED'],
    ['after-share-keys', 'TOO_FEW_MASKED_INPUTS'],
    ['after-masked-input', 'TOO_FEW_UNMASK_RESPONSES'],
    ['during-unmasking', 'TOO_FEW_UNMASK_RESPONSES'],
  ];
  for (const [point, reason] of cases) {
    const config: SecAggConfig = { sessionNonce: new Uint8Array(32), clientIds: ids(n), threshold: t, bits: 16, vectorLength: 8, degree: 0, mode: 'semi-honest' };
    const dropouts = new Map<number, DropPoint>([[1, point], [4, point], [6, point]]); // 3 survivors = t - 1
    const { out } = runAndCheck(config, dropouts, 2);
    assert.equal(out.serverAbortReason, ABORT_REASONS[reason], point);
    // every client still connected learnt the reason from an abort message
    for (const [id, c] of out.clients) {
      if (!dropouts.has(id)) assert.equal(c.abortReason, ABORT_REASONS[reason], `client ${id} after ${point}`);
    }
  }
});

test('protocol: SecAgg+ (k-regular Harary graph, n = 20..40, k < n-1) with random dropouts', () => {
  let completed = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 20, max: 28 }),
      fc.constantFrom(4, 6),
      fc.integer({ min: 0, max: 6 }),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...DROP_POINTS)), { maxLength: 8 }),
      fc.integer(),
      (n, k, tOff, drops, seed) => {
        const t = Math.max(2, Math.min(k + 1, 2 + tOff));
        const config: SecAggConfig = { sessionNonce: new Uint8Array(32).fill(3), clientIds: ids(n), threshold: t, bits: 32, vectorLength: 16, degree: k, mode: 'semi-honest' };
        const dropouts = new Map(drops.map(([i, d]) => [(i % n) + 1, d]));
        const { expected } = runAndCheck(config, dropouts, seed);
        if ('survivors' in expected) completed++;
      },
    ),
    { numRuns: 6, endOnFailure: true, seed: 4242 },
  );
  assert.ok(completed >= 2, `${completed} SecAgg+ runs completed`);
});

test('protocol: SecAgg+ with the parameter finder choice for n = 30 completes with 10% dropouts', () => {
  const n = 30;
  const config: SecAggConfig = { sessionNonce: new Uint8Array(32).fill(9), clientIds: ids(n), threshold: 4, bits: 32, vectorLength: 32, degree: 8, mode: 'semi-honest' };
  const dropouts = new Map<number, DropPoint>([[3, 'after-share-keys'], [17, 'after-masked-input'], [29, 'during-unmasking']]);
  const { out } = runAndCheck(config, dropouts, 5);
  assert.ok(out.result, 'completed');
  // each client masked with exactly its k neighbours: 8 share ciphertexts per share-keys message
  const g = buildGraph(ids(n), 8, out.server.sessionId!);
  assert.equal(g.complete, false);
  for (const id of ids(n)) assert.equal(g.neighbours(id).length, 8);
});

test('protocol: active mode (signed keys, consistency check) completes with dropouts in every phase', () => {
  const n = 8;
  const keys = new Map(ids(n).map((id) => [id, ed25519Keypair(rngFor(99, id))]));
  const roster = new Map([...keys].map(([id, k]) => [id, k.publicKey]));
  const identities = new Map([...keys].map(([id, k]) => [id, k.secretKey]));
  const base = { sessionNonce: new Uint8Array(32).fill(1), clientIds: ids(n), threshold: 5, bits: 24, vectorLength: 10, degree: 0, mode: 'active' } as const;
  for (const dropouts of [
    new Map<number, DropPoint>(),
    new Map<number, DropPoint>([[2, 'after-advertise'], [5, 'after-share-keys'], [7, 'during-unmasking']]),
    new Map<number, DropPoint>([[1, 'after-masked-input'], [8, 'before-advertise']]),
    new Map<number, DropPoint>([[1, 'after-masked-input'], [2, 'after-masked-input'], [3, 'during-unmasking'], [4, 'during-unmasking']]),
  ]) {
    runAndCheck(base, dropouts, 11, { roster, identities });
  }
});
