/**
 * The federated evaluation on the operator dashboard, in a real browser: a coordinator with
 * per-site evaluation after every round and three real clients training for about a second
 * a round (in worker threads, so the coordinator's live updates keep flowing), Debian's
 * headless chromium through playwright-core, and Prometheus' `promtool` on /metrics.
 * Nothing is mocked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startServer, type ServerEvent } from '@fedmeta/server';
import { runClient } from '@fedmeta/client';
import { baseServerOptions, EventLog, institutions, mnistFederation, stepsLasting } from '../src/harness.js';
import { artifactDir, launchChromium, skipWithout } from '../src/tools.js';

// Functions given to page.evaluate / waitForFunction run in the page; this Node project has no DOM types.
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const window: any; // eslint-disable-line @typescript-eslint/no-explicit-any

const TOKEN = 'operator-token-evaluation-41c9e7';
const ROUNDS = 3;

interface Evaluated {
  round: number;
  accuracy: number;
  loss?: number;
  count: number;
  best: number;
  personalised: { accuracy: number; loss?: number };
  perSite: { name: string; count: number; accuracy: number; loss?: number; personalised: { accuracy: number; loss?: number } }[];
}

const pct2 = (x: number) => `${(100 * x).toFixed(2)}%`;

/** The value of one sample line of the metrics text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test(
  'the dashboard draws the per-site federated evaluation live: one federated and one personalised point per evaluated round, a legend naming every site, a table equal to round.evaluated, the best round; /metrics exports it (personalised too) per site and passes promtool',
  { timeout: 120_000, skip: skipWithout('chromium', 'promtool') },
  async (t) => {
    const insts = institutions(3, 'clinic');
    const fed = mnistFederation(3, 17, 150);
    const log = new EventLog();
    let scraped: Promise<string> | null = null;
    let base = '';
    const server = await startServer(
      baseServerOptions(insts, {
        federationId: 'dashboard-evaluation',
        rounds: ROUNDS,
        algorithm: { name: 'fedavg', hyper: { localSteps: await stepsLasting(1_000), batchSize: 32, lr: 0.1 } },
        cohort: { minClients: 3 },
        evaluation: { report: 'per-site', everyRounds: 1 },
        dashboard: { token: TOKEN },
        logger: (e: ServerEvent) => {
          log.logger(e);
          // Round 3 trains for a second after this: the scrape sees round 2's evaluation.
          if (e.event === 'round.evaluated' && e['round'] === 2) scraped = fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.text());
        },
      }),
    );
    base = server.url.replace(/^ws/, 'http');
    const browser = await launchChromium();
    let clients: ReturnType<typeof runClient>[] = [];
    try {
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 2000 }, extraHTTPHeaders: { authorization: `Bearer ${TOKEN}` } });
      const page = await ctx.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${base}/dashboard`);
      await page.waitForFunction(() => document.getElementById('live-state')?.textContent === 'live');
      const read = () =>
        page.evaluate(() => {
          const chart = document.getElementById('chart-accuracy')!;
          const table = document.getElementById('federated-table')!;
          const best = document.getElementById('best-round')!;
          return {
            federatedPoints: Number(chart.dataset['federatedPoints']),
            federatedLast: chart.dataset['federatedLast'] ?? '',
            personalisedPoints: Number(chart.dataset['personalisedPoints']),
            personalisedLast: chart.dataset['personalisedLast'] ?? '',
            legend: [...chart.querySelectorAll('.u-legend .u-series .u-label')].map((l: { textContent: string }) => l.textContent),
            pixels: chart.querySelector('canvas')?.toDataURL() ?? '',
            sectionHidden: document.getElementById('federated-section')!.hidden as boolean,
            tableRound: Number(table.dataset['round']),
            rows: [...table.querySelectorAll('tbody tr')].map((tr: { dataset: Record<string, string>; children: { textContent: string }[] }) => ({
              site: tr.dataset['site'],
              count: Number(tr.dataset['count']),
              accuracy: Number(tr.dataset['accuracy']),
              loss: Number(tr.dataset['loss']),
              personalised: Number(tr.dataset['personalised']),
              cells: [...tr.children].map((c) => c.textContent),
            })),
            note: document.getElementById('federated-note')!.textContent,
            best: { round: best.dataset['round'], text: best.textContent, sub: document.getElementById('best-sub')!.textContent },
            marker: window.noReload === true,
          };
        });
      const before = await read();
      assert.equal(before.federatedPoints, 0, 'no federated point before any evaluation');
      assert.equal(before.sectionHidden, true, 'no federated table before any evaluation');
      assert.equal(before.best.text, '-');
      await page.evaluate(() => (window.noReload = true));

      clients = insts.map((inst, i) => runClient({ url: server.url, identity: inst.keys, data: fed.clients[i]!, backend: 'cpu', trainInWorker: true }));
      const evaluated = () => log.named('round.evaluated') as unknown as Evaluated[];
      const shown: Awaited<ReturnType<typeof read>>[] = [];
      for (let k = 1; k <= ROUNDS; k++) {
        await page.waitForFunction((n) => Number(document.getElementById('chart-accuracy')!.dataset['federatedPoints']) >= n, k, { timeout: 60_000 });
        const now = await read();
        shown.push(now);
        // Whatever round the page shows, it shows exactly what the coordinator said of it.
        const ev = evaluated().find((e) => e.round === now.tableRound)!;
        assert.ok(ev, `round ${now.tableRound} was evaluated`);
        assert.equal(now.federatedPoints, evaluated().filter((e) => e.round <= now.tableRound).length, 'one federated point per evaluated round');
        assert.equal(Number(now.federatedLast), ev.accuracy, 'the federated series ends at the weighted mean');
        assert.equal(now.personalisedPoints, now.federatedPoints, 'one personalised point per evaluated round');
        assert.equal(Number(now.personalisedLast), ev.personalised.accuracy, 'the personalised series ends at the personalised weighted mean');
        assert.deepEqual(now.rows.map((r) => r.site), [...ev.perSite.map((p) => p.name), 'weighted mean'], 'a row per site, then the weighted mean');
        for (const [i, p] of [...ev.perSite, ev].entries()) {
          const r = now.rows[i]!;
          assert.equal(r.count, p.count, `${r.site}: rows`);
          assert.equal(r.accuracy, p.accuracy, `${r.site}: accuracy`);
          assert.equal(r.loss, p.loss, `${r.site}: loss`);
          assert.deepEqual(r.cells.slice(1, 4), [String(p.count), pct2(p.accuracy), p.loss!.toFixed(4)], `${r.site}: shown`);
          assert.equal(r.personalised, p.personalised.accuracy, `${r.site}: personalised accuracy`);
          assert.deepEqual(r.cells.slice(5, 7), [pct2(p.personalised.accuracy), p.personalised.loss!.toFixed(4)], `${r.site}: personalised shown`);
        }
        const bestEv = evaluated().find((e) => e.round === ev.best)!;
        assert.equal(now.best.round, String(ev.best), 'the best round is the coordinator\'s');
        assert.equal(now.best.text, `round ${ev.best}`);
        assert.equal(now.best.sub, `federated accuracy ${pct2(bestEv.accuracy)}, loss ${bestEv.loss!.toFixed(4)}`);
        k = Math.max(k, now.federatedPoints);
      }
      const end = shown.at(-1)!;
      assert.equal(end.tableRound, ROUNDS);
      assert.equal(end.federatedPoints, ROUNDS);
      assert.equal(end.sectionHidden, false);
      for (const name of ['federated (weighted mean)', 'federated loss', 'personalised', 'personalised loss', ...insts.map((i) => i.name)]) assert.ok(end.legend.includes(name), `the legend names ${name}: ${end.legend.join(', ')}`);
      assert.match(end.note, /^per-site:/);
      if (shown.length > 1) assert.notEqual(end.pixels, shown[0]!.pixels, 'the chart was redrawn');
      assert.ok(end.marker, 'the page was never reloaded');

      const summary = await server.done;
      await Promise.all(clients.map((c) => c.done));
      assert.equal(summary.roundsCompleted, ROUNDS);
      assert.equal(summary.best?.round, end.best.round === undefined ? undefined : Number(end.best.round), 'the best round the page shows is the one exported');
      assert.deepEqual(errors, [], 'no script errors');
      const shot = join(artifactDir(), 'dashboard-evaluation.png');
      await page.screenshot({ path: shot, fullPage: true });
      t.diagnostic(`screenshot: ${shot}`);

      // /metrics: the latest evaluation, federation-wide and per site.
      assert.ok(scraped, 'metrics scraped after round 2 was evaluated');
      const text = await scraped!;
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(lint.status, 0, `promtool check metrics failed:\n${lint.stdout}${lint.stderr}\n--- metrics ---\n${text}`);
      assert.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'promtool has no lint complaints');
      const round = sample(text, 'fedmeta_federated_round')!;
      const ev = evaluated().find((e) => e.round === round)!;
      assert.ok(ev, `the scrape names an evaluated round (${round})`);
      assert.equal(sample(text, 'fedmeta_federated_accuracy'), ev.accuracy);
      assert.equal(sample(text, 'fedmeta_federated_loss'), ev.loss);
      for (const p of ev.perSite) assert.equal(sample(text, `fedmeta_federated_accuracy{site="${p.name}"}`), p.accuracy, p.name);
      assert.equal(sample(text, 'fedmeta_federated_personalised_accuracy'), ev.personalised.accuracy);
      assert.equal(sample(text, 'fedmeta_federated_personalised_loss'), ev.personalised.loss);
      for (const p of ev.perSite) assert.equal(sample(text, `fedmeta_federated_personalised_accuracy{site="${p.name}"}`), p.personalised.accuracy, p.name);
      assert.equal(sample(text, 'fedmeta_federated_best_round'), ev.best);
    } finally {
      // A failed assertion must not leave clients reconnecting forever (the process would never exit).
      await Promise.all(clients.map((c) => c.close()));
      await browser.close();
      await server.close();
    }
  },
);
