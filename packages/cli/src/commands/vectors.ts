/**
 * `fedmeta vectors verify|generate [dir]`: the protocol test vectors. Argument parsing,
 * file I/O and output; generation and verification live in @fedmeta/secagg, except the
 * two runtime-layer kinds registered below (ddg-encoding for 08-dp.md, transport-frames
 * for 09-transport.md): @fedmeta/secagg cannot depend on @fedmeta/dp or @fedmeta/transport,
 * the CLI depends on all of them, and its registration puts them in the one MANIFEST.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  arrayField, ed25519Keypair, ed25519Sign, ed25519Verify, expectFields, expectHex, expectSame, formatVectorFailure, generateVectorFiles, hexField, intField,
  numberField, objectField, registerVectorKind, seededRng, stringField, toHex, vectorKind, VectorFormatError, VectorMismatchError, verifyVectorFiles,
  VECTOR_VERSION_DIR, type Rng, type Vector, type VectorValue,
} from '@fedmeta/secagg';
import { BufferedRandom, clipL2, createDdgEncoder, paddedLength, rotate, rotationSigns, type DdgConfig } from '@fedmeta/dp';
import {
  authTranscript, FRAME_TYPE, FrameReader, FrameWriter, resolveLimits, type FrameTypeName, type Limits, type RuntimeMessage,
} from '@fedmeta/transport';
import { CliError } from '../errors.js';
import { usageRequested } from '../usage.js';

const USAGE = `usage:
  fedmeta vectors verify [dir]
      recompute every vector in dir/${VECTOR_VERSION_DIR}/ with the implementation and check the
      manifest's SHA-256 of each file; exit 0 when all pass, 1 naming each failing file/vector
  fedmeta vectors generate [dir] [--check]
      write dir/${VECTOR_VERSION_DIR}/<kind>.json and MANIFEST.json (deterministic); with --check,
      write nothing and exit 1 unless the files in dir are byte-identical to a fresh generation
  dir defaults to the repository's test-vectors/ (searched upwards from the current directory)`;

// ---------------------------------------------------------------- ddg-encoding (08-dp.md)

interface DdgCase {
  name: string;
  config: Required<Pick<DdgConfig, 'dim' | 'numClients' | 'l2Clip' | 'noiseMultiplier' | 'bits'>>;
  /** Scale of the random update entries (above the clip when > l2Clip / sqrt(dim)). */
  spread: number;
}

/** The cases of ddg-encoding.json (append-only: names are stable). */
const DDG_CASES: readonly DdgCase[] = [
  { name: 'dim5-padded8-bits16', config: { dim: 5, numClients: 3, l2Clip: 1, noiseMultiplier: 1, bits: 16 }, spread: 0.2 },
  { name: 'dim16-clipped-bits20', config: { dim: 16, numClients: 10, l2Clip: 0.5, noiseMultiplier: 0.8, bits: 20 }, spread: 1 },
  { name: 'dim100-padded128-bits32', config: { dim: 100, numClients: 5, l2Clip: 2, noiseMultiplier: 1.5, bits: 32 }, spread: 0.05 },
];

const f32Hex = (v: Float32Array): string => toHex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
const f64Hex = (v: Float64Array): string => toHex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
const u32Hex = (v: Uint32Array): string => toHex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
function typed<T extends Float32Array | Float64Array | Uint32Array>(v: { [k: string]: VectorValue }, field: string, ctor: { new (b: ArrayBuffer): T; BYTES_PER_ELEMENT: number }, length: number): T {
  const bytes = hexField(v, field, length * ctor.BYTES_PER_ELEMENT);
  return new ctor(bytes.slice().buffer);
}

/** Everything 08-dp.md sec. 2-4 derives from one case: parameters, signs, rotated update, encoding, decoding. */
function ddgOutputs(cfg: DdgCase['config'], update: Float32Array, roundSeed: Uint8Array, rngSeed: Uint8Array) {
  const encoder = createDdgEncoder(cfg);
  const p = encoder.params;
  const n = paddedLength(cfg.dim);
  const signs = rotationSigns(roundSeed, n);
  const x = new Float64Array(n);
  x.set(clipL2(update, cfg.l2Clip).clipped);
  rotate(x, signs);
  for (let i = 0; i < n; i++) x[i] = x[i]! / p.gamma;
  const rng = seededRng(rngSeed);
  const encoded = encoder.encode(update, roundSeed, new BufferedRandom((out) => void rng.fill(out)));
  return {
    params: { padded_dim: p.paddedDim, gamma: p.gamma, local_sigma: p.localSigma, l2_sensitivity: p.l2Sensitivity, tau: p.tau },
    rotation_signs: toHex(signs),
    rotated_scaled: f64Hex(x),
    encoded: u32Hex(encoded),
    decoded: f32Hex(encoder.decode(encoded, roundSeed)),
  };
}

function generateDdg(rng: Rng): Vector[] {
  return DDG_CASES.map((c) => {
    const roundSeed = rng.fill(new Uint8Array(32));
    const rngSeed = rng.fill(new Uint8Array(32));
    const words = new Uint32Array(rng.fill(new Uint8Array(4 * c.config.dim)).buffer);
    const update = Float32Array.from(words, (w) => ((w / 2 ** 32) * 2 - 1) * c.spread);
    return {
      name: c.name,
      config: { ...c.config },
      round_seed: toHex(roundSeed),
      update_f32: f32Hex(update),
      rng_seed: toHex(rngSeed),
      ...ddgOutputs(c.config, update, roundSeed, rngSeed),
    };
  });
}

function verifyDdg(v: Vector): void {
  expectFields(v, ['config', 'round_seed', 'update_f32', 'rng_seed', 'params', 'rotation_signs', 'rotated_scaled', 'encoded', 'decoded']);
  const c = DDG_CASES.find((x) => x.name === v.name);
  if (!c) throw new VectorFormatError(`unknown ddg-encoding case '${v.name}'`);
  const o = objectField(v, 'config');
  const cfg = {
    dim: intField(o, 'dim', 1, 1 << 20), numClients: intField(o, 'numClients', 1, 65535), l2Clip: numberField(o, 'l2Clip'),
    noiseMultiplier: numberField(o, 'noiseMultiplier'), bits: intField(o, 'bits', 2, 32),
  };
  expectSame('config', o, { ...c.config });
  const update = typed(v, 'update_f32', Float32Array, cfg.dim);
  const got = ddgOutputs(cfg, update, hexField(v, 'round_seed', 32), hexField(v, 'rng_seed', 32));
  expectSame('params', objectField(v, 'params'), got.params);
  for (const field of ['rotation_signs', 'rotated_scaled', 'encoded', 'decoded'] as const) expectHex(field, stringField(v, field), Uint8Array.from(Buffer.from(got[field], 'hex')));
}

// ---------------------------------------------------------------- transport-frames (09-transport.md)

/** How each runtime message field is written in a vector. */
/** 'number?': an optional number, absent from the vector when absent from the message. */
const FIELD_KINDS: Record<FrameTypeName, Record<string, 'hex' | 'f32' | 'u32s' | 'json' | 'number' | 'number?' | 'string'>> = {
  challenge: { serverNonce: 'hex', federationId: 'string', chunkBytes: 'number', maxMessageBytes: 'number' },
  auth: { publicKey: 'hex', clientNonce: 'hex', signature: 'hex' },
  welcome: { name: 'string', nextRound: 'number', sessionId: 'hex', settings: 'json' },
  roundStart: { round: 'number', participantId: 'number', config: 'json', params: 'f32' },
  secagg: { round: 'number', payload: 'hex' },
  roundEnd: { round: 'number', status: 'string', summary: 'json' },
  progress: { round: 'number', stage: 'string', fraction: 'number' },
  plainInput: { round: 'number', vector: 'u32s' },
  evalReport: { round: 'number', count: 'number', correct: 'number', lossSum: 'number', auc: 'number', positive: 'u32s', negative: 'u32s', personalCorrect: 'number?', personalLossSum: 'number?' },
  heartbeat: { sentAt: 'number' },
  error: { code: 'string', message: 'string' },
  bye: { summary: 'json' },
  finalModel: { manifest: 'json', params: 'f32' },
};

function messageJson(m: RuntimeMessage): VectorValue {
  const out: { [k: string]: VectorValue } = { type: m.type };
  for (const [field, kind] of Object.entries(FIELD_KINDS[m.type])) {
    const value = (m as unknown as Record<string, unknown>)[field];
    if (kind === 'hex') out[field] = toHex(value as Uint8Array);
    else if (kind === 'f32') out[field] = f32Hex(value as Float32Array);
    else if (kind === 'u32s') out[field] = u32Hex(value as Uint32Array);
    else if (kind === 'number?' && value === undefined) continue;
    else out[field] = value as VectorValue;
  }
  return out;
}

function readMessage(o: { [k: string]: VectorValue }): RuntimeMessage {
  const type = stringField(o, 'type', Object.keys(FRAME_TYPE)) as FrameTypeName;
  const kinds = FIELD_KINDS[type];
  for (const k of Object.keys(o)) if (k !== 'type' && !(k in kinds)) throw new VectorFormatError(`unexpected field 'message.${k}'`);
  const m: Record<string, unknown> = { type };
  for (const [field, kind] of Object.entries(kinds)) {
    if (kind === 'hex') m[field] = hexField(o, field);
    else if (kind === 'f32' || kind === 'u32s') {
      const b = hexField(o, field);
      m[field] = kind === 'f32' ? new Float32Array(b.slice().buffer) : new Uint32Array(b.slice().buffer);
    } else if (kind === 'json') m[field] = objectField(o, field);
    else if (kind === 'number') m[field] = numberField(o, field);
    else if (kind === 'number?') {
      if (o[field] !== undefined) m[field] = numberField(o, field);
    } else m[field] = stringField(o, field);
  }
  return m as unknown as RuntimeMessage;
}

/** The frames of `messages` written in order by one FrameWriter (sequence numbers 0, 1, ...). */
function framesOf(messages: readonly RuntimeMessage[], limits: Limits): Uint8Array[] {
  const w = new FrameWriter(limits);
  return messages.flatMap((m) => w.frames(m));
}

function generateTransport(rng: Rng): Vector[] {
  const bytes = (n: number) => rng.fill(new Uint8Array(n));
  const identity = ed25519Keypair(rng);
  const federationId = 'fed-vectors';
  const serverNonce = bytes(32);
  const clientNonce = bytes(32);
  const transcript = authTranscript(federationId, serverNonce, clientNonce, identity.publicKey);
  const signature = ed25519Sign(identity.secretKey, transcript);
  const vectors: Vector[] = [{
    name: 'auth-transcript',
    federation_id: federationId, server_nonce: toHex(serverNonce), client_nonce: toHex(clientNonce),
    identity_secret_key: toHex(identity.secretKey), public_key: toHex(identity.publicKey),
    transcript: toHex(transcript), signature: toHex(signature),
  }];
  const settings = { rounds: 30, aggregation: { mode: 'auto', security: 'semi-honest', minClients: 3, minAggregate: 3 }, dp: null };
  const messages: RuntimeMessage[] = [
    { type: 'challenge', serverNonce, federationId, chunkBytes: 1 << 20, maxMessageBytes: 256 << 20 },
    { type: 'auth', publicKey: identity.publicKey, clientNonce, signature },
    { type: 'welcome', name: 'site-a', nextRound: 4, sessionId: bytes(16), settings },
    { type: 'roundStart', round: 4, participantId: 2, config: { round: 4, note: 'a round config (09 sec. 4.1) travels as this JSON' }, params: Float32Array.from([0.5, -1.25, 3]) },
    // a consistency-request for U3 = [1, 2, 3] (04-messages.md sec. 3.1)
    { type: 'secagg', round: 4, payload: Uint8Array.from(Buffer.from('464d534101130300010002000300', 'hex')) },
    { type: 'roundEnd', round: 4, status: 'completed', summary: { survivors: 3 } },
    { type: 'progress', round: 4, stage: 'encoding', fraction: 0.5 },
    { type: 'plainInput', round: 4, vector: Uint32Array.from([1, 2, 0xffffffff]) },
    // 10 held-out rows, 8 right, a binary task with 4 score bins (class 1: 6 rows, class 0: 4)
    { type: 'evalReport', round: 4, count: 10, correct: 8, lossSum: 3.25, auc: 0.875, positive: Uint32Array.from([0, 1, 2, 3]), negative: Uint32Array.from([2, 1, 1, 0]) },
    { type: 'heartbeat', sentAt: 1750000000123.5 },
    { type: 'error', code: 'ERR_PROTOCOL', message: 'secagg unmask-response: ERR_INVALID_MESSAGE' },
    { type: 'bye', summary: { rounds: 30 } },
    { type: 'finalModel', manifest: { format: 'fedmeta-model/1', round: 30, note: 'the model manifest (09 sec. 4) travels as this JSON' }, params: Float32Array.from([0.25, -2, 1e-3]) },
  ];
  const limits = resolveLimits();
  messages.forEach((m) => {
    const [frame] = framesOf([m], limits);
    vectors.push({ name: `frame-${m.type}`, chunk_bytes: limits.chunkBytes, message: messageJson(m), frames: [toHex(frame!)] });
  });
  // The same report with the personalised numbers (flags bit 2): 9 rows right after adapting, loss sum 1.5.
  const personal: RuntimeMessage = { type: 'evalReport', round: 4, count: 10, correct: 8, lossSum: 3.25, auc: 0.875, positive: Uint32Array.from([0, 1, 2, 3]), negative: Uint32Array.from([2, 1, 1, 0]), personalCorrect: 9, personalLossSum: 1.5 };
  vectors.push({ name: 'frame-evalReport-personalised', chunk_bytes: limits.chunkBytes, message: messageJson(personal), frames: framesOf([personal], limits).map(toHex) });
  // One message over several frames: 2500 payload bytes in chunks of 1024, sequence numbers 0..2.
  const small = resolveLimits({ chunkBytes: 1024 });
  const chunked: RuntimeMessage = { type: 'secagg', round: 7, payload: bytes(2496) };
  vectors.push({ name: 'frames-chunked-secagg', chunk_bytes: small.chunkBytes, message: messageJson(chunked), frames: framesOf([chunked], small).map(toHex) });
  return vectors;
}

function verifyTransport(v: Vector): void {
  if (v.name === 'auth-transcript') {
    expectFields(v, ['federation_id', 'server_nonce', 'client_nonce', 'identity_secret_key', 'public_key', 'transcript', 'signature']);
    const sk = hexField(v, 'identity_secret_key', 32);
    const pk = ed25519Keypair({ fill: (out) => (out.set(sk), out) }).publicKey;
    expectHex('public_key', stringField(v, 'public_key'), pk);
    const t = authTranscript(stringField(v, 'federation_id'), hexField(v, 'server_nonce', 32), hexField(v, 'client_nonce', 32), pk);
    expectHex('transcript', stringField(v, 'transcript'), t);
    expectHex('signature', stringField(v, 'signature'), ed25519Sign(sk, t));
    if (!ed25519Verify(pk, t, hexField(v, 'signature', 64))) throw new VectorMismatchError('signature', 'valid', 'invalid');
    return;
  }
  expectFields(v, ['chunk_bytes', 'message', 'frames']);
  const limits = resolveLimits({ chunkBytes: intField(v, 'chunk_bytes', 1024, 1 << 30) });
  const message = readMessage(objectField(v, 'message'));
  // frame-<type>, or frame-<type>-<variant> for a second message of the same type.
  const named = v.name === 'frames-chunked-secagg' ? 'secagg' : v.name.replace(/^frame-/, '').replace(/-.*$/, '');
  if (named !== message.type) throw new VectorFormatError(`vector '${v.name}' holds a ${message.type} message`);
  const frames = arrayField(v, 'frames').map((f) => hexField({ f }, 'f'));
  const want = framesOf([message], limits);
  expectSame('frames.length', frames.length, want.length);
  want.forEach((w, i) => expectHex(`frames[${i}]`, toHex(frames[i]!), w));
  // The receiving side: the frames reassemble to a payload that decodes to the same message.
  const reader = new FrameReader(limits);
  let decoded: RuntimeMessage | null = null;
  for (const f of frames) {
    const r = reader.push(f);
    if (r) decoded = r;
  }
  if (!decoded) throw new VectorMismatchError('frames', 'a complete message', 'an unfinished reassembly');
  expectSame('message (decoded)', messageJson(decoded), messageJson(message));
}

/** Registers the runtime-layer kinds once (this module may be imported more than once in a process). */
export function registerRuntimeVectorKinds(): void {
  if (!vectorKind('ddg-encoding')) {
    registerVectorKind('ddg-encoding', {
      description: 'distributed discrete Gaussian encoding (08-dp.md): config, round seed, float32 update; derived params, rotation sign bytes, the rotated and scaled update (f64 LE), the encoding with the client randomness BufferedRandom(seededRng(rng_seed)) (u32 LE), and its decoding (f32 LE)',
      generate: generateDdg,
      verify: verifyDdg,
    });
  }
  if (!vectorKind('transport-frames')) {
    registerVectorKind('transport-frames', {
      description: 'the runtime transport (09-transport.md): the auth transcript and its Ed25519 signature; one message of every frame type (fields as hex, JSON or numbers) and its frame(s) as a fresh FrameWriter writes them, sequence numbers from 0',
      generate: generateTransport,
      verify: verifyTransport,
    });
  }
}

/** Exit code when vectors fail verification or differ from a fresh generation. */
const EXIT_MISMATCH = 1;

/** test-vectors/ of the enclosing checkout: upwards from cwd, else next to this package. */
export function defaultVectorsDir(cwd = process.cwd()): string {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'test-vectors')) && existsSync(join(dir, 'package.json'))) return join(dir, 'test-vectors');
    if (dirname(dir) === dir) break;
  }
  // packages/cli/dist/src/commands/vectors.js -> repository root
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..', 'test-vectors');
}

/** Every file under dir/v1/ as "v1/<name>" -> bytes (sub-directories are reported as files too). */
function readVectorDir(dir: string): Map<string, Uint8Array> {
  const versionDir = join(dir, VECTOR_VERSION_DIR);
  if (!existsSync(versionDir) || !statSync(versionDir).isDirectory()) {
    throw new CliError(`${versionDir} is not a directory (expected test vectors in ${dir}/${VECTOR_VERSION_DIR}/)`, EXIT_MISMATCH);
  }
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(versionDir).sort()) {
    const path = join(versionDir, name);
    files.set(`${VECTOR_VERSION_DIR}/${name}`, statSync(path).isFile() ? new Uint8Array(readFileSync(path)) : new Uint8Array(0));
  }
  return files;
}

async function verify(dir: string): Promise<number> {
  const report = await verifyVectorFiles(readVectorDir(dir));
  if (report.ok) {
    console.log(`ok: ${report.vectors} vectors in ${report.files} files verified (${dir})`);
    return 0;
  }
  for (const f of report.failures) console.error(`FAIL ${formatVectorFailure(f)}`);
  console.error(`${report.failures.length} failure(s); ${report.vectors} vectors in ${report.files} files checked (${dir})`);
  return EXIT_MISMATCH;
}

async function generate(dir: string, check: boolean): Promise<number> {
  const files = await generateVectorFiles();
  if (check) {
    const existing = existsSync(join(dir, VECTOR_VERSION_DIR)) ? readVectorDir(dir) : new Map<string, Uint8Array>();
    const problems: string[] = [];
    for (const [path, bytes] of files) {
      const have = existing.get(path);
      if (!have) problems.push(`${path}: missing`);
      else if (Buffer.compare(Buffer.from(have), Buffer.from(bytes)) !== 0) problems.push(`${path}: differs from a fresh generation`);
    }
    for (const path of existing.keys()) if (!files.has(path)) problems.push(`${path}: not produced by the generator`);
    for (const p of problems) console.error(`FAIL ${p}`);
    if (problems.length > 0) return EXIT_MISMATCH;
    console.log(`ok: ${files.size} files in ${dir} are byte-identical to a fresh generation`);
    return 0;
  }
  for (const [path, bytes] of files) {
    const target = join(dir, ...path.split('/'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, bytes);
    console.log(`wrote ${target} (${bytes.length} bytes)`);
  }
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  registerRuntimeVectorKinds();
  const [sub, ...rest] = argv;
  const helped = usageRequested(sub, USAGE);
  if (helped !== null) return helped;
  if (sub !== 'verify' && sub !== 'generate') throw new CliError(`unknown sub-command '${sub}'\n\n${USAGE}`);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, allowPositionals: true, options: { check: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`);
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length > 1) throw new CliError(`expected at most one directory, got ${parsed.positionals.length}\n\n${USAGE}`);
  if (sub === 'verify' && parsed.values.check) throw new CliError(`--check only applies to 'generate'\n\n${USAGE}`);
  const dir = resolve(parsed.positionals[0] ?? defaultVectorsDir());
  return sub === 'verify' ? verify(dir) : generate(dir, parsed.values.check === true);
}
