// Timing and memory of the data layer, printed as a markdown table. Not a test (speed
// targets never go in unit tests): run it once by hand after building:
//   npx tsc -b packages/meta && node packages/meta/dist/test/data/measure-data.js
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { federatedMnist } from '../../src/data/federated.js';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../../src/data/fashion-mnist.js';
import { loadMnist } from '../../src/data/mnist.js';

const rows: string[][] = [];
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const ms = (t: number) => t.toFixed(1);

function time<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const out = fn();
  return [out, performance.now() - t0];
}

const retained = (ds: { x: Float32Array; y: Int32Array }) => `${mb(ds.x.byteLength + ds.y.byteLength)} MB retained`;
const [mnist, tMnist] = time(loadMnist);
rows.push(['loadMnist() first call (parse 10 JSON files)', ms(tMnist), retained(mnist)]);
rows.push(['loadMnist() cached', ms(time(loadMnist)[1]), '']);

// Baseline in the same run: JSON.parse of the same files.
const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
const [, tJson] = time(() => {
  for (let d = 0; d < 10; d++) Float32Array.from((JSON.parse(readFileSync(join(dir, `${d}.json`), 'utf8')) as { data: number[] }).data);
});
rows.push(['JSON.parse of the same files (baseline)', ms(tJson), `ratio ${(tJson / tMnist).toFixed(1)}x slower`]);

for (const [label, opts] of [
  ['federatedMnist 20 clients, 2 classes each, 10+40 per class', { clients: 20, scheme: 'classes', classesPerClient: 2, supportPerClass: 10, queryPerClass: 40, seed: 1 }],
  ['federatedMnist 20 clients, Dirichlet 0.5, support 0.2', { clients: 20, scheme: 'dirichlet', alpha: 0.5, seed: 1 }],
  ['federatedMnist 100 clients, Dirichlet 0.1, 5 per class', { clients: 100, scheme: 'dirichlet', alpha: 0.1, supportPerClass: 5, seed: 1 }],
] as const) {
  federatedMnist(opts); // warm-up
  const [fed, t] = time(() => federatedMnist(opts));
  const examples = fed.clients.reduce((a, c) => a + c.support.count + c.query.count, 0);
  rows.push([label, ms(t), `${examples} client examples of ${mnist.count}`]);
}

if (existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'))) {
  for (const split of ['test', 'train'] as const) {
    const t0 = performance.now();
    const ds = await loadFashionMnist({ split, cache: false });
    const t = performance.now() - t0;
    rows.push([`loadFashionMnist({ split: '${split}' }) (gunzip + decode)`, ms(t),
      `${ds.count} images, ${retained(ds)}`]);
  }
} else {
  rows.push(['loadFashionMnist', 'skipped', `${FASHION_MNIST_DIR} absent`]);
}

console.log(`| operation | ms | notes |\n|---|---:|---|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}`);
console.log(`\nNode ${process.version}, ${new Date().toISOString()}`);
