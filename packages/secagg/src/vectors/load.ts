/**
 * Loads every vector kind: the built-in ones (./kinds) and, when present, the protocol
 * layer's modules listed in OPTIONAL_KIND_MODULES. Those are imported by a computed
 * specifier, so this package compiles before they exist; once they exist, any error they
 * raise (other than being absent) propagates.
 */
import { fileURLToPath } from 'node:url';
import './kinds/index.js';

/** Modules (relative to this file) that register more kinds; absent ones are skipped. */
export const OPTIONAL_KIND_MODULES: readonly string[] = ['./transcripts.js', './decode-errors.js', './protocol-replays.js'];

let loading: Promise<void> | undefined;

/** Registers every available vector kind (idempotent). */
export function loadVectorKinds(): Promise<void> {
  loading ??= (async () => {
    for (const spec of OPTIONAL_KIND_MODULES) {
      const url = new URL(spec, import.meta.url);
      try {
        await import(url.href);
      } catch (err) {
        const e = err as { code?: string; message?: string };
        if (e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(fileURLToPath(url))) continue;
        throw err;
      }
    }
  })();
  return loading;
}
