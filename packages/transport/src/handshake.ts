/**
 * The authentication transcript. On connect the server sends a fresh 32-byte nonce;
 * the client answers with its Ed25519 public key, its own fresh nonce and a signature
 * over this transcript. Binding both nonces and the federation id means a captured
 * `auth` frame is useless on any other connection (the server nonce differs) or any
 * other federation; binding the public key stops a signature being re-attributed.
 */
import { ByteWriter } from './bytes.js';
import { NONCE_BYTES, PUBLIC_KEY_BYTES } from './frames.js';
import { TransportError } from './errors.js';

/** Domain-separation label of the auth signature (protocol-spec/09-transport.md). */
export const AUTH_LABEL = 'fedmeta/transport/v1/auth';

/**
 * The bytes the client signs: label || u16 len || federationId || serverNonce ||
 * clientNonce || publicKey.
 * @throws TransportError ERR_BAD_PAYLOAD on a wrong-length nonce or key.
 */
export function authTranscript(federationId: string, serverNonce: Uint8Array, clientNonce: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (serverNonce.length !== NONCE_BYTES) throw new TransportError('ERR_BAD_PAYLOAD', `serverNonce must be ${NONCE_BYTES} bytes`);
  if (clientNonce.length !== NONCE_BYTES) throw new TransportError('ERR_BAD_PAYLOAD', `clientNonce must be ${NONCE_BYTES} bytes`);
  if (publicKey.length !== PUBLIC_KEY_BYTES) throw new TransportError('ERR_BAD_PAYLOAD', `publicKey must be ${PUBLIC_KEY_BYTES} bytes`);
  const label = new TextEncoder().encode(AUTH_LABEL);
  return new ByteWriter(256)
    .bytes(label)
    .str16(federationId, 256, 'federationId')
    .bytes(serverNonce)
    .bytes(clientNonce)
    .bytes(publicKey)
    .finish();
}
