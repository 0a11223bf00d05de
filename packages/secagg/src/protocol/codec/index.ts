/**
 * The binary wire codec (protocol-spec/04-messages.md). Every message is
 *   magic "FMSA" (4 bytes) | version u8 (= 1) | type u8 | body
 * with little-endian integers, counts before lists, strictly increasing id lists and
 * vectors bit-packed mod 2^bits. No JSON anywhere. Decoding never trusts a declared
 * length: counts are checked against caps and against the bytes present before anything
 * is allocated, and every failure is a DecodeError with an ERR_DECODE_* code.
 */
import { InvalidArgumentError } from '../../errors.js';
import { MAX_CLIENT_ID, MAX_VECTOR_LENGTH, PROTOCOL_VERSION } from '../config.js';
import { isShareFaultCause, MESSAGE_TYPE, type EncryptedShare, type Message, type MessageKind, type RevealedShare, type ShareFault } from '../messages.js';
import { isAbortReasonCode } from '../reasons.js';
import { packInto, packedByteLength, unpack } from './pack.js';
import { ByteReader, ByteWriter, DecodeError } from './reader.js';

export { DecodeError } from './reader.js';
export { packedByteLength } from './pack.js';

/** "FMSA": FedMeta Secure Aggregation. */
export const MAGIC = new Uint8Array([0x46, 0x4d, 0x53, 0x41]);
export const HEADER_BYTES = 6;
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
/** Cap on one share ciphertext (nonce + AEAD output). */
export const MAX_CIPHERTEXT_BYTES = 1024;
/** Cap on one revealed share value. */
export const MAX_SHARE_BYTES = 64;
/** Cap on the UTF-8 detail of an abort message. */
export const MAX_ABORT_DETAIL_BYTES = 1024;

const KIND_BY_TYPE = new Map<number, MessageKind>(
  (Object.entries(MESSAGE_TYPE) as [MessageKind, number][]).map(([k, t]) => [t, k]),
);

/** Optional decoder limits (tighter than the protocol caps, e.g. the session's vector length). */
export interface DecodeLimits {
  /** Largest accepted masked-input vector length (default MAX_VECTOR_LENGTH). */
  readonly maxVectorLength?: number;
}

// ---------------------------------------------------------------- encoding

function checkId(id: number, field: string): void {
  if (!Number.isInteger(id) || id < 1 || id > MAX_CLIENT_ID) {
    throw new InvalidArgumentError(`${field}: client id ${String(id)} is not an integer in 1..65535`);
  }
}

function checkBytes(b: unknown, len: number, field: string): asserts b is Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== len) throw new InvalidArgumentError(`${field}: expected ${len} bytes`);
}

function checkIncreasing(ids: readonly number[], field: string): void {
  for (let i = 0; i < ids.length; i++) {
    checkId(ids[i]!, field);
    if (i > 0 && ids[i]! <= ids[i - 1]!) throw new InvalidArgumentError(`${field}: ids must be strictly increasing`);
  }
  if (ids.length > 0xffff) throw new InvalidArgumentError(`${field}: more than 65535 entries`);
}

function writeEncryptedShares(w: ByteWriter, shares: readonly EncryptedShare[], field: string): void {
  checkIncreasing(shares.map((s) => s.peerId), field);
  w.u16(shares.length);
  for (const s of shares) {
    if (!(s.ciphertext instanceof Uint8Array) || s.ciphertext.length < 1 || s.ciphertext.length > MAX_CIPHERTEXT_BYTES) {
      throw new InvalidArgumentError(`${field}.ciphertext: expected 1..${MAX_CIPHERTEXT_BYTES} bytes`);
    }
    w.u16(s.peerId);
    w.u16(s.ciphertext.length);
    w.bytes(s.ciphertext);
  }
}

function writeRevealed(w: ByteWriter, shares: readonly RevealedShare[], len: number, field: string): void {
  checkIncreasing(shares.map((s) => s.ownerId), field);
  w.u16(shares.length);
  for (const s of shares) {
    checkBytes(s.share, len, `${field}.share`);
    w.u16(s.ownerId);
    w.bytes(s.share);
  }
}

/**
 * Encodes a message into its exact wire bytes.
 * @throws InvalidArgumentError when a field is out of range (the field is named).
 */
export function encodeMessage(msg: Message): Uint8Array {
  const type = MESSAGE_TYPE[msg.kind];
  if (type === undefined) throw new InvalidArgumentError(`message.kind: unknown kind ${String((msg as { kind: unknown }).kind)}`);
  const w = new ByteWriter(msg.kind === 'masked-input' ? HEADER_BYTES + 7 + packedByteLength(msg.vector.length, msg.bits) : 256);
  w.bytes(MAGIC);
  w.u8(PROTOCOL_VERSION);
  w.u8(type);
  switch (msg.kind) {
    case 'advertise-keys': {
      checkId(msg.clientId, 'advertise-keys.clientId');
      checkBytes(msg.encryptionPublicKey, PUBLIC_KEY_BYTES, 'advertise-keys.encryptionPublicKey');
      checkBytes(msg.maskingPublicKey, PUBLIC_KEY_BYTES, 'advertise-keys.maskingPublicKey');
      if (msg.signature !== null) checkBytes(msg.signature, SIGNATURE_BYTES, 'advertise-keys.signature');
      w.u16(msg.clientId);
      w.u8(msg.signature === null ? 0 : 1);
      w.bytes(msg.encryptionPublicKey);
      w.bytes(msg.maskingPublicKey);
      if (msg.signature !== null) w.bytes(msg.signature);
      break;
    }
    case 'key-list': {
      checkIncreasing(msg.entries.map((e) => e.clientId), 'key-list.entries');
      const signed = msg.entries.length > 0 && msg.entries[0]!.signature !== null;
      w.u16(msg.entries.length);
      w.u8(signed ? 1 : 0);
      for (const e of msg.entries) {
        checkBytes(e.encryptionPublicKey, PUBLIC_KEY_BYTES, 'key-list.entries.encryptionPublicKey');
        checkBytes(e.maskingPublicKey, PUBLIC_KEY_BYTES, 'key-list.entries.maskingPublicKey');
        if ((e.signature !== null) !== signed) throw new InvalidArgumentError('key-list.entries.signature: all entries or none must be signed');
        w.u16(e.clientId);
        w.bytes(e.encryptionPublicKey);
        w.bytes(e.maskingPublicKey);
        if (e.signature !== null) {
          checkBytes(e.signature, SIGNATURE_BYTES, 'key-list.entries.signature');
          w.bytes(e.signature);
        }
      }
      break;
    }
    case 'share-keys':
      checkId(msg.clientId, 'share-keys.clientId');
      w.u16(msg.clientId);
      writeEncryptedShares(w, msg.shares, 'share-keys.shares');
      break;
    case 'share-delivery':
      checkId(msg.recipientId, 'share-delivery.recipientId');
      w.u16(msg.recipientId);
      writeEncryptedShares(w, msg.shares, 'share-delivery.shares');
      break;
    case 'share-report': {
      checkId(msg.clientId, 'share-report.clientId');
      checkIncreasing(msg.faults.map((f) => f.senderId), 'share-report.faults');
      if (msg.faults.length === 0) throw new InvalidArgumentError('share-report.faults: at least one entry (an empty report is never sent)');
      w.u16(msg.clientId);
      w.u16(msg.faults.length);
      for (const f of msg.faults) {
        if (!isShareFaultCause(f.cause)) throw new InvalidArgumentError(`share-report.faults.cause: unregistered cause ${String(f.cause)}`);
        w.u16(f.senderId);
        w.u8(f.cause);
      }
      break;
    }
    case 'masked-input': {
      checkId(msg.clientId, 'masked-input.clientId');
      if (!Number.isInteger(msg.bits) || msg.bits < 1 || msg.bits > 32) throw new InvalidArgumentError('masked-input.bits: expected 1..32');
      if (!(msg.vector instanceof Uint32Array) || msg.vector.length < 1 || msg.vector.length > MAX_VECTOR_LENGTH) {
        throw new InvalidArgumentError(`masked-input.vector: expected a Uint32Array of 1..${MAX_VECTOR_LENGTH} entries`);
      }
      if (msg.bits < 32) {
        const limit = 2 ** msg.bits;
        for (let i = 0; i < msg.vector.length; i++) {
          if (msg.vector[i]! >= limit) throw new InvalidArgumentError(`masked-input.vector[${i}]: ${msg.vector[i]} >= 2^${msg.bits}`);
        }
      }
      w.u16(msg.clientId);
      w.u8(msg.bits);
      w.u32(msg.vector.length);
      packInto(msg.vector, msg.bits, w.reserve(packedByteLength(msg.vector.length, msg.bits)));
      break;
    }
    case 'consistency-request':
      checkIncreasing(msg.survivors, 'consistency-request.survivors');
      w.u16(msg.survivors.length);
      for (const id of msg.survivors) w.u16(id);
      break;
    case 'consistency-signature':
      checkId(msg.clientId, 'consistency-signature.clientId');
      checkBytes(msg.signature, SIGNATURE_BYTES, 'consistency-signature.signature');
      w.u16(msg.clientId);
      w.bytes(msg.signature);
      break;
    case 'unmask-request':
      checkIncreasing(msg.survivors, 'unmask-request.survivors');
      checkIncreasing(msg.signatures.map((s) => s.clientId), 'unmask-request.signatures');
      w.u16(msg.survivors.length);
      for (const id of msg.survivors) w.u16(id);
      w.u16(msg.signatures.length);
      for (const s of msg.signatures) {
        checkBytes(s.signature, SIGNATURE_BYTES, 'unmask-request.signatures.signature');
        w.u16(s.clientId);
        w.bytes(s.signature);
      }
      break;
    case 'unmask-response': {
      checkId(msg.clientId, 'unmask-response.clientId');
      const first = msg.selfMaskShares[0] ?? msg.keyShares[0];
      const len = first === undefined ? 0 : first.share.length;
      if (len > MAX_SHARE_BYTES) throw new InvalidArgumentError(`unmask-response.share: more than ${MAX_SHARE_BYTES} bytes`);
      w.u16(msg.clientId);
      w.u8(len);
      writeRevealed(w, msg.selfMaskShares, len, 'unmask-response.selfMaskShares');
      writeRevealed(w, msg.keyShares, len, 'unmask-response.keyShares');
      break;
    }
    case 'abort': {
      if (!isAbortReasonCode(msg.reason)) throw new InvalidArgumentError(`abort.reason: unregistered reason code ${String(msg.reason)}`);
      const detail = new TextEncoder().encode(msg.detail);
      if (detail.length > MAX_ABORT_DETAIL_BYTES) throw new InvalidArgumentError(`abort.detail: more than ${MAX_ABORT_DETAIL_BYTES} UTF-8 bytes`);
      w.u16(msg.reason);
      w.u16(detail.length);
      w.bytes(detail);
      break;
    }
  }
  return w.finish();
}

// ---------------------------------------------------------------- decoding

function readId(r: ByteReader, field: string, what: string): number {
  const id = r.u16(field);
  if (id === 0) throw new DecodeError('ERR_DECODE_FIELD', `${what}.${field}: client id 0 is not allowed`);
  return id;
}

function checkOrder(prev: number, id: number, what: string, field: string): void {
  if (id <= prev) throw new DecodeError('ERR_DECODE_ORDER', `${what}.${field}: ids must be strictly increasing (${prev} then ${id})`);
}

function readIdList(r: ByteReader, what: string, field: string): number[] {
  const count = r.count16(field, 2, MAX_CLIENT_ID);
  const ids: number[] = new Array<number>(count);
  let prev = 0;
  for (let i = 0; i < count; i++) {
    const id = readId(r, field, what);
    checkOrder(prev, id, what, field);
    ids[i] = prev = id;
  }
  return ids;
}

function readEncryptedShares(r: ByteReader, what: string): EncryptedShare[] {
  const count = r.count16('shares', 5, MAX_CLIENT_ID);
  const shares: EncryptedShare[] = [];
  let prev = 0;
  for (let i = 0; i < count; i++) {
    const peerId = readId(r, 'shares.peerId', what);
    checkOrder(prev, peerId, what, 'shares.peerId');
    prev = peerId;
    const len = r.u16('shares.length');
    if (len < 1 || len > MAX_CIPHERTEXT_BYTES) {
      throw new DecodeError('ERR_DECODE_LIMIT', `${what}.shares.length: ${len} not in 1..${MAX_CIPHERTEXT_BYTES}`);
    }
    shares.push({ peerId, ciphertext: r.bytesCopy(len, 'shares.ciphertext') });
  }
  return shares;
}

function readRevealed(r: ByteReader, len: number, what: string, field: string): RevealedShare[] {
  const count = r.count16(field, 2 + len, MAX_CLIENT_ID);
  const shares: RevealedShare[] = [];
  let prev = 0;
  for (let i = 0; i < count; i++) {
    const ownerId = readId(r, `${field}.ownerId`, what);
    checkOrder(prev, ownerId, what, `${field}.ownerId`);
    prev = ownerId;
    shares.push({ ownerId, share: r.bytesCopy(len, `${field}.share`) });
  }
  return shares;
}

/**
 * Decodes one wire message.
 * @param bytes the complete message (the transport frames messages).
 * @param limits optional tighter caps.
 * @throws DecodeError with code ERR_DECODE_INPUT | _TRUNCATED | _MAGIC | _VERSION | _TYPE |
 *   _FIELD | _LIMIT | _ORDER | _NONCANONICAL | _UTF8 | _TRAILING.
 */
export function decodeMessage(bytes: Uint8Array, limits: DecodeLimits = {}): Message {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('ERR_DECODE_INPUT', 'decodeMessage: expected a Uint8Array');
  const header = new ByteReader(bytes, 'message');
  header.need(HEADER_BYTES, 'header');
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw new DecodeError('ERR_DECODE_MAGIC', 'message.header: bad magic (expected "FMSA")');
  }
  header.bytesView(4, 'magic');
  const version = header.u8('version');
  if (version !== PROTOCOL_VERSION) throw new DecodeError('ERR_DECODE_VERSION', `message.header: unsupported version ${version}`);
  const type = header.u8('type');
  const kind = KIND_BY_TYPE.get(type);
  if (kind === undefined) throw new DecodeError('ERR_DECODE_TYPE', `message.header: unknown type 0x${type.toString(16)}`);
  const r = new ByteReader(bytes.subarray(HEADER_BYTES), kind);
  const msg = decodeBody(kind, r, limits);
  r.end();
  return msg;
}

function decodeBody(kind: MessageKind, r: ByteReader, limits: DecodeLimits): Message {
  switch (kind) {
    case 'advertise-keys': {
      const clientId = readId(r, 'clientId', kind);
      const flags = r.u8('flags');
      if (flags > 1) throw new DecodeError('ERR_DECODE_FIELD', `${kind}.flags: unknown flag bits 0x${flags.toString(16)}`);
      const encryptionPublicKey = r.bytesCopy(PUBLIC_KEY_BYTES, 'encryptionPublicKey');
      const maskingPublicKey = r.bytesCopy(PUBLIC_KEY_BYTES, 'maskingPublicKey');
      const signature = flags === 1 ? r.bytesCopy(SIGNATURE_BYTES, 'signature') : null;
      return { kind, clientId, encryptionPublicKey, maskingPublicKey, signature };
    }
    case 'key-list': {
      const count = r.u16('entries.count');
      const flags = r.u8('flags');
      if (flags > 1) throw new DecodeError('ERR_DECODE_FIELD', `${kind}.flags: unknown flag bits 0x${flags.toString(16)}`);
      if (count === 0 && flags === 1) throw new DecodeError('ERR_DECODE_NONCANONICAL', `${kind}.flags: an empty list is unsigned`);
      const entryBytes = 2 + 2 * PUBLIC_KEY_BYTES + (flags === 1 ? SIGNATURE_BYTES : 0);
      r.need(count * entryBytes, 'entries');
      const entries = [];
      let prev = 0;
      for (let i = 0; i < count; i++) {
        const clientId = readId(r, 'entries.clientId', kind);
        checkOrder(prev, clientId, kind, 'entries.clientId');
        prev = clientId;
        const encryptionPublicKey = r.bytesCopy(PUBLIC_KEY_BYTES, 'entries.encryptionPublicKey');
        const maskingPublicKey = r.bytesCopy(PUBLIC_KEY_BYTES, 'entries.maskingPublicKey');
        const signature = flags === 1 ? r.bytesCopy(SIGNATURE_BYTES, 'entries.signature') : null;
        entries.push({ clientId, encryptionPublicKey, maskingPublicKey, signature });
      }
      return { kind, entries };
    }
    case 'share-keys': {
      const clientId = readId(r, 'clientId', kind);
      return { kind, clientId, shares: readEncryptedShares(r, kind) };
    }
    case 'share-delivery': {
      const recipientId = readId(r, 'recipientId', kind);
      return { kind, recipientId, shares: readEncryptedShares(r, kind) };
    }
    case 'share-report': {
      const clientId = readId(r, 'clientId', kind);
      const count = r.count16('faults', 3, MAX_CLIENT_ID);
      if (count === 0) throw new DecodeError('ERR_DECODE_NONCANONICAL', `${kind}.faults: an empty report is never sent`);
      const faults: ShareFault[] = [];
      let prev = 0;
      for (let i = 0; i < count; i++) {
        const senderId = readId(r, 'faults.senderId', kind);
        checkOrder(prev, senderId, kind, 'faults.senderId');
        prev = senderId;
        const cause = r.u8('faults.cause');
        if (!isShareFaultCause(cause)) throw new DecodeError('ERR_DECODE_FIELD', `${kind}.faults.cause: unregistered cause ${cause}`);
        faults.push({ senderId, cause });
      }
      return { kind, clientId, faults };
    }
    case 'masked-input': {
      const clientId = readId(r, 'clientId', kind);
      const bits = r.u8('bits');
      if (bits < 1 || bits > 32) throw new DecodeError('ERR_DECODE_FIELD', `${kind}.bits: ${bits} not in 1..32`);
      const length = r.u32('length');
      const cap = Math.min(limits.maxVectorLength ?? MAX_VECTOR_LENGTH, MAX_VECTOR_LENGTH);
      if (length < 1 || length > cap) throw new DecodeError('ERR_DECODE_LIMIT', `${kind}.length: ${length} not in 1..${cap}`);
      const packed = r.bytesView(packedByteLength(length, bits), 'vector');
      return { kind, clientId, bits, vector: unpack(packed, length, bits, `${kind}.vector`) };
    }
    case 'consistency-request':
      return { kind, survivors: readIdList(r, kind, 'survivors') };
    case 'consistency-signature': {
      const clientId = readId(r, 'clientId', kind);
      return { kind, clientId, signature: r.bytesCopy(SIGNATURE_BYTES, 'signature') };
    }
    case 'unmask-request': {
      const survivors = readIdList(r, kind, 'survivors');
      const count = r.count16('signatures', 2 + SIGNATURE_BYTES, MAX_CLIENT_ID);
      const signatures = [];
      let prev = 0;
      for (let i = 0; i < count; i++) {
        const clientId = readId(r, 'signatures.clientId', kind);
        checkOrder(prev, clientId, kind, 'signatures.clientId');
        prev = clientId;
        signatures.push({ clientId, signature: r.bytesCopy(SIGNATURE_BYTES, 'signatures.signature') });
      }
      return { kind, survivors, signatures };
    }
    case 'unmask-response': {
      const clientId = readId(r, 'clientId', kind);
      const len = r.u8('shareLength');
      if (len > MAX_SHARE_BYTES) throw new DecodeError('ERR_DECODE_LIMIT', `${kind}.shareLength: ${len} > ${MAX_SHARE_BYTES}`);
      const selfMaskShares = readRevealed(r, len, kind, 'selfMaskShares');
      const keyShares = readRevealed(r, len, kind, 'keyShares');
      if (len === 0 && selfMaskShares.length + keyShares.length > 0) {
        throw new DecodeError('ERR_DECODE_FIELD', `${kind}.shareLength: 0 with a non-empty share list`);
      }
      if (len !== 0 && selfMaskShares.length + keyShares.length === 0) {
        throw new DecodeError('ERR_DECODE_NONCANONICAL', `${kind}.shareLength: must be 0 when both share lists are empty`);
      }
      return { kind, clientId, selfMaskShares, keyShares };
    }
    case 'abort': {
      const reason = r.u16('reason');
      if (!isAbortReasonCode(reason)) throw new DecodeError('ERR_DECODE_FIELD', `${kind}.reason: unregistered reason code ${reason}`);
      const len = r.u16('detail.length');
      if (len > MAX_ABORT_DETAIL_BYTES) throw new DecodeError('ERR_DECODE_LIMIT', `${kind}.detail.length: ${len} > ${MAX_ABORT_DETAIL_BYTES}`);
      let detail: string;
      try {
        detail = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(r.bytesView(len, 'detail'));
      } catch (err) {
        if (err instanceof DecodeError) throw err;
        throw new DecodeError('ERR_DECODE_UTF8', `${kind}.detail: invalid UTF-8`);
      }
      return { kind, reason, detail };
    }
  }
}
