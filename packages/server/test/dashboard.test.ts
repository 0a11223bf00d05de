// The operator console on the coordinator's port (real listener on loopback, no clients):
// the credential, the login cookie, throttling, and what an anonymous visitor gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519Keypair, systemRng } from '@fedmeta/secagg';
import { startServer } from '../src/server.js';
import { ServerError } from '../src/errors.js';
import { FederationMonitor } from '../src/dashboard/monitor.js';
import { renderMetrics } from '../src/metrics.js';
import type { ServerEvent, ServerOptions } from '../src/options.js';

const TOKEN = 'dashboard-test-token-31415';

function options(extra: Partial<ServerOptions> = {}): ServerOptions {
  return {
    port: 0,
    insecure: true,
    federationId: 'console-test-federation',
    roster: [ed25519Keypair(systemRng), ed25519Keypair(systemRng), ed25519Keypair(systemRng)].map((k, i) => ({ name: `member-name-${i}`, publicKey: k.publicKey, ...(i === 2 ? { revoked: true } : {}) })),
    rounds: 4,
    model: { config: { kind: 'mlp', inputShape: [4], hidden: [3], numClasses: 2 } },
    algorithm: { name: 'fedavg', hyper: { localSteps: 1, batchSize: 1, lr: 0.1 } },
    cohort: { minClients: 2, minAggregate: 2 },
    backend: 'cpu',
    ...extra,
  };
}

async function withServer(extra: Partial<ServerOptions>, body: (http: string, events: ServerEvent[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-console-'));
  const events: ServerEvent[] = [];
  const server = await startServer(options({ checkpointDir: dir, dp: { l2Clip: 1, noiseMultiplier: 1, delta: 1e-5, epsilonBudget: 7 }, logger: (e) => events.push(e), ...extra }));
  try {
    await body(server.url.replace(/^ws/, 'http'), events);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('without the operator credential the dashboard, its API, its assets and /metrics answer 401 and nothing about the federation; /status stays public', async () => {
  await withServer({ dashboard: { token: TOKEN } }, async (http) => {
    const page = await fetch(`${http}/dashboard`);
    assert.equal(page.status, 401);
    const html = await page.text();
    assert.match(html, /operator token/);
    for (const path of ['/dashboard/api/state', '/dashboard/api/events', '/dashboard/assets/dashboard.js', '/dashboard/assets/uPlot.iife.min.js', '/metrics', '/dashboard/anything']) {
      const r = await fetch(`${http}${path}`);
      assert.equal(r.status, 401, path);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="fedmeta"', path);
      assert.equal(await r.text(), 'fedmeta: operator credential required\n', path);
    }
    for (const secret of ['console-test-federation', 'member-name', 'epsilon']) assert.ok(!html.includes(secret), `login page leaks ${secret}`);
    // A session cookie nobody issued is no credential either.
    const forged = await fetch(`${http}/dashboard/api/state`, { headers: { cookie: 'fedmeta_operator=00112233445566778899aabbccddeeff0011223344556677' } });
    assert.equal(forged.status, 401);
    const status = await fetch(`${http}/status`);
    assert.equal(status.status, 200);
    assert.equal(((await status.json()) as { connected: number }).connected, 0);
  });
});

test('the bearer token opens the state, the metrics and the assets; a wrong one is refused and logged as operator.refused', async () => {
  await withServer({ dashboard: { token: TOKEN } }, async (http, events) => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const state = await fetch(`${http}/dashboard/api/state`, { headers: auth });
    assert.equal(state.status, 200);
    assert.equal(state.headers.get('cache-control'), 'no-store');
    const s = (await state.json()) as { federationId: string; round: number; rounds: number; privacy: { budget: number; spent: number }; sites: { rosterActive: number; rosterRevoked: number } };
    assert.equal(s.federationId, 'console-test-federation');
    assert.deepEqual([s.round, s.rounds], [1, 4]);
    assert.deepEqual(s.privacy, { budget: 7, delta: 1e-5, spent: 0, unit: 'client' });
    assert.deepEqual([s.sites.rosterActive, s.sites.rosterRevoked], [2, 1]);
    const metrics = await fetch(`${http}/metrics`, { headers: auth });
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^fedmeta_roster_members\{state="revoked"\} 1$/m);
    const js = await fetch(`${http}/dashboard/assets/uPlot.iife.min.js`, { headers: auth });
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type')!, /^text\/javascript/);
    assert.match(await js.text(), /uPlot/);
    const wrong = await fetch(`${http}/metrics`, { headers: { authorization: 'Bearer dashboard-test-token-27182' } });
    assert.equal(wrong.status, 401);
    const refused = events.filter((e) => e.event === 'operator.refused');
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!['path'], '/metrics');
    assert.equal(refused[0]!['remote'], '127.0.0.1');
  });
});

test('logging in with the token sets an HttpOnly SameSite=Strict session cookie that opens the dashboard until logout', async () => {
  await withServer({ dashboard: { token: TOKEN } }, async (http) => {
    const bad = await fetch(`${http}/dashboard/login`, { method: 'POST', body: new URLSearchParams({ token: 'not-it-not-it-not-it' }), redirect: 'manual' });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers.get('set-cookie'), null);
    assert.match(await bad.text(), /That token is not right/);
    const ok = await fetch(`${http}/dashboard/login`, { method: 'POST', body: new URLSearchParams({ token: TOKEN }), redirect: 'manual' });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/dashboard');
    const cookie = ok.headers.get('set-cookie')!;
    assert.match(cookie, /^fedmeta_operator=[0-9a-f]{48}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/, 'no Secure flag on plain http');
    const session = cookie.split(';')[0]!;
    const page = await fetch(`${http}/dashboard`, { headers: { cookie: session } });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<script src="\/dashboard\/assets\/uPlot\.iife\.min\.js">/, 'the charting library comes from the coordinator, not a CDN');
    assert.doesNotMatch(html, /https?:\/\//, 'no external URL in the page');
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self'/);
    assert.equal((await fetch(`${http}/dashboard/api/state`, { headers: { cookie: session } })).status, 200);
    const out = await fetch(`${http}/dashboard/logout`, { method: 'POST', headers: { cookie: session }, redirect: 'manual' });
    assert.equal(out.status, 303);
    assert.equal((await fetch(`${http}/dashboard/api/state`, { headers: { cookie: session } })).status, 401, 'the session ended');
  });
});

test('after 10 wrong credentials in a minute an address gets 429, even with the right token', async () => {
  await withServer({ dashboard: { token: TOKEN } }, async (http) => {
    for (let i = 0; i < 10; i++) assert.equal((await fetch(`${http}/metrics`, { headers: { authorization: `Bearer guess-number-${i}-of-ten` } })).status, 401);
    const throttled = await fetch(`${http}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(throttled.status, 429);
    assert.equal(throttled.headers.get('retry-after'), '60');
  });
});

test('the live stream starts with the full snapshot as a server-sent event', async () => {
  await withServer({ dashboard: { token: TOKEN } }, async (http) => {
    const ctrl = new AbortController();
    const res = await fetch(`${http}/dashboard/api/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ctrl.signal });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    assert.match(text, /^retry: 2000\nevent: snapshot\ndata: \{"version":1,"source":"live"/);
    ctrl.abort();
  });
});

test('without dashboard options there is no dashboard and no /metrics; a short token is refused naming dashboard.token', async () => {
  await withServer({}, async (http) => {
    for (const path of ['/dashboard', '/metrics']) {
      const r = await fetch(`${http}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(r.status, 426, path);
      assert.match(await r.text(), /WebSocket only/);
    }
  });
  await assert.rejects(startServer(options({ dashboard: { token: 'short' } })), (e: unknown) => e instanceof ServerError && e.code === 'ERR_SERVER_CONFIG' && /dashboard\.token/.test(e.message));
});

test('the monitor charges each phase to the round it ends in, counts dropouts and refusals, and its metrics carry them', () => {
  const m = new FederationMonitor({ federationId: 'fed "quoted"', rounds: 3, privacy: { budget: 8, delta: 1e-5 }, roster: { active: 3, size: 3 } });
  const t0 = Date.parse('2030-01-01T00:00:00.000Z');
  const at = (ms: number) => new Date(t0 + ms).toISOString();
  const ev = (ms: number, event: string, fields: Record<string, unknown> = {}, level: ServerEvent['level'] = 'info') => m.event({ time: at(ms), level, event, ...fields });
  ev(0, 'server.listening', { url: 'ws://x', nextRound: 1, rounds: 3 });
  ev(50, 'peer.closed', { peer: '10.0.0.9:1234', error: 'ERR_AUTH_UNKNOWN_KEY' }, 'warn');
  ev(1000, 'round.started', { round: 1, cohort: ['a', 'b', 'c'], mode: 'secagg', threshold: 2 });
  ev(1000, 'phase', { round: 1, phase: 'training' }, 'debug');
  ev(3000, 'phase', { round: 1, phase: 'share-keys' }, 'debug');
  ev(3500, 'round.dropped', { round: 1, peer: 'c', phase: 'share-keys' });
  ev(3600, 'phase', { round: 1, phase: 'unmasking' }, 'debug');
  ev(3700, 'phase', { round: 2, phase: 'checkpointing' }, 'debug');
  ev(3800, 'round.finished', { round: 1, status: 'completed', mode: 'secagg', cohort: 3, survivors: 2, dropped: 1, degree: 0, threshold: 2, epsilon: 2.5, accuracy: 0.5, loss: 1.2, bytesIn: 10, bytesOut: 20, wallMs: 2800 });
  ev(3800, 'phase', { round: 2, phase: 'waiting' }, 'debug');
  const s = m.snapshot();
  assert.equal(s.roundRows.length, 1);
  assert.deepEqual(s.roundRows[0]!.phases, { waiting: 1000, training: 2000, 'share-keys': 600, unmasking: 100, checkpointing: 100 });
  assert.equal(s.round, 2);
  assert.equal(s.privacy!.spent, 2.5);
  assert.deepEqual(s.refusals, { ERR_AUTH_UNKNOWN_KEY: 1 });
  assert.deepEqual(s.audit.map((a) => a.event), ['server.listening', 'peer.closed', 'round.started', 'round.dropped', 'round.finished']);
  assert.match(s.audit[4]!.text, /round 1 completed: 2 of 3 inputs, accuracy 50\.0%, epsilon 2\.500/);
  const later = m.snapshot('live', { roundsFrom: 1, auditAfter: s.audit.at(-1)!.seq });
  assert.deepEqual([later.roundRows.length, later.audit.length], [0, 0], 'a client holding everything gets nothing twice');
  const text = renderMetrics(m);
  assert.match(text, /^fedmeta_info\{federation_id="fed \\"quoted\\""\} 1$/m, 'label values are escaped');
  assert.match(text, /^fedmeta_dropouts_total 1$/m);
  assert.match(text, /^fedmeta_phase_duration_seconds_sum\{phase="training"\} 2$/m);
  assert.match(text, /^fedmeta_phase_duration_seconds_bucket\{phase="training",le="2\.5"\} 1$/m);
  assert.match(text, /^fedmeta_phase_duration_seconds_bucket\{phase="training",le="1"\} 0$/m);
  assert.match(text, /^fedmeta_phase\{phase="waiting"\} 1$/m);
  assert.match(text, /^fedmeta_model_loss 1\.2$/m);
});
