// MaskingStream: the masking side of one client session, as a synchronous state machine fed
// with every frame that actually crosses the gateway. The session calls
//
//   client(type, buf, start, end)          for each frame it forwards upstream (after the
//                                          guardrails let it through); returns bytes to send
//                                          upstream just BEFORE that frame (an injected
//                                          Describe), or null
//   server(type, buf, start, end, counts)  for each backend frame; returns null (send the frame
//                                          as is), or the bytes to send instead (possibly empty:
//                                          send nothing, e.g. the answer to an injected Describe)
//
// It maps every backend message to what the client asked for with a FIFO (the server answers in
// order; after an error in the extended protocol it skips to Sync), keeps a mask plan per
// RowDescription, per prepared statement (so Bind/Execute without a fresh Describe keeps its plan,
// in the formats of each Bind) and per portal (Execute with a row limit, PortalSuspended, and
// Execute again), follows simple-Query statements through their CommandCompletes, cursors
// (DECLARE ... FETCH), COPY TO STDOUT, FunctionCall results (see fcall.ts), and invalidates the
// catalog on DDL.

import { type CatalogBinding, MaskCatalog } from './catalog.js';
import type { CompiledMasking } from './compile.js';
import { CopyMasker, defaultCopyOptions, parseCopyOutResponse } from './copy.js';
import { type FunctionCallInfo, maskFunctionResult, parseFunctionCall } from './fcall.js';
import { LineageSession, type StatementLineage, statementLineages } from './lineage.js';
import {
  buildMaskPlan,
  MaskError,
  type MaskPlan,
  PASSTHROUGH_PLAN,
  parseBindResultFormats,
  parseRowDescription,
} from './plan.js';
import { type Counts, maskDataRow, maskErrorOrNotice, maskNotification } from './rewrite.js';
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

interface Portal {
  name: string;
  stmt: Statement;
  formats: number[];
  plan: MaskPlan | null;
  copy: CopyMasker | null;
}

type Op =
  | { k: 'parse' }
  | { k: 'bind' }
  | { k: 'close' }
  | { k: 'sync' }
  | { k: 'fcall'; call: FunctionCallInfo }
  | { k: 'describeS'; stmt: Statement }
  | { k: 'describeP'; portal: Portal; injected: boolean }
  | { k: 'execute'; portal: Portal }
  | { k: 'query'; stmts: StatementLineage[]; idx: number; plan: MaskPlan | null; copy: CopyMasker | null };

function cstring(buf: Buffer, pos: number, end: number): [string, number] {
  const nul = buf.indexOf(0, pos);
  if (nul < 0 || nul >= end) throw new MaskError('unterminated string in a frontend message');
  return [buf.toString('utf8', pos, nul), nul + 1];
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
  /** The upstream's catalog (loaded: await catalog.ensureLoaded() before forwarding statements). */
  catalog: MaskCatalog | null;
}

export class MaskingStream {
  readonly session = new LineageSession();
  private readonly queue: Op[] = [];
  private readonly statements = new Map<string, Statement>();
  private readonly portals = new Map<string, Portal>();
  private readonly catalog: MaskCatalog;
  private ddlPending = false;

  constructor(private readonly opts: MaskingStreamOptions) {
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

  private lineages(sql: string): StatementLineage[] {
    return statementLineages(sql, this.binding.resolver, this.session);
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

  private portalPlan(p: Portal): MaskPlan | null {
    if (p.plan) return p.plan;
    const sp = this.statementPlan(p.stmt);
    if (sp === null) return null;
    p.plan = sp.withFormats(p.formats);
    return p.plan;
  }

  // -------------------------------------------------------------------------------------------
  // Client -> server

  /** A frame forwarded upstream. Returns bytes to send upstream before it, or null. */
  client(type: number, buf: Buffer, start: number, end: number): Buffer | null {
    switch (type) {
      case 0x51: {
        // Query
        const [sql] = cstring(buf, start + 5, end);
        this.queue.push({ k: 'query', stmts: this.lineages(sql), idx: 0, plan: null, copy: null });
        return null;
      }
      case 0x50: {
        // Parse
        const [name, p] = cstring(buf, start + 5, end);
        const [sql] = cstring(buf, p, end);
        const stmt: Statement = {
          sql,
          lineage: this.lineages(sql)[0] ?? null,
          fields: null,
          plan: null,
          version: this.catalog.version,
        };
        this.statements.set(name, stmt);
        this.queue.push({ k: 'parse' });
        return null;
      }
      case 0x42: {
        // Bind
        const [portal, p] = cstring(buf, start + 5, end);
        const [stmtName] = cstring(buf, p, end);
        const stmt = this.statements.get(stmtName) ?? {
          sql: '',
          lineage: null,
          fields: null,
          plan: null,
          version: -1,
        };
        this.portals.set(portal, {
          name: portal,
          stmt,
          formats: parseBindResultFormats(buf, start, end),
          plan: null,
          copy: null,
        });
        this.queue.push({ k: 'bind' });
        return null;
      }
      case 0x44: {
        // Describe
        const what = buf[start + 5];
        const [name] = cstring(buf, start + 6, end);
        if (what === 0x53) {
          const stmt = this.statements.get(name) ?? {
            sql: '',
            lineage: null,
            fields: null,
            plan: null,
            version: -1,
          };
          this.queue.push({ k: 'describeS', stmt });
        } else {
          const portal = this.portals.get(name) ?? this.unknownPortal(name);
          this.queue.push({ k: 'describeP', portal, injected: false });
        }
        return null;
      }
      case 0x45: {
        // Execute
        const [name] = cstring(buf, start + 5, end);
        const portal = this.portals.get(name) ?? this.unknownPortal(name);
        let inject: Buffer | null = null;
        if (
          this.active &&
          portal.plan === null &&
          portal.stmt.fields === null &&
          !this.describePending(portal)
        ) {
          // Never described: ask, so that its rows come with a plan.
          this.queue.push({ k: 'describeP', portal, injected: true });
          inject = describePortalMessage(name);
        }
        this.queue.push({ k: 'execute', portal });
        return inject;
      }
      case 0x43: {
        // Close
        const what = buf[start + 5];
        const [name] = cstring(buf, start + 6, end);
        if (what === 0x53) this.statements.delete(name);
        else this.portals.delete(name);
        this.queue.push({ k: 'close' });
        return null;
      }
      case 0x53:
        this.queue.push({ k: 'sync' });
        return null;
      case 0x46:
        this.queue.push({ k: 'fcall', call: parseFunctionCall(buf, start, end) });
        return null;
      default:
        return null;
    }
  }

  private unknownPortal(name: string): Portal {
    return {
      name,
      stmt: { sql: '', lineage: null, fields: null, plan: null, version: -1 },
      formats: [],
      plan: null,
      copy: null,
    };
  }

  private describePending(portal: Portal): boolean {
    return this.queue.some((op) => op.k === 'describeP' && op.portal === portal);
  }

  // -------------------------------------------------------------------------------------------
  // Server -> client

  private shift(...kinds: Op['k'][]): Op | undefined {
    const head = this.queue[0];
    if (head && kinds.includes(head.k)) return this.queue.shift();
    return undefined;
  }

  /** The strictest rule the running statement touches (for errors and notices). */
  private strict(): MaskRule | null {
    const head = this.queue.find((op) => op.k === 'query' || op.k === 'execute');
    if (!head) return null;
    if (head.k === 'query') {
      const st = head.stmts[head.idx];
      return stricter(st?.reads ?? null, head.plan?.strictest ?? null);
    }
    return stricter(head.portal.stmt.lineage?.reads ?? null, head.portal.plan?.strictest ?? null);
  }

  private ddlDone(lineage: StatementLineage | null | undefined): void {
    if (lineage?.ddl) {
      this.catalog.invalidate();
      this.ddlPending = true;
    }
  }

  /**
   * A backend frame. null = send it unchanged; otherwise the bytes to send instead (an empty
   * buffer = send nothing). `counts` collects masked values by rule for the current statement.
   * Throws MaskError when a frame cannot be masked safely (fail closed: end the session).
   */
  server(type: number, buf: Buffer, start: number, end: number, counts: Counts | null): Buffer | null {
    switch (type) {
      case 0x44: {
        // DataRow
        const head = this.queue[0];
        let plan: MaskPlan | null = null;
        if (head?.k === 'execute') plan = this.portalPlan(head.portal);
        else if (head?.k === 'query') plan = head.plan;
        if (plan === null) {
          if (!this.active) return null;
          throw new MaskError('a DataRow arrived without a RowDescription the gateway saw');
        }
        return maskDataRow(plan, buf, start, end, counts);
      }
      case 0x54: {
        // RowDescription
        const head = this.queue[0];
        const fields = parseRowDescription(buf, start, end);
        if (head?.k === 'describeS') {
          head.stmt.fields = fields;
          head.stmt.plan = null;
          this.statementPlan(head.stmt);
          this.queue.shift();
        } else if (head?.k === 'describeP') {
          head.portal.plan = this.plan(fields, head.portal.stmt.lineage);
          if (head.portal.stmt.fields === null) {
            head.portal.stmt.fields = fields.map((f) => ({ ...f, format: 0 }));
            head.portal.stmt.version = this.catalog.version;
          }
          this.queue.shift();
          if (head.injected) return EMPTY;
        } else if (head?.k === 'query') {
          head.plan = this.plan(fields, head.stmts[head.idx] ?? null);
        }
        return null;
      }
      case 0x6e: {
        // NoData
        const head = this.shift('describeS', 'describeP');
        if (head?.k === 'describeS') {
          head.stmt.fields = [];
          head.stmt.plan = null;
        } else if (head?.k === 'describeP') {
          head.portal.plan = PASSTHROUGH_PLAN;
          if (head.injected) return EMPTY;
        }
        return null;
      }
      case 0x74: // ParameterDescription: the RowDescription / NoData follows
        return null;
      case 0x31:
        this.shift('parse');
        return null;
      case 0x32:
        this.shift('bind');
        return null;
      case 0x33:
        this.shift('close');
        return null;
      case 0x43: {
        // CommandComplete
        const head = this.queue[0];
        if (head?.k === 'execute') {
          this.queue.shift();
          this.ddlDone(head.portal.stmt.lineage);
          head.portal.copy = null;
        } else if (head?.k === 'query') {
          this.ddlDone(head.stmts[head.idx]);
          head.idx++;
          head.plan = null;
          head.copy = null;
        }
        return null;
      }
      case 0x49: {
        // EmptyQueryResponse
        const head = this.queue[0];
        if (head?.k === 'execute') this.queue.shift();
        else if (head?.k === 'query') {
          head.idx++;
          head.plan = null;
        }
        return null;
      }
      case 0x73:
        // PortalSuspended: the portal (and its plan) lives on for the next Execute.
        this.shift('execute');
        return null;
      case 0x45: {
        // ErrorResponse
        const b = this.binding;
        const out = maskErrorOrNotice(
          buf,
          start,
          end,
          { detection: b.masking.detection, strict: this.strict(), hasher: b.masking.hasher },
          counts,
        );
        const head = this.queue[0];
        if (head && head.k !== 'query' && head.k !== 'fcall' && head.k !== 'sync') {
          // Extended protocol: the server skips everything up to Sync.
          while (this.queue.length > 0 && this.queue[0].k !== 'sync') this.queue.shift();
        }
        return out;
      }
      case 0x4e: {
        // NoticeResponse
        const b = this.binding;
        return maskErrorOrNotice(
          buf,
          start,
          end,
          { detection: b.masking.detection, strict: this.strict(), hasher: b.masking.hasher },
          counts,
        );
      }
      case 0x56: {
        // FunctionCallResponse: masked by what the function is known to return.
        if (!this.active) return null;
        const head = this.queue[0];
        return maskFunctionResult(
          buf,
          start,
          end,
          head?.k === 'fcall' ? head.call : null,
          this.binding,
          counts,
        );
      }
      case 0x41:
        // NotificationResponse
        return maskNotification(buf, start, end, this.binding.masking.detection, counts);
      case 0x5a: {
        // ReadyForQuery
        this.shift('sync', 'query', 'fcall');
        // Idle: the transaction is over, and with it every portal (queued work keeps its own).
        if (buf[start + 5] === 0x49 && this.queue.length === 0) this.portals.clear();
        if (this.ddlPending && buf[start + 5] === 0x49) {
          // Committed (or rolled back): what the catalog connection sees may have changed.
          this.catalog.invalidate();
          this.ddlPending = false;
        }
        return null;
      }
      case 0x48: {
        // CopyOutResponse
        const head = this.queue[0];
        const { columns } = parseCopyOutResponse(buf, start, end);
        const lin =
          head?.k === 'query'
            ? head.stmts[head.idx]
            : head?.k === 'execute'
              ? head.portal.stmt.lineage
              : null;
        const cl = lin?.copy ?? null;
        const b = this.binding;
        const cols = cl?.all ? columns.map(() => ({ name: null, rule: cl.all })) : (cl?.columns ?? null);
        const options = cl?.options ?? defaultCopyOptions(buf[start + 5] === 1 ? 'binary' : 'text');
        const masker = new CopyMasker(options, cols, columns.length, {
          env: b.env,
          detection: b.masking.detection,
        });
        if (head?.k === 'query') head.copy = masker;
        else if (head?.k === 'execute') head.portal.copy = masker;
        return null;
      }
      case 0x64: {
        // CopyData
        const head = this.queue[0];
        const m = head?.k === 'query' ? head.copy : head?.k === 'execute' ? head.portal.copy : null;
        return m ? m.push(buf, start, end, counts) : null;
      }
      case 0x63: {
        // CopyDone
        const head = this.queue[0];
        const m = head?.k === 'query' ? head.copy : head?.k === 'execute' ? head.portal.copy : null;
        const tail = m?.flush(counts) ?? null;
        return tail ? Buffer.concat([tail, buf.subarray(start, end)]) : null;
      }
      default:
        return null;
    }
  }
}
