// CIFAR-10 / CIFAR-100 "binary version" batches (www.cs.toronto.edu/~kriz/cifar.html).
// CIFAR-10 record: 1 label byte, then 3072 pixel bytes: the 1024 red values of the 32x32
// image row by row, then the 1024 green, then the 1024 blue (channel-major, CHW).
// CIFAR-100 record: a coarse label byte and a fine label byte, then the same 3072 bytes.
// We convert to height x width x channels (HWC), the layout tfjs conv layers expect.
import { readFile } from 'node:fs/promises';
import { checkObject } from './checks.js';
import { concat, type Dataset } from './dataset.js';
import { DataArgumentError, DataError, DataFormatError, DatasetMissingError } from './errors.js';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = 3 * PLANE;

/** Which labels a batch carries and which to use. */
export type CifarVariant = 'cifar10' | 'cifar100-fine' | 'cifar100-coarse';

const VARIANTS: Record<CifarVariant, { labelBytes: number; labelAt: number; numClasses: number }> = {
  'cifar10': { labelBytes: 1, labelAt: 0, numClasses: 10 },
  'cifar100-coarse': { labelBytes: 2, labelAt: 0, numClasses: 20 },
  'cifar100-fine': { labelBytes: 2, labelAt: 1, numClasses: 100 },
};

/** CIFAR-10 class names by label id. */
export const CIFAR10_CLASSES = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
] as const;

/** Options of the CIFAR readers. */
export interface CifarOptions {
  /** Default 'cifar10'. */
  variant?: CifarVariant;
  /** Dataset name (default: the variant). */
  name?: string;
}

/**
 * Decodes one binary batch (e.g. the bytes of data_batch_1.bin) into a Dataset of shape
 * [32, 32, 3] (HWC), values in [0, 1].
 * @param file a name for error messages
 * @throws DataFormatError 'CIFAR_TRUNCATED' when the size is not a whole, non-zero number
 *   of records; DataError 'DATA_BAD_LABEL' when a label is out of range.
 */
export function parseCifarBatch(bytes: Uint8Array, file = 'cifar batch', options: CifarOptions = {}): Dataset {
  if (!(bytes instanceof Uint8Array)) throw new DataArgumentError('bytes must be a Uint8Array');
  const opts = checkObject<CifarOptions>('options', options);
  const variant = opts.variant ?? 'cifar10';
  const v = VARIANTS[variant];
  if (!v) throw new DataArgumentError(`options.variant must be one of ${Object.keys(VARIANTS).join(', ')}`);
  const record = v.labelBytes + PIXELS;
  if (bytes.length === 0 || bytes.length % record !== 0) {
    throw new DataFormatError('CIFAR_TRUNCATED', file,
      `${bytes.length} bytes is not a whole number of ${record}-byte ${variant} records ` +
        `(${Math.floor(bytes.length / record)} complete, ${bytes.length % record} bytes left over)`);
  }
  const n = bytes.length / record;
  const x = new Float32Array(n * PIXELS);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const base = i * record;
    const label = bytes[base + v.labelAt]!;
    if (label >= v.numClasses) {
      throw new DataError('DATA_BAD_LABEL', `${file}: record ${i} has label ${label}, not below ${v.numClasses} (${variant})`);
    }
    y[i] = label;
    const src = base + v.labelBytes;
    const dst = i * PIXELS;
    for (let ch = 0; ch < 3; ch++) {
      const plane = src + ch * PLANE;
      for (let p = 0; p < PLANE; p++) x[dst + 3 * p + ch] = bytes[plane + p]! / 255;
    }
  }
  return { x, y, count: n, shape: [SIDE, SIDE, 3], numClasses: v.numClasses, name: opts.name ?? variant };
}

/**
 * Reads and concatenates binary batch files (e.g. data_batch_1.bin .. data_batch_5.bin),
 * in the order given. Users bring the files (CIFAR is not on this machine).
 * Memory: 10,000 images per batch are 123 MB of float32.
 * @throws DatasetMissingError for a missing file, and parseCifarBatch's errors.
 */
export async function loadCifarBatches(paths: readonly string[], options: CifarOptions = {}): Promise<Dataset> {
  if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string' && p !== '')) {
    throw new DataArgumentError('paths must be a non-empty array of file paths');
  }
  const parts: Dataset[] = [];
  for (const path of paths) {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      if ((cause as { code?: string }).code === 'ENOENT') {
        throw new DatasetMissingError(path, 'download the CIFAR binary version from www.cs.toronto.edu/~kriz/cifar.html', { cause });
      }
      throw new DataError('DATA_FILE_MISSING', `cannot read ${path}: ${(cause as Error).message}`, { cause });
    }
    parts.push(parseCifarBatch(bytes, path, options));
  }
  return parts.length === 1 ? parts[0]! : concat(parts, options.name ?? parts[0]!.name);
}
