/**
 * How library errors reach the user: the libraries throw typed errors with a stable
 * `code` (ServerError, ConfigError, IdentityError, DataError, ...). Commands turn them
 * into one line with the code and the message, exit code 1, and no stack trace; a
 * genuine bug (no code) still shows its stack.
 */
import { CliError } from '../errors.js';
import { ConfigError } from '../config/schema.js';

/** Rethrows `err` as a CliError when it is a typed, user-facing error. */
export function toCliError(err: unknown): never {
  if (err instanceof CliError) throw err;
  if (err instanceof ConfigError) throw new CliError(err.message, 2);
  if (err instanceof Error && typeof (err as { code?: unknown }).code === 'string') {
    const code = (err as unknown as { code: string }).code;
    throw new CliError(err.message.startsWith(code) ? err.message : `${code}: ${err.message}`, 1);
  }
  throw err;
}
