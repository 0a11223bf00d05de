/** Codes the server may close with that no retry can fix: the client gives up at once. */
export const FATAL_CODES: ReadonlySet<string> = new Set([
  'ERR_AUTH_UNKNOWN_KEY',
  'ERR_AUTH_REVOKED',
  'ERR_AUTH_BAD_SIGNATURE',
  'ERR_UNSUPPORTED_VERSION',
  'ERR_FEDERATION_DONE',
]);
