/**
 * Running the real `fedmeta` command line as separate processes, as an institution would:
 * one-shot commands (keygen) and long-running ones (server, client) whose consoles the
 * tests read.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const fedmetaBin = fileURLToPath(new URL('../../../cli/bin/fedmeta.js', import.meta.url));

/** Runs a fedmeta command to completion; throws with its stderr when it fails. */
export function fedmetaSync(cwd: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, [fedmetaBin, ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fedmeta ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export interface RunningCommand {
  child: ChildProcess;
  /** Everything printed so far on stdout / stderr. */
  out(): string;
  err(): string;
  /** Exit code (null when killed by a signal). */
  exit: Promise<number | null>;
}

export function startFedmeta(cwd: string, ...args: string[]): RunningCommand {
  const child = spawn(process.execPath, [fedmetaBin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

/** Polls `check` every 50 ms; throws after `ms`. */
export async function until(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A TCP port that was free a moment ago on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** breast_cancer.csv of Debian's python3-sklearn (its first line is a count header, not column names). */
export const BREAST_CANCER_CSV = '/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv';

/**
 * breast_cancer.csv with named columns: features f1..f30 and the label column `diagnosis`
 * (malignant / benign), as the CLI tests write their site files.
 */
export function breastCancerRows(source = BREAST_CANCER_CSV): { names: string[]; data: string[][] } {
  const lines = readFileSync(source, 'utf8').trim().split('\n').slice(1);
  const data = lines.map((l) => l.split(','));
  const names = [...Array.from({ length: 30 }, (_, i) => `f${i + 1}`), 'diagnosis'];
  for (const r of data) r[30] = r[30] === '0' ? 'malignant' : 'benign';
  return { names, data };
}

/** Writes `data` (rows in the order of `names`) as a CSV file with the given columns, in that order. */
export function writeCsvColumns(path: string, names: string[], data: string[][], columns: string[] = names): void {
  const idx = columns.map((c) => names.indexOf(c));
  writeFileSync(path, [columns.join(','), ...data.map((r) => idx.map((i) => r[i]).join(','))].join('\n') + '\n');
}

/**
 * One directory per site under `root` with its identity (`fedmeta keygen --name`), and the
 * coordinator's `roster.json` in `coord` listing them all (`fedmeta keygen --roster --add`).
 */
export function siteIdentities(root: string, coord: string, names: readonly string[]): void {
  mkdirSync(coord, { recursive: true });
  for (const name of names) {
    mkdirSync(join(root, name), { recursive: true });
    fedmetaSync(join(root, name), 'keygen', '--name', name);
  }
  fedmetaSync(coord, 'keygen', '--roster', 'roster.json', ...names.flatMap((n) => ['--add', `../${n}/${n}.pub.json`]));
}

/** The head of a test coordinator's server.yaml: loopback, plain ws, roster.json, a checkpoint; the caller adds the rest of `server:` and the other sections. */
export function serverYamlHead(port: number, federationId: string): string[] {
  return ['server:', '  host: 127.0.0.1', `  port: ${port}`, '  insecure: true', '  roster: roster.json', `  federationId: ${federationId}`, '  checkpointDir: checkpoint'];
}

/** The head of a site's client.yaml for a coordinator from serverYamlHead (identity NAME.json in the site's folder). */
export function clientYamlHead(name: string, port: number, federationId: string): string[] {
  return ['client:', `  identity: ${name}.json`, `  server: ws://127.0.0.1:${port}`, `  federationId: ${federationId}`];
}
