// Test helpers: small synthetic datasets whose features encode the example index, so a
// test can tell which source example ended up where.
import { createDataset, type Dataset } from '../../src/data/dataset.js';

/** counts[c] examples of class c, shape [2]: example i = [i, label]. */
export function labelled(counts: readonly number[], name = 'synthetic'): Dataset {
  const total = counts.reduce((a, b) => a + b, 0);
  const x = new Float32Array(total * 2);
  const y = new Int32Array(total);
  let i = 0;
  // Interleave classes so class order is not the index order.
  const left = [...counts];
  while (i < total) {
    for (let c = 0; c < left.length; c++) {
      if (left[c]! > 0) {
        left[c]! -= 1;
        x[2 * i] = i;
        x[2 * i + 1] = c;
        y[i++] = c;
      }
    }
  }
  return createDataset(x, y, [2], counts.length, name);
}

/** The source index stored in each example of a dataset built by `labelled`. */
export function sourceIds(ds: Dataset): number[] {
  return Array.from({ length: ds.count }, (_, j) => ds.x[2 * j]!);
}

/** Distinct labels present in a dataset, ascending. */
export function labelsOf(ds: Dataset): number[] {
  return [...new Set(ds.y)].sort((a, b) => a - b);
}
