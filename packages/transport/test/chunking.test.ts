import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameReader, FrameWriter, FLAG_FIRST, FLAG_LAST } from '../src/chunking.js';
import { TransportError } from '../src/errors.js';
import { resolveLimits, FRAME_HEADER_BYTES } from '../src/limits.js';
import type { RuntimeMessage } from '../src/frames.js';

const limits = resolveLimits({ chunkBytes: 4096, maxMessageBytes: 1 << 20, maxControlBytes: 2048 });

function header(type: number, flags: number, seq: number, total: number, offset: number, chunk = 0): Uint8Array {
  const f = new Uint8Array(FRAME_HEADER_BYTES + chunk);
  const v = new DataView(f.buffer);
  v.setUint8(0, 1);
  v.setUint8(1, type);
  v.setUint8(2, flags);
  v.setUint32(4, seq);
  v.setUint32(8, total);
  v.setUint32(12, offset);
  return f;
}

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof TransportError && e.code === code, `expected ${code}`);
}

const samples: RuntimeMessage[] = [
  { type: 'challenge', serverNonce: new Uint8Array(32).fill(7), federationId: 'fed-ü', chunkBytes: 4096, maxMessageBytes: 1 << 20 },
  { type: 'auth', publicKey: new Uint8Array(32).fill(1), clientNonce: new Uint8Array(32).fill(2), signature: new Uint8Array(64).fill(3) },
  { type: 'welcome', name: 'hospital-a', nextRound: 4, sessionId: new Uint8Array(16).fill(9), settings: { rounds: 5, aggregation: { mode: 'auto' }, dp: null } },
  { type: 'roundStart', round: 3, participantId: 17, config: { a: 1, b: [1, 2] }, params: Float32Array.from([1.5, -2, 3e-8]) },
  { type: 'secagg', round: 2, payload: Uint8Array.from([1, 2, 3]) },
  { type: 'roundEnd', round: 2, status: 'aborted', summary: { reason: 'x' } },
  { type: 'progress', round: 9, stage: 'training', fraction: 0.25 },
  { type: 'plainInput', round: 1, vector: Uint32Array.from([0, 0xffffffff, 5]) },
  { type: 'heartbeat', sentAt: 1234567.5 },
  { type: 'error', code: 'ERR_REPLAY', message: 'nope' },
  { type: 'bye', summary: { rounds: 3 } },
];

test('every message type round-trips through writer and reader', () => {
  const w = new FrameWriter(limits);
  const r = new FrameReader(limits);
  for (const msg of samples) {
    const frames = w.frames(msg);
    assert.equal(frames.length, 1);
    assert.deepEqual(r.push(frames[0]!), msg);
  }
});

test('a large vector is chunked, reassembled exactly, and never exceeds chunkBytes per frame', () => {
  const w = new FrameWriter(limits);
  const r = new FrameReader(limits);
  const vector = new Uint32Array(10_000).map((_, i) => (i * 2654435761) >>> 0);
  const frames = w.frames({ type: 'plainInput', round: 5, vector });
  assert.equal(frames.length, Math.ceil((8 + 40_000) / 4096));
  let got: RuntimeMessage | null = null;
  let seq = 0;
  for (const [i, f] of frames.entries()) {
    assert.ok(f.length <= 4096 + FRAME_HEADER_BYTES);
    new DataView(f.buffer).setUint32(4, seq++);
    got = r.push(f);
    if (i < frames.length - 1) assert.equal(got, null);
    // a single-frame heartbeat may interleave between chunks (it takes the next seq)
    if (i === 1) {
      const hb = new FrameWriter(limits).frames({ type: 'heartbeat', sentAt: 1 })[0]!;
      new DataView(hb.buffer).setUint32(4, seq++);
      assert.deepEqual(r.push(hb), { type: 'heartbeat', sentAt: 1 });
    }
  }
  assert.ok(got && got.type === 'plainInput');
  assert.deepEqual(got.vector, vector);
  assert.equal(r.bufferedBytes, 0);
});

test('a replayed frame is ERR_REPLAY', () => {
  const w = new FrameWriter(limits);
  const r = new FrameReader(limits);
  const f = w.frames({ type: 'heartbeat', sentAt: 1 })[0]!;
  r.push(f);
  expectCode(() => r.push(f), 'ERR_REPLAY');
});

test('a declared total over the cap is refused before allocation', () => {
  const r = new FrameReader(limits);
  // 0x14 plainInput declaring 2^32-1 bytes with a tiny first chunk
  expectCode(() => r.push(header(0x14, FLAG_FIRST, 0, 0xffffffff, 0, 10)), 'ERR_FRAME_TOO_LARGE');
  assert.equal(r.bufferedBytes, 0);
  const r2 = new FrameReader(limits);
  // control types have the small cap
  expectCode(() => r2.push(header(0x30, FLAG_FIRST, 0, 4096, 0, 10)), 'ERR_FRAME_TOO_LARGE');
});

test('a frame carrying more than chunkBytes is ERR_FRAME_TOO_LARGE', () => {
  const r = new FrameReader(limits);
  expectCode(() => r.push(header(0x14, FLAG_FIRST | FLAG_LAST, 0, 5000, 0, 5000)), 'ERR_FRAME_TOO_LARGE');
});

test('malformed headers: short, bad version, unknown type, reserved bits', () => {
  expectCode(() => new FrameReader(limits).push(new Uint8Array(5)), 'ERR_FRAME_MALFORMED');
  const bad = header(0x20, 3, 0, 8, 0, 8);
  bad[0] = 2;
  expectCode(() => new FrameReader(limits).push(bad), 'ERR_UNSUPPORTED_VERSION');
  expectCode(() => new FrameReader(limits).push(header(0x77, 3, 0, 0, 0)), 'ERR_UNKNOWN_FRAME_TYPE');
  expectCode(() => new FrameReader(limits).push(header(0x20, 0x83, 0, 8, 0, 8)), 'ERR_FRAME_MALFORMED');
});

test('chunk bookkeeping: mismatched totals, gaps and interleaved bulk messages are refused', () => {
  const w = new FrameWriter(limits);
  const frames = w.frames({ type: 'plainInput', round: 1, vector: new Uint32Array(3000) });
  assert.ok(frames.length >= 3);
  // skipping a chunk breaks the sequence
  const r = new FrameReader(limits);
  r.push(frames[0]!);
  expectCode(() => r.push(frames[2]!), 'ERR_REPLAY');
  // a second bulk message starting mid-reassembly
  const r2 = new FrameReader(limits);
  r2.push(header(0x14, FLAG_FIRST, 0, 10_000, 0, 100));
  expectCode(() => r2.push(header(0x11, FLAG_FIRST | FLAG_LAST, 1, 4, 0, 4)), 'ERR_CHUNK_INTERLEAVED');
  // continuation with a wrong offset
  const r3 = new FrameReader(limits);
  r3.push(header(0x14, FLAG_FIRST, 0, 10_000, 0, 100));
  expectCode(() => r3.push(header(0x14, 0, 1, 10_000, 200, 100)), 'ERR_CHUNK_MISMATCH');
  // LAST that does not complete the total
  const r4 = new FrameReader(limits);
  r4.push(header(0x14, FLAG_FIRST, 0, 10_000, 0, 100));
  expectCode(() => r4.push(header(0x14, FLAG_LAST, 1, 10_000, 100, 100)), 'ERR_CHUNK_MISMATCH');
  // continuation without a first frame
  expectCode(() => new FrameReader(limits).push(header(0x14, 0, 0, 10, 0, 10)), 'ERR_CHUNK_INTERLEAVED');
  // single frame whose chunk disagrees with its total
  expectCode(() => new FrameReader(limits).push(header(0x20, 3, 0, 9, 0, 8)), 'ERR_CHUNK_MISMATCH');
});

test('accept() filter refuses a type before allocation', () => {
  const r = new FrameReader(limits);
  r.accept = (t) => t === 'auth';
  expectCode(() => r.push(header(0x14, FLAG_FIRST, 0, 100_000, 0, 100)), 'ERR_UNEXPECTED_FRAME');
  assert.equal(r.bufferedBytes, 0);
});

test('bulkCap tightens the bulk limit before allocation; control caps are unaffected', () => {
  const r = new FrameReader(limits);
  r.bulkCap = 1000;
  expectCode(() => r.push(header(0x11, FLAG_FIRST, 0, 1001, 0, 10)), 'ERR_FRAME_TOO_LARGE');
  assert.equal(r.bufferedBytes, 0);
  const r2 = new FrameReader(limits);
  r2.bulkCap = 1000;
  assert.equal(r2.push(header(0x11, FLAG_FIRST, 0, 1000, 0, 10)), null);
  assert.equal(r2.bufferedBytes, 1000);
});
