/**
 * Reads a V8 .heapsnapshot (the JSON node:v8 writeHeapSnapshot writes) and counts its
 * nodes by constructor, for the memory bench's before/after comparison. The format: a
 * flat `nodes` array with `snapshot.meta.node_fields.length` numbers per node (type index,
 * name index into `strings`, id, self_size, edge count, ...); `node_types[0]` names the
 * types. Objects and closures are grouped by their constructor / function name, strings
 * and code by type, internal arrays and native objects by type and name.
 */
import { readFileSync } from 'node:fs';

export interface Group {
  count: number;
  bytes: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const BY_TYPE = new Set(['string', 'concatenated string', 'sliced string', 'number', 'code', 'symbol', 'bigint', 'synthetic']);

export function countByConstructor(path: string): Map<string, Group> {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const stride = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const { nodes, strings } = snap;
  const out = new Map<string, Group>();
  for (let i = 0; i < nodes.length; i += stride) {
    const type = types[nodes[i + iType]!]!;
    const name = strings[nodes[i + iName]!] ?? '?';
    let key: string;
    if (type === 'object') key = name;
    else if (type === 'closure') key = `${name || '(anonymous)'}()`;
    else if (BY_TYPE.has(type)) key = `(${type})`;
    else key = `(${type}) ${name.length > 48 ? `${name.slice(0, 45)}...` : name}`;
    const g = out.get(key);
    const size = nodes[i + iSize]!;
    if (g) {
      g.count++;
      g.bytes += size;
    } else out.set(key, { count: 1, bytes: size });
  }
  return out;
}

export interface Growth {
  key: string;
  before: Group;
  after: Group;
}

/** Groups ordered by how much they grew in bytes (then count), largest first. */
export function growth(before: Map<string, Group>, after: Map<string, Group>): Growth[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  const zero = { count: 0, bytes: 0 };
  return [...keys]
    .map((key) => ({ key, before: before.get(key) ?? zero, after: after.get(key) ?? zero }))
    .sort((a, b) => b.after.bytes - b.before.bytes - (a.after.bytes - a.before.bytes) || b.after.count - b.before.count - (a.after.count - a.before.count));
}

export function total(m: Map<string, Group>): Group {
  let count = 0;
  let bytes = 0;
  for (const g of m.values()) {
    count += g.count;
    bytes += g.bytes;
  }
  return { count, bytes };
}
