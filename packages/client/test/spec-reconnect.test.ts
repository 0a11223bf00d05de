// The reconnect policy the spec (09-transport.md sec. 5.2) and the option's documentation
// (ReconnectOptions in src/options.ts) state must be the client's default policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backoffDelay, DEFAULT_BACKOFF } from '../src/backoff.js';

// dist/test/ -> packages/client -> repository root
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..', '..', '..');

function stated(text: string, pattern: RegExp): number {
  const m = pattern.exec(text);
  assert.ok(m, `not stated: ${pattern}`);
  return Number(m[1]);
}

test('spec 09 sec. 5.2 states the default reconnect policy: retry forever, 250 ms doubling to 10 s', () => {
  const spec = readFileSync(join(root, 'protocol-spec', '09-transport.md'), 'utf8');
  const at = spec.indexOf('**Reconnecting.**');
  assert.ok(at >= 0, 'no Reconnecting paragraph');
  const text = spec.slice(at, spec.indexOf('\n\n', at));
  assert.equal(stated(text, /`baseDelayMs` (\d+) ms/), DEFAULT_BACKOFF.baseDelayMs);
  assert.equal(stated(text, /`maxDelayMs` (\d+) s/) * 1000, DEFAULT_BACKOFF.maxDelayMs);
  assert.equal(stated(text, /`maxAttempts` (\d+), which means retry for as long as it takes/), DEFAULT_BACKOFF.maxAttempts);
  // "the cap is reached after N consecutive failures": the delay before the next attempt
  // after f failures is drawn below min(max, base * 2^(f - 1)); u close to 1 shows the ceiling.
  const n = stated(text, /the cap is reached after (\d+)\s+consecutive failures/);
  const ceiling = (f: number) => backoffDelay(DEFAULT_BACKOFF, f - 1, 1 - 2 ** -40) + 1;
  assert.equal(ceiling(n), DEFAULT_BACKOFF.maxDelayMs);
  assert.ok(ceiling(n - 1) < DEFAULT_BACKOFF.maxDelayMs);
});

test('ReconnectOptions documents the defaults of DEFAULT_BACKOFF', () => {
  const src = readFileSync(join(root, 'packages', 'client', 'src', 'options.ts'), 'utf8');
  const block = src.slice(src.indexOf('export interface ReconnectOptions'), src.indexOf('}', src.indexOf('export interface ReconnectOptions')));
  const doc = (field: string): string => {
    const end = block.indexOf(`${field}?:`);
    assert.ok(end >= 0, `ReconnectOptions has no ${field}`);
    return block.slice(block.lastIndexOf('/**', end), end);
  };
  assert.equal(stated(doc('maxAttempts'), /Default (\d+)\./), DEFAULT_BACKOFF.maxAttempts);
  assert.equal(stated(doc('baseDelayMs'), /default (\d+) ms/), DEFAULT_BACKOFF.baseDelayMs);
  assert.equal(stated(doc('maxDelayMs'), /default (\d+) s/) * 1000, DEFAULT_BACKOFF.maxDelayMs);
});
