/**
 * transcript.json: complete SecAgg / SecAgg+ rounds with fixed seeds. Each vector holds
 * the config, every client's rng seed (and identity key in active mode), the inputs,
 * the dropout script, the parties' local survivor floors where a scenario sets them
 * (min_survivors), every message as encoded on the wire in the order it was sent
 * (sender, recipient; 0 is the server), and the expected aggregate or abort reason.
 *
 * transcript-faults.json: the same layout for rounds with faulty members (misbehaves:
 * a scripted corruption of one of their messages); the outcome adds the server's faults.
 *
 * Verification re-runs the round with the real client and server machines and the real
 * codec (simulateSession) and compares every message byte for byte, then the outcome;
 * it also checks the sum against the plain sum of the survivors' inputs, and the floors:
 * a client shown a survivor set below its floor sent exactly one message after it - an
 * abort with TOO_FEW_SURVIVORS - and the server never showed (nor summed) a U3 below its own;
 * and that every faulty member is named (checkCulprits).
 */
import { ed25519PublicKey, ready, toHex } from '../crypto/index.js';
import { seededRng, type Rng } from '../rng.js';
import { decodeMessage } from '../protocol/codec/index.js';
import type { ClientMessage, ServerMessage, UnmaskResponseMessage } from '../protocol/messages.js';
import type { ServerFault } from '../protocol/server/context.js';
import type { SecAggConfig } from '../protocol/config.js';
import { ABORT_REASONS, abortReasonName } from '../protocol/reasons.js';
import { DROP_POINTS, simulateSession, type DropPoint, type SimulationOutcome, type WireRecord } from '../protocol/simulate.js';
import {
  arrayField, expectFields, expectHex, expectSame, hexField, intField, objectField, stringField, VectorFormatError, VectorMismatchError,
} from './fields.js';
import { registerVectorKind, type Vector, type VectorValue } from './registry.js';

/**
 * A faulty member's scripted misbehaviour (transcript-faults.json): it runs the honest
 * machine, and one of its messages is rewritten just before it is encoded.
 * - share-ciphertexts / flip-last-byte: every ciphertext of its share-keys gets its last
 *   byte (the Poly1305 tag's) XOR 0x01, so none opens;
 * - unmask-share: in its unmask-response, its share of `owner`'s secret (whichever list
 *   holds it) becomes: flip-last-byte (last byte XOR 0x01), zero (33 zero bytes), or p (the
 *   33-byte encoding of the field prime, which is not a field element).
 */
export type Misbehaviour =
  | { readonly corrupts: 'share-ciphertexts'; readonly how: 'flip-last-byte' }
  | { readonly corrupts: 'unmask-share'; readonly owner: number; readonly how: 'flip-last-byte' | 'zero' | 'p' };

const P_BYTES = Uint8Array.from(Buffer.from('01' + '00'.repeat(30) + '0129', 'hex'));

/** The rewrite of `m` a misbehaviour makes (m itself when it does not apply). */
export function misbehave(b: Misbehaviour, m: ClientMessage): ClientMessage {
  if (b.corrupts === 'share-ciphertexts' && m.kind === 'share-keys') {
    return { ...m, shares: m.shares.map((s) => ({ ...s, ciphertext: s.ciphertext.map((x, j) => (j === s.ciphertext.length - 1 ? x ^ 1 : x)) })) };
  }
  if (b.corrupts === 'unmask-share' && m.kind === 'unmask-response') {
    const change = (y: Uint8Array): Uint8Array => (b.how === 'zero' ? new Uint8Array(y.length) : b.how === 'p' ? P_BYTES.slice() : y.map((x, j) => (j === y.length - 1 ? x ^ 1 : x)));
    const edit = (list: UnmaskResponseMessage['selfMaskShares']) => list.map((s) => (s.ownerId === b.owner ? { ...s, share: change(s.share) } : s));
    return { ...m, selfMaskShares: edit(m.selfMaskShares), keyShares: edit(m.keyShares) };
  }
  return m;
}

/** What one transcript scenario fixes before the seeds are drawn. */
interface Scenario {
  name: string;
  description: string;
  n: number;
  threshold: number;
  bits: number;
  vectorLength: number;
  degree: number;
  mode: 'semi-honest' | 'active';
  dropouts: [number, DropPoint][];
  /** Local floors on |U3| (SecAggClientOptions.minSurvivors) of some clients: [id, floor]. */
  clientFloors?: [number, number][];
  /** The server's local floor on |U3| (SecAggServerOptions.minSurvivors). */
  serverFloor?: number;
  /** Faulty members: [id, what it corrupts]. */
  misbehaviour?: [number, Misbehaviour][];
}

/** The scenarios of transcript.json (append-only: names are stable). */
export const TRANSCRIPT_SCENARIOS: readonly Scenario[] = [
  { name: 'secagg-no-dropout', description: 'classic SecAgg, n=4, t=3, every client survives', n: 4, threshold: 3, bits: 32, vectorLength: 8, degree: 0, mode: 'semi-honest', dropouts: [] },
  { name: 'secagg-drop-after-advertise', description: 'client 2 advertises keys, then drops (U1 \\ U2)', n: 4, threshold: 3, bits: 32, vectorLength: 8, degree: 0, mode: 'semi-honest', dropouts: [[2, 'after-advertise']] },
  { name: 'secagg-drop-after-share-keys', description: 'client 3 sends shares, then drops (U2 \\ U3: its s_sk is reconstructed)', n: 4, threshold: 3, bits: 32, vectorLength: 8, degree: 0, mode: 'semi-honest', dropouts: [[3, 'after-share-keys']] },
  { name: 'secagg-drop-after-masked-input', description: 'client 4 sends its masked input, then drops (in U3, silent in Unmasking: b is reconstructed)', n: 4, threshold: 3, bits: 32, vectorLength: 8, degree: 0, mode: 'semi-honest', dropouts: [[4, 'after-masked-input']] },
  { name: 'secagg-drop-during-unmasking', description: 'client 1 receives the unmask request and drops without answering; bits=16', n: 4, threshold: 3, bits: 16, vectorLength: 8, degree: 0, mode: 'semi-honest', dropouts: [[1, 'during-unmasking']] },
  { name: 'secagg-plus-harary', description: 'SecAgg+, n=7, k=4 Harary graph, t=3, bits=20; client 6 drops after ShareKeys', n: 7, threshold: 3, bits: 20, vectorLength: 6, degree: 4, mode: 'semi-honest', dropouts: [[6, 'after-share-keys']] },
  { name: 'secagg-active', description: 'active mode, n=4, t=3: signed keys and consistency check; client 1 drops during Unmasking', n: 4, threshold: 3, bits: 32, vectorLength: 4, degree: 0, mode: 'active', dropouts: [[1, 'during-unmasking']] },
  { name: 'secagg-abort-too-few-masked-inputs', description: 'n=4, t=3: clients 2 and 4 drop after ShareKeys; 2 masked inputs < t, the round aborts', n: 4, threshold: 3, bits: 32, vectorLength: 4, degree: 0, mode: 'semi-honest', dropouts: [[2, 'after-share-keys'], [4, 'after-share-keys']] },
  { name: 'secagg-plus-abort-neighbourhood', description: 'SecAgg+, n=7, k=4, t=3: clients 2, 4 and 6 drop after ShareKeys; |U3| = 4 >= t, but a client keeps fewer than t share holders in U3, so the server aborts before anyone reveals', n: 7, threshold: 3, bits: 20, vectorLength: 4, degree: 4, mode: 'semi-honest', dropouts: [[2, 'after-share-keys'], [4, 'after-share-keys'], [6, 'after-share-keys']] },
  { name: 'secagg-client-refuses-below-floor', description: 'n=4, t=2, no server floor: client 4 drops after ShareKeys; client 1 (min_survivors 4) is shown U3 = {1,2,3} in the unmask request, refuses and sends only its abort (TOO_FEW_SURVIVORS); clients 2 and 3 reveal, yet the server aborts on the refusal and releases no sum', n: 4, threshold: 2, bits: 32, vectorLength: 4, degree: 0, mode: 'semi-honest', dropouts: [[4, 'after-share-keys']], clientFloors: [[1, 4]] },
  { name: 'secagg-abort-server-floor', description: 'n=4, t=2, server min_survivors 3: clients 3 and 4 drop after ShareKeys; |U3| = 2 >= t but below the server floor, so it aborts (TOO_FEW_SURVIVORS) before any unmask request', n: 4, threshold: 2, bits: 32, vectorLength: 4, degree: 0, mode: 'semi-honest', dropouts: [[3, 'after-share-keys'], [4, 'after-share-keys']], serverFloor: 3 },
];

/** The scenarios of transcript-faults.json (append-only: names are stable). */
export const FAULT_SCENARIOS: readonly Scenario[] = [
  {
    name: 'faults-bad-share-corrected', n: 6, threshold: 3, bits: 32, vectorLength: 4, degree: 0, mode: 'semi-honest', dropouts: [],
    description: 'n=6, t=3: client 5 zeroes its share of b_1; 6 shares correct floor((6-3)/2) = 1 wrong one: the round completes with every input, client 5 named (bad unmask shares for 1)',
    misbehaviour: [[5, { corrupts: 'unmask-share', owner: 1, how: 'zero' }]],
  },
  {
    name: 'faults-bad-key-share-located', n: 5, threshold: 3, bits: 32, vectorLength: 4, degree: 0, mode: 'semi-honest', dropouts: [[5, 'after-share-keys']],
    description: 'n=5, t=3: client 5 drops after ShareKeys; client 2 flips the last byte of its share of s_sk_5; 4 = t + 1 shares cannot correct by themselves, but exactly one leave-one-out subset matches s_pk_5: completed without 5, client 2 named',
    misbehaviour: [[2, { corrupts: 'unmask-share', owner: 5, how: 'flip-last-byte' }]],
  },
  {
    name: 'faults-bad-share-abort', n: 4, threshold: 3, bits: 32, vectorLength: 4, degree: 0, mode: 'semi-honest', dropouts: [],
    description: 'n=4, t=3: client 4 zeroes its share of b_1; 4 = t + 1 shares of b_1 detect the wrong one but cannot locate it (no public check): INCONSISTENT_SHARES naming the holders 1,2,3,4, no sum',
    misbehaviour: [[4, { corrupts: 'unmask-share', owner: 1, how: 'zero' }]],
  },
  {
    name: 'faults-share-not-in-field', n: 5, threshold: 3, bits: 32, vectorLength: 4, degree: 0, mode: 'semi-honest', dropouts: [],
    description: 'n=5, t=3: client 3 sends p as its share of b_1; the server refuses the unmask response on receipt (ERR_INVALID_MESSAGE) and completes with the other four responses; client 3 named (invalid unmask-response), its input still in the sum',
    misbehaviour: [[3, { corrupts: 'unmask-share', owner: 1, how: 'p' }]],
  },
  {
    name: 'faults-garbage-ciphertexts', n: 5, threshold: 3, bits: 32, vectorLength: 4, degree: 0, mode: 'semi-honest', dropouts: [],
    description: 'n=5, t=3: client 2 spoils the tag of every share ciphertext; 1, 3, 4 and 5 each send a share-report (cause 1) before their masked input; client 2 alone is left out of U3 and named; nobody masked with it, so its s_sk is not needed',
    misbehaviour: [[2, { corrupts: 'share-ciphertexts', how: 'flip-last-byte' }]],
  },
  {
    name: 'faults-garbage-ciphertexts-abort', n: 3, threshold: 3, bits: 32, vectorLength: 4, degree: 0, mode: 'semi-honest', dropouts: [],
    description: 'n=3, t=3: client 2 spoils every share ciphertext; clients 1 and 3 keep 1 < t - 1 usable neighbour, so each sends its share-report, then its abort (SHARE_DECRYPTION_FAILED), and no masked input; the server aborts TOO_FEW_MASKED_INPUTS naming client 2',
    misbehaviour: [[2, { corrupts: 'share-ciphertexts', how: 'flip-last-byte' }]],
  },
  {
    name: 'faults-active-garbage-and-bad-share', n: 7, threshold: 4, bits: 24, vectorLength: 3, degree: 0, mode: 'active',
    dropouts: [],
    description: 'active mode, n=7, t=4: client 6 spoils every share ciphertext and is left out before the consistency check; client 1 flips the last byte of its share of b_3 (6 shares: one wrong corrected); completed, both named',
    misbehaviour: [[6, { corrupts: 'share-ciphertexts', how: 'flip-last-byte' }], [1, { corrupts: 'unmask-share', owner: 3, how: 'flip-last-byte' }]],
  },
  {
    name: 'faults-plus-garbage', n: 8, threshold: 3, bits: 16, vectorLength: 3, degree: 4, mode: 'semi-honest', dropouts: [[8, 'after-share-keys']],
    description: 'SecAgg+, n=8, k=4, t=3: client 4 spoils its share ciphertexts; its neighbours 2, 3 and 5 report it, its neighbour 8 drops after ShareKeys and reports nothing; client 4 is left out, s_sk_8 is rebuilt from its surviving holders (4 not among them); completed',
    misbehaviour: [[4, { corrupts: 'share-ciphertexts', how: 'flip-last-byte' }]],
  },
];

/** Whether a client with this dropout point ever sends its masked input. */
function usesInput(point: DropPoint | undefined): boolean {
  return point === undefined || point === 'after-masked-input' || point === 'during-unmasking';
}

function wordsHex(words: Uint32Array): string {
  return toHex(new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
}

function hexWords(v: { [k: string]: VectorValue }, field: string, length: number): Uint32Array {
  const bytes = hexField(v, field, 4 * length);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, length).slice();
}

interface TranscriptInputs {
  config: SecAggConfig;
  seeds: Map<number, Uint8Array>;
  identities: Map<number, Uint8Array> | null;
  inputs: Map<number, Uint32Array>;
  dropouts: Map<number, DropPoint>;
  clientFloors: Map<number, number>;
  serverFloor: number | null;
  misbehaviour: Map<number, Misbehaviour>;
}

function run(t: TranscriptInputs, onWire?: (r: WireRecord, i: number) => void): SimulationOutcome {
  const roster = t.identities ? new Map([...t.identities].map(([id, sk]) => [id, ed25519PublicKey(sk)])) : undefined;
  return simulateSession({
    ...(onWire ? { onWire } : {}),
    config: t.config,
    inputs: t.inputs,
    clientRng: (id) => seededRng(t.seeds.get(id)!),
    dropouts: t.dropouts,
    ...(t.clientFloors.size > 0 ? { clientMinSurvivors: t.clientFloors } : {}),
    ...(t.serverFloor !== null ? { serverMinSurvivors: t.serverFloor } : {}),
    ...(t.identities && roster ? { identities: t.identities, roster } : {}),
    ...(t.misbehaviour.size > 0 ? { clientTamper: (from: number, m: ClientMessage) => (t.misbehaviour.has(from) ? misbehave(t.misbehaviour.get(from)!, m) : m) } : {}),
  });
}

/** A ServerFault as vector JSON (snake_case). */
function faultJson(f: ServerFault): VectorValue {
  switch (f.kind) {
    case 'share-reports': return { id: f.clientId, kind: f.kind, reported_by: [...f.reportedBy], reported: [...f.reported] };
    case 'invalid-message': return { id: f.clientId, kind: f.kind, message: f.message };
    case 'unmask-shares': return { id: f.clientId, kind: f.kind, owners: [...f.owners] };
  }
}

/**
 * The sum, or the server's abort; plus `client_aborts` (ascending id) when a client
 * machine aborted on its own (e.g. refusing a survivor set below its floor). With
 * `withFaults` (transcript-faults.json) also the server's `faults` and, on abort, its
 * `abort_detail`.
 */
function outcomeJson(out: SimulationOutcome, withFaults: boolean): VectorValue {
  const clientAborts: VectorValue[] = [...out.clientAborts].sort(([a], [b]) => a - b)
    .map(([id, err]) => ({ id, abort_reason: err.reasonName, abort_code: err.reason }));
  const extra: { [k: string]: VectorValue } = clientAborts.length > 0 ? { client_aborts: clientAborts } : {};
  const faults: { [k: string]: VectorValue } = withFaults ? { faults: out.server.faults.map(faultJson) } : {};
  if (out.result) {
    return { sum: wordsHex(out.result.sum), survivors: [...out.result.survivors], dropped: [...out.result.dropped], ...faults, ...extra };
  }
  const code = out.serverAbortReason!;
  return { abort_reason: abortReasonName(code), abort_code: code, ...(withFaults ? { abort_detail: out.server.abortDetail } : {}), ...faults, ...extra };
}

function misbehaviourJson(b: Misbehaviour): VectorValue {
  return b.corrupts === 'share-ciphertexts' ? { corrupts: b.corrupts, how: b.how } : { corrupts: b.corrupts, owner: b.owner, how: b.how };
}

function readMisbehaviour(v: { [k: string]: VectorValue }): Misbehaviour {
  const corrupts = stringField(v, 'corrupts', ['share-ciphertexts', 'unmask-share']);
  if (corrupts === 'share-ciphertexts') {
    expectKeys(v, ['corrupts', 'how'], 'misbehaves');
    return { corrupts, how: stringField(v, 'how', ['flip-last-byte']) as 'flip-last-byte' };
  }
  expectKeys(v, ['corrupts', 'owner', 'how'], 'misbehaves');
  return { corrupts: 'unmask-share', owner: intField(v, 'owner', 1, 65535), how: stringField(v, 'how', ['flip-last-byte', 'zero', 'p']) as 'flip-last-byte' | 'zero' | 'p' };
}

function expectKeys(v: { [k: string]: VectorValue }, keys: readonly string[], what: string): void {
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw new VectorFormatError(`unexpected field '${what}.${k}'`);
  for (const k of keys) if (!(k in v)) throw new VectorFormatError(`missing field '${what}.${k}'`);
}

export interface SessionShape {
  n: number;
  threshold: number;
  degree: number;
  bits: number;
  vectorLength: number;
  mode: 'semi-honest' | 'active';
}

export interface SessionInputs {
  config: SecAggConfig;
  seeds: Map<number, Uint8Array>;
  inputs: Map<number, Uint32Array>;
  /** Ed25519 identity secret keys (active mode), else null. */
  identities: Map<number, Uint8Array> | null;
}

/** Draws nonce, seeds, identity keys (active) and inputs from `rng`, in that order. */
export function drawSession(s: SessionShape, rng: Rng): SessionInputs {
  const ids = Array.from({ length: s.n }, (_, i) => i + 1);
  const config: SecAggConfig = {
    sessionNonce: rng.fill(new Uint8Array(32)), clientIds: ids, threshold: s.threshold, bits: s.bits, vectorLength: s.vectorLength, degree: s.degree, mode: s.mode,
  };
  const seeds = new Map(ids.map((id) => [id, rng.fill(new Uint8Array(32))]));
  const identities = s.mode === 'active' ? new Map(ids.map((id) => [id, rng.fill(new Uint8Array(32))])) : null;
  const inputs = new Map(ids.map((id) => {
    const w = new Uint32Array(rng.fill(new Uint8Array(4 * s.vectorLength)).buffer);
    if (s.bits < 32) for (let i = 0; i < w.length; i++) w[i] = w[i]! % 2 ** s.bits;
    return [id, w];
  }));
  return { config, seeds, inputs, identities };
}

/** Builds one transcript vector from a scenario, drawing nonce, seeds and inputs from `rng`. */
export function generateTranscript(s: Scenario, rng: Rng, withFaults = false): Vector {
  const { config, seeds, inputs, identities } = drawSession(s, rng);
  const ids = [...config.clientIds];
  const dropouts = new Map(s.dropouts);
  const clientFloors = new Map(s.clientFloors ?? []);
  const serverFloor = s.serverFloor ?? null;
  const misbehaviour = new Map(s.misbehaviour ?? []);
  const out = run({ config, seeds, identities, inputs, dropouts, clientFloors, serverFloor, misbehaviour });
  return {
    name: s.name,
    description: s.description,
    config: {
      session_nonce: toHex(config.sessionNonce), client_ids: ids, threshold: s.threshold, bits: s.bits,
      vector_length: s.vectorLength, degree: s.degree, mode: s.mode,
    },
    // local configuration of the server, not part of the session config
    ...(serverFloor !== null ? { server_min_survivors: serverFloor } : {}),
    clients: ids.map((id) => ({
      id,
      rng_seed: toHex(seeds.get(id)!),
      ...(identities ? { identity_secret_key: toHex(identities.get(id)!) } : {}),
      ...(clientFloors.has(id) ? { min_survivors: clientFloors.get(id)! } : {}),
      // only clients that send a masked input use theirs: the others carry none
      ...(usesInput(dropouts.get(id)) ? { input: wordsHex(inputs.get(id)!) } : {}),
      ...(dropouts.has(id) ? { drops: dropouts.get(id)! } : {}),
      ...(misbehaviour.has(id) ? { misbehaves: misbehaviourJson(misbehaviour.get(id)!) } : {}),
    })),
    messages: out.transcript.map((r) => ({ from: r.from, to: r.to, type: decodeMessage(r.bytes).kind, hex: toHex(r.bytes) })),
    outcome: outcomeJson(out, withFaults),
  };
}

function readInputs(v: Vector, allowMisbehaviour: boolean): TranscriptInputs {
  const c = objectField(v, 'config');
  for (const k of Object.keys(c)) {
    if (!['session_nonce', 'client_ids', 'threshold', 'bits', 'vector_length', 'degree', 'mode'].includes(k)) throw new VectorFormatError(`unexpected field 'config.${k}'`);
  }
  const ids = arrayField(c, 'client_ids').map((x) => intField({ x }, 'x', 1, 65535));
  const bits = intField(c, 'bits', 1, 32);
  const vectorLength = intField(c, 'vector_length', 1, 1 << 20);
  const mode = stringField(c, 'mode', ['semi-honest', 'active']) as 'semi-honest' | 'active';
  const config: SecAggConfig = {
    sessionNonce: hexField(c, 'session_nonce', 32), clientIds: ids, threshold: intField(c, 'threshold', 1, 65535),
    bits, vectorLength, degree: intField(c, 'degree', 0, 65535), mode,
  };
  const seeds = new Map<number, Uint8Array>();
  const identities = mode === 'active' ? new Map<number, Uint8Array>() : null;
  const inputs = new Map<number, Uint32Array>();
  const dropouts = new Map<number, DropPoint>();
  const clientFloors = new Map<number, number>();
  const misbehaviour = new Map<number, Misbehaviour>();
  const serverFloor = 'server_min_survivors' in v ? intField(v, 'server_min_survivors', 2, 65535) : null;
  for (const entry of arrayField(v, 'clients')) {
    const e = objectField({ entry }, 'entry');
    const id = intField(e, 'id', 1, 65535);
    seeds.set(id, hexField(e, 'rng_seed', 32));
    if (identities) identities.set(id, hexField(e, 'identity_secret_key', 32));
    if ('drops' in e) dropouts.set(id, stringField(e, 'drops', DROP_POINTS) as DropPoint);
    if ('min_survivors' in e) clientFloors.set(id, intField(e, 'min_survivors', 2, 65535));
    if ('misbehaves' in e) {
      if (!allowMisbehaviour) throw new VectorFormatError(`unexpected field 'clients[${id}].misbehaves'`);
      misbehaviour.set(id, readMisbehaviour(objectField(e, 'misbehaves')));
    }
    const allowed = ['id', 'rng_seed', 'drops', 'min_survivors', 'misbehaves', ...(identities ? ['identity_secret_key'] : []), ...(usesInput(dropouts.get(id)) ? ['input'] : [])];
    for (const k of Object.keys(e)) if (!allowed.includes(k)) throw new VectorFormatError(`unexpected field 'clients[${id}].${k}'`);
    inputs.set(id, usesInput(dropouts.get(id)) ? hexWords(e, 'input', vectorLength) : new Uint32Array(vectorLength));
  }
  return { config, seeds, identities, inputs, dropouts, clientFloors, serverFloor, misbehaviour };
}

/** The survivor set a server message shows (consistency or unmask request), else null. */
function shownSurvivors(m: ServerMessage): readonly number[] | null {
  return m.kind === 'consistency-request' || m.kind === 'unmask-request' ? m.survivors : null;
}

/**
 * The floors, checked on the decoded transcript itself (independently of what the
 * machines report): every client shown a survivor set below its own floor sent exactly
 * one message after it, an abort with TOO_FEW_SURVIVORS - no signature, no shares - and
 * the outcome is no sum; the server never showed a survivor set below its floor, and a
 * released sum holds at least that many inputs.
 * @throws VectorMismatchError naming the client or the message
 */
export function checkFloors(
  clientFloors: ReadonlyMap<number, number>,
  serverFloor: number | null,
  out: Pick<SimulationOutcome, 'transcript' | 'result'>,
): void {
  const wire = out.transcript.map((r) => ({ from: r.from, to: r.to, message: decodeMessage(r.bytes) }));
  for (const [id, floor] of clientFloors) {
    const at = wire.findIndex((r) => {
      const shown = r.from === 0 && r.to === id ? shownSurvivors(r.message as ServerMessage) : null;
      return shown !== null && shown.length < floor;
    });
    if (at < 0) continue;
    const field = `messages (client ${id} after the ${wire[at]!.message.kind} at messages[${at}] showed a survivor set below its min_survivors ${floor})`;
    const after = wire.slice(at + 1).filter((r) => r.from === id).map((r) => r.message as ClientMessage);
    const refusal = after.length === 1 && after[0]!.kind === 'abort' && after[0]!.reason === ABORT_REASONS.TOO_FEW_SURVIVORS;
    if (!refusal) throw new VectorMismatchError(field, 'exactly one abort (TOO_FEW_SURVIVORS)', JSON.stringify(after.map((m) => (m.kind === 'abort' ? `abort(${m.reason})` : m.kind))));
    if (out.result) throw new VectorMismatchError(`outcome (client ${id} refused its survivor set)`, 'no sum', 'a sum');
  }
  if (serverFloor !== null) {
    const floor = serverFloor;
    wire.forEach((r, i) => {
      const shown = r.from === 0 ? shownSurvivors(r.message as ServerMessage) : null;
      if (shown && shown.length < floor) throw new VectorMismatchError(`messages[${i}] (server_min_survivors ${floor})`, `a survivor set of >= ${floor}`, `${shown.length} survivors`);
    });
    if (out.result && out.result.survivors.length < floor) {
      throw new VectorMismatchError(`outcome.survivors (server_min_survivors ${floor})`, `>= ${floor} survivors`, String(out.result.survivors.length));
    }
  }
}

// Verification cost is a whole simulated round. A first verification of an input section
// stops at the first differing message; if the same inputs come again (e.g. many copies
// of one vector with different messages altered) the round is run to the end once and
// kept, so later checks of those inputs only compare bytes.
const seenInputs = new Map<string, SimulationOutcome | 'seen'>();
const MAX_SEEN = 64;

function checkMessage(messages: readonly VectorValue[], rec: WireRecord, i: number): void {
  const m = messages[i];
  if (m === undefined) throw new VectorMismatchError('messages.length', String(messages.length), `more than ${messages.length}`);
  const o = objectField({ m }, 'm');
  expectSame(`messages[${i}].from`, o.from ?? null, rec.from);
  expectSame(`messages[${i}].to`, o.to ?? null, rec.to);
  expectSame(`messages[${i}].type`, o.type ?? null, decodeMessage(rec.bytes).kind);
  expectHex(`messages[${i}].hex`, stringField(o, 'hex'), rec.bytes);
}

/**
 * Re-runs the round of `v` and compares every message byte for byte as it is sent
 * (stopping at the first difference), then the outcome.
 * @param scenarios the kind's scenario list (transcript.json or transcript-faults.json)
 * @throws VectorMismatchError naming the first differing field (e.g. 'messages[17].hex')
 */
export function verifyTranscript(v: Vector, scenarios: readonly Scenario[] = TRANSCRIPT_SCENARIOS): void {
  const withFaults = scenarios === FAULT_SCENARIOS;
  expectFields(v, ['description', 'config', 'clients', 'messages', 'outcome'], ['server_min_survivors']);
  const scenario = scenarios.find((s) => s.name === v.name);
  if (scenario === undefined) throw new VectorFormatError(`unknown transcript scenario '${v.name}'`);
  expectSame('description', v.description ?? null, scenario.description);
  const inputs = readInputs(v, withFaults);
  const ids = [...inputs.seeds.keys()];
  expectSame('clients[].id', ids, [...inputs.config.clientIds]);
  const messages = arrayField(v, 'messages');
  const key = JSON.stringify([v.config, v.clients]);
  const seen = seenInputs.get(key);
  let out: SimulationOutcome;
  if (seen === undefined) {
    if (seenInputs.size >= MAX_SEEN) seenInputs.clear();
    seenInputs.set(key, 'seen');
    out = run(inputs, (rec, i) => checkMessage(messages, rec, i));
    seenInputs.set(key, out);
  } else {
    out = seen === 'seen' ? run(inputs) : seen;
    seenInputs.set(key, out);
    out.transcript.forEach((rec, i) => checkMessage(messages, rec, i));
  }
  if (messages.length !== out.transcript.length) {
    throw new VectorMismatchError('messages.length', String(messages.length), String(out.transcript.length));
  }
  expectSame('outcome', v.outcome ?? null, outcomeJson(out, withFaults));
  checkFloors(inputs.clientFloors, inputs.serverFloor, out);
  checkCulprits(inputs.misbehaviour, out);
  // Independent check of the aggregate: the plain sum of the survivors' inputs.
  if (out.result) {
    const { bits, vectorLength } = inputs.config;
    const plain = new Uint32Array(vectorLength);
    for (const u of out.result.survivors) inputs.inputs.get(u)!.forEach((x, i) => (plain[i] = (plain[i]! + x) >>> 0));
    if (bits < 32) for (let i = 0; i < vectorLength; i++) plain[i] = plain[i]! % 2 ** bits;
    expectHex('outcome.sum (plain sum of survivors)', wordsHex(plain), new Uint8Array(out.result.sum.buffer));
  }
}

/**
 * Every faulty member is named: in a completed round it is in `faulty` (and not among the
 * survivors if it spoiled its share ciphertexts); in an aborted one the abort detail names
 * it (`client <id>:` in the fault suffix, or among the holders of an undecodable secret).
 * @throws VectorMismatchError naming the member
 */
export function checkCulprits(misbehaviour: ReadonlyMap<number, Misbehaviour>, out: Pick<SimulationOutcome, 'result' | 'server'>): void {
  for (const [id, b] of misbehaviour) {
    const field = `outcome (client ${id} corrupts its ${b.corrupts})`;
    if (out.result) {
      if (!out.result.faulty.includes(id)) throw new VectorMismatchError(field, `client ${id} in faulty`, JSON.stringify(out.result.faulty));
      if (b.corrupts === 'share-ciphertexts' && out.result.survivors.includes(id)) throw new VectorMismatchError(field, 'not a survivor', 'a survivor');
      continue;
    }
    const detail = out.server.abortDetail;
    const holders = /from holders ([\d,]+) /.exec(detail)?.[1]?.split(',').map(Number) ?? [];
    if (!detail.includes(`client ${id}:`) && !holders.includes(id)) throw new VectorMismatchError(field, `the abort detail names client ${id}`, detail);
  }
}

/** Generates every scenario's vector from one seeded Rng (in scenario order). */
export async function generateTranscriptVectors(rng: Rng): Promise<Vector[]> {
  await ready();
  return TRANSCRIPT_SCENARIOS.map((s) => generateTranscript(s, rng));
}

/** Generates the faulty-member scenarios' vectors (transcript-faults.json). */
export async function generateFaultTranscriptVectors(rng: Rng): Promise<Vector[]> {
  await ready();
  return FAULT_SCENARIOS.map((s) => generateTranscript(s, rng, true));
}

registerVectorKind('transcript', {
  description:
    'whole SecAgg/SecAgg+ rounds: config, per-client rng seeds (seededRng), inputs (LE uint32 hex), dropout script, local survivor floors (min_survivors); every wire message in order (from/to, 0 = server) and the aggregate (LE uint32 hex) or abort reason, and any client aborts',
  generate: generateTranscriptVectors,
  async verify(v: Vector): Promise<void> {
    await ready();
    verifyTranscript(v);
  },
});

registerVectorKind('transcript-faults', {
  description:
    'whole rounds with faulty members, in the layout of transcript.json plus each faulty client\'s scripted misbehaviour (misbehaves: spoiled share ciphertexts, or a corrupted unmask share); the outcome adds the server\'s faults and, on abort, its abort_detail',
  generate: generateFaultTranscriptVectors,
  async verify(v: Vector): Promise<void> {
    await ready();
    verifyTranscript(v, FAULT_SCENARIOS);
  },
});
