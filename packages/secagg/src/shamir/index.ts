// Shamir secret sharing of 32-byte secrets over GF(2^256 + 297) (protocol-spec/02-shamir.md).
export { SHAMIR_PRIME, SHAMIR_SECRET_BYTES, SHAMIR_SHARE_BYTES, SHAMIR_MAX_X, bytesToBigint, bigintToBytes } from './field.js';
export { shamirSplit, shamirPolynomial, evaluatePolynomial, type ShamirShare } from './split.js';
export { shamirCombine, validateShare, lagrangeAtZero, lagrangeEvaluator } from './combine.js';
export { shamirDecode, correctableErrors, type ShamirDecodeOptions, type ShamirDecoded } from './decode.js';
