// Builds an AuditReport from a store (or an exported session): sessions, statements, decisions,
// masking, errors and retention within a filter, plus the store's integrity and the report's
// own digest.

import { createHash } from 'node:crypto';
import type { Decision, SessionInfo, StatementProtocol } from '../../shared/types.js';
import type { SessionReader } from '../store/types.js';
import {
  type ActivityRow,
  type ApprovalEntry,
  type ApprovalOutcome,
  type ApprovalSource,
  type AuditReport,
  type ErrorStatement,
  type HeldStatement,
  type MaskingRow,
  REPORT_FORMAT,
  REPORT_VERSION,
  type ReportFilter,
  type ReportPrune,
  type ReportSession,
  type ReportStatement,
  type ReportSummary,
  type StatementRef,
} from './types.js';

export const GENERATOR = 'Bastion 0.1.0';

export interface BuildOptions {
  /** A label for the store shown in the report (e.g. its path). */
  source?: string;
  /** When the report is built (default now). */
  now?: Date;
}

/**
 * The statement kind shown in summaries: the SQL's first keyword, lowercased, after leading
 * comments, whitespace and parentheses. A stand-in until the guardrail engine records the parsed
 * kind with each statement; replace this one function then.
 */
export function statementKind(sql: string, protocol?: StatementProtocol): string {
  if (protocol === 'function') return 'function call';
  let i = 0;
  const n = sql.length;
  for (;;) {
    while (i < n && (/\s/.test(sql[i]) || sql[i] === '(' || sql[i] === ';')) i++;
    if (sql.startsWith('--', i)) {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else break;
  }
  if (i >= n) return 'empty';
  const m = /^[A-Za-z_]+/.exec(sql.slice(i, i + 64));
  return m ? m[0].toLowerCase() : 'other';
}

/**
 * JSON with every object's keys sorted (by UTF-16 code units, as Array.prototype.sort does) and no
 * whitespace: the canonical form the report digest is computed over.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The report digest: SHA-256 (hex) of the UTF-8 canonical JSON of the report without `digest`. */
export function reportDigest(report: Omit<AuditReport, 'digest'> | AuditReport): string {
  const { digest: _omit, ...content } = report as AuditReport;
  return createHash('sha256').update(canonicalJson(content), 'utf8').digest('hex');
}

/** True if a report (e.g. parsed back from its JSON form) still has the digest it states. */
export function checkReportDigest(report: AuditReport): boolean {
  return typeof report.digest === 'string' && reportDigest(report) === report.digest;
}

const inPeriod = (t: number, f: ReportFilter) =>
  (f.since === undefined || t >= f.since) && (f.until === undefined || t <= f.until);

/** Sessions active in the period: started by `until` and not ended before `since`. */
function sessionsIn(store: SessionReader, f: ReportFilter): SessionInfo[] {
  const listed = store.listSessions({
    ...(f.identity !== undefined ? { identity: f.identity } : {}),
    ...(f.connection !== undefined ? { connection: f.connection } : {}),
    ...(f.until !== undefined ? { until: f.until } : {}),
  });
  return listed
    .filter((s) => f.since === undefined || s.endedAt === null || s.endedAt >= f.since)
    .sort((a, b) => a.startedAt - b.startedAt || (a.id < b.id ? -1 : 1));
}

function sortedRecord(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const bump = (m: Map<string, number>, k: string, n = 1) => m.set(k, (m.get(k) ?? 0) + n);

export function buildReport(
  store: SessionReader & Partial<ApprovalSource>,
  filter: ReportFilter = {},
  opts: BuildOptions = {},
): AuditReport {
  const v = store.verify();
  const approvalsRecorded = typeof store.listApprovals === 'function';
  const sessions: ReportSession[] = [];
  const approvals: ApprovalEntry[] = [];
  const blocked: StatementRef[] = [];
  const held: HeldStatement[] = [];
  const errors: ErrorStatement[] = [];
  const byKind = new Map<string, number>();
  const byDecision: Record<Decision, number> = { allow: 0, warn: 0, block: 0, review: 0 };
  const heldOutcomes: Record<ApprovalOutcome | 'unrecorded', number> = {
    approved: 0,
    denied: 0,
    'timed out': 0,
    cancelled: 0,
    pending: 0,
    unrecorded: 0,
  };
  const maskedByRule = new Map<string, number>();
  const maskedStatements = new Map<string, number>();
  const errorsByCode = new Map<string, number>();
  const activity = new Map<string, ActivityRow>();
  let statements = 0;
  let rows = 0;
  let masked = 0;
  let first: number | null = null;
  let last: number | null = null;

  for (const s of sessionsIn(store, filter)) {
    const act = activity.get(`${s.identity}\0${s.connection}`) ?? {
      identity: s.identity,
      connection: s.connection,
      sessions: 0,
      statements: 0,
      blocked: 0,
      held: 0,
      errors: 0,
      rows: 0,
      masked: 0,
    };
    activity.set(`${s.identity}\0${s.connection}`, act);
    act.sessions++;
    const sessionApprovals = approvalsRecorded ? store.listApprovals!(s.id) : [];
    const approvalBySeq = new Map<number, ApprovalEntry>();
    for (const a of sessionApprovals) if (a.statementSeq !== null) approvalBySeq.set(a.statementSeq, a);
    // Approvals of statements in the period, and those no statement names (still pending, or the
    // client went away while it waited) requested in the period; by request time.
    const entries = sessionApprovals.filter(
      (a) => a.statementSeq === null && inPeriod(a.requestedAt, filter),
    );
    const list: ReportStatement[] = [];
    for (const st of store.listStatements(s.id)) {
      if (!inPeriod(st.startedAt, filter)) continue;
      const kind = statementKind(st.sql, st.protocol);
      const maskedTotal = Object.values(st.masked).reduce((a, b) => a + b, 0);
      const approval = approvalBySeq.get(st.seq) ?? null;
      list.push({ ...st, kind, maskedTotal, approval });
      if (approval) entries.push(approval);
      statements++;
      act.statements++;
      rows += st.rows;
      act.rows += st.rows;
      first = first === null ? st.startedAt : Math.min(first, st.startedAt);
      last = last === null ? st.startedAt : Math.max(last, st.startedAt);
      bump(byKind, kind);
      byDecision[st.decision] = (byDecision[st.decision] ?? 0) + 1;
      const ref: StatementRef = {
        sessionId: s.id,
        seq: st.seq,
        identity: s.identity,
        connection: s.connection,
        startedAt: st.startedAt,
        kind,
        sql: st.sql,
        decision: st.decision,
        rule: st.rule,
      };
      if (st.decision === 'block') {
        blocked.push(ref);
        act.blocked++;
      }
      if (st.decision === 'review') {
        act.held++;
        held.push({
          ...ref,
          outcome: approval?.outcome ?? null,
          approver: approval?.approver ?? null,
          decidedAt: approval?.decidedAt ?? null,
        });
        heldOutcomes[approval?.outcome ?? 'unrecorded']++;
      }
      if (st.errorCode !== null) {
        errors.push({ ...ref, errorCode: st.errorCode, errorMessage: st.errorMessage });
        bump(errorsByCode, st.errorCode);
        act.errors++;
      }
      for (const [rule, n] of Object.entries(st.masked)) {
        if (n <= 0) continue;
        bump(maskedByRule, rule, n);
        bump(maskedStatements, rule);
      }
      masked += maskedTotal;
      act.masked += maskedTotal;
    }
    approvals.push(...entries.sort((a, b) => a.requestedAt - b.requestedAt));
    sessions.push({ session: s, statements: list });
  }

  const masking: MaskingRow[] = Object.entries(sortedRecord(maskedByRule)).map(([rule, values]) => ({
    rule,
    values,
    statements: maskedStatements.get(rule) ?? 0,
  }));
  const summary: ReportSummary = {
    sessions: sessions.length,
    identities: [...new Set(sessions.map((s) => s.session.identity))].sort(),
    connections: [...new Set(sessions.map((s) => s.session.connection))].sort(),
    statements,
    byKind: sortedRecord(byKind),
    byDecision,
    blocked: blocked.length,
    held: held.length,
    heldOutcomes,
    maskedByRule: sortedRecord(maskedByRule),
    masked,
    errors: errors.length,
    errorsByCode: sortedRecord(errorsByCode),
    rows,
    firstStatementAt: first,
    lastStatementAt: last,
    activity: [...activity.values()].sort(
      (a, b) => cmp(a.identity, b.identity) || cmp(a.connection, b.connection),
    ),
  };
  const retention: ReportPrune[] = [];
  for (const p of store.listPrunes?.() ?? []) {
    const removed = p.sessions.filter(
      (s) =>
        (filter.identity === undefined || s.identity === filter.identity) &&
        (filter.connection === undefined || s.connection === filter.connection) &&
        (filter.until === undefined || s.startedAt <= filter.until) &&
        (filter.since === undefined || s.endedAt >= filter.since),
    );
    if (removed.length === 0) continue;
    const { recordId, at, before, connection, records } = p;
    retention.push({ recordId, at, before, connection, sessions: removed, records });
  }
  const content: Omit<AuditReport, 'digest'> = {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    generatedAtIso: (opts.now ?? new Date()).toISOString(),
    generator: GENERATOR,
    source: opts.source ?? null,
    filter: {
      since: filter.since ?? null,
      until: filter.until ?? null,
      identity: filter.identity ?? null,
      connection: filter.connection ?? null,
    },
    integrity: {
      verified: v.ok,
      records: v.records,
      chainHead: v.head,
      firstBad: v.firstBad ?? null,
    },
    summary,
    blocked,
    held,
    approvals: { recorded: approvalsRecorded, entries: approvals },
    masking,
    errors,
    retention,
    sessions,
  };
  return { ...content, digest: reportDigest(content) };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
