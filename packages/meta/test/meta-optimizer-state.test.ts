// MetaOptimizer.state() / restore() / fromState(): a restored optimiser continues the exact
// trajectory of one that never stopped, and a state that does not fit is a typed error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetaOptimizer, type MetaOptimizerConfig, type MetaOptimizerState } from '../src/meta-optimizer.js';
import { MetaError } from '../src/errors.js';

const n = 37;
/** A deterministic, non-trivial sequence of mean updates (different signs and scales per step). */
const update = (k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(1.3 * i + 0.7 * k) * 0.05 * (1 + (k % 3)));

const configs: [string, MetaOptimizerConfig][] = [
  ['sgd', { kind: 'sgd', lr: 0.7 }],
  ['sgd+momentum', { kind: 'sgd', lr: 0.5, momentum: 0.9 }],
  ['adam', { kind: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.99, epsilon: 1e-3 }],
];

for (const [name, config] of configs) {
  test(`${name}: interrupted after every step count k, state round-trip reproduces the uninterrupted trajectory bit for bit`, () => {
    const steps = 6;
    const ref = new MetaOptimizer(config);
    const refParams = new Float32Array(n).fill(0.25);
    const trajectory: Float32Array[] = [];
    for (let k = 0; k < steps; k++) trajectory.push(ref.apply(refParams, update(k)).slice());
    for (let stop = 0; stop <= steps; stop++) {
      const first = new MetaOptimizer(config);
      const p = new Float32Array(n).fill(0.25);
      for (let k = 0; k < stop; k++) first.apply(p, update(k));
      // Serialise through plain bytes, as a checkpoint would, to be sure nothing is shared.
      const saved = first.state();
      const copy: MetaOptimizerState = {
        kind: saved.kind,
        step: saved.step,
        m: saved.m && new Float64Array(new Uint8Array(saved.m.buffer).slice().buffer),
        v: saved.v && new Float64Array(new Uint8Array(saved.v.buffer).slice().buffer),
      };
      const resumed = MetaOptimizer.fromState(config, copy, n);
      for (let k = stop; k < steps; k++) {
        resumed.apply(p, update(k));
        assert.deepEqual(p, trajectory[k], `${name}: stop after ${stop}, step ${k}`);
      }
    }
  });
}

test('state() is a snapshot: later steps do not change it, and restore() copies its input', () => {
  const opt = new MetaOptimizer({ kind: 'adam', lr: 0.01 });
  const p = new Float32Array(n);
  opt.apply(p, update(0));
  const s = opt.state();
  assert.equal(s.kind, 'adam');
  assert.equal(s.step, 1);
  const m0 = s.m!.slice();
  opt.apply(p, update(1));
  assert.deepEqual(s.m, m0);
  assert.equal(opt.state().step, 2);
  const other = MetaOptimizer.fromState({ kind: 'adam', lr: 0.01 }, s);
  s.m!.fill(123);
  assert.deepEqual(other.state().m, m0);
});

test('the state matters: a fresh optimiser does not take the resumed step (momentum and adam)', () => {
  for (const config of configs.slice(1).map(([, c]) => c)) {
    const a = new MetaOptimizer(config);
    const pa = new Float32Array(n);
    for (let k = 0; k < 3; k++) a.apply(pa, update(k));
    const pb = pa.slice();
    a.apply(pa, update(3));
    new MetaOptimizer(config).apply(pb, update(3));
    assert.notDeepEqual(pb, pa, config.kind);
  }
});

test('a fresh optimiser has an empty state, and plain SGD stays empty', () => {
  assert.deepEqual(new MetaOptimizer({ kind: 'adam', lr: 1 }).state(), { kind: 'adam', step: 0, m: null, v: null });
  const sgd = new MetaOptimizer({ kind: 'sgd', lr: 1 });
  sgd.apply(new Float32Array(3), new Float32Array([1, 2, 3]));
  assert.deepEqual(sgd.state(), { kind: 'sgd', step: 0, m: null, v: null });
});

const code = (c: string, re: RegExp) => (e: unknown) => e instanceof MetaError && e.code === c && re.test(e.message);

test('restore refuses states that do not fit, with the field named and the optimiser unchanged', () => {
  const adam: MetaOptimizerConfig = { kind: 'adam', lr: 0.01 };
  const good = (() => {
    const o = new MetaOptimizer(adam);
    o.apply(new Float32Array(n), update(0));
    return o.state();
  })();
  const target = new MetaOptimizer(adam);
  const cases: [string, unknown, (e: unknown) => boolean][] = [
    ['wrong kind', { ...good, kind: 'sgd' }, code('META_INVALID_ARGUMENT', /state\.kind: .*'sgd'.*'adam'/)],
    ['unknown kind', { ...good, kind: 'rmsprop' }, code('META_INVALID_ARGUMENT', /state\.kind/)],
    ['not an object', null, code('META_INVALID_ARGUMENT', /state: expected/)],
    ['negative step', { ...good, step: -1 }, code('META_INVALID_ARGUMENT', /state\.step/)],
    ['fractional step', { ...good, step: 1.5 }, code('META_INVALID_ARGUMENT', /state\.step/)],
    ['step 0 with moments', { ...good, step: 0 }, code('META_INVALID_ARGUMENT', /state\.step: 0 is inconsistent/)],
    ['steps without moments', { kind: 'adam', step: 3, m: null, v: null }, code('META_INVALID_ARGUMENT', /state\.step: 3 is inconsistent/)],
    ['m without v', { ...good, v: null }, code('META_INVALID_ARGUMENT', /both moments or neither/)],
    ['m and v lengths differ', { ...good, v: new Float64Array(n + 1) }, code('META_PARAM_LENGTH', /state\.v: 38 entries, state\.m has 37/)],
    ['Float32 buffer', { ...good, m: new Float32Array(n) }, code('META_INVALID_ARGUMENT', /state\.m: expected a Float64Array/)],
    ['NaN in m', { ...good, m: Object.assign(good.m!.slice(), { 3: NaN }) }, code('META_NON_FINITE', /state\.m/)],
    ['negative second moment', { ...good, v: Object.assign(good.v!.slice(), { 0: -1 }) }, code('META_INVALID_ARGUMENT', /state\.v: .*>= 0/)],
  ];
  for (const [what, state, check] of cases) {
    assert.throws(() => target.restore(state as MetaOptimizerState), check, what);
    assert.deepEqual(target.state(), { kind: 'adam', step: 0, m: null, v: null }, `${what}: state untouched`);
  }
  assert.throws(() => target.restore(good, n + 5), code('META_PARAM_LENGTH', /state\.m: 37 entries, the model has 42/));
  assert.throws(() => MetaOptimizer.fromState({ kind: 'adam', lr: -1 }, good), code('META_BAD_HYPERPARAMETER', /serverLr/));

  const momentum = new MetaOptimizer({ kind: 'sgd', lr: 1, momentum: 0.9 });
  assert.throws(() => momentum.restore(good), code('META_INVALID_ARGUMENT', /'adam'.*'sgd'/));
  assert.throws(() => momentum.restore({ kind: 'sgd', step: 0, m: good.m, v: good.v }), code('META_INVALID_ARGUMENT', /state\.v: an SGD/));
  assert.throws(() => momentum.restore({ kind: 'sgd', step: 2, m: good.m, v: null }), code('META_INVALID_ARGUMENT', /state\.step/));
  const plain = new MetaOptimizer({ kind: 'sgd', lr: 1 });
  assert.throws(() => plain.restore({ kind: 'sgd', step: 0, m: good.m, v: null }), code('META_INVALID_ARGUMENT', /without momentum/));
  // A restored buffer of another length than the params is caught at the next apply.
  momentum.restore({ kind: 'sgd', step: 0, m: new Float64Array(5), v: null });
  assert.throws(() => momentum.apply(new Float32Array(6), new Float32Array(6)), code('META_PARAM_LENGTH', /optimizer state has 5 entries, params 6/));
});
