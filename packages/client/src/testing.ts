/**
 * @fedmeta/client/testing: the client with fault-injection hooks, for tests and for
 * `fedmeta simulate`'s crash injection. Not part of the public options: a deployment never
 * passes hooks that drop connections or rewrite protocol messages.
 */
import { startClient } from './client.js';
import type { ClientHandle, ClientOptions, ClientTestHooks } from './options.js';

export type { ClientTestHooks, ClientPhase } from './options.js';
export { ClientSession, type SessionClock, type SessionLink, type SessionOptions } from './session.js';
export { processClock } from './clock.js';

/** runClient, plus hooks that drop the connection at a phase, observe or rewrite what it sends. */
export function runClientWithHooks(options: ClientOptions, hooks: ClientTestHooks): ClientHandle {
  return startClient(options, hooks);
}
