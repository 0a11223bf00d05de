/**
 * startServer: the public entry of the coordinator (see options.ts for every option).
 */
import { createOperator } from './dashboard/operator.js';
import { Federation } from './federation.js';
import type { ServerHandle, ServerOptions } from './options.js';
import { resolveServerOptions } from './validate.js';

/**
 * Validates the options, resumes from `checkpointDir` when it holds a checkpoint of the
 * same configuration, binds the listener and starts running rounds in the background.
 * With `dashboard`, the same port also serves the operator's dashboard and /metrics.
 *
 * @param options plain options object (keys as bytes; no file paths except checkpointDir / dp.ledgerPath)
 * @returns a handle with the bound port/url, `done` (the federation summary), status() and close()
 * @throws ServerError ERR_SERVER_CONFIG naming the invalid option, ERR_CHECKPOINT_MISMATCH /
 *   ERR_CHECKPOINT_CORRUPT for an unusable checkpoint, ERR_LISTEN when the port cannot be bound
 * @example
 *   const server = await startServer({ port: 0, insecure: true, federationId: 'demo', roster,
 *     rounds: 3, model: { config: { kind: 'mlp', inputShape: [784], hidden: [32], numClasses: 10 } },
 *     algorithm: { name: 'fedavg', hyper: { localSteps: 5, batchSize: 32, lr: 0.1 } },
 *     cohort: { minClients: 3 } });
 *   const summary = await server.done;
 */
export async function startServer(options: ServerOptions): Promise<ServerHandle> {
  const operator = options?.dashboard !== undefined ? createOperator(options) : null;
  const resolved = resolveServerOptions(operator ? operator.options : options);
  const federation = new Federation(resolved);
  let handle: ServerHandle;
  try {
    handle = await federation.start();
  } catch (err) {
    operator?.close();
    throw err;
  }
  operator?.attach(handle);
  return handle;
}
