// Statements held for a human's approval (the `review` guardrail action). A session holds at most
// one at a time: reading from the client stops while it waits, so later pipelined messages keep
// their order.

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

export class ApprovalHolds {
  /** The statement waiting for approval, if any: client messages after it wait too. */
  private held: { approvalId: string } | null = null;
  /** The session's latest statements, shown to approvers. */
  private readonly recent: Approval['recent'] = [];

  constructor(
    private readonly approvals: ApprovalQueue,
    private readonly info: SessionInfo,
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
  ): { notice: Buffer; outcome: Promise<Approval> } {
    const { approval, outcome } = this.approvals.request({
      sessionId: this.info.id,
      identity: this.info.identity,
      connection: this.info.connection,
      sql:
        type === Frontend.FunctionCall
          ? `/* FunctionCall oid=${functionOid(message, 0, message.length)} */`
          : d.statements.map((x) => x.sql).join(';\n') || '',
      rule: d.rule,
      reason: d.reason,
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
