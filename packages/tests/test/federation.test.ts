/**
 * (a) A multi-round federation of 8 clients with SecAgg+ (k = 4, t = 3) and distributed
 * DP, in which clients are killed (real socket closes) after AdvertiseKeys, after
 * ShareKeys, after sending their masked input and during Unmasking; the first one
 * reconnects and rejoins. Every completed round's unmasked aggregate must equal, bit for
 * bit, the mod-2^32 sum of the survivors' encoded inputs, and the model must improve on
 * held-out MNIST.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '@fedmeta/server';
import { type ClientEvent } from '@fedmeta/client';
import { runClientWithHooks, type ClientTestHooks } from '@fedmeta/client/testing';
import { createAlgorithm, createModel, type ModelConfig } from '@fedmeta/meta';
import { openLedger } from '@fedmeta/dp';
import { baseServerOptions, EventLog, institutions, mnistFederation, SMALL_MLP, sumMod32 } from '../src/harness.js';

test('SecAgg+ with DP survives dropouts in every phase, a client rejoins, aggregates are exact and the model improves', { timeout: 180_000 }, async () => {
  const N = 8;
  const ROUNDS = 4;
  const insts = institutions(N);
  const fed = mnistFederation(N, 11);
  const dir = mkdtempSync(join(tmpdir(), 'fedmeta-e2e-a-'));
  const log = new EventLog();
  const encoded = new Map<string, Map<number, Uint32Array>>();
  const aggregates: { round: number; sum: Uint32Array; survivors: string[]; dropped: string[] }[] = [];
  try {
    const server = await startServer(
      baseServerOptions(insts, {
        rounds: ROUNDS,
        aggregation: { mode: 'secagg+', degree: 4, threshold: 3 },
        dp: { l2Clip: 3, noiseMultiplier: 0.02, delta: 1e-5, epsilonBudget: 1e9, bits: 32 },
        checkpointDir: dir,
        evaluate: { data: fed.test },
        logger: log.logger,
        onAggregate: (round, a) => aggregates.push({ round, ...a }),
      }),
    );
    const hooks: Record<number, ClientTestHooks> = {
      0: { dropAfterPhase: { phase: 'advertise-keys', round: 1, reconnect: true } },
      1: { dropAfterPhase: { phase: 'share-keys', round: 1 } },
      2: { dropAfterPhase: { phase: 'masked-input', round: 2 } },
      3: { dropAfterPhase: { phase: 'unmasking', round: 3 } },
    };
    const clientEvents: ClientEvent[] = [];
    const clients = insts.map((inst, i) =>
      runClientWithHooks(
        {
          url: server.url,
          identity: inst.keys,
          federationId: 'e2e',
          data: fed.clients[i]!,
          reconnect: { baseDelayMs: 50, maxDelayMs: 500 },
          backend: 'cpu',
          logger: (e) => {
            clientEvents.push(e);
            if (process.env['FEDMETA_E2E_VERBOSE']) console.log('client', JSON.stringify(e));
          },
        },
        {
          ...hooks[i],
          onEncodedInput: (round, v) => {
            const m = encoded.get(inst.name) ?? new Map<number, Uint32Array>();
            m.set(round, v);
            encoded.set(inst.name, m);
          },
        },
      ),
    );
    const summary = await server.done;
    const clientSummaries = await Promise.all(clients.map((c) => c.done));

    // Every round completed despite the dropouts.
    assert.equal(summary.endReason, 'completed');
    assert.deepEqual(summary.rounds.map((r) => r.status), Array(ROUNDS).fill('completed'));
    assert.ok(summary.rounds.every((r) => r.mode === 'secagg+' || r.cohort <= 5), 'SecAgg+ graph used while the cohort allowed it');
    assert.equal(summary.rounds[0]!.mode, 'secagg+');
    assert.equal(summary.rounds[0]!.degree, 4);

    // The drops happened where they were injected (real socket closes seen by the server).
    const drops = log.named('round.dropped').map((e) => `${e.round}:${e.peer}:${e.state}`);
    const injected = clientEvents.filter((e) => e.event === 'test.drop').map((e) => `${e.round}:${e.client}:${e.phase}`).sort();
    assert.deepEqual(injected, ['1:inst-0:advertise-keys', '1:inst-1:share-keys', '2:inst-2:masked-input', '3:inst-3:unmasking']);
    // The server saw each as a drop of that round (its machine state may still be the
    // phase the client already answered, while slower clients are still in it).
    assert.ok(drops.some((d) => /^1:inst-0:(advertise-keys|share-keys)$/.test(d)), `inst-0 dropped after advertise: ${drops}`);
    assert.ok(drops.some((d) => /^1:inst-1:(share-keys|masked-input)$/.test(d)), `inst-1 dropped after share keys: ${drops}`);
    assert.ok(drops.some((d) => /^2:inst-2:(masked-input|unmasking)$/.test(d)), `inst-2 dropped after masked input: ${drops}`);
    assert.ok(drops.includes('3:inst-3:unmasking'), `inst-3 dropped during unmasking: ${drops}`);

    // inst-0 reconnected and contributed to later rounds; the others stayed away.
    assert.ok(aggregates.some((a) => a.round >= 2 && a.survivors.includes('inst-0')), 'inst-0 rejoined a later round');
    for (const a of aggregates) {
      if (a.round >= 2) assert.ok(!a.survivors.includes('inst-1'));
    }
    // inst-2 sent its masked input in round 2 then vanished: its input IS in round 2's sum.
    assert.ok(aggregates.find((a) => a.round === 2)!.survivors.includes('inst-2'));
    assert.ok(aggregates.find((a) => a.round === 3)!.survivors.includes('inst-3'));
    assert.ok(!aggregates.find((a) => a.round === 1)!.survivors.includes('inst-1'));

    // Bit-exact: the unmasked aggregate is the plain mod-2^32 sum of the survivors' encoded inputs.
    assert.equal(aggregates.length, ROUNDS);
    for (const a of aggregates) {
      const inputs = a.survivors.map((name) => encoded.get(name)?.get(a.round));
      assert.ok(inputs.every((v) => v instanceof Uint32Array), `round ${a.round}: every survivor's input recorded`);
      const expected = sumMod32(inputs as Uint32Array[]);
      assert.equal(a.sum.length, expected.length);
      assert.ok(Buffer.from(a.sum.buffer).equals(Buffer.from(expected.buffer)), `round ${a.round}: aggregate differs from the survivors' plaintext sum`);
    }

    // The model improves on held-out data.
    const spec = createModel(SMALL_MLP as unknown as ModelConfig);
    const algorithm = createAlgorithm('fedavg', spec);
    const initialAcc = algorithm.accuracy(spec.initParams(1), fed.test, fed.test);
    const finalAcc = summary.rounds.at(-1)!.accuracy!;
    assert.ok(finalAcc > initialAcc + 0.1, `accuracy ${initialAcc.toFixed(3)} -> ${finalAcc.toFixed(3)}`);

    // DP: one ledger record per released round, epsilon reported.
    const ledger = openLedger(join(dir, 'ledger.json'), { readOnly: true });
    assert.deepEqual(ledger.events.map((e) => e.round), [1, 2, 3, 4]);
    assert.ok(summary.epsilon! > 0 && Math.abs(summary.epsilon! - ledger.spent()) < 1e-9);
    ledger.close();

    // Clients: the killed ones ended, the others saw the federation through.
    for (const i of [4, 5, 6, 7, 0]) assert.equal(clientSummaries[i]!.endReason, 'federation-done', `client ${i}`);
    for (const i of [1, 2, 3]) assert.equal(clientSummaries[i]!.endReason, 'closed', `client ${i}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
