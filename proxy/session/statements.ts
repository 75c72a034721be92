// Statement records of a session for the store: SQL, parameters, rows, tag, error, decision and
// the frames each spans. Which request a server message answers, and when a request ends (or is
// skipped by the server after an earlier error), is the protocol model's (protocol-state.ts).

import type { Decision, StatementProtocol, StatementRecord } from '../../shared/types.js';
import { Backend, Frontend } from '../wire/codes.js';
import { commandTag, functionOid, noticeFields, parseMessage, querySql, tagRows } from '../wire/fields.js';
import type { Op, PreparedStatement, Reply } from './protocol-state.js';
import { RunDigest } from './run-digest.js';

interface Running {
  kind: 'statement';
  protocol: StatementProtocol;
  /** Simple Query and FunctionCall end at ReadyForQuery; Execute earlier. */
  endsAtReady: boolean;
  sql: string;
  params: (string | null)[] | null;
  startedAt: number;
  firstFrame: number;
  lastFrame: number;
  dataRows: number;
  tag: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  finished: boolean;
  capturedBytes: number;
  uncapturedBytes: number;
  uncapturedRows: number;
  digest: RunDigest | null;
  decision: Decision;
  rule: string | null;
  /** Set when the gateway refused the statement: the upstream's error is replaced by this one. */
  refusal: Buffer | null;
  approvalId: string | null;
  masked: Record<string, number>;
}

/** The guardrail decision a statement ran (or was refused) under. */
export interface Verdict {
  decision: Decision;
  rule: string | null;
  approvalId: string | null;
}

const ALLOWED: Verdict = { decision: 'allow', rule: null, approvalId: null };

export interface StatementClock {
  /** Epoch microseconds. */
  epochNow(): number;
}

/**
 * Statements of one session, as records for the store: one per simple Query, per Execute and per
 * FunctionCall. Which statement a server message belongs to, and what a Bind or Execute runs,
 * come from the session's protocol model (protocol-state.ts); this class only keeps the record
 * of each request the model reports.
 */
export class StatementTracker {
  private readonly running = new WeakMap<Op, Running>();
  private readonly verdicts = new WeakMap<PreparedStatement, Verdict>();
  /** A refused Parse until the next Sync: the server skips the Bind/Execute that follow, so they are part of it. */
  private refusedParse: { name: string; s: Running } | null = null;
  private count = 0;
  /** Statements awaiting their end (abandon ends them with the session). */
  private readonly open = new Set<Running>();

  constructor(
    private readonly sessionId: string,
    private readonly captureLimit: number,
    private readonly clock: StatementClock,
    private readonly onStatement: (s: StatementRecord) => void,
  ) {}

  /**
   * The ErrorResponse to send instead of the upstream's, set by `onServer` when the error belongs
   * to a refused statement.
   */
  replacement: Buffer | null = null;

  /**
   * Records that the client message at frame `seq` (in `buf`) is refused: the session sent the
   * upstream a message that fails in its place (`standIn`, the model's request for it), so the
   * server's own error handling (skip to Sync, abort the transaction) keeps everything in order,
   * and the error it returns is replaced.
   */
  refuse(
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    seq: number,
    verdict: Verdict,
    error: Buffer,
    standIn: Op | null,
    /** For a Bind or Execute: what it would have run. */
    run?: { sql: string; params: (string | null)[] | null },
  ): void {
    let s: Running;
    if (run !== undefined) {
      s = this.start('extended', run.sql, run.params, seq, false);
      // The server skips what follows up to the Sync: no record of its own (NUL is in no name).
      this.refusedParse = { name: '\0', s };
    } else if (type === Frontend.Parse) {
      const p = parseMessage(buf, start, end);
      s = this.start('extended', p.sql, null, seq, false);
      this.refusedParse = { name: p.name, s };
    } else if (type === Frontend.Query) {
      s = this.start('simple', querySql(buf, start, end), null, seq, true);
    } else {
      s = this.start('function', `/* FunctionCall oid=${functionOid(buf, start, end)} */`, null, seq, true);
    }
    this.apply(s, verdict);
    s.refusal = error;
    this.track(standIn, s);
  }

  private track(op: Op | null, s: Running): void {
    if (op === null) return;
    this.running.set(op, s);
    if (op === this.lastOp) this.lastRecord = s;
    // Queued behind a request the server already failed: it will never run.
    if (op.outcome === 'skipped') this.skipped(s, s.firstFrame);
  }

  private apply(s: Running, v: Verdict): void {
    s.decision = v.decision;
    s.rule = v.rule;
    s.approvalId = v.approvalId;
  }

  private start(
    protocol: StatementProtocol,
    sql: string,
    params: (string | null)[] | null,
    frame: number,
    endsAtReady: boolean,
  ): Running {
    const s: Running = {
      kind: 'statement',
      protocol,
      endsAtReady,
      sql,
      params,
      startedAt: this.clock.epochNow(),
      firstFrame: frame,
      lastFrame: frame,
      dataRows: 0,
      tag: null,
      errorCode: null,
      errorMessage: null,
      finished: false,
      capturedBytes: 0,
      uncapturedBytes: 0,
      uncapturedRows: 0,
      digest: null,
      decision: 'allow',
      rule: null,
      refusal: null,
      approvalId: null,
      masked: {},
    };
    this.open.add(s);
    return s;
  }

  /**
   * A client message was forwarded upstream as the model's request `op`. `verdict` is the
   * guardrail decision for a Query, Parse, FunctionCall or Execute (without one, an Execute
   * takes its statement's Parse's).
   */
  onClient(op: Op | null, verdict?: Verdict): void {
    if (op === null) return;
    switch (op.kind) {
      case 'query': {
        const s = this.start('simple', op.sql, null, op.seq, true);
        this.apply(s, verdict ?? ALLOWED);
        this.track(op, s);
        break;
      }
      case 'parse':
        this.verdicts.set(op.statement, verdict ?? ALLOWED);
        break;
      case 'bind':
        if (this.refusedParse !== null && op.portal.statementName === this.refusedParse.name)
          this.refusedParse.s.params ??= op.portal.params;
        break;
      case 'execute': {
        if (this.refusedParse !== null) break;
        const p = op.portal;
        const s = this.start(
          'extended',
          p === null
            ? `/* unknown portal "${op.name}" */`
            : (p.statement?.sql ?? `/* unknown prepared statement "${p.statementName}" */`),
          p?.params ?? null,
          p?.bindSeq ?? op.seq,
          false,
        );
        if (verdict !== undefined) this.apply(s, verdict);
        else if (p?.statement) this.apply(s, this.verdicts.get(p.statement) ?? ALLOWED);
        this.track(op, s);
        break;
      }
      case 'sync':
        this.refusedParse = null;
        break;
      case 'function-call': {
        const s = this.start('function', `/* FunctionCall oid=${op.oid} */`, null, op.seq, true);
        this.apply(s, verdict ?? ALLOWED);
        this.track(op, s);
        break;
      }
    }
  }

  /** Values the masker rewrote, by rule, for the statement of request `op`. */
  addMasked(op: Op | null, counts: ReadonlyMap<string, number>): void {
    const s = op === null ? undefined : this.running.get(op);
    if (s === undefined || s.finished) return;
    for (const [rule, n] of counts) s.masked[rule] = (s.masked[rule] ?? 0) + n;
  }

  /**
   * A server message (the model's `reply` to it) is about to be sent to the client as frame
   * `seq`. Returns false when its bytes must not be stored because its statement passed the
   * capture limit.
   */
  onServer(reply: Reply, type: number, buf: Buffer, start: number, end: number, seq: number): boolean {
    let s = reply.op === null ? undefined : this.recordOf(reply.op);
    if (s === undefined && type === Backend.ErrorResponse) {
      // A Bind or Describe failed: the error is that of the statement it was to run.
      for (const op of reply.ended) {
        s = this.running.get(op);
        if (s !== undefined) break;
      }
    }
    let capture = true;
    if (s !== undefined && !s.finished) {
      switch (type) {
        case Backend.DataRow:
        case Backend.CopyData: {
          if (type === Backend.DataRow) s.dataRows++;
          s.lastFrame = seq;
          const len = end - start;
          if (this.captureLimit === 0 || s.capturedBytes + len <= this.captureLimit) {
            s.capturedBytes += len;
            break;
          }
          s.uncapturedBytes += len;
          if (type === Backend.DataRow) s.uncapturedRows++;
          s.digest ??= new RunDigest();
          s.digest.add(buf, start, end);
          capture = false;
          break;
        }
        case Backend.CommandComplete:
          s.tag = commandTag(buf, start, end);
          s.lastFrame = seq;
          break;
        case Backend.EmptyQueryResponse:
        case Backend.PortalSuspended:
          s.lastFrame = seq;
          break;
        case Backend.ErrorResponse: {
          const f = noticeFields(s.refusal ?? buf, s.refusal ? 0 : start, s.refusal ? s.refusal.length : end);
          s.errorCode ??= f.get('C') ?? null;
          s.errorMessage ??= f.get('M') ?? null;
          this.replacement = s.refusal;
          s.refusal = null;
          s.lastFrame = seq;
          break;
        }
      }
    }
    for (const op of reply.ended) {
      const r = this.running.get(op);
      if (r === undefined || r.finished) continue;
      if (op.outcome === 'skipped') this.skipped(r, seq);
      else this.finish(r, seq);
    }
    return capture;
  }

  /** The record of request `op`; the last one looked up is kept (a result's rows all ask for it). */
  private recordOf(op: Op): Running | undefined {
    if (op !== this.lastOp) {
      this.lastOp = op;
      this.lastRecord = this.running.get(op);
    }
    return this.lastRecord;
  }
  private lastOp: Op | null = null;
  private lastRecord: Running | undefined;

  /** The server skipped it after an earlier error in the same pipeline. */
  private skipped(s: Running, seq: number): void {
    if (s.errorCode === null) s.errorMessage ??= 'not executed: an earlier message before Sync failed';
    // A refused statement's stand-in never reached the server's error: its own refusal is its error.
    if (s.refusal !== null) {
      const f = noticeFields(s.refusal, 0, s.refusal.length);
      s.errorCode = f.get('C') ?? null;
      s.errorMessage = f.get('M') ?? null;
      s.refusal = null;
    }
    this.finish(s, seq);
  }

  private finish(s: Running, seq: number): void {
    s.finished = true;
    this.open.delete(s);
    s.lastFrame = Math.max(s.lastFrame, seq);
    const fromTag = s.tag === null ? null : tagRows(s.tag);
    this.onStatement({
      sessionId: this.sessionId,
      seq: ++this.count,
      protocol: s.protocol,
      sql: s.sql,
      params: s.params,
      startedAt: s.startedAt,
      durationUs: Math.max(0, this.clock.epochNow() - s.startedAt),
      rows: fromTag ?? s.dataRows,
      tag: s.tag,
      errorCode: s.errorCode,
      errorMessage: s.errorMessage,
      decision: s.decision,
      rule: s.rule,
      approvalId: s.approvalId,
      firstFrame: s.firstFrame,
      lastFrame: s.lastFrame,
      truncated: s.uncapturedBytes > 0,
      uncapturedBytes: s.uncapturedBytes,
      uncapturedRows: s.uncapturedRows,
      uncapturedDigest: s.digest ? s.digest.hex() : null,
      masked: s.masked,
    });
  }

  /** Ends statements still waiting when the session ends (their answers will never come). */
  abandon(reason: string, seq: number): void {
    for (const s of [...this.open]) {
      s.errorMessage ??= reason;
      this.finish(s, seq);
    }
  }
}
