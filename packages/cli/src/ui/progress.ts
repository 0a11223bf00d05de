/**
 * The per-round progress line. On a TTY it redraws one line in place:
 *
 *   round 2/5 [########------------] masked-input  3/5 answered, 1 dropped  up 1.2 MiB  down 340 KiB  3.10s
 *
 * When stdout is not a TTY (CI, pipes, files) it prints a plain log line only when the
 * phase changes and a final line per round, so logs stay short and greppable.
 */
import type { ServerProgress } from '@fedmeta/server';
import { formatBytes, formatDuration } from './format.js';

/**
 * The server's phases in the order a round goes through them (the server package's
 * ServerPhase). 'waiting' comes before a round; 'done' after the last.
 */
export const PHASES = ['waiting', 'training', 'share-keys', 'masked-input', 'consistency', 'unmasking', 'aggregating', 'evaluating', 'checkpointing', 'done'] as const;
export type Phase = (typeof PHASES)[number];

/** The bar's slices: consistency (active mode only) and the post-aggregation steps fold into neighbours. */
const SLICE: Record<Phase, number> = {
  waiting: 0,
  training: 0,
  'share-keys': 1,
  'masked-input': 2,
  consistency: 2.5,
  unmasking: 3,
  aggregating: 4,
  evaluating: 4.4,
  checkpointing: 4.7,
  done: 5,
};
const SLICES = 5;
/** Phases in which the server collects one answer per client: they fill as answers come in. */
const COLLECTING = new Set<Phase>(['training', 'share-keys', 'masked-input', 'unmasking']);

export interface RoundProgress {
  round: number;
  rounds: number;
  phase: Phase;
  /** Cohort members that answered the current phase. */
  responded: number;
  /** Size of this round's cohort (0 while waiting). */
  cohort: number;
  /** Cohort members dropped this round so far. */
  dropped: number;
  /** Authenticated connections. */
  connected: number;
  /** Bytes received by the server (client uploads) and sent by it. */
  bytesUp: number;
  bytesDown: number;
  elapsedMs: number;
  /** The abort reason when the round was aborted (the line then says so, not "answered"). */
  aborted?: string;
}

/** Where the progress line goes: a stream with optional TTY cursor control. */
export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * The bar fills by phase (equal slices) plus the answered fraction within the phase.
 * @returns a string of exactly `width` characters
 */
export function renderBar(phase: Phase, responded: number, alive: number, width: number): string {
  const base = SLICE[phase] ?? 0;
  const inPhase = COLLECTING.has(phase) && alive > 0 ? Math.min(1, responded / alive) : 0;
  const filled = Math.min(width, Math.round((width * (base + inPhase)) / SLICES));
  return '#'.repeat(filled) + '-'.repeat(width - filled);
}

/** The progress line's text (no newline, no cursor codes). */
export function renderProgress(p: RoundProgress, barWidth = 20): string {
  const r = String(p.round).padStart(String(p.rounds).length);
  const alive = Math.max(0, p.cohort - p.dropped);
  const counts =
    p.phase === 'waiting'
      ? `${p.connected} connected`
      : p.phase === 'done'
        ? `${alive}/${p.cohort} finished`
        : p.aborted
          ? `ABORTED: ${p.aborted}, ${p.dropped} dropped`
          : `${p.responded}/${alive} answered, ${p.dropped} dropped`;
  return `round ${r}/${p.rounds} [${renderBar(p.phase, p.responded, alive, barWidth)}] ${p.phase.padEnd(13)} ${counts}  up ${formatBytes(p.bytesUp)}  down ${formatBytes(p.bytesDown)}  ${formatDuration(p.elapsedMs)}`;
}

/** Draws progress to a sink: in place on a TTY; otherwise a log line when a round waits and when it ends. */
export class ProgressView {
  private lastPhaseKey = '';
  private drawn = false;

  constructor(
    private readonly sink: ProgressSink,
    private readonly enabled = true,
  ) {}

  private lastRound: number | undefined;
  private lastText = '';

  /** Shows `p`; a new round number ends the previous round's line, so each round keeps one. */
  update(p: RoundProgress): void {
    if (!this.enabled) return;
    if (this.lastRound !== undefined && p.round !== this.lastRound) this.newline();
    this.lastRound = p.round;
    if (this.sink.isTTY) {
      const width = Math.max(10, Math.min(30, (this.sink.columns ?? 100) - 90));
      const text = renderProgress(p, width);
      // A finished line stays finished: repeats of it (the server's 'done') draw nothing.
      if (text === this.lastText && (!this.drawn || p.phase === 'done')) return;
      this.lastText = text;
      this.sink.write(`\r\x1b[2K${text}`);
      this.drawn = true;
      if (p.phase === 'done') this.newline();
      return;
    }
    // In a log, a round is its waiting line and its end (done, or ABORTED and why): the
    // phases in between would be a line each for every round. A round whose successor
    // started without a 'done' of its own ended then: its line is written as done.
    if (this.pending && this.pending.round !== p.round) this.flushPending();
    this.pending = p;
    if (p.phase === 'waiting' || p.phase === 'done' || p.aborted) this.writeLine(p);
  }

  private pending: RoundProgress | null = null;

  private writeLine(p: RoundProgress): void {
    const key = `${p.round}:${p.phase}:${p.aborted ?? ''}`;
    if (key === this.lastPhaseKey) return;
    this.lastPhaseKey = key;
    this.sink.write(renderProgress(p) + '\n');
  }

  /** Without a TTY: the round in `pending` has ended; its line, unless already written. */
  private flushPending(): void {
    const p = this.pending;
    this.pending = null;
    if (!p || p.aborted || p.phase === 'done' || p.phase === 'waiting') return;
    this.writeLine({ ...p, phase: 'done' });
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

  /** Leaves the cursor on a fresh line (without a TTY: writes the last round's line if it is still open). */
  finish(): void {
    if (!this.sink.isTTY && this.enabled) this.flushPending();
    this.newline();
  }
}


/**
 * Turns the server's progress records into per-round progress lines: times each round
 * from its first record, and keeps the post-round steps (checkpointing, done) on the
 * round they finish - the server already counts the next round while checkpointing.
 */
export class RoundTracker {
  private round = 0;
  private started = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  map(p: ServerProgress): RoundProgress {
    const trailing = p.phase === 'checkpointing' || p.phase === 'done';
    const round = Math.min(p.rounds, trailing && this.round > 0 ? this.round : p.round);
    if (round !== this.round) [this.round, this.started] = [round, this.now()];
    return {
      round,
      rounds: p.rounds,
      phase: p.phase as Phase,
      responded: p.responded,
      cohort: p.cohort,
      dropped: p.dropped,
      connected: p.connected,
      bytesUp: p.bytesIn,
      bytesDown: p.bytesOut,
      elapsedMs: this.now() - this.started,
      ...(p.aborted ? { aborted: p.aborted } : {}),
    };
  }
}
