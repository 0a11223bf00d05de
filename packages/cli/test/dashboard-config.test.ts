// server.dashboard in the config file: the operator token, inline or in a file next to
// the config, reaches the server options; bad values are named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../src/config/schema.js';
import { loadConfig } from '../src/config/load.js';
import { checkServerConfig } from '../src/config/rules.js';
import { serverDashboard } from '../src/config/options.js';
import { CliError } from '../src/errors.js';

const TOKEN = '5f0c1d2e3a4b5c6d7e8f9a0b1c2d3e4f';

test('server.dashboard.tokenFile is read relative to the config file (first line); token is taken as is; neither means no dashboard', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-dash-config-'));
  try {
    writeFileSync(join(dir, 'dashboard.token'), `${TOKEN}\n`);
    const file = join(dir, 'server.yaml');
    writeFileSync(file, 'server:\n  dashboard:\n    tokenFile: dashboard.token\n');
    assert.deepEqual(serverDashboard(loadConfig({ file })), { token: TOKEN });
    writeFileSync(file, `server:\n  dashboard:\n    token: ${TOKEN}\n`);
    assert.deepEqual(serverDashboard(loadConfig({ file })), { token: TOKEN });
    writeFileSync(file, 'server:\n  rounds: 3\n');
    assert.equal(serverDashboard(loadConfig({ file })), undefined);
    writeFileSync(join(dir, 'empty.token'), '\n');
    writeFileSync(file, 'server:\n  dashboard:\n    tokenFile: empty.token\n');
    assert.throws(() => serverDashboard(loadConfig({ file })), (e: unknown) => e instanceof CliError && /^server\.dashboard\.tokenFile: .*empty\.token must hold the token on its first line/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a short dashboard token, or both token and tokenFile, is a config error naming the field', () => {
  assert.throws(() => loadConfig({ overrides: { server: { dashboard: { token: 'short' } } } }), (e: unknown) => e instanceof ConfigError && e.issues.some((i) => i.path === 'server.dashboard.token' && /16-1024 characters/.test(i.message)));
  const both = loadConfig({ overrides: { server: { insecure: true, roster: 'r.json', dashboard: { token: TOKEN, tokenFile: 't' } } } });
  assert.throws(() => checkServerConfig(both), (e: unknown) => e instanceof ConfigError && e.issues.some((i) => i.path === 'server.dashboard.tokenFile'));
});
