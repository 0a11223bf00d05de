// The spec's registries must match the code's: every abort reason and every message type
// documented with the same number (protocol-spec/07-abort-reasons.md, 04-messages.md).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ABORT_REASONS, MESSAGE_TYPE } from '../src/protocol/index.js';

// dist/test/ -> packages/secagg -> repository root
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const spec = (file: string): string => readFileSync(join(root, 'protocol-spec', file), 'utf8');

test('spec: 07-abort-reasons.md lists every registered reason with its code, and nothing else', () => {
  const text = spec('07-abort-reasons.md');
  const rows = [...text.matchAll(/^\| (\d+) \| `([A-Z_]+)` \|/gm)].map((m) => [m[2]!, Number(m[1])] as const);
  assert.deepEqual(Object.fromEntries(rows), { ...ABORT_REASONS });
});

test('spec: 04-messages.md lists every message type byte', () => {
  const text = spec('04-messages.md');
  const rows = [...text.matchAll(/^\| `0x([0-9a-f]{2})` \| ([a-z-]+) \|/gm)].map((m) => [m[2]!, parseInt(m[1]!, 16)] as const);
  assert.deepEqual(Object.fromEntries(rows), { ...MESSAGE_TYPE });
});
