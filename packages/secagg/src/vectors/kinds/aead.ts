/** aead.json: XChaCha20-Poly1305-IETF (draft-irtf-cfrg-xchacha-03 A.3.1 + random + tampered). */
import { fromHex, toHex } from '../../crypto/bytes.js';
import { aeadDecrypt, aeadEncrypt, ready } from '../../crypto/aead.js';
import type { Rng } from '../../rng.js';
import { expectErrorCode, expectFields, expectHex, hexField, stringField } from '../fields.js';
import { registerVectorKind, type Vector } from '../registry.js';

function sealed(name: string, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Vector {
  return { name, key: toHex(key), nonce: toHex(nonce), aad: toHex(aad), plaintext: toHex(plaintext), ciphertext: toHex(aeadEncrypt(key, nonce, plaintext, aad)) };
}

registerVectorKind('aead', {
  description: 'XChaCha20-Poly1305-IETF: ciphertext = encrypt(key, nonce, plaintext, aad) || 16-byte tag; tampered boxes must fail with ERR_DECRYPT',
  async generate(rng: Rng): Promise<Vector[]> {
    await ready();
    const v: Vector[] = [
      sealed(
        'xchacha-draft-03-a.3.1',
        fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'),
        fromHex('404142434445464748494a4b4c4d4e4f5051525354555657'),
        fromHex('50515253c0c1c2c3c4c5c6c7'),
        new TextEncoder().encode("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."),
      ),
    ];
    for (const [i, len] of [0, 33, 66].entries()) {
      v.push(sealed(`random-${i}`, rng.fill(new Uint8Array(32)), rng.fill(new Uint8Array(24)), rng.fill(new Uint8Array(i * 8)), rng.fill(new Uint8Array(len))));
    }
    const base = sealed('tampered', rng.fill(new Uint8Array(32)), rng.fill(new Uint8Array(24)), Uint8Array.of(1), rng.fill(new Uint8Array(33)));
    const ct = fromHex(base.ciphertext as string);
    ct[ct.length - 1] = ct[ct.length - 1]! ^ 0x80;
    v.push({ ...base, name: 'tampered-tag', ciphertext: toHex(ct), expect_error: 'ERR_DECRYPT' });
    v.push({ ...base, name: 'wrong-aad', aad: '02', expect_error: 'ERR_DECRYPT' });
    return v;
  },
  async verify(v: Vector): Promise<void> {
    await ready();
    const rejecting = 'expect_error' in v;
    expectFields(v, ['key', 'nonce', 'aad', 'plaintext', 'ciphertext', ...(rejecting ? ['expect_error'] : [])]);
    const key = hexField(v, 'key', 32);
    const nonce = hexField(v, 'nonce', 24);
    const aad = hexField(v, 'aad');
    const plaintext = hexField(v, 'plaintext');
    const ciphertext = hexField(v, 'ciphertext');
    if (rejecting) {
      await expectErrorCode(stringField(v, 'expect_error'), () => aeadDecrypt(key, nonce, ciphertext, aad));
      return;
    }
    expectHex('ciphertext', stringField(v, 'ciphertext'), aeadEncrypt(key, nonce, plaintext, aad));
    expectHex('plaintext', stringField(v, 'plaintext'), aeadDecrypt(key, nonce, ciphertext, aad));
  },
});
