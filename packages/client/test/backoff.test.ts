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
  assert.throws(() => resolveBackoff({ maxAttempts: 0 }), /reconnect.maxAttempts/);
  assert.throws(() => resolveBackoff({ baseDelayMs: 10, maxDelayMs: 5 }), /reconnect.maxDelayMs/);
  assert.throws(() => backoffDelay(resolveBackoff(), -1, 0.5), /attempt/);
  assert.throws(() => backoffDelay(resolveBackoff(), 0, 1), /u must be/);
});
