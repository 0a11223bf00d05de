/**
 * The dashboard's HTML: the live page (scripts served by the coordinator from
 * /dashboard/assets, no CDN), the login form, and the self-contained report (one HTML
 * file with the same script, styles, the bundled uPlot and the data inlined, so it renders
 * offline). The page script itself is packages/server/assets/dashboard.js.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { DashboardSnapshot } from './monitor.js';

interface Asset {
  type: string;
  body: Buffer;
}

const require = createRequire(import.meta.url);
/** packages/server/assets (this file is dist/src/dashboard/page.js). */
const ASSETS = new URL('../../../assets/', import.meta.url);

const SOURCES: Record<string, { type: string; path: () => string }> = {
  'dashboard.js': { type: 'text/javascript; charset=utf-8', path: () => fileURLToPath(new URL('dashboard.js', ASSETS)) },
  'dashboard.css': { type: 'text/css; charset=utf-8', path: () => fileURLToPath(new URL('dashboard.css', ASSETS)) },
  'uPlot.iife.min.js': { type: 'text/javascript; charset=utf-8', path: () => require.resolve('uplot/dist/uPlot.iife.min.js') },
  'uPlot.min.css': { type: 'text/css; charset=utf-8', path: () => require.resolve('uplot/dist/uPlot.min.css') },
};

const cache = new Map<string, Asset>();

/** A dashboard asset by file name (a fixed list: no paths), or null. */
export function dashboardAsset(name: string): Asset | null {
  const src = Object.hasOwn(SOURCES, name) ? SOURCES[name] : undefined;
  if (!src) return null;
  let a = cache.get(name);
  if (!a) {
    a = { type: src.type, body: readFileSync(src.path()) };
    cache.set(name, a);
  }
  return a;
}

function asset(name: string): string {
  return dashboardAsset(name)!.body.toString('utf8');
}

/** HTML-escapes text for element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON safe inside a <script> element (no "</script", no "<!--"). */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const BODY = `
<header class="top">
  <h1 id="title">fedmeta</h1>
  <span id="source-badge" class="badge"></span>
  <span id="phase-badge" class="badge phase"></span>
  <span id="live-state" class="muted"></span>
</header>
<main>
  <section class="tiles" aria-label="overview">
    <div class="tile"><div class="label">round</div><div class="value" id="round-counter">-</div><div class="sub" id="round-sub"></div></div>
    <div class="tile"><div class="label">phase</div><div class="value" id="phase">-</div><div class="sub" id="phase-since"></div></div>
    <div class="tile"><div class="label">sites connected</div><div class="value" id="sites-connected">-</div><div class="sub" id="sites-sub"></div></div>
    <div class="tile"><div class="label">benched / revoked</div><div class="value" id="sites-benched">-</div><div class="sub">left out for missed deadlines / keys revoked</div></div>
    <div class="tile"><div class="label">dropouts</div><div class="value" id="dropouts">-</div><div class="sub" id="dropouts-sub"></div></div>
    <div class="tile"><div class="label">privacy (epsilon)</div><div class="value" id="epsilon">-</div><div class="sub" id="epsilon-sub"></div></div>
    <div class="tile"><div class="label">accuracy</div><div class="value" id="accuracy">-</div><div class="sub" id="accuracy-sub"></div></div>
    <div class="tile"><div class="label">best round</div><div class="value" id="best-round">-</div><div class="sub" id="best-sub"></div></div>
    <div class="tile"><div class="label">traffic</div><div class="value" id="bytes">-</div><div class="sub">received / sent by the coordinator</div></div>
  </section>
  <section class="charts">
    <figure><figcaption>Privacy budget burn-down: epsilon left after each round</figcaption><div class="chart" id="chart-epsilon"></div></figure>
    <figure><figcaption>Global model on the held-out data: accuracy and loss per round (federated: on the sites' held-out rows; personalised: each site's model adapted on its training rows)</figcaption><div class="chart" id="chart-accuracy"></div><p class="muted note" id="chart-accuracy-note" hidden></p></figure>
    <figure><figcaption>Cohort, surviving inputs and dropouts per round</figcaption><div class="chart" id="chart-dropouts"></div></figure>
    <figure><figcaption>Round duration by phase (seconds)</figcaption><div class="chart" id="chart-phases"></div></figure>
  </section>
  <section class="tables">
    <div><h2>Sites</h2><table id="sites-table"><thead><tr><th>site</th><th>state</th><th>since / until</th><th>why</th></tr></thead><tbody></tbody></table></div>
    <div><h2>Refusals by code</h2><table id="refusals-table"><thead><tr><th>code</th><th>count</th></tr></thead><tbody></tbody></table></div>
  </section>
  <section id="federated-section" hidden><h2>Federated evaluation <span class="muted" id="federated-round"></span></h2><div class="scroll"><table id="federated-table"><thead><tr>
    <th>site</th><th>held-out rows</th><th>accuracy</th><th>loss</th><th>AUC</th><th>personalised</th><th>personalised loss</th>
  </tr></thead><tbody></tbody></table><p class="muted note" id="federated-note"></p></div></section>
  <section><h2>Rounds</h2><div class="scroll"><table id="rounds-table"><thead><tr>
    <th>round</th><th>status</th><th>mode</th><th>cohort</th><th>survivors</th><th>dropped</th><th>k / t</th><th>accuracy</th><th>loss</th><th>personalised</th><th>epsilon</th><th>received</th><th>sent</th><th>wall time</th><th>slowest phase</th>
  </tr></thead><tbody></tbody></table></div></section>
  <section><h2>Audit trail <select id="audit-filter" aria-label="filter"><option value="all">everything</option><option value="warn">warnings and errors</option><option value="members">joins, refusals, revocations</option><option value="rounds">rounds and checkpoints</option></select></h2>
    <div class="scroll"><table id="audit-table"><thead><tr><th>time</th><th>level</th><th>event</th><th>what happened</th></tr></thead><tbody></tbody></table></div></section>
  <section id="facts-section" hidden><h2>Run</h2><table id="facts-table"><tbody></tbody></table></section>
</main>`;

/** The live dashboard page; its script fetches the state and subscribes to updates. */
export function livePageHtml(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>fedmeta dashboard</title>
<link rel="stylesheet" href="/dashboard/assets/uPlot.min.css"><link rel="stylesheet" href="/dashboard/assets/dashboard.css">
</head><body data-mode="live">${BODY}
<form method="post" action="/dashboard/logout" class="logout"><button type="submit">log out</button></form>
<script src="/dashboard/assets/uPlot.iife.min.js"></script><script src="/dashboard/assets/dashboard.js"></script>
</body></html>
`;
}

/** The login form: no data about the federation at all. */
export function loginPageHtml(wrong: boolean): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>fedmeta operator login</title>
<style>body{font:15px system-ui,sans-serif;margin:4rem auto;max-width:26rem;padding:0 1rem;color:#1d2430}input{width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}button{padding:.5rem 1rem}.err{color:#b3261e}</style>
</head><body>
<h1>fedmeta operator login</h1>
<p>The dashboard and metrics of this coordinator need the operator token (<code>server.dashboard.token</code>).</p>
${wrong ? '<p class="err" id="login-error">That token is not right.</p>' : ''}
<form method="post" action="/dashboard/login"><label for="token">operator token</label><input id="token" name="token" type="password" autocomplete="current-password" required autofocus><button type="submit">open the dashboard</button></form>
</body></html>
`;
}

/**
 * One self-contained HTML file: the dashboard's script, styles and uPlot inlined, the
 * snapshot embedded as JSON. Opens from disk with no network.
 */
export function reportHtml(snapshot: DashboardSnapshot): string {
  const inlineScript = (name: string) => `<script>${asset(name).replace(/<\/script/gi, '<\\/script')}</script>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(snapshot.title)}</title>
<style>${asset('uPlot.min.css')}</style><style>${asset('dashboard.css')}</style>
</head><body data-mode="report">${BODY}
<script type="application/json" id="fedmeta-data">${scriptJson(snapshot)}</script>
${inlineScript('uPlot.iife.min.js')}
${inlineScript('dashboard.js')}
</body></html>
`;
}
