/**
 * Structured logs: one JSON object per line ({ time, level, event, ...fields }), to a file
 * or stderr, for machines (jq, log shippers). Human output stays on the progress view.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface JsonLogger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
  close(): void;
}

/** Typed arrays and bigints are not JSON: log their size/decimal form instead. */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (ArrayBuffer.isView(value)) return { bytes: value.byteLength };
  if (value instanceof Error) return { name: value.name, message: value.message, ...('code' in value ? { code: (value as { code: unknown }).code } : {}) };
  return value;
}

/** Formats one log record (exported for tests). */
export function formatLogRecord(level: LogLevel, event: string, fields: Record<string, unknown> = {}, now = new Date()): string {
  return JSON.stringify({ time: now.toISOString(), level, event, ...fields }, replacer);
}

/**
 * Opens a JSON-lines logger. `target` "-" means stderr; undefined gives a logger that
 * drops everything (so callers never branch on "is logging on").
 * Writes are synchronous so the last lines survive a crash or SIGTERM.
 */
export function openJsonLog(target: string | undefined): JsonLogger {
  if (target === undefined) return { log() {}, close() {} };
  const fd = target === '-' ? 2 : openSync(target, 'a');
  return {
    log(level, event, fields) {
      writeSync(fd, formatLogRecord(level, event, fields) + '\n');
    },
    close() {
      if (fd !== 2) closeSync(fd);
    },
  };
}
