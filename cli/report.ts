// `bastion report --format pdf|html|csv|json --out FILE [--store PATH] [--since ISO] [--until ISO]
//  [--identity NAME] [--connection NAME]`: an audit report over the store.

import { renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildReport } from '../proxy/report/build.js';
import { renderReport } from '../proxy/report/index.js';
import { REPORT_FORMATS, type ReportFilter, type ReportFormat } from '../proxy/report/types.js';
import { parseArgs, str, UsageError } from './args.js';
import { openStoreForReading, resolveStorePath } from './store-path.js';

const USAGE =
  'usage: bastion report --format pdf|html|csv|json --out FILE [--store PATH] [--since ISO] [--until ISO] ' +
  '[--identity NAME] [--connection NAME]';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * An ISO 8601 date or date-time -> epoch microseconds. Date-times without an offset are UTC (the
 * report prints UTC). A bare date is the start of that day, or with `endOfDay` its last
 * microsecond, so `--since 2025-06-01 --until 2025-06-30` covers all of June. Undefined if the
 * text is not such a date or names a day that does not exist.
 */
export function parseIsoTime(text: string, endOfDay = false): number | undefined {
  const d = DATE.exec(text);
  if (d) {
    const [y, mo, da] = [Number(d[1]), Number(d[2]), Number(d[3])];
    const ms = Date.UTC(y, mo - 1, da);
    const back = new Date(ms);
    if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== da)
      return undefined;
    return ms * 1000 + (endOfDay ? 86_400_000_000 - 1 : 0);
  }
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  const [y, mo, da, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0));
  if (h > 23 || mi > 59 || s > 59) return undefined;
  const base = Date.UTC(y, mo - 1, da, h, mi, s);
  const back = new Date(base);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== da)
    return undefined;
  let offsetMin = 0;
  const z = m[8];
  if (z && z.toUpperCase() !== 'Z') {
    const digits = z.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2));
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (z[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const micros = m[7] ? Number(m[7].padEnd(6, '0')) : 0;
  return (base - offsetMin * 60_000) * 1000 + micros;
}

function time(p: ReturnType<typeof parseArgs>, name: 'since' | 'until'): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const us = parseIsoTime(v, name === 'until');
  if (us === undefined) {
    throw new UsageError(
      `--${name}: "${v}" is not an ISO 8601 date or time (e.g. 2025-06-01 or 2025-06-01T12:00:00Z)`,
    );
  }
  return us;
}

function formatOf(p: ReturnType<typeof parseArgs>, out: string): ReportFormat {
  const f = str(p, 'format') ?? path.extname(out).slice(1).toLowerCase();
  if (!(REPORT_FORMATS as readonly string[]).includes(f)) {
    throw new UsageError(
      str(p, 'format') === undefined
        ? `--format is needed (pdf, html, csv or json)`
        : `--format must be pdf, html, csv or json, not "${f}"`,
    );
  }
  return f as ReportFormat;
}

export async function reportCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, {
    format: 'string',
    out: 'string',
    store: 'string',
    config: 'string',
    since: 'string',
    until: 'string',
    identity: 'string',
    connection: 'string',
  });
  if (p.positional.length > 0) throw new UsageError(`unexpected argument "${p.positional[0]}"`);
  const out = str(p, 'out');
  if (!out) throw new UsageError(`--out FILE is needed (${USAGE})`);
  const format = formatOf(p, out);
  const filter: ReportFilter = {};
  const since = time(p, 'since');
  const until = time(p, 'until');
  if (since !== undefined) filter.since = since;
  if (until !== undefined) filter.until = until;
  if (since !== undefined && until !== undefined && since > until)
    throw new UsageError('--since is after --until');
  const identity = str(p, 'identity');
  const connection = str(p, 'connection');
  if (identity !== undefined) filter.identity = identity;
  if (connection !== undefined) filter.connection = connection;

  const source = resolveStorePath(p);
  const store = openStoreForReading(p);
  let report: ReturnType<typeof buildReport>;
  try {
    report = buildReport(store, filter, { source });
  } finally {
    store.close();
  }
  const bytes = await renderReport(report, format);
  if (out === '-') {
    process.stdout.write(bytes);
  } else {
    // Written whole or not at all: a reader never sees half a report.
    const file = path.resolve(out);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, bytes);
      renameSync(tmp, file);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw new Error(`cannot write ${file}: ${(e as Error).message}`, { cause: e });
    }
    const s = report.summary;
    process.stdout.write(
      `report: ${s.sessions} sessions, ${s.statements} statements (${s.blocked} blocked, ${s.held} held, ` +
        `${s.errors} errors, ${s.masked} values masked); store ${
          report.integrity.verified
            ? 'verified'
            : `FAILED verification at record ${report.integrity.firstBad?.id}`
        }; digest ${report.digest} -> ${file}\n`,
    );
  }
  if (!report.integrity.verified) {
    process.stderr.write(
      `bastion: warning: the store failed verification at record ${report.integrity.firstBad?.id}: ${report.integrity.firstBad?.reason} (the report says so)\n`,
    );
  }
  return 0;
}
