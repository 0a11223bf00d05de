import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, resolveBackoff } from '../src/backoff.js';

test('backoff grows exponentially, is capped, and is fully jittered', () => {
  const p = resolveBackoff({ baseDelayMs: 100, maxDelayMs: 1000, maxAttempts: 5 });
  assert.equal(backoffDelay(p, 0, 0.999999), 99);
  assert.equal(backoffDelay(p, 2, 0.999999), 399);
  assert.equal(backoffDelay(p, 10, 0.999999), 999);
  assert.equal(backoffDelay(p, 3, 0), 0);
  assert.equal(backoffDelay(p, 1, 0.5), 100);
  assert.equal(backoffDelay(p, 1000, 0.5), 500); // no overflow for huge attempt counts
});

test('bad backoff inputs are RangeErrors naming the field', () => {
  assert.throws(() => resolveBackoff({ maxAttempts: -1 }), /reconnect.maxAttempts/);
  assert.equal(resolveBackoff().maxAttempts, 0, 'by default a client never gives up on its coordinator');
  assert.throws(() => resolveBackoff({ baseDelayMs: 10, maxDelayMs: 5 }), /reconnect.maxDelayMs/);
  assert.throws(() => backoffDelay(resolveBackoff(), -1, 0.5), /attempt/);
  assert.throws(() => backoffDelay(resolveBackoff(), 0, 1), /u must be/);
});

test('runClient refuses bad options with ClientError naming the option', async () => {
  const { runClient, ClientError } = await import('../src/index.js');
  const { ed25519Keypair, systemRng } = await import('@fedmeta/secagg');
  const k = ed25519Keypair(systemRng);
  const other = ed25519Keypair(systemRng);
  const set = { x: new Float32Array(1), y: new Int32Array(1), count: 1, shape: [1], numClasses: 2 };
  const ok = { url: 'ws://127.0.0.1:1', identity: k, data: { id: 0, support: set, query: set } };
  const bad = (o: object, re: RegExp) => assert.throws(() => runClient({ ...ok, ...o } as never), (e: unknown) => e instanceof ClientError && e.code === 'ERR_CLIENT_CONFIG' && re.test(e.message));
  bad({ url: 'http://x' }, /url/);
  bad({ identity: { publicKey: new Uint8Array(3), secretKey: k.secretKey } }, /identity.publicKey/);
  bad({ identity: { publicKey: other.publicKey, secretKey: k.secretKey } }, /identity: publicKey is not/);
  bad({ data: null }, /data/);
  bad({ reconnect: { maxAttempts: 1.5 } }, /reconnect.maxAttempts/);
  bad({ limits: { chunkBytes: 5 } }, /limits.chunkBytes/);
});
