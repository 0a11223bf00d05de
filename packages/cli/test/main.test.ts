import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main, usage } from '../src/main.js';

test('usage lists every command', () => {
  for (const name of ['simulate', 'server', 'client', 'keygen', 'status', 'vectors', 'dp']) {
    assert.match(usage(), new RegExp(`^  ${name} `, 'm'));
  }
});

test('an unknown command exits 2 without throwing', async () => {
  const errors: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void errors.push(args.join(' '));
  try {
    assert.equal(await main(['no-such-command']), 2);
  } finally {
    console.error = original;
  }
  assert.match(String(errors[0]), /unknown command 'no-such-command'/);
});
