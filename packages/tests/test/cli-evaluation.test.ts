/**
 * Errors and metrics where people look, with real `fedmeta` processes on a real tabular
 * data set (breast_cancer.csv of Debian's python3-sklearn): sites whose file has a
 * non-numeric cell, an extra column or a missing one are refused before round 1 with the
 * column named on their own console and the site named on the coordinator's; the sites
 * that take part see the federation's accuracy each round on their consoles; the
 * coordinator prints per-site and weighted-mean metrics (personalised ones too, on its
 * console, in `fedmeta status` and its report) and exports the best round next to the last.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BREAST_CANCER_CSV, breastCancerRows, fedmetaSync, clientYamlHead, freePort, siteIdentities, serverYamlHead, startFedmeta, until, type RunningCommand } from '../src/cli-process.js';

const skip = existsSync(BREAST_CANCER_CSV) ? false : `${BREAST_CANCER_CSV} not found (Debian python3-sklearn; .ci/run installs it)`;

interface Site {
  name: string;
  /** Rewrites the site's header and rows before they are written. */
  edit?: (header: string[], rows: string[][]) => void;
}

test('bad files are refused before round 1 naming the column (site and coordinator consoles); federated metrics on every console; best round exported', { timeout: 300_000, skip }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'fedmeta-cli-eval-'));
  const running: RunningCommand[] = [];
  try {
    const { names, data } = breastCancerRows();
    const sites: Site[] = [
      { name: 'site-a' },
      { name: 'site-b' },
      { name: 'site-c' },
      {
        name: 'site-text',
        edit: (_h, rows) => {
          rows[4]![2] = 'n.d.';
        },
      },
      { name: 'site-extra', edit: (h, rows) => (h.splice(5, 0, 'ward'), rows.forEach((r) => r.splice(5, 0, '3'))) },
      { name: 'site-short', edit: (h, rows) => (h.splice(11, 1), rows.forEach((r) => r.splice(11, 1))) },
    ];
    const coord = join(root, 'coordinator');
    mkdirSync(coord);
    const csv = (header: string[], rows: string[][]) => [header.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n';
    writeFileSync(join(coord, 'reference.csv'), csv(names, data.filter((_, i) => i % 5 === 0)));
    const rest = data.filter((_, i) => i % 5 !== 0);
    siteIdentities(root, coord, sites.map((s) => s.name));
    sites.forEach((s, k) => {
      const header = [...names];
      const rows = rest.filter((_, i) => i % 3 === k % 3).map((r) => [...r]);
      s.edit?.(header, rows);
      writeFileSync(join(root, s.name, 'data.csv'), csv(header, rows));
    });
    const port = await freePort();
    const dataLine = "data: { source: csv, path: reference.csv, labelColumn: diagnosis, classNames: 'malignant,benign' }";
    writeFileSync(
      join(coord, 'server.yaml'),
      [
        ...serverYamlHead(port, 'evaluation'),
        '  rounds: 3',
        '  minClients: 3',
        '  deadlines: { waitForClients: 4000 }',
        '  evaluation: { report: per-site }',
        'secagg: { mode: secagg }',
        'dp: { enabled: false }',
        'meta: { algorithm: fedavg, hidden: 16, evalSteps: 4 }',
        dataLine,
        'output: { model: model, log: server.log.jsonl }',
        '',
      ].join('\n'),
    );
    for (const s of sites) {
      writeFileSync(join(root, s.name, 'client.yaml'), [...clientYamlHead(s.name, port, 'evaluation'), "data: { source: csv, path: data.csv, labelColumn: diagnosis, classNames: 'malignant,benign' }", 'meta: { hidden: 16 }', ''].join('\n'));
    }
    const server = startFedmeta(coord, 'server', '--config', 'server.yaml');
    running.push(server);
    await until('the server banner', () => /fedmeta server: ws:\/\//.test(server.out()));
    const clients = sites.map((s) => startFedmeta(join(root, s.name), 'client', '--config', 'client.yaml'));
    running.push(...clients);
    const [, , , text, extra, short] = clients;

    // The refused sites: their own console names the column, the coordinator's names the site.
    assert.equal(await text!.exit, 1);
    assert.match(text!.err(), /ERR_SCHEMA_MISMATCH: this site's data cannot be used \(.*data\.csv\): row 5, column "f3": .*not a number/);
    assert.match(text!.out(), /told the coordinator .* that 'site-text' cannot take part/);
    assert.equal(await extra!.exit, 1);
    assert.match(extra!.err(), /ERR_SCHEMA_MISMATCH: .*extra column "ward"/);
    assert.equal(await short!.exit, 1);
    assert.match(short!.err(), /ERR_SCHEMA_MISMATCH: .*missing column "f12"/);
    await until('the coordinator naming the refused sites', () => ['site-text', 'site-extra', 'site-short'].every((n) => new RegExp(`${n} cannot take part: `).test(server.out())), 20_000);
    assert.match(server.out(), /site-text cannot take part: .*row 5, column "f3"/);
    assert.match(server.out(), /site-extra cannot take part: .*extra column "ward"/);
    assert.match(server.out(), /site-short cannot take part: .*missing column "f12"/);

    assert.deepEqual(await Promise.all(clients.slice(0, 3).map((c) => c.exit)), [0, 0, 0], clients.map((c) => c.err()).join('\n'));
    assert.equal(await server.exit, 0, server.err());
    const out = server.out();
    // The wait before the statistics round is round 0's: its first progress line says so.
    const progressLines = out.split('\n').filter((l) => /^round +\d+\/\d+ \[/.test(l));
    assert.match(progressLines[0] ?? '', /^round +0\/3 \[.*waiting/, progressLines.slice(0, 3).join('\n'));
    // Round 1 started only after the refusals: none of the refused sites is in any sum.
    const started = readFileSync(join(coord, 'server.log.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"event":"round.started"')).map((l) => JSON.parse(l) as { cohort: string[] });
    assert.ok(started.every((r) => r.cohort.every((n) => ['site-a', 'site-b', 'site-c'].includes(n))));
    // The coordinator: per-site and weighted-mean metrics every round, and which model it exported.
    for (const round of [1, 2, 3]) {
      assert.match(out, new RegExp(`round ${round} federated evaluation \\(per-site, 3 sites, \\d+ held-out rows\\): accuracy \\d+\\.\\d% \\(weighted mean\\), loss \\d+\\.\\d+, AUC \\d\\.\\d+; site-a \\d+\\.\\d% \\(\\d+ rows, AUC`));
    }
    // Personalised (each site's model adapted on its training rows, meta.evalSteps 4 steps): on the console as logged.
    const evaluatedLog = readFileSync(join(coord, 'server.log.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"event":"round.evaluated"')).map((l) => JSON.parse(l) as { round: number; personalised: { accuracy: number; loss: number; steps: number; lr: number } });
    assert.deepEqual(evaluatedLog.map((e) => e.round), [1, 2, 3]);
    for (const e of evaluatedLog) {
      const p = e.personalised;
      assert.equal(p.steps, 4, 'meta.evalSteps reaches the sites');
      const line = out.split('\n').find((l) => l.startsWith(`round ${e.round} federated evaluation (`)) ?? '';
      assert.ok(line.includes(`; personalised ${(100 * p.accuracy).toFixed(1)}% (loss ${p.loss.toFixed(4)}; 4 adaptation steps at lr ${p.lr}); best round so far`), `round ${e.round}: the personalised numbers on the console: ${line}`);
    }
    const best = JSON.parse(readFileSync(join(coord, 'best', 'fedmeta-model.json'), 'utf8')) as { round: number; selection: { kind: string; metric: string; lastRound: number; bestRound: number }; metrics: { federated: { accuracy: number; sites: number } } };
    const last = JSON.parse(readFileSync(join(coord, 'model', 'fedmeta-model.json'), 'utf8')) as { round: number; selection: { kind: string; bestRound: number } };
    assert.equal(last.round, 3);
    assert.equal(last.selection.kind, 'last');
    assert.equal(best.selection.kind, 'best');
    assert.equal(best.round, best.selection.bestRound);
    assert.equal(last.selection.bestRound, best.round);
    assert.equal(best.metrics.federated.sites, 3);
    assert.match(best.selection.metric, /federated accuracy/);
    assert.ok(existsSync(join(coord, 'best', 'params.f32')));
    assert.match(out, new RegExp(`best round by federated accuracy .*: round ${best.round} \\(accuracy \\d+\\.\\d%\\): .*best/model\\.json; .*model holds the last round \\(3\\); the sites received the last round's \\(3\\)`));
    // `fedmeta status` carries them too.
    const status = fedmetaSync(coord, 'status', '--config', 'server.yaml');
    assert.match(status, /federated    round 3 \(per-site\): accuracy \d+\.\d+% over 3 sites/);
    assert.match(status, new RegExp(`best round   ${best.round}: federated accuracy`));
    const lastOwn = evaluatedLog[2]!.personalised;
    assert.ok(status.includes(`personalised round 3: accuracy ${(100 * lastOwn.accuracy).toFixed(1)}% over 3 sites`), status);
    assert.match(status, /pers\. acc \(4 steps\)/);
    // The status report's round rows carry the personalised accuracy of every evaluated round.
    fedmetaSync(coord, 'status', '--config', 'server.yaml', '--report', 'report.html');
    const html = readFileSync(join(coord, 'report.html'), 'utf8');
    const embedded = /<script type="application\/json" id="fedmeta-data">(.*?)<\/script>/s.exec(html)!;
    const snap = JSON.parse(embedded[1]!) as { roundRows: { round: number; personalisedAccuracy?: number }[] };
    assert.deepEqual(snap.roundRows.map((r) => r.personalisedAccuracy), evaluatedLog.map((e) => e.personalised.accuracy));
    // Each site: the federation's accuracy, its own, each round.
    for (const c of clients.slice(0, 3)) {
      // Its console is a log here (not a terminal): one summary line per round, no line per phase.
      assert.doesNotMatch(c.out(), /^(round \d+: )?(idle|training|aggregating)\b/m);
      for (const round of [1, 2, 3]) assert.match(c.out(), new RegExp(`round ${round} completed: 3/3 sites in the sum`));
      for (const round of [1, 2, 3]) {
        const own = evaluatedLog[round - 1]!.personalised;
        assert.match(c.out(), new RegExp(`round ${round} evaluated \\(completed\\): federated accuracy \\d+\\.\\d% over 3 sites \\(\\d+ held-out rows\\), loss \\d+\\.\\d+, AUC \\d\\.\\d+, personalised ${(100 * own.accuracy).toFixed(1)}%; this site \\d+\\.\\d% \\(\\d+ rows\\), AUC \\d\\.\\d+, personalised \\d+\\.\\d% after 4 adaptation steps`));
      }
    }
  } finally {
    for (const r of running) r.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});
