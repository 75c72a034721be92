// Display formats. Times from the core are epoch microseconds.

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** 14:03:07.123 (local time). */
export function clockTime(us: number): string {
  const d = new Date(us / 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** 2026-03-04 14:03:07 (local time). */
export function dateTime(us: number): string {
  const d = new Date(us / 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** 850µs, 12.4ms, 3.21s, 2m 05s. */
export function duration(us: number): string {
  if (us < 1000) return `${Math.round(us)}µs`;
  if (us < 10_000) return `${(us / 1000).toFixed(2)}ms`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(1)}ms`;
  if (us < 60_000_000) return `${(us / 1_000_000).toFixed(2)}s`;
  const s = Math.round(us / 1_000_000);
  return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** "3s ago", "4m ago", "2h ago", or the date. */
export function ago(us: number, nowMs = Date.now()): string {
  const s = Math.max(0, Math.round((nowMs - us / 1000) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return dateTime(us);
}

/** 1:05 */
export function mmss(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${pad(s % 60)}`;
}

/** A statement on one line (whitespace collapsed), for lists. */
export function oneLine(sql: string, max = 400): string {
  const s = sql.replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
