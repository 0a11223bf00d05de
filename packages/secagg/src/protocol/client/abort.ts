import { ABORT_REASONS, SecAggAbortError, type AbortReasonName } from '../reasons.js';

/** Throws the typed abort a client raises when the server misbehaves. */
export function clientAbort(reason: AbortReasonName, detail: string): never {
  throw new SecAggAbortError(ABORT_REASONS[reason], detail);
}
