// @fedmeta/transport: the runtime envelope around secagg messages over WebSockets.
// Framing (versioned binary frames, sequence numbers, chunking with bounded reassembly),
// the auth transcript, limits and typed errors. See protocol-spec/09-transport.md.
export * from './errors.js';
export * from './limits.js';
export * from './frames.js';
export * from './chunking.js';
export * from './handshake.js';
export * from './connection.js';
export * from './hex.js';
export * from './round-config.js';
