/**
 * The fedmeta command on a site's machine without the monorepo and without the npm
 * registry: `npm run pack:cli`'s folder (tarballs of the workspace packages and of every
 * third-party package they need, with a package-lock.json pinning each to its tarball),
 * copied to an empty temporary directory and installed with `npm ci --offline`, an empty
 * npm cache and a registry address where nothing listens; then run from there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** The environment of a shell, not of the npm that runs these tests. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout: 240_000, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('the packed CLI installs with npm ci --offline from an empty cache and no reachable registry, and runs: --help, keygen, a simulate round on TensorFlow.js, the report renderer', { timeout: 420_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-install-'));
  try {
    const pack = join(dir, 'pack');
    const packed = run(process.execPath, [join(repoRoot, 'scripts', 'pack-cli.mjs'), pack], repoRoot);
    assert.match(packed, /tarballs \(7 fedmeta, \d+ third-party\), [\d.]+ MiB in all/);
    const tarballs = readdirSync(join(pack, 'tarballs'));
    assert.equal(tarballs.filter((f) => /^fedmeta-.*\.tgz$/.test(f)).length, 7);
    for (const name of ['tensorflow-tfjs-core-', 'tensorflow-tfjs-backend-wasm-', 'ws-', 'libsodium-wrappers-', 'yaml-', 'uplot-']) {
      assert.ok(tarballs.some((f) => f.startsWith(name)), `no ${name}*.tgz among ${tarballs.join(', ')}`);
    }
    assert.match(readFileSync(join(pack, 'README.txt'), 'utf8'), /npm ci --offline --no-audit --no-fund/);

    // The folder as a site receives it, somewhere else; npm may only use what it holds.
    const site = join(dir, 'site');
    cpSync(pack, site, { recursive: true });
    const cache = join(dir, 'npm-cache');
    mkdirSync(cache);
    run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--cache', cache, '--registry', 'http://127.0.0.1:9', '--loglevel', 'error'], site);

    // Installed copies, not links into this repository.
    for (const p of ['@fedmeta/cli', '@fedmeta/meta', '@tensorflow/tfjs-core', 'ws']) {
      const at = realpathSync(join(site, 'node_modules', p));
      assert.ok(at.startsWith(realpathSync(site)), at);
    }
    const fedmeta = join(site, 'node_modules', '.bin', 'fedmeta');
    const help = run(fedmeta, ['--help'], site);
    assert.match(help, /^usage: fedmeta <command> \[options\]/);
    for (const c of ['server', 'client', 'keygen', 'status', 'simulate']) assert.match(help, new RegExp(`^  ${c} `, 'm'));

    const keygen = run(fedmeta, ['keygen', '--name', 'site-a', '--out', 'keys'], site);
    assert.match(keygen, /public key: {2}[0-9a-f]{64}/);
    assert.equal(statSync(join(site, 'keys', 'site-a.json')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(site, 'keys', 'site-a.pub.json'), 'utf8'), /"publicKey": ?"[0-9a-f]{64}"/);

    // One federated round: TensorFlow.js (its wasm backend's files included), MNIST from
    // the mnist package, SecAgg over ws with libsodium and @noble, DP accounting.
    const sim = JSON.parse(run(fedmeta, ['simulate', '--clients', '3', '--rounds', '1', '--model', 'linear', '--drop', 'none', '--reference', 'off', '--checkpoint', join(dir, 'checkpoint'), '--json'], site));
    assert.equal(sim.endReason, 'completed');
    assert.equal(sim.roundsCompleted, 1);
    assert.equal(sim.secagg, 'secagg');
    assert.equal(sim.parameters, 7850);
    assert.ok(sim.final.globalAccuracy > 0 && sim.final.globalAccuracy <= 1, String(sim.final.globalAccuracy));

    // The server package found its dashboard assets and uPlot where npm put them.
    const html = run(process.execPath, ['--input-type=module', '-e', "const s = await import('@fedmeta/server'); const m = new s.FederationMonitor({ federationId: 'f', rounds: 1, privacy: null, roster: null }); process.stdout.write(s.reportHtml(m.snapshot('report')))"], site);
    assert.match(html, /uPlot/);
    assert.match(html, /id="chart-epsilon"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
