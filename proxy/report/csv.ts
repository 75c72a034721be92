// CSV (RFC 4180): a header, then one row per statement, CRLF line ends. The chain head and the
// report digest are repeated in the last two columns of every row, so that each row carries them.

import { isoUs } from './format.js';
import type { AuditReport } from './types.js';

export const CSV_COLUMNS = [
  'session_id',
  'seq',
  'identity',
  'connection',
  'client',
  'time',
  'protocol',
  'kind',
  'decision',
  'rule',
  'approval',
  'approver',
  'duration_ms',
  'rows',
  'tag',
  'error_code',
  'error_message',
  'masked',
  'sql',
  'params',
  'chain_head',
  'report_digest',
] as const;

export interface CsvOptions {
  /**
   * Prefix text cells that a spreadsheet would evaluate as a formula (first character = + - @,
   * tab or CR, and not a plain number) with an apostrophe (OWASP CSV injection advice). On by
   * default: statement text comes from the clients being audited. Off gives the exact values.
   */
  formulaGuard?: boolean;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** One field, quoted when it holds a comma, quote, CR or LF (quotes doubled). */
export function csvField(value: string, guard = false): string {
  let v = value;
  if (guard && /^[=+\-@\t\r]/.test(v) && !NUMBER.test(v)) v = `'${v}`;
  return /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

export function toCsv(report: AuditReport, opts: CsvOptions = {}): string {
  const guard = opts.formulaGuard !== false;
  const lines = [CSV_COLUMNS.join(',')];
  const head = report.integrity.chainHead ?? '';
  for (const { session: s, statements } of report.sessions) {
    for (const st of statements) {
      const cells: (string | number | null)[] = [
        s.id,
        st.seq,
        s.identity,
        s.connection,
        s.clientAddress,
        isoUs(st.startedAt),
        st.protocol,
        st.kind,
        st.decision,
        st.rule,
        st.approval?.outcome ?? null,
        st.approval?.approver ?? null,
        (st.durationUs / 1000).toFixed(3),
        st.rows,
        st.tag,
        st.errorCode,
        st.errorMessage,
        st.maskedTotal,
        st.sql,
        st.params === null ? null : JSON.stringify(st.params),
        head,
        report.digest,
      ];
      lines.push(cells.map((c) => csvField(c === null ? '' : String(c), guard)).join(','));
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}
