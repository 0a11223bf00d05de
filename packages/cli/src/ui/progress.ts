/**
 * The per-round progress line. On a TTY it redraws one line in place:
 *
 *   round 2/5 [######------------] masked   4/6 alive  up 1.2 MiB  down 340 KiB  3.1s
 *
 * When stdout is not a TTY (CI, pipes, files) it prints a plain log line only when the
 * phase changes and a final line per round, so logs stay short and greppable.
 */
import { formatBytes, formatDuration } from './format.js';

/** Phases in the order a round goes through them (SecAgg vocabulary). */
export const PHASES = ['train', 'advertise', 'share', 'masked', 'unmask', 'aggregate'] as const;
export type Phase = (typeof PHASES)[number] | 'done';

export interface RoundProgress {
  round: number;
  rounds: number;
  phase: Phase;
  /** Clients that have answered the current phase. */
  answered: number;
  /** Clients still in the round. */
  alive: number;
  /** Clients the round started with. */
  cohort: number;
  bytesUp: number;
  bytesDown: number;
  elapsedMs: number;
}

/** Where the progress line goes: a stream with optional TTY cursor control. */
export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * The bar fills by phase (each phase an equal slice) plus the answered fraction within it.
 * @returns a string of exactly `width` characters
 */
export function renderBar(phase: Phase, answered: number, alive: number, width: number): string {
  const steps = PHASES.length;
  const index = phase === 'done' ? steps : PHASES.indexOf(phase);
  const within = phase === 'done' || alive <= 0 ? 0 : Math.min(1, answered / alive);
  const filled = Math.round((width * (index + within)) / steps);
  return '#'.repeat(Math.min(width, filled)) + '-'.repeat(Math.max(0, width - filled));
}

/** The progress line's text (no newline, no cursor codes). */
export function renderProgress(p: RoundProgress, barWidth = 20): string {
  const r = String(p.round).padStart(String(p.rounds).length);
  const phase = p.phase.padEnd(9);
  const count = p.phase === 'done' ? `${p.alive}/${p.cohort} finished` : `${p.answered}/${p.alive} answered, ${p.alive}/${p.cohort} alive`;
  return `round ${r}/${p.rounds} [${renderBar(p.phase, p.answered, p.alive, barWidth)}] ${phase} ${count}  up ${formatBytes(p.bytesUp)}  down ${formatBytes(p.bytesDown)}  ${formatDuration(p.elapsedMs)}`;
}

/** Draws progress to a sink: in place on a TTY, as phase-change log lines otherwise. */
export class ProgressView {
  private lastPhaseKey = '';
  private drawn = false;

  constructor(
    private readonly sink: ProgressSink,
    private readonly enabled = true,
  ) {}

  update(p: RoundProgress): void {
    if (!this.enabled) return;
    if (this.sink.isTTY) {
      const width = Math.max(10, Math.min(30, (this.sink.columns ?? 100) - 80));
      this.sink.write(`\r\x1b[2K${renderProgress(p, width)}`);
      this.drawn = true;
      if (p.phase === 'done') this.newline();
      return;
    }
    const key = `${p.round}:${p.phase}`;
    if (key === this.lastPhaseKey) return;
    this.lastPhaseKey = key;
    this.sink.write(renderProgress(p) + '\n');
  }

  /** Prints a message above the bar (ends the current in-place line first). */
  log(message: string): void {
    if (!this.enabled) return;
    this.newline();
    this.sink.write(message + '\n');
  }

  private newline(): void {
    if (this.drawn) this.sink.write('\n');
    this.drawn = false;
  }

  /** Leaves the cursor on a fresh line. */
  finish(): void {
    this.newline();
  }
}
