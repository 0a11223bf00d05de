/**
 * Server side: applies the weighted mean of client updates (each theta_local - theta_global,
 * see algorithms/types.ts) to the global parameter vector. Plain JS over Float32Arrays: the
 * server needs no tensors. With SGD, lr 1 and no momentum this is exactly FedAvg.
 */
import { MetaArgumentError, requirePositive } from './errors.js';
import { MetaError } from './errors.js';

export type MetaOptimizerConfig =
  /** SGD; with momentum it is FedAvgM (Hsu et al. 2019). */
  | { kind: 'sgd'; lr: number; momentum?: number }
  /** FedAdam (with Adam's bias correction). */
  | { kind: 'adam'; lr: number; beta1?: number; beta2?: number; epsilon?: number }
  /** FedAdagrad (Reddi et al. 2021): v += d^2; theta += lr * m / (sqrt(v) + epsilon). */
  | { kind: 'adagrad'; lr: number; beta1?: number; epsilon?: number }
  /** FedYogi (Reddi et al. 2021): v -= (1 - beta2) d^2 sign(v - d^2); theta += lr * m / (sqrt(v) + epsilon). */
  | { kind: 'yogi'; lr: number; beta1?: number; beta2?: number; epsilon?: number };

/** The optimiser kinds (the server's meta-optimisers, "adaptive aggregation"). */
export const META_OPTIMIZER_KINDS = ['sgd', 'adam', 'adagrad', 'yogi'] as const;

/**
 * Everything a MetaOptimizer carries from one apply() to the next, for checkpoints: a
 * server restored with it continues the exact trajectory of one that never stopped.
 * Float64 like the live buffers, so a round-trip rounds nothing.
 */
export interface MetaOptimizerState {
  /** The config kind the state belongs to; restoring into the other kind is refused. */
  kind: MetaOptimizerConfig['kind'];
  /** Adam's step count t (bias correction); always 0 for SGD. */
  step: number;
  /** SGD momentum buffer or Adam's first moment; null before the first apply (and for plain SGD). */
  m: Float64Array | null;
  /** Adam's second moment; null before the first apply and always for SGD. */
  v: Float64Array | null;
}

export class MetaOptimizer {
  private m: Float64Array | undefined;
  private v: Float64Array | undefined;
  private t = 0;

  /** @throws HyperparameterError for lr <= 0, momentum/betas outside [0, 1), epsilon <= 0 */
  constructor(readonly config: MetaOptimizerConfig) {
    if (!config || !(META_OPTIMIZER_KINDS as readonly string[]).includes(config.kind)) {
      throw new MetaArgumentError(`serverOptimizer.kind: expected one of ${META_OPTIMIZER_KINDS.join(', ')}, got ${String((config as { kind?: unknown })?.kind)}`);
    }
    requirePositive('serverLr', config.lr);
    const unit = (field: string, v: number | undefined) => {
      if (v !== undefined && (!(v >= 0) || v >= 1)) requirePositive(field, -1);
    };
    if (config.kind === 'sgd') unit('momentum', config.momentum);
    else {
      unit('beta1', config.beta1);
      if (config.kind !== 'adagrad') unit('beta2', config.beta2);
      if (config.epsilon !== undefined) requirePositive('epsilon', config.epsilon);
    }
  }

  /**
   * Weighted mean of updates: sum_i w_i u_i / sum_i w_i.
   * @throws MetaArgumentError on no updates, mismatched lengths or non-positive total weight
   */
  static weightedMean(updates: { update: Float32Array; weight: number }[]): Float32Array {
    if (!Array.isArray(updates) || updates.length === 0) throw new MetaArgumentError('updates: need at least one');
    const n = updates[0]!.update.length;
    const acc = new Float64Array(n);
    let total = 0;
    updates.forEach(({ update, weight }, k) => {
      if (!(update instanceof Float32Array) || update.length !== n) {
        throw new MetaError('META_PARAM_LENGTH', `updates[${k}].update: length ${update?.length} but updates[0] has ${n}`);
      }
      if (!Number.isFinite(weight) || weight < 0) throw new MetaArgumentError(`updates[${k}].weight: must be finite and >= 0, got ${weight}`);
      total += weight;
      for (let i = 0; i < n; i++) acc[i]! += weight * update[i]!;
    });
    if (!(total > 0)) throw new MetaArgumentError('updates: total weight must be > 0');
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = acc[i]! / total;
    return out;
  }

  /**
   * theta += step(meanUpdate) in place, where the mean update is treated as a descent
   * direction already (a negative pseudo-gradient): SGD/momentum add lr * (momentum buffer),
   * Adam adds lr * mhat / (sqrt(vhat) + eps) (FedAdam, Reddi et al. 2021).
   * @returns `params` (mutated)
   */
  apply(params: Float32Array, meanUpdate: Float32Array): Float32Array {
    if (!(params instanceof Float32Array) || !(meanUpdate instanceof Float32Array)) {
      throw new MetaArgumentError('apply: params and meanUpdate must be Float32Arrays');
    }
    if (params.length !== meanUpdate.length) {
      throw new MetaError('META_PARAM_LENGTH', `apply: params has ${params.length} entries, meanUpdate ${meanUpdate.length}`);
    }
    for (const u of meanUpdate) if (!Number.isFinite(u)) throw new MetaError('META_NON_FINITE', 'apply: meanUpdate has a non-finite entry');
    const n = params.length;
    if (this.m && this.m.length !== n) throw new MetaError('META_PARAM_LENGTH', `apply: optimizer state has ${this.m.length} entries, params ${n}`);
    const c = this.config;
    if (c.kind === 'sgd') {
      const mu = c.momentum ?? 0;
      if (mu === 0) {
        for (let i = 0; i < n; i++) params[i]! += c.lr * meanUpdate[i]!;
        return params;
      }
      const m = (this.m ??= new Float64Array(n));
      for (let i = 0; i < n; i++) {
        m[i] = mu * m[i]! + meanUpdate[i]!;
        params[i]! += c.lr * m[i]!;
      }
      return params;
    }
    const b1 = c.beta1 ?? 0.9;
    const eps = c.epsilon ?? 1e-3;
    const m = (this.m ??= new Float64Array(n));
    const v = (this.v ??= new Float64Array(n));
    this.t++;
    if (c.kind === 'adagrad' || c.kind === 'yogi') {
      // Reddi et al. 2021, Algorithm 2 (no bias correction; v starts at 0 here, so epsilon, the
      // adaptivity tau, bounds the first step).
      const b2 = c.kind === 'yogi' ? c.beta2 ?? 0.99 : 0;
      for (let i = 0; i < n; i++) {
        const g = meanUpdate[i]!;
        const g2 = g * g;
        m[i] = b1 * m[i]! + (1 - b1) * g;
        if (c.kind === 'adagrad') v[i] = v[i]! + g2;
        else v[i] = v[i]! - (1 - b2) * g2 * Math.sign(v[i]! - g2);
        params[i]! += (c.lr * m[i]!) / (Math.sqrt(v[i]!) + eps);
      }
      return params;
    }
    const b2 = c.beta2 ?? 0.99;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    for (let i = 0; i < n; i++) {
      const g = meanUpdate[i]!;
      m[i] = b1 * m[i]! + (1 - b1) * g;
      v[i] = b2 * v[i]! + (1 - b2) * g * g;
      params[i]! += (c.lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + eps);
    }
    return params;
  }

  /**
   * A copy of the optimiser's state (later apply() calls do not change it).
   * @returns kind, Adam step and the moment buffers (null until the first apply needs them)
   */
  state(): MetaOptimizerState {
    return {
      kind: this.config.kind,
      step: this.t,
      m: this.m ? this.m.slice() : null,
      v: this.v ? this.v.slice() : null,
    };
  }

  /**
   * Replaces the optimiser's state with (a copy of) `state`, e.g. one read from a checkpoint.
   * @param state what state() returned, possibly from another process
   * @param paramCount when given, the buffers must have exactly this many entries
   * @throws MetaArgumentError when the kind differs from the config's, a field has the wrong
   *   type, the step is not a non-negative integer or is inconsistent with the buffers
   * @throws MetaError META_PARAM_LENGTH when m and v (or paramCount) disagree in length;
   *   META_NON_FINITE when a buffer holds NaN or an infinity
   */
  restore(state: MetaOptimizerState, paramCount?: number): void {
    if (state === null || typeof state !== 'object') throw new MetaArgumentError('state: expected { kind, step, m, v }');
    if (state.kind !== this.config.kind) {
      throw new MetaArgumentError(`state.kind: the state is of a '${String(state.kind)}' optimiser, this one is '${this.config.kind}'`);
    }
    const { step } = state;
    if (typeof step !== 'number' || !Number.isInteger(step) || step < 0) throw new MetaArgumentError(`state.step: expected an integer >= 0, got ${String(step)}`);
    const buffer = (field: 'm' | 'v'): Float64Array | undefined => {
      const b = state[field];
      if (b === null || b === undefined) return undefined;
      if (!(b instanceof Float64Array)) throw new MetaArgumentError(`state.${field}: expected a Float64Array or null`);
      if (paramCount !== undefined && b.length !== paramCount) {
        throw new MetaError('META_PARAM_LENGTH', `state.${field}: ${b.length} entries, the model has ${paramCount}`);
      }
      for (const x of b) if (!Number.isFinite(x)) throw new MetaError('META_NON_FINITE', `state.${field}: has a non-finite entry`);
      return b.slice();
    };
    const m = buffer('m');
    const v = buffer('v');
    if (this.config.kind === 'sgd') {
      if (v) throw new MetaArgumentError('state.v: an SGD optimiser has no second moment (expected null)');
      if (step !== 0) throw new MetaArgumentError(`state.step: an SGD optimiser counts no steps (expected 0, got ${step})`);
      if (m && !(this.config.momentum ?? 0)) throw new MetaArgumentError('state.m: SGD without momentum has no momentum buffer (expected null)');
    } else {
      // The adaptive kinds create m and v together on their first step, and count every step.
      if (!m !== !v) throw new MetaArgumentError(`state.m, state.v: ${this.config.kind} needs both moments or neither`);
      if (m && v && m.length !== v.length) throw new MetaError('META_PARAM_LENGTH', `state.v: ${v.length} entries, state.m has ${m.length}`);
      if (!m !== (step === 0)) throw new MetaArgumentError(`state.step: ${step} is inconsistent with ${m ? 'present' : 'absent'} moments`);
      if (v) for (const x of v) if (x < 0) throw new MetaArgumentError('state.v: the second moment must be >= 0');
    }
    this.m = m;
    this.v = v;
    this.t = step;
  }

  /**
   * A new optimiser with `config` continuing from `state`.
   * @throws as the constructor (config) and restore() (state)
   */
  static fromState(config: MetaOptimizerConfig, state: MetaOptimizerState, paramCount?: number): MetaOptimizer {
    const opt = new MetaOptimizer(config);
    opt.restore(state, paramCount);
    return opt;
  }

  /** weightedMean + apply in one call. */
  step(params: Float32Array, updates: { update: Float32Array; weight: number }[]): Float32Array {
    return this.apply(params, MetaOptimizer.weightedMean(updates));
  }
}
