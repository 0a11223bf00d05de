/** Small formatting helpers shared by the progress line and the summary table. */

/** 1536 -> "1.5 KiB"; binary units, one decimal under 100. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v < 100 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** 83_456 ms -> "1m23.5s"; 950 -> "0.95s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 10_000) return `${(ms / 1000).toFixed(2)}s`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${((ms - m * 60_000) / 1000).toFixed(1).padStart(4, '0')}s`;
}

/** 0.8734 -> "87.3%"; undefined -> "-". */
export const formatPercent = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(1)}%`);

/** An epsilon with 3 significant digits, or "-" when DP is off. */
export const formatEpsilon = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : x < 10 ? x.toFixed(3) : x.toFixed(2));
