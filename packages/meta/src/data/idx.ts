// IDX files (the MNIST / Fashion-MNIST container, yann.lecun.com/exdb/mnist): a 4-byte
// magic [0, 0, dtype, rank], then `rank` big-endian uint32 dimensions, then the values
// big-endian in row-major order. Files may be gzip'ed (detected by the 1f 8b magic).
// Every size is checked against what the header declares before anything is allocated.
import { readFile } from 'node:fs/promises';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { checkInt, checkObject } from './checks.js';
import { type Dataset } from './dataset.js';
import { DataArgumentError, DataError, DataFormatError, DatasetMissingError } from './errors.js';

const gunzipAsync = promisify(gunzip);

/** IDX element types by their dtype byte. */
export const IDX_DTYPES = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
} as const;

/** Name of an IDX element type. */
export type IdxDtype = (typeof IDX_DTYPES)[keyof typeof IDX_DTYPES]['name'];

/** A decoded IDX tensor: `data` holds the product of `dims` values, row-major. */
export interface IdxTensor {
  dtype: IdxDtype;
  dims: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** Default cap on decoded IDX payloads (1 GiB); the full Fashion-MNIST train images are 47 MB. */
export const DEFAULT_MAX_IDX_BYTES = 1 << 30;

/**
 * Decodes an (uncompressed) IDX buffer.
 * @param bytes the file contents
 * @param file a name for error messages (e.g. the path)
 * @param maxBytes refuse payloads larger than this (checked from the header, before allocating)
 * @throws DataFormatError 'IDX_BAD_MAGIC', 'IDX_UNSUPPORTED_DTYPE', 'IDX_TRUNCATED',
 *   'IDX_TRAILING_DATA' or 'IDX_DIMS_MISMATCH' (a zero-length rank or a payload over maxBytes).
 */
export function parseIdx(bytes: Uint8Array, file = 'idx', maxBytes = DEFAULT_MAX_IDX_BYTES): IdxTensor {
  if (!(bytes instanceof Uint8Array)) throw new DataArgumentError('bytes must be a Uint8Array');
  if (bytes.length < 4) {
    throw new DataFormatError('IDX_TRUNCATED', file, `${bytes.length} bytes is shorter than the 4-byte IDX magic`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataFormatError('IDX_BAD_MAGIC', file,
      `magic starts with ${hex(bytes[0]!)} ${hex(bytes[1]!)}, expected 00 00 (is it an IDX file?)`);
  }
  const code = bytes[2]!;
  const type = IDX_DTYPES[code as keyof typeof IDX_DTYPES];
  if (!type) throw new DataFormatError('IDX_UNSUPPORTED_DTYPE', file, `unknown IDX dtype byte ${hex(code)}`);
  const rank = bytes[3]!;
  if (rank === 0) throw new DataFormatError('IDX_DIMS_MISMATCH', file, 'rank 0: an IDX file needs at least one dimension');
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    throw new DataFormatError('IDX_TRUNCATED', file, `header declares ${rank} dimensions but the file has ${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const payload = count * type.bytes;
  if (payload > maxBytes) {
    throw new DataFormatError('IDX_DIMS_MISMATCH', file,
      `dimensions [${dims.join(', ')}] declare ${payload} bytes, over the ${maxBytes}-byte limit`);
  }
  const available = bytes.length - headerBytes;
  if (available < payload) {
    throw new DataFormatError('IDX_TRUNCATED', file,
      `dimensions [${dims.join(', ')}] declare ${payload} data bytes but only ${available} follow the header`);
  }
  if (available > payload) {
    throw new DataFormatError('IDX_TRAILING_DATA', file,
      `${available - payload} bytes follow the ${payload} data bytes declared by dimensions [${dims.join(', ')}]`);
  }
  return { dtype: type.name, dims, data: decodeValues(view, headerBytes, count, type.name, bytes) };
}

function decodeValues(view: DataView, at: number, count: number, dtype: IdxDtype, bytes: Uint8Array): IdxTensor['data'] {
  switch (dtype) {
    // Uint8Array.prototype.slice copies even for a Buffer (whose own slice is a view of a
    // possibly shared pool), so the result owns exactly its bytes.
    case 'uint8':
      return Uint8Array.prototype.slice.call(bytes, at, at + count);
    case 'int8':
      return new Int8Array(Uint8Array.prototype.slice.call(bytes, at, at + count).buffer);
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(at + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(at + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(at + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(at + 8 * i, false);
      return out;
    }
  }
}

/** True when `bytes` starts with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Reads an IDX file, gunzipping it first when it starts with the gzip magic.
 * @throws DatasetMissingError when the file does not exist; DataFormatError
 *   'IDX_BAD_GZIP' / 'IDX_TRUNCATED' for a corrupt or cut-off gzip stream, and the
 *   parseIdx errors.
 */
export async function readIdxFile(path: string, maxBytes = DEFAULT_MAX_IDX_BYTES, hint = 'check the path'): Promise<IdxTensor> {
  if (typeof path !== 'string' || path === '') throw new DataArgumentError('path must be a non-empty string');
  let bytes: Uint8Array = await readExisting(path, hint);
  if (isGzip(bytes)) {
    try {
      // maxOutputLength caps the inflated size (payload cap + the largest possible header),
      // so a gzip bomb fails instead of filling memory.
      bytes = await gunzipAsync(bytes, { maxOutputLength: maxBytes + 4 + 4 * 255 });
    } catch (cause) {
      const zcode = (cause as { code?: string }).code;
      if (zcode === 'ERR_BUFFER_TOO_LARGE') {
        throw new DataFormatError('IDX_DIMS_MISMATCH', path, `inflates to more than the ${maxBytes}-byte limit`, { cause });
      }
      const cutOff = zcode === 'Z_BUF_ERROR';
      throw new DataFormatError(cutOff ? 'IDX_TRUNCATED' : 'IDX_BAD_GZIP', path,
        cutOff ? 'gzip stream ends early (truncated download?)' : `gzip stream is corrupt (${zcode ?? String(cause)})`,
        { cause });
    }
  }
  return parseIdx(bytes, path, maxBytes);
}

async function readExisting(path: string, hint: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    if ((cause as { code?: string }).code === 'ENOENT') throw new DatasetMissingError(path, hint, { cause });
    throw new DataError('DATA_FILE_MISSING', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** Options of {@link loadIdxPair}. */
export interface IdxPairOptions {
  /** Number of classes (default: largest label + 1). */
  numClasses?: number;
  /** Dataset name (default: the image file's base name). */
  name?: string;
  /** How to obtain the files, for the missing-file error. */
  hint?: string;
}

/**
 * Loads an MNIST-style pair: uint8 images of rank 3 [n, rows, cols] (shape [rows, cols, 1])
 * or rank 4 [n, rows, cols, channels], scaled to [0, 1] by /255, and uint8 labels [n].
 * @throws DataFormatError 'IDX_DIMS_MISMATCH' for wrong ranks, 'IDX_UNSUPPORTED_DTYPE' for
 *   non-uint8 files, 'IDX_COUNT_MISMATCH' when the counts differ; DataError
 *   'DATA_BAD_LABEL' for a label >= numClasses; and readIdxFile's errors.
 */
export async function loadIdxPair(imagesPath: string, labelsPath: string, options: IdxPairOptions = {}): Promise<Dataset> {
  const opts = checkObject<IdxPairOptions>('options', options);
  const hint = opts.hint ?? 'check the path';
  const [images, labels] = await Promise.all([readIdxFile(imagesPath, DEFAULT_MAX_IDX_BYTES, hint),
    readIdxFile(labelsPath, DEFAULT_MAX_IDX_BYTES, hint)]);
  return idxPairToDataset(images, labels, imagesPath, labelsPath, opts);
}

/** The synchronous core of {@link loadIdxPair}, on already-decoded tensors. */
export function idxPairToDataset(
  images: IdxTensor,
  labels: IdxTensor,
  imagesName = 'images',
  labelsName = 'labels',
  options: IdxPairOptions = {},
): Dataset {
  if (images.dtype !== 'uint8') {
    throw new DataFormatError('IDX_UNSUPPORTED_DTYPE', imagesName, `images must be uint8 (0x08), got ${images.dtype}`);
  }
  if (labels.dtype !== 'uint8') {
    throw new DataFormatError('IDX_UNSUPPORTED_DTYPE', labelsName, `labels must be uint8 (0x08), got ${labels.dtype}`);
  }
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw new DataFormatError('IDX_DIMS_MISMATCH', imagesName,
      `images must have rank 3 [n, rows, cols] or 4 [n, rows, cols, channels], got [${images.dims.join(', ')}]`);
  }
  if (labels.dims.length !== 1) {
    throw new DataFormatError('IDX_DIMS_MISMATCH', labelsName, `labels must have rank 1 [n], got [${labels.dims.join(', ')}]`);
  }
  const [n, ...rest] = images.dims as [number, ...number[]];
  if (labels.dims[0] !== n) {
    throw new DataFormatError('IDX_COUNT_MISMATCH', labelsName, `${labels.dims[0]} labels for ${n} images in ${imagesName}`);
  }
  const shape = rest.length === 2 ? [...rest, 1] : rest;
  if (shape.some((d) => d === 0)) {
    throw new DataFormatError('IDX_DIMS_MISMATCH', imagesName, `image dimensions [${rest.join(', ')}] contain a zero`);
  }
  const y = Int32Array.from(labels.data as Uint8Array);
  let maxLabel = -1;
  for (const v of y) if (v > maxLabel) maxLabel = v;
  const numClasses = options.numClasses === undefined ? Math.max(1, maxLabel + 1)
    : checkInt('options.numClasses', options.numClasses, 1);
  if (maxLabel >= numClasses) {
    const at = y.findIndex((v) => v >= numClasses);
    throw new DataError('DATA_BAD_LABEL', `${labelsName}: label ${y[at]} at index ${at} is not below numClasses ${numClasses}`);
  }
  const src = images.data as Uint8Array;
  const x = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) x[i] = src[i]! / 255;
  return { x, y, count: n, shape, numClasses, name: options.name ?? baseName(imagesName) };
}

function baseName(path: string): string {
  return path.split(/[\\/]/).pop()!.replace(/\.gz$/, '');
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
