/** Codes the server may close with that no retry can fix: the client gives up at once. */
export const FATAL_CODES: ReadonlySet<string> = new Set([
  'ERR_AUTH_UNKNOWN_KEY',
  'ERR_AUTH_REVOKED',
  'ERR_AUTH_BAD_SIGNATURE',
  'ERR_UNSUPPORTED_VERSION',
  'ERR_FEDERATION_DONE',
  // Another live process holds this identity, or a newer session replaced this one.
  'ERR_SESSION_DUPLICATE',
  'ERR_SESSION_REPLACED',
  // This site's policy refuses the federation: retrying would not change its settings.
  'ERR_POLICY_REFUSED',
  // This site's data does not match the federation's schema: fix the file, then restart.
  'ERR_SCHEMA_MISMATCH',
  // TLS failures the client finds itself: a retry meets the same certificate or port, so
  // it gives up at once with the cause and the fix (connection.ts, connectError).
  'ERR_TLS_UNTRUSTED',
  'ERR_TLS_HOSTNAME',
  'ERR_TLS_EXPIRED',
  'ERR_TLS_PROTOCOL',
]);

/** An invalid client option; `code` is always ERR_CLIENT_CONFIG and the message names the option. */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  readonly code = 'ERR_CLIENT_CONFIG';
  constructor(message: string) {
    super(`ERR_CLIENT_CONFIG: ${message}`);
  }
}
