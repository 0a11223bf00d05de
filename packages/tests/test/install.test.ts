/**
 * The fedmeta command on a site's machine without the monorepo: `npm run pack:cli`'s
 * tarballs installed with `npm install <tarballs>` into an empty temporary directory (the
 * workspace packages from those local files; third-party ones from the npm cache or
 * registry), then run from there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** The environment of a shell, not of the npm that runs these tests. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('the packed CLI installs into an empty directory with npm install <tarballs> and runs: --help, keygen, and the report renderer with its bundled chart library', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-install-'));
  try {
    const pack = join(dir, 'pack');
    run(process.execPath, [join(repoRoot, 'scripts', 'pack-cli.mjs'), pack], repoRoot);
    const tarballs = readdirSync(pack).filter((f) => f.endsWith('.tgz')).map((f) => join(pack, f));
    assert.equal(tarballs.length, 7);
    const site = join(dir, 'site');
    run('mkdir', [site], dir);
    writeFileSync(join(site, 'package.json'), '{ "name": "site", "private": true }\n');
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs], site);
    // The installed copy, not a link into this repository.
    const cli = realpathSync(join(site, 'node_modules', '@fedmeta', 'cli'));
    assert.ok(cli.startsWith(realpathSync(site)), cli);
    const fedmeta = join(site, 'node_modules', '.bin', 'fedmeta');
    const help = run(fedmeta, ['--help'], site);
    assert.match(help, /^usage: fedmeta <command> \[options\]/);
    for (const c of ['server', 'client', 'keygen', 'status']) assert.match(help, new RegExp(`^  ${c} `, 'm'));
    const keygen = run(fedmeta, ['keygen', '--name', 'site-a', '--out', 'keys'], site);
    assert.match(keygen, /public key: {2}[0-9a-f]{64}/);
    assert.equal(statSync(join(site, 'keys', 'site-a.json')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(site, 'keys', 'site-a.pub.json'), 'utf8'), /"publicKey": ?"[0-9a-f]{64}"/);
    // The server package found its dashboard assets and uPlot where npm put them.
    const html = run(process.execPath, ['--input-type=module', '-e', "const s = await import('@fedmeta/server'); const m = new s.FederationMonitor({ federationId: 'f', rounds: 1, privacy: null, roster: null }); process.stdout.write(s.reportHtml(m.snapshot('report')))"], site);
    assert.match(html, /uPlot/);
    assert.match(html, /id="chart-epsilon"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
