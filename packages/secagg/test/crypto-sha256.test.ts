// SHA-256 against FIPS 180-2 appendix B examples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../src/crypto/bytes.js';
import { sha256 } from '../src/crypto/sha256.js';

test('FIPS 180-2 B.1 "abc", B.2 two-block message, and the empty string', () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.equal(toHex(sha256(enc('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(
    toHex(sha256(enc('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  );
  assert.equal(toHex(sha256(new Uint8Array(0))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.throws(() => sha256('abc' as never), { code: 'ERR_INVALID_ARGUMENT' });
});
