import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePayload, encodePayload } from '../src/frames.js';
import { TransportError } from '../src/errors.js';
import { resolveLimits } from '../src/limits.js';
import { authTranscript } from '../src/handshake.js';

const limits = resolveLimits({ maxControlBytes: 2048 });

function expectCode(fn: () => unknown, code: string, field?: string): void {
  assert.throws(fn, (e: unknown) => e instanceof TransportError && e.code === code && (field === undefined || e.message.includes(field)), `expected ${code} ${field ?? ''}`);
}

test('payload decoding checks every length and rejects trailing bytes', () => {
  const ok = encodePayload({ type: 'plainInput', round: 1, vector: Uint32Array.from([1, 2]) }, limits);
  expectCode(() => decodePayload('plainInput', ok.subarray(0, ok.length - 1), limits), 'ERR_BAD_PAYLOAD', 'vector');
  const trailing = new Uint8Array(ok.length + 1);
  trailing.set(ok);
  expectCode(() => decodePayload('plainInput', trailing, limits), 'ERR_BAD_PAYLOAD', 'trailing');
  expectCode(() => decodePayload('auth', new Uint8Array(100), limits), 'ERR_BAD_PAYLOAD', 'signature');
});

test('a vector that declares more entries than bytes present is refused without allocating it', () => {
  const p = new Uint8Array(8);
  new DataView(p.buffer).setUint32(4, 0x4000_0000);
  expectCode(() => decodePayload('plainInput', p, limits), 'ERR_BAD_PAYLOAD', 'vector');
});

test('JSON config: must be an object, valid UTF-8 and under the control cap', () => {
  expectCode(() => encodePayload({ type: 'bye', summary: { big: 'x'.repeat(5000) } }, limits), 'ERR_BAD_PAYLOAD', 'bye.summary');
  const notJson = new Uint8Array([0, 0, 0, 3, 0x7b, 0x7b, 0x7b]);
  expectCode(() => decodePayload('bye', notJson, limits), 'ERR_BAD_PAYLOAD', 'JSON');
  const badUtf8 = new Uint8Array([0, 0, 0, 2, 0xc3, 0x28]);
  expectCode(() => decodePayload('bye', badUtf8, limits), 'ERR_BAD_PAYLOAD', 'UTF-8');
  const arr = new TextEncoder().encode('[1]');
  expectCode(() => decodePayload('bye', Uint8Array.from([0, 0, 0, arr.length, ...arr]), limits), 'ERR_BAD_PAYLOAD', 'object');
});

test('status and stage bytes outside their registries are refused', () => {
  const p = encodePayload({ type: 'roundEnd', round: 1, status: 'completed', summary: {} }, limits);
  p[4] = 9;
  expectCode(() => decodePayload('roundEnd', p, limits), 'ERR_BAD_PAYLOAD', 'status');
});

test('auth transcript binds every input', () => {
  const n1 = new Uint8Array(32).fill(1);
  const n2 = new Uint8Array(32).fill(2);
  const pk = new Uint8Array(32).fill(3);
  const base = authTranscript('fed', n1, n2, pk);
  assert.notDeepEqual(authTranscript('feD', n1, n2, pk), base);
  assert.notDeepEqual(authTranscript('fed', n2, n1, pk), base);
  assert.notDeepEqual(authTranscript('fed', n1, n2, n1), base);
  expectCode(() => authTranscript('fed', new Uint8Array(31), n2, pk), 'ERR_BAD_PAYLOAD', 'serverNonce');
});
