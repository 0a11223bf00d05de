/** quantize.json: encodings (seeded stochastic rounding) and aggregate decodings. */
import { toHex } from '../../crypto/bytes.js';
import { decodeAggregate, encodeUpdate, addEncoded } from '../../quantize/encode.js';
import { quantizeParams, type QuantizeOptions, type QuantizeParams } from '../../quantize/params.js';
import { seededRng, type Rng } from '../../rng.js';
import { expectFields, expectHex, expectSame, hexField, intField, numberField, objectField, stringField, VectorFormatError, wordsField, wordsToHex } from '../fields.js';
import { registerVectorKind, type Vector, type VectorValue } from '../registry.js';

function paramsJson(o: QuantizeOptions): VectorValue {
  return { bits: o.bits ?? 32, max_clients: o.maxClients, element_clip: o.elementClip, l2_clip: o.l2Clip ?? null, max_weight: o.maxWeight ?? 1 };
}

function readParams(v: Vector): QuantizeParams {
  const p = objectField(v, 'params');
  if (Object.keys(p).sort().join() !== 'bits,element_clip,l2_clip,max_clients,max_weight') throw new VectorFormatError("field 'params' must have exactly bits, max_clients, element_clip, l2_clip, max_weight");
  return quantizeParams({
    bits: intField(p, 'bits', 8, 32),
    maxClients: intField(p, 'max_clients', 1, 2 ** 31 - 1),
    elementClip: numberField(p, 'element_clip'),
    ...(p.l2_clip === null ? {} : { l2Clip: numberField(p, 'l2_clip') }),
    maxWeight: intField(p, 'max_weight', 1, 2 ** 32 - 1),
  });
}

const f64Hex = (x: Float64Array): string => toHex(new Uint8Array(x.buffer));
const f32Hex = (x: Float32Array): string => toHex(new Uint8Array(x.buffer));

function f64Field(v: Vector, field: string): Float64Array {
  const b = hexField(v, field);
  if (b.length % 8 !== 0) throw new VectorFormatError(`field '${field}' must hold whole float64 values`);
  return new Float64Array(b.buffer);
}

function encodeVector(name: string, o: QuantizeOptions, x: number[], weight: number, rngSeed: Uint8Array): Vector {
  const p = quantizeParams(o);
  const input = Float64Array.from(x);
  return { name, operation: 'encode', params: paramsJson(o), weight, input: f64Hex(input), rng_seed: toHex(rngSeed), encoded: wordsToHex(encodeUpdate(input, weight, p, seededRng(rngSeed))) };
}

function decodeVector(name: string, o: QuantizeOptions, sum: Uint32Array): Vector {
  const d = decodeAggregate(sum, quantizeParams(o));
  return { name, operation: 'decode', params: paramsJson(o), sum: wordsToHex(sum), total_weight: d.totalWeight, weighted_sum: f32Hex(d.weightedSum), mean: f32Hex(d.mean) };
}

registerVectorKind('quantize', {
  description: 'quantisation: encoded = [w, two\'s complement of stochastic_round(w * clip(x) * scale) mod 2^bits] with rounding bits from seededRng(rng_seed); decode of a mod-2^bits sum; floats little-endian IEEE 754',
  generate(rng: Rng): Vector[] {
    const s = () => rng.fill(new Uint8Array(32));
    const o32: QuantizeOptions = { maxClients: 100, elementClip: 1, maxWeight: 1000 };
    const o16: QuantizeOptions = { bits: 16, maxClients: 10, elementClip: 0.5, l2Clip: 1 };
    const o8: QuantizeOptions = { bits: 8, maxClients: 3, elementClip: 2, maxWeight: 4 };
    // 32 extra fractional coordinates per encoding, so every rounding bit of rng_seed matters.
    const more = (k: number) => Array.from({ length: 32 }, (_, i) => Math.sin(17 * i + k) * 0.45);
    const v = [
      encodeVector('encode-32bit-weighted', o32, [0.1, -0.2, 0.3333, -1, 1, 0, 2.5, -7e-9, ...more(1)], 37, s()),
      encodeVector('encode-16bit-l2-clip', o16, [3, 4, -0.01, 0.25, ...more(2).map((x) => x / 20)], 1, s()),
      encodeVector('encode-8bit-extremes', o8, [2, -2, 100, -100, 0.7, -0.7, ...more(3)], 4, s()),
    ];
    // A sum of three encodings under o8, then its decoding.
    const acc = new Uint32Array(4);
    for (const [x, w] of [[[1, -1, 0.5], 4], [[2, 2, -2], 1], [[-0.3, 0.9, 1.1], 3]] as const) {
      addEncoded(acc, encodeUpdate(x, w, quantizeParams(o8), seededRng(s())), 8);
    }
    v.push(decodeVector('decode-8bit-three-clients', o8, acc));
    v.push(decodeVector('decode-32bit-negative-and-positive', o32, Uint32Array.of(1500, 2 ** 32 - 5, 12345678, 0, 2 ** 31 - 1, 2 ** 31)));
    return v;
  },
  verify(v: Vector): void {
    const op = stringField(v, 'operation', ['encode', 'decode']);
    if (op === 'encode') {
      expectFields(v, ['operation', 'params', 'weight', 'input', 'rng_seed', 'encoded']);
      const p = readParams(v);
      const weight = intField(v, 'weight', 1, p.maxWeight);
      const encoded = encodeUpdate(f64Field(v, 'input'), weight, p, seededRng(hexField(v, 'rng_seed', 32)));
      expectHex('encoded', stringField(v, 'encoded'), hexField({ e: wordsToHex(encoded) }, 'e'));
      return;
    }
    expectFields(v, ['operation', 'params', 'sum', 'total_weight', 'weighted_sum', 'mean']);
    const d = decodeAggregate(wordsField(v, 'sum'), readParams(v));
    expectSame('total_weight', v.total_weight!, d.totalWeight);
    expectHex('weighted_sum', stringField(v, 'weighted_sum'), new Uint8Array(d.weightedSum.buffer));
    expectHex('mean', stringField(v, 'mean'), new Uint8Array(d.mean.buffer));
  },
});
