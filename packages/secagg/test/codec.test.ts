import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ABORT_REASONS, DecodeError, decodeMessage, encodeMessage, MESSAGE_TYPE, packedByteLength, type Message,
} from '../src/protocol/index.js';
import { InvalidArgumentError } from '../src/errors.js';

const key = (b: number): Uint8Array => new Uint8Array(32).fill(b);
const sig = (b: number): Uint8Array => new Uint8Array(64).fill(b);

/** One sample of every message kind (signed and unsigned variants where they exist). */
function samples(): Message[] {
  return [
    { kind: 'advertise-keys', clientId: 7, encryptionPublicKey: key(1), maskingPublicKey: key(2), signature: null },
    { kind: 'advertise-keys', clientId: 65535, encryptionPublicKey: key(3), maskingPublicKey: key(4), signature: sig(5) },
    { kind: 'key-list', entries: [] },
    {
      kind: 'key-list',
      entries: [
        { clientId: 1, encryptionPublicKey: key(1), maskingPublicKey: key(2), signature: sig(9) },
        { clientId: 9, encryptionPublicKey: key(3), maskingPublicKey: key(4), signature: sig(8) },
      ],
    },
    { kind: 'share-keys', clientId: 3, shares: [{ peerId: 1, ciphertext: new Uint8Array(110).fill(7) }, { peerId: 4, ciphertext: new Uint8Array(3) }] },
    { kind: 'share-delivery', recipientId: 3, shares: [{ peerId: 2, ciphertext: new Uint8Array([1, 2, 3]) }] },
    { kind: 'masked-input', clientId: 2, bits: 32, vector: Uint32Array.from([0, 1, 0xffffffff, 12345678]) },
    { kind: 'masked-input', clientId: 2, bits: 5, vector: Uint32Array.from([31, 0, 17, 1, 30, 2, 3]) },
    { kind: 'masked-input', clientId: 2, bits: 1, vector: Uint32Array.from([1, 0, 1, 1, 0, 0, 0, 1, 1]) },
    { kind: 'consistency-request', survivors: [1, 2, 5, 65535] },
    { kind: 'consistency-signature', clientId: 5, signature: sig(3) },
    { kind: 'unmask-request', survivors: [1, 2, 3], signatures: [] },
    { kind: 'unmask-request', survivors: [1, 2, 3], signatures: [{ clientId: 2, signature: sig(1) }, { clientId: 3, signature: sig(2) }] },
    {
      kind: 'unmask-response',
      clientId: 4,
      selfMaskShares: [{ ownerId: 1, share: new Uint8Array(33).fill(1) }, { ownerId: 4, share: new Uint8Array(33).fill(4) }],
      keyShares: [{ ownerId: 2, share: new Uint8Array(33).fill(2) }],
    },
    { kind: 'unmask-response', clientId: 4, selfMaskShares: [], keyShares: [] },
    { kind: 'abort', reason: ABORT_REASONS.TOO_FEW_SHARED, detail: 'only 2 clients — sent shares' },
    { kind: 'share-report', clientId: 6, faults: [{ senderId: 2, cause: 1 }, { senderId: 5, cause: 3 }, { senderId: 65535, cause: 2 }] },
  ];
}

test('codec: every message kind round-trips and re-encodes to the same bytes', () => {
  const seen = new Set<string>();
  for (const msg of samples()) {
    const bytes = encodeMessage(msg);
    assert.deepEqual([...bytes.subarray(0, 4)], [0x46, 0x4d, 0x53, 0x41], 'magic');
    assert.equal(bytes[4], 1, 'version');
    assert.equal(bytes[5], MESSAGE_TYPE[msg.kind], 'type byte');
    const back = decodeMessage(bytes);
    assert.deepEqual(back, msg);
    assert.deepEqual(encodeMessage(back), bytes);
    seen.add(msg.kind);
  }
  assert.deepEqual([...seen].sort(), Object.keys(MESSAGE_TYPE).sort(), 'a sample of every kind');
});

test('codec: exact bytes of an advertise-keys message (matches protocol-spec/04-messages.md)', () => {
  const bytes = encodeMessage({ kind: 'advertise-keys', clientId: 0x0102, encryptionPublicKey: key(0xaa), maskingPublicKey: key(0xbb), signature: null });
  const hex = Buffer.from(bytes).toString('hex');
  assert.equal(hex, '464d5341' + '01' + '01' + '0201' + '00' + 'aa'.repeat(32) + 'bb'.repeat(32));
});

test('codec: bit packing is little-endian LSB-first and round-trips for every width 1..32', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 32 }), fc.integer({ min: 1, max: 300 }), fc.integer(), (bits, m, seed) => {
      const vector = new Uint32Array(m);
      let s = seed >>> 0;
      for (let i = 0; i < m; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        vector[i] = bits === 32 ? s : s % 2 ** bits;
      }
      const bytes = encodeMessage({ kind: 'masked-input', clientId: 1, bits, vector });
      assert.equal(bytes.length, 6 + 7 + packedByteLength(m, bits));
      const back = decodeMessage(bytes);
      assert.equal(back.kind, 'masked-input');
      assert.deepEqual(back.kind === 'masked-input' && back.vector, vector);
    }),
    { numRuns: 200 },
  );
  // 3-bit entries [1, 2, 7] -> bit stream 001 010 111 (LSB first) = 0b1_1101_0001, 0b0000_0001
  const bytes = encodeMessage({ kind: 'masked-input', clientId: 1, bits: 3, vector: Uint32Array.from([1, 2, 7]) });
  assert.deepEqual([...bytes.subarray(13)], [0xd1, 0x01]);
});

test('codec: masked-input upload is within 1.01 x 4m bytes (m >= 100k, bits = 32)', () => {
  for (const m of [100_000, 1_000_000]) {
    const bytes = encodeMessage({ kind: 'masked-input', clientId: 1, bits: 32, vector: new Uint32Array(m) });
    assert.ok(bytes.length <= 1.01 * 4 * m, `${bytes.length} bytes for m=${m}`);
    assert.equal(bytes.length, 4 * m + 13);
  }
});

function expectDecodeError(bytes: Uint8Array, code?: string): void {
  try {
    decodeMessage(bytes);
  } catch (err) {
    assert.ok(err instanceof DecodeError, `expected DecodeError, got ${String(err)}`);
    assert.match(err.code, /^ERR_DECODE_/);
    if (code) assert.equal(err.code, code, err.message);
    return;
  }
  assert.fail('decoding should have failed');
}

test('codec: malformed headers and bodies give the specific ERR_DECODE_* code', () => {
  const good = encodeMessage(samples()[9]!); // consistency-request [1,2,5,65535]
  expectDecodeError(new Uint8Array(0), 'ERR_DECODE_TRUNCATED');
  expectDecodeError(Uint8Array.from([0x46, 0x4d, 0x53, 0x42, 1, 0x13]), 'ERR_DECODE_MAGIC');
  expectDecodeError(Uint8Array.from([0x46, 0x4d, 0x53, 0x41, 2, 0x13]), 'ERR_DECODE_VERSION');
  expectDecodeError(Uint8Array.from([0x46, 0x4d, 0x53, 0x41, 1, 0x42]), 'ERR_DECODE_TYPE');
  expectDecodeError(good.subarray(0, good.length - 1), 'ERR_DECODE_TRUNCATED');
  expectDecodeError(Uint8Array.from([...good, 0]), 'ERR_DECODE_TRAILING');
  const unordered = good.slice();
  unordered.set([5, 0], 8); // second id 2 -> 5 (equal to the third)
  expectDecodeError(unordered, 'ERR_DECODE_ORDER');
  const zeroId = good.slice();
  zeroId.set([0, 0], 8);
  expectDecodeError(zeroId, 'ERR_DECODE_FIELD');
  // padding bits of a packed vector must be zero
  const packed = encodeMessage({ kind: 'masked-input', clientId: 1, bits: 3, vector: Uint32Array.from([1, 2, 7]) });
  packed[packed.length - 1]! |= 0x80;
  expectDecodeError(packed, 'ERR_DECODE_NONCANONICAL');
  // bits = 0 and 33 are invalid
  const bits0 = encodeMessage(samples()[6]!);
  bits0[8] = 0;
  expectDecodeError(bits0, 'ERR_DECODE_FIELD');
  bits0[8] = 33;
  expectDecodeError(bits0, 'ERR_DECODE_FIELD');
  // unregistered abort reason, invalid UTF-8
  const abort = encodeMessage({ kind: 'abort', reason: ABORT_REASONS.CANCELLED, detail: 'ab' });
  const badReason = abort.slice();
  badReason.set([0xff, 0xff], 6);
  expectDecodeError(badReason, 'ERR_DECODE_FIELD');
  const badUtf8 = abort.slice();
  badUtf8.set([0xc3, 0x28], 10);
  expectDecodeError(badUtf8, 'ERR_DECODE_UTF8');
  expectDecodeError(Uint8Array.from([0x46, 0x4d, 0x53, 0x41, 1, 0x11, 0, 0, 1]), 'ERR_DECODE_NONCANONICAL');
  // share-report: an empty report, an unregistered cause, unordered senders, sender 0
  const report = encodeMessage(samples().find((m) => m.kind === 'share-report')!); // client 6: (2,1) (5,3) (65535,2)
  expectDecodeError(Uint8Array.from([0x46, 0x4d, 0x53, 0x41, 1, 0x06, 6, 0, 0, 0]), 'ERR_DECODE_NONCANONICAL');
  for (const cause of [0, 4, 255]) {
    const badCause = report.slice();
    badCause[12] = cause;
    expectDecodeError(badCause, 'ERR_DECODE_FIELD');
  }
  const unorderedReport = report.slice();
  unorderedReport.set([5, 0], 10); // senders 5, 5
  expectDecodeError(unorderedReport, 'ERR_DECODE_ORDER');
  const zeroSender = report.slice();
  zeroSender.set([0, 0], 10);
  expectDecodeError(zeroSender, 'ERR_DECODE_FIELD');
  // a leading BOM is kept, so the detail re-encodes byte for byte
  const bom = encodeMessage({ kind: 'abort', reason: ABORT_REASONS.CANCELLED, detail: '\ufeffx' });
  assert.deepEqual(encodeMessage(decodeMessage(bom)), bom);
  assert.throws(() => decodeMessage('FMSA' as unknown as Uint8Array), (e: unknown) => e instanceof DecodeError && e.code === 'ERR_DECODE_INPUT');
});

test('codec: declared lengths are checked before allocating (huge counts in tiny messages)', () => {
  // masked-input declaring 2^28 entries of 32 bits, with 4 bytes of payload
  const huge = Uint8Array.from([0x46, 0x4d, 0x53, 0x41, 1, 0x03, 1, 0, 32, 0, 0, 0, 0x10, 1, 2, 3, 4]);
  expectDecodeError(huge, 'ERR_DECODE_TRUNCATED');
  // 2^32 - 1 entries is over the cap
  const over = Uint8Array.from([0x46, 0x4d, 0x53, 0x41, 1, 0x03, 1, 0, 32, 0xff, 0xff, 0xff, 0xff]);
  expectDecodeError(over, 'ERR_DECODE_LIMIT');
  // a session limit below the declared length
  const small = encodeMessage({ kind: 'masked-input', clientId: 1, bits: 32, vector: new Uint32Array(10) });
  assert.throws(() => decodeMessage(small, { maxVectorLength: 9 }), (e: unknown) => e instanceof DecodeError && e.code === 'ERR_DECODE_LIMIT');
  // key list declaring 65535 signed entries in 3 bytes
  expectDecodeError(Uint8Array.from([0x46, 0x4d, 0x53, 0x41, 1, 0x11, 0xff, 0xff, 1]), 'ERR_DECODE_TRUNCATED');
  // ciphertext length over the cap
  expectDecodeError(Uint8Array.from([0x46, 0x4d, 0x53, 0x41, 1, 0x02, 1, 0, 1, 0, 2, 0, 0xff, 0xff, 0]), 'ERR_DECODE_LIMIT');
});

test('codec: fuzz - random, truncated and mutated bytes only ever raise DecodeError', () => {
  const valid = samples().map(encodeMessage);
  const onlyTyped = (bytes: Uint8Array): void => {
    try {
      const msg = decodeMessage(bytes);
      // whatever decodes must re-encode to the same bytes (one canonical encoding)
      assert.deepEqual(encodeMessage(msg), bytes);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      assert.match(err.code, /^ERR_DECODE_[A-Z0-9_]+$/);
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyTyped(b)), { numRuns: 2000 });
  fc.assert(
    fc.property(fc.integer({ min: 0, max: valid.length - 1 }), fc.uint8Array({ maxLength: 200 }), (i, tail) => {
      // a valid header followed by garbage: every body parser sees random input
      onlyTyped(Uint8Array.from([...valid[i]!.subarray(0, 6), ...tail]));
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: valid.length - 1 }), fc.nat(), (i, cut) => {
      const v = valid[i]!;
      onlyTyped(v.subarray(0, cut % (v.length + 1)));
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: valid.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      (i, edits) => {
        const v = valid[i]!.slice();
        for (const [pos, val] of edits) v[pos % v.length] = val;
        onlyTyped(v);
      },
    ),
    { numRuns: 3000 },
  );
});

test('codec: the encoder rejects out-of-range fields with InvalidArgumentError naming the field', () => {
  const bad: [Message, RegExp][] = [
    [{ kind: 'advertise-keys', clientId: 0, encryptionPublicKey: key(1), maskingPublicKey: key(2), signature: null }, /clientId/],
    [{ kind: 'advertise-keys', clientId: 1, encryptionPublicKey: new Uint8Array(31), maskingPublicKey: key(2), signature: null }, /encryptionPublicKey/],
    [{ kind: 'consistency-request', survivors: [2, 1] }, /strictly increasing/],
    [{ kind: 'masked-input', clientId: 1, bits: 4, vector: Uint32Array.from([16]) }, /vector\[0\]/],
    [{ kind: 'masked-input', clientId: 1, bits: 33, vector: Uint32Array.from([1]) }, /bits/],
    [{ kind: 'abort', reason: 999 as never, detail: '' }, /reason/],
    [{ kind: 'abort', reason: ABORT_REASONS.CANCELLED, detail: 'x'.repeat(2000) }, /detail/],
    [{ kind: 'share-report', clientId: 1, faults: [] }, /share-report.faults/],
    [{ kind: 'share-report', clientId: 1, faults: [{ senderId: 2, cause: 9 as never }] }, /cause/],
    [{ kind: 'share-report', clientId: 1, faults: [{ senderId: 3, cause: 1 }, { senderId: 2, cause: 1 }] }, /strictly increasing/],
  ];
  for (const [msg, re] of bad) assert.throws(() => encodeMessage(msg), (e: unknown) => e instanceof InvalidArgumentError && re.test(e.message));
});
