/** hkdf.json (RFC 5869 cases + random) and derivations.json (every labelled key of the suite). */
import { concatBytes, toHex } from '../../crypto/bytes.js';
import {
  deriveKey,
  derivePairwiseMaskSeed,
  deriveSelfMaskSeed,
  deriveSessionId,
  deriveShareKey,
  hkdfSha256,
  labelledInfo,
  LABEL_PAIRWISE_MASK,
  LABEL_SELF_MASK,
  LABEL_SESSION_ID,
  LABEL_SHARE_KEY,
  pairContext,
} from '../../crypto/hkdf.js';
import { u32be } from '../../crypto/bytes.js';
import type { Rng } from '../../rng.js';
import { expectFields, expectHex, hexField, intField, stringField, VectorFormatError } from '../fields.js';
import { registerVectorKind, type Vector } from '../registry.js';

const range = (from: number, to: number): Uint8Array => Uint8Array.from({ length: to - from }, (_, i) => from + i);

function hkdfVector(name: string, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Vector {
  return { name, ikm: toHex(ikm), salt: toHex(salt), info: toHex(info), length, okm: toHex(hkdfSha256(ikm, salt, info, length)) };
}

registerVectorKind('hkdf', {
  description: 'HKDF-SHA256 (RFC 5869): okm = HKDF(ikm, salt, info, length); empty salt = 32 zero bytes',
  generate(rng: Rng): Vector[] {
    const v = [
      hkdfVector('rfc5869-a.1', new Uint8Array(22).fill(0x0b), range(0, 13), range(0xf0, 0xfa), 42),
      hkdfVector('rfc5869-a.2', range(0, 0x50), range(0x60, 0xb0), range(0xb0, 0x100), 82),
      hkdfVector('rfc5869-a.3', new Uint8Array(22).fill(0x0b), new Uint8Array(0), new Uint8Array(0), 42),
    ];
    for (let i = 0; i < 3; i++) {
      v.push(hkdfVector(`random-${i}`, rng.fill(new Uint8Array(32)), rng.fill(new Uint8Array(32)), rng.fill(new Uint8Array(10 + i)), [16, 32, 100][i]!));
    }
    return v;
  },
  verify(v: Vector): void {
    expectFields(v, ['ikm', 'salt', 'info', 'length', 'okm']);
    const length = intField(v, 'length', 1, 8160);
    hexField(v, 'okm', length);
    expectHex('okm', stringField(v, 'okm'), hkdfSha256(hexField(v, 'ikm'), hexField(v, 'salt'), hexField(v, 'info'), length));
  },
});

const DERIVATIONS = ['share-key', 'pairwise-mask', 'self-mask', 'session-id'] as const;
type Derivation = (typeof DERIVATIONS)[number];

interface DerivationInputs {
  derivation: Derivation;
  ikm: Uint8Array;
  sessionId?: Uint8Array;
  idA?: number;
  idB?: number;
}

/** The (label, salt, context, length) each named derivation uses: the spec's table, as code. */
function layout(d: DerivationInputs): { label: string; salt: Uint8Array; context: Uint8Array; length: number } {
  switch (d.derivation) {
    case 'share-key':
      return { label: LABEL_SHARE_KEY, salt: d.sessionId!, context: pairContext(d.idA!, d.idB!), length: 32 };
    case 'pairwise-mask':
      return { label: LABEL_PAIRWISE_MASK, salt: d.sessionId!, context: pairContext(d.idA!, d.idB!), length: 16 };
    case 'self-mask':
      return { label: LABEL_SELF_MASK, salt: d.sessionId!, context: u32be(d.idA!), length: 16 };
    case 'session-id':
      return { label: LABEL_SESSION_ID, salt: new Uint8Array(0), context: new Uint8Array(0), length: 32 };
  }
}

function named(d: DerivationInputs): Uint8Array {
  switch (d.derivation) {
    case 'share-key':
      return deriveShareKey(d.ikm, d.sessionId!, d.idA!, d.idB!);
    case 'pairwise-mask':
      return derivePairwiseMaskSeed(d.ikm, d.sessionId!, d.idA!, d.idB!);
    case 'self-mask':
      return deriveSelfMaskSeed(d.ikm, d.sessionId!, d.idA!);
    case 'session-id':
      return deriveSessionId(d.ikm);
  }
}

function derivationVector(name: string, d: DerivationInputs): Vector {
  const l = layout(d);
  const v: Vector = { name, derivation: d.derivation, ikm: toHex(d.ikm) };
  if (d.sessionId) v.session_id = toHex(d.sessionId);
  if (d.idA !== undefined) v.id_a = d.idA;
  if (d.idB !== undefined) v.id_b = d.idB;
  v.label = l.label;
  v.salt = toHex(l.salt);
  v.info = toHex(labelledInfo(l.label, l.context));
  v.output = toHex(named(d));
  return v;
}

registerVectorKind('derivations', {
  description: 'every labelled HKDF derivation of the suite: output = HKDF(ikm, salt, info = u16be(len(label)) || label || context); see protocol-spec/01-crypto.md',
  generate(rng: Rng): Vector[] {
    const out: Vector[] = [];
    const sid = () => rng.fill(new Uint8Array(32));
    const key = () => rng.fill(new Uint8Array(32));
    out.push(derivationVector('share-key-3-7', { derivation: 'share-key', ikm: key(), sessionId: sid(), idA: 3, idB: 7 }));
    out.push(derivationVector('share-key-reversed-ids', { derivation: 'share-key', ikm: key(), sessionId: sid(), idA: 65535, idB: 1 }));
    out.push(derivationVector('pairwise-mask-1-2', { derivation: 'pairwise-mask', ikm: key(), sessionId: sid(), idA: 1, idB: 2 }));
    out.push(derivationVector('pairwise-mask-reversed-ids', { derivation: 'pairwise-mask', ikm: key(), sessionId: sid(), idA: 40000, idB: 12 }));
    out.push(derivationVector('self-mask-5', { derivation: 'self-mask', ikm: key(), sessionId: sid(), idA: 5 }));
    out.push(derivationVector('session-id-short', { derivation: 'session-id', ikm: Uint8Array.of(1, 2, 3) }));
    out.push(derivationVector('session-id-100-bytes', { derivation: 'session-id', ikm: concatBytes(key(), key(), key(), rng.fill(new Uint8Array(4))) }));
    return out;
  },
  verify(v: Vector): void {
    const derivation = stringField(v, 'derivation', DERIVATIONS) as Derivation;
    const needs: readonly string[] = { 'share-key': ['session_id', 'id_a', 'id_b'], 'pairwise-mask': ['session_id', 'id_a', 'id_b'], 'self-mask': ['session_id', 'id_a'], 'session-id': [] }[derivation];
    expectFields(v, ['derivation', 'ikm', ...needs, 'label', 'salt', 'info', 'output']);
    const d: DerivationInputs = { derivation, ikm: hexField(v, 'ikm') };
    if (needs.includes('session_id')) d.sessionId = hexField(v, 'session_id', 32);
    if (needs.includes('id_a')) d.idA = intField(v, 'id_a', 0, 0xffffffff);
    if (needs.includes('id_b')) d.idB = intField(v, 'id_b', 0, 0xffffffff);
    const l = layout(d);
    if (stringField(v, 'label') !== l.label) throw new VectorFormatError(`field 'label' must be ${l.label}`);
    expectHex('salt', stringField(v, 'salt'), l.salt);
    expectHex('info', stringField(v, 'info'), labelledInfo(l.label, l.context));
    const output = stringField(v, 'output');
    expectHex('output', output, named(d));
    // The raw HKDF over the file's own salt and info must agree too (the layout is the spec).
    expectHex('output', output, deriveKey(d.ikm, { salt: hexField(v, 'salt'), label: l.label, context: l.context, length: l.length }));
    expectHex('output', output, hkdfSha256(d.ikm, hexField(v, 'salt'), hexField(v, 'info'), l.length));
  },
});
