/**
 * The reports a coordinator can send: `fedmeta simulate --report` and `fedmeta status
 * --report`, each one HTML file, rendered in headless chromium with the network cut off
 * (the browser context is offline and every request but the file itself is aborted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { runClient } from '@fedmeta/client';
import { startServer, type FederationSummary, type RoundEvaluation } from '@fedmeta/server';
import { fedmetaSync } from '../src/cli-process.js';
import { baseServerOptions, institutions, mnistFederation } from '../src/harness.js';
import { artifactDir, launchChromium, skipWithout } from '../src/tools.js';

declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Rendered {
  charts: Record<string, { points: number; canvases: number; inked: boolean }>;
  rounds: number;
  audit: number;
  title: string;
  requests: string[];
  errors: string[];
}

/**
 * Opens `file` offline (every non-file request aborted and recorded), waits until the page has
 * rendered, reads it with `read` (run in the page), saves a screenshot.
 */
async function readOffline<T>(browser: Browser, file: string, shot: string, height: number, read: () => T): Promise<T & { requests: string[]; errors: string[] }> {
  const ctx = await browser.newContext({ offline: true, viewport: { width: 1300, height } });
  const requests: string[] = [];
  await ctx.route('**/*', (route) => {
    const url = route.request().url();
    requests.push(url);
    return url.startsWith('file:') ? route.continue() : route.abort();
  });
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('body[data-rendered="true"]', { timeout: 10_000 });
  const out = await page.evaluate(read);
  await page.screenshot({ path: shot, fullPage: true });
  await ctx.close();
  return { ...(out as T), requests, errors };
}

/** Opens `file` offline and reads what each chart drew. */
async function render(browser: Browser, file: string, shot: string): Promise<Rendered> {
  return readOffline(browser, file, shot, 1700, () => {
    const charts: Record<string, { points: number; canvases: number; inked: boolean }> = {};
    for (const el of document.querySelectorAll('.chart')) {
      const canvas = el.querySelector('canvas');
      let inked = false;
      if (canvas) {
        // Some pixel of the plot is not blank: the series were drawn.
        const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 3; i < px.length && !inked; i += 4) inked = px[i] !== 0;
      }
      charts[el.id] = { points: Number(el.dataset.points), canvases: el.querySelectorAll('canvas').length, inked };
    }
    return {
      charts,
      rounds: document.querySelectorAll('#rounds-table tbody tr').length,
      audit: document.querySelectorAll('#audit-table tbody tr').length,
      title: document.title,
    };
  });
}

test('fedmeta simulate --report and fedmeta status --report write one HTML file each whose charts render with no network', { timeout: 120_000, skip: skipWithout('chromium') }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-report-'));
  const browser = await launchChromium();
  try {
    const sim = join(dir, 'simulate.html');
    const ck = join(dir, 'ck');
    const log = join(dir, 'run.jsonl');
    const out = fedmetaSync(dir, 'simulate', '--clients', '4', '--rounds', '3', '--drop', '2:share-keys', '--checkpoint', ck, '--log', log, '--out', join(dir, 'model'), '--report', sim);
    assert.match(out, new RegExp(`report: ${sim.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const html = readFileSync(sim, 'utf8');
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/, 'nothing loaded from elsewhere');
    const shotDir = artifactDir();
    const a = await render(browser, sim, join(shotDir, 'report-simulate.png'));
    assert.deepEqual(a.requests, [pathToFileURL(sim).href], 'the only request is the file itself');
    assert.deepEqual(a.errors, []);
    for (const id of ['chart-epsilon', 'chart-accuracy', 'chart-dropouts', 'chart-phases']) {
      assert.deepEqual(a.charts[id], { points: 3, canvases: 1, inked: true }, id);
    }
    assert.equal(a.rounds, 3);
    assert.ok(a.audit > 5, `audit rows: ${a.audit}`);
    assert.match(a.title, /^fedmeta simulate: 4 clients/);

    const st = join(dir, 'status.html');
    fedmetaSync(dir, 'status', '--checkpoint', ck, '--log', log, '--report', st);
    const b = await render(browser, st, join(shotDir, 'report-status.png'));
    assert.deepEqual(b.errors, []);
    assert.deepEqual(b.requests, [pathToFileURL(st).href]);
    for (const id of ['chart-epsilon', 'chart-accuracy', 'chart-dropouts', 'chart-phases']) assert.deepEqual(b.charts[id], { points: 3, canvases: 1, inked: true }, id);
    assert.equal(b.rounds, 3);
    // The same run, so the same dropout and the same epsilon in both.
    const data = (file: string) => JSON.parse(/<script type="application\/json" id="fedmeta-data">(.*?)<\/script>/s.exec(readFileSync(file, 'utf8'))![1]!) as { roundRows: { dropped: number; epsilon?: number }[]; privacy: { spent: number } };
    const [ds, dt] = [data(sim), data(st)];
    assert.deepEqual(dt.roundRows.map((r) => r.dropped), [0, 1, 0]);
    assert.deepEqual(dt.roundRows.map((r) => r.dropped), ds.roundRows.map((r) => r.dropped));
    assert.deepEqual(dt.roundRows.map((r) => r.epsilon), ds.roundRows.map((r) => r.epsilon));
    assert.ok(Math.abs(dt.privacy.spent - ds.privacy.spent) < 1e-9, `ledger ${dt.privacy.spent} vs run ${ds.privacy.spent}`);
    t.diagnostic(`screenshots: ${join(shotDir, 'report-simulate.png')}, ${join(shotDir, 'report-status.png')}`);
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

interface FederatedView {
  points: number;
  sites: string;
  legend: string[];
  chartNote: { hidden: boolean; text: string };
  tableRound: number;
  rows: { site: string; count: number; accuracy: number; loss: number; cells: string[] }[];
  note: string;
  best: { round: string; sub: string };
  requests: string[];
  errors: string[];
}

/** Opens a report offline and reads its federated evaluation: the series, the table, the best round. */
async function federatedView(browser: Browser, file: string, shot: string): Promise<FederatedView> {
  return readOffline(browser, file, shot, 1900, () => {
    const chart = document.getElementById('chart-accuracy');
    const table = document.getElementById('federated-table');
    const note = document.getElementById('chart-accuracy-note');
    return {
      points: Number(chart.dataset.federatedPoints),
      sites: chart.dataset.sites ?? '',
      legend: [...chart.querySelectorAll('.u-legend .u-series .u-label')].map((l: { textContent: string }) => l.textContent),
      chartNote: { hidden: Boolean(note?.hidden), text: note?.textContent ?? '' },
      tableRound: Number(table.dataset.round),
      rows: [...table.querySelectorAll('tbody tr')].map((tr: { dataset: Record<string, string>; children: { textContent: string }[] }) => ({
        site: tr.dataset.site ?? '',
        count: Number(tr.dataset.count),
        accuracy: Number(tr.dataset.accuracy),
        loss: Number(tr.dataset.loss),
        cells: [...tr.children].map((c) => c.textContent),
      })),
      note: document.getElementById('federated-note').textContent,
      best: { round: document.getElementById('best-round').dataset.round, sub: document.getElementById('best-sub').textContent },
    };
  });
}

/** A short real federation (three sites, two rounds, every round evaluated) checkpointed in `ck`. */
async function evaluatedFederation(report: 'per-site' | 'secure', ck: string): Promise<FederationSummary> {
  const insts = institutions(3, `${report}-site`);
  const fed = mnistFederation(3, 19, 120);
  const server = await startServer(baseServerOptions(insts, {
    federationId: `report-${report}`,
    rounds: 2,
    cohort: { minClients: 3 },
    aggregation: { mode: 'secagg' },
    evaluation: { report, everyRounds: 1 },
    checkpointDir: ck,
  }));
  const clients = insts.map((inst, i) => runClient({ url: server.url, identity: inst.keys, data: fed.clients[i]!, backend: 'cpu' }));
  const summary = await server.done;
  await Promise.all(clients.map((c) => c.done));
  await server.close();
  return summary;
}

const pct2 = (x: number) => `${(100 * x).toFixed(2)}%`;

test('fedmeta status --report of a checkpoint with federated evaluations draws the federated series (per site in per-site mode), the latest evaluation\'s table and the best round; in secure mode only the federation-wide numbers', { timeout: 120_000, skip: skipWithout('chromium') }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-report-evaluation-'));
  const browser = await launchChromium();
  try {
    const shotDir = artifactDir();
    // Per-site: a series and a table row per site.
    const ckA = join(dir, 'ck-per-site');
    const a = await evaluatedFederation('per-site', ckA);
    const last = a.rounds.at(-1)!.evaluation as RoundEvaluation;
    const fileA = join(dir, 'per-site.html');
    fedmetaSync(dir, 'status', '--checkpoint', ckA, '--report', fileA);
    const va = await federatedView(browser, fileA, join(shotDir, 'report-evaluation-per-site.png'));
    assert.deepEqual(va.errors, []);
    assert.deepEqual(va.requests, [pathToFileURL(fileA).href]);
    assert.equal(va.points, 2, 'one federated point per evaluated round');
    const names = last.perSite!.map((p) => p.name);
    assert.deepEqual(names, ['per-site-site-0', 'per-site-site-1', 'per-site-site-2']);
    assert.equal(va.sites, names.join(','));
    for (const label of ['federated (weighted mean)', 'federated loss', ...names]) assert.ok(va.legend.includes(label), `the legend names ${label}: ${va.legend.join(', ')}`);
    assert.equal(va.tableRound, 2);
    assert.deepEqual(va.rows.map((r) => r.site), [...names, 'weighted mean']);
    for (const [i, p] of [...last.perSite!, last].entries()) {
      const r = va.rows[i]!;
      assert.deepEqual([r.count, r.accuracy, r.loss], [p.count, p.accuracy, p.loss], `${r.site}: the checkpoint's numbers`);
      assert.deepEqual(r.cells.slice(1, 4), [String(p.count), pct2(p.accuracy), p.loss!.toFixed(4)], `${r.site}: shown`);
    }
    assert.equal(va.chartNote.hidden, true);
    assert.equal(va.best.round, String(a.best!.round), 'the best round is the one the coordinator exported');
    const bestEv = a.rounds.find((r) => r.round === a.best!.round)!.evaluation!;
    assert.equal(va.best.sub, `federated accuracy ${pct2(bestEv.accuracy)}, loss ${bestEv.loss!.toFixed(4)}`);

    // Secure: the federation-wide series and row only, and why.
    const ckB = join(dir, 'ck-secure');
    const b = await evaluatedFederation('secure', ckB);
    const lastB = b.rounds.at(-1)!.evaluation as RoundEvaluation;
    assert.equal(lastB.perSite, undefined);
    const fileB = join(dir, 'secure.html');
    fedmetaSync(dir, 'status', '--checkpoint', ckB, '--report', fileB);
    const vb = await federatedView(browser, fileB, join(shotDir, 'report-evaluation-secure.png'));
    assert.deepEqual(vb.errors, []);
    assert.equal(vb.points, 2);
    assert.equal(vb.sites, '');
    assert.ok(vb.legend.includes('federated (weighted mean)'), vb.legend.join(', '));
    assert.ok(!vb.legend.some((l) => l.startsWith('secure-site')), `no site in the legend: ${vb.legend.join(', ')}`);
    assert.deepEqual(vb.rows.map((r) => r.site), ['weighted mean']);
    assert.deepEqual([vb.rows[0]!.count, vb.rows[0]!.accuracy, vb.rows[0]!.loss], [lastB.count, lastB.accuracy, lastB.loss]);
    assert.equal(vb.note, 'secure: per-site numbers are not visible to the coordinator');
    assert.deepEqual(vb.chartNote, { hidden: false, text: 'secure: per-site numbers are not visible to the coordinator' });
    assert.equal(vb.best.round, String(b.best!.round));
    t.diagnostic(`screenshots: ${join(shotDir, 'report-evaluation-per-site.png')}, ${join(shotDir, 'report-evaluation-secure.png')}`);
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
