/**
 * Server unmask bench: time of the server's final step (closing the Unmasking round:
 * Shamir reconstruction of every needed b_u and s_sk, X25519 + HKDF for each pairwise
 * seed of a dropped client, regeneration of all those masks, and the sum of the masked
 * inputs) for n in {10, 100}, m in {100k, 1M}, 0% and 30% dropout. The 30% drop out
 * after ShareKeys - the expensive case: their s_sk is reconstructed and every pairwise
 * mask they share with a survivor regenerated.
 *
 * Reported as a ratio to Node's raw AES-128-CTR keystream time for the same number of
 * mask bytes the server regenerates (|U3| self masks + the pairwise masks of dropped
 * clients), measured in the same run right after (median of 3). Also: the upload of one
 * masked input in bytes / 4m.
 *
 * n = 10 uses the complete graph (classic SecAgg, t = 6); n = 100 uses SecAgg+ with the
 * parameter finder's choice for 5% corrupt / 30% dropout: k = 26, t = 6.
 * Run: `npm run bench -w @fedmeta/secagg` (or `node dist/bench/unmask.js` in the package).
 */
import { createCipheriv, randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ready, systemRng } from '../src/index.js';
import {
  buildGraph, encodeMessage, findGraphParameters, SecAggClient, SecAggServer, type ClientMessage, type SecAggConfig, type ServerOutputs,
} from '../src/protocol/index.js';

const CHUNK = 65536;
const ZERO = Buffer.alloc(CHUNK);

function rawKeystream(masks: number, bytes: number): number {
  const t0 = performance.now();
  let sink = 0;
  for (let i = 0; i < masks; i++) {
    const c = createCipheriv('aes-128-ctr', randomFillSync(Buffer.alloc(16)), Buffer.alloc(16));
    for (let off = 0; off < bytes; off += CHUNK) sink ^= c.update(off + CHUNK <= bytes ? ZERO : ZERO.subarray(0, bytes - off))[0]!;
  }
  if (sink === 256) console.log('');
  return performance.now() - t0;
}

interface Row {
  n: number;
  m: number;
  graph: string;
  dropout: string;
  survivors: number;
  masks: number;
  unmaskMs: number;
  rawMs: number;
  uploadRatio: number;
}

function runOne(n: number, m: number, degree: number, threshold: number, dropFraction: number): Row {
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const config: SecAggConfig = { sessionNonce: randomFillSync(new Uint8Array(32)), clientIds: ids, threshold, bits: 32, vectorLength: m, degree, mode: 'semi-honest' };
  const input = randomFillSync(new Uint32Array(m));
  const server = new SecAggServer(config, systemRng);
  const clients = new Map(ids.map((id) => [id, new SecAggClient({ id, config, rng: systemRng, input })]));
  // drop every k-th client so the dropped are spread around the ring
  const dropCount = Math.round(dropFraction * n);
  const dropped = new Set(ids.filter((_, i) => i % Math.round(1 / Math.max(dropFraction, 1e-9)) === 0).slice(0, dropCount));
  const deliver = (out: ServerOutputs, skip = new Set<number>()): Map<number, ClientMessage[]> => {
    const replies = new Map<number, ClientMessage[]>();
    for (const { to, message } of out.sends) if (!skip.has(to)) replies.set(to, clients.get(to)!.receive(message));
    return replies;
  };
  for (const id of ids) server.receive(id, clients.get(id)!.start());
  const shares = deliver(server.closeRound());
  for (const [id, [msg]] of shares) server.receive(id, msg!);
  const masked = deliver(server.closeRound(), dropped);
  let uploadBytes = 0;
  for (const [id, [msg]] of masked) {
    if (uploadBytes === 0) uploadBytes = encodeMessage(msg!).length;
    server.receive(id, msg!);
  }
  for (const id of dropped) server.clientDropped(id);
  const unmask = deliver(server.closeRound());
  for (const [id, [msg]] of unmask) server.receive(id, msg!);
  const t0 = performance.now();
  server.closeRound();
  const unmaskMs = performance.now() - t0;
  if (server.state !== 'completed') throw new Error(`bench session did not complete: ${server.abortDetail}`);
  const graph = buildGraph(ids, degree, server.sessionId!);
  const survivors = server.result!.survivors.length;
  let pairwise = 0;
  for (const v of dropped) pairwise += graph.neighbours(v).filter((u) => !dropped.has(u)).length;
  const masks = survivors + pairwise;
  const raws = [rawKeystream(masks, 4 * m), rawKeystream(masks, 4 * m), rawKeystream(masks, 4 * m)].sort((a, b) => a - b);
  return {
    n, m, graph: graph.complete ? `complete, t=${threshold}` : `Harary k=${degree}, t=${threshold}`,
    dropout: `${Math.round(100 * dropped.size / n)}%`, survivors, masks, unmaskMs, rawMs: raws[1]!, uploadRatio: uploadBytes / (4 * m),
  };
}

await ready();
const plus = findGraphParameters({ n: 100, corruptFraction: 0.05, dropoutFraction: 0.3 })!;
const rows: Row[] = [];
for (const [n, degree, t] of [[10, 0, 6], [100, plus.degree, plus.threshold]] as const) {
  for (const m of [100_000, 1_000_000]) {
    for (const drop of [0, 0.3]) {
      rows.push(runOne(n, m, degree, t, drop));
      const r = rows[rows.length - 1]!;
      console.error(`done n=${n} m=${m} drop=${drop}: ${r.unmaskMs.toFixed(0)} ms`);
    }
  }
}
console.log('\n### SecAgg server unmask time vs raw keystream (same run)\n');
console.log('| n | m | graph | dropout | survivors | masks regenerated | unmask ms | raw keystream ms | ratio | upload / 4m |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.n} | ${r.m.toLocaleString('en-US')} | ${r.graph} | ${r.dropout} | ${r.survivors} | ${r.masks} | ${r.unmaskMs.toFixed(1)} | ${r.rawMs.toFixed(1)} | ${(r.unmaskMs / r.rawMs).toFixed(2)}x | ${r.uploadRatio.toFixed(5)} |`);
}
console.log('\nunmask = closing the Unmasking round (Shamir reconstruction, X25519+HKDF per dropped pair, mask regeneration, sum of |U3| inputs).');
console.log('raw keystream = Node AES-128-CTR for the same number of masks x 4m bytes in 64 KiB update() calls, median of 3.');
