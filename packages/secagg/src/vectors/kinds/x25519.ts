/** x25519.json: RFC 7748 vectors, random key agreements, low-order rejections. */
import { fromHex, toHex } from '../../crypto/bytes.js';
import { X25519_LOW_ORDER_U, x25519PublicKey, x25519SharedSecret } from '../../crypto/x25519.js';
import type { Rng } from '../../rng.js';
import { expectErrorCode, expectFields, expectHex, hexField, stringField } from '../fields.js';
import { registerVectorKind, type Vector } from '../registry.js';

function uBytes(u: bigint): string {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((u >> BigInt(8 * i)) & 0xffn);
  return toHex(out);
}

function agreement(name: string, sk: Uint8Array, peer: Uint8Array): Vector {
  return { name, secret_key: toHex(sk), public_key: toHex(x25519PublicKey(sk)), peer_public_key: toHex(peer), shared_secret: toHex(x25519SharedSecret(sk, peer)) };
}

function generate(rng: Rng): Vector[] {
  const vectors: Vector[] = [
    agreement('rfc7748-6.1-alice', fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'), fromHex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')),
    agreement('rfc7748-5.2-vector-1', fromHex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'), fromHex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c')),
    agreement('rfc7748-5.2-vector-2', fromHex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'), fromHex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493')),
  ];
  for (let i = 0; i < 4; i++) {
    const sk = rng.fill(new Uint8Array(32));
    const peer = x25519PublicKey(rng.fill(new Uint8Array(32)));
    vectors.push(agreement(`random-${i}`, sk, peer));
  }
  const sk = rng.fill(new Uint8Array(32));
  X25519_LOW_ORDER_U.forEach((u, i) => {
    vectors.push({ name: `reject-low-order-${i}`, secret_key: toHex(sk), public_key: toHex(x25519PublicKey(sk)), peer_public_key: uBytes(u), expect_error: 'ERR_LOW_ORDER_POINT' });
  });
  return vectors;
}

async function verify(v: Vector): Promise<void> {
  const rejecting = 'expect_error' in v;
  expectFields(v, ['secret_key', 'public_key', 'peer_public_key', rejecting ? 'expect_error' : 'shared_secret']);
  const sk = hexField(v, 'secret_key', 32);
  const peer = hexField(v, 'peer_public_key', 32);
  expectHex('public_key', stringField(v, 'public_key'), x25519PublicKey(sk));
  if (rejecting) {
    await expectErrorCode(stringField(v, 'expect_error'), () => x25519SharedSecret(sk, peer));
  } else {
    hexField(v, 'shared_secret', 32);
    expectHex('shared_secret', stringField(v, 'shared_secret'), x25519SharedSecret(sk, peer));
  }
}

registerVectorKind('x25519', {
  description: 'X25519 (RFC 7748): public_key = X25519(secret_key, 9), shared_secret = X25519(secret_key, peer_public_key); low-order peers rejected',
  generate,
  verify,
});
