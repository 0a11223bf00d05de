/**
 * The live roster: the coordinator re-reads its roster file when the file changes (polled
 * every `intervalMs`, so edits by `fedmeta keygen --revoke`, an editor or a config-management
 * tool that replaces the file are all seen) and on SIGHUP, and hands it to the running
 * server. A file that does not parse leaves the roster in force unchanged and says why.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { RosterChange, RosterEntry } from '@fedmeta/server';
import { readRoster } from './identity.js';

export interface RosterWatchEvents {
  /** The new roster is in force; `change` names who was added, revoked, disconnected. */
  onUpdated(change: RosterChange): void;
  /** The file could not be read or applied; the previous roster stays in force. */
  onRejected(message: string): void;
}

export interface RosterWatch {
  /** Re-reads the file now (SIGHUP does this). */
  reload(): void;
  stop(): void;
}

export function watchRoster(path: string, apply: (entries: RosterEntry[]) => RosterChange, events: RosterWatchEvents, intervalMs = 500): RosterWatch {
  const reload = () => {
    let entries: RosterEntry[];
    try {
      entries = readRoster(path).clients;
    } catch (err) {
      events.onRejected(`${path}: ${(err as Error).message}`);
      return;
    }
    try {
      events.onUpdated(apply(entries));
    } catch (err) {
      events.onRejected(`${path}: ${(err as Error).message}`);
    }
  };
  const onChange = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
    reload();
  };
  watchFile(path, { interval: intervalMs, persistent: false }, onChange);
  return {
    reload,
    stop: () => unwatchFile(path, onChange),
  };
}
