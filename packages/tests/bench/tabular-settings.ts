/**
 * The tabular bench's training settings per data set (tabular.ts), shared with the
 * record-level DP bench (dp-record.ts: its non-private FedAvg reference and its client-level
 * DDG row use the same).
 */
export interface Setting {
  rounds: number;
  localSteps: number;
  batchSize: number;
  lr: number;
  dpRounds: number;
  dpClip: number;
}

/**
 * Per data set, fixed before looking at test accuracy: batch 32, lr 0.1 (the e2e tests'
 * FedAvg lr), 10 local steps per round, and enough rounds for the pooled run (the same
 * number of examples) to see ~63 (breast cancer) / ~27 (digits) epochs.
 * DP: fewer rounds (the noise multiplier grows with about sqrt(rounds), so the noise summed
 * over the run hardly depends on them); clip 1 (the first-round local update norms are
 * printed next to it).
 */
export const SETTINGS: Record<string, Setting> = {
  'breast cancer': { rounds: 30, localSteps: 10, batchSize: 32, lr: 0.1, dpRounds: 10, dpClip: 1 },
  digits: { rounds: 40, localSteps: 10, batchSize: 32, lr: 0.1, dpRounds: 10, dpClip: 1 },
};

