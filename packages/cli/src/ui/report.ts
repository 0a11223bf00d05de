/**
 * `--report FILE` of `fedmeta simulate` and `fedmeta status`: one self-contained HTML file
 * with the dashboard's plots and the run's tables (the server package renders it; the
 * charting library and the data are inlined, so it opens offline and can be mailed).
 *
 * A report is built with the same FederationMonitor as the live dashboard, fed either live
 * (simulate) or by replaying the coordinator's JSON-lines log (status, output.log).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DashboardSnapshot, FederationMonitor, ServerEvent } from '@fedmeta/server';
import { CliError } from '../errors.js';

/** Writes the report; returns the absolute path. @throws CliError naming --report */
export async function writeReport(file: string, snapshot: DashboardSnapshot): Promise<string> {
  const { reportHtml } = await import('@fedmeta/server');
  const path = resolve(file);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, reportHtml(snapshot));
  } catch (err) {
    throw new CliError(`--report: cannot write ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, 1);
  }
  return path;
}

/**
 * Feeds a coordinator's JSON-lines log (output.log of `fedmeta server` or `simulate`) to
 * the monitor: the audit trail and per-phase round times. Lines that are not JSON events,
 * and the clients' lines of a simulate log, are skipped.
 * @returns how many server events were replayed
 * @throws CliError naming the file when it cannot be read
 */
export function replayLog(monitor: FederationMonitor, file: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`--log: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, 1);
  }
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue; // a torn last line
    }
    if (typeof e['event'] !== 'string' || typeof e['time'] !== 'string' || typeof e['level'] !== 'string') continue;
    if (e['component'] !== undefined && e['component'] !== 'server') continue;
    monitor.event(e as ServerEvent);
    n++;
  }
  return n;
}
