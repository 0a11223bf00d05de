/**
 * Every error the secagg core throws is a SecAggError with a stable machine `code`
 * (documented in protocol-spec/), so hosts can branch on it and log it without
 * parsing messages. Codes are append-only: never rename or reuse one.
 */
export class SecAggError extends Error {
  override readonly name: string = 'SecAggError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An argument of the wrong type, size or range was passed to a public function. */
export class InvalidArgumentError extends SecAggError {
  override readonly name = 'InvalidArgumentError';
  constructor(message: string) {
    super('ERR_INVALID_ARGUMENT', message);
  }
}
