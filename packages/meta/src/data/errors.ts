/**
 * Every error the data layer throws is a DataError with a stable machine `code`, so a
 * caller (a CLI, a federation host) can branch on it without parsing messages.
 * Codes are append-only: never rename or reuse one.
 */
export type DataErrorCode =
  /** An argument has the wrong type, size or range; the message names it. */
  | 'DATA_INVALID_ARGUMENT'
  /** A dataset file does not exist; the message names the path and how to get it. */
  | 'DATA_FILE_MISSING'
  /** The bundled `mnist` package is missing or its files do not have the expected form. */
  | 'MNIST_CORRUPT'
  /** The first bytes are not an IDX header (two zero bytes, a dtype byte, a rank byte). */
  | 'IDX_BAD_MAGIC'
  /** The IDX dtype byte is not one of 0x08 0x09 0x0B 0x0C 0x0D 0x0E, or not allowed here. */
  | 'IDX_UNSUPPORTED_DTYPE'
  /** The file ends before the header or the data its dimensions declare. */
  | 'IDX_TRUNCATED'
  /** The file has bytes after the data its dimensions declare. */
  | 'IDX_TRAILING_DATA'
  /** The rank or a dimension is wrong for what is being read (e.g. labels that are not 1-D). */
  | 'IDX_DIMS_MISMATCH'
  /** The image file and the label file disagree on the number of examples. */
  | 'IDX_COUNT_MISMATCH'
  /** The file starts like gzip but does not inflate. */
  | 'IDX_BAD_GZIP'
  /** A label is outside 0..numClasses-1. */
  | 'DATA_BAD_LABEL'
  /** A CIFAR binary batch is not a whole number of records. */
  | 'CIFAR_TRUNCATED'
  /** A CSV/JSON table is malformed (wrong field count, unterminated quote, wrong JSON form). */
  | 'TABULAR_PARSE'
  /** A named column does not exist (or appears twice) in the header. */
  | 'TABULAR_UNKNOWN_COLUMN'
  /** A feature cell is empty; the message names row and column. */
  | 'TABULAR_MISSING_VALUE'
  /** A feature cell is not a finite number; the message names row and column. */
  | 'TABULAR_NON_NUMERIC'
  /** A label is not in the label list the caller supplied (shared across a federation). */
  | 'TABULAR_UNKNOWN_LABEL'
  /** The data cannot be split as asked (too few examples or classes, or an empty client). */
  | 'PARTITION_IMPOSSIBLE';

/** Base class of every data-layer error; `code` is stable, `message` is for humans. */
export class DataError extends Error {
  override readonly name: string = 'DataError';
  constructor(
    readonly code: DataErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A public function got an argument of the wrong type or range. */
export class DataArgumentError extends DataError {
  override readonly name = 'DataArgumentError';
  constructor(message: string) {
    super('DATA_INVALID_ARGUMENT', message);
  }
}

/** A dataset file is absent; `hint` says how to obtain it (e.g. the Debian package). */
export class DatasetMissingError extends DataError {
  override readonly name = 'DatasetMissingError';
  constructor(
    readonly path: string,
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    super('DATA_FILE_MISSING', `dataset file not found: ${path} (${hint})`, options);
  }
}

/** A binary dataset file (IDX, CIFAR) is malformed; `file` names it when known. */
export class DataFormatError extends DataError {
  override readonly name = 'DataFormatError';
  constructor(
    code: DataErrorCode,
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${file}: ${message}`, options);
  }
}

/** A CSV/JSON cell or row is unusable; `row` is 1-based data row (header excluded). */
export class TabularError extends DataError {
  override readonly name = 'TabularError';
  constructor(
    code: DataErrorCode,
    readonly row: number | undefined,
    readonly column: string | undefined,
    message: string,
  ) {
    super(code, message);
  }
}

/** A partition or split is impossible with the data at hand. */
export class PartitionError extends DataError {
  override readonly name = 'PartitionError';
  constructor(message: string) {
    super('PARTITION_IMPOSSIBLE', message);
  }
}
