/**
 * The operator dashboard in a real browser: a TLS coordinator (openssl certificate) with
 * an operator token and three real clients training for about 1.5 s a round (measured on
 * this machine: the page has time to show every step), a fourth roster member that never
 * comes, Debian's headless chromium through playwright-core. Nothing is mocked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '@fedmeta/server';
import { runClient } from '@fedmeta/client';
import { baseServerOptions, EventLog, institutions, mnistFederation, rosterOf, stepsLasting } from '../src/harness.js';
import { artifactDir, launchChromium, selfSignedCert, skipWithout } from '../src/tools.js';

// Functions given to page.evaluate / waitForFunction run in the page; this Node project has no DOM types.
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const window: any; // eslint-disable-line @typescript-eslint/no-explicit-any

const TOKEN = 'operator-token-6f1d2c9a8b7e';
const FEDERATION = 'dashboard-e2e-federation';

test(
  'the dashboard over TLS: anonymous visitors get a login form and 401s only; logged in, the round counter, the epsilon burn-down and the accuracy chart follow the rounds without a reload; a screenshot is saved',
  { timeout: 120_000, skip: skipWithout('chromium', 'openssl') },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmeta-dashboard-e2e-'));
    const { cert: certFile, key: keyFile } = selfSignedCert(dir);
    const cert = readFileSync(certFile);
    const insts = institutions(4, 'site');
    const fed = mnistFederation(4, 11, 150);
    const log = new EventLog();
    const budget = 30;
    const { insecure: _plain, ...opts } = baseServerOptions(insts, {
      federationId: FEDERATION,
      rounds: 3,
      algorithm: { name: 'fedavg', hyper: { localSteps: await stepsLasting(1_500), batchSize: 32, lr: 0.1 } },
      aggregation: { mode: 'secagg' },
      cohort: { minClients: 3 },
      dp: { l2Clip: 1, noiseMultiplier: 1, delta: 1e-5, epsilonBudget: budget },
      evaluate: { data: fed.test },
      deadlines: { waitForClientsMs: 1500, trainingMs: 30_000, shareKeysMs: 10_000, maskedInputMs: 10_000, unmaskingMs: 10_000 },
      checkpointDir: join(dir, 'ck'),
      logger: log.logger,
    });
    const server = await startServer({ ...opts, tls: { cert, key: readFileSync(keyFile) }, dashboard: { token: TOKEN } });
    const base = server.url.replace(/^wss/, 'https');
    const browser = await launchChromium();
    try {
      // Anonymous: a login form that says nothing about the federation, and 401 elsewhere.
      const anon = await browser.newContext({ ignoreHTTPSErrors: true });
      const anonPage = await anon.newPage();
      const login = await anonPage.goto(`${base}/dashboard`);
      assert.equal(login!.status(), 401);
      const loginHtml = await anonPage.content();
      assert.match(loginHtml, /<input id="token"/);
      for (const secret of [FEDERATION, 'site-0', 'epsilon', '127.0.0.1']) assert.ok(!loginHtml.includes(secret), `the login page does not mention ${secret}`);
      for (const path of ['/dashboard/api/state', '/dashboard/api/events', '/metrics', '/dashboard/assets/dashboard.js']) {
        const r = await anon.request.get(`${base}${path}`);
        assert.equal(r.status(), 401, path);
        const body = await r.text();
        assert.equal(body, 'fedmeta: operator credential required\n', path);
      }
      const wrong = await anon.request.get(`${base}/metrics`, { headers: { authorization: 'Bearer not-the-operator-token' } });
      assert.equal(wrong.status(), 401);
      await anon.close();
      assert.equal(log.named('operator.refused').length, 1, 'the wrong bearer token is in the log');

      // The operator logs in with the token (a wrong one first).
      const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 1900 } });
      const page = await ctx.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${base}/dashboard`);
      await page.fill('#token', 'a-wrong-token-of-some-length');
      await page.click('button[type=submit]');
      await page.waitForSelector('#login-error');
      await page.fill('#token', TOKEN);
      await Promise.all([page.waitForURL(`${base}/dashboard`), page.click('button[type=submit]')]);
      await page.waitForFunction(() => document.getElementById('live-state')?.textContent === 'live');
      const read = () =>
        page.evaluate(() => {
          const chart = (id: string) => {
            const el = document.getElementById(id)!;
            return { points: Number(el.dataset['points']), last: el.dataset['last'] ?? '', pixels: el.querySelector('canvas')?.toDataURL() ?? '' };
          };
          return {
            counter: document.getElementById('round-counter')!.textContent,
            completed: document.getElementById('round-counter')!.dataset['completed'],
            sites: document.getElementById('sites-connected')!.textContent,
            revoked: document.getElementById('sites-benched')!.textContent,
            audit: document.getElementById('audit-table')!.textContent ?? '',
            epsilon: chart('chart-epsilon'),
            accuracy: chart('chart-accuracy'),
            marker: window.noReload === true,
          };
        });
      const before = await read();
      assert.equal(before.counter, '1 / 3');
      assert.equal(before.sites, '0 of 4');
      assert.equal(before.epsilon.points, 0, 'no round on the burn-down yet');
      assert.equal(before.epsilon.last, String(budget), 'the whole budget is left');
      assert.equal(before.accuracy.points, 0);
      await page.evaluate(() => (window.noReload = true));

      // Training in worker threads: the coordinator's event loop (and its live updates) stays free while the sites train.
      const clients = insts.slice(0, 3).map((inst, i) => runClient({ url: server.url, identity: inst.keys, data: fed.clients[i]!, backend: 'cpu', tls: { ca: cert }, trainInWorker: true }));
      const completed = async (n: number) => {
        await page.waitForFunction((k) => document.getElementById('round-counter')!.dataset['completed'] === String(k), n, { timeout: 60_000 });
        return read();
      };
      const one = await completed(1);
      assert.equal(one.counter, '2 / 3', 'the round counter moved on');
      assert.equal(one.sites, '3 of 4');
      assert.equal(one.epsilon.points, 1);
      assert.ok(Number(one.epsilon.last) < budget, `epsilon left after round 1: ${one.epsilon.last}`);
      assert.equal(one.accuracy.points, 1);
      assert.ok(one.accuracy.pixels.length > 0 && one.epsilon.pixels !== before.epsilon.pixels, 'the charts were drawn');
      const two = await completed(2);
      assert.equal(two.counter, '3 / 3');
      assert.equal(two.epsilon.points, 2);
      assert.ok(Number(two.epsilon.last) < Number(one.epsilon.last), 'the budget burns down');
      assert.equal(two.accuracy.points, 2);
      assert.notEqual(two.accuracy.pixels, one.accuracy.pixels, 'the accuracy chart was redrawn');
      assert.notEqual(two.epsilon.pixels, one.epsilon.pixels, 'the burn-down was redrawn');

      // A revocation reaches the overview and the audit trail.
      server.updateRoster([...rosterOf(insts.slice(0, 3)), { ...rosterOf(insts.slice(3))[0]!, revoked: true }]);
      await page.waitForFunction(() => document.getElementById('sites-benched')!.textContent === '0 / 1', null, { timeout: 10_000 });
      const summary = await server.done;
      await Promise.all(clients.map((c) => c.done));
      await page.waitForFunction(() => document.getElementById('round-counter')!.textContent!.startsWith('done'), null, { timeout: 10_000 });
      const end = await read();
      assert.equal(summary.roundsCompleted, 3);
      assert.equal(end.counter, 'done: 3 of 3');
      assert.match(end.audit, /roster updated: 3 active of 4; revoked site-3/);
      assert.match(end.audit, /site-0 joined from 127\.0\.0\.1/);
      assert.equal(end.epsilon.points, 3);
      assert.ok(Math.abs(Number(end.epsilon.last) - (budget - summary.epsilon!)) < 1e-9, `burn-down ends at ${end.epsilon.last}, the ledger says ${budget - summary.epsilon!} left`);
      assert.equal(end.accuracy.points, 3);
      assert.equal(Number(end.accuracy.last), summary.rounds[2]!.accuracy);
      assert.ok(end.marker, 'the page was never reloaded');
      assert.deepEqual(errors, [], 'no script errors');
      const shot = join(artifactDir(), 'dashboard-e2e.png');
      await page.screenshot({ path: shot, fullPage: true });
      t.diagnostic(`screenshot: ${shot}`);
      console.log(`dashboard screenshot: ${shot}`);
    } finally {
      await browser.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
