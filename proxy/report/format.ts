// Small formatting helpers shared by the renderers.

/** Epoch microseconds -> ISO 8601 UTC with microseconds, e.g. 2025-06-15T12:34:56.123456Z. */
export function isoUs(us: number): string {
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString(); // ...:56.123Z
  const micro = String(((us % 1000) + 1000) % 1000).padStart(3, '0');
  return `${iso.slice(0, -1)}${micro}Z`;
}

/** Epoch microseconds -> "2025-06-15 12:34:56 UTC" (for people). */
export function humanTime(us: number | null): string {
  if (us === null) return '-';
  return `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Epoch microseconds -> "12:34:56.123" (time of day, UTC). */
export function timeOfDay(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString().slice(11, 23);
}

/** Microseconds -> milliseconds with three decimals, e.g. "1.234". */
export function durationMs(us: number): string {
  return (us / 1000).toFixed(3);
}

/** "1,234,567". */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** The period a filter covers, in words. */
export function periodText(since: number | null, until: number | null): string {
  if (since === null && until === null) return 'all recorded activity';
  if (since === null) return `up to ${humanTime(until)}`;
  if (until === null) return `from ${humanTime(since)}`;
  return `${humanTime(since)} to ${humanTime(until)}`;
}

/** The filter in words, e.g. "identity agent-1, connection app"; "none" when unrestricted. */
export function filterText(f: { identity: string | null; connection: string | null }): string {
  const parts: string[] = [];
  if (f.identity !== null) parts.push(`identity ${f.identity}`);
  if (f.connection !== null) parts.push(`connection ${f.connection}`);
  return parts.length ? parts.join(', ') : 'all identities and connections';
}

export const DIGEST_DEFINITION =
  'SHA-256 of the UTF-8 canonical JSON of the report data without its digest field ' +
  '(object keys sorted, no whitespace); recompute it from the JSON format of the same report.';
