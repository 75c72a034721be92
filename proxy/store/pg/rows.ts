// Rows of the shared store's projections -> the shapes the API and reports use.

import type { Approval, ApprovalState, PolicyChange } from '../../../shared/api.js';
import type {
  AuthMethod,
  Decision,
  SessionInfo,
  StatementProtocol,
  StatementRecord,
} from '../../../shared/types.js';

export type Row = Record<string, unknown>;

export function rowToSession(r: Row): SessionInfo {
  return {
    id: r.id as string,
    identity: r.identity as string,
    authMethod: r.auth_method as AuthMethod,
    connection: r.connection as string,
    clientAddress: r.client_address as string,
    applicationName: r.application_name as string | null,
    database: r.database as string | null,
    tls: r.tls === true,
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
    truncated: r.truncated === true,
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
    id: r.pid as number,
    at: r.at as number,
    by: r.changed_by as string,
    summary: r.summary as string,
    diff: r.diff as string,
  };
}

const TOKEN = /[\p{L}\p{N}\p{Co}]+/gu;
const ENDS_IN_TOKEN = /[\p{L}\p{N}\p{Co}]$/u;

/**
 * A tsquery (config 'simple') from what a person typed, with the SQLite store's meaning: every
 * word must appear (a word such as `public.customers` is a phrase of its tokens) and the last word
 * may be the start of a longer one. Null when there is nothing to search for. Tokens hold only
 * letters and digits, so quoting them needs no escaping.
 */
export function tsQuery(text: string): string | null {
  const words = text.split(/\s+/).filter((w) => w !== '');
  const parts: string[] = [];
  words.forEach((w, i) => {
    const tokens = w.match(TOKEN);
    if (!tokens) return;
    const last = tokens[tokens.length - 1];
    const prefix = i === words.length - 1 && ENDS_IN_TOKEN.test(w) && last.length >= 2;
    const lexemes = tokens.map(
      (t, j) => `'${t.toLowerCase()}'${prefix && j === tokens.length - 1 ? ':*' : ''}`,
    );
    parts.push(lexemes.length > 1 ? `(${lexemes.join(' <-> ')})` : lexemes[0]);
  });
  return parts.length > 0 ? parts.join(' & ') : null;
}
