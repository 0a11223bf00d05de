// @fedmeta/secagg: the SecAgg / SecAgg+ protocol core. Sans-IO: no sockets, timers or files.
export * from './errors.js';
export * from './rng.js';
export * from './crypto/index.js';
export * from './shamir/index.js';
export * from './quantize/index.js';
export * from './protocol/index.js';
export * from './vectors/index.js';
