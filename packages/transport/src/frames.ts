/**
 * The runtime's messages and their payload bytes (protocol-spec/09-transport.md).
 * A message is one of the `RuntimeMessage` variants; `encodePayload` turns it into the
 * payload that chunking.ts splits into frames, `decodePayload` parses a reassembled
 * payload back, checking every length. Vectors travel as raw little-endian typed-array
 * bytes (never JSON); the small round config travels as length-capped JSON.
 */
import { ByteReader, ByteWriter } from './bytes.js';
import { TransportError } from './errors.js';
import type { Limits } from './limits.js';

/** Frame type bytes: an append-only registry. */
export const FRAME_TYPE = {
  challenge: 0x01,
  auth: 0x02,
  welcome: 0x03,
  roundStart: 0x10,
  secagg: 0x11,
  roundEnd: 0x12,
  progress: 0x13,
  plainInput: 0x14,
  evalReport: 0x15,
  heartbeat: 0x20,
  error: 0x30,
  bye: 0x31,
  finalModel: 0x32,
} as const;

export type FrameTypeName = keyof typeof FRAME_TYPE;

const TYPE_BY_BYTE = new Map<number, FrameTypeName>(
  (Object.entries(FRAME_TYPE) as [FrameTypeName, number][]).map(([k, v]) => [v, k]),
);

/** The type name of a frame type byte, or undefined if unregistered. */
export function frameTypeName(byte: number): FrameTypeName | undefined {
  return TYPE_BY_BYTE.get(byte);
}

/** Types whose payload may be as large as `maxMessageBytes`; all others are control-sized. */
const BULK_TYPES: ReadonlySet<FrameTypeName> = new Set(['roundStart', 'secagg', 'plainInput', 'finalModel']);

/** The cap that applies to a message of this type. */
export function payloadCap(type: FrameTypeName, limits: Limits): number {
  return BULK_TYPES.has(type) ? limits.maxMessageBytes : limits.maxControlBytes;
}

export const NONCE_BYTES = 32;
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
const MAX_NAME_BYTES = 256;
const MAX_CODE_BYTES = 64;
const MAX_ERROR_MESSAGE_BYTES = 1024;
/** Most score-histogram bins an evaluation report (or a secure evaluation round) may carry. */
export const MAX_EVAL_BINS = 1024;
const EVAL_FLAG_LOSS = 1;
const EVAL_FLAG_AUC = 2;
const EVAL_FLAG_PERSONAL = 4;

export type RoundEndStatus = 'completed' | 'aborted' | 'excluded';
const ROUND_END_STATUS: readonly RoundEndStatus[] = ['completed', 'aborted', 'excluded'];
export type ProgressStage = 'training' | 'encoding';
const PROGRESS_STAGE: readonly ProgressStage[] = ['training', 'encoding'];

/** A JSON object (the round config and summaries): small, capped by maxControlBytes. */
export type JsonObject = { [key: string]: unknown };

export type RuntimeMessage =
  /** S->C on connect: a fresh nonce the client must sign, and the server's limits. */
  | { type: 'challenge'; serverNonce: Uint8Array; federationId: string; chunkBytes: number; maxMessageBytes: number }
  /** C->S: Ed25519 signature over authTranscript(...) with the identity key. */
  | { type: 'auth'; publicKey: Uint8Array; clientNonce: Uint8Array; signature: Uint8Array }
  /**
   * S->C: authenticated; the roster name, the next round the federation will run and the
   * federation's announced settings (round-config.ts FederationSettings, as JSON) that a
   * client checks against its own policy before it takes part.
   */
  | { type: 'welcome'; name: string; nextRound: number; sessionId: Uint8Array; settings: JsonObject }
  /** S->C: you are in round `round` as secagg participant `participantId`; here are the params. */
  | { type: 'roundStart'; round: number; participantId: number; config: JsonObject; params: Float32Array }
  /** Both: one secagg wire message (encodeMessage bytes) of round `round`. */
  | { type: 'secagg'; round: number; payload: Uint8Array }
  /** S->C: the round is over for you. */
  | { type: 'roundEnd'; round: number; status: RoundEndStatus; summary: JsonObject }
  /** C->S: liveness during long local work, so a training client is never declared dead. */
  | { type: 'progress'; round: number; stage: ProgressStage; fraction: number }
  /** C->S in plaintext mode only (bench baseline, no masking): the encoded input itself. */
  | { type: 'plainInput'; round: number; vector: Uint32Array }
  /**
   * C->S, in an evaluation round with per-site reports: this site's evaluation of the
   * round's global model on its held-out rows. `count` rows, `correct` of them classified
   * right, `lossSum` the summed cross-entropy (absent without a classifier head), `auc` the
   * site's exact AUC (binary tasks). For binary tasks `positive[b]` / `negative[b]` count the
   * rows of class 1 / class 0 whose class-1 score falls in bin b of `positive.length` equal
   * bins over [0, 1] (the coordinator computes the federation's AUC from their sums).
   * `personalCorrect` / `personalLossSum`: the same `count` rows scored by the model the site
   * adapted from the global one on its training rows (the algorithm's adaptation with the
   * announced evalSteps / evalLr); `personalLossSum` is present exactly when `lossSum` is.
   */
  | { type: 'evalReport'; round: number; count: number; correct: number; lossSum?: number; auc?: number; positive: Uint32Array; negative: Uint32Array; personalCorrect?: number; personalLossSum?: number }
  /** Both: keep-alive with the sender's clock (ms since epoch). */
  | { type: 'heartbeat'; sentAt: number }
  /** Both: a typed refusal; usually followed by a close with the code's close code. */
  | { type: 'error'; code: string; message: string }
  /** S->C: the federation has finished. */
  | { type: 'bye'; summary: JsonObject }
  /** S->C, just before bye: the final global model and its manifest (what it is, how to feed it). */
  | { type: 'finalModel'; manifest: JsonObject; params: Float32Array };

/** Narrow a RuntimeMessage by type. */
export type MessageOf<T extends FrameTypeName> = Extract<RuntimeMessage, { type: T }>;

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!littleEndianHost) {
  // Vectors travel as raw little-endian typed-array bytes; a big-endian host would need swaps.
  throw new Error('@fedmeta/transport requires a little-endian host');
}

function checkU32(v: number, field: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new TransportError('ERR_BAD_PAYLOAD', `${field} must be a u32, got ${v}`);
}

function checkLen(b: Uint8Array, n: number, field: string): void {
  if (!(b instanceof Uint8Array) || b.length !== n) {
    throw new TransportError('ERR_BAD_PAYLOAD', `${field} must be ${n} bytes, got ${b instanceof Uint8Array ? b.length : typeof b}`);
  }
}

function typedBytes(v: Float32Array | Uint32Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Copies `n` 4-byte entries out of `bytes` into a fresh (aligned) typed array. */
function readTyped<T extends Float32Array | Uint32Array>(r: ByteReader, ctor: { new (n: number): T }, field: string): T {
  const n = r.u32(`${field}.length`);
  if (n * 4 > r.remaining) {
    throw new TransportError('ERR_BAD_PAYLOAD', `${field}: declares ${n} entries, only ${r.remaining} bytes left`);
  }
  const out = new ctor(n);
  new Uint8Array(out.buffer).set(r.bytes(n * 4, field));
  return out;
}

function encodeJson(obj: JsonObject, max: number, field: string): string {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new TransportError('ERR_BAD_PAYLOAD', `${field} must be a JSON object`);
  const s = JSON.stringify(obj);
  if (Buffer.byteLength(s) > max) throw new TransportError('ERR_BAD_PAYLOAD', `${field} exceeds ${max} bytes`);
  return s;
}

function parseJson(s: string, field: string): JsonObject {
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch (cause) {
    throw new TransportError('ERR_BAD_PAYLOAD', `${field} is not valid JSON`, { cause });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TransportError('ERR_BAD_PAYLOAD', `${field} must be a JSON object`);
  return v as JsonObject;
}

/**
 * Encodes a message's payload (without the frame header).
 * @throws TransportError ERR_BAD_PAYLOAD naming the invalid field.
 */
export function encodePayload(msg: RuntimeMessage, limits: Limits): Uint8Array {
  // Size the buffer once for the bulk messages (no regrowth copies of large vectors).
  const bulk = msg.type === 'roundStart' || msg.type === 'finalModel' ? msg.params.byteLength + 4096 : msg.type === 'plainInput' ? msg.vector.byteLength + 16 : msg.type === 'secagg' ? msg.payload.length + 8 : 64;
  const w = new ByteWriter(bulk);
  const ctl = limits.maxControlBytes;
  switch (msg.type) {
    case 'challenge':
      checkLen(msg.serverNonce, NONCE_BYTES, 'challenge.serverNonce');
      checkU32(msg.chunkBytes, 'challenge.chunkBytes');
      checkU32(msg.maxMessageBytes, 'challenge.maxMessageBytes');
      return w.bytes(msg.serverNonce).str16(msg.federationId, MAX_NAME_BYTES, 'challenge.federationId').u32(msg.chunkBytes).u32(msg.maxMessageBytes).finish();
    case 'auth':
      checkLen(msg.publicKey, PUBLIC_KEY_BYTES, 'auth.publicKey');
      checkLen(msg.clientNonce, NONCE_BYTES, 'auth.clientNonce');
      checkLen(msg.signature, SIGNATURE_BYTES, 'auth.signature');
      return w.bytes(msg.publicKey).bytes(msg.clientNonce).bytes(msg.signature).finish();
    case 'welcome':
      checkU32(msg.nextRound, 'welcome.nextRound');
      checkLen(msg.sessionId, 16, 'welcome.sessionId');
      return w
        .str16(msg.name, MAX_NAME_BYTES, 'welcome.name')
        .u32(msg.nextRound)
        .bytes(msg.sessionId)
        .str32(encodeJson(msg.settings, ctl, 'welcome.settings'), ctl, 'welcome.settings')
        .finish();
    case 'roundStart': {
      checkU32(msg.round, 'roundStart.round');
      checkU32(msg.participantId, 'roundStart.participantId');
      if (!(msg.params instanceof Float32Array)) throw new TransportError('ERR_BAD_PAYLOAD', 'roundStart.params must be a Float32Array');
      w.u32(msg.round).u32(msg.participantId).str32(encodeJson(msg.config, ctl, 'roundStart.config'), ctl, 'roundStart.config');
      return w.u32(msg.params.length).bytes(typedBytes(msg.params)).finish();
    }
    case 'secagg':
      checkU32(msg.round, 'secagg.round');
      return w.u32(msg.round).bytes(msg.payload).finish();
    case 'roundEnd':
      checkU32(msg.round, 'roundEnd.round');
      return w.u32(msg.round).u8(ROUND_END_STATUS.indexOf(msg.status)).str32(encodeJson(msg.summary, ctl, 'roundEnd.summary'), ctl, 'roundEnd.summary').finish();
    case 'progress':
      checkU32(msg.round, 'progress.round');
      if (!(msg.fraction >= 0 && msg.fraction <= 1)) throw new TransportError('ERR_BAD_PAYLOAD', 'progress.fraction must be in [0, 1]');
      return w.u32(msg.round).u8(PROGRESS_STAGE.indexOf(msg.stage)).u16(Math.round(msg.fraction * 1000)).finish();
    case 'plainInput':
      checkU32(msg.round, 'plainInput.round');
      if (!(msg.vector instanceof Uint32Array)) throw new TransportError('ERR_BAD_PAYLOAD', 'plainInput.vector must be a Uint32Array');
      return w.u32(msg.round).u32(msg.vector.length).bytes(typedBytes(msg.vector)).finish();
    case 'evalReport': {
      checkEvalReport(msg);
      const flags = (msg.lossSum !== undefined ? EVAL_FLAG_LOSS : 0) | (msg.auc !== undefined ? EVAL_FLAG_AUC : 0) | (msg.personalCorrect !== undefined ? EVAL_FLAG_PERSONAL : 0);
      w.u32(msg.round).u32(msg.count).u32(msg.correct).u8(flags).f64(msg.lossSum ?? 0).f64(msg.auc ?? 0).u16(msg.positive.length);
      for (const v of msg.positive) w.u32(v);
      for (const v of msg.negative) w.u32(v);
      // The personalised numbers follow the histograms, so every older field keeps its offset.
      if (msg.personalCorrect !== undefined) w.u32(msg.personalCorrect).f64(msg.personalLossSum ?? 0);
      return w.finish();
    }
    case 'heartbeat':
      return w.f64(msg.sentAt).finish();
    case 'error':
      return w.str16(msg.code, MAX_CODE_BYTES, 'error.code').str16(truncateUtf8(msg.message, MAX_ERROR_MESSAGE_BYTES), MAX_ERROR_MESSAGE_BYTES, 'error.message').finish();
    case 'bye':
      return w.str32(encodeJson(msg.summary, ctl, 'bye.summary'), ctl, 'bye.summary').finish();
    case 'finalModel':
      if (!(msg.params instanceof Float32Array)) throw new TransportError('ERR_BAD_PAYLOAD', 'finalModel.params must be a Float32Array');
      w.str32(encodeJson(msg.manifest, ctl, 'finalModel.manifest'), ctl, 'finalModel.manifest');
      return w.u32(msg.params.length).bytes(typedBytes(msg.params)).finish();
  }
}

/**
 * The rules of an evaluation report, on both sides: correct <= count, a finite loss sum
 * >= 0, an AUC in [0, 1], histograms of equal length (<= MAX_EVAL_BINS) that count every
 * row exactly once; personalCorrect <= count, and a personalised loss sum (finite, >= 0)
 * exactly when there is a personalCorrect and a loss sum.
 * @throws TransportError ERR_BAD_PAYLOAD naming the field
 */
export function checkEvalReport(m: MessageOf<'evalReport'>): void {
  const no = (why: string): never => {
    throw new TransportError('ERR_BAD_PAYLOAD', `evalReport.${why}`);
  };
  checkU32(m.round, 'evalReport.round');
  checkU32(m.count, 'evalReport.count');
  checkU32(m.correct, 'evalReport.correct');
  if (m.correct > m.count) no(`correct (${m.correct}) exceeds count (${m.count})`);
  if (m.lossSum !== undefined && !(typeof m.lossSum === 'number' && Number.isFinite(m.lossSum) && m.lossSum >= 0)) no(`lossSum must be a finite number >= 0, got ${String(m.lossSum)}`);
  if (m.auc !== undefined && !(typeof m.auc === 'number' && m.auc >= 0 && m.auc <= 1)) no(`auc must be in [0, 1], got ${String(m.auc)}`);
  if (!(m.positive instanceof Uint32Array) || !(m.negative instanceof Uint32Array)) no('positive and negative must be Uint32Arrays');
  if (m.positive.length !== m.negative.length) no(`positive has ${m.positive.length} bins, negative ${m.negative.length}`);
  if (m.positive.length > MAX_EVAL_BINS) no(`bins: ${m.positive.length}, at most ${MAX_EVAL_BINS}`);
  if (m.personalCorrect !== undefined) {
    checkU32(m.personalCorrect, 'evalReport.personalCorrect');
    if (m.personalCorrect > m.count) no(`personalCorrect (${m.personalCorrect}) exceeds count (${m.count})`);
    if ((m.personalLossSum !== undefined) !== (m.lossSum !== undefined)) no(`personalLossSum must be present exactly when lossSum is (lossSum ${m.lossSum === undefined ? 'absent' : 'present'})`);
  } else if (m.personalLossSum !== undefined) no('personalLossSum without personalCorrect');
  if (m.personalLossSum !== undefined && !(typeof m.personalLossSum === 'number' && Number.isFinite(m.personalLossSum) && m.personalLossSum >= 0)) no(`personalLossSum must be a finite number >= 0, got ${String(m.personalLossSum)}`);
  if (m.positive.length > 0) {
    let rows = 0;
    for (let b = 0; b < m.positive.length; b++) rows += m.positive[b]! + m.negative[b]!;
    if (rows !== m.count) no(`the histograms count ${rows} rows, count is ${m.count}`);
  }
}

function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  return Buffer.from(s).subarray(0, max - 3).toString('utf8').replace(/\uFFFD$/, '') + '...';
}

/**
 * Parses a reassembled payload of a message of type `type`. Every length is checked
 * against the bytes present and the caps; trailing bytes are an error.
 * @throws TransportError ERR_BAD_PAYLOAD naming the field.
 */
export function decodePayload(type: FrameTypeName, payload: Uint8Array, limits: Limits): RuntimeMessage {
  const r = new ByteReader(payload, type);
  const ctl = limits.maxControlBytes;
  let msg: RuntimeMessage;
  switch (type) {
    case 'challenge':
      msg = {
        type,
        serverNonce: new Uint8Array(r.bytes(NONCE_BYTES, 'serverNonce')),
        federationId: r.str16('federationId', MAX_NAME_BYTES),
        chunkBytes: r.u32('chunkBytes'),
        maxMessageBytes: r.u32('maxMessageBytes'),
      };
      break;
    case 'auth':
      msg = {
        type,
        publicKey: new Uint8Array(r.bytes(PUBLIC_KEY_BYTES, 'publicKey')),
        clientNonce: new Uint8Array(r.bytes(NONCE_BYTES, 'clientNonce')),
        signature: new Uint8Array(r.bytes(SIGNATURE_BYTES, 'signature')),
      };
      break;
    case 'welcome':
      msg = {
        type,
        name: r.str16('name', MAX_NAME_BYTES),
        nextRound: r.u32('nextRound'),
        sessionId: new Uint8Array(r.bytes(16, 'sessionId')),
        settings: parseJson(r.str32('settings', ctl), 'welcome.settings'),
      };
      break;
    case 'roundStart': {
      const round = r.u32('round');
      const participantId = r.u32('participantId');
      const config = parseJson(r.str32('config', ctl), 'roundStart.config');
      msg = { type, round, participantId, config, params: readTyped(r, Float32Array, 'params') };
      break;
    }
    case 'secagg':
      msg = { type, round: r.u32('round'), payload: r.rest() };
      break;
    case 'roundEnd': {
      const round = r.u32('round');
      const status = ROUND_END_STATUS[r.u8('status')];
      if (status === undefined) throw new TransportError('ERR_BAD_PAYLOAD', 'roundEnd.status is not a registered status');
      msg = { type, round, status, summary: parseJson(r.str32('summary', ctl), 'roundEnd.summary') };
      break;
    }
    case 'progress': {
      const round = r.u32('round');
      const stage = PROGRESS_STAGE[r.u8('stage')];
      if (stage === undefined) throw new TransportError('ERR_BAD_PAYLOAD', 'progress.stage is not a registered stage');
      const permille = r.u16('fraction');
      if (permille > 1000) throw new TransportError('ERR_BAD_PAYLOAD', 'progress.fraction exceeds 1000 permille');
      msg = { type, round, stage, fraction: permille / 1000 };
      break;
    }
    case 'plainInput': {
      const round = r.u32('round');
      msg = { type, round, vector: readTyped(r, Uint32Array, 'vector') };
      break;
    }
    case 'evalReport': {
      const round = r.u32('round');
      const count = r.u32('count');
      const correct = r.u32('correct');
      const flags = r.u8('flags');
      if (flags & ~(EVAL_FLAG_LOSS | EVAL_FLAG_AUC | EVAL_FLAG_PERSONAL)) throw new TransportError('ERR_BAD_PAYLOAD', `evalReport.flags: unknown bits set (0x${flags.toString(16)})`);
      const lossSum = r.f64('lossSum');
      const auc = r.f64('auc');
      const bins = r.u16('bins');
      if (bins > MAX_EVAL_BINS) throw new TransportError('ERR_BAD_PAYLOAD', `evalReport.bins is ${bins}, at most ${MAX_EVAL_BINS}`);
      if (bins * 8 > r.remaining) throw new TransportError('ERR_BAD_PAYLOAD', `evalReport: declares ${bins} bins, only ${r.remaining} bytes left`);
      const positive = new Uint32Array(bins);
      const negative = new Uint32Array(bins);
      for (let b = 0; b < bins; b++) positive[b] = r.u32(`positive[${b}]`);
      for (let b = 0; b < bins; b++) negative[b] = r.u32(`negative[${b}]`);
      if (!(flags & EVAL_FLAG_LOSS) && lossSum !== 0) throw new TransportError('ERR_BAD_PAYLOAD', 'evalReport.lossSum must be 0 when the loss flag is clear');
      if (!(flags & EVAL_FLAG_AUC) && auc !== 0) throw new TransportError('ERR_BAD_PAYLOAD', 'evalReport.auc must be 0 when the AUC flag is clear');
      // Present only with the personalised flag (a report without it ends after the histograms).
      let personal: { personalCorrect: number; personalLossSum?: number } | null = null;
      if (flags & EVAL_FLAG_PERSONAL) {
        const personalCorrect = r.u32('personalCorrect');
        const personalLossSum = r.f64('personalLossSum');
        if (!(flags & EVAL_FLAG_LOSS) && personalLossSum !== 0) throw new TransportError('ERR_BAD_PAYLOAD', 'evalReport.personalLossSum must be 0 when the loss flag is clear');
        personal = { personalCorrect, ...(flags & EVAL_FLAG_LOSS ? { personalLossSum } : {}) };
      }
      const m: MessageOf<'evalReport'> = { type, round, count, correct, positive, negative, ...(flags & EVAL_FLAG_LOSS ? { lossSum } : {}), ...(flags & EVAL_FLAG_AUC ? { auc } : {}), ...(personal ?? {}) };
      checkEvalReport(m);
      msg = m;
      break;
    }
    case 'heartbeat':
      msg = { type, sentAt: r.f64('sentAt') };
      break;
    case 'error':
      msg = { type, code: r.str16('code', MAX_CODE_BYTES), message: r.str16('message', MAX_ERROR_MESSAGE_BYTES) };
      break;
    case 'bye':
      msg = { type, summary: parseJson(r.str32('summary', ctl), 'bye.summary') };
      break;
    case 'finalModel': {
      const manifest = parseJson(r.str32('manifest', ctl), 'finalModel.manifest');
      msg = { type, manifest, params: readTyped(r, Float32Array, 'params') };
      break;
    }
  }
  r.end();
  return msg;
}
