// MaskingStream: the masking side of one client session, as a synchronous state machine fed
// with every frame that actually crosses the gateway, after the session's protocol model
// (session/protocol-state.ts) has read it:
//
//   client(op, buf, start, end)             for each request the model queued for a frame the
//                                          session forwards upstream; returns bytes to send
//                                          upstream just BEFORE that frame (an injected Describe
//                                          of a portal never described), or null
//   server(reply, type, buf, start, end, counts)
//                                          for each backend frame with the model's reading of
//                                          it; returns null (send the frame as is), or the bytes
//                                          to send instead (possibly empty: send nothing, e.g.
//                                          the answer to an injected Describe)
//
// Which statement a Bind runs, which request a reply answers and when the server skips to Sync
// are the model's; this class keeps only what masking adds to them: a mask plan per
// RowDescription, per prepared statement (so Bind/Execute without a fresh Describe keeps its
// plan, in the formats of each Bind) and per portal (Execute with a row limit, PortalSuspended,
// Execute again), simple-Query statements through their CommandCompletes, cursors (DECLARE ...
// FETCH), COPY TO STDOUT, FunctionCall results (see fcall.ts), and catalog invalidation on DDL.

import { PreparedOverlay } from '../session/prepared-overlay.js';
import type {
  FunctionCallOp,
  Op,
  Portal,
  PreparedStatement,
  ProtocolState,
  QueryOp,
  Reply,
  SqlEffect,
} from '../session/protocol-state.js';
import { readyStatus } from '../wire/fields.js';
import { type CallRisk, type CatalogBinding, MaskCatalog } from './catalog.js';
import type { CompiledMasking } from './compile.js';
import { CopyMasker, defaultCopyOptions, parseCopyOutResponse } from './copy.js';
import { type FunctionCallInfo, maskFunctionResult, parseFunctionCall } from './fcall.js';
import {
  type CursorLineages,
  type LineageResolver,
  LineageSession,
  type StatementLineage,
  statementLineages,
  writeRefusal,
} from './lineage.js';
import {
  buildMaskPlan,
  type ColumnLineage,
  MaskError,
  type MaskPlan,
  PASSTHROUGH_PLAN,
  parseRowDescription,
} from './plan.js';
import {
  type Counts,
  maskDataRow,
  maskErrorOrNotice,
  maskNotification,
  maskParameterStatus,
} from './rewrite.js';
import { type MaskRule, stricter } from './rules.js';

const EMPTY = Buffer.alloc(0);

interface Statement {
  sql: string;
  lineage: StatementLineage | null;
  /** Fields from Describe (formats all text); null until described. */
  fields: ReturnType<typeof parseRowDescription> | null;
  plan: MaskPlan | null;
  version: number;
}

interface PortalMask {
  stmt: Statement;
  formats: readonly number[];
  plan: MaskPlan | null;
  copy: CopyMasker | null;
  /** A Describe of it is on its way (the client's or the gateway's). */
  describing: boolean;
}

interface QueryMask {
  stmts: StatementLineage[];
  plan: MaskPlan | null;
  copy: CopyMasker | null;
}

/** A Describe Portal message. */
export function describePortalMessage(portal: string): Buffer {
  const name = Buffer.from(portal, 'utf8');
  const out = Buffer.alloc(7 + name.length);
  out[0] = 0x44;
  out.writeInt32BE(6 + name.length, 1);
  out[5] = 0x50;
  name.copy(out, 6);
  out[6 + name.length] = 0;
  return out;
}

export interface MaskingStreamOptions {
  masking: CompiledMasking;
  /** The session's protocol model: the stream injects its Describes into it. */
  protocol: ProtocolState;
  /** The upstream's catalog (loaded: await catalog.ensureLoaded() before forwarding statements). */
  catalog: MaskCatalog | null;
}

/**
 * Lineage's view of the cursors: SQL DECLAREs (as the lineage records them) and the protocol's
 * portals (Bind), which share one namespace on the server: FETCH from a portal a Bind made is
 * answered with that portal's rows. A portal the model resolves wins over a DECLARE of the name.
 */
class ModelCursorLineages implements CursorLineages {
  op: Op | null = null;
  readonly declared = new Map<string, ColumnLineage[] | null>();

  constructor(
    private readonly protocol: ProtocolState,
    private readonly portalColumns: (p: Portal) => ColumnLineage[] | null,
  ) {}

  get(name: string): ColumnLineage[] | null | undefined {
    const portal = this.op === null ? null : this.protocol.portalAt(this.op, name);
    if (portal === undefined) return null;
    if (portal !== null) return this.portalColumns(portal);
    return this.declared.get(name);
  }
  set(name: string, columns: ColumnLineage[] | null): void {
    this.declared.set(name, columns);
  }
  delete(name: string): void {
    this.declared.delete(name);
  }
  clear(): void {
    this.declared.clear();
  }
}

export class MaskingStream {
  /** Lineages of SQL-prepared statements, by the model's statement. */
  private readonly preparedLineages = new WeakMap<PreparedStatement, StatementLineage>();
  /** Lineage's view of the prepared statements for the request `lineageOp` (see lineages()). */
  private readonly preparedView: PreparedOverlay<StatementLineage>;
  private lineageOp: Op | null = null;
  private readonly cursorView: ModelCursorLineages;
  readonly session: LineageSession;
  private readonly statements = new WeakMap<PreparedStatement, Statement>();
  /** By portal; by the Execute or Describe request for a portal the model does not know (a cursor). */
  private readonly portals = new WeakMap<Portal | Op, PortalMask>();
  private readonly queries = new WeakMap<QueryOp, QueryMask>();
  private readonly calls = new WeakMap<FunctionCallOp, FunctionCallInfo>();
  private readonly catalog: MaskCatalog;
  private ddlPending = false;
  /** What the catalog needs once the transaction ends: a reload (DDL), or a digest check. */
  private atIdle: 'none' | 'digest' | 'full' = 'none';
  /** Statements that call a user function or procedure, which may run DDL the gateway does not see. */
  private readonly calling = new WeakMap<StatementLineage, CallRisk>();
  /** The request the last DataRow belonged to, and its plan. */
  private rowsOf: Op | null = null;
  private rowsPlan: MaskPlan | null = null;
  /**
   * The strictest rule of the statements reading masked columns that ran since the session was
   * last idle (outside a transaction): notifications (delivered at commit, or before the next
   * ReadyForQuery) and parameter statuses arriving meanwhile may carry their values.
   */
  private tainted: MaskRule | null = null;

  constructor(private readonly opts: MaskingStreamOptions) {
    this.preparedView = new PreparedOverlay<StatementLineage>((name) => {
      const ps = this.lineageOp === null ? null : opts.protocol.statementAt(this.lineageOp, name);
      if (!ps) return undefined;
      return ps.origin === 'prepare'
        ? this.preparedLineages.get(ps)
        : (this.statements.get(ps)?.lineage ?? undefined);
    });
    this.cursorView = new ModelCursorLineages(opts.protocol, (p) =>
      p.statement === null ? null : (this.statements.get(p.statement)?.lineage?.columns ?? null),
    );
    this.session = new LineageSession(this.preparedView, this.cursorView);
    if (opts.catalog) this.catalog = opts.catalog;
    else {
      this.catalog = new MaskCatalog({ columns: [] });
      this.catalog.apply({ relations: [], views: [], types: [] });
    }
  }

  /** False when the policy masks nothing: the session may skip this stream entirely. */
  get active(): boolean {
    return !this.opts.masking.inactive;
  }

  private get binding(): CatalogBinding {
    return this.catalog.bind(this.opts.masking);
  }

  /**
   * Lineages of `sql`, the text of request `op` (null: outside any request). The lineages of
   * the PREPAREs among its statements are kept for the statements the model will hold once the
   * server confirms them (`effects`, from the guardrails' reading of the same text).
   */
  private lineages(
    sql: string,
    op: Op | null = null,
    effects: readonly (SqlEffect | undefined)[] = [],
  ): StatementLineage[] {
    this.preparedView.reset();
    this.lineageOp = op;
    this.cursorView.op = op;
    // A user function or procedure may run DDL the gateway does not see as DDL (a rename by
    // EXECUTE inside a function): such a statement is treated like DDL that may have changed
    // the catalog (catalog.ts CatalogBinding.behind, MaskCatalog.suspect).
    let calls: CallRisk = /\bcall\b/i.test(sql) ? 'behind' : 'none';
    const watch = (base: LineageResolver): LineageResolver => ({
      ...base,
      function: (schema, name) => {
        if (calls !== 'behind') {
          const r = this.binding.callRisk(schema, name);
          if (r !== 'none') calls = r;
        }
        return base.function?.(schema, name) ?? null;
      },
    });
    let out = statementLineages(
      sql,
      watch(this.ddlPending ? this.binding.behind : this.binding.resolver),
      this.session,
    );
    if (!this.ddlPending && out.length > 1 && (calls === 'behind' || out.some((l) => l.ddl))) {
      // DDL earlier in the same text: the statements after it may name what it renamed, which
      // the catalog cannot know yet (catalog.ts CatalogBinding.behind).
      this.preparedView.reset();
      out = statementLineages(sql, this.binding.behind, this.session);
    }
    if (calls !== 'none') for (const l of out) this.calling.set(l, calls);
    this.cursorView.op = null;
    this.lineageOp = null;
    const made = this.preparedView.changes;
    let next = 0;
    for (const e of effects) {
      if (e?.prepares === undefined) continue;
      while (next < made.length && (made[next].name !== e.prepares.name || made[next].value === null)) next++;
      const lineage = made[next++]?.value;
      if (lineage) this.preparedLineages.set(e.prepares, lineage);
    }
    return out;
  }

  /**
   * Statements SQL-PREPAREd before this stream existed (the session's policy was replaced since,
   * with no request pending): their lineages, read again from their PREPARE texts with this
   * stream's rules, so an EXECUTE of one is masked as one prepared under them.
   */
  adoptPrepared(statements: Iterable<PreparedStatement>): void {
    for (const ps of statements) {
      if (ps.origin === 'prepare' && !this.preparedLineages.has(ps))
        this.lineages(ps.sql, null, [{ prepares: ps }]);
    }
  }

  private plan(fields: ReturnType<typeof parseRowDescription>, lineage: StatementLineage | null): MaskPlan {
    return buildMaskPlan(fields, this.binding.planContext(lineage?.columns ?? null));
  }

  private statementPlan(stmt: Statement): MaskPlan | null {
    if (stmt.fields === null) return null;
    if (stmt.plan === null || stmt.version !== this.catalog.version) {
      if (stmt.version !== this.catalog.version) stmt.lineage = this.lineages(stmt.sql)[0] ?? null;
      stmt.plan = this.plan(stmt.fields, stmt.lineage);
      stmt.version = this.catalog.version;
    }
    return stmt.plan;
  }

  private portalPlan(p: PortalMask): MaskPlan | null {
    if (p.plan) return p.plan;
    const sp = this.statementPlan(p.stmt);
    if (sp === null) return null;
    p.plan = sp.withFormats(p.formats);
    return p.plan;
  }

  /** Masking's view of a prepared statement (made on first sight: SQL PREPARE, or unknown). */
  private statement(ps: PreparedStatement | null, op: Op | null = null): Statement {
    if (ps === null) return { sql: '', lineage: null, fields: null, plan: null, version: -1 };
    let st = this.statements.get(ps);
    if (st === undefined) {
      const effect = this.opts.protocol.effectOf(ps);
      const lineage =
        ps.origin === 'prepare'
          ? (this.preparedLineages.get(ps) ?? null)
          : (this.lineages(ps.sql, op, effect ? [effect] : [])[0] ?? null);
      st = { sql: ps.sql, lineage, fields: null, plan: null, version: this.catalog.version };
      this.statements.set(ps, st);
    }
    return st;
  }

  private portal(portal: Portal | null, op: Op): PortalMask {
    const key = portal ?? op;
    let pm = this.portals.get(key);
    if (pm === undefined) {
      pm = {
        stmt: portal === null ? this.cursor(op) : this.statement(portal.statement),
        formats: portal?.resultFormats ?? [],
        plan: null,
        copy: null,
        describing: false,
      };
      this.portals.set(key, pm);
    }
    return pm;
  }

  /**
   * A portal the model does not know, by name: a cursor SQL DECLAREd (its lineage as recorded
   * then), else one the gateway never saw opened (a refcursor a function returned, `<unnamed
   * portal 1>`): it may hold any masked column, so every one of its columns carries the
   * strictest configured rule.
   */
  private cursor(op: Op): Statement {
    const name = op.kind === 'execute' || op.kind === 'describe-portal' ? op.name : null;
    const columns = name === null ? undefined : this.cursorView.declared.get(name);
    const any = this.binding.resolver.anyRule?.() ?? null;
    const lineage: StatementLineage | null = columns
      ? { columns, reads: null, copy: null, ddl: false }
      : { columns: [{ name: null, rule: any, star: true }], reads: any, copy: null, ddl: false };
    return { sql: '', lineage, fields: null, plan: null, version: -1 };
  }

  /**
   * Why a statement text may not run (null = it may): one of its statements copies masked data
   * into server state (a table, a setting, a large object, ...), where a later statement or
   * another session would read it back unmasked. Decided before the text is forwarded; changes
   * nothing of the session's state.
   */
  writeRefusal(sql: string): string | null {
    return writeRefusal(sql, this.binding.resolver, this.session);
  }

  // -------------------------------------------------------------------------------------------
  // Client -> server

  /**
   * A request the model queued for a frame forwarded upstream. Returns bytes to send upstream
   * before the frame (a Describe of the portal an Execute runs, never described), or null.
   */
  client(op: Op | null, buf: Buffer, start: number, end: number): Buffer | null {
    if (op === null || op.outcome === 'skipped') return null;
    switch (op.kind) {
      case 'query':
        this.queries.set(op, { stmts: this.lineages(op.sql, op, op.effects), plan: null, copy: null });
        return null;
      case 'parse':
        this.statement(op.statement, op);
        return null;
      case 'bind':
        this.portal(op.portal, op);
        return null;
      case 'describe-portal':
        this.portal(op.portal, op).describing = true;
        return null;
      case 'execute': {
        const pm = this.portal(op.portal, op);
        if (this.active && pm.plan === null && pm.stmt.fields === null && !pm.describing) {
          // Never described: ask, so that its rows come with a plan.
          const injected = this.opts.protocol.injectDescribeBeforeLast(op.portal, op.name);
          if (op.portal === null) this.portals.set(injected, pm);
          pm.describing = true;
          return describePortalMessage(op.name);
        }
        return null;
      }
      case 'function-call':
        this.calls.set(op, parseFunctionCall(buf, start, end));
        return null;
      default:
        return null;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Server -> client

  /** The strictest rule the running statement touches (for errors and notices). */
  private strict(op: Op | null, index: number): MaskRule | null {
    if (op?.kind === 'query') {
      const q = this.queries.get(op);
      return stricter(q?.stmts[index]?.reads ?? null, q?.plan?.strictest ?? null);
    }
    if (op?.kind === 'execute') {
      const pm = this.portal(op.portal, op);
      return stricter(pm.stmt.lineage?.reads ?? null, pm.plan?.strictest ?? null);
    }
    // Bind plans the statement (and may run parts of it: stable functions, partition pruning).
    if (op?.kind === 'bind') return this.portal(op.portal, op).stmt.lineage?.reads ?? null;
    return null;
  }

  /** The statement's text and Bind parameters, for errors: quoted text the client sent is not data. */
  private clientText(op: Op | null): { sql: string; params: string[] } {
    if (op?.kind === 'query') return { sql: op.sql, params: [] };
    if (op?.kind === 'execute') return { sql: this.portal(op.portal, op).stmt.sql, params: [] };
    // A parameter that fails its conversion is echoed by the Bind (rows are read by Execute).
    if (op?.kind === 'bind')
      return {
        sql: this.portal(op.portal, op).stmt.sql,
        params: (op.portal?.params ?? []).filter((p): p is string => p !== null),
      };
    return { sql: '', params: [] };
  }

  /** The holder of the running statement's COPY masker, if it copies out. */
  private copyOf(op: Op | null): { copy: CopyMasker | null } | null {
    if (op?.kind === 'query') return this.queries.get(op) ?? null;
    if (op?.kind === 'execute') return this.portal(op.portal, op);
    return null;
  }

  private ddlDone(lineage: StatementLineage | null | undefined): void {
    if (lineage?.ddl) {
      this.catalog.invalidate();
      this.ddlPending = true;
      this.atIdle = 'full';
    } else if (lineage && this.calling.has(lineage)) {
      // A function that may rename: the digest is asked before the next statement and again
      // when the transaction ends; until then, one that may run DDL unseen puts lineage behind.
      this.catalog.suspect();
      if (this.calling.get(lineage) === 'behind') this.ddlPending = true;
      if (this.atIdle === 'none') this.atIdle = 'digest';
    }
  }

  /**
   * A backend frame, with the model's reading of it. null = send it unchanged; otherwise the
   * bytes to send instead (an empty buffer = send nothing). `counts` collects masked values by
   * rule for the current statement. Throws MaskError when a frame cannot be masked safely (fail
   * closed: end the session).
   */
  server(
    reply: Reply,
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    counts: Counts | null,
  ): Buffer | null {
    const op = reply.op;
    // Any other message may change the plan (a RowDescription, the end of a statement).
    if (type !== 0x44) {
      this.rowsOf = null;
      // Every statement sends one of these before any notification it causes (CopyData, the
      // bulk of a COPY, comes after its CopyOutResponse: skipped on the hot path).
      if (type !== 0x41 && type !== 0x53 && type !== 0x5a && type !== 0x64 && this.active)
        this.tainted = stricter(this.tainted, this.strict(op, reply.statementIndex));
    }
    switch (type) {
      case 0x44: {
        // DataRow: the plan of the last row's request is kept (a result's rows all ask for it).
        let plan: MaskPlan | null;
        if (op !== null && op === this.rowsOf) plan = this.rowsPlan;
        else {
          plan = null;
          if (op?.kind === 'execute') plan = this.portalPlan(this.portal(op.portal, op));
          else if (op?.kind === 'query') plan = this.queries.get(op)?.plan ?? null;
          if (plan !== null) {
            this.rowsOf = op;
            this.rowsPlan = plan;
          }
        }
        if (plan === null) {
          if (!this.active) return null;
          throw new MaskError('a DataRow arrived without a RowDescription the gateway saw');
        }
        return maskDataRow(plan, buf, start, end, counts);
      }
      case 0x54: {
        // RowDescription
        const fields = parseRowDescription(buf, start, end);
        if (op?.kind === 'describe-statement') {
          const st = this.statement(op.statement);
          st.fields = fields;
          st.plan = null;
          this.statementPlan(st);
        } else if (op?.kind === 'describe-portal') {
          const pm = this.portal(op.portal, op);
          pm.plan = this.plan(fields, pm.stmt.lineage);
          pm.describing = false;
          if (pm.stmt.fields === null) {
            pm.stmt.fields = fields.map((f) => ({ ...f, format: 0 }));
            pm.stmt.version = this.catalog.version;
          }
          if (op.injected) return EMPTY;
        } else if (op?.kind === 'query') {
          const q = this.queries.get(op);
          if (q) q.plan = this.plan(fields, q.stmts[reply.statementIndex] ?? null);
        }
        return null;
      }
      case 0x6e: {
        // NoData
        if (op?.kind === 'describe-statement') {
          const st = this.statement(op.statement);
          st.fields = [];
          st.plan = null;
        } else if (op?.kind === 'describe-portal') {
          const pm = this.portal(op.portal, op);
          pm.plan = PASSTHROUGH_PLAN;
          pm.describing = false;
          if (op.injected) return EMPTY;
        }
        return null;
      }
      case 0x43: {
        // CommandComplete
        if (op?.kind === 'execute') {
          const pm = this.portal(op.portal, op);
          this.ddlDone(pm.stmt.lineage);
          pm.copy = null;
        } else if (op?.kind === 'query') {
          const q = this.queries.get(op);
          this.ddlDone(q?.stmts[reply.statementIndex]);
          if (q) {
            q.plan = null;
            q.copy = null;
          }
        }
        return null;
      }
      case 0x49: {
        // EmptyQueryResponse
        const q = op?.kind === 'query' ? this.queries.get(op) : undefined;
        if (q) q.plan = null;
        return null;
      }
      case 0x45: // ErrorResponse
      case 0x4e: {
        // NoticeResponse
        for (const o of reply.ended)
          if (o.kind === 'describe-portal') this.portal(o.portal, o).describing = false;
        const b = this.binding;
        const strict = this.strict(op, reply.statementIndex);
        return maskErrorOrNotice(
          buf,
          start,
          end,
          {
            detection: b.masking.detection,
            strict,
            ...(strict === null ? {} : this.clientText(op)),
            hasher: b.masking.hasher,
          },
          counts,
        );
      }
      case 0x56: {
        // FunctionCallResponse: masked by what the function is known to return.
        if (!this.active) return null;
        const call = op?.kind === 'function-call' ? (this.calls.get(op) ?? null) : null;
        return maskFunctionResult(buf, start, end, call, this.binding, counts);
      }
      case 0x41:
        // NotificationResponse
        if (!this.active) return null;
        return maskNotification(buf, start, end, this.binding.masking.detection, counts, this.tainted);
      case 0x53:
        // ParameterStatus (a GUC_REPORT setting changed: application_name...)
        if (!this.active) return null;
        return maskParameterStatus(buf, start, end, this.binding.masking.detection, counts, this.tainted);
      case 0x5a: {
        // ReadyForQuery
        const idle = readyStatus(buf, start, end) === 0x49;
        // Outside a transaction: whatever a statement queued for commit has been delivered.
        if (idle) this.tainted = null;
        if ((this.ddlPending || this.atIdle !== 'none') && idle) {
          // Committed (or rolled back): what the catalog connection sees may have changed.
          if (this.atIdle === 'full') this.catalog.invalidate();
          else this.catalog.suspect();
          this.ddlPending = false;
          this.atIdle = 'none';
        }
        return null;
      }
      case 0x48: {
        // CopyOutResponse
        const { format, columns } = parseCopyOutResponse(buf, start, end);
        const lin =
          op?.kind === 'query'
            ? (this.queries.get(op)?.stmts[reply.statementIndex] ?? null)
            : op?.kind === 'execute'
              ? this.portal(op.portal, op).stmt.lineage
              : null;
        const cl = lin?.copy ?? null;
        const b = this.binding;
        const cols = cl?.all ? columns.map(() => ({ name: null, rule: cl.all })) : (cl?.columns ?? null);
        const options = cl?.options ?? defaultCopyOptions(format === 1 ? 'binary' : 'text');
        const masker = new CopyMasker(options, cols, columns.length, {
          env: b.env,
          detection: b.masking.detection,
        });
        const holder = this.copyOf(op);
        if (holder) holder.copy = masker;
        return null;
      }
      case 0x64: {
        // CopyData
        const m = this.copyOf(op)?.copy ?? null;
        return m ? m.push(buf, start, end, counts) : null;
      }
      case 0x63: {
        // CopyDone
        const m = this.copyOf(op)?.copy ?? null;
        const tail = m?.flush(counts) ?? null;
        return tail ? Buffer.concat([tail, buf.subarray(start, end)]) : null;
      }
      default:
        return null;
    }
  }
}
