// Statements held for a human decision. A held statement waits here until someone approves or
// denies it, or its time runs out; every change is an event for the hosts (notification, UI,
// CLI) and is persisted through an ApprovalLog so a restart keeps who decided what.

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Approval, ApprovalState } from '../../shared/api.js';

export type ApprovalOutcome = Exclude<ApprovalState, 'pending'>;

/** Where approvals are persisted (the session store). */
export interface ApprovalLog {
  recordApproval(a: Approval): void;
}

export class ApprovalError extends Error {
  constructor(
    readonly code: 'not-found' | 'not-pending' | 'self-approval',
    message: string,
  ) {
    super(message);
  }
}

export interface ApprovalRequest {
  sessionId: string;
  identity: string;
  connection: string;
  sql: string;
  rule: string | null;
  reason: string;
  clientReason: string | null;
  recent: Approval['recent'];
  timeoutMs: number;
}

interface Pending {
  approval: Approval;
  timer: NodeJS.Timeout;
  resolve: (outcome: Approval) => void;
}

const HISTORY = 1000;

export class ApprovalQueue extends EventEmitter<{ changed: [Approval] }> {
  private readonly pending = new Map<string, Pending>();
  private readonly history: Approval[] = [];

  constructor(private readonly log: ApprovalLog | null = null) {
    super();
  }

  /** Holds a statement; resolves with the approval once it is decided, expired or cancelled. */
  request(req: ApprovalRequest): { approval: Approval; outcome: Promise<Approval> } {
    const now = Date.now() * 1000;
    const approval: Approval = {
      id: randomUUID(),
      sessionId: req.sessionId,
      identity: req.identity,
      connection: req.connection,
      sql: req.sql,
      rule: req.rule,
      reason: req.reason,
      clientReason: req.clientReason,
      requestedAt: now,
      expiresAt: now + req.timeoutMs * 1000,
      state: 'pending',
      decidedBy: null,
      decidedAt: null,
      recent: req.recent,
    };
    let resolve!: (a: Approval) => void;
    const outcome = new Promise<Approval>((r) => {
      resolve = r;
    });
    const timer = setTimeout(() => this.finish(approval.id, 'expired', null), req.timeoutMs);
    this.pending.set(approval.id, { approval, timer, resolve });
    this.persist(approval);
    return { approval: { ...approval }, outcome };
  }

  /** An operator's decision. An identity can never approve its own statement. */
  decide(id: string, decision: 'approve' | 'deny', by: string): Approval {
    const p = this.pending.get(id);
    if (!p) {
      const done = this.history.find((a) => a.id === id);
      if (done) throw new ApprovalError('not-pending', `approval ${id} is already ${done.state}`);
      throw new ApprovalError('not-found', `no approval ${id}`);
    }
    if (decision === 'approve' && by === p.approval.identity) {
      throw new ApprovalError('self-approval', `"${by}" cannot approve its own statement`);
    }
    return this.finish(id, decision === 'approve' ? 'approved' : 'denied', by)!;
  }

  /** Ends a pending approval whose session went away. */
  cancel(id: string): void {
    this.finish(id, 'cancelled', null);
  }

  private finish(id: string, state: ApprovalOutcome, by: string | null): Approval | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    clearTimeout(p.timer);
    this.pending.delete(id);
    const done: Approval = { ...p.approval, state, decidedBy: by, decidedAt: Date.now() * 1000 };
    this.history.unshift(done);
    if (this.history.length > HISTORY) this.history.length = HISTORY;
    this.persist(done);
    p.resolve(done);
    return done;
  }

  private persist(a: Approval): void {
    try {
      this.log?.recordApproval(a);
    } finally {
      this.emit('changed', { ...a });
    }
  }

  get size(): number {
    return this.pending.size;
  }

  list(state?: ApprovalState): Approval[] {
    const pending = [...this.pending.values()].map((p) => ({ ...p.approval }));
    const all = [...pending, ...this.history];
    return state === undefined ? all : all.filter((a) => a.state === state);
  }

  /** Cancels everything pending (gateway stop). */
  close(): void {
    for (const id of [...this.pending.keys()]) this.cancel(id);
  }
}
