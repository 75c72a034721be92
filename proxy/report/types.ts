// The audit report's data: what `buildReport` produces and every renderer (JSON, CSV, HTML, PDF)
// prints. Times are epoch microseconds (as in the store) unless a field name ends in `Iso`.

import type { Decision, SessionInfo, StatementRecord } from '../../shared/types.js';
import type { PrunedSession } from '../store/types.js';

export const REPORT_FORMAT = 'bastion-audit-report';
export const REPORT_VERSION = 1;

/** Which records a report covers. Every field is optional; omitted = no restriction. */
export interface ReportFilter {
  /** Epoch microseconds, inclusive: statements from this time, sessions active at or after it. */
  since?: number;
  /** Epoch microseconds, inclusive: statements up to this time, sessions started by it. */
  until?: number;
  identity?: string;
  connection?: string;
}

/**
 * How a held (review) statement ended: an approval's state, with 'expired' shown as 'timed out'.
 * 'cancelled': the client went away (or the gateway stopped or restarted) while it waited.
 */
export type ApprovalOutcome = 'approved' | 'denied' | 'timed out' | 'cancelled' | 'pending';

/**
 * One approval of a held statement, with its latest state. A store that records approvals (the
 * SQLite store, a session export) provides them through `ApprovalSource` and the report fills its
 * approvals section.
 */
export interface ApprovalEntry {
  sessionId: string;
  /**
   * The held statement's seq in its session; null while no statement names the approval (still
   * pending, or the client went away before the statement was recorded).
   */
  statementSeq: number | null;
  /** The approval's id (the request id the client was told). */
  approvalId?: string;
  /** Epoch microseconds when the statement was held. */
  requestedAt: number;
  outcome: ApprovalOutcome;
  /** Who decided (an identity or UI user); null for a timeout, a cancel, or while pending. */
  approver: string | null;
  /** Epoch microseconds of the outcome (decision, timeout, cancel); null while pending. */
  decidedAt: number | null;
  /** The client's stated reason (SET bastion.reason / a reason comment), if it gave one. */
  reason: string | null;
  /** Why the guardrail held the statement. */
  policyReason?: string;
}

/** Implemented by a store that records approvals (optional; see buildReport). */
export interface ApprovalSource {
  listApprovals(sessionId: string): ApprovalEntry[];
}

/** A statement as the report shows it: the stored record plus what the report derives. */
export interface ReportStatement extends StatementRecord {
  /** Statement kind, e.g. "select", "update", "create" (see statementKind). */
  kind: string;
  /** Sum of `masked`. */
  maskedTotal: number;
  /** The decision on it, when it was held for review and approvals are recorded. */
  approval: ApprovalEntry | null;
}

export interface ReportSession {
  session: SessionInfo;
  /** The session's statements within the report's period, in seq order. */
  statements: ReportStatement[];
}

/** A statement reference in a summary list (blocked, held, errors). */
export interface StatementRef {
  sessionId: string;
  seq: number;
  identity: string;
  connection: string;
  startedAt: number;
  kind: string;
  sql: string;
  decision: Decision;
  rule: string | null;
}

export interface HeldStatement extends StatementRef {
  /** null when the store does not record approvals (see `approvals.recorded`). */
  outcome: ApprovalOutcome | null;
  approver: string | null;
  decidedAt: number | null;
}

export interface ErrorStatement extends StatementRef {
  errorCode: string;
  errorMessage: string | null;
}

/** Activity of one identity on one connection. */
export interface ActivityRow {
  identity: string;
  connection: string;
  sessions: number;
  statements: number;
  blocked: number;
  held: number;
  errors: number;
  rows: number;
  masked: number;
}

export interface ReportSummary {
  sessions: number;
  identities: string[];
  connections: string[];
  statements: number;
  /** Statement count by kind, kinds sorted by name. */
  byKind: Record<string, number>;
  byDecision: Record<Decision, number>;
  blocked: number;
  /** Statements held for review (decision 'review'). */
  held: number;
  /**
   * Held statements by outcome; 'unrecorded' counts those no recorded approval names (all of them
   * when the store does not record approvals).
   */
  heldOutcomes: Record<ApprovalOutcome | 'unrecorded', number>;
  /** Masked values by masking rule, rules sorted by name. */
  maskedByRule: Record<string, number>;
  masked: number;
  errors: number;
  /** Errors by SQLSTATE, codes sorted. */
  errorsByCode: Record<string, number>;
  /** DataRows sent to clients. */
  rows: number;
  /** Epoch microseconds of the first and last statement in the report (null when none). */
  firstStatementAt: number | null;
  lastStatementAt: number | null;
  activity: ActivityRow[];
}

export interface MaskingRow {
  rule: string;
  values: number;
  statements: number;
}

/** One prune record, limited to the removed sessions the report's filter selects. */
export interface ReportPrune {
  recordId: number;
  /** Epoch microseconds when the prune ran. */
  at: number;
  /** Sessions that ended before this were removed. */
  before: number;
  connection: string | null;
  sessions: PrunedSession[];
  /** Records the prune removed in all (every session it removed, not only those listed). */
  records: number;
}

export interface ReportIntegrity {
  /** Whether the store's chain and projections verified when the report was built. */
  verified: boolean;
  /** Records checked by verify. */
  records: number;
  /** Hex SHA-256 of the chain head (the last verified record); null for an empty store. */
  chainHead: string | null;
  firstBad: { id: number; reason: string } | null;
}

/** The whole report. `digest` is SHA-256 over the canonical JSON of everything else (see digest.ts). */
export interface AuditReport {
  format: typeof REPORT_FORMAT;
  version: typeof REPORT_VERSION;
  /** ISO 8601 (UTC) time the report was built. */
  generatedAtIso: string;
  generator: string;
  /** A label for the store (e.g. its file path); null when not given. */
  source: string | null;
  filter: {
    since: number | null;
    until: number | null;
    identity: string | null;
    connection: string | null;
  };
  integrity: ReportIntegrity;
  summary: ReportSummary;
  blocked: StatementRef[];
  held: HeldStatement[];
  /**
   * Approvals: those of the statements in the report, and those no statement names (pending, or
   * cancelled when the client went away) requested in the period; per session, by request time.
   * `recorded` is false when the store does not record approvals (the entries are then always
   * empty and held outcomes are unknown).
   */
  approvals: { recorded: boolean; entries: ApprovalEntry[] };
  masking: MaskingRow[];
  errors: ErrorStatement[];
  /**
   * Retention: prune records that removed sessions the report would otherwise cover (sessions of
   * the filter's identity and connection, active in the period). Those sessions' statements are
   * gone from the store and so from every other section.
   */
  retention: ReportPrune[];
  sessions: ReportSession[];
  /** Hex SHA-256 of canonicalJson(report without `digest`). */
  digest: string;
}

export type ReportFormat = 'json' | 'csv' | 'html' | 'pdf';
export const REPORT_FORMATS: readonly ReportFormat[] = ['pdf', 'html', 'csv', 'json'];
