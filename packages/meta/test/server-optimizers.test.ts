import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetaOptimizer } from '../src/meta-optimizer.js';

const close = (a: ArrayLike<number>, b: number[], tol = 1e-6) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `[${i}] ${a[i]} vs ${b[i]}`);
};

test('FedAvgM: two steps of SGD with momentum match the hand-computed values', () => {
  const opt = new MetaOptimizer({ kind: 'sgd', lr: 0.5, momentum: 0.9 });
  const p = Float32Array.from([1, -1]);
  opt.apply(p, Float32Array.from([0.2, -0.4])); // m = d = [0.2, -0.4]; p += 0.5 m
  close(p, [1.1, -1.2]);
  opt.apply(p, Float32Array.from([0.1, 0])); // m = 0.9 [0.2,-0.4] + [0.1, 0] = [0.28, -0.36]
  close(p, [1.1 + 0.14, -1.2 - 0.18]);
});

test('FedAdagrad: m and v per Reddi et al. (beta1 0.9, tau 1e-3), two steps by hand', () => {
  const opt = new MetaOptimizer({ kind: 'adagrad', lr: 0.1, beta1: 0.9, epsilon: 1e-3 });
  const p = Float32Array.from([0, 0]);
  const d1 = [0.5, -2];
  opt.apply(p, Float32Array.from(d1));
  // m1 = 0.1 d1 = [0.05, -0.2]; v1 = d1^2 = [0.25, 4]; step = 0.1 m1 / (sqrt(v1) + 1e-3)
  const s1 = [(0.1 * 0.05) / (0.5 + 1e-3), (0.1 * -0.2) / (2 + 1e-3)];
  close(p, s1);
  const d2 = [0.5, 1];
  opt.apply(p, Float32Array.from(d2));
  const m2 = [0.9 * 0.05 + 0.1 * 0.5, 0.9 * -0.2 + 0.1 * 1];
  const v2 = [0.25 + 0.25, 4 + 1];
  close(p, [s1[0]! + (0.1 * m2[0]!) / (Math.sqrt(v2[0]!) + 1e-3), s1[1]! + (0.1 * m2[1]!) / (Math.sqrt(v2[1]!) + 1e-3)]);
});

test('FedYogi: v moves by (1 - beta2) d^2 towards d^2 (sign rule), two steps by hand', () => {
  const opt = new MetaOptimizer({ kind: 'yogi', lr: 0.1, beta1: 0.9, beta2: 0.99, epsilon: 1e-3 });
  const p = Float32Array.from([0]);
  opt.apply(p, Float32Array.from([2]));
  // v0 = 0 < d^2 = 4: v1 = 0 - 0.01 * 4 * sign(0 - 4) = 0.04; m1 = 0.2
  const s1 = (0.1 * 0.2) / (Math.sqrt(0.04) + 1e-3);
  close(p, [s1]);
  opt.apply(p, Float32Array.from([0.1]));
  // v1 = 0.04 > d^2 = 0.01: v2 = 0.04 - 0.01 * 0.01 = 0.0399; m2 = 0.9 * 0.2 + 0.1 * 0.1 = 0.19
  close(p, [s1 + (0.1 * 0.19) / (Math.sqrt(0.0399) + 1e-3)]);
});

test('adaptive optimisers checkpoint and resume on the same trajectory; a kind mismatch is refused', () => {
  for (const kind of ['adagrad', 'yogi'] as const) {
    const a = new MetaOptimizer({ kind, lr: 0.1 });
    const pa = Float32Array.from([1, 2, 3]);
    a.apply(pa, Float32Array.from([0.1, -0.2, 0.3]));
    const b = MetaOptimizer.fromState({ kind, lr: 0.1 }, a.state(), 3);
    const pb = pa.slice();
    a.apply(pa, Float32Array.from([0.3, 0.1, -0.1]));
    b.apply(pb, Float32Array.from([0.3, 0.1, -0.1]));
    assert.deepEqual([...pb], [...pa]);
    assert.throws(() => MetaOptimizer.fromState({ kind: 'adam', lr: 0.1 }, a.state()), /state.kind/);
  }
  assert.throws(() => new MetaOptimizer({ kind: 'rmsprop' as 'sgd', lr: 1 }), /serverOptimizer.kind: expected one of sgd, adam, adagrad, yogi/);
});
