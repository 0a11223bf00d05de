// Argument checks shared by the data layer's public functions. Each throws a
// DataArgumentError that names the argument, so bad input never crashes deeper down.
import { DataArgumentError } from './errors.js';

/** Asserts `value` is an integer in [min, max]; returns it. */
export function checkInt(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new DataArgumentError(`${name} must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new DataArgumentError(`${name} must be in [${min}, ${max}], got ${value}`);
  }
  return value;
}

/** Asserts `value` is a finite number in the open/closed range given; returns it. */
export function checkNumber(
  name: string,
  value: unknown,
  range: { gt?: number; ge?: number; lt?: number; le?: number } = {},
): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new DataArgumentError(`${name} must be a finite number, got ${describe(value)}`);
  }
  const { gt, ge, lt, le } = range;
  if ((gt !== undefined && !(value > gt)) || (ge !== undefined && !(value >= ge)) ||
      (lt !== undefined && !(value < lt)) || (le !== undefined && !(value <= le))) {
    const lo = gt !== undefined ? `> ${gt}` : ge !== undefined ? `>= ${ge}` : '';
    const hi = lt !== undefined ? `< ${lt}` : le !== undefined ? `<= ${le}` : '';
    throw new DataArgumentError(`${name} must be ${[lo, hi].filter(Boolean).join(' and ')}, got ${value}`);
  }
  return value;
}

/** Asserts `value` is a non-null object (an options bag); returns it. */
export function checkObject<T extends object>(name: string, value: unknown): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DataArgumentError(`${name} must be an options object, got ${describe(value)}`);
  }
  return value as T;
}

/** A short description of a bad value for error messages (never the whole value). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'object') return value.constructor?.name ?? 'an object';
  return `${typeof value} ${String(value)}`;
}
