// The server-enforced boundary of a session: `read_only` (transactions the server keeps
// read-only, see policy/read-only.ts) and the `upstream_role` lock (role-lock.ts). The analyser
// refuses every way it knows to leave them; this is the backstop for the ways it does not know (a
// function whose body runs `RESET ROLE` or set_config, called through a view or allow-listed):
//
// - after every batch (a simple Query, a FunctionCall, extended messages up to Sync) nothing more
//   of the client reaches the server until the batch's ReadyForQuery is in, so what the server
//   reports at that point (ParameterStatus: default_transaction_read_only, is_superuser,
//   session_authorization) is known before the next batch runs;
// - in a role-locked session the gateway asks the server `SELECT current_user` after each batch,
//   pipelined right behind it (no extra round trip; after the ReadyForQuery instead when the batch
//   may start COPY FROM STDIN, which would swallow the question), and the next batch waits for
//   the answer. A role other than the locked one ends the session before anything else of the
//   client reaches the server.
//
// Within one batch the check comes too late: a statement after the one that changed the role
// would run as the gateway's upstream user. So in a role-locked session a batch may run user code
// (anything but transaction control, SET and SHOW, which run none) only in its last statement: a
// simple Query's later statements are refused by the guard (RoleLockedGuard), and in an extended
// batch a Bind or Execute of another portal after one that may run user code is refused in place
// (a stand-in that fails: the server skips the rest up to Sync and rolls the batch back, a role
// changed in it included); a Query or FunctionCall there ends the session.
// In a read_only session a new transaction inside one batch is the gap: a COMMIT followed by more
// statements in one Query is refused (policy/read-only.ts), and an Execute of COMMIT / ROLLBACK
// must be followed by Sync. What remains: inside ONE statement, a function the planner folds
// (IMMUTABLE, constant arguments) runs before the statement's own permission checks, so a folded
// function that resets the role lends that statement the upstream user's privileges. Only an
// upstream user without more privileges than the identity needs closes that (see the README).

import { GatewayError, SqlState } from '../errors.js';
import { type AnalysisCache, type StatementAnalysis, sharedAnalysisCache } from '../policy/index.js';
import { ENDS_TRANSACTION, readOnlyStatus } from '../policy/read-only.js';
import { Backend, Frontend } from '../wire/codes.js';
import { dataRowText, noticeFields, parameterStatus, readyStatus } from '../wire/fields.js';
import * as msg from '../wire/messages.js';
import type { Op, Reply } from './protocol-state.js';

/** The question asked after each batch of a role-locked session. */
const ROLE_CHECK = msg.query('SELECT current_user');

/** The session left its boundary: it ends with this FATAL error. */
export class BoundaryBroken extends GatewayError {
  constructor(message: string) {
    super(SqlState.InsufficientPrivilege, message);
  }
}

/**
 * Whether a statement runs no user code: transaction control (but ROLLBACK TO SAVEPOINT, which
 * brings back settings as they were at the savepoint, a role changed before it included), SET
 * (role changes are refused before this is asked) and SHOW.
 */
export function runsNoUserCode(s: StatementAnalysis): boolean {
  return s.units.every(
    (u) =>
      (u.kind === 'transaction' && u.command !== 'ROLLBACK TO SAVEPOINT') ||
      u.kind === 'set' ||
      u.kind === 'show',
  );
}

export interface BoundaryOptions {
  readOnly: boolean;
  /** The locked upstream role, or null. */
  role: string | null;
  /** What the upstream reported at login (after SET ROLE): is_superuser, session_authorization. */
  parameters: readonly [string, string][];
}

type CheckState = 'none' | 'sent' | 'reading';

export class SessionBoundary {
  /** The batch end (Query, Sync, FunctionCall) whose ReadyForQuery the next batch waits for. */
  private barrier: Op | null = null;
  private check: CheckState = 'none';
  /** The ReadyForQuery status of the batch the check follows ('E': the check cannot run). */
  private batchStatus = 0;
  private checkAnswer: string | null = null;
  private checkError: string | null = null;
  /** This batch may start COPY FROM STDIN (the check then waits for its ReadyForQuery). */
  private mayCopy = false;
  /** Role lock: the portal of this batch that may run user code (nothing else may run after). */
  private userCodePortal: string | null = null;
  /** read_only: an Execute of COMMIT / ROLLBACK was sent; only Sync (or Flush) may follow. */
  private transactionEnded = false;
  private readonly reported: Map<string, string>;

  constructor(
    private readonly opts: BoundaryOptions,
    private readonly analyses: AnalysisCache = sharedAnalysisCache,
  ) {
    this.reported = new Map(
      opts.parameters.filter(([k]) => k === 'is_superuser' || k === 'session_authorization'),
    );
  }

  /** The locked upstream role, or null. */
  get lockedRole(): string | null {
    return this.opts.role;
  }

  /** A session with neither read_only nor a role lock needs no boundary. */
  static for(opts: BoundaryOptions): SessionBoundary | null {
    return opts.readOnly || opts.role !== null ? new SessionBoundary(opts) : null;
  }

  /**
   * Whether a client message must wait for the previous batch's answer (and check). COPY data
   * never waits: the server may be reading it for that very batch.
   */
  mustWait(type: number): boolean {
    if (type === Frontend.CopyData || type === Frontend.CopyDone || type === Frontend.CopyFail) return false;
    return this.barrier !== null || this.check !== 'none';
  }

  /**
   * Why a client message may not be sent in this batch, or null. A Bind or Execute is refused in
   * place (the rest of the batch fails with it); anything else ends the session.
   * `portal`: the portal a Bind makes or an Execute runs.
   */
  refusal(type: number, portal: string | null): string | null {
    if (this.transactionEnded && type !== Frontend.Sync && type !== Frontend.Flush)
      return 'in a read-only session, an Execute of COMMIT or ROLLBACK must be followed by Sync: a new transaction begins after it';
    if (this.opts.role === null || this.userCodePortal === null) return null;
    // What runs statements (a Query or FunctionCall in the middle of the batch included); Parse,
    // Describe and Close run none, and Sync ends the batch.
    const runs =
      type === Frontend.Query ||
      type === Frontend.FunctionCall ||
      type === Frontend.Bind ||
      (type === Frontend.Execute && portal !== this.userCodePortal);
    if (runs)
      return `in a session locked to role "${this.opts.role}", a batch may run user code only in its last statement (the gateway verifies the role after each batch): send a Sync before the next one`;
    return null;
  }

  /** A client message went upstream as `op`: returns what the gateway sends right behind it. */
  forwarded(op: Op | null): Buffer | null {
    if (op === null || op.outcome === 'skipped') return null;
    switch (op.kind) {
      case 'query':
        this.noteCopy(op.sql);
        return this.batchEnd(op);
      case 'function-call':
        return this.batchEnd(op);
      case 'sync':
        return this.batchEnd(op);
      case 'parse':
        this.noteCopy(op.statement.sql);
        return null;
      case 'bind':
      case 'execute': {
        const sql = op.portal?.statement?.sql ?? null;
        if (sql === null) this.mayCopy = true;
        else this.noteCopy(sql);
        const statements = sql === null ? null : this.analyses.analyze(sql).statements;
        if (this.opts.role !== null && (statements === null || !statements.every(runsNoUserCode)))
          this.userCodePortal = op.kind === 'bind' ? op.portal.name : op.name;
        if (this.opts.readOnly && op.kind === 'execute') {
          const first = statements?.[0]?.units[0];
          if (statements === null || (first?.kind === 'transaction' && ENDS_TRANSACTION.has(first.command)))
            this.transactionEnded = true;
        }
        return null;
      }
      default:
        return null;
    }
  }

  private noteCopy(sql: string): void {
    if (/copy/i.test(sql)) this.mayCopy = true;
  }

  private batchEnd(op: Op): Buffer | null {
    this.barrier = op;
    this.userCodePortal = null;
    this.transactionEnded = false;
    const pipelined = this.opts.role !== null && !this.mayCopy;
    this.mayCopy = false;
    if (!pipelined) return null;
    this.check = 'sent';
    return ROLE_CHECK;
  }

  /**
   * A server message before the protocol model sees it: true when it answers the gateway's own
   * check (it is consumed here). Throws BoundaryBroken when the session left its boundary.
   */
  server(type: number, buf: Buffer, start: number, end: number): boolean {
    if (type === Backend.ParameterStatus) {
      this.status(buf, start, end);
      return false;
    }
    // A pipelined check would be read as COPY data (it is never pipelined behind a text that
    // mentions COPY, or a portal the gateway does not know): fail closed rather than hang.
    if (type === Backend.CopyInResponse && this.check === 'sent')
      throw new BoundaryBroken('COPY began where the gateway did not expect one: the session ends');
    if (this.check !== 'reading') return false;
    switch (type) {
      case Backend.RowDescription:
      case Backend.CommandComplete:
      case Backend.EmptyQueryResponse:
        return true;
      case Backend.DataRow:
        this.checkAnswer = dataRowText(buf.subarray(start + 5, end))[0] ?? null;
        return true;
      case Backend.ErrorResponse:
        this.checkError = noticeFields(buf, start, end).get('C') ?? 'unknown';
        return true;
      case Backend.ReadyForQuery:
        this.checked();
        return true;
      default:
        return false;
    }
  }

  private checked(): void {
    const role = this.opts.role ?? '';
    const answer = this.checkAnswer;
    const error = this.checkError;
    this.check = 'none';
    this.checkAnswer = null;
    this.checkError = null;
    // In a failed transaction nothing runs until ROLLBACK, which brings back the role the
    // transaction began with (checked after an earlier batch); ROLLBACK TO SAVEPOINT may not,
    // and the batch that sends it is checked in turn.
    if (error === '25P02' && this.batchStatus === 0x45) return;
    if (error !== null)
      throw new BoundaryBroken(
        `the gateway could not verify the session's role (error ${error}): the session ends`,
      );
    if (answer !== role)
      throw new BoundaryBroken(
        `the session is locked to role "${role}" but now acts as another role: something the gateway could not see changed it; the session ends`,
      );
  }

  private status(buf: Buffer, start: number, end: number): void {
    const { name, value } = parameterStatus(buf, start, end);
    if (this.opts.readOnly) {
      const why = readOnlyStatus(name, value);
      if (why !== null) throw new BoundaryBroken(why);
    }
    if (this.opts.role !== null && this.reported.has(name) && this.reported.get(name) !== value)
      throw new BoundaryBroken(
        `the session is locked to role "${this.opts.role}" but the database reports ${name} = ${value}: something the gateway could not see changed it; the session ends`,
      );
  }

  /**
   * After the model read a server message: when it ended the batch the barrier waits for, the
   * check starts (returned: to send now, when it could not be pipelined) or the barrier lifts.
   */
  replied(reply: Reply, type: number, buf: Buffer, start: number, end: number): Buffer | null {
    const b = this.barrier;
    if (b === null || !reply.ended.includes(b)) return null;
    this.barrier = null;
    if (type !== Backend.ReadyForQuery) {
      // A Sync read during COPY FROM STDIN: ignored by the server, no ReadyForQuery of its own.
      // A check pipelined behind it would be read as COPY data: never sent (see mayCopy).
      if (this.check === 'sent') throw new BoundaryBroken('COPY began where the gateway did not expect one');
      return null;
    }
    if (this.opts.role === null) return null;
    this.batchStatus = readyStatus(buf, start, end);
    const late = this.check === 'none' ? ROLE_CHECK : null;
    this.check = 'reading';
    return late;
  }
}
