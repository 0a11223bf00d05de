/**
 * The floor of a federation through the real command line: a roster whose active members
 * are fewer than server.minClients. `fedmeta server` and two `fedmeta client` processes on
 * loopback; the coordinator starts no round, and its console says so and why from the
 * start (the notice the server raises before the banner is printed after it, not lost).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fedmetaSync, clientYamlHead, freePort, serverYamlHead, siteIdentities, startFedmeta, until, type RunningCommand } from '../src/cli-process.js';

function logEvents(file: string, event: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('fedmeta server with fewer active roster members than server.minClients starts no round and says why on its console', { timeout: 120_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'fedmeta-cli-floor-'));
  const running: RunningCommand[] = [];
  try {
    const coord = join(root, 'coordinator');
    mkdirSync(coord);
    const names = ['site-a', 'site-b', 'site-c'];
    siteIdentities(root, coord, names);
    fedmetaSync(coord, 'keygen', '--roster', 'roster.json', '--revoke', 'site-c');
    const port = await freePort();
    writeFileSync(
      join(coord, 'server.yaml'),
      [
        ...serverYamlHead(port, 'floor'),
        '  rounds: 2',
        '  minClients: 3',
        '  deadlines: { waitForClients: 500 }',
        'secagg: { mode: secagg }',
        'dp: { enabled: false }',
        'meta: { hidden: 8, localSteps: 1, batchSize: 8 }',
        'data: { supportPerClass: 5, queryPerClass: 2, shards: 3 }',
        'output: { model: model, log: server.log.jsonl }',
        '',
      ].join('\n'),
    );
    for (const [i, name] of names.slice(0, 2).entries()) {
      writeFileSync(
        join(root, name, 'client.yaml'),
        [
          ...clientYamlHead(name, port, 'floor'),
          `data: { clientIndex: ${i}, supportPerClass: 5, queryPerClass: 2, shards: 3 }`,
          'meta: { backend: cpu }',
          '',
        ].join('\n'),
      );
    }
    const server = startFedmeta(coord, 'server', '--config', 'server.yaml');
    running.push(server);
    await until('the server banner', () => /fedmeta server: ws:\/\/127\.0\.0\.1:\d+/.test(server.out()));
    const clients = names.slice(0, 2).map((name) => startFedmeta(join(root, name), 'client', '--config', 'client.yaml'));
    running.push(...clients);
    const log = join(coord, 'server.log.jsonl');
    await until('both sites authenticated', () => logEvents(log, 'peer.authenticated').length >= 2, 60_000);
    // Both sites are in; a round would start at once (waitForClients 500 ms) if the floor allowed it.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(logEvents(log, 'round.started').length, 0, 'no round started');
    assert.ok(clients.every((c) => c.child.exitCode === null), 'the sites still wait');

    const out = server.out();
    // The plan line: no round of 2 described, but the floor, its config key and the roster's count.
    assert.match(out, /^no round starts until 3 members are active \(server\.minClients 3\): the roster has 2 active member\(s\) and 1 revoked; add members to the roster .*, or lower server\.minClients knowingly\. Once they are active, a round of 3 members runs secagg/m);
    assert.doesNotMatch(out, /^a round of 2 members/m);
    // The server's own notice, raised before the banner, is on the console after it.
    assert.ok(logEvents(log, 'cohort.roster-too-small').length >= 1, 'the server raised the notice');
    const notice = /^no round starts: only 2 member\(s\) of the roster are active \(not revoked\), and a round needs 3 \(server\.minClients 3\)/m.exec(out);
    assert.ok(notice, out);
    assert.ok(notice.index > out.indexOf('fedmeta server: ws://'), 'printed after the banner');
  } finally {
    for (const r of running) r.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});
