// The relay of an authenticated session: frames in both directions with recording, statement
// tracking, guardrail decisions (refusals, approval holds), masking of results and backpressure.
// https://www.postgresql.org/docs/current/protocol-flow.html

import type net from 'node:net';
import type { StatementRecord } from '../../shared/types.js';
import { GatewayError, SqlState } from '../errors.js';
import { type Counts, type MaskCatalog, MaskingStream } from '../masking/index.js';
import { type GuardDecision, type Policy, policyFor, type SessionGuard } from '../policy/index.js';
import { lexingSensitive } from '../policy/lexing.js';
import type { FrameRecorder } from '../store/recorder.js';
import { Backend, Frontend } from '../wire/codes.js';
import {
  bindMessage,
  bindStatement,
  bindValues,
  executePortal,
  FieldError,
  functionCallMessage,
  noticeSeverity,
  parseMessage,
  querySql,
} from '../wire/fields.js';
import { MessageFramer } from '../wire/framer.js';
import * as msg from '../wire/messages.js';
import { noteRelayed } from '../wire/read-garbage.js';
import { SegmentList } from '../wire/segments.js';
import type { AccessGrant } from './access.js';
import { AckGate } from './ack-gate.js';
import { BoundaryBroken, SessionBoundary } from './boundary.js';
import { CatalogWatch } from './catalog-watch.js';
import { ClientValues } from './client-values.js';
import type { ClientLink, SessionContext, SessionParts } from './context.js';
import { ApprovalHolds, approvalError, describeBound, describeRecorded } from './holds.js';
import {
  MustWaitForServer,
  type Op,
  type Portal,
  type PreparedStatement,
  type ProtocolState,
  type Reply,
} from './protocol-state.js';
import { ROLE_LOCK_RULE } from './role-lock.js';
import { StatementTracker, type Verdict } from './statements.js';
import type { UpstreamLink } from './upstream.js';
import { checkLexingStatus, clientViolation, upstreamViolation, type Violation } from './violations.js';

const FLUSH = msg.typed(Frontend.Flush, []);

/** New statements while the store cannot record them: refused (58030), recorded as blocked. */
const UNRECORDED: Verdict = { decision: 'block', rule: null, approvalId: null };
const RECORDING_DOWN: msg.ErrorFields = {
  code: SqlState.IoError,
  message: 'the gateway cannot record this session right now, so it refuses new statements',
  hint: 'retry when the gateway has recovered; see its log',
};

/** A block for a statement the gateway cannot read as the server will. */
function unreadable(reason: string): GuardDecision {
  return {
    action: 'block',
    rule: 'unguardable',
    reason,
    statements: [],
    statedReason: null,
    clientReason: null,
  };
}

/** Masking of a session whose policy masks something: the stream rewrites, the catalog informs it. */
export interface SessionMasking {
  stream: MaskingStream;
  catalog: MaskCatalog;
}

/** What startup hands the relay: the client authenticated, the upstream logged in. */
export interface RelayContext {
  upstream: UpstreamLink;
  /** The protocol minor version agreed with the client (3.x). */
  minor: number;
  /** Client bytes read after the startup packet, before the relay took the socket over. */
  clientLeftover: Buffer;
  /** What the verified identity may do. */
  grant: AccessGrant;
  /** The one model of the extended-query protocol: tracker, masking and guardrails read it. */
  protocol: ProtocolState;
  /** Attached to `protocol`. */
  guard: SessionGuard;
  /** Null when the policy masks nothing. */
  masking: SessionMasking | null;
  /** The upstream's catalog (loaded): masking and guardrail decisions read it. */
  catalog: MaskCatalog;
}

/** The catalog a switched policy's masking needs is loading: the message waits for it. */
class CatalogLoading extends Error {}

/** A message that can never execute: the upstream answers it with a syntax error, which is replaced. */
const NEVER_RUNS = 'BASTION REFUSED )';
/**
 * The stand-in of a refused Bind or Execute: a named Parse of NEVER_RUNS, which fails whether or
 * not the name is in use and so creates, replaces and drops nothing (an unnamed one would drop
 * the client's unnamed statement).
 */
const REFUSED_RUN = msg.typed(Frontend.Parse, [
  msg.cstr('bastion_refused'),
  msg.cstr(NEVER_RUNS),
  msg.int16(0),
]);

function blockedError(rule: string | null, reason: string): msg.ErrorFields {
  return {
    code: SqlState.InsufficientPrivilege,
    message: `Bastion blocked this statement (rule "${rule ?? 'policy'}"): ${reason}`,
    hint: 'the gateway guardrails refuse it; ask an operator if it is needed',
  };
}

/** The rule named when masking refuses a statement (it would copy masked data into server state). */
const MASKING_RULE = 'masking';

/** ErrorResponse whose severity field (sent first by PostgreSQL) is FATAL or PANIC. */
function isFatal(buf: Buffer, start: number, end: number): boolean {
  const sev = noticeSeverity(buf, start, end);
  return sev === 'FATAL' || sev === 'PANIC';
}

export class Relay {
  private readonly id: string;
  private readonly ctx: SessionContext;
  private readonly recorder: FrameRecorder;
  private readonly line: ClientLink;
  private readonly client: net.Socket;
  private readonly upstream: net.Socket;
  private readonly protocol: ProtocolState;
  private readonly guard: SessionGuard;
  /** Replaced (at a statement boundary) when the session's policy is. */
  private masking: SessionMasking | null;
  /** Without masking, what marks the catalog stale after DDL (the masking stream does otherwise). */
  private readonly watch: CatalogWatch | null;
  private readonly tracker: StatementTracker;
  /** What the store keeps of values the client typed; null = kept in clear (the connection says so). */
  private readonly clientValues: ClientValues | null;
  private readonly holds: ApprovalHolds;
  private readonly gate: AckGate;
  /** read_only / upstream_role verified by the server; null for a session with neither. */
  private readonly boundary: SessionBoundary | null;
  /** The client-facing cancel key data of this session. */
  private readonly cancelKey: { pid: number; key: Buffer };
  /**
   * A client message whose meaning depends on an answer the server has not sent yet (see
   * MustWaitForServer): reading from the client stops until the answer is in.
   */
  private deferred: { type: number; message: Buffer; seq: number } | null = null;
  private endReason: string | null = null;
  /** The upstream already told the client why it is closing (e.g. 57P01 on a server restart). */
  private upstreamSentFatal = false;
  private waitingCatalog = false;
  /**
   * A Parse, Bind or Execute was refused (its stand-in fails): the server skips everything up to
   * the next Sync, so the Binds and Executes that follow run nothing and need no decision (nor a
   * hold).
   */
  private refusedUntilSync = false;
  /** The masking stream was replaced and has not yet learnt the session's SQL-prepared statements. */
  private adoptPending = false;
  /** Portals whose execution a human approved (at their Bind or first Execute), with the approval. */
  private readonly approved = new WeakMap<Portal, string>();
  /** Values masked since the last look, by rule (added to the current statement). */
  private readonly maskCounts: Counts = new Map();
  private readonly clientFramer: MessageFramer;
  private readonly serverFramer: MessageFramer;
  private readonly toUpstream = new SegmentList();
  /** Whether the upstream login made transactions read-only (the policy's read_only at login). */
  private readonly loginReadOnly: boolean;

  constructor(
    private readonly session: SessionParts,
    private readonly context: RelayContext,
  ) {
    const ctx = session.ctx;
    this.id = session.id;
    this.ctx = ctx;
    this.recorder = session.recorder;
    this.line = session.client;
    this.client = session.client.socket;
    this.upstream = context.upstream.socket;
    this.protocol = context.protocol;
    this.guard = context.guard;
    this.loginReadOnly = context.guard.policy.readOnly;
    this.masking = context.masking;
    this.watch = context.masking === null ? new CatalogWatch(context.catalog) : null;
    this.clientFramer = new MessageFramer(ctx.limits.maxMessageSize);
    this.serverFramer = new MessageFramer(ctx.limits.maxMessageSize);
    this.clientValues =
      ctx.connection.recordClientValues === 'clear'
        ? null
        : new ClientValues(() => ctx.masking(this.guard.policy));
    const values = this.clientValues;
    this.holds = new ApprovalHolds(ctx.approvals, session.info, values ? (t) => values.text(t) : undefined);
    this.boundary = SessionBoundary.for({
      readOnly: context.guard.policy.readOnly,
      role: context.grant.upstreamRole,
      parameters: context.upstream.parameters,
    });
    this.gate = new AckGate(ctx.writer, this.client, this.upstream, {
      closed: () => session.closed,
      failed: () => this.recordingFailed(),
    });
    const link = context.upstream;
    this.cancelKey = ctx.cancels.issue(
      ctx.connection.upstream,
      link.pid,
      link.key,
      context.minor >= 2 ? 32 : 4,
      () => this.holds.cancel(),
    );
    this.tracker = new StatementTracker(this.id, ctx.limits.captureLimit, this.recorder, (s) =>
      this.onStatement(s),
    );
  }

  /** Greets the client as the server would, then relays in both directions. */
  start(): void {
    const link = this.context.upstream;
    const issued = this.cancelKey;
    const hello = [msg.authenticationOk()];
    for (const [k, v] of link.parameters) hello.push(msg.parameterStatus(k, v));
    hello.push(msg.backendKeyData(issued.pid, issued.key));
    hello.push(msg.readyForQuery(link.status));
    // ParameterStatus echoes what the client's startup packet set (application_name): values it
    // typed, kept out of the store like the packet itself.
    const values = this.clientValues;
    const recorded =
      values === null
        ? hello
        : [
            msg.authenticationOk(),
            ...link.parameters.map(([k, v]) => msg.parameterStatus(k, values.text(v))),
            ...hello.slice(1 + link.parameters.length),
          ];
    this.recorder.begin('server');
    for (const b of recorded) {
      // The cancel key is a live secret of this session: the store gets it zeroed.
      this.recorder.frameBytes(
        b[0] === Backend.BackendKeyData ? msg.backendKeyData(issued.pid, Buffer.alloc(issued.key.length)) : b,
      );
    }
    this.recorder.end();
    this.client.write(Buffer.concat(hello));

    const client = this.client;
    const upstream = this.upstream;
    client.on('data', (d: Buffer) => this.onClientData(d));
    upstream.on('data', (d: Buffer) => this.onServerData(d));
    client.on('close', () => this.session.close(this.endReason ?? 'client disconnected'));
    upstream.on('close', () => this.onUpstreamClosed());
    upstream.on('error', (e) => this.ctx.log.warn(`session ${this.id}: upstream socket: ${e.message}`));
    client.on('drain', () => {
      if (!this.gate.holding) upstream.resume();
    });
    upstream.on('drain', () => {
      if (!this.holds.holding) client.resume();
    });
    if (link.leftover.length > 0) this.onServerData(link.leftover);
    const clientLeftover = this.context.clientLeftover;
    if (clientLeftover.length > 0) this.onClientData(clientLeftover);
  }

  /** Ends the session with a FATAL error to the client (a gateway stop, an access window closing). */
  end(reason: string, err: GatewayError): void {
    if (this.session.closed) return;
    this.endReason ??= reason;
    this.line.fatal(err);
    this.upstream.end(msg.terminate());
    this.session.close(reason);
  }

  /** The session is closing: lets go of what the relay holds. */
  teardown(reason: string): void {
    this.holds.abandon();
    this.tracker.abandon(`session ended: ${reason}`, this.recorder.nextSeq - 1);
    this.ctx.cancels.release(this.cancelKey.pid);
    this.upstream.destroy();
  }

  private onClientData(chunk: Buffer): void {
    if (this.session.closed) return;
    this.clientFramer.push(chunk);
    this.pumpClient();
  }

  /** Relays complete client messages, deciding statements on the way; stops at a held one. */
  private pumpClient(): void {
    if (this.holds.holding || this.waitingCatalog || this.session.closed) return;
    if (this.refreshCatalog(this.context.catalog)) return;
    const framer = this.clientFramer;
    const rec = this.recorder;
    rec.begin('client');
    try {
      const d = this.deferred;
      if (d !== null) {
        this.deferred = null;
        if (!this.clientMessage(d.type, d.message, 0, d.message.length, d.seq)) {
          rec.end();
          return;
        }
        this.client.resume();
        // A Terminate that waited for the previous batch's check (boundary.ts).
        if (d.type === Frontend.Terminate) this.endReason = 'client terminated';
      }
      while (this.endReason !== 'client terminated' && framer.next()) {
        const { type, buf, start, end } = framer;
        // Masked before the recorder has it: the journal and the chain only ever see the digest.
        const masked = this.clientValues === null ? null : this.clientValues.frame(type, buf, start, end);
        const seq = masked === null ? rec.frame(buf, start, end) : rec.frameBytes(masked);
        if (!this.clientMessage(type, buf, start, end, seq)) break;
        if (type === Frontend.Terminate) {
          this.endReason = 'client terminated';
          break;
        }
      }
    } catch (e) {
      rec.end();
      this.protocolViolation(e);
      return;
    }
    rec.end();
    // Ended by the boundary: what was queued of the batch is dropped with the session.
    if (this.session.closed) return;
    if (!this.toUpstream.writeTo(this.upstream)) this.client.pause();
    if (this.endReason === 'client terminated') this.upstream.end();
  }

  /**
   * One client message (recorded as frame `seq`): decided, then forwarded, refused or held.
   * Returns false when reading must stop: the message is held for approval, or deferred until
   * the server has answered what it depends on.
   */
  private clientMessage(type: number, buf: Buffer, start: number, end: number, seq: number): boolean {
    if (this.boundary !== null) {
      const within = this.withinBoundary(this.boundary, type, buf, start, end, seq);
      if (within !== 'go') return within === 'refused';
    }
    try {
      let verdict: Verdict | undefined;
      let d: GuardDecision | undefined;
      if (
        type === Frontend.Query ||
        type === Frontend.Parse ||
        type === Frontend.FunctionCall ||
        type === Frontend.Bind ||
        type === Frontend.Execute
      ) {
        if (!this.adoptPolicy()) return false;
      }
      if (type === Frontend.Query || type === Frontend.Parse || type === Frontend.FunctionCall) {
        if (!this.recorder.healthy) {
          this.refuse(type, buf, start, end, seq, UNRECORDED, RECORDING_DOWN);
          return true;
        }
        d = this.decide(type, buf, start, end);
        if (d.action === 'block') {
          this.block(type, buf, start, end, seq, d.rule, d.reason);
          return true;
        }
        const leak = this.maskedWrite(type, buf, start, end);
        if (leak !== null) {
          this.block(type, buf, start, end, seq, MASKING_RULE, leak);
          return true;
        }
        // A Parse runs nothing: its Binds and Executes are decided (and held) one by one.
        if (d.action === 'review' && type !== Frontend.Parse) {
          this.recorder.end();
          this.hold(type, Buffer.from(buf.subarray(start, end)), seq, d);
          this.recorder.begin('client');
          return false;
        }
        verdict = { decision: d.action, rule: d.rule, approvalId: null };
      } else if (type === Frontend.Bind || type === Frontend.Execute) {
        return this.runMessage(type, buf, start, end, seq);
      } else if (type === Frontend.Sync) this.refusedUntilSync = false;
      this.forward(type, buf, start, end, seq, verdict, d);
      return true;
    } catch (e) {
      if (e instanceof CatalogLoading) {
        // Nothing of it was sent: read again once the catalog is in (refreshCatalog pumps).
        this.deferred = { type, message: Buffer.from(buf.subarray(start, end)), seq };
        if (this.masking !== null) this.refreshCatalog(this.masking.catalog);
        return false;
      }
      if (!(e instanceof MustWaitForServer)) throw e;
      // During COPY FROM STDIN the server answers nothing until the COPY ends: a message that
      // would end it with an error is one the gateway cannot read, and waiting would hang.
      if (this.protocol.copyInProgress)
        throw new FieldError(`unexpected message type 0x${type.toString(16)} during COPY from stdin`);
      // Nothing of it was sent or queued: it is read again once the server has answered. A
      // Flush makes the server send what it holds back for want of a Sync (it changes nothing
      // else and has no answer of its own).
      this.deferred = { type, message: Buffer.from(buf.subarray(start, end)), seq };
      this.client.pause();
      this.toUpstream.add(FLUSH);
      this.toUpstream.writeTo(this.upstream);
      return false;
    }
  }

  /** The policy the session's identity's policy name names now (the policies may have been replaced). */
  private namedPolicy(): Policy {
    return policyFor(this.ctx.policies, this.context.grant.policy);
  }

  /** The policies were replaced and this session's is not the current one: it switches at its next statement. */
  policyOutdated(): boolean {
    return this.namedPolicy() !== this.guard.policy;
  }

  /**
   * Before a statement (Query, Parse, Bind, Execute, FunctionCall) is decided: a replaced policy
   * applies from here on, guardrails and masking alike. Masking switches only between results:
   * with requests still unanswered this message waits (MustWaitForServer) until the server has
   * answered them all, so every result is masked whole by one policy's rules, never half by the
   * old and half by none. A new catalog (the replaced policies may name other columns) is loaded
   * first (CatalogLoading); until then nothing is sent.
   */
  private adoptPolicy(): boolean {
    const next = this.namedPolicy();
    if (next.readOnly !== this.loginReadOnly) {
      // read_only is also the upstream login's (default_transaction_read_only) and the
      // boundary's: neither can change under an open session, so it ends and the client logs in
      // again under the new policy.
      const why = `the policy "${this.context.grant.policy}" ${next.readOnly ? 'is now' : 'is no longer'} read-only: the session ends; connect again to continue under it`;
      this.end('policy read_only changed', new GatewayError(SqlState.AdminShutdown, why));
      return false;
    }
    const masking = this.masking;
    const catalogMoved = masking !== null && masking.catalog !== this.ctx.catalog(this.ctx.connection.name);
    if (next === this.guard.policy && !catalogMoved) {
      if (this.adoptPending) this.finishAdopt();
      return true;
    }
    const compiled = this.ctx.masking(next);
    if (masking !== null || !compiled.inactive) {
      if (this.protocol.pending > 0)
        throw new MustWaitForServer('a statement under policies replaced while earlier ones run');
    }
    this.guard.setPolicy(next);
    this.ctx.log.info(
      `session ${this.id}: policy "${this.context.grant.policy}" replaced: applies from this statement`,
    );
    if (masking === null && compiled.inactive) return true;
    this.flushMaskCounts(this.protocol.head);
    if (compiled.inactive) {
      this.masking = null;
    } else {
      const catalog = this.ctx.catalog(this.ctx.connection.name);
      this.masking = {
        stream: new MaskingStream({ masking: compiled, catalog, protocol: this.protocol }),
        catalog,
      };
      this.adoptPending = true;
      this.finishAdopt();
    }
    return true;
  }

  /**
   * A new masking stream learns the statements SQL-PREPAREd before it, once its catalog is
   * loaded (until then the message waits: CatalogLoading).
   */
  private finishAdopt(): void {
    const masking = this.masking;
    if (masking === null) {
      this.adoptPending = false;
      return;
    }
    if (!masking.catalog.fresh) throw new CatalogLoading();
    masking.stream.adoptPrepared(this.protocol.confirmedStatements());
    this.adoptPending = false;
  }

  /**
   * A Bind or Execute: one execution of a prepared statement, decided under the policy in force
   * now. A `review` holds the Bind, its parameter values shown to the approver; the approval
   * covers that portal only, whose Executes (a row limit makes several) are the one execution it
   * was asked for. A new Bind is a new execution, held again. An Execute of a portal no approval
   * covers (bound while the policy allowed it) is held itself. Throws MustWaitForServer (nothing
   * sent) when what it names depends on an answer not received yet.
   */
  private runMessage(type: number, buf: Buffer, start: number, end: number, seq: number): boolean {
    if (this.refusedUntilSync || this.protocol.skippingToSync) {
      this.forward(type, buf, start, end, seq, undefined, undefined);
      return true;
    }
    let portal: Portal | null = null;
    let statement: PreparedStatement | null;
    if (type === Frontend.Bind) statement = this.protocol.resolveStatement(bindStatement(buf, start, end));
    else {
      portal = this.protocol.resolvePortal(executePortal(buf, start, end));
      statement = portal?.statement ?? null;
    }
    const d = this.guard.run(statement);
    if (d === null) {
      // The server knows no such statement either, and refuses it.
      this.forward(type, buf, start, end, seq, undefined, undefined);
      return true;
    }
    const approvalId = portal === null ? undefined : this.approved.get(portal);
    if (d.action === 'block') {
      this.block(type, buf, start, end, seq, d.rule, d.reason);
      return true;
    }
    if (d.action === 'review' && approvalId === undefined) {
      if (!this.recorder.healthy) {
        this.refuse(type, buf, start, end, seq, UNRECORDED, RECORDING_DOWN);
        return true;
      }
      this.recorder.end();
      const bound =
        type === Frontend.Bind
          ? describeBound(bindValues(buf, start, end))
          : describeRecorded(portal?.params ?? []);
      this.hold(type, Buffer.from(buf.subarray(start, end)), seq, d, bound);
      this.recorder.begin('client');
      return false;
    }
    const verdict: Verdict = { decision: d.action, rule: d.rule, approvalId: approvalId ?? null };
    this.forward(type, buf, start, end, seq, verdict, undefined);
    return true;
  }

  /**
   * Whether a client message may go on now in a read_only or role-locked session (see
   * boundary.ts): 'wait' when it waits for the previous batch's answer and check (reading stops;
   * it is read again when the server has answered), 'refused' when it may not run in this batch
   * (it fails in place, with what follows up to Sync, as after any error; a JDBC-style batch is
   * refused, not the session ended), 'ended' when it ended the session.
   */
  private withinBoundary(
    boundary: SessionBoundary,
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    seq: number,
  ): 'go' | 'wait' | 'refused' | 'ended' {
    if (boundary.mustWait(type)) {
      this.deferred = { type, message: Buffer.from(buf.subarray(start, end)), seq };
      this.client.pause();
      return 'wait';
    }
    // The server skips everything up to Sync after a refused stand-in: nothing of this runs.
    if (this.refusedUntilSync && type !== Frontend.Sync) return 'go';
    const portal =
      type === Frontend.Bind
        ? bindMessage(buf, start, end).portal
        : type === Frontend.Execute
          ? executePortal(buf, start, end)
          : null;
    const why = boundary.refusal(type, portal);
    if (why === null) return 'go';
    if (type === Frontend.Bind || type === Frontend.Execute) {
      // A stand-in that fails: the server then skips the rest of the batch up to Sync, whose
      // ReadyForQuery (and role check) comes before anything of the next batch runs.
      this.block(
        type,
        buf,
        start,
        end,
        seq,
        boundary.lockedRole === null ? 'read_only' : ROLE_LOCK_RULE,
        why,
      );
      return 'refused';
    }
    this.ctx.log.warn(`session ${this.id}: ${why}`);
    this.end(why, new BoundaryBroken(why));
    return 'ended';
  }

  /**
   * The guardrail decision for a Query, Parse or FunctionCall. A text the server could lex
   * differently had an earlier statement changed a lexing setting waits (MustWaitForServer) until
   * every earlier request is answered: by then any such change was reported, and ended the
   * session (see checkLexingStatus).
   */
  private decide(type: number, buf: Buffer, start: number, end: number): GuardDecision {
    const guard = this.guard;
    if (type === Frontend.FunctionCall) {
      // Decided with its arguments' values; a body that does not decode is refused as unreadable.
      const f = functionCallMessage(buf, start, end);
      return guard.functionCall(f.oid, f);
    }
    const p =
      type === Frontend.Query ? { name: '', sql: querySql(buf, start, end) } : parseMessage(buf, start, end);
    if (lexingSensitive(p.sql) && !this.protocol.settled) {
      if (this.protocol.pending > 0)
        throw new MustWaitForServer(
          'a statement the server would read under settings earlier ones may change',
        );
      // Answered, but no ReadyForQuery since (no Sync): a changed setting is not reported yet.
      return unreadable(
        'a statement with a backslash right after extended-protocol messages without a Sync: the server may read it under settings they changed, which it reports only at the Sync',
      );
    }
    return type === Frontend.Query ? guard.query(p.sql) : guard.parse(p.name, p.sql);
  }

  /**
   * Why a Query or Parse may not run under the session's masking: it copies masked data into
   * server state (masking/lineage.ts MaskedWrite), where it would come back unmasked. null = it
   * may run. A Parse refused here never exists, so its Binds and Executes fail with it.
   */
  private maskedWrite(type: number, buf: Buffer, start: number, end: number): string | null {
    if (this.masking === null || type === Frontend.FunctionCall) return null;
    const sql = type === Frontend.Query ? querySql(buf, start, end) : parseMessage(buf, start, end).sql;
    return this.masking.stream.writeRefusal(sql);
  }

  /**
   * Holds a statement for a human: the client is told at once (a NoticeResponse with the request
   * id), reading from it stops so later pipelined messages keep their order, and the statement
   * runs or is refused when the approval ends.
   */
  private hold(
    type: number,
    message: Buffer,
    seq: number,
    d: GuardDecision,
    bound: string | null = null,
  ): void {
    const policy = this.guard.policy;
    const { notice, outcome } = this.holds.request(type, message, d, policy.approvalTimeoutMs, bound);
    this.client.pause();
    this.toUpstream.writeTo(this.upstream);
    this.line.send(notice);
    outcome.then((done) => {
      if (this.session.closed) return;
      const verdict: Verdict = { decision: 'review', rule: d.rule, approvalId: done.id };
      this.recorder.begin('client');
      if (done.state === 'approved' && this.namedPolicy() !== policy) {
        // The approval was asked under rules replaced while it waited (they may block it now):
        // the statement does not run; sent again, it is decided under the new ones.
        this.refuse(type, message, 0, message.length, seq, verdict, {
          code: SqlState.InsufficientPrivilege,
          message: `Bastion: the policies changed while approval ${done.id} waited; the statement did not run`,
          hint: 'send it again: it is decided under the policies in force now',
        });
      } else if (done.state === 'approved') {
        const op = this.forward(type, message, 0, message.length, seq, verdict, d);
        // The approval covers this one portal (its Bind's exact bytes), for every Execute of it.
        if (op?.kind === 'bind' || op?.kind === 'execute') {
          if (op.portal !== null) this.approved.set(op.portal, done.id);
        }
      } else {
        this.refuse(type, message, 0, message.length, seq, verdict, approvalError(done));
      }
      this.recorder.end();
      this.holds.settled();
      this.client.resume();
      this.pumpClient();
    });
  }

  /** Refuses a message a rule blocks: 42501 naming the rule and why. */
  private block(
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    seq: number,
    rule: string | null,
    reason: string,
  ): void {
    this.refuse(
      type,
      buf,
      start,
      end,
      seq,
      { decision: 'block', rule, approvalId: null },
      blockedError(rule, reason),
    );
  }

  /** Sends the upstream a message that fails in place of the refused one (see NEVER_RUNS). */
  private refuse(
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    seq: number,
    verdict: Verdict,
    error: msg.ErrorFields,
  ): void {
    let stand: Buffer;
    let run: { sql: string; params: (string | null)[] | null } | undefined;
    if (type === Frontend.Parse) {
      const { name } = parseMessage(buf, start, end);
      stand = msg.typed(Frontend.Parse, [msg.cstr(name), msg.cstr(NEVER_RUNS), msg.int16(0)]);
      this.refusedUntilSync = true;
    } else if (type === Frontend.Bind || type === Frontend.Execute) {
      stand = REFUSED_RUN;
      run = this.refusedRun(type, buf, start, end);
      this.refusedUntilSync = true;
    } else stand = msg.query(NEVER_RUNS);
    const op = this.protocol.client(stand[0], stand, 0, stand.length, seq, []);
    this.tracker.refuse(type, buf, start, end, seq, verdict, msg.errorResponse(error), op, run);
    this.pass(stand, 0, stand.length, op);
  }

  /** What a refused Bind or Execute would have run, for its statement record. */
  private refusedRun(
    type: number,
    buf: Buffer,
    start: number,
    end: number,
  ): { sql: string; params: (string | null)[] | null } {
    if (type === Frontend.Bind) {
      const name = bindStatement(buf, start, end);
      const st = this.protocol.resolveStatement(name);
      return {
        sql: st?.sql ?? `/* unknown prepared statement "${name}" */`,
        params: bindMessage(buf, start, end).params,
      };
    }
    const name = executePortal(buf, start, end);
    const p = this.protocol.resolvePortal(name);
    return { sql: p?.statement?.sql ?? `/* unknown portal "${name}" */`, params: p?.params ?? null };
  }

  private onServerData(chunk: Buffer): void {
    if (this.session.closed) return;
    const framer = this.serverFramer;
    const masker = this.masking === null ? null : this.masking.stream;
    framer.push(chunk);
    noteRelayed(chunk.length);
    this.recorder.begin('server');
    try {
      while (framer.next()) {
        const { type, buf, start, end } = framer;
        if (type === Backend.ParameterStatus) checkLexingStatus(buf, start, end);
        // The answer to the gateway's own role check is the gateway's alone.
        if (this.boundary?.server(type, buf, start, end)) continue;
        // Masked values are counted per statement: a run of DataRows adds its counts once, before
        // the next other message (which may end the statement) or at the end of the chunk.
        if (masker !== null && type !== Backend.DataRow) this.flushMaskCounts(this.protocol.head);
        const reply = this.protocol.server(type, buf, start, end);
        const check = this.boundary === null ? null : this.boundary.replied(reply, type, buf, start, end);
        if (check !== null) this.upstream.write(check);
        if (masker === null) {
          this.watch?.server(type, buf, start, end);
          this.relayServerMessage(reply, type, buf, start, end);
          continue;
        }
        const masked = masker.server(reply, type, buf, start, end, this.maskCounts);
        if (type !== Backend.DataRow) this.flushMaskCounts(reply.op);
        if (masked === null) this.relayServerMessage(reply, type, buf, start, end);
        else {
          // Empty = the answer to a Describe the gateway injected; several messages = a COPY row
          // held back from the previous CopyData, in front of this message (which alone ends
          // requests).
          for (let o = 0; o < masked.length; ) {
            const next = o + 1 + masked.readInt32BE(o + 1);
            this.relayServerMessage(
              next < masked.length ? { ...reply, ended: [] } : reply,
              masked[o],
              masked,
              o,
              next,
            );
            o = next;
          }
        }
      }
      this.flushMaskCounts(this.protocol.head);
    } catch (e) {
      this.flushMaskCounts(this.protocol.head);
      this.recorder.end();
      this.gate.toClient.writeTo(this.client);
      this.upstreamViolation(e);
      return;
    }
    this.recorder.end();
    this.gate.chunkRecorded();
    this.gate.release();
    // A message waiting for an answer that may now be in.
    if (this.deferred !== null) this.pumpClient();
  }

  private flushMaskCounts(op: Op | null): void {
    if (this.maskCounts.size === 0) return;
    this.tracker.addMasked(op, this.maskCounts);
    this.maskCounts.clear();
  }

  /** The writer failed before the client's acknowledgements were durable: the session ends. */
  private recordingFailed(): void {
    // The statement ran but its outcome cannot be recorded: the client does not get it.
    this.endReason = 'recording failed before the result could be delivered';
    this.upstream.destroy();
    this.line.fatal(
      new GatewayError(
        SqlState.IoError,
        'the gateway could not record the result of the last statement, so it does not deliver it',
        'the statement may have run on the database',
        'check the gateway log; retry once recording works again',
      ),
    );
    this.session.close(this.endReason);
  }

  /** One server message as the client gets it: statement tracking, recording, relay. */
  private relayServerMessage(reply: Reply, type: number, buf: Buffer, start: number, end: number): void {
    const tracker = this.tracker;
    const rec = this.recorder;
    const capture = tracker.onServer(reply, type, buf, start, end, rec.nextSeq);
    if (tracker.replacement !== null) {
      const r = tracker.replacement;
      tracker.replacement = null;
      rec.frameBytes(r);
      this.gate.toClient.add(r);
      return;
    }
    if (capture) rec.frame(buf, start, end);
    this.gate.toClient.pass(buf, start, end);
    // A statement done (its changes may be committed): on record before the client learns it.
    // Errors and ReadyForQuery need no wait: they acknowledge nothing done, and refusals must
    // reach the client even while the store fails.
    if (type === Backend.CommandComplete) this.gate.sawCommandComplete();
    if (type === Backend.ErrorResponse && isFatal(buf, start, end)) this.upstreamSentFatal = true;
  }

  /**
   * Sends a client message upstream: the protocol model queues its request (throwing
   * MustWaitForServer, with nothing sent, when what it names is not known yet), then the
   * guardrails, the tracker and the masker learn it.
   */
  private forward(
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    seq: number,
    verdict: Verdict | undefined,
    d: GuardDecision | undefined,
  ): Op | null {
    const op = this.protocol.client(type, buf, start, end, seq, d?.effects);
    if (op?.kind === 'parse' && d?.entry !== undefined) this.guard.remember(op.statement, d.entry);
    this.tracker.onClient(op, verdict);
    this.pass(buf, start, end, op);
    return op;
  }

  /** Queues bytes for the upstream, after the Describe the masker may inject in front of them. */
  private pass(buf: Buffer, start: number, end: number, op: Op | null): void {
    if (this.masking !== null) {
      const injected = this.masking.stream.client(op, buf, start, end);
      if (injected !== null) this.toUpstream.add(injected);
    }
    this.toUpstream.pass(buf, start, end);
    const check = this.boundary === null ? null : this.boundary.forwarded(op);
    if (check !== null) this.toUpstream.add(check);
  }

  /**
   * After DDL, when old, or when the server's catalog digest changed (objects made outside the
   * gateway), the catalog reloads before the next statement is relayed.
   */
  private refreshCatalog(catalog: MaskCatalog): boolean {
    if (catalog.fresh) return false;
    this.waitingCatalog = true;
    this.client.pause();
    catalog.verify().then(
      () => {
        this.waitingCatalog = false;
        this.client.resume();
        this.pumpClient();
      },
      (e: Error) => {
        this.ctx.log.error(`session ${this.id}: catalog: ${e.message}`);
        this.endReason = 'catalog unavailable';
        this.upstream.end(msg.terminate());
        this.line.fatal(
          new GatewayError(
            SqlState.UnableToConnect,
            'the gateway cannot reload the catalog it needs to guard and mask statements',
          ),
        );
        this.session.close(this.endReason);
      },
    );
    return true;
  }

  private onStatement(record: StatementRecord): void {
    const s = this.clientValues === null ? record : this.clientValues.statement(record);
    this.session.info.statements++;
    this.holds.remember(s);
    this.recorder.statement(s);
    this.ctx.events.statement?.(s);
  }

  /** The client broke the protocol: the session ends once the upstream has its Terminate. */
  private protocolViolation(e: unknown): void {
    const v = clientViolation(e);
    this.logViolation(v);
    this.endReason = v.reason;
    this.upstream.end(msg.terminate());
    this.line.fatal(v.error);
  }

  /** What the upstream sent cannot be relayed: the upstream is cut, the client told why. */
  private upstreamViolation(e: unknown): void {
    const v = upstreamViolation(e);
    this.logViolation(v);
    this.endReason = v.reason;
    this.upstream.destroy();
    this.line.fatal(v.error);
  }

  private logViolation(v: Violation): void {
    if (v.log !== null) this.ctx.log[v.log.level](`session ${this.id}: ${v.log.message}`);
  }

  private onUpstreamClosed(): void {
    if (this.session.closed) return;
    if (this.gate.holding) {
      // Its last words (an error, a final result) go out first, once recorded.
      this.gate.afterRelease(() => this.onUpstreamClosed());
      return;
    }
    if (this.endReason === null && !this.client.destroyed) {
      this.endReason = 'upstream lost';
      if (!this.upstreamSentFatal) {
        this.line.fatal(
          new GatewayError(SqlState.ConnectionFailure, 'the connection to the database was lost'),
        );
      }
    }
    this.client.end();
    this.session.close(this.endReason ?? 'upstream lost');
  }
}
