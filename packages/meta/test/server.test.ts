import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HyperparameterError, MetaError, MetaArgumentError } from '../src/errors.js';
import { MetaOptimizer } from '../src/meta-optimizer.js';
import { spread } from '../src/evaluate.js';

const f = (xs: number[]) => Float32Array.from(xs);

test('weighted mean of updates', () => {
  const mean = MetaOptimizer.weightedMean([{ update: f([1, 2]), weight: 1 }, { update: f([4, -1]), weight: 3 }]);
  assert.deepEqual(Array.from(mean), [3.25, -0.25]);
});

test('SGD with lr 1 and no momentum is FedAvg: params + mean update', () => {
  const opt = new MetaOptimizer({ kind: 'sgd', lr: 1 });
  const p = f([1, 1]);
  opt.step(p, [{ update: f([0.5, -1]), weight: 2 }, { update: f([1.5, 1]), weight: 2 }]);
  assert.deepEqual(Array.from(p), [2, 1]);
});

test('SGD momentum accumulates; Adam steps have size ~lr in each coordinate', () => {
  const sgd = new MetaOptimizer({ kind: 'sgd', lr: 0.5, momentum: 0.9 });
  const p = f([0]);
  sgd.apply(p, f([1]));
  sgd.apply(p, f([1]));
  assert.ok(Math.abs(p[0]! - (0.5 + 0.5 * 1.9)) < 1e-6);
  const adam = new MetaOptimizer({ kind: 'adam', lr: 0.01, epsilon: 1e-8 });
  const q = f([0, 0]);
  adam.apply(q, f([3, -0.001]));
  assert.ok(Math.abs(q[0]! - 0.01) < 1e-6 && Math.abs(q[1]! + 0.01) < 1e-5, `${q}`);
});

test('bad configs and mismatched lengths are typed errors', () => {
  assert.throws(() => new MetaOptimizer({ kind: 'sgd', lr: -1 }), (e: unknown) => e instanceof HyperparameterError && e.field === 'serverLr');
  assert.throws(() => new MetaOptimizer({ kind: 'sgd', lr: 1, momentum: 1 }), (e: unknown) => e instanceof HyperparameterError && e.field === 'momentum');
  assert.throws(() => new MetaOptimizer({ kind: 'adam', lr: 1, beta2: -0.1 }), (e: unknown) => e instanceof HyperparameterError && e.field === 'beta2');
  assert.throws(() => new MetaOptimizer({ kind: 'rmsprop', lr: 1 } as never), MetaArgumentError);
  const opt = new MetaOptimizer({ kind: 'adam', lr: 0.1 });
  assert.throws(() => opt.apply(f([1, 2]), f([1])), (e: unknown) => e instanceof MetaError && e.code === 'META_PARAM_LENGTH');
  assert.throws(() => opt.apply(f([1]), f([NaN])), (e: unknown) => e instanceof MetaError && e.code === 'META_NON_FINITE');
  assert.throws(() => MetaOptimizer.weightedMean([]), MetaArgumentError);
  assert.throws(() => MetaOptimizer.weightedMean([{ update: f([1]), weight: 1 }, { update: f([1, 2]), weight: 1 }]), /updates\[1\]/);
  assert.throws(() => MetaOptimizer.weightedMean([{ update: f([1]), weight: 0 }]), /total weight/);
  assert.throws(() => MetaOptimizer.weightedMean([{ update: f([1]), weight: -1 }]), /weight/);
});

test('spread: mean, population std, min, max', () => {
  assert.deepEqual(spread([0.5, 1]), { mean: 0.75, std: 0.25, min: 0.5, max: 1 });
});
