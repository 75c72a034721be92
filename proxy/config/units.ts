import type { ConfigReader } from './load.js';

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  kib: 1024,
  mb: 1e6,
  mib: 1024 ** 2,
  gb: 1e9,
  gib: 1024 ** 3,
};
const TIME_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "64MiB", "1 GiB", 1048576 -> bytes. */
export function parseSize(r: ConfigReader, v: unknown, keyPath: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v) : null;
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) r.fail(keyPath, `expected a size such as 64MiB, got ${JSON.stringify(v)}`);
  return Math.round(Number(m[1]) * unit);
}

/** "120s", "5m", "500ms" -> milliseconds. A bare number is seconds. */
export function parseDuration(r: ConfigReader, v: unknown, keyPath: string): number {
  if (typeof v === 'number' && v >= 0) return v * 1000;
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(v) : null;
  if (!m) r.fail(keyPath, `expected a duration such as 120s or 90d, got ${JSON.stringify(v)}`);
  return Math.round(Number(m[1]) * TIME_UNITS[m[2] ?? 's']);
}
