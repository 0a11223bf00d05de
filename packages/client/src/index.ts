// @fedmeta/client: one institution's federation client. Masking is @fedmeta/secagg's
// client machine, DP noise @fedmeta/dp's encoder, training @fedmeta/meta's algorithms.
export { runClient, reportRefusal } from './client.js';
export { exactAuc, scoreBin, type LocalEvaluation } from './evaluation.js';
export type * from './options.js';
export { backoffDelay, resolveBackoff, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
export { FATAL_CODES, ClientError } from './errors.js';
export { describeSettings, policyProblem, roundViolations, settingsNotes, settingsViolations, type SitePolicy } from './policy.js';
export { recordDpSources } from './record-dp.js';
