// The SecAgg / SecAgg+ protocol layer: messages, wire codec, sans-IO client and server
// state machines, SecAgg+ graph and parameter finder, abort reasons.
export * from './config.js';
export * from './messages.js';
export * from './reasons.js';
export * from './codec/index.js';
export * from './session.js';
export * from './graph.js';
export { SecAggClient, type SecAggClientOptions, type ClientStateName, type ClientIdentity } from './client/client.js';
export {
  SecAggServer, type SecAggServerOptions, type ServerOutputs, type ServerSend, type ServerStateName, type AggregationResult, type ServerFault,
} from './server/server.js';
export { settleReports } from './server/r2-masked-input.js';
export { clipDetail } from './server/server.js';
export * from './simulate.js';
export * from './params.js';
