/** prg.json: mask expansion (prefix + SHA-256 of the whole mask) and signed accumulation. */
import { toHex } from '../../crypto/bytes.js';
import { applyMasks, expandMask, type MaskTerm } from '../../crypto/prg.js';
import { sha256 } from '../../crypto/sha256.js';
import type { Rng } from '../../rng.js';
import { arrayField, expectFields, expectHex, hexField, intField, objectField, stringField, VectorFormatError, wordsField, wordsToHex } from '../fields.js';
import { registerVectorKind, type Vector, type VectorValue } from '../registry.js';

const PREFIX_WORDS = 16;

function leBytes(words: Uint32Array): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const dv = new DataView(out.buffer);
  words.forEach((w, i) => dv.setUint32(4 * i, w, true));
  return out;
}

function expansion(name: string, seed: Uint8Array, length: number, bits: number): Vector {
  const mask = expandMask(seed, length, bits);
  return { name, operation: 'expand', seed: toHex(seed), bits, length, mask_prefix: wordsToHex(mask.subarray(0, PREFIX_WORDS)), mask_sha256: toHex(sha256(leBytes(mask))) };
}

function accumulation(name: string, input: Uint32Array, terms: MaskTerm[], bits: number): Vector {
  const out = applyMasks(input.slice(), terms, bits);
  return { name, operation: 'accumulate', bits, input: wordsToHex(input), terms: terms.map((t) => ({ seed: toHex(t.seed), sign: t.sign })), output: wordsToHex(out) };
}

registerVectorKind('prg', {
  description: 'mask PRG: AES-128-CTR(key = seed, zero counter block); mask[i] = LE word i mod 2^bits; accumulate = input + sum(sign * mask) mod 2^bits',
  generate(rng: Rng): Vector[] {
    const seed = () => rng.fill(new Uint8Array(16));
    const v: Vector[] = [
      expansion('expand-zero-seed-32bit', new Uint8Array(16), 16, 32),
      expansion('expand-32bit-1000', seed(), 1000, 32),
      expansion('expand-16bit-100000', seed(), 100000, 16),
      expansion('expand-20bit-50001', seed(), 50001, 20),
      expansion('expand-8bit-3', seed(), 3, 8),
    ];
    for (const [i, bits] of [32, 24, 11].entries()) {
      const length = 23 + i * 20;
      const input = new Uint32Array(rng.fill(new Uint8Array(length * 4)).buffer).map((w) => w % 2 ** bits);
      const terms: MaskTerm[] = [{ seed: seed(), sign: 1 }, { seed: seed(), sign: -1 }, { seed: seed(), sign: 1 }];
      v.push(accumulation(`accumulate-${bits}bit`, input, terms, bits));
    }
    return v;
  },
  verify(v: Vector): void {
    const op = stringField(v, 'operation', ['expand', 'accumulate']);
    const bits = intField(v, 'bits', 1, 32);
    if (op === 'expand') {
      expectFields(v, ['operation', 'seed', 'bits', 'length', 'mask_prefix', 'mask_sha256']);
      const length = intField(v, 'length', 0, 1 << 24);
      const mask = expandMask(hexField(v, 'seed', 16), length, bits);
      expectHex('mask_prefix', stringField(v, 'mask_prefix'), leBytes(mask.subarray(0, PREFIX_WORDS)));
      expectHex('mask_sha256', stringField(v, 'mask_sha256'), sha256(leBytes(mask)));
      return;
    }
    expectFields(v, ['operation', 'bits', 'input', 'terms', 'output']);
    const input = wordsField(v, 'input');
    if (input.some((w) => w >= 2 ** bits)) throw new VectorFormatError(`field 'input' has a word >= 2^${bits}`);
    const terms = arrayField(v, 'terms').map((t: VectorValue, i): MaskTerm => {
      const o = objectField({ t }, 't');
      const sign = o.sign;
      if (sign !== 1 && sign !== -1) throw new VectorFormatError(`field 'terms[${i}].sign' must be 1 or -1`);
      if (Object.keys(o).sort().join() !== 'seed,sign') throw new VectorFormatError(`field 'terms[${i}]' must have exactly seed and sign`);
      return { seed: hexField(o, 'seed', 16), sign };
    });
    expectHex('output', stringField(v, 'output'), leBytes(applyMasks(input.slice(), terms, bits)));
  },
});
