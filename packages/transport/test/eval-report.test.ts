import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePayload, encodePayload, FRAME_TYPE, MAX_EVAL_BINS, payloadCap, type MessageOf } from '../src/frames.js';
import { TransportError } from '../src/errors.js';
import { resolveLimits } from '../src/limits.js';
import { FrameReader, FrameWriter } from '../src/chunking.js';
import { evaluationValues, parseFederationSettings, parseRoundConfig } from '../src/round-config.js';

const limits = resolveLimits();

function expectCode(fn: () => unknown, code: string, field: string): void {
  assert.throws(fn, (e: unknown) => e instanceof TransportError && e.code === code && e.message.includes(field), `expected ${code} naming ${field}`);
}

const report: MessageOf<'evalReport'> = { type: 'evalReport', round: 7, count: 10, correct: 8, lossSum: 3.25, auc: 0.875, positive: Uint32Array.from([0, 1, 2, 3]), negative: Uint32Array.from([2, 1, 1, 0]) };

test('evalReport: type 0x15, a control frame; its bytes as protocol-spec/09 lays them out', () => {
  assert.equal(FRAME_TYPE.evalReport, 0x15);
  assert.equal(payloadCap('evalReport', limits), limits.maxControlBytes);
  const p = encodePayload(report, limits);
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  assert.equal(p.length, 4 + 4 + 4 + 1 + 8 + 8 + 2 + 8 * 4);
  assert.equal(v.getUint32(0), 7);
  assert.equal(v.getUint32(4), 10);
  assert.equal(v.getUint32(8), 8);
  assert.equal(v.getUint8(12), 3, 'flags: loss and AUC present');
  assert.equal(v.getFloat64(13), 3.25);
  assert.equal(v.getFloat64(21), 0.875);
  assert.equal(v.getUint16(29), 4);
  assert.deepEqual([0, 1, 2, 3].map((b) => v.getUint32(31 + 4 * b)), [0, 1, 2, 3]);
  assert.deepEqual([0, 1, 2, 3].map((b) => v.getUint32(47 + 4 * b)), [2, 1, 1, 0]);
  assert.deepEqual(decodePayload('evalReport', p, limits), report);
});

test('evalReport without loss, AUC or histograms round-trips through frames', () => {
  const bare: MessageOf<'evalReport'> = { type: 'evalReport', round: 1, count: 5, correct: 5, positive: new Uint32Array(0), negative: new Uint32Array(0) };
  const frames = new FrameWriter(limits).frames(bare);
  const reader = new FrameReader(limits);
  let got = null;
  for (const f of frames) got = reader.push(f) ?? got;
  assert.deepEqual(got, bare);
});

test('evalReport refusals name the field: counts, loss, AUC, flags, histograms, bins, trailing bytes', () => {
  expectCode(() => encodePayload({ ...report, correct: 11 }, limits), 'ERR_BAD_PAYLOAD', 'correct (11) exceeds count (10)');
  expectCode(() => encodePayload({ ...report, lossSum: Number.NaN }, limits), 'ERR_BAD_PAYLOAD', 'lossSum');
  expectCode(() => encodePayload({ ...report, auc: 1.5 }, limits), 'ERR_BAD_PAYLOAD', 'auc');
  expectCode(() => encodePayload({ ...report, negative: Uint32Array.from([2, 1, 1]) }, limits), 'ERR_BAD_PAYLOAD', 'negative');
  expectCode(() => encodePayload({ ...report, negative: Uint32Array.from([2, 1, 1, 1]) }, limits), 'ERR_BAD_PAYLOAD', 'the histograms count 11 rows, count is 10');
  const p = encodePayload(report, limits);
  const flip = (fn: (v: DataView) => void) => {
    const q = p.slice();
    fn(new DataView(q.buffer));
    return q;
  };
  // Decoding applies the same rules to what a peer sent.
  expectCode(() => decodePayload('evalReport', flip((v) => v.setUint32(8, 12)), limits), 'ERR_BAD_PAYLOAD', 'correct (12) exceeds count (10)');
  expectCode(() => decodePayload('evalReport', flip((v) => v.setUint8(12, 8 | 3)), limits), 'ERR_BAD_PAYLOAD', 'flags');
  expectCode(() => decodePayload('evalReport', flip((v) => v.setUint8(12, 2)), limits), 'ERR_BAD_PAYLOAD', 'lossSum must be 0');
  expectCode(() => decodePayload('evalReport', flip((v) => v.setFloat64(13, -1)), limits), 'ERR_BAD_PAYLOAD', 'lossSum');
  expectCode(() => decodePayload('evalReport', flip((v) => v.setFloat64(21, 2)), limits), 'ERR_BAD_PAYLOAD', 'auc');
  expectCode(() => decodePayload('evalReport', flip((v) => v.setUint16(29, MAX_EVAL_BINS + 1)), limits), 'ERR_BAD_PAYLOAD', 'bins');
  expectCode(() => decodePayload('evalReport', flip((v) => v.setUint16(29, 5)), limits), 'ERR_BAD_PAYLOAD', 'declares 5 bins');
  expectCode(() => decodePayload('evalReport', flip((v) => v.setUint32(31, 1)), limits), 'ERR_BAD_PAYLOAD', 'the histograms count 11 rows');
  const trailing = new Uint8Array(p.length + 1);
  trailing.set(p);
  expectCode(() => decodePayload('evalReport', trailing, limits), 'ERR_BAD_PAYLOAD', 'trailing');
  expectCode(() => decodePayload('evalReport', p.subarray(0, 20), limits), 'ERR_BAD_PAYLOAD', 'lossSum');
});

const personal: MessageOf<'evalReport'> = { ...report, personalCorrect: 9, personalLossSum: 1.5 };

test('evalReport with the personalised bit: flags bit 2, the older fields at their offsets, personalCorrect and personalLossSum after the histograms', () => {
  const p = encodePayload(personal, limits);
  const old = encodePayload(report, limits);
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  assert.equal(p.length, old.length + 4 + 8);
  assert.equal(v.getUint8(12), 7, 'flags: loss, AUC and personalised');
  // Every byte but the flags is the report without the personalised numbers, then 12 bytes more.
  const same = p.slice(0, old.length);
  same[12] = 3;
  assert.deepEqual(same, old);
  assert.equal(v.getUint32(old.length), 9);
  assert.equal(v.getFloat64(old.length + 4), 1.5);
  assert.deepEqual(decodePayload('evalReport', p, limits), personal);
  // Without a classifier head: personalCorrect alone (the loss field written as 0).
  const protonets: MessageOf<'evalReport'> = { type: 'evalReport', round: 2, count: 6, correct: 3, personalCorrect: 5, positive: new Uint32Array(0), negative: new Uint32Array(0) };
  const q = encodePayload(protonets, limits);
  assert.equal(q.length, 31 + 12);
  assert.equal(q[12], 4);
  assert.equal(new DataView(q.buffer, q.byteOffset).getFloat64(35), 0);
  const frames = new FrameWriter(limits).frames(protonets);
  const reader = new FrameReader(limits);
  let got = null;
  for (const f of frames) got = reader.push(f) ?? got;
  assert.deepEqual(got, protonets);
  assert.equal(evaluationValues(4), 11);
  assert.equal(evaluationValues(4, true), 13, 'a secure evaluation vector with the personalised sums');
});

test('evalReport personalised refusals name the field, on both sides', () => {
  expectCode(() => encodePayload({ ...personal, personalCorrect: 11 }, limits), 'ERR_BAD_PAYLOAD', 'personalCorrect (11) exceeds count (10)');
  expectCode(() => encodePayload({ ...personal, personalCorrect: -1 }, limits), 'ERR_BAD_PAYLOAD', 'personalCorrect');
  expectCode(() => encodePayload({ ...personal, personalLossSum: Number.POSITIVE_INFINITY }, limits), 'ERR_BAD_PAYLOAD', 'personalLossSum must be a finite number');
  expectCode(() => encodePayload({ ...personal, personalLossSum: -0.5 }, limits), 'ERR_BAD_PAYLOAD', 'personalLossSum must be a finite number');
  const { personalLossSum: _drop, ...noPersonalLoss } = personal;
  expectCode(() => encodePayload(noPersonalLoss, limits), 'ERR_BAD_PAYLOAD', 'personalLossSum must be present exactly when lossSum is');
  const { lossSum: _loss, ...noLoss } = personal;
  expectCode(() => encodePayload(noLoss, limits), 'ERR_BAD_PAYLOAD', 'personalLossSum must be present exactly when lossSum is');
  const { personalCorrect: _c, ...lossOnly } = personal;
  expectCode(() => encodePayload(lossOnly, limits), 'ERR_BAD_PAYLOAD', 'personalLossSum without personalCorrect');

  const p = encodePayload(personal, limits);
  const end = p.length - 12;
  const flip = (fn: (v: DataView) => void, bytes = p) => {
    const q = bytes.slice();
    fn(new DataView(q.buffer));
    return q;
  };
  expectCode(() => decodePayload('evalReport', flip((v) => v.setUint32(end, 12)), limits), 'ERR_BAD_PAYLOAD', 'personalCorrect (12) exceeds count (10)');
  expectCode(() => decodePayload('evalReport', flip((v) => v.setFloat64(end + 4, Number.NaN)), limits), 'ERR_BAD_PAYLOAD', 'personalLossSum');
  expectCode(() => decodePayload('evalReport', flip((v) => v.setFloat64(end + 4, -2)), limits), 'ERR_BAD_PAYLOAD', 'personalLossSum');
  // Bit 2 set, the 12 bytes missing; bit 2 clear, the 12 bytes there.
  expectCode(() => decodePayload('evalReport', p.subarray(0, end), limits), 'ERR_BAD_PAYLOAD', 'personalCorrect');
  expectCode(() => decodePayload('evalReport', p.subarray(0, end + 6), limits), 'ERR_BAD_PAYLOAD', 'personalLossSum');
  expectCode(() => decodePayload('evalReport', flip((v) => v.setUint8(12, 3)), limits), 'ERR_BAD_PAYLOAD', 'trailing');
  // No loss (flag 0 clear): the personal loss must be written as 0.
  const noHead = encodePayload({ type: 'evalReport', round: 2, count: 6, correct: 3, personalCorrect: 5, positive: new Uint32Array(0), negative: new Uint32Array(0) }, limits);
  expectCode(() => decodePayload('evalReport', flip((v) => v.setFloat64(35, 0.25), noHead), limits), 'ERR_BAD_PAYLOAD', 'personalLossSum must be 0 when the loss flag is clear');
});

const settings = { rounds: 3, aggregation: { mode: 'secagg', security: 'semi-honest', minClients: 3, minAggregate: 3 }, dp: null };

test('federation settings announce the evaluation (every k rounds, per-site or secure, bins) and refuse bad values', () => {
  assert.deepEqual(parseFederationSettings({ ...settings, evaluation: { everyRounds: 2, report: 'secure', bins: 100 } }, 'welcome.settings').evaluation, { everyRounds: 2, report: 'secure', bins: 100 });
  assert.equal(parseFederationSettings(settings, 'welcome.settings').evaluation, undefined);
  expectCode(() => parseFederationSettings({ ...settings, evaluation: { everyRounds: 1, report: 'public', bins: 100 } }, 'welcome.settings'), 'ERR_BAD_PAYLOAD', 'welcome.settings.evaluation.report');
  expectCode(() => parseFederationSettings({ ...settings, evaluation: { everyRounds: 0, report: 'secure', bins: 100 } }, 'welcome.settings'), 'ERR_BAD_PAYLOAD', 'evaluation.everyRounds');
  expectCode(() => parseFederationSettings({ ...settings, evaluation: { everyRounds: 1, report: 'secure', bins: 5000 } }, 'welcome.settings'), 'ERR_BAD_PAYLOAD', 'evaluation.bins');
});

test('an evaluation round config: encoding kind evaluation, checked like the statistics encoding', () => {
  const config = {
    federationId: 'f',
    round: 4,
    model: { kind: 'mlp' },
    paramCount: 3,
    algorithm: { name: 'fedavg', hyper: {} },
    trainSeed: 1,
    encoding: { kind: 'evaluation', report: 'per-site', bins: 10, limbs: 6, fracBits: 40 },
    aggregation: { mode: 'plaintext', vectorLength: 1, bits: 32 },
    trainingMs: 1000,
    federation: settings,
  };
  const expected = { round: 4, paramCount: 3, federationId: 'f', participantId: 1 };
  assert.deepEqual(parseRoundConfig(config, expected).encoding, { kind: 'evaluation', report: 'per-site', bins: 10, limbs: 6, fracBits: 40 });
  expectCode(() => parseRoundConfig({ ...config, encoding: { ...config.encoding, report: 'loud' } }, expected), 'ERR_BAD_PAYLOAD', 'encoding.report');
  expectCode(() => parseRoundConfig({ ...config, encoding: { ...config.encoding, bins: MAX_EVAL_BINS + 1 } }, expected), 'ERR_BAD_PAYLOAD', 'encoding.bins');
  // The personalised evaluation: evalSteps (and optionally evalLr) announced.
  assert.deepEqual(parseRoundConfig({ ...config, encoding: { ...config.encoding, evalSteps: 5, evalLr: 0.1 } }, expected).encoding, { kind: 'evaluation', report: 'per-site', bins: 10, limbs: 6, fracBits: 40, evalSteps: 5, evalLr: 0.1 });
  assert.deepEqual(parseRoundConfig({ ...config, encoding: { ...config.encoding, evalSteps: 0 } }, expected).encoding, { kind: 'evaluation', report: 'per-site', bins: 10, limbs: 6, fracBits: 40, evalSteps: 0 });
  expectCode(() => parseRoundConfig({ ...config, encoding: { ...config.encoding, evalSteps: 10_001 } }, expected), 'ERR_BAD_PAYLOAD', 'encoding.evalSteps');
  expectCode(() => parseRoundConfig({ ...config, encoding: { ...config.encoding, evalSteps: 2.5 } }, expected), 'ERR_BAD_PAYLOAD', 'encoding.evalSteps');
  expectCode(() => parseRoundConfig({ ...config, encoding: { ...config.encoding, evalSteps: 5, evalLr: 0 } }, expected), 'ERR_BAD_PAYLOAD', 'encoding.evalLr');
  expectCode(() => parseRoundConfig({ ...config, encoding: { ...config.encoding, evalLr: 0.1 } }, expected), 'ERR_BAD_PAYLOAD', 'encoding.evalLr: expected absent without encoding.evalSteps');
});
