// Derives statements from the frames of a session. The server answers messages strictly in the
// order they were sent, so a FIFO of what is awaiting an answer maps every response to its
// statement: simple Queries and FunctionCalls end at ReadyForQuery; an extended-protocol
// Execute ends at CommandComplete / EmptyQueryResponse / PortalSuspended / ErrorResponse, and
// after an error the server skips everything up to the next Sync.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY

import type { Decision, StatementProtocol, StatementRecord } from '../../shared/types.js';
import { Backend, Frontend } from '../wire/codes.js';
import {
  bindMessage,
  closeTarget,
  commandTag,
  executePortal,
  functionOid,
  noticeFields,
  parseMessage,
  querySql,
  tagRows,
} from '../wire/fields.js';
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

interface Prepared {
  sql: string;
  verdict: Verdict;
}

type Awaiting = Running | { kind: 'sync' };

interface Portal {
  sql: string;
  verdict: Verdict;
  params: (string | null)[];
  bindFrame: number;
}

export interface StatementClock {
  /** Epoch microseconds. */
  epochNow(): number;
}

export class StatementTracker {
  private readonly queue: Awaiting[] = [];
  private readonly prepared = new Map<string, Prepared>();
  private readonly portals = new Map<string, Portal>();
  /** A refused Parse until the next Sync: the server skips the Bind/Execute that follow, so they are part of it. */
  private refusedParse: { name: string; s: Running } | null = null;
  private count = 0;
  /** Statements awaiting their end. */
  get inFlight(): number {
    return this.queue.length;
  }

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
   * Records that the client message at frame `seq` is refused: the session sends the upstream a
   * message that fails to parse in its place, so the server's own error handling (skip to Sync,
   * abort the transaction) keeps everything in order, and the error it returns is replaced.
   */
  refuse(
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    seq: number,
    verdict: Verdict,
    error: Buffer,
  ): void {
    let s: Running;
    if (type === Frontend.Parse) {
      const p = parseMessage(buf, start, end);
      this.prepared.delete(p.name);
      s = this.start('extended', p.sql, null, seq, false);
      this.refusedParse = { name: p.name, s };
    } else if (type === Frontend.Query) {
      s = this.start('simple', querySql(buf, start, end), null, seq, true);
    } else {
      s = this.start('function', `/* FunctionCall oid=${functionOid(buf, start, end)} */`, null, seq, true);
    }
    this.apply(s, verdict);
    s.refusal = error;
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
    this.queue.push(s);
    return s;
  }

  /**
   * A client message was forwarded upstream as frame `seq`. `verdict` is the guardrail decision for
   * a Query, Parse or FunctionCall (a Parse's applies to every execution of that statement).
   */
  onClient(
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    seq: number,
    verdict: Verdict = ALLOWED,
  ): void {
    switch (type) {
      case Frontend.Query:
        this.apply(this.start('simple', querySql(buf, start, end), null, seq, true), verdict);
        break;
      case Frontend.Parse: {
        const p = parseMessage(buf, start, end);
        this.prepared.set(p.name, { sql: p.sql, verdict });
        break;
      }
      case Frontend.Bind: {
        const b = bindMessage(buf, start, end);
        if (this.refusedParse !== null) {
          if (b.statement === this.refusedParse.name) this.refusedParse.s.params ??= b.params;
          break;
        }
        const prepared = this.prepared.get(b.statement);
        this.portals.set(b.portal, {
          sql: prepared?.sql ?? `/* unknown prepared statement "${b.statement}" */`,
          verdict: prepared?.verdict ?? ALLOWED,
          params: b.params,
          bindFrame: seq,
        });
        break;
      }
      case Frontend.Execute: {
        const name = executePortal(buf, start, end);
        if (this.refusedParse !== null) break;
        const p = this.portals.get(name);
        const st = this.start(
          'extended',
          p?.sql ?? `/* unknown portal "${name}" */`,
          p?.params ?? null,
          p?.bindFrame ?? seq,
          false,
        );
        if (p) this.apply(st, p.verdict);
        break;
      }
      case Frontend.Sync:
        this.refusedParse = null;
        this.queue.push({ kind: 'sync' });
        break;
      case Frontend.FunctionCall:
        this.apply(
          this.start('function', `/* FunctionCall oid=${functionOid(buf, start, end)} */`, null, seq, true),
          verdict,
        );
        break;
      case Frontend.Close: {
        const c = closeTarget(buf, start, end);
        if (c.what === 0x53) this.prepared.delete(c.name);
        else this.portals.delete(c.name);
        break;
      }
    }
  }

  /** Values the masker rewrote, by rule, for the statement the server is answering. */
  addMasked(counts: ReadonlyMap<string, number>): void {
    const s = this.head();
    if (s === null) return;
    for (const [rule, n] of counts) s.masked[rule] = (s.masked[rule] ?? 0) + n;
  }

  private head(): Running | null {
    for (const a of this.queue) {
      if (a.kind === 'sync') return null;
      if (!a.finished) return a;
    }
    return null;
  }

  /**
   * A server message is about to be sent to the client as frame `seq`. Returns false when its
   * bytes must not be stored because its statement passed the capture limit.
   */
  onServer(type: number, buf: Buffer, start: number, end: number, seq: number): boolean {
    switch (type) {
      case Backend.DataRow:
      case Backend.CopyData: {
        const s = this.head();
        if (s === null) return true;
        if (type === Backend.DataRow) s.dataRows++;
        s.lastFrame = seq;
        const len = end - start;
        if (this.captureLimit === 0 || s.capturedBytes + len <= this.captureLimit) {
          s.capturedBytes += len;
          return true;
        }
        s.uncapturedBytes += len;
        if (type === Backend.DataRow) s.uncapturedRows++;
        s.digest ??= new RunDigest();
        s.digest.add(buf, start, end);
        return false;
      }
      case Backend.CommandComplete: {
        const s = this.head();
        if (s === null) return true;
        s.tag = commandTag(buf, start, end);
        s.lastFrame = seq;
        if (!s.endsAtReady) this.finish(s, seq);
        return true;
      }
      case Backend.EmptyQueryResponse:
      case Backend.PortalSuspended: {
        const s = this.head();
        if (s !== null) {
          s.lastFrame = seq;
          if (!s.endsAtReady) this.finish(s, seq);
        }
        return true;
      }
      case Backend.ErrorResponse: {
        const s = this.head();
        if (s === null) return true;
        const f = noticeFields(s.refusal ?? buf, s.refusal ? 0 : start, s.refusal ? s.refusal.length : end);
        s.errorCode ??= f.get('C') ?? null;
        s.errorMessage ??= f.get('M') ?? null;
        this.replacement = s.refusal;
        s.refusal = null;
        s.lastFrame = seq;
        if (!s.endsAtReady) this.finish(s, seq);
        return true;
      }
      case Backend.ReadyForQuery:
        this.ready(seq);
        return true;
      default:
        return true;
    }
  }

  /** ReadyForQuery ends everything up to the first Sync or simple Query awaiting it. */
  private ready(seq: number): void {
    while (this.queue.length > 0) {
      const a = this.queue.shift()!;
      if (a.kind === 'sync') return;
      if (!a.finished) {
        if (!a.endsAtReady && a.errorCode === null) {
          // Skipped by the server after an earlier error in the same pipeline.
          a.errorMessage = 'not executed: an earlier message before Sync failed';
        }
        this.finish(a, seq);
      }
      if (a.endsAtReady) return;
    }
  }

  private finish(s: Running, seq: number): void {
    s.finished = true;
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
    for (const a of this.queue.splice(0)) {
      if (a.kind === 'statement' && !a.finished) {
        a.errorMessage ??= reason;
        this.finish(a, seq);
      }
    }
  }
}
