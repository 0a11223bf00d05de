// The spec's registries must match the code's: every abort reason and every message type
// documented with the same number (protocol-spec/07-abort-reasons.md, 04-messages.md), and
// every example size 04-messages.md quotes is what the codec produces.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { aeadSeal, ready, toHex } from '../src/crypto/index.js';
import { seededRng } from '../src/rng.js';
import { SHAMIR_SHARE_BYTES } from '../src/shamir/index.js';
import { ABORT_REASONS, encodeMessage, HEADER_BYTES, encodeSharePlaintext, MESSAGE_TYPE, SHARE_CIPHERTEXT_BYTES, type Message } from '../src/protocol/index.js';

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

/** The messages of 04-messages.md sec. 3.1, by example name, built exactly as its table describes them. */
function specExamples(): Map<string, Uint8Array> {
  const key = (b: number) => new Uint8Array(32).fill(b);
  const sig = new Uint8Array(64).fill(0xcc);
  const ct = new Uint8Array(SHARE_CIPHERTEXT_BYTES).fill(7);
  const y = (b: number) => new Uint8Array(SHAMIR_SHARE_BYTES).fill(b);
  const entry = (clientId: number, signed: boolean) => ({ clientId, encryptionPublicKey: key(0xa0 + clientId), maskingPublicKey: key(0xb0 + clientId), signature: signed ? sig : null });
  const messages: Record<string, Message> = {
    'advertise-keys-unsigned': { kind: 'advertise-keys', clientId: 0x0102, encryptionPublicKey: key(0xaa), maskingPublicKey: key(0xbb), signature: null },
    'advertise-keys-signed': { kind: 'advertise-keys', clientId: 1, encryptionPublicKey: key(0xaa), maskingPublicKey: key(0xbb), signature: sig },
    'key-list-2-unsigned': { kind: 'key-list', entries: [entry(1, false), entry(2, false)] },
    'key-list-2-signed': { kind: 'key-list', entries: [entry(1, true), entry(2, true)] },
    'share-keys-3': { kind: 'share-keys', clientId: 1, shares: [2, 3, 4].map((peerId) => ({ peerId, ciphertext: ct })) },
    'share-delivery-2': { kind: 'share-delivery', recipientId: 1, shares: [2, 3].map((peerId) => ({ peerId, ciphertext: ct })) },
    'share-report': { kind: 'share-report', clientId: 3, faults: [{ senderId: 2, cause: 1 }, { senderId: 5, cause: 3 }] },
    'masked-input-3bit': { kind: 'masked-input', clientId: 1, bits: 3, vector: Uint32Array.from([1, 2, 7]) },
    'masked-input-32bit-4': { kind: 'masked-input', clientId: 1, bits: 32, vector: new Uint32Array(4) },
    'consistency-request': { kind: 'consistency-request', survivors: [1, 2, 3] },
    'consistency-signature': { kind: 'consistency-signature', clientId: 1, signature: sig },
    'unmask-request-semi-honest': { kind: 'unmask-request', survivors: [1, 2, 3], signatures: [] },
    'unmask-request-active': { kind: 'unmask-request', survivors: [1, 2, 3], signatures: [1, 2, 3].map((clientId) => ({ clientId, signature: sig })) },
    'unmask-response': { kind: 'unmask-response', clientId: 2, selfMaskShares: [{ ownerId: 1, share: y(1) }, { ownerId: 2, share: y(1) }], keyShares: [{ ownerId: 3, share: y(2) }] },
    'unmask-response-empty': { kind: 'unmask-response', clientId: 2, selfMaskShares: [], keyShares: [] },
    abort: { kind: 'abort', reason: ABORT_REASONS.TOO_FEW_MASKED_INPUTS, detail: 'x' },
  };
  const out = new Map(Object.entries(messages).map(([name, m]) => [name, encodeMessage(m)]));
  // Not a message: one share ciphertext as a client seals it (its length is share-keys' `len`).
  const plain = encodeSharePlaintext(1, 2, y(1), y(2));
  out.set('share-ciphertext', aeadSeal(new Uint8Array(32).fill(9), plain, new Uint8Array(36), seededRng(new Uint8Array(32))));
  return out;
}

test('spec: every example size (and hex) quoted in 04-messages.md matches the codec', async () => {
  await ready();
  const text = spec('04-messages.md');
  const examples = specExamples();
  const rows = [...text.matchAll(/^\| `([a-z0-9-]+)` \| [^|]+ \| (\d+) \| (`[0-9a-f]+`|-) \|$/gm)];
  assert.ok(rows.length >= 15, `the example table has ${rows.length} rows`);
  const named = new Set<string>();
  for (const [, name, size, hex] of rows) {
    const bytes = examples.get(name!);
    assert.ok(bytes, `example '${name}' has a builder`);
    assert.equal(bytes.length, Number(size), `example '${name}': the table says ${size} bytes`);
    if (hex !== '-') assert.equal(toHex(bytes), hex!.slice(1, -1), `example '${name}': hex`);
    named.add(name!);
  }
  assert.deepEqual([...examples.keys()].filter((k) => !named.has(k)), [], 'every builder has a table row');
  assert.ok(Object.keys(MESSAGE_TYPE).every((kind) => rows.some(([, name]) => name!.startsWith(kind))), 'one example of every message kind');
  // Sizes quoted in the prose must name their example and agree with it.
  for (const m of text.matchAll(/(\d+) bytes, example `([a-z0-9-]+)`/g)) {
    assert.equal(examples.get(m[2]!)?.length, Number(m[1]), `prose: ${m[0]}`);
  }
  const prose = text.split('\n').filter((line) => !line.startsWith('#')).join('\n');
  const bare = [...prose.matchAll(/\((\d+) bytes\)/g)].map((m) => m[0]);
  assert.deepEqual(bare, [], 'a size in parentheses must name its example: "(N bytes, example `name`)"');
  assert.match(text, new RegExp(`^## 2\\. Header \\(${HEADER_BYTES} bytes\\)$`, 'm'));
  // The share ciphertext length the text states (`len = 110`) is the sealed plaintext's.
  assert.match(text, new RegExp(`always uses \`len = ${SHARE_CIPHERTEXT_BYTES}\``));
});
