// @fedmeta/server: the federation coordinator over WebSockets. It drives the secagg
// server state machine; protocol logic lives in @fedmeta/secagg, DP in @fedmeta/dp,
// training and the meta-optimiser in @fedmeta/meta.
export { startServer } from './server.js';
export type * from './options.js';
export { ServerError, SERVER_ERROR_CODES, type ServerErrorCode } from './errors.js';
export { loadCheckpoint, saveCheckpoint, CHECKPOINT_FILE, CheckpointMismatchError, type CheckpointState, type CheckpointFieldChange } from './checkpoint.js';
export { dpNumClients, plannedDpNumClients, recordDpThreshold, recordLevelQuery, readRecordReleases, recordReleasesPath, type RecordRelease } from './privacy.js';
export type { PublicStatus } from './listener.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
export { FederationMonitor, auditText, type DashboardSnapshot, type MonitorRound, type AuditEntry, type MonitorInit } from './dashboard/monitor.js';
export { reportHtml } from './dashboard/page.js';
export type { DashboardOptions } from './dashboard/console.js';
export { renderMetrics, METRICS_CONTENT_TYPE } from './metrics.js';
export { heldOutLoss, histogramAuc, histogramAucBound, combineEvaluation, BEST_METRIC } from './evaluation.js';
