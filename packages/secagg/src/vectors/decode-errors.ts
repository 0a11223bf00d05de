/**
 * decode-errors.json: malformed SecAgg wire messages and the DecodeError code each must
 * raise (protocol-spec/04-messages.md sec. 4). Every case is a valid encoding of a sample
 * message with one defect; `max_vector_length`, when present, is the decoder's session
 * limit. Verification rebuilds the bytes from the case and decodes them.
 */
import { toHex } from '../crypto/bytes.js';
import { decodeMessage, encodeMessage, type DecodeLimits } from '../protocol/codec/index.js';
import { ABORT_REASONS } from '../protocol/reasons.js';
import type { Message } from '../protocol/messages.js';
import { expectErrorCode, expectFields, expectHex, intField, stringField, VectorFormatError } from './fields.js';
import { registerVectorKind, type Vector } from './registry.js';

const key = (b: number) => new Uint8Array(32).fill(b);
const sig = (b: number) => new Uint8Array(64).fill(b);
const y = (b: number) => new Uint8Array(33).fill(b);
const enc = (m: Message) => encodeMessage(m);
/** A copy of `bytes` with `patch` written at `at`. */
const patched = (bytes: Uint8Array, at: number, patch: readonly number[]) => {
  const out = bytes.slice();
  out.set(patch, at);
  return out;
};
const header = (type: number) => [0x46, 0x4d, 0x53, 0x41, 1, type];

const advertise = enc({ kind: 'advertise-keys', clientId: 1, encryptionPublicKey: key(0xaa), maskingPublicKey: key(0xbb), signature: null });
const keyList = enc({ kind: 'key-list', entries: [1, 2].map((clientId) => ({ clientId, encryptionPublicKey: key(clientId), maskingPublicKey: key(clientId + 0x10), signature: null })) });
const shareKeys = enc({ kind: 'share-keys', clientId: 1, shares: [{ peerId: 2, ciphertext: new Uint8Array(110).fill(7) }, { peerId: 3, ciphertext: new Uint8Array(110).fill(8) }] });
const report = enc({ kind: 'share-report', clientId: 3, faults: [{ senderId: 2, cause: 1 }, { senderId: 5, cause: 3 }] });
const masked3 = enc({ kind: 'masked-input', clientId: 1, bits: 3, vector: Uint32Array.from([1, 2, 7]) });
const masked32 = enc({ kind: 'masked-input', clientId: 1, bits: 32, vector: Uint32Array.from([1, 2, 3, 4]) });
const consistency = enc({ kind: 'consistency-request', survivors: [1, 2, 3] });
const signature = enc({ kind: 'consistency-signature', clientId: 1, signature: sig(0xcc) });
const unmaskRequest = enc({ kind: 'unmask-request', survivors: [1, 2, 3], signatures: [{ clientId: 1, signature: sig(1) }, { clientId: 2, signature: sig(2) }] });
const unmaskResponse = enc({ kind: 'unmask-response', clientId: 2, selfMaskShares: [{ ownerId: 1, share: y(1) }, { ownerId: 2, share: y(1) }], keyShares: [{ ownerId: 3, share: y(2) }] });
const abort = enc({ kind: 'abort', reason: ABORT_REASONS.TOO_FEW_SHARED, detail: 'ab' });

interface DecodeCase {
  name: string;
  defect: string;
  bytes: () => Uint8Array;
  limits?: DecodeLimits;
}

/** The cases of decode-errors.json (append-only: names are stable). */
export const DECODE_ERROR_CASES: readonly DecodeCase[] = [
  { name: 'empty', defect: 'no bytes at all', bytes: () => new Uint8Array(0) },
  { name: 'header-5-bytes', defect: 'a header cut after the version', bytes: () => advertise.slice(0, 5) },
  { name: 'bad-magic', defect: 'magic FMSB instead of FMSA', bytes: () => patched(advertise, 3, [0x42]) },
  { name: 'version-2', defect: 'version byte 2', bytes: () => patched(advertise, 4, [2]) },
  { name: 'unknown-type', defect: 'type byte 0x42', bytes: () => patched(advertise, 5, [0x42]) },
  { name: 'advertise-client-id-0', defect: 'advertise-keys from client id 0', bytes: () => patched(advertise, 6, [0, 0]) },
  { name: 'advertise-flags-2', defect: 'advertise-keys flags 0x02 (an unknown bit)', bytes: () => patched(advertise, 8, [2]) },
  { name: 'advertise-signed-flag-no-signature', defect: 'advertise-keys flagged signed, with no signature bytes', bytes: () => patched(advertise, 8, [1]) },
  { name: 'advertise-trailing-byte', defect: 'one byte after the masking key', bytes: () => Uint8Array.from([...advertise, 0]) },
  { name: 'advertise-truncated-key', defect: 'the masking key cut to 31 bytes', bytes: () => advertise.slice(0, advertise.length - 1) },
  { name: 'key-list-unordered', defect: 'key-list entries 2, 1', bytes: () => patched(patched(keyList, 9, [2, 0]), 9 + 66, [1, 0]) },
  { name: 'key-list-empty-signed', defect: 'an empty key-list flagged signed', bytes: () => Uint8Array.from([...header(0x11), 0, 0, 1]) },
  { name: 'key-list-count-too-large', defect: 'a key-list declaring 65535 signed entries in no bytes', bytes: () => Uint8Array.from([...header(0x11), 0xff, 0xff, 1]) },
  { name: 'share-keys-ciphertext-length-0', defect: 'a share-keys ciphertext of length 0', bytes: () => Uint8Array.from([...header(0x02), 1, 0, 1, 0, 2, 0, 0, 0, 0]) },
  { name: 'share-keys-ciphertext-length-1025', defect: 'a share-keys ciphertext of length 1025 (cap 1024)', bytes: () => Uint8Array.from([...header(0x02), 1, 0, 1, 0, 2, 0, 0x01, 0x04, 0]) },
  { name: 'share-keys-unordered-peers', defect: 'share-keys peers 3, 3', bytes: () => patched(shareKeys, 10, [3, 0]) },
  { name: 'share-delivery-recipient-0', defect: 'share-delivery to client 0', bytes: () => patched(patched(shareKeys, 5, [0x12]), 6, [0, 0]) },
  { name: 'share-report-empty', defect: 'a share-report with no entries', bytes: () => Uint8Array.from([...header(0x06), 3, 0, 0, 0]) },
  { name: 'share-report-cause-0', defect: 'share-report cause 0 (unregistered)', bytes: () => patched(report, 12, [0]) },
  { name: 'share-report-cause-4', defect: 'share-report cause 4 (unregistered)', bytes: () => patched(report, 12, [4]) },
  { name: 'share-report-unordered', defect: 'share-report senders 5, 5', bytes: () => patched(report, 10, [5, 0]) },
  { name: 'share-report-sender-0', defect: 'share-report naming sender 0', bytes: () => patched(report, 10, [0, 0]) },
  { name: 'share-report-truncated', defect: 'a share-report cut inside its last entry', bytes: () => report.slice(0, report.length - 1) },
  { name: 'masked-input-bits-0', defect: 'masked-input with bits 0', bytes: () => patched(masked3, 8, [0]) },
  { name: 'masked-input-bits-33', defect: 'masked-input with bits 33', bytes: () => patched(masked3, 8, [33]) },
  { name: 'masked-input-length-0', defect: 'masked-input declaring 0 entries', bytes: () => Uint8Array.from([...header(0x03), 1, 0, 32, 0, 0, 0, 0]) },
  { name: 'masked-input-over-session-limit', defect: 'masked-input of 4 entries where the session allows 3', bytes: () => masked32, limits: { maxVectorLength: 3 } },
  { name: 'masked-input-over-cap', defect: 'masked-input declaring 2^28 + 1 entries', bytes: () => Uint8Array.from([...header(0x03), 1, 0, 32, 1, 0, 0, 0x10]) },
  { name: 'masked-input-padding-bits', defect: 'bits 3, [1, 2, 7] with the last byte\'s top bit set', bytes: () => patched(masked3, masked3.length - 1, [0x81]) },
  { name: 'masked-input-truncated-vector', defect: 'a 32-bit vector of 4 entries cut to 15 bytes', bytes: () => masked32.slice(0, masked32.length - 1) },
  { name: 'consistency-request-id-0', defect: 'a survivor id 0', bytes: () => patched(consistency, 8, [0, 0]) },
  { name: 'consistency-request-duplicate', defect: 'survivors 1, 1, 3', bytes: () => patched(consistency, 10, [1, 0]) },
  { name: 'consistency-signature-truncated', defect: 'a 63-byte signature', bytes: () => signature.slice(0, signature.length - 1) },
  { name: 'unmask-request-unordered-signers', defect: 'signers 2, 2', bytes: () => patched(unmaskRequest, 16, [2, 0]) },
  { name: 'unmask-response-share-length-65', defect: 'share_len 65 (cap 64)', bytes: () => patched(unmaskResponse, 8, [65]) },
  { name: 'unmask-response-share-length-0-with-shares', defect: 'share_len 0 with shares listed', bytes: () => Uint8Array.from([...header(0x05), 2, 0, 0, 1, 0, 1, 0, 0, 0]) },
  { name: 'unmask-response-empty-with-length', defect: 'share_len 33 with both lists empty', bytes: () => Uint8Array.from([...header(0x05), 2, 0, 33, 0, 0, 0, 0]) },
  { name: 'unmask-response-unordered-owners', defect: 'self-mask owners 2, 2', bytes: () => patched(unmaskResponse, 11, [2, 0]) },
  { name: 'abort-reason-0', defect: 'abort reason 0 (unregistered)', bytes: () => patched(abort, 6, [0, 0]) },
  { name: 'abort-reason-999', defect: 'abort reason 999 (unregistered)', bytes: () => patched(abort, 6, [0xe7, 0x03]) },
  { name: 'abort-detail-1025', defect: 'abort detail length 1025 (cap 1024)', bytes: () => patched(abort, 8, [0x01, 0x04]) },
  { name: 'abort-detail-not-utf8', defect: 'abort detail bytes c3 28', bytes: () => patched(abort, 10, [0xc3, 0x28]) },
  { name: 'abort-detail-truncated', defect: 'abort detail declared 2 bytes, 1 present', bytes: () => abort.slice(0, abort.length - 1) },
];

function codeOf(c: DecodeCase): string {
  try {
    decodeMessage(c.bytes(), c.limits ?? {});
  } catch (err) {
    return (err as { code: string }).code;
  }
  throw new Error(`decode-errors case '${c.name}' decodes without an error`);
}

function generate(): Vector[] {
  return DECODE_ERROR_CASES.map((c) => ({
    name: c.name,
    defect: c.defect,
    hex: toHex(c.bytes()),
    ...(c.limits?.maxVectorLength !== undefined ? { max_vector_length: c.limits.maxVectorLength } : {}),
    expect_error: codeOf(c),
  }));
}

async function verify(v: Vector): Promise<void> {
  expectFields(v, ['defect', 'hex', 'expect_error'], ['max_vector_length']);
  const c = DECODE_ERROR_CASES.find((x) => x.name === v.name);
  if (c === undefined) throw new VectorFormatError(`unknown decode-errors case '${v.name}'`);
  if (stringField(v, 'defect') !== c.defect) throw new VectorFormatError(`field 'defect' differs from the case '${c.name}'`);
  const hex = stringField(v, 'hex');
  expectHex('hex', hex, c.bytes());
  const limits: DecodeLimits = 'max_vector_length' in v ? { maxVectorLength: intField(v, 'max_vector_length', 1, 1 << 28) } : {};
  const code = stringField(v, 'expect_error');
  if (!/^ERR_DECODE_[A-Z0-9_]+$/.test(code)) throw new VectorFormatError("field 'expect_error' must be an ERR_DECODE_* code");
  await expectErrorCode(code, () => decodeMessage(Uint8Array.from(Buffer.from(hex, 'hex')), limits));
}

registerVectorKind('decode-errors', {
  description: 'malformed SecAgg wire messages (hex, one defect each, optional session limit max_vector_length) and the ERR_DECODE_* code decodeMessage must raise',
  generate,
  verify,
});
