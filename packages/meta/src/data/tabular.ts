// Tabular data an institution brings itself: CSV (with a header row) or JSON, one label
// column and numeric feature columns. Federation-friendly: the label list and the
// standardisation statistics are returned, and can be passed in, so every site can use
// the same label ids and the same feature scaling.
import { readFile } from 'node:fs/promises';
import { checkObject, describe } from './checks.js';
import { type Dataset } from './dataset.js';
import { DataArgumentError, DataError, DatasetMissingError, TabularError } from './errors.js';
import { parseCsvRecords } from './csv.js';
import { type Standardisation, standardise } from './standardise.js';

/** Options of the tabular loaders. */
export interface TabularOptions {
  /** Name of the label column (for JSON records: the label key). */
  labelColumn: string;
  /** Feature columns in the order wanted (default: every other column, in header order). */
  featureColumns?: string[];
  /**
   * Label list shared by the federation: label id = position in this list, and an
   * unknown label is an error. Default: integer labels (all of the form 0, 1, 2, ...,
   * below MAX_INTEGER_LABELS) keep their value as id (labels '0'..'max'); any other labels
   * are sorted (numerically if all numeric, else by code unit) and numbered in that order.
   */
  labels?: string[];
  /** true: standardise with this data's mean/std; an object: apply shared statistics. */
  standardise?: boolean | Standardisation;
  /** Dataset name. */
  name?: string;
}

/** A loaded table. */
export interface TabularData {
  dataset: Dataset;
  /** labels[id] is the original label of class id. */
  labels: string[];
  /** Feature column names in feature order. */
  featureNames: string[];
  /** Present when standardisation was applied: the statistics used. */
  standardisation?: Standardisation;
}

/** Tokens read as a missing value (reported as such rather than as "non-numeric"). */
const MISSING = new Set(['', 'na', 'n/a', 'nan', 'null', 'none', '?']);
/**
 * Integer labels below this keep their value as class id; larger ones are treated like
 * any other label (sorted, numbered), so one stray "99999999" cannot allocate 10^8 classes.
 */
export const MAX_INTEGER_LABELS = 10000;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses CSV text (RFC 4180: quoted fields, doubled quotes, CRLF or LF; a header row).
 * @throws TabularError 'TABULAR_PARSE' (ragged rows, bad quoting), 'TABULAR_UNKNOWN_COLUMN',
 *   'TABULAR_MISSING_VALUE' / 'TABULAR_NON_NUMERIC' naming row (1-based, header
 *   excluded) and column, 'TABULAR_UNKNOWN_LABEL'; DataArgumentError on bad options.
 */
export function parseCsv(text: string, options: TabularOptions, delimiter = ','): TabularData {
  if (typeof text !== 'string') throw new DataArgumentError(`text must be a string, got ${describe(text)}`);
  const records = parseCsvRecords(text, delimiter);
  const [header, ...rows] = records;
  if (!header) throw new TabularError('TABULAR_PARSE', undefined, undefined, 'CSV has no header row');
  const names = header.fields.map((h) => h.trim());
  rows.forEach((r, i) => {
    if (r.fields.length !== names.length) {
      throw new TabularError('TABULAR_PARSE', i + 1, undefined,
        `row ${i + 1} (line ${r.line}) has ${r.fields.length} fields, the header has ${names.length}`);
    }
  });
  return buildTable(names, rows.map((r) => r.fields), options);
}

/**
 * Builds a table from parsed JSON: an array of records ({ "age": 41, "label": "sick" })
 * or { x: number[][], y: (number | string)[] } (features named f0, f1, ...; labelColumn
 * is then ignored and may be omitted).
 * @throws TabularError 'TABULAR_PARSE' for any other shape, and parseCsv's cell errors.
 */
export function parseJsonTable(value: unknown, options: Partial<TabularOptions> = {}): TabularData {
  const opts = checkObject<Partial<TabularOptions>>('options', options);
  if (Array.isArray(value)) {
    if (typeof opts.labelColumn !== 'string') {
      throw new DataArgumentError('options.labelColumn is required for an array of records');
    }
    const records = value.map((r, i) => {
      if (typeof r !== 'object' || r === null || Array.isArray(r)) {
        throw new TabularError('TABULAR_PARSE', i + 1, undefined, `record ${i + 1} is not an object`);
      }
      return r as Record<string, unknown>;
    });
    const names = opts.featureColumns
      ? [opts.labelColumn, ...opts.featureColumns]
      : [...new Set(records.flatMap((r) => Object.keys(r)))];
    if (!names.includes(opts.labelColumn)) names.push(opts.labelColumn);
    const rows = records.map((r) => names.map((n) => r[n]));
    return buildTable(names, rows, opts as TabularOptions);
  }
  if (typeof value === 'object' && value !== null && Array.isArray((value as { x?: unknown }).x) &&
      Array.isArray((value as { y?: unknown }).y)) {
    const { x, y } = value as { x: unknown[]; y: unknown[] };
    if (x.length !== y.length) {
      throw new TabularError('TABULAR_PARSE', undefined, undefined, `x has ${x.length} rows but y has ${y.length} labels`);
    }
    const width = Array.isArray(x[0]) ? x[0].length : 0;
    x.forEach((row, i) => {
      if (!Array.isArray(row) || row.length !== width) {
        throw new TabularError('TABULAR_PARSE', i + 1, undefined, `x[${i}] is not an array of ${width} values`);
      }
    });
    const featureNames = Array.from({ length: width }, (_, j) => `f${j}`);
    const labelColumn = '__label__';
    const rows = x.map((row, i) => [...(row as unknown[]), y[i]]);
    return buildTable([...featureNames, labelColumn], rows, { ...opts, labelColumn, featureColumns: featureNames });
  }
  throw new TabularError('TABULAR_PARSE', undefined, undefined,
    'JSON must be an array of records or an object { x: number[][], y: [...] }');
}

/** Reads a CSV file; see {@link parseCsv}. @throws DatasetMissingError when absent. */
export async function loadCsv(path: string, options: TabularOptions, delimiter = ','): Promise<TabularData> {
  return parseCsv(await readText(path), { name: baseName(path), ...options }, delimiter);
}

/** Reads a JSON file; see {@link parseJsonTable}. @throws TabularError 'TABULAR_PARSE' on invalid JSON. */
export async function loadJsonTable(path: string, options: Partial<TabularOptions> = {}): Promise<TabularData> {
  const text = await readText(path);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new TabularError('TABULAR_PARSE', undefined, undefined, `${path}: not valid JSON (${(cause as Error).message})`);
  }
  return parseJsonTable(value, { name: baseName(path), ...options });
}

function buildTable(names: string[], rows: unknown[][], options: TabularOptions): TabularData {
  const opts = checkObject<TabularOptions>('options', options);
  if (typeof opts.labelColumn !== 'string') throw new DataArgumentError('options.labelColumn must be a string');
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new TabularError('TABULAR_UNKNOWN_COLUMN', undefined, n, `column "${n}" appears twice in the header`);
    seen.add(n);
  }
  const col = (n: string): number => {
    const i = names.indexOf(n);
    if (i < 0) {
      throw new TabularError('TABULAR_UNKNOWN_COLUMN', undefined, n,
        `no column "${n}" (columns: ${names.join(', ')})`);
    }
    return i;
  };
  const labelAt = col(opts.labelColumn);
  const featureNames = opts.featureColumns ?? names.filter((n) => n !== opts.labelColumn);
  if (!Array.isArray(featureNames) || featureNames.length === 0) {
    throw new DataArgumentError('options.featureColumns must list at least one feature column');
  }
  if (featureNames.includes(opts.labelColumn)) {
    throw new DataArgumentError(`options.featureColumns must not contain the label column "${opts.labelColumn}"`);
  }
  const featureAt = featureNames.map(col);
  const f = featureNames.length;
  const x = new Float32Array(rows.length * f);
  const rawLabels: string[] = [];
  rows.forEach((row, r) => {
    featureAt.forEach((c, j) => {
      x[r * f + j] = numericCell(row[c], r + 1, names[c]!);
    });
    const label = row[labelAt];
    const text = typeof label === 'number' ? String(label) : typeof label === 'string' ? label.trim() : undefined;
    if (text === undefined || MISSING.has(text.toLowerCase())) {
      throw new TabularError('TABULAR_MISSING_VALUE', r + 1, opts.labelColumn,
        `row ${r + 1}, column "${opts.labelColumn}": missing label`);
    }
    rawLabels.push(text);
  });
  const { labels, ids } = labelIds(rawLabels, opts.labels, opts.labelColumn);
  const dataset: Dataset = { x, y: ids, count: rows.length, shape: [f], numClasses: Math.max(1, labels.length) };
  if (opts.name !== undefined) dataset.name = opts.name;
  const out: TabularData = { dataset, labels, featureNames: [...featureNames] };
  if (opts.standardise) {
    const s = standardise(dataset, opts.standardise === true ? undefined : opts.standardise);
    out.dataset = s.dataset;
    out.standardisation = s.standardisation;
  }
  return out;
}

function numericCell(cell: unknown, row: number, column: string): number {
  if (typeof cell === 'number') {
    if (Number.isFinite(cell)) return cell;
    throw new TabularError('TABULAR_NON_NUMERIC', row, column, `row ${row}, column "${column}": ${cell} is not finite`);
  }
  const text = typeof cell === 'string' ? cell.trim() : cell === null || cell === undefined ? '' : undefined;
  if (text === undefined) {
    throw new TabularError('TABULAR_NON_NUMERIC', row, column, `row ${row}, column "${column}": ${describe(cell)} is not a number`);
  }
  if (MISSING.has(text.toLowerCase())) {
    throw new TabularError('TABULAR_MISSING_VALUE', row, column,
      `row ${row}, column "${column}": missing value${text ? ` (${JSON.stringify(text)})` : ''}`);
  }
  if (!NUMBER.test(text) || !Number.isFinite(Number(text))) {
    throw new TabularError('TABULAR_NON_NUMERIC', row, column,
      `row ${row}, column "${column}": ${JSON.stringify(text.slice(0, 40))} is not a number`);
  }
  return Number(text);
}

function labelIds(raw: string[], given: string[] | undefined, column: string): { labels: string[]; ids: Int32Array } {
  let labels: string[];
  if (given !== undefined) {
    if (!Array.isArray(given) || given.length === 0 || !given.every((l) => typeof l === 'string') ||
        new Set(given).size !== given.length) {
      throw new DataArgumentError('options.labels must be a non-empty list of distinct strings');
    }
    labels = [...given];
  } else if (raw.length > 0 && raw.every((l) => /^\d+$/.test(l) && Number(l) < MAX_INTEGER_LABELS)) {
    // Integer class ids keep their value, so sites that lack some class still agree on ids.
    let max = 0;
    for (const l of raw) max = Math.max(max, Number(l));
    labels = Array.from({ length: max + 1 }, (_, i) => String(i));
  } else {
    const distinct = [...new Set(raw)];
    const numeric = distinct.every((l) => NUMBER.test(l));
    labels = distinct.sort(numeric ? (a, b) => Number(a) - Number(b) : undefined);
  }
  const index = new Map(labels.map((l, i) => [l, i]));
  const ids = new Int32Array(raw.length);
  raw.forEach((l, r) => {
    const id = index.get(l) ?? (/^\d+$/.test(l) ? index.get(String(Number(l))) : undefined);
    if (id === undefined) {
      throw new TabularError('TABULAR_UNKNOWN_LABEL', r + 1, column,
        `row ${r + 1}, column "${column}": label ${JSON.stringify(l)} is not in options.labels`);
    }
    ids[r] = id;
  });
  return { labels, ids };
}

async function readText(path: string): Promise<string> {
  if (typeof path !== 'string' || path === '') throw new DataArgumentError('path must be a non-empty string');
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as { code?: string }).code === 'ENOENT') throw new DatasetMissingError(path, 'check the path', { cause });
    throw new DataError('DATA_FILE_MISSING', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
}

function baseName(path: string): string {
  return path.split(/[\\/]/).pop()!;
}
