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
import { fedmetaSync } from '../src/cli-process.js';
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

/** Opens `file` offline and reads what each chart drew. */
async function render(browser: Browser, file: string, shot: string): Promise<Rendered> {
  const ctx = await browser.newContext({ offline: true, viewport: { width: 1300, height: 1700 } });
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
  const out = await page.evaluate(() => {
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
  await page.screenshot({ path: shot, fullPage: true });
  await ctx.close();
  return { ...out, requests, errors };
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
