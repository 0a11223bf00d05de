// @fedmeta/server: the federation coordinator over WebSockets. It drives the secagg
// server state machine; protocol logic lives in @fedmeta/secagg, DP in @fedmeta/dp,
// training and the meta-optimiser in @fedmeta/meta.
export { startServer } from './server.js';
export type * from './options.js';
export { ServerError, SERVER_ERROR_CODES, type ServerErrorCode } from './errors.js';
export { loadCheckpoint, CHECKPOINT_FILE, type CheckpointState } from './checkpoint.js';
export { dpNumClients, plannedDpNumClients } from './privacy.js';
export type { PublicStatus } from './listener.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
