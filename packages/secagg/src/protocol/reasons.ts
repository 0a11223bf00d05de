/**
 * Abort reasons: an append-only registry. A code, once published, keeps its number and
 * meaning forever; retired reasons stay listed. Each is documented in
 * protocol-spec/07-abort-reasons.md and travels as a uint16 in the `abort` message.
 */
import { SecAggError } from '../errors.js';

export const ABORT_REASONS = {
  /** Server: fewer than t clients advertised keys (|U1| < t). */
  TOO_FEW_ADVERTISED: 1,
  /** Server: fewer than t clients sent their encrypted shares (|U2| < t). */
  TOO_FEW_SHARED: 2,
  /** Server: fewer than t clients sent a masked input (|U3| < t). */
  TOO_FEW_MASKED_INPUTS: 3,
  /** Server (active mode): fewer than t clients signed the survivor set (|U4| < t). */
  TOO_FEW_SIGNATURES: 4,
  /** Server: fewer than t clients answered the unmask request (|U5| < t). */
  TOO_FEW_UNMASK_RESPONSES: 5,
  /** Server: some secret that must be reconstructed has fewer than t shares. */
  TOO_FEW_SHARES: 6,
  /** Either: a client's neighbourhood holds fewer than t live share holders. */
  NEIGHBOURHOOD_TOO_SMALL: 7,
  /** Client: the forwarded key list is malformed (own keys altered, duplicates, unknown ids, low-order key). */
  INVALID_KEY_LIST: 8,
  /** Client (active mode): a forwarded key's signature does not verify against the roster. */
  INVALID_KEY_SIGNATURE: 9,
  /** Client: a share ciphertext failed to decrypt or carried the wrong sender/recipient. */
  SHARE_DECRYPTION_FAILED: 10,
  /** Client: the share delivery names a non-neighbour, a duplicate or the wrong recipient. */
  INVALID_SHARE_DELIVERY: 11,
  /** Client: the survivor set is inconsistent (not a subset of U2, excludes self, duplicates...). */
  INCONSISTENT_SURVIVORS: 12,
  /** Client (active mode): the forwarded consistency signatures are missing, too few or invalid. */
  INVALID_CONSISTENCY_SIGNATURES: 13,
  /** Server: revealed shares are inconsistent (do not lie on one polynomial / do not match s_pk). */
  INCONSISTENT_SHARES: 14,
  /** Either: the peer sent a message that is not allowed in the current state. */
  PROTOCOL_VIOLATION: 15,
  /** Host: the session was cancelled from outside the protocol. */
  CANCELLED: 16,
  /** Client: the server aborted (the client records the server's reason). */
  PEER_ABORTED: 17,
  /** Client: the local input vector is not a Uint32Array of the session's length with entries < 2^bits. */
  INVALID_LOCAL_INPUT: 18,
  /**
   * Either: the survivor set U3 is smaller than the party's floor (its local `minSurvivors`,
   * the fewest inputs a released sum may hold). A client raises it instead of signing or
   * revealing; the server when MaskedInputCollection closes below its floor, or when a
   * survivor refuses with this reason.
   */
  TOO_FEW_SURVIVORS: 19,
} as const;

/** Name of a registered abort reason. */
export type AbortReasonName = keyof typeof ABORT_REASONS;
/** Numeric wire code of a registered abort reason. */
export type AbortReasonCode = (typeof ABORT_REASONS)[AbortReasonName];

const NAME_BY_CODE = new Map<number, AbortReasonName>(
  (Object.entries(ABORT_REASONS) as [AbortReasonName, AbortReasonCode][]).map(([n, c]) => [c, n]),
);

/** True when `code` is a registered abort reason. */
export function isAbortReasonCode(code: number): code is AbortReasonCode {
  return NAME_BY_CODE.has(code);
}

/** The registry name of a reason code (throws for an unregistered code). */
export function abortReasonName(code: AbortReasonCode): AbortReasonName {
  const name = NAME_BY_CODE.get(code);
  if (name === undefined) throw new RangeError(`abortReasonName: unregistered reason code ${code}`);
  return name;
}

/**
 * Thrown by a state machine that gives up on the session. `code` is always
 * 'ERR_SECAGG_ABORTED'; `reason` is the registered reason; nothing secret is released after it.
 */
export class SecAggAbortError extends SecAggError {
  override readonly name = 'SecAggAbortError';
  readonly reasonName: AbortReasonName;
  constructor(
    readonly reason: AbortReasonCode,
    readonly detail: string,
  ) {
    super('ERR_SECAGG_ABORTED', `secagg aborted (${abortReasonName(reason)}): ${detail}`);
    this.reasonName = abortReasonName(reason);
  }
}

/**
 * Thrown when a peer's message is rejected but the session goes on (server side: a bad
 * or late message from one client). `code` names the problem, e.g. ERR_UNEXPECTED_MESSAGE,
 * ERR_LATE_MESSAGE, ERR_DUPLICATE_MESSAGE, ERR_UNKNOWN_CLIENT, ERR_INVALID_MESSAGE;
 * `clientId` names the sender when the error is about one client's message.
 */
export class SecAggProtocolError extends SecAggError {
  override readonly name = 'SecAggProtocolError';
  readonly clientId: number | undefined;
  constructor(code: string, message: string, options: { cause?: unknown; clientId?: number } = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.clientId = options.clientId;
  }
}
