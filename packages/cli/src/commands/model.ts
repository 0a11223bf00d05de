/**
 * `fedmeta predict --model DIR --data FILE.csv [--out FILE.csv]` and
 * `fedmeta evaluate --model DIR --data FILE.csv`: use a model directory written by the
 * coordinator or a site (model-files.ts). The file's columns are taken by name in the
 * manifest's feature order and standardised with the manifest's statistics, exactly as
 * the federation fed the model; evaluate computes accuracy and loss the way the
 * coordinator does, so the numbers match its report on the same file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { ModelManifest } from '@fedmeta/server';
import { CliError } from '../errors.js';
import { flagString, parseFlags } from '../config/args.js';
import { readModelDir } from '../model-files.js';

const HELP = `usage:
  fedmeta predict --model DIR --data FILE.csv [--out FILE.csv]
      one row per input row: the predicted class name and each class's probability
      (to stdout, or to --out)
  fedmeta evaluate --model DIR --data FILE.csv [--json]
      accuracy and mean cross-entropy on a labelled file (label column from the manifest)`;

const FLAGS = { model: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

interface Loaded {
  x: Float32Array;
  y: Int32Array | null;
  count: number;
}

/** Reads the CSV in the manifest's feature order, standardised as the federation did. */
async function loadFor(manifest: ModelManifest, path: string, needLabels: boolean): Promise<Loaded> {
  const meta = await import('@fedmeta/meta');
  const schema = manifest.data;
  if (!schema || schema.kind !== 'table') throw new CliError(`--model: the manifest has no table schema (the model was trained on ${schema ? 'tensor' : 'unannounced'} data); predict/evaluate read CSV tables`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`--data: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const header = text.slice(0, text.indexOf('\n')).split(',').map((h) => h.trim().replace(/^"|"$/g, ''));
  const hasLabel = header.includes(schema.labelColumn);
  if (needLabels && !hasLabel) throw new CliError(`--data: ${path} has no label column "${schema.labelColumn}" to evaluate against`);
  // A file without labels gets a placeholder label column so the loader can read it.
  const body = hasLabel ? text : text.split('\n').map((l, i) => (l.trim() === '' ? l : i === 0 ? `${l.trimEnd()},${schema.labelColumn}` : `${l.trimEnd()},${schema.classNames[0]}`)).join('\n');
  let t;
  try {
    t = meta.parseCsv(body, { labelColumn: schema.labelColumn, featureColumns: schema.featureColumns, labels: schema.classNames, standardise: false });
  } catch (err) {
    throw new CliError(`--data: ${path}: ${(err as Error).message}`);
  }
  const st = manifest.standardisation;
  // meta's standardise, as the coordinator applied it to its evaluation data.
  return { x: st ? meta.standardise(t.dataset, st).dataset.x : t.dataset.x, y: hasLabel ? t.dataset.y : null, count: t.dataset.count };
}

function modelParts(meta: typeof import('@fedmeta/meta'), manifest: ModelManifest) {
  const spec = meta.createModel(manifest.model as unknown as Parameters<typeof meta.createModel>[0]);
  const algorithm = meta.createAlgorithm(manifest.algorithm as Parameters<typeof meta.createAlgorithm>[0], spec);
  return { spec, algorithm };
}

export async function run(argv: string[], command: 'predict' | 'evaluate' = 'predict'): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  if (f.help) {
    console.log(HELP);
    return 0;
  }
  const dir = flagString(f.model);
  const data = flagString(f.data);
  if (!dir || !data) throw new CliError(`--model DIR and --data FILE are required\n\n${HELP}`);
  const { manifest, params } = readModelDir(dir);
  const meta = await import('@fedmeta/meta');
  await meta.selectBackend({ prefer: 'auto', log: null });
  const { spec, algorithm } = modelParts(meta, manifest);
  const loaded = await loadFor(manifest, data, command === 'evaluate');
  const ds = { x: loaded.x, y: loaded.y ?? new Int32Array(loaded.count), count: loaded.count, shape: [...spec.inputShape], numClasses: spec.numClasses };
  if (command === 'evaluate') {
    const { heldOutLoss } = await import('@fedmeta/server');
    const accuracy = algorithm.accuracy(params, ds, ds);
    const loss = heldOutLoss(algorithm, spec, params, ds);
    if (f.json === true) process.stdout.write(JSON.stringify({ rows: loaded.count, accuracy, loss, round: manifest.round }) + '\n');
    else process.stdout.write(`${loaded.count} rows: accuracy ${accuracy}, loss ${loss ?? 'n/a'} (model of round ${manifest.round} of federation '${manifest.federationId}')\n`);
    return 0;
  }
  const probs = meta.tf.tidy(() => {
    const tensors = [];
    let offset = 0;
    for (const p of spec.params) {
      const size = p.shape.reduce((a, b) => a * b, 1);
      tensors.push(meta.tf.tensor(params.subarray(offset, offset + size), [...p.shape]));
      offset += size;
    }
    const logits = spec.forward(tensors, meta.tf.tensor(ds.x, [ds.count, ...spec.inputShape]));
    return meta.tf.softmax(logits).dataSync() as Float32Array;
  });
  const names = manifest.data?.kind === 'table' ? manifest.data.classNames : Array.from({ length: spec.numClasses }, (_, i) => String(i));
  const lines = [['prediction', ...names.map((n) => `p_${n}`)].join(',')];
  for (let r = 0; r < ds.count; r++) {
    const row = Array.from(probs.subarray(r * names.length, (r + 1) * names.length));
    const best = row.indexOf(Math.max(...row));
    lines.push([names[best], ...row.map((p) => p.toPrecision(6))].join(','));
  }
  const out = flagString(f.out);
  if (out) writeFileSync(out, lines.join('\n') + '\n');
  else process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
