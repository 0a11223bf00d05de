/**
 * Every error the runtime raises on the wire is a TransportError with a stable machine
 * `code` (ERR_*) and the WebSocket close code the peer sees when the error ends the
 * connection. Codes are append-only and documented in protocol-spec/09-transport.md:
 * never rename or reuse one.
 */

/** Stable error codes of the runtime, each with the ws close code it maps to. */
export const TRANSPORT_ERRORS = {
  /** A frame is shorter than its header or its declared lengths disagree with its size. */
  ERR_FRAME_MALFORMED: 4400,
  /** A frame's or message's declared size exceeds the configured cap. */
  ERR_FRAME_TOO_LARGE: 4413,
  /** The frame's version byte is not one this implementation speaks. */
  ERR_UNSUPPORTED_VERSION: 4426,
  /** The frame type byte is not in the registry. */
  ERR_UNKNOWN_FRAME_TYPE: 4401,
  /** A frame's sequence number is not the next expected one (replayed, dropped or reordered). */
  ERR_REPLAY: 4402,
  /** A chunk arrived that does not continue the message being reassembled. */
  ERR_CHUNK_INTERLEAVED: 4403,
  /** A chunked message's chunks do not add up to its declared total. */
  ERR_CHUNK_MISMATCH: 4404,
  /** A well-formed frame arrived in a state that does not accept it. */
  ERR_UNEXPECTED_FRAME: 4405,
  /** A payload field failed validation (wrong length, out of range, bad UTF-8, bad JSON). */
  ERR_BAD_PAYLOAD: 4406,
  /** The public key is not on the roster. */
  ERR_AUTH_UNKNOWN_KEY: 4410,
  /** The public key is on the roster but revoked. */
  ERR_AUTH_REVOKED: 4411,
  /** The challenge signature does not verify. */
  ERR_AUTH_BAD_SIGNATURE: 4412,
  /** The peer did not authenticate before the handshake deadline. */
  ERR_AUTH_TIMEOUT: 4414,
  /** The same identity opened a second session while the first stopped answering; the older one is closed. */
  ERR_SESSION_REPLACED: 4415,
  /** The same identity opened a second session while the first is live; the newer one is refused. */
  ERR_SESSION_DUPLICATE: 4416,
  /** The client refuses the federation: its announced settings or a round violate the site's policy. */
  ERR_POLICY_REFUSED: 4417,
  /** The client's data does not match the schema the federation announced (columns, labels, shape). */
  ERR_SCHEMA_MISMATCH: 4418,
  /** A message names a round other than the current one. */
  ERR_ROUND_MISMATCH: 4420,
  /** A vector has the wrong number of entries. */
  ERR_VECTOR_LENGTH: 4421,
  /** The secagg core rejected a message (its SecAggError code is in the message). */
  ERR_PROTOCOL: 4422,
  /** No frame or pong arrived within the heartbeat timeout. */
  ERR_HEARTBEAT_TIMEOUT: 4430,
  /** A phase deadline passed before this peer answered; it is dropped from the round. */
  ERR_DEADLINE: 4431,
  /** The server is shutting down. */
  ERR_SHUTDOWN: 4440,
  /** The federation has finished; no further rounds. */
  ERR_FEDERATION_DONE: 4441,
  /** The client could not connect after all its attempts. */
  ERR_CONNECT_FAILED: 4450,
  /** The connection closed while an operation needed it. */
  ERR_CLOSED: 4451,
  /**
   * Client side only (never sent on the wire): the server's TLS certificate does not chain to
   * a CA the client trusts (e.g. a self-signed certificate and no or another `client.ca`).
   */
  ERR_TLS_UNTRUSTED: 4452,
  /** Client side only: the server's certificate does not carry the host name or IP address dialled. */
  ERR_TLS_HOSTNAME: 4453,
  /** Client side only: the server's certificate has expired or is not valid yet. */
  ERR_TLS_EXPIRED: 4454,
  /** Client side only: no TLS handshake possible (wss:// to a non-TLS port, ws:// to a TLS port, no common TLS version). */
  ERR_TLS_PROTOCOL: 4455,
  /** The client closed its socket on purpose (fault-injection hook `dropAfterPhase`). */
  ERR_TEST_DROP: 4460,
  /** An unexpected internal failure; details in the message. */
  ERR_INTERNAL: 4500,
} as const;

export type TransportErrorCode = keyof typeof TRANSPORT_ERRORS;

/** Is `code` one of the runtime's codes? */
export function isTransportErrorCode(code: string): code is TransportErrorCode {
  return Object.prototype.hasOwnProperty.call(TRANSPORT_ERRORS, code);
}

/** A runtime error with a stable `code` and the ws close code it maps to. */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  /** The WebSocket close code the peer sees when this error ends the connection. */
  readonly closeCode: number;
  constructor(
    readonly code: TransportErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
    this.closeCode = TRANSPORT_ERRORS[code];
  }
}

/** The close code for a runtime error code (4500 for anything unknown). */
export function closeCodeFor(code: string): number {
  return isTransportErrorCode(code) ? TRANSPORT_ERRORS[code] : TRANSPORT_ERRORS.ERR_INTERNAL;
}
