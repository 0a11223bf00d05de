// Quantisation into Z_{2^b} with a weight coordinate and headroom (protocol-spec/03-quantisation.md).
export * from './params.js';
export { clipVector } from './clip.js';
export { StochasticRounder } from './rounding.js';
export * from './encode.js';
export * from './fixed-point.js';
