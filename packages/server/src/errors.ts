/**
 * Errors of the coordinator itself (configuration, checkpoints, budget). Wire-level
 * refusals are TransportErrors (@fedmeta/transport); these never travel on the wire.
 */
export const SERVER_ERROR_CODES = [
  /** An option is missing or invalid; the message names the field. */
  'ERR_SERVER_CONFIG',
  /** The checkpoint file is unreadable, truncated or fails its digest. */
  'ERR_CHECKPOINT_CORRUPT',
  /** The checkpoint was written by a federation with a different configuration. */
  'ERR_CHECKPOINT_MISMATCH',
  /** The server could not bind or serve. */
  'ERR_LISTEN',
] as const;

export type ServerErrorCode = (typeof SERVER_ERROR_CODES)[number];

export class ServerError extends Error {
  override readonly name = 'ServerError';
  constructor(
    readonly code: ServerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
  }
}
