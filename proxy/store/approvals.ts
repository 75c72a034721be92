// Approvals in the store: every state change of an approval (requested = 'pending', then its
// outcome) is one chained `approval` record; the `approvals` projection keeps each approval's
// latest state. This file holds what the SQLite store and a session export share: the record's
// normalized content, and the report's view of an approval (ApprovalEntry).

import type { Approval, ApprovalState } from '../../shared/api.js';
import type { Decision } from '../../shared/types.js';
import type { ApprovalEntry, ApprovalOutcome } from '../report/types.js';
import { int, nonEmpty, optInt, optText, text } from './checks.js';

export const APPROVAL_KIND = 'approval';

export const APPROVAL_STATES: readonly ApprovalState[] = [
  'pending',
  'approved',
  'denied',
  'expired',
  'cancelled',
];

/** The fields an approval keeps from its request to its outcome (only state and decision change). */
export const APPROVAL_REQUEST_FIELDS = [
  'id',
  'sessionId',
  'identity',
  'connection',
  'sql',
  'rule',
  'reason',
  'clientReason',
  'requestedAt',
  'expiresAt',
  'recent',
] as const satisfies readonly (keyof Approval)[];

/** The JSON body of an approval record. */
export interface ApprovalBody {
  kind: typeof APPROVAL_KIND;
  approval: Approval;
}

/**
 * An approval as the store keeps it: every field checked and copied in a fixed shape, so the
 * record and its projection row hold the same values. Throws a TypeError naming a bad field.
 */
export function normalizeApproval(a: Approval): Approval {
  if (a === null || typeof a !== 'object') throw new TypeError('approval must be an object');
  const state = text(a.state, 'approval.state') as ApprovalState;
  if (!APPROVAL_STATES.includes(state)) {
    throw new TypeError(`approval.state must be one of ${APPROVAL_STATES.join(', ')}`);
  }
  if (!Array.isArray(a.recent)) throw new TypeError('approval.recent must be an array');
  const recent = a.recent.map((r, i) => {
    if (r === null || typeof r !== 'object') throw new TypeError(`approval.recent[${i}] must be an object`);
    return {
      sql: text(r.sql, `approval.recent[${i}].sql`),
      decision: text(r.decision, `approval.recent[${i}].decision`) as Decision,
      at: int(r.at, `approval.recent[${i}].at`),
    };
  });
  const decidedAt = optInt(a.decidedAt, 'approval.decidedAt');
  const decidedBy = optText(a.decidedBy, 'approval.decidedBy');
  if (state === 'pending' && (decidedAt !== null || decidedBy !== null)) {
    throw new TypeError('approval.decidedAt and decidedBy must be null while the approval is pending');
  }
  if (state !== 'pending' && decidedAt === null) {
    throw new TypeError(`approval.decidedAt must be set once the approval is ${state}`);
  }
  return {
    id: nonEmpty(a.id, 'approval.id'),
    sessionId: nonEmpty(a.sessionId, 'approval.sessionId'),
    identity: text(a.identity, 'approval.identity'),
    connection: text(a.connection, 'approval.connection'),
    sql: text(a.sql, 'approval.sql'),
    rule: optText(a.rule, 'approval.rule'),
    reason: text(a.reason, 'approval.reason'),
    clientReason: optText(a.clientReason, 'approval.clientReason'),
    requestedAt: int(a.requestedAt, 'approval.requestedAt'),
    expiresAt: int(a.expiresAt, 'approval.expiresAt'),
    state,
    decidedBy,
    decidedAt,
    recent,
  };
}

/** The record's time (records.t_us): when the approval was requested, or decided. */
export function approvalTime(a: Approval): number {
  return a.decidedAt ?? a.requestedAt;
}

/** Request fields in which `b` differs from `a` (compared as JSON). */
export function requestDiffers(a: Approval, b: Approval): string[] {
  return APPROVAL_REQUEST_FIELDS.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/** Reads an approval record's body; throws on anything that is not one. */
export function decodeApprovalBody(body: Buffer): Approval {
  const v = JSON.parse(body.toString('utf8')) as Partial<ApprovalBody>;
  if (v?.kind !== APPROVAL_KIND) throw new Error('not an approval record');
  return normalizeApproval(v.approval as Approval);
}

/** How the report names an approval's state. */
export function approvalOutcome(state: ApprovalState): ApprovalOutcome {
  switch (state) {
    case 'expired':
      return 'timed out';
    default:
      return state;
  }
}

/**
 * The report's view of an approval. `statementSeq` is the seq of the statement it held (the
 * statement whose approvalId names it); null while no such statement is recorded (still pending,
 * or the client went away before the statement ended).
 */
export function approvalEntry(a: Approval, statementSeq: number | null): ApprovalEntry {
  return {
    sessionId: a.sessionId,
    statementSeq,
    approvalId: a.id,
    requestedAt: a.requestedAt,
    outcome: approvalOutcome(a.state),
    approver: a.decidedBy,
    decidedAt: a.decidedAt,
    reason: a.clientReason,
    policyReason: a.reason,
  };
}
