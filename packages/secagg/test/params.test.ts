import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkDegree, findGraphParameters, hypergeometricLowerTail, hypergeometricPmf, hypergeometricUpperTail, logFactorial,
} from '../src/protocol/index.js';
import { InvalidArgumentError } from '../src/errors.js';

// Published figures of Google's graph_parameter_finder (FIELD-NOTES; Bell et al. CCS'20):
// 2^-40 security, 2^-20 failure, semi-honest server.
const PUBLISHED: [n: number, corrupt: number, dropout: number, k: number, t: number][] = [
  [100, 0.05, 0.05, 12, 6],
  [100, 0.05, 0.33, 28, 6],
  [1000, 0.05, 0.05, 30, 17],
  [1000, 0.05, 0.33, 72, 24],
  [10_000, 0.05, 0.05, 34, 20],
  [10_000, 0.05, 0.33, 86, 29],
  [1_000_000, 0.05, 0.05, 38, 22],
  [1_000_000, 0.05, 0.33, 102, 34],
];

test('params: reproduces the published (k, t) for n = 10^2..10^6', () => {
  for (const [n, corruptFraction, dropoutFraction, k, t] of PUBLISHED) {
    assert.deepEqual(findGraphParameters({ n, corruptFraction, dropoutFraction }), { n, degree: k, threshold: t }, `n=${n} gamma=${corruptFraction} delta=${dropoutFraction}`);
  }
});

test('params: the returned (k, t) satisfy every bound and k-2 does not (soundness and minimality)', () => {
  const cases = [...PUBLISHED.slice(0, 6).map(([n, g, d]) => [n, g, d] as const), [30, 0.1, 0.1] as const, [500, 0.2, 0.1] as const];
  for (const [n, gamma, delta] of cases) {
    const req = { n, corruptFraction: gamma, dropoutFraction: delta };
    const p = findGraphParameters(req);
    if (p === null) continue;
    const { degree: k, threshold: t } = p;
    const corrupt = Math.floor(gamma * n + 1e-9);
    const alive = Math.ceil((1 - delta) * n - 1e-9);
    // security: P[some client has >= t corrupt neighbours] <= n * P[A >= t] < 2^-41
    assert.ok(n * hypergeometricUpperTail(n, corrupt, k, t) < 2 ** -41, `security n=${n}`);
    // correctness: P[some client has < t surviving neighbours] <= n * P[S <= t-1] < 2^-20
    assert.ok(n * hypergeometricLowerTail(n, alive, k, t - 1) < 2 ** -20, `correctness n=${n}`);
    assert.ok(checkDegree(req, k).logDisconnection < -41 * Math.LN2);
    assert.ok(t >= 2 && t <= k);
    if (k > 2) assert.equal(checkDegree(req, k - 2).threshold, null, `k-2 must fail for n=${n}`);
  }
});

test('params: semi-malicious needs a larger threshold (> k/2) for the same n', () => {
  const honest = findGraphParameters({ n: 1000, corruptFraction: 0.05, dropoutFraction: 0.05 })!;
  const malicious = findGraphParameters({ n: 1000, corruptFraction: 0.05, dropoutFraction: 0.05, adversary: 'semi-malicious' })!;
  assert.ok(malicious.degree >= honest.degree);
  assert.ok(2 * malicious.threshold > malicious.degree);
});

test('params: hypergeometric helpers are exact on small cases', () => {
  // Hyp(10, 4, 3): P[X = 2] = C(4,2) C(6,1) / C(10,3) = 36/120
  assert.ok(Math.abs(hypergeometricPmf(10, 4, 3, 2) - 0.3) < 1e-14);
  let total = 0;
  for (let x = 0; x <= 3; x++) total += hypergeometricPmf(10, 4, 3, x);
  assert.ok(Math.abs(total - 1) < 1e-14);
  assert.ok(Math.abs(hypergeometricUpperTail(10, 4, 3, 2) + hypergeometricLowerTail(10, 4, 3, 1) - 1) < 1e-14);
  assert.ok(Math.abs(logFactorial(10) - Math.log(3628800)) < 1e-12);
  // Stirling branch agrees with summation at the switch-over
  let sum = 0;
  for (let i = 1; i <= 5000; i++) sum += Math.log(i);
  assert.ok(Math.abs(logFactorial(5000) - sum) / sum < 1e-13);
});

test('params: infeasible and invalid requirements', () => {
  assert.equal(findGraphParameters({ n: 10, corruptFraction: 0.3, dropoutFraction: 0.6 }), null, 'small n: use the complete graph');
  for (const bad of [
    { n: 0, corruptFraction: 0.1, dropoutFraction: 0.1 },
    { n: 100, corruptFraction: -0.1, dropoutFraction: 0.1 },
    { n: 100, corruptFraction: 0.5, dropoutFraction: 0.5 },
    { n: 100, corruptFraction: 0.1, dropoutFraction: Number.NaN },
  ]) {
    assert.throws(() => findGraphParameters(bad), InvalidArgumentError);
  }
});
