/**
 * The SecAgg / SecAgg+ wire messages as TypeScript values. Every message has a `kind`
 * discriminant; `encodeMessage` / `decodeMessage` (codec/) turn them into the exact bytes
 * specified in protocol-spec/04-messages.md.
 *
 * Client ids are small integers 1..65535 that double as Shamir x-coordinates.
 * Lists of ids on the wire are always strictly increasing.
 */
import type { AbortReasonCode } from './reasons.js';

/** Round 0, client -> server: the client's two X25519 public keys (and, in active mode, a signature). */
export interface AdvertiseKeysMessage {
  readonly kind: 'advertise-keys';
  readonly clientId: number;
  /** c_pk: X25519 public key used to derive the AEAD keys of the shares (32 bytes). */
  readonly encryptionPublicKey: Uint8Array;
  /** s_pk: X25519 public key used to derive the pairwise mask seeds (32 bytes). */
  readonly maskingPublicKey: Uint8Array;
  /** Ed25519 signature (64 bytes) over the advertise payload in active mode; null in semi-honest mode. */
  readonly signature: Uint8Array | null;
}

/** One client's advertised keys as forwarded by the server. */
export interface AdvertisedKeys {
  readonly clientId: number;
  readonly encryptionPublicKey: Uint8Array;
  readonly maskingPublicKey: Uint8Array;
  readonly signature: Uint8Array | null;
}

/** Round 0 -> 1, server -> every client in U1: every advertised key, sorted by client id. */
export interface KeyListMessage {
  readonly kind: 'key-list';
  readonly entries: readonly AdvertisedKeys[];
}

/** One AEAD-encrypted pair of shares (of s_sk and b) from one client to another. */
export interface EncryptedShare {
  /** The other party: the recipient in ShareKeys, the sender in ShareDelivery. */
  readonly peerId: number;
  /** 24-byte nonce || XChaCha20-Poly1305 ciphertext of the share payload (see 04-messages.md). */
  readonly ciphertext: Uint8Array;
}

/** Round 1, client -> server: one encrypted share pair per neighbour (peerId = recipient). */
export interface ShareKeysMessage {
  readonly kind: 'share-keys';
  readonly clientId: number;
  readonly shares: readonly EncryptedShare[];
}

/** Round 1 -> 2, server -> each client in U2: the share pairs addressed to it (peerId = sender). */
export interface ShareDeliveryMessage {
  readonly kind: 'share-delivery';
  readonly recipientId: number;
  readonly shares: readonly EncryptedShare[];
}

/**
 * Why a recipient could not use a neighbour's share ciphertext: the u8 `cause` of a
 * share-report entry (append-only registry, protocol-spec/04-messages.md).
 */
export const SHARE_FAULT_CAUSES = {
  /** The ciphertext does not open under the pair's share key with the expected associated data. */
  UNOPENABLE: 1,
  /** It opens, but the plaintext has the wrong length or names the wrong owner or holder. */
  MALFORMED: 2,
  /** It opens and is well formed, but a share value is not a field element (>= p). */
  NOT_IN_FIELD: 3,
} as const;

/** Numeric wire code of a share-fault cause. */
export type ShareFaultCause = (typeof SHARE_FAULT_CAUSES)[keyof typeof SHARE_FAULT_CAUSES];

/** True when `code` is a registered share-fault cause. */
export function isShareFaultCause(code: number): code is ShareFaultCause {
  return Object.values(SHARE_FAULT_CAUSES).includes(code as ShareFaultCause);
}

/** One neighbour whose share ciphertext the reporting client could not use. */
export interface ShareFault {
  /** The neighbour that sent (per the server's delivery) the unusable ciphertext. */
  readonly senderId: number;
  readonly cause: ShareFaultCause;
}

/**
 * Round 2, client -> server, only when needed and always before the sender's masked input:
 * the neighbours whose share ciphertexts this client could not use (sorted by senderId).
 * The client holds no share of those senders' secrets and did not mask with them; the
 * server must leave every reported sender out of U3 (protocol-spec/05-state-machines.md).
 */
export interface ShareReportMessage {
  readonly kind: 'share-report';
  readonly clientId: number;
  readonly faults: readonly ShareFault[];
}

/** Round 2, client -> server: the double-masked input vector, entries mod 2^bits. */
export interface MaskedInputMessage {
  readonly kind: 'masked-input';
  readonly clientId: number;
  readonly bits: number;
  readonly vector: Uint32Array;
}

/** Round 2 -> 3 (active mode), server -> U3: the survivor set U3 for every client to sign. */
export interface ConsistencyRequestMessage {
  readonly kind: 'consistency-request';
  readonly survivors: readonly number[];
}

/** Round 3 (active mode), client -> server: Ed25519 signature over (session id, U3). */
export interface ConsistencySignatureMessage {
  readonly kind: 'consistency-signature';
  readonly clientId: number;
  readonly signature: Uint8Array;
}

/** A client's signature as forwarded by the server. */
export interface SurvivorSignature {
  readonly clientId: number;
  readonly signature: Uint8Array;
}

/**
 * Round 3/2 -> 4, server -> clients: the survivor set U3 (and in active mode the
 * signatures of U4 over it). Each client reveals b-shares of its surviving neighbours
 * and s_sk-shares of its neighbours that sent shares but no masked input.
 */
export interface UnmaskRequestMessage {
  readonly kind: 'unmask-request';
  readonly survivors: readonly number[];
  /** Empty in semi-honest mode. */
  readonly signatures: readonly SurvivorSignature[];
}

/** One Shamir share of another client's secret (the holder is the message's sender). */
export interface RevealedShare {
  /** The client whose secret this share belongs to. */
  readonly ownerId: number;
  /** The share's y value, fixed length (SHARE_VALUE_BYTES). */
  readonly share: Uint8Array;
}

/** Round 4, client -> server: the shares needed to remove the masks. */
export interface UnmaskResponseMessage {
  readonly kind: 'unmask-response';
  readonly clientId: number;
  /** Shares of b_v for v in U3 (self-mask seeds of survivors), sorted by ownerId. */
  readonly selfMaskShares: readonly RevealedShare[];
  /** Shares of s_sk_v for v in U2 \ U3 (mask keys of dropped clients), sorted by ownerId. */
  readonly keyShares: readonly RevealedShare[];
}

/** Either direction: the sender gives up on this session, with a registered reason code. */
export interface AbortMessage {
  readonly kind: 'abort';
  readonly reason: AbortReasonCode;
  /** Human-readable detail, at most 1024 UTF-8 bytes on the wire. */
  readonly detail: string;
}

/** Everything a client sends. */
export type ClientMessage =
  | AdvertiseKeysMessage
  | ShareKeysMessage
  | ShareReportMessage
  | MaskedInputMessage
  | ConsistencySignatureMessage
  | UnmaskResponseMessage
  | AbortMessage;

/** Everything the server sends. */
export type ServerMessage =
  | KeyListMessage
  | ShareDeliveryMessage
  | ConsistencyRequestMessage
  | UnmaskRequestMessage
  | AbortMessage;

/** Any protocol message. */
export type Message = ClientMessage | ServerMessage;

/** The `kind` of any message. */
export type MessageKind = Message['kind'];

/** Wire type byte of each message kind (append-only, see 04-messages.md). */
export const MESSAGE_TYPE = {
  'advertise-keys': 0x01,
  'share-keys': 0x02,
  'masked-input': 0x03,
  'consistency-signature': 0x04,
  'unmask-response': 0x05,
  'share-report': 0x06,
  'key-list': 0x11,
  'share-delivery': 0x12,
  'consistency-request': 0x13,
  'unmask-request': 0x14,
  abort: 0x7f,
} as const satisfies Record<MessageKind, number>;
