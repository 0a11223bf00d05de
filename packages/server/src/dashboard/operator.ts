/**
 * Wiring of the operator's dashboard and metrics into a coordinator, from the outside:
 * the FederationMonitor listens to the server's own events (ServerOptions.logger) and
 * progress (onProgress), which are passed on unchanged to the caller's callbacks, and the
 * OperatorConsole's routes reach the listener on the options object (HTTP_ROUTES).
 */
import { loadCheckpoint } from '../checkpoint.js';
import { HTTP_ROUTES, type HttpRoutes } from '../listener.js';
import type { RoundSummary, ServerEvent, ServerHandle, ServerOptions } from '../options.js';
import { checkDashboardOptions, OperatorConsole } from './console.js';
import { FederationMonitor } from './monitor.js';

export interface Operator {
  /** The options to start the federation with (callbacks teed, routes attached). */
  options: ServerOptions & { [HTTP_ROUTES]: HttpRoutes };
  monitor: FederationMonitor;
  /** Gives the monitor the running server's member lists. */
  attach(handle: ServerHandle): void;
  close(): void;
}

/**
 * @throws ServerError ERR_SERVER_CONFIG for an invalid `dashboard`
 */
export function createOperator(options: ServerOptions): Operator {
  const dashboard = checkDashboardOptions(options.dashboard);
  const roster = Array.isArray(options.roster) ? options.roster : [];
  const monitor = new FederationMonitor({
    federationId: String(options.federationId),
    rounds: Number(options.rounds),
    privacy: options.dp ? { budget: options.dp.epsilonBudget, delta: options.dp.delta, unit: options.dp.unit ?? 'client' } : null,
    roster: { active: roster.filter((r) => !r?.revoked).length, size: roster.length },
  });
  const userLogger = options.logger;
  const userProgress = options.onProgress;
  let console: OperatorConsole | null = null;
  const logger = (e: ServerEvent): void => {
    try {
      monitor.event(e);
      if (e.event === 'checkpoint.resumed' && typeof e['dir'] === 'string') {
        const ck = loadCheckpoint(e['dir']);
        monitor.restoreRounds(((ck?.meta['rounds'] as RoundSummary[] | undefined) ?? []));
      }
      // Final state to open pages before the listener closes their connections.
      if (e.event === 'server.done' || e.event === 'server.failed') console?.close();
    } catch {
      // The dashboard never takes the federation down.
    }
    userLogger?.(e);
  };
  console = new OperatorConsole(monitor, dashboard, options.tls !== undefined, (level, event, fields) => logger({ time: new Date().toISOString(), level, event, ...fields }));
  const wrapped = {
    ...options,
    logger,
    onProgress: (p: Parameters<NonNullable<ServerOptions['onProgress']>>[0]) => {
      monitor.progress(p);
      userProgress?.(p);
    },
    [HTTP_ROUTES]: console.handle,
  };
  return {
    options: wrapped,
    monitor,
    attach: (handle) => monitor.attachStatus(() => handle.status()),
    close: () => console?.close(),
  };
}
