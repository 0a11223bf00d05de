/** Codes the server may close with that no retry can fix: the client gives up at once. */
export const FATAL_CODES: ReadonlySet<string> = new Set([
  'ERR_AUTH_UNKNOWN_KEY',
  'ERR_AUTH_REVOKED',
  'ERR_AUTH_BAD_SIGNATURE',
  'ERR_UNSUPPORTED_VERSION',
  'ERR_FEDERATION_DONE',
]);

/** An invalid client option; `code` is always ERR_CLIENT_CONFIG and the message names the option. */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  readonly code = 'ERR_CLIENT_CONFIG';
  constructor(message: string) {
    super(`ERR_CLIENT_CONFIG: ${message}`);
  }
}
