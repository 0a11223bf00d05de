/**
 * Rules that tie several fields together, checked per command: a real server needs a
 * roster and either TLS or an explicit `insecure: true`; a client needs an identity and
 * a server URL; and so on. Each problem names the field to change and how.
 */
import { ConfigError, type ConfigIssue } from './schema.js';
import type { FedmetaConfig } from './fedmeta-schema.js';

function common(c: FedmetaConfig, issues: ConfigIssue[]): void {
  const s = c.server;
  if (s.clientsPerRound > 0 && s.clientsPerRound < s.minClients) {
    issues.push({ path: 'server.clientsPerRound', message: `must be 0 (all) or >= server.minClients (${s.minClients}) (got ${s.clientsPerRound})` });
  } else if (s.clientsPerRound > 0 && s.clientsPerRound < minAggregateOf(c)) {
    issues.push({ path: 'server.clientsPerRound', message: `must be 0 (all) or >= the floor on a released sum (${minAggregateOf(c)}, server.minAggregate) (got ${s.clientsPerRound})` });
  }
  const t = c.secagg.threshold;
  if (t !== undefined && s.clientsPerRound > 0 && t > s.clientsPerRound) {
    issues.push({ path: 'secagg.threshold', message: `must be <= server.clientsPerRound (${s.clientsPerRound}) (got ${t})` });
  }
  const r = c.client.reconnect;
  if (r.baseDelayMs > r.maxDelayMs) {
    issues.push({ path: 'client.reconnect.baseDelayMs', message: `must be <= client.reconnect.maxDelayMs (${r.maxDelayMs}) (got ${r.baseDelayMs})` });
  }
  if (c.server.heartbeat.intervalMs >= c.server.heartbeat.timeoutMs) {
    issues.push({ path: 'server.heartbeat.timeoutMs', message: `must be longer than server.heartbeat.intervalMs (${c.server.heartbeat.intervalMs}) (got ${c.server.heartbeat.timeoutMs})` });
  }

  if (['idx', 'csv', 'json'].includes(c.data.source) && c.data.path === undefined) {
    issues.push({ path: 'data.path', message: `is required when data.source is '${c.data.source}' (the file holding the data)` });
  }
  if (c.data.source === 'idx' && c.data.labels === undefined) {
    issues.push({ path: 'data.labels', message: "is required when data.source is 'idx' (the labels IDX file)" });
  }
  if (c.data.clientIndex !== undefined && c.data.clientIndex >= c.data.shards) {
    issues.push({ path: 'data.clientIndex', message: `must be < data.shards (${c.data.shards}) (got ${c.data.clientIndex})` });
  }
}

/** The server's floor on a released sum, as the server resolves it. */
export function minAggregateOf(c: FedmetaConfig): number {
  return c.server.minAggregate ?? (c.secagg.mode === 'plaintext' ? c.server.minClients : Math.max(3, c.server.minClients));
}

function finish(issues: ConfigIssue[], file?: string): void {
  if (issues.length > 0) throw new ConfigError(issues, file);
}

/** Checks what `fedmeta server` needs. @throws ConfigError */
export function checkServerConfig(c: FedmetaConfig, file?: string): void {
  const issues: ConfigIssue[] = [];
  common(c, issues);
  const { tls, insecure, roster } = c.server;
  const hasTls = tls.cert !== undefined || tls.key !== undefined;
  if (roster === undefined) {
    issues.push({ path: 'server.roster', message: 'is required: the roster of allowed client keys (build it with `fedmeta keygen --roster roster.json --add NAME.pub.json`)' });
  }
  if (c.server.dashboard.token !== undefined && c.server.dashboard.tokenFile !== undefined) {
    issues.push({ path: 'server.dashboard.tokenFile', message: 'cannot be set together with server.dashboard.token: keep one of them' });
  }
  if (hasTls && insecure) {
    issues.push({ path: 'server.insecure', message: 'cannot be true when server.tls is set: remove one of them' });
  } else if (!hasTls && !insecure) {
    issues.push({ path: 'server.tls', message: 'is required: set server.tls.cert and server.tls.key (PEM files), or `insecure: true` for plain ws:// on a trusted network' });
  } else if (hasTls && (tls.cert === undefined || tls.key === undefined)) {
    issues.push({ path: tls.cert === undefined ? 'server.tls.cert' : 'server.tls.key', message: 'is required: TLS needs both the certificate and its private key' });
  }
  finish(issues, file);
}

/** Checks what `fedmeta client` needs. @throws ConfigError */
export function checkClientConfig(c: FedmetaConfig, file?: string): void {
  const issues: ConfigIssue[] = [];
  common(c, issues);
  if (c.client.identity === undefined) {
    issues.push({ path: 'client.identity', message: 'is required: the identity file from `fedmeta keygen --name NAME`' });
  }
  if (c.client.server === undefined) {
    issues.push({ path: 'client.server', message: 'is required: the coordinator URL, e.g. wss://coordinator.example.org:8443' });
  }
  if (c.client.ca !== undefined && c.client.server?.startsWith('ws://')) {
    issues.push({ path: 'client.ca', message: 'only applies to wss:// URLs: use wss:// in client.server or remove client.ca' });
  }
  if ((c.data.source === 'mnist' || c.data.source === 'fashion-mnist') && c.data.clientIndex === undefined) {
    issues.push({ path: 'data.clientIndex', message: `is required with the demo source '${c.data.source}': which shard of the split this client trains on (0, 1, ...)` });
  }
  finish(issues, file);
}

/** Checks what `fedmeta simulate` needs. @throws ConfigError */
export function checkSimulateConfig(c: FedmetaConfig, file?: string): void {
  const issues: ConfigIssue[] = [];
  common(c, issues);
  if (c.data.source !== 'mnist' && c.data.source !== 'fashion-mnist') {
    issues.push({ path: 'data.source', message: `simulate splits a demo dataset into clients: use 'mnist' or 'fashion-mnist' (got '${c.data.source}')` });
  }
  if (c.simulate.clients < c.server.minClients) {
    issues.push({ path: 'simulate.clients', message: `must be >= server.minClients (${c.server.minClients}) (got ${c.simulate.clients})` });
  } else if (c.simulate.clients < minAggregateOf(c)) {
    issues.push({ path: 'simulate.clients', message: `must be >= the floor on a released sum (${minAggregateOf(c)}: server.minAggregate, default minClients and at least 3 with secure aggregation) (got ${c.simulate.clients})` });
  }
  finish(issues, file);
}
