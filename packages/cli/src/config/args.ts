/**
 * Command-line flags: a thin wrapper over node:util parseArgs that turns its errors
 * into CliError (exit code 2, one line, the flag named) and suggests the closest flag.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from '../errors.js';
import { suggest } from './schema.js';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses `argv` against `flags` (no positionals).
 * @throws CliError for an unknown flag (with a did-you-mean), a missing value or a stray argument
 */
export function parseFlags<F extends FlagSpec>(argv: string[], flags: F): Record<keyof F, string | boolean | undefined> {
  try {
    const { values } = parseArgs({ args: argv, options: flags, strict: true, allowPositionals: false });
    return values as unknown as Record<keyof F, string | boolean | undefined>;
  } catch (err) {
    const message = (err as Error).message;
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(message);
    if (unknown) {
      const hint = suggest(unknown[1]!.replace(/^-+/, ''), Object.keys(flags));
      throw new CliError(`unknown option ${unknown[1]}${hint ? `; did you mean --${hint}?` : ''} (see --help)`);
    }
    throw new CliError(message.replace(/\. To specify.*$/s, '').trim() + ' (see --help)');
  }
}

/** A string flag's value, or undefined. */
export const flagString = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Parses an integer flag.
 * @throws CliError naming the flag when the value is not an integer in [min, max]
 */
export function flagInt(name: string, v: string | boolean | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new CliError(`--${name}: must be an integer ${min}-${max} (got ${JSON.stringify(v)})`);
  return n;
}

/** Parses a positive number flag. @throws CliError naming the flag */
export function flagPositive(name: string, v: string | boolean | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`--${name}: must be a number > 0 (got ${JSON.stringify(v)})`);
  return n;
}

/** Parses on/off style flags. @throws CliError naming the flag */
export function flagOnOff(name: string, v: string | boolean | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === true || v === 'on' || v === 'true' || v === 'yes') return true;
  if (v === 'off' || v === 'false' || v === 'no') return false;
  throw new CliError(`--${name}: must be on or off (got ${JSON.stringify(v)})`);
}
