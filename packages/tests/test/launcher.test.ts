/**
 * A SIGTERM sent to the launcher's PID - `npx fedmeta server ...` or `npm run fedmeta --
 * server ...`, npm's own process, as a service manager or `kill` would send it - stops the
 * real coordinator: it closes its connections, says so, and its port is free again. Real
 * npm, real processes, a real port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fedmetaSync, freePort, until } from '../src/cli-process.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** The environment of a shell, not of the npm that runs these tests. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

async function serving(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

for (const launcher of [['npx', 'fedmeta'], ['npm', 'run', 'fedmeta', '--']]) {
  test(`SIGTERM to the PID of \`${launcher.join(' ')} server\` stops the coordinator and frees its port`, { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmeta-launcher-'));
    try {
      for (const name of ['a', 'b', 'c']) fedmetaSync(dir, 'keygen', '--name', name, '--out', dir);
      fedmetaSync(dir, 'keygen', '--roster', join(dir, 'roster.json'), '--add', join(dir, 'a.pub.json'), '--add', join(dir, 'b.pub.json'), '--add', join(dir, 'c.pub.json'));
      const port = await freePort();
      const config = join(dir, 'server.yaml');
      writeFileSync(config, `server:\n  host: 127.0.0.1\n  port: ${port}\n  insecure: true\n  roster: roster.json\n  checkpointDir: ck\n  rounds: 2\nmeta:\n  hidden: 8\noutput:\n  model: model\n`);
      const child = spawn(launcher[0]!, [...launcher.slice(1), 'server', '--config', config], { cwd: repoRoot, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
      try {
        await until('the coordinator to serve /status', () => /fedmeta server: ws:\/\//.test(out), 30_000);
        assert.ok(await serving(port), 'the coordinator answers on its port');
        assert.ok(child.pid !== undefined && process.kill(child.pid, 'SIGTERM'));
        const since = Date.now();
        for (;;) {
          if (!(await serving(port))) break;
          assert.ok(Date.now() - since < 10_000, `still serving 10 s after SIGTERM to the launcher:\n${out}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        await until('the coordinator to report the signal', () => /SIGTERM: closing connections/.test(out) && /fedmeta server: closed/.test(out), 10_000);
        await exited;
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
