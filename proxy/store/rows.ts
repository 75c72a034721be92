// Rows of the store's projections -> the shapes the API and reports use: one mapping for the
// SQLite store and the shared PostgreSQL store (their columns are named alike).

import type { Approval, ApprovalState, PolicyChange } from '../../shared/api.js';
import type {
  AuthMethod,
  Decision,
  SessionInfo,
  StatementProtocol,
  StatementRecord,
} from '../../shared/types.js';

import type { ChainedRecord } from './types.js';

export type Row = Record<string, unknown>;

/** A `records` row (id, kind, session_id, t_us, digest, body) with the link to its predecessor. */
export function rowToChainedRecord(r: Row, prev: ChainedRecord['prev']): ChainedRecord {
  return {
    id: r.id as number,
    kind: r.kind as string,
    sessionId: r.session_id as string,
    tUs: r.t_us as number,
    digest: r.digest as Buffer,
    body: r.body as Buffer,
    prev,
  };
}

/** A boolean column: SQLite gives 0/1, PostgreSQL true/false. */
function flag(v: unknown): boolean {
  return v === 1 || v === true;
}

export function rowToSession(r: Row): SessionInfo {
  return {
    id: r.id as string,
    identity: r.identity as string,
    authMethod: r.auth_method as AuthMethod,
    connection: r.connection as string,
    clientAddress: r.client_address as string,
    applicationName: r.application_name as string | null,
    database: r.database as string | null,
    tls: flag(r.tls),
    protocol: r.protocol as string,
    startedAt: r.started_at as number,
    endedAt: r.ended_at as number | null,
    endReason: r.end_reason as string | null,
    statements: r.statements as number,
  };
}

export function rowToStatement(r: Row): StatementRecord {
  return {
    sessionId: r.session_id as string,
    seq: r.seq as number,
    protocol: r.protocol as StatementProtocol,
    sql: r.sql as string,
    params: r.params === null ? null : (JSON.parse(r.params as string) as (string | null)[]),
    startedAt: r.started_at as number,
    durationUs: r.duration_us as number,
    rows: r.rows as number,
    tag: r.tag as string | null,
    errorCode: r.error_code as string | null,
    errorMessage: r.error_message as string | null,
    decision: r.decision as Decision,
    rule: r.rule as string | null,
    ...(typeof r.approval_id === 'string' ? { approvalId: r.approval_id } : {}),
    firstFrame: r.first_frame as number,
    lastFrame: r.last_frame as number,
    truncated: flag(r.truncated),
    uncapturedBytes: r.uncaptured_bytes as number,
    uncapturedRows: r.uncaptured_rows as number,
    uncapturedDigest: r.uncaptured_digest as string | null,
    masked: JSON.parse(r.masked as string) as Record<string, number>,
  };
}

export function rowToApproval(r: Row): Approval {
  return {
    id: r.id as string,
    sessionId: r.session_id as string,
    identity: r.identity as string,
    connection: r.connection as string,
    sql: r.sql as string,
    rule: r.rule as string | null,
    reason: r.reason as string,
    clientReason: r.client_reason as string | null,
    requestedAt: r.requested_at as number,
    expiresAt: r.expires_at as number,
    state: r.state as ApprovalState,
    decidedBy: r.decided_by as string | null,
    decidedAt: r.decided_at as number | null,
    recent: JSON.parse(r.recent as string) as Approval['recent'],
  };
}

export function rowToPolicyChange(r: Row): PolicyChange {
  return {
    id: r.id as number,
    at: r.at as number,
    by: r.changed_by as string,
    summary: r.summary as string,
    diff: r.diff as string,
  };
}
