// The dashboard's live stream (real HTTP on loopback) when a round row changes after it was
// sent: the federated evaluation of a round arrives after the round's own row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OperatorConsole } from '../src/dashboard/console.js';
import { FederationMonitor, type DashboardSnapshot } from '../src/dashboard/monitor.js';
import type { ServerEvent } from '../src/options.js';

const TOKEN = 'stream-test-token-27182818';

test('a round evaluated after its row reached a live dashboard is sent again with its federated evaluation', async () => {
  const monitor = new FederationMonitor({ federationId: 'stream', rounds: 2, privacy: null, roster: { active: 2, size: 2 } });
  const operator = new OperatorConsole(monitor, { token: TOKEN }, false, () => undefined);
  const http = createServer((req, res) => {
    if (!operator.handle(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const ctrl = new AbortController();
  try {
    const res = await fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/dashboard/api/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ctrl.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let buffer = '';
    /** The next server-sent event's name and data. */
    const next = async (): Promise<{ event: string; data: DashboardSnapshot }> => {
      while (!buffer.includes('\n\n')) buffer += new TextDecoder().decode((await reader.read()).value);
      const end = buffer.indexOf('\n\n');
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? '';
      const data = /^data: (.*)$/m.exec(block)?.[1];
      return data === undefined ? next() : { event, data: JSON.parse(data) as DashboardSnapshot };
    };
    const first = await next();
    assert.equal(first.event, 'snapshot');
    assert.deepEqual(first.data.roundRows, []);
    const ev = (event: string, fields: Record<string, unknown>) => monitor.event({ time: new Date().toISOString(), level: 'info', event, ...fields } as ServerEvent);
    ev('round.finished', { round: 1, status: 'completed', mode: 'secagg', cohort: 2, survivors: 2, dropped: 0, degree: 0, threshold: 2, bytesIn: 10, bytesOut: 20, wallMs: 100 });
    // Each change is one update (the console sends what changed at most every 250 ms).
    let update = await next();
    assert.equal(update.event, 'update');
    assert.deepEqual([update.data.roundsFrom, update.data.roundRows.map((r) => r.round)], [0, [1]]);
    assert.equal(update.data.roundRows[0]!.federated, undefined, 'round 1 reached the page before its evaluation');
    assert.equal(update.data.best, null);

    const perSite = [
      { name: 'a', count: 30, correct: 27, accuracy: 0.9, loss: 0.3 },
      { name: 'b', count: 10, correct: 5, accuracy: 0.5, loss: 0.9 },
    ];
    ev('round.evaluated', { round: 1, report: 'per-site', sites: 2, count: 40, correct: 32, accuracy: 0.8, loss: 0.45, perSite, best: 1, reporters: ['a', 'b'] });
    update = await next();
    assert.equal(update.data.roundsFrom, 0, 'the changed row is sent again');
    assert.deepEqual(update.data.roundRows[0]!.federated, { report: 'per-site', sites: 2, count: 40, correct: 32, accuracy: 0.8, loss: 0.45, perSite });
    assert.deepEqual(update.data.best, { round: 1, accuracy: 0.8, loss: 0.45, report: 'per-site', metric: "federated accuracy on the sites' held-out rows (loss breaks ties)" });
    assert.ok(update.data.audit.some((a) => a.event === 'round.evaluated' && a.text === "round 1 evaluated (per-site, 2 sites, 40 held-out rows): federated accuracy 80.0%, loss 0.4500; best round 1"), 'the audit trail has the evaluation');
  } finally {
    ctrl.abort();
    operator.close();
    await new Promise((r) => http.close(r));
  }
});
