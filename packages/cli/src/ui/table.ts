/**
 * Plain-text tables for summaries: box-free, aligned columns that read the same in a
 * terminal, a CI log and a copy-paste into an issue.
 */

export interface Column<Row> {
  header: string;
  /** Right-align numbers, left-align words. */
  align?: 'left' | 'right';
  value: (row: Row) => string;
}

/** Visible width (ignores ANSI colour codes). */
export const visibleWidth = (s: string): number => s.replace(/\x1b\[[0-9;]*m/g, '').length;

function pad(s: string, width: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, width - visibleWidth(s)));
  return align === 'right' ? fill + s : s + fill;
}

/**
 * Renders rows as an aligned table with a header and a dashed rule; `footer` (one
 * string per column, missing ones blank) goes under a second rule, e.g. totals.
 * @returns lines joined by "\n", no trailing newline
 */
export function renderTable<Row>(columns: Column<Row>[], rows: Row[], footer?: string[]): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const foot = footer ? columns.map((_, i) => footer[i] ?? '') : undefined;
  const widths = columns.map((c, i) => Math.max(visibleWidth(c.header), ...cells.map((r) => visibleWidth(r[i]!)), foot ? visibleWidth(foot[i]!) : 0));
  const line = (values: string[]) => values.map((v, i) => pad(v, widths[i]!, columns[i]!.align ?? 'left')).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const out = [line(columns.map((c) => c.header)), rule, ...cells.map(line)];
  if (foot) out.push(rule, line(foot));
  return out.join('\n');
}
