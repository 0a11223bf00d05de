/**
 * Signals through npm. `npx fedmeta ...` and `npm run fedmeta -- ...` run this process
 * as npm -> sh -c -> node. A SIGTERM sent to npm's PID (what a service manager or `kill`
 * does) is passed by npm to the shell, which dies without passing it on: the coordinator
 * would keep serving on its port with nobody to stop it. So when npm started us (it sets
 * npm_command), the processes above us up to npm are watched, and their going away is
 * taken as a SIGTERM to this process: the same clean shutdown (connections closed, exit
 * 130) as a SIGTERM sent here directly. Run without npm (`fedmeta` from an installed
 * package, `node .../bin/fedmeta.js`), nothing is watched: then there is no wrapper, and a
 * process started under nohup keeps running when its shell goes, as it should.
 */
import { readFileSync } from 'node:fs';

/** The parent PID of `pid` (Linux /proc), or null when it cannot be read. */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; ppid follows the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) && ppid > 0 ? ppid : null;
  } catch {
    return null;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The launcher chain to watch: our parent, and when that is a shell, the npm process above
 * it. Empty when npm did not start us.
 */
export function launcherChain(env: NodeJS.ProcessEnv = process.env): number[] {
  if (!env['npm_command'] && !env['npm_lifecycle_event']) return [];
  const chain = [process.ppid];
  const up = parentOf(process.ppid);
  if (up !== null && up > 1 && /(^|\/)(sh|bash|dash|zsh)( |$)/.test(commandOf(process.ppid))) chain.push(up);
  return chain;
}

/**
 * Turns the death of the npm launcher into a SIGTERM for this process.
 * @returns a function that stops watching
 */
export function followLauncher(intervalMs = 500, env: NodeJS.ProcessEnv = process.env): () => void {
  const chain = launcherChain(env);
  if (chain.length === 0) return () => undefined;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent && chain.every(alive)) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
