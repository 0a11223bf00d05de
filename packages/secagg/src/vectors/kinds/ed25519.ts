/** ed25519.json: RFC 8032 sec. 7.1 vectors, labelled signatures, and invalid signatures. */
import { fromHex, toHex } from '../../crypto/bytes.js';
import { ed25519PublicKey, ed25519Sign, ed25519Verify, labelledMessage } from '../../crypto/ed25519.js';
import { LABEL_SIG_ADVERTISE, LABEL_SIG_CONSISTENCY } from '../../crypto/hkdf.js';
import type { Rng } from '../../rng.js';
import { boolField, expectFields, expectHex, expectSame, hexField, stringField } from '../fields.js';
import { registerVectorKind, type Vector } from '../registry.js';

function signed(name: string, sk: Uint8Array, label: string | null, message: Uint8Array): Vector {
  const bytes = label === null ? message : labelledMessage(label, message);
  return { name, secret_key: toHex(sk), public_key: toHex(ed25519PublicKey(sk)), label, message: toHex(message), signed_bytes: toHex(bytes), signature: toHex(ed25519Sign(sk, bytes)), valid: true };
}

registerVectorKind('ed25519', {
  description: 'Ed25519 (RFC 8032): signature = sign(secret_key, signed_bytes), signed_bytes = message or u16be(len(label)) || label || message; valid says whether verify must accept',
  generate(rng: Rng): Vector[] {
    const v = [
      signed('rfc8032-7.1-test-1', fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'), null, new Uint8Array(0)),
      signed('rfc8032-7.1-test-2', fromHex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb'), null, fromHex('72')),
      signed('rfc8032-7.1-test-3', fromHex('c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7'), null, fromHex('af82')),
      signed('labelled-advertise-keys', rng.fill(new Uint8Array(32)), LABEL_SIG_ADVERTISE, rng.fill(new Uint8Array(64))),
      signed('labelled-consistency-check', rng.fill(new Uint8Array(32)), LABEL_SIG_CONSISTENCY, rng.fill(new Uint8Array(40))),
    ];
    const base = signed('x', rng.fill(new Uint8Array(32)), null, rng.fill(new Uint8Array(20)));
    const sig = fromHex(base.signature as string);
    sig[5] = sig[5]! ^ 1;
    v.push({ ...base, name: 'invalid-flipped-r', signature: toHex(sig), valid: false });
    const sig2 = fromHex(base.signature as string);
    sig2[63] = sig2[63]! | 0x80; // S >= 2^255 > L: non-canonical
    v.push({ ...base, name: 'invalid-non-canonical-s', signature: toHex(sig2), valid: false });
    return v;
  },
  verify(v: Vector): void {
    expectFields(v, ['secret_key', 'public_key', 'label', 'message', 'signed_bytes', 'signature', 'valid']);
    const sk = hexField(v, 'secret_key', 32);
    const message = hexField(v, 'message');
    const label = v.label === null ? null : stringField(v, 'label');
    const bytes = label === null ? message : labelledMessage(label, message);
    const signature = hexField(v, 'signature', 64);
    const valid = boolField(v, 'valid');
    expectHex('public_key', stringField(v, 'public_key'), ed25519PublicKey(sk));
    expectHex('signed_bytes', stringField(v, 'signed_bytes'), bytes);
    if (valid) expectHex('signature', stringField(v, 'signature'), ed25519Sign(sk, bytes));
    expectSame('valid', valid, ed25519Verify(hexField(v, 'public_key', 32), bytes, signature));
  },
});
