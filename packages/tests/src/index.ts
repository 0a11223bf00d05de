// Private helpers of the cross-package end-to-end tests and the runtime bench.
export * from './harness.js';
