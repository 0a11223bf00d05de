/**
 * A small declarative schema: each node knows its type, its default and one line of
 * documentation, so the same table validates config files, fills in defaults and
 * prints the README's field reference. No dependency beyond the standard library.
 *
 * Validation collects every problem (not just the first), each naming the field by its
 * dotted path and saying what would fix it, e.g.
 *   server.port: must be an integer 1-65535 (got "80a")
 */

/** One problem found in a config document. */
export interface ConfigIssue {
  /** Dotted field path, e.g. "server.deadlines.share"; "" for the document itself. */
  path: string;
  message: string;
}

/** A config document failed validation; `issues` lists every problem found. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'ERR_CONFIG_INVALID';
  constructor(
    readonly issues: ConfigIssue[],
    readonly file?: string,
  ) {
    super(
      (file ? `${file}: ` : '') +
        (issues.length === 1 ? '' : `${issues.length} problems:\n  `) +
        issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('\n  '),
    );
  }
}

interface Base<T> {
  doc: string;
  /** Value used when the field is absent; undefined means optional with no default. */
  default?: T;
  /** The field must be present (no default makes sense, e.g. a key file). */
  required?: boolean;
}
export interface IntNode extends Base<number> { kind: 'int'; min: number; max: number }
export interface NumberNode extends Base<number> {
  kind: 'number';
  min: number;
  max: number;
  /** When true the minimum itself is not allowed (e.g. epsilon > 0). */
  exclusiveMin?: boolean;
}
export interface StringNode extends Base<string> { kind: 'string'; pattern?: RegExp; patternHint?: string }
export interface EnumNode<V extends string = string> extends Base<V> { kind: 'enum'; values: readonly V[] }
export interface BoolNode extends Base<boolean> { kind: 'bool' }
export interface ObjectNode<F extends Record<string, Node> = Record<string, Node>> {
  kind: 'object';
  doc: string;
  fields: F;
}
export type Node = IntNode | NumberNode | StringNode | EnumNode | BoolNode | ObjectNode;

/** The TypeScript type a schema node validates to. */
export type Infer<N> = N extends ObjectNode<infer F>
  ? { [K in keyof F]: FieldType<F[K]> }
  : N extends EnumNode<infer V>
    ? V
    : N extends IntNode | NumberNode
      ? number
      : N extends StringNode
        ? string
        : N extends BoolNode
          ? boolean
          : never;
/** Optional leaves without a default may be undefined after validation. */
type FieldType<N> = N extends ObjectNode
  ? Infer<N>
  : N extends { default: unknown }
    ? Infer<N>
    : N extends { required: true }
      ? Infer<N>
      : Infer<N> | undefined;

type Opts<T> = { doc: string; default?: T; required?: boolean };

export const int = <O extends Opts<number> & { min: number; max: number }>(o: O): IntNode & O => ({ kind: 'int', ...o });
export const num = <O extends Opts<number> & { min: number; max: number; exclusiveMin?: boolean }>(o: O): NumberNode & O => ({
  kind: 'number',
  ...o,
});
export const str = <O extends Opts<string> & { pattern?: RegExp; patternHint?: string }>(o: O): StringNode & O => ({
  kind: 'string',
  ...o,
});
export const oneOf = <const V extends string, O extends Opts<string>>(values: readonly V[], o: O & { default?: NoInfer<V> }): EnumNode<V> & O => ({
  kind: 'enum',
  values,
  ...o,
});
export const bool = <O extends Opts<boolean>>(o: O): BoolNode & O => ({ kind: 'bool', ...o });
export const obj = <F extends Record<string, Node>>(doc: string, fields: F): ObjectNode<F> => ({ kind: 'object', doc, fields });

/** Levenshtein distance, for did-you-mean suggestions on unknown keys. */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate within a distance that still looks like a typo, if any. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : String(v));

/** Accepts numbers and numeric strings (YAML users write "8443" too); returns NaN otherwise. */
function asNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v.trim())) return Number(v);
  return Number.NaN;
}

function range(min: number, max: number): string {
  if (max === Number.MAX_SAFE_INTEGER || max === Infinity) return `>= ${min}`;
  return `${min}-${max}`;
}

function validateNode(node: Node, value: unknown, path: string, issues: ConfigIssue[]): unknown {
  if (value === undefined) {
    if (node.kind === 'object') return validateNode(node, {}, path, issues);
    if (node.default !== undefined) return node.default;
    if (node.required) issues.push({ path, message: `is required (${node.doc})` });
    return undefined;
  }
  switch (node.kind) {
    case 'int': {
      const n = asNumber(value);
      if (!Number.isInteger(n) || n < node.min || n > node.max) {
        issues.push({ path, message: `must be an integer ${range(node.min, node.max)} (got ${show(value)})` });
        return undefined;
      }
      return n;
    }
    case 'number': {
      const n = asNumber(value);
      const low = node.exclusiveMin ? n <= node.min : n < node.min;
      if (!Number.isFinite(n) || low || n > node.max) {
        const lo = node.exclusiveMin ? `> ${node.min}` : `>= ${node.min}`;
        const hi = node.max === Infinity ? '' : ` and <= ${node.max}`;
        issues.push({ path, message: `must be a number ${lo}${hi} (got ${show(value)})` });
        return undefined;
      }
      return n;
    }
    case 'string': {
      if (typeof value !== 'string' || value === '') {
        issues.push({ path, message: `must be a non-empty string (got ${show(value)})` });
        return undefined;
      }
      if (node.pattern && !node.pattern.test(value)) {
        issues.push({ path, message: `${node.patternHint ?? `must match ${node.pattern}`} (got ${show(value)})` });
        return undefined;
      }
      return value;
    }
    case 'enum': {
      if (typeof value !== 'string' || !node.values.includes(value)) {
        const hint = typeof value === 'string' ? suggest(value, node.values) : undefined;
        issues.push({
          path,
          message: `must be one of ${node.values.map((v) => `'${v}'`).join(', ')} (got ${show(value)})${hint ? `; did you mean '${hint}'?` : ''}`,
        });
        return undefined;
      }
      return value;
    }
    case 'bool': {
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'on' || value === 'yes') return true;
      if (value === 'false' || value === 'off' || value === 'no') return false;
      issues.push({ path, message: `must be true or false (got ${show(value)})` });
      return undefined;
    }
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        issues.push({ path, message: `must be a mapping of fields (got ${show(value)})` });
        return undefined;
      }
      const out: Record<string, unknown> = {};
      const known = Object.keys(node.fields);
      for (const key of Object.keys(value)) {
        if (!known.includes(key)) {
          const hint = suggest(key, known);
          issues.push({
            path: path ? `${path}.${key}` : key,
            message: `unknown field${hint ? `; did you mean '${hint}'?` : ''} (allowed here: ${known.join(', ')})`,
          });
        }
      }
      for (const [key, child] of Object.entries(node.fields)) {
        out[key] = validateNode(child, (value as Record<string, unknown>)[key], path ? `${path}.${key}` : key, issues);
      }
      return out;
    }
  }
}

/**
 * Validates `value` against `schema`, filling in defaults.
 * @returns the validated value, typed from the schema
 * @throws ConfigError listing every problem found, each with its field path
 */
export function validate<N extends ObjectNode>(schema: N, value: unknown, file?: string): Infer<N> {
  const issues: ConfigIssue[] = [];
  const out = validateNode(schema, value ?? {}, '', issues);
  if (issues.length > 0) throw new ConfigError(issues, file);
  return out as Infer<N>;
}

/** One documented field of a schema, for the README's reference table. */
export interface FieldDoc {
  path: string;
  type: string;
  default: string;
  doc: string;
}

/** Flattens a schema into documented leaf fields (dotted paths, type, default, doc). */
export function describe(node: Node, path = ''): FieldDoc[] {
  if (node.kind === 'object') {
    return Object.entries(node.fields).flatMap(([k, child]) => describe(child, path ? `${path}.${k}` : k));
  }
  const type =
    node.kind === 'int'
      ? `integer ${range(node.min, node.max)}`
      : node.kind === 'number'
        ? `number ${node.exclusiveMin ? '>' : '>='} ${node.min}${node.max === Infinity ? '' : `, <= ${node.max}`}`
        : node.kind === 'enum'
          ? node.values.map((v) => `\`${v}\``).join(' \\| ')
          : node.kind === 'bool'
            ? 'boolean'
            : 'string';
  const dflt = node.default !== undefined ? `\`${String(node.default)}\`` : node.required ? 'required' : '(none)';
  return [{ path, type, default: dflt, doc: node.doc }];
}
