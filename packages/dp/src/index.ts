export * from './errors.js';
export { DEFAULT_RDP_ORDERS } from './accountant/orders.js';
export { rdpToEpsilon, type EpsilonResult } from './accountant/convert.js';
export { computeRdp, rdpEpsilon, rdpSubsampledGaussian, logAByIntegration } from './accountant/rdp.js';
export { pldEpsilon, gaussianPld, selfComposePld, composePld, pldEpsilonForDelta, pldDeltaForEpsilon, gaussianHockeyStick, type DiscretePld, type PldEpsilonResult } from './accountant/pld.js';
export { analyticGaussianEpsilon, analyticGaussianDelta } from './accountant/analytic-gaussian.js';
export { planNoiseMultiplier, epsilonFor, MAX_NOISE_MULTIPLIER, type AccountantName, type Plan, type PlanQuery, type EpsilonQuery } from './planner.js';
export { ddgEpsilon, ddgRdp, ddgTau, computeDdgRdp, ddgRdpUnsampled, type DdgMechanismParams } from './accountant/ddg.js';
export { openLedger, Ledger, epsilonOfEvents, type PrivacyEvent, type GaussianEvent, type DdgEvent, type LedgerRecord, type LedgerOptions, type LedgerSummary } from './ledger.js';
