/**
 * GET /metrics of a running coordinator (three real clients, SecAgg, DP, a stranger with
 * an unknown key), checked by Prometheus' own `promtool check metrics` (Debian
 * `prometheus`) and against the federation's own summary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runClient } from '@fedmeta/client';
import { startServer } from '@fedmeta/server';
import { baseServerOptions, EventLog, institutions, mnistFederation } from '../src/harness.js';
import { skipWithout } from '../src/tools.js';

const TOKEN = 'metrics-token-7d0c44e1a9';

/** The value of one sample line, e.g. sample(text, 'fedmeta_rounds_total{status="completed"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('/metrics of a running federation passes promtool check metrics and counts rounds, refusals by code, bytes and epsilon', { timeout: 90_000, skip: skipWithout('promtool') }, async () => {
  const insts = institutions(4, 'metrics');
  const stranger = institutions(1, 'stranger')[0]!;
  const fed = mnistFederation(4, 13, 120);
  const log = new EventLog();
  let scraped: Promise<{ text: string; finishedBefore: number; finishedAfter: number }> | null = null;
  const scrape = async (url: string) => {
    const finishedBefore = log.named('round.finished').length;
    const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    return { text, finishedBefore, finishedAfter: log.named('round.finished').length };
  };
  let base = '';
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-metrics-'));
  const server = await startServer(
    baseServerOptions(insts, {
      rounds: 2,
      aggregation: { mode: 'secagg' },
      cohort: { minClients: 3 },
      dp: { l2Clip: 1, noiseMultiplier: 1, delta: 1e-5, epsilonBudget: 40 },
      evaluate: { data: fed.test },
      // The fourth roster member never comes: round 2 waits 1 s for it, time to scrape.
      deadlines: { waitForClientsMs: 1000, trainingMs: 30_000, shareKeysMs: 10_000, maskedInputMs: 10_000, unmaskingMs: 10_000 },
      dashboard: { token: TOKEN },
      checkpointDir: dir,
      logger: (e) => {
        log.logger(e);
        if (e.event === 'round.finished' && e['round'] === 1) scraped = scrape(base);
      },
    }),
  );
  base = server.url.replace(/^ws/, 'http');
  try {
    assert.equal((await fetch(`${base}/metrics`)).status, 401, 'no credential, no metrics');
    assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
    const refused = await runClient({ url: server.url, identity: stranger.keys, data: fed.clients[3]!, backend: 'cpu', reconnect: { maxAttempts: 1 } }).done;
    assert.equal(refused.error?.code, 'ERR_AUTH_UNKNOWN_KEY');
    const clients = insts.slice(0, 3).map((inst, i) => runClient({ url: server.url, identity: inst.keys, data: fed.clients[i]!, backend: 'cpu' }));
    while (!scraped) await new Promise((r) => setTimeout(r, 20));
    const { text, finishedBefore, finishedAfter } = await scraped;
    const summary = await server.done;
    await Promise.all(clients.map((c) => c.done));

    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(lint.status, 0, `promtool check metrics failed:\n${lint.stdout}${lint.stderr}\n--- metrics ---\n${text}`);
    assert.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'promtool has no lint complaints');

    assert.equal(finishedBefore, finishedAfter, 'no round finished while scraping');
    assert.equal(sample(text, 'fedmeta_rounds_total{status="completed"}'), finishedBefore);
    assert.equal(sample(text, 'fedmeta_round_duration_seconds_count'), finishedBefore);
    assert.equal(sample(text, 'fedmeta_rounds_planned'), 2);
    assert.equal(sample(text, 'fedmeta_refusals_total{code="ERR_AUTH_UNKNOWN_KEY"}'), 1);
    assert.equal(sample(text, 'fedmeta_operator_refusals_total'), 1, 'the wrong bearer token');
    assert.equal(sample(text, 'fedmeta_clients_connected'), 3);
    assert.equal(sample(text, 'fedmeta_roster_members{state="active"}'), 4);
    assert.equal(sample(text, 'fedmeta_dp_epsilon_budget'), 40);
    assert.equal(sample(text, 'fedmeta_dp_epsilon_spent'), summary.rounds[0]!.epsilon, 'epsilon after round 1, as the ledger charged it');
    assert.equal(sample(text, 'fedmeta_model_accuracy_ratio'), summary.rounds[0]!.accuracy);
    assert.ok(sample(text, 'fedmeta_received_bytes_total')! >= summary.rounds[0]!.bytesIn, 'bytes received include round 1');
    assert.equal(sample(text, 'fedmeta_phase_duration_seconds_count{phase="training"}'), 1);
    assert.equal(sample(text, 'fedmeta_info{federation_id="e2e"}'), 1);
    assert.equal(summary.roundsCompleted, 2);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
