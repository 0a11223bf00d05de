/**
 * The configuration tables of docs/configuration.md, rendered from the schema: `npm run
 * docs:config` rewrites the block between the config-table markers, and a test fails when
 * the file differs from this rendering.
 */
import { describe, type ObjectNode } from './schema.js';
import { fedmetaSchema } from './fedmeta-schema.js';

export const TABLE_START = '<!-- config-table:start -->';
export const TABLE_END = '<!-- config-table:end -->';

/** One markdown table per top-level section of the schema. */
export function renderConfigTables(schema: ObjectNode = fedmetaSchema): string {
  const parts: string[] = [];
  for (const [name, node] of Object.entries(schema.fields)) {
    const rows = describe(node, name).map((f) => `| \`${f.path}\` | ${f.type} | ${f.default} | ${f.doc.replace(/\|/g, '\\|')} |`);
    parts.push([`**${name}**: ${(node as ObjectNode).doc}`, '', '| field | type | default | meaning |', '|---|---|---|---|', ...rows].join('\n'));
  }
  return parts.join('\n\n');
}

/** `text` with the block between the markers replaced by the rendered tables. */
export function withConfigTables(text: string): string {
  const a = text.indexOf(TABLE_START);
  const b = text.indexOf(TABLE_END);
  if (a < 0 || b < a) throw new Error(`the markers ${TABLE_START} ... ${TABLE_END} are missing`);
  return `${text.slice(0, a + TABLE_START.length)}\n${renderConfigTables()}\n${text.slice(b)}`;
}
