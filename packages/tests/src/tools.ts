/**
 * External tools some tests drive for real: Debian's `chromium` (through playwright-core,
 * which never downloads a browser), `promtool` (Debian `prometheus`) and `openssl`.
 * `.ci/run` installs them and sets FEDMETA_CI=1, under which a missing tool FAILS the test
 * that needs it; elsewhere such a test is skipped with the reason and the install command.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';

export const CHROMIUM = process.env['FEDMETA_CHROMIUM'] ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** True under .ci/run (or any CI that sets CI): missing tools fail instead of skipping. */
export const toolsRequired = process.env['FEDMETA_CI'] === '1' || Boolean(process.env['CI']);

function onPath(cmd: string, versionArg: string): boolean {
  try {
    execFileSync(cmd, [versionArg], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const found = {
  chromium: () => existsSync(CHROMIUM),
  promtool: () => onPath('promtool', '--version'),
  openssl: () => onPath('openssl', 'version'),
};
const packages: Record<keyof typeof found, string> = { chromium: 'chromium', promtool: 'prometheus', openssl: 'openssl' };

/**
 * node:test's `skip` for a test needing `tools`: false when they are all there, and false
 * under CI too (the test then fails on the missing tool); else the reason.
 */
export function skipWithout(...tools: (keyof typeof found)[]): false | string {
  const missing = tools.filter((t) => !found[t]());
  if (missing.length === 0 || toolsRequired) return false;
  return `needs ${missing.join(', ')} (apt-get install ${missing.map((t) => packages[t]).join(' ')}; .ci/run installs it, and a missing tool fails the test there)`;
}

/** Headless Debian chromium. @throws naming the path and the package when it is missing */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: apt-get install chromium (.ci/run does)`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** `.test-results/` at the repository root (kept by CI as the test artifacts), created. */
export function artifactDir(): string {
  const dir = join(fileURLToPath(new URL('../../../../', import.meta.url)), '.test-results');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A self-signed certificate for 127.0.0.1 / localhost, made by openssl in `dir`. */
export function selfSignedCert(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}
