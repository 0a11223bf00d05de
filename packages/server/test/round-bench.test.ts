/**
 * The straggler bench on its own: strikes, the doubling bench period and its cap,
 * forgiveness, and members keyed by identity rather than by connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StragglerBench, type Laggard } from '../src/round.js';

interface Site {
  name: string;
  key: string;
}
const site = (name: string): Site => ({ name, key: `pk-${name}` });
const key = (m: Site) => m.key;
const lag = (member: Site, reason = 'no training progress for 5000 ms (limit 5000 ms)'): Laggard<Site> => ({ member, phase: 'training', reason });

test('bench: each miss in a row doubles the bench period, up to maxBenchRounds', () => {
  const bench = new StragglerBench({ benchRounds: 1, maxBenchRounds: 8 });
  const a = site('a');
  const b = site('b');
  const periods: number[] = [];
  // a lags in every round it is in; it returns to a cohort as soon as its bench ends.
  let round = 1;
  for (let miss = 1; miss <= 6; miss++) {
    const v = bench.update(round, [a, b], [lag(a)], key).get(a)!;
    assert.equal(v.strikes, miss);
    assert.equal(v.untilRound, round + v.rounds);
    periods.push(v.rounds);
    assert.equal(bench.isBenched(a.key, round + v.rounds), true, 'out up to and including untilRound');
    assert.equal(bench.isBenched(a.key, round + v.rounds + 1), false, 'back after untilRound');
    round += v.rounds + 1;
  }
  assert.deepEqual(periods, [1, 2, 4, 8, 8, 8]);
  assert.equal(bench.isBenched(b.key, round), false, 'a punctual member is never benched');
});

test('bench: the period starts at benchRounds and the cap applies to it too', () => {
  const bench = new StragglerBench({ benchRounds: 3, maxBenchRounds: 10 });
  assert.deepEqual([1, 2, 3, 4].map((k) => bench.period(k)), [3, 6, 10, 10]);
  const a = site('a');
  assert.deepEqual([10, 20, 30].map((r) => bench.update(r, [a], [lag(a)], key).get(a)!.rounds), [3, 6, 10]);
});

test('bench: a member that takes part in a round without lagging is forgiven: its next miss starts over', () => {
  const bench = new StragglerBench({ benchRounds: 1, maxBenchRounds: 8 });
  const a = site('a');
  bench.update(1, [a], [lag(a)], key);
  bench.update(3, [a], [lag(a)], key);
  assert.equal(bench.get(a.key)!.strikes, 2);
  // Round 6: a takes part and delivers.
  assert.equal(bench.update(6, [a], [], key).size, 0);
  assert.equal(bench.get(a.key), undefined);
  const v = bench.update(7, [a], [lag(a)], key).get(a)!;
  assert.deepEqual([v.strikes, v.rounds], [1, 1]);
});

test('bench: a benched member outside the cohort keeps its strikes', () => {
  const bench = new StragglerBench({ benchRounds: 1, maxBenchRounds: 8 });
  const a = site('a');
  const b = site('b');
  bench.update(1, [a, b], [lag(a)], key);
  bench.update(2, [b], [], key); // a is benched, b delivers
  assert.equal(bench.get(a.key)!.strikes, 1);
  assert.equal(bench.update(3, [a, b], [lag(a)], key).get(a)!.rounds, 2);
});

test('bench: strikes follow the identity key, not the connection object', () => {
  const bench = new StragglerBench({ benchRounds: 1, maxBenchRounds: 8 });
  bench.update(1, [site('a')], [lag(site('a'))], key);
  const reconnected = site('a');
  const v = bench.update(3, [reconnected], [lag(reconnected)], key).get(reconnected)!;
  assert.equal(v.strikes, 2);
  assert.equal(v.rounds, 2);
});

test('bench: benchRounds 0 disables benching', () => {
  const bench = new StragglerBench({ benchRounds: 0, maxBenchRounds: 8 });
  const a = site('a');
  for (let r = 1; r <= 3; r++) assert.equal(bench.update(r, [a], [lag(a)], key).size, 0);
  assert.equal(bench.isBenched(a.key, 2), false);
  assert.deepEqual(bench.benched(2), []);
});

test('bench: benched(round) lists the members left out of that round, with the reason of their last miss', () => {
  const bench = new StragglerBench({ benchRounds: 1, maxBenchRounds: 8 });
  const a = site('a');
  const b = site('b');
  const c = site('c');
  bench.update(4, [a, b, c], [lag(a, 'missed the share-keys deadline (10000 ms)'), lag(b)], key);
  bench.update(5, [c], [lag(c)], key);
  assert.deepEqual(
    bench.benched(5).map((e) => [e.name, e.untilRound, e.reason]),
    [
      ['a', 5, 'missed the share-keys deadline (10000 ms)'],
      ['b', 5, 'no training progress for 5000 ms (limit 5000 ms)'],
      ['c', 6, 'no training progress for 5000 ms (limit 5000 ms)'],
    ],
  );
  assert.deepEqual(bench.benched(6).map((e) => e.name), ['c']);
});
