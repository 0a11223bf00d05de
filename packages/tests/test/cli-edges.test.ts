/**
 * The federation's edges through the real command line, every site a separate process:
 * `fedmeta keygen --revoke` on the running coordinator's roster file, a second process
 * with a site's identity, and each client's console (the settings it accepted, the
 * reason it stopped).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fedmetaSync, clientYamlHead, freePort, siteIdentities, serverYamlHead, startFedmeta, until, type RunningCommand } from '../src/cli-process.js';
import { stepsLasting } from '../src/harness.js';

function roundsFinished(logFile: string): number {
  if (!existsSync(logFile)) return 0;
  return readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"event":"round.finished"')).length;
}

test('fedmeta processes: a revoked site is closed within 5 s and refused again, a second process of a site is refused, the rest finish', { timeout: 300_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'fedmeta-cli-edges-'));
  const running: RunningCommand[] = [];
  try {
    const coord = join(root, 'coordinator');
    mkdirSync(coord);
    const names = ['site-a', 'site-b', 'site-c', 'site-d'];
    // Rounds of about a second or more however fast this machine trains (the sites train on
    // tfjs's cpu backend, the one stepsLasting measures): the federation must still run
    // while the test acts on it.
    const localSteps = await stepsLasting(1_000, [16]);
    siteIdentities(root, coord, names);
    const port = await freePort();
    writeFileSync(
      join(coord, 'server.yaml'),
      [
        ...serverYamlHead(port, 'edges'),
        '  rounds: 12',
        '  minClients: 3',
        '  deadlines: { waitForClients: 1500 }',
        'secagg: { mode: secagg }',
        'dp: { enabled: false }',
        `meta: { hidden: 16, localSteps: ${localSteps}, batchSize: 32 }`,
        'data: { supportPerClass: 20, queryPerClass: 5, shards: 4 }',
        'output: { model: model, log: server.log.jsonl }',
        '',
      ].join('\n'),
    );
    names.forEach((name, i) => {
      writeFileSync(
        join(root, name, 'client.yaml'),
        [
          ...clientYamlHead(name, port, 'edges'),
          '  policy: { minCohort: 3 }',
          '  reconnect: { maxAttempts: 3 }',
          `data: { clientIndex: ${i}, supportPerClass: 20, queryPerClass: 5, shards: 4 }`,
          'meta: { backend: cpu }',
          '',
        ].join('\n'),
      );
    });
    const server = startFedmeta(coord, 'server', '--config', 'server.yaml');
    running.push(server);
    await until('the server banner', () => /fedmeta server: ws:\/\/127\.0\.0\.1:\d+/.test(server.out()));
    const clients = names.map((name) => startFedmeta(join(root, name), 'client', '--config', 'client.yaml'));
    running.push(...clients);

    // Each client prints the federation settings it accepted.
    await until('the settings line', () => clients.every((c) => /federation settings accepted \(client\.policy\): secagg semi-honest, rounds of >= 3 members, sums of >= 3 inputs, DP off, 12 rounds/.test(c.out())));

    // A second process with site-a's identity is refused with a clear message; site-a stays.
    const twin = startFedmeta(join(root, 'site-a'), 'client', '--config', 'client.yaml');
    running.push(twin);
    assert.equal(await twin.exit, 1);
    assert.match(twin.err(), /ERR_SESSION_DUPLICATE: .*identity 'site-a' already has a live session/);

    // Revoke site-d with the documented command while rounds run.
    await until('round 1', () => roundsFinished(join(coord, 'server.log.jsonl')) >= 1, 120_000);
    const t0 = Date.now();
    fedmetaSync(coord, 'keygen', '--roster', 'roster.json', '--revoke', 'site-d');
    const dExit = await clients[3]!.exit;
    assert.ok(Date.now() - t0 < 5_000, `site-d closed within 5 s (took ${Date.now() - t0} ms)`);
    assert.equal(dExit, 1);
    assert.match(clients[3]!.err(), /ERR_AUTH_REVOKED/);
    await until('the roster reload line', () => /roster reloaded from .*roster\.json: revoked site-d; disconnected site-d/.test(server.out()), 5_000);

    // It cannot come back.
    const back = startFedmeta(join(root, 'site-d'), 'client', '--config', 'client.yaml');
    running.push(back);
    assert.equal(await back.exit, 1);
    assert.match(back.err(), /ERR_AUTH_REVOKED/);

    // The other three finish the federation.
    assert.deepEqual(await Promise.all(clients.slice(0, 3).map((c) => c.exit)), [0, 0, 0], clients.map((c) => c.err()).join('\n'));
    assert.equal(await server.exit, 0, server.err());
    assert.match(server.out(), /fedmeta server: completed; 12 rounds completed in all/);
    assert.match(clients[0]!.out(), /fedmeta client 'site-a': federation-done/);
  } finally {
    for (const r of running) r.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});
