// The one model of a session's extended-query protocol state, as PostgreSQL keeps it: named and
// unnamed prepared statements and portals, the queue of replies the server still owes, and the
// server's skip-to-Sync after an error. Statement tracking, masking and the guardrails all read it
// instead of keeping copies of their own.
//
// State changes only when the server confirms them (ParseComplete, BindComplete, CloseComplete,
// a statement's CommandComplete), never when the client merely asks: a Parse the server refuses
// (its name is in use, its SQL does not parse) leaves the old statement in place, and so does the
// model. What a later Bind or Execute runs is resolved against the state the server will have when
// it reads that message; when that depends on an outcome the server has not reported yet (a name
// redefined in an earlier, unanswered Sync batch), resolution says so and the caller waits.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY

import { Backend, Frontend } from '../wire/codes.js';
import {
  bindMessage,
  closeTarget,
  executePortal,
  functionOid,
  parseMessage,
  querySql,
  readyStatus,
} from '../wire/fields.js';
import {
  type DescribePortalOp,
  MustWaitForServer,
  type Op,
  type OpOutcome,
  Portal,
  PreparedStatement,
  ProtocolStateError,
  type Reply,
  type SqlEffect,
} from './protocol-requests.js';

export {
  type BindOp,
  type CloseOp,
  type DescribePortalOp,
  type DescribeStatementOp,
  type ExecuteOp,
  type FunctionCallOp,
  MustWaitForServer,
  type Op,
  type OpOutcome,
  type ParseOp,
  Portal,
  PreparedStatement,
  ProtocolStateError,
  type QueryOp,
  type Reply,
  type SqlEffect,
  type SyncOp,
} from './protocol-requests.js';

const NO_OPS: readonly Op[] = [];

/** Ends a request's replies (for the op kinds that do not wait for ReadyForQuery). */
function endsExtended(op: Op): boolean {
  return op.kind !== 'query' && op.kind !== 'function-call' && op.kind !== 'sync';
}

type Namespace = 'statement' | 'portal';
/** The definitions a pending request may leave a name with (null = removed); null = untouched. */
type Change = readonly (PreparedStatement | Portal | null)[] | null;

export class ProtocolState {
  private readonly statements = new Map<string, PreparedStatement>();
  private readonly portals = new Map<string, Portal>();
  private readonly queue: Op[] = [];
  /** The server skips messages until Sync (an extended-protocol request failed, no Sync queued yet). */
  private skipping = false;
  /** The server is in COPY FROM STDIN: Sync and Flush it reads meanwhile are ignored. */
  private copyIn = false;
  /** Client frames of CopyDone / CopyFail not yet matched with a CopyInResponse. */
  private readonly copyEnds: number[] = [];

  /** The server failed a request of the current batch and skips every message up to the Sync. */
  get skippingToSync(): boolean {
    return this.skipping;
  }

  /** The server is reading COPY FROM STDIN data from the client (it answers nothing meanwhile). */
  get copyInProgress(): boolean {
    return this.copyIn;
  }

  /**
   * The server has answered every request and sent ReadyForQuery since the last extended-protocol
   * one: it has reported every change of a reported setting (PostgreSQL sends ParameterStatus
   * just before ReadyForQuery), so what the gateway knows of them is what the server has.
   */
  get settled(): boolean {
    return this.queue.length === 0 && this.readySinceExtended;
  }
  private readySinceExtended = true;

  /** Requests still awaiting an answer. */
  get pending(): number {
    return this.queue.length;
  }

  /** The request the server is answering now. */
  get head(): Op | null {
    return this.queue[0] ?? null;
  }

  /** The confirmed prepared statement of that name (as of the last answer). */
  confirmedStatement(name: string): PreparedStatement | null {
    return this.statements.get(name) ?? null;
  }

  /** Every prepared statement the server has confirmed. */
  confirmedStatements(): IterableIterator<PreparedStatement> {
    return this.statements.values();
  }

  /** The confirmed portal of that name. */
  confirmedPortal(name: string): Portal | null {
    return this.portals.get(name) ?? null;
  }

  // ---- resolution ----------------------------------------------------------------------------

  /**
   * The prepared statement `name` will be when the server reads the next client message. Throws
   * MustWaitForServer when that depends on an outcome not reported yet.
   */
  resolveStatement(name: string): PreparedStatement | null {
    return this.resolve('statement', name) as PreparedStatement | null;
  }

  /** As resolveStatement, for a portal. */
  resolvePortal(name: string): Portal | null {
    return this.resolve('portal', name) as Portal | null;
  }

  /**
   * The prepared statement `name` will be when the server reads the request `op` (already
   * queued), for readers that run after the model queued it. undefined: not known yet (more than
   * one statement is possible); the guardrails have waited for such names before `op` was sent.
   */
  statementAt(op: Op, name: string): PreparedStatement | null | undefined {
    return this.resolveAt('statement', op, name) as PreparedStatement | null | undefined;
  }

  /** As statementAt, for a portal (SQL FETCH and CLOSE share the portals' names). */
  portalAt(op: Op, name: string): Portal | null | undefined {
    return this.resolveAt('portal', op, name) as Portal | null | undefined;
  }

  private resolveAt(ns: Namespace, op: Op, name: string): PreparedStatement | Portal | null | undefined {
    const at = this.queue.indexOf(op);
    try {
      return this.resolve(ns, name, at < 0 ? this.queue.length : at);
    } catch (e) {
      if (e instanceof MustWaitForServer) return undefined;
      throw e;
    }
  }

  /** What a Parse's statement does to prepared statements when executed (SQL PREPARE / DEALLOCATE). */
  effectOf(statement: PreparedStatement): SqlEffect | undefined {
    return this.parseEffects.get(statement);
  }

  private resolve(
    ns: Namespace,
    name: string,
    before = this.queue.length,
  ): PreparedStatement | Portal | null {
    // The common cases without allocating: nothing pending touches the name, or the request
    // that last does is in this message's own batch (its success is implied).
    let batch = true;
    let touched = false;
    for (let i = before - 1; i >= 0 && !touched; i--) {
      const op = this.queue[i];
      if (op.kind === 'sync') batch = false;
      if (!this.touches(op, ns, name)) continue;
      touched = true;
      if (batch && endsExtended(op) && !this.skipping && op.kind !== 'execute') {
        const v = this.change(op, ns, name);
        if (v !== null && v.length === 1) return v[0];
      }
    }
    if (!touched) return (ns === 'statement' ? this.statements.get(name) : this.portals.get(name)) ?? null;
    const found = new Set<PreparedStatement | Portal>();
    this.candidates(ns, name, before, true, found);
    if (found.size > 1)
      throw new MustWaitForServer(`${ns === 'statement' ? 'prepared statement' : 'portal'} "${name}"`);
    for (const v of found) return v;
    return null;
  }

  /**
   * Every definition `name` may have for a message placed at queue index `before`. A request
   * after which the message is skipped if the request fails (extended protocol, no Sync between)
   * counts only by its success; any other pending request by either outcome. A removal adds no
   * candidate: a message naming a removed statement fails, which runs nothing.
   */
  private candidates(
    ns: Namespace,
    name: string,
    before: number,
    sameBatch: boolean,
    out: Set<PreparedStatement | Portal>,
  ): void {
    let batch = sameBatch;
    for (let i = before - 1; i >= 0; i--) {
      const op = this.queue[i];
      if (op.kind === 'sync') batch = false;
      const change = this.change(op, ns, name);
      if (change === null) continue;
      for (const v of change) if (v !== null) out.add(v);
      // Implied by the message being read at all: the request succeeded.
      if (batch && endsExtended(op) && !this.skipping) return;
      // Else it may also fail and leave what was there before.
      this.candidates(ns, name, i, false, out);
      return;
    }
    const confirmed = ns === 'statement' ? this.statements.get(name) : this.portals.get(name);
    if (confirmed !== undefined) out.add(confirmed);
  }

  /** Whether a pending request may change what `name` is (cheaper than change()). */
  private touches(op: Op, ns: Namespace, name: string): boolean {
    switch (op.kind) {
      case 'parse':
        return ns === 'statement' && op.statement.name === name;
      case 'bind':
        return ns === 'portal' && op.portal.name === name;
      case 'close':
        return op.target === ns && op.name === name;
      case 'query':
      case 'execute':
        return this.change(op, ns, name) !== null;
      default:
        return false;
    }
  }

  /**
   * What a pending request may leave `name` as, if it runs (null = nothing it does touches the
   * name). A simple Query of several statements may stop at any of them: each prefix counts.
   */
  private change(op: Op, ns: Namespace, name: string): Change {
    switch (op.kind) {
      case 'parse':
        return ns === 'statement' && op.statement.name === name ? [op.statement] : null;
      case 'bind':
        return ns === 'portal' && op.portal.name === name ? [op.portal] : null;
      case 'close':
        return op.target === ns && op.name === name ? [null] : null;
      case 'query': {
        // A simple Query replaces the unnamed statement and portal; its statements may PREPARE.
        if (name === '') return [null];
        if (ns !== 'statement') return null;
        const values: (PreparedStatement | null)[] = [];
        for (const e of op.effects) {
          const v = effectChange(e, name);
          if (v !== undefined) values.push(v);
        }
        return values.length > 0 ? values : null;
      }
      case 'execute': {
        const v = ns === 'statement' ? effectChange(op.effect, name) : undefined;
        return v === undefined ? null : [v];
      }
      default:
        return null;
    }
  }

  // ---- client -> server ----------------------------------------------------------------------

  /**
   * A client message about to be sent upstream (as frame `seq`). Returns the request it queues,
   * or null for a message without an answer. `effects` are a Query's (or a Parse's) statements'
   * effects on prepared statements, in statement order. Throws MustWaitForServer (queuing
   * nothing) when what the message names is not known yet.
   */
  client(
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    seq: number,
    effects?: SqlEffect[],
  ): Op | null {
    if (this.copyIn) {
      if (type === Frontend.CopyData || type === Frontend.Sync || type === Frontend.Flush) return null;
      // CopyDone / CopyFail end it; any other message ends it with an error, and is consumed.
      this.copyIn = false;
      return null;
    }
    if (type === Frontend.CopyDone || type === Frontend.CopyFail) {
      // Sent ahead of the server's CopyInResponse (or outside COPY, where the server ignores it).
      this.copyEnds.push(seq);
      return null;
    }
    let op: Op | null;
    switch (type) {
      case Frontend.Query:
        op = {
          kind: 'query',
          seq,
          outcome: 'pending',
          sql: querySql(buf, start, end),
          effects: effects ?? [],
          index: 0,
        };
        break;
      case Frontend.Parse: {
        const p = parseMessage(buf, start, end);
        const statement = new PreparedStatement(p.name, p.sql, 'parse');
        op = { kind: 'parse', seq, outcome: 'pending', statement };
        if (effects?.[0] !== undefined) this.parseEffects.set(statement, effects[0]);
        break;
      }
      case Frontend.Bind: {
        const b = bindMessage(buf, start, end);
        const statement = this.resolveStatement(b.statement);
        const formats = b.resultFormats;
        op = {
          kind: 'bind',
          seq,
          outcome: 'pending',
          portal: new Portal(b.portal, statement, b.statement, formats, b.params, seq),
        };
        break;
      }
      case Frontend.Describe: {
        const t = closeTarget(buf, start, end);
        op =
          t.what === 0x53
            ? {
                kind: 'describe-statement',
                seq,
                outcome: 'pending',
                name: t.name,
                statement: this.resolveStatement(t.name),
              }
            : {
                kind: 'describe-portal',
                seq,
                outcome: 'pending',
                name: t.name,
                portal: this.resolvePortal(t.name),
                injected: false,
              };
        break;
      }
      case Frontend.Execute: {
        const name = executePortal(buf, start, end);
        const portal = this.resolvePortal(name);
        const effect = portal?.statement ? this.parseEffects.get(portal.statement) : undefined;
        op = { kind: 'execute', seq, outcome: 'pending', name, portal, effect };
        break;
      }
      case Frontend.Close: {
        const t = closeTarget(buf, start, end);
        op = {
          kind: 'close',
          seq,
          outcome: 'pending',
          target: t.what === 0x53 ? 'statement' : 'portal',
          name: t.name,
        };
        break;
      }
      case Frontend.Sync:
        op = { kind: 'sync', seq, outcome: 'pending' };
        break;
      case Frontend.FunctionCall:
        op = { kind: 'function-call', seq, outcome: 'pending', oid: functionOid(buf, start, end) };
        break;
      default:
        return null;
    }
    if (this.skipping && op.kind !== 'sync') {
      // The server already failed an earlier request of this batch: it will not read this one.
      op.outcome = 'skipped';
      return op;
    }
    if (op.kind === 'sync') this.skipping = false;
    if (endsExtended(op)) this.readySinceExtended = false;
    this.queue.push(op);
    return op;
  }

  /** Effects of an SQL PREPARE / DEALLOCATE run through Parse + Execute. */
  private readonly parseEffects = new WeakMap<PreparedStatement, SqlEffect>();

  /**
   * Puts a Describe of `portal` the gateway sends on its own just before the request at the end
   * of the queue (an Execute): its answer is the gateway's, not the client's.
   */
  injectDescribeBeforeLast(portal: Portal | null, name: string): DescribePortalOp {
    const seq = this.queue[this.queue.length - 1]?.seq ?? -1;
    const op: DescribePortalOp = {
      kind: 'describe-portal',
      seq,
      outcome: 'pending',
      name,
      portal,
      injected: true,
    };
    this.queue.splice(Math.max(0, this.queue.length - 1), 0, op);
    return op;
  }

  // ---- server -> client ----------------------------------------------------------------------

  /** A server message, in the order the server sent it. */
  server(type: number, buf: Buffer, start: number, end: number): Reply {
    const head = this.queue[0] ?? null;
    const index = head?.kind === 'query' ? head.index : 0;
    switch (type) {
      case Backend.ParseComplete:
        if (head?.kind !== 'parse') return this.stray(head, index);
        this.statements.set(head.statement.name, head.statement);
        return this.endHead('done', index);
      case Backend.BindComplete:
        if (head?.kind !== 'bind') return this.stray(head, index);
        this.portals.set(head.portal.name, head.portal);
        return this.endHead('done', index);
      case Backend.CloseComplete:
        if (head?.kind !== 'close') return this.stray(head, index);
        if (head.target === 'statement') this.statements.delete(head.name);
        else this.portals.delete(head.name);
        return this.endHead('done', index);
      case Backend.NoData:
      case Backend.RowDescription:
        // The end of a Describe; for a Query or an Execute, the start of rows.
        if (head?.kind === 'describe-statement' || head?.kind === 'describe-portal')
          return this.endHead('done', index);
        return this.passing(head, index);
      case Backend.CommandComplete:
      case Backend.EmptyQueryResponse:
        if (head?.kind === 'query') {
          if (type === Backend.CommandComplete) this.apply(head.effects[head.index]);
          head.index++;
          return this.passing(head, index);
        }
        if (head?.kind === 'execute') {
          if (type === Backend.CommandComplete) this.apply(head.effect);
          return this.endHead('done', index);
        }
        return this.stray(head, index);
      case Backend.PortalSuspended:
        if (head?.kind !== 'execute') return this.stray(head, index);
        return this.endHead('done', index);
      case Backend.CopyInResponse:
        return { op: head, statementIndex: index, ended: this.startCopyIn(head) };
      case Backend.ErrorResponse:
        return this.error(head, index);
      case Backend.ReadyForQuery:
        return this.ready(buf, start, end, index);
      default:
        // ParameterDescription, DataRow, CopyOutResponse, CopyData, CopyDone, FunctionCallResponse
        // belong to the head; ParameterStatus, NoticeResponse and NotificationResponse are
        // asynchronous but are shown with it too (errors and notices are masked by what runs).
        return this.passing(head, index);
    }
  }

  /**
   * The reading of a message that ends no request (a DataRow, most often): one object reused, as
   * readers use a Reply only while handling its message; a result of millions of rows allocates
   * nothing here.
   */
  private passing(op: Op | null, index: number): Reply {
    const r = this.passingReply;
    r.op = op;
    r.statementIndex = index;
    return r;
  }
  private readonly passingReply: { op: Op | null; statementIndex: number; ended: readonly Op[] } = {
    op: null,
    statementIndex: 0,
    ended: NO_OPS,
  };

  /** A reply that does not match the request at the head: the model is out of step; fail closed. */
  private stray(head: Op | null, index: number): Reply {
    throw new ProtocolStateError(
      `unexpected reply for ${head?.kind ?? 'no pending request'} (at statement ${index})`,
    );
  }

  private endHead(outcome: OpOutcome, index: number): Reply {
    const op = this.queue.shift()!;
    op.outcome = outcome;
    return { op, statementIndex: index, ended: [op] };
  }

  /**
   * COPY FROM STDIN has begun: the server now reads the client's messages after `head` as COPY
   * input. Sync and Flush among them are ignored; any other message before the CopyDone ends the
   * COPY with an error and is consumed. Returns the requests the server will never answer.
   */
  private startCopyIn(head: Op | null): Op[] {
    const after = head?.seq ?? -1;
    while (this.copyEnds.length > 0 && this.copyEnds[0] < after) this.copyEnds.shift();
    const endSeq = this.copyEnds.shift() ?? Number.POSITIVE_INFINITY;
    const gone: Op[] = [];
    while (this.queue.length > 1 && this.queue[1].seq < endSeq) {
      const op = this.queue.splice(1, 1)[0];
      op.outcome = 'skipped';
      gone.push(op);
      if (op.kind !== 'sync') return gone;
    }
    this.copyIn = endSeq === Number.POSITIVE_INFINITY;
    return gone;
  }

  private apply(effect: SqlEffect | undefined): void {
    if (effect === undefined) return;
    if (effect.prepares !== undefined) this.statements.set(effect.prepares.name, effect.prepares);
    if (effect.deallocates === null) this.statements.clear();
    else if (effect.deallocates !== undefined) this.statements.delete(effect.deallocates);
  }

  private error(head: Op | null, index: number): Reply {
    this.copyIn = false;
    if (head === null) return this.passing(null, index);
    if (head.kind === 'query' || head.kind === 'function-call' || head.kind === 'sync') {
      // Ends at ReadyForQuery; no skipping after a simple Query or FunctionCall.
      head.outcome = 'failed';
      return this.passing(head, index);
    }
    // An extended-protocol request failed: the server skips everything up to the next Sync.
    const ended: Op[] = [this.queue.shift()!];
    head.outcome = 'failed';
    // A failed unnamed Parse has already dropped the previous unnamed statement.
    if (head.kind === 'parse' && head.statement.name === '') this.statements.delete('');
    // A failed Bind may or may not have replaced the unnamed portal (it depends on where it
    // failed); the old one is kept: should it be gone, an Execute of it fails and runs nothing,
    // while forgetting one the server kept (it survives ROLLBACK TO SAVEPOINT) would leave its
    // rows without the statement they come from.
    while (this.queue.length > 0 && this.queue[0].kind !== 'sync') {
      const op = this.queue.shift()!;
      op.outcome = 'skipped';
      ended.push(op);
    }
    if (this.queue.length === 0) this.skipping = true;
    return { op: head, statementIndex: index, ended };
  }

  /** ReadyForQuery ends the first Sync, simple Query or FunctionCall awaiting it (and all before). */
  private ready(buf: Buffer, start: number, end: number, index: number): Reply {
    this.copyIn = false;
    const idle = readyStatus(buf, start, end) === 0x49; // 'I': outside a transaction block
    const ended: Op[] = [];
    let first: Op | null = null;
    while (this.queue.length > 0) {
      const op = this.queue.shift()!;
      first ??= op;
      if (op.outcome === 'pending') op.outcome = endsExtended(op) ? 'skipped' : 'done';
      ended.push(op);
      if (op.kind === 'query') {
        // It replaced the unnamed statement and portal when it ran.
        if (op.outcome !== 'skipped') {
          this.statements.delete('');
          this.portals.delete('');
        }
      }
      if (!endsExtended(op)) break;
    }
    if (this.queue.length === 0) this.readySinceExtended = true;
    // Outside a transaction block every portal is gone (cursors WITH HOLD are not modelled: an
    // Execute of one is then of an unknown portal, which every consumer treats as such).
    if (idle) this.portals.clear();
    return { op: first, statementIndex: index, ended };
  }
}

/** What one statement's effect leaves `name` as; undefined = untouched. */
function effectChange(e: SqlEffect | undefined, name: string): PreparedStatement | null | undefined {
  if (e === undefined) return undefined;
  if (e.prepares !== undefined && e.prepares.name === name) return e.prepares;
  if (e.deallocates === null || e.deallocates === name) return null;
  return undefined;
}
