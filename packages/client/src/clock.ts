/**
 * The process clock the client runs its sessions on (session.ts takes any SessionClock;
 * tests pass a fake one).
 */
import type { SessionClock } from './session.js';

export const processClock: SessionClock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    return { id: t };
  },
  clearTimer(h) {
    clearTimeout(h.id as NodeJS.Timeout);
  },
};
