import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { rotate, unrotate, rotationSigns } from '../src/hadamard.js';
import { createDdgEncoder, addModular } from '../src/ddg.js';
import { seededRandom } from '../src/rng.js';

test('property: unrotate(rotate(x)) = x and the norm is preserved, any seed and power-of-two length', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 32 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 1 << 30 }), (seed, logN, salt) => {
      const n = 1 << logN;
      const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + salt));
      const y = Float64Array.from(x);
      const signs = rotationSigns(seed, n);
      rotate(y, signs);
      let nx = 0, ny = 0;
      for (let i = 0; i < n; i++) {
        nx += x[i]! ** 2;
        ny += y[i]! ** 2;
      }
      assert.ok(Math.abs(nx - ny) <= 1e-9 * Math.max(1, nx));
      unrotate(y, signs);
      for (let i = 0; i < n; i++) assert.ok(Math.abs(x[i]! - y[i]!) < 1e-9);
    }),
    { numRuns: 60 },
  );
});

test('property: modular sums of encodings decode to the true sum (within 8 predicted std), any inputs', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 12, max: 32 }),
      fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: 40, maxLength: 40 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      (dim, clients, bits, raw, seed) => {
        let ddg;
        try {
          ddg = createDdgEncoder({ dim, numClients: clients, l2Clip: 1, noiseMultiplier: 0.5, bits });
        } catch {
          return; // too few bits for this many clients: a typed error, covered elsewhere
        }
        const rng = seededRandom(seed, 'prop');
        const u = Float32Array.from(raw.slice(0, dim));
        let norm = 0;
        for (const v of u) norm += v * v;
        norm = Math.sqrt(norm);
        const f = norm > 1 ? 1 / norm : 1;
        let sum: Uint32Array = new Uint32Array(ddg.params.paddedDim);
        for (let c = 0; c < clients; c++) sum = addModular(sum, ddg.encode(u, seed, rng), bits);
        const dec = ddg.decode(sum, seed);
        for (let i = 0; i < dim; i++) {
          const truth = clients * Math.fround(u[i]!) * f;
          assert.ok(Math.abs(dec[i]! - truth) < 8 * ddg.params.sumErrorStddev + 1e-6, `i=${i}: ${dec[i]} vs ${truth}`);
        }
      },
    ),
    { numRuns: 60 },
  );
});
