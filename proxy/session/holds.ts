// Statements held for a human's approval (the `review` guardrail action). A session holds at most
// one at a time: reading from the client stops while it waits, so later pipelined messages keep
// their order.

import { createHash } from 'node:crypto';
import type { Approval } from '../../shared/api.js';
import type { SessionInfo, StatementRecord } from '../../shared/types.js';
import type { ApprovalQueue } from '../approvals/queue.js';
import { SqlState } from '../errors.js';
import type { GuardDecision } from '../policy/index.js';
import { Frontend } from '../wire/codes.js';
import { functionOid } from '../wire/fields.js';
import * as msg from '../wire/messages.js';

/** The error a held statement gets when it is not approved. */
export function approvalError(a: Approval): msg.ErrorFields {
  if (a.state === 'cancelled')
    return { code: SqlState.QueryCanceled, message: 'canceling statement due to user request' };
  const why =
    a.state === 'denied'
      ? `was denied by ${a.decidedBy ?? 'an operator'}`
      : a.state === 'expired'
        ? 'timed out without a decision'
        : 'was cancelled';
  return {
    code: SqlState.InsufficientPrivilege,
    message: `Bastion: approval ${a.id} ${why}; the statement did not run`,
  };
}

/** Longest value shown to an approver in full; longer ones are cut, with their size and digest. */
const SHOWN_CHARS = 200;

/**
 * Characters that would let a value draw lines or reorder text in the approver's view (a forged
 * "-- $2 = ..." line, a bidi override): shown as escapes.
 */
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

function shown(text: string): string {
  const cut = text.length > SHOWN_CHARS ? text.slice(0, SHOWN_CHARS) : text;
  const safe = cut.replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `'${safe.replaceAll("'", "''")}'${cut.length < text.length ? '…' : ''}`;
}

/**
 * A Bind's parameter values as the approver sees them: text values quoted, binary ones as hex; a
 * long value is cut for display, with its exact size and SHA-256 so the record ties the approval
 * to the bytes that ran (the approved Bind is forwarded as it was held, byte for byte). They go
 * in the approval's reason, which the gateway writes: in the SQL text a client could forge them
 * with comments.
 */
export function describeBound(values: readonly { bytes: Buffer | null; binary: boolean }[]): string {
  return values
    .map((v, i) => {
      const n = `$${i + 1}`;
      if (v.bytes === null) return `${n} = NULL`;
      const b = v.bytes;
      const text = v.binary
        ? `(binary) \\x${b.toString('hex', 0, Math.min(b.length, SHOWN_CHARS / 2))}${b.length > SHOWN_CHARS / 2 ? '…' : ''}`
        : shown(b.toString('utf8'));
      const long = v.binary ? b.length > SHOWN_CHARS / 2 : b.length > SHOWN_CHARS;
      const exact = long
        ? ` (${b.length} bytes, sha256 ${createHash('sha256').update(b).digest('hex')})`
        : '';
      return `${n} = ${text}${exact}`;
    })
    .join(', ');
}

/** Values already bound to a portal (as the statement records keep them), for a held Execute. */
export function describeRecorded(params: readonly (string | null)[]): string {
  return params.map((v, i) => `$${i + 1} = ${v === null ? 'NULL' : shown(v)}`).join(', ');
}

export class ApprovalHolds {
  /** The statement waiting for approval, if any: client messages after it wait too. */
  private held: { approvalId: string } | null = null;
  /** The session's latest statements, shown to approvers. */
  private readonly recent: Approval['recent'] = [];

  constructor(
    private readonly approvals: ApprovalQueue,
    private readonly info: SessionInfo,
    /** What the store may keep of a text the client typed (values masked; see client-values.ts). */
    private readonly scrub: (text: string) => string = (t) => t,
  ) {}

  /** A statement is waiting for approval. */
  get holding(): boolean {
    return this.held !== null;
  }

  /**
   * Asks for approval of a client message (`type`, its bytes `message`). Returns the notice that
   * tells the client at once (with the request id) and the approval once decided.
   */
  request(
    type: number,
    message: Buffer,
    d: GuardDecision,
    timeoutMs: number,
    /** What the approver must see besides the SQL: the values one execution runs with (null: none). */
    bound: string | null = null,
  ): { notice: Buffer; outcome: Promise<Approval> } {
    const sql =
      type === Frontend.FunctionCall
        ? `/* FunctionCall oid=${functionOid(message, 0, message.length)} */`
        : this.scrub(d.statements.map((x) => x.sql).join(';\n') || '');
    const { approval, outcome } = this.approvals.request({
      sessionId: this.info.id,
      identity: this.info.identity,
      connection: this.info.connection,
      sql,
      rule: d.rule,
      reason: this.scrub(bound === null ? d.reason : `${d.reason}; bound values: ${bound || '(none)'}`),
      clientReason: d.clientReason,
      recent: [...this.recent],
      timeoutMs,
    });
    this.held = { approvalId: approval.id };
    const notice = msg.noticeResponse({
      code: '00000',
      message: `Bastion: this statement is held for approval (request ${approval.id}): ${d.reason}`,
      hint: `an operator can approve it in the Bastion app or with: bastion approvals approve ${approval.id}`,
    });
    return { notice, outcome };
  }

  /** The held statement has been run or refused. */
  settled(): void {
    this.held = null;
  }

  /** A cancel while a statement is held ends the hold instead of reaching the (idle) upstream. */
  cancel(): boolean {
    if (this.held === null) return false;
    this.approvals.cancel(this.held.approvalId);
    return true;
  }

  /** The session ended: a pending approval is cancelled. */
  abandon(): void {
    if (this.held !== null) this.approvals.cancel(this.held.approvalId);
  }

  /** A statement of the session ended: approvers see the latest ten. */
  remember(s: StatementRecord): void {
    this.recent.push({ sql: s.sql, decision: s.decision, at: s.startedAt });
    if (this.recent.length > 10) this.recent.shift();
  }
}
