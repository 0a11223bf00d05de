// The FEDMETA-SECAGG-V1 crypto suite: one primitive per module (protocol-spec/01-crypto.md).
export * from './bytes.js';
export * from './codes.js';
export * from './x25519.js';
export * from './hkdf.js';
export * from './aead.js';
export * from './ed25519.js';
export * from './sha256.js';
export * from './prg.js';

