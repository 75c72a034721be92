// Statements: the lineage of each statement of a SQL text, per-session state (cursors,
// prepared statements, derived relations) and the parse caches.
// Part of lineage.ts (the public entry).

import { isObj, type Json, type JsonObject, list, parseSql, sval, wrapper } from '../../policy/parser.js';
import { numericShape, shapeMatchesTree } from '../../policy/shape.js';
import { type CopyOptions, defaultCopyOptions } from '../copy.js';
import type { ColumnLineage } from '../plan.js';
import { type MaskRule, stricter } from '../rules.js';
import { expr } from './expressions.js';
import { fromItem, query, relationRel } from './queries.js';
import { anyTaint, type Ctx, newCtx, type OutCol, type Scope } from './scope.js';
import { CLEAN, type LineageResolver, names, type ResolvedRelation, str, whole } from './taint.js';
import { attachWrites, doWrites, intoWrites, type MaskedWrite, SERVER_STATE, tracked } from './writes.js';

// ---------------------------------------------------------------------------------------------
// Statements

export interface CopyLineage {
  options: CopyOptions;
  /** Per column, in COPY's column order; null when unknown. */
  columns: ColumnLineage[] | null;
  /** When the columns cannot be placed: the rule covering every column (null = none). */
  all: MaskRule | null;
}

export interface StatementLineage {
  /** The statement's output columns (unaligned: see alignLineage); null when unknown / no rows. */
  columns: ColumnLineage[] | null;
  /** The strictest rule of any masked column the statement reads anywhere (WHERE included). */
  reads: MaskRule | null;
  /** For COPY ... TO STDOUT. */
  copy: CopyLineage | null;
  /** The statement may change what the masking catalog holds (tables, columns, views, types). */
  ddl: boolean;
  /** Masked data it would write into server state (refused: see MaskedWrite); absent = none. */
  writes?: readonly MaskedWrite[];
}

export const DDL_TYPES = /^(Create|Alter|Drop|Rename|Define|CompositeType|View|Rule|Do|Comment)/;

export function toLineage(cols: OutCol[]): ColumnLineage[] {
  return cols.map((c) => ({
    name: c.name,
    rule: c.taint.rule,
    json: c.taint.json,
    record: c.taint.record ? { rules: c.taint.record.rules, types: c.taint.record.types } : null,
    typeOid: c.taint.typeOid,
    star: c.star === true,
    exact: c.taint.rule !== null && c.taint.src !== undefined,
  }));
}

export function defElems(v: Json | undefined): Map<string, Json | undefined> {
  const m = new Map<string, Json | undefined>();
  for (const item of list(v)) {
    const w = wrapper(item);
    if (w && w[0] === 'DefElem' && typeof w[1].defname === 'string') m.set(w[1].defname, w[1].arg);
  }
  return m;
}

export function defString(v: Json | undefined): string | null {
  const s = sval(v);
  if (s !== null) return s;
  const w = wrapper(v);
  if (w && w[0] === 'Boolean') return w[1].boolval === true ? 'true' : 'false';
  if (w && w[0] === 'Integer') return String(w[1].ival ?? 0);
  return null;
}

export function copyOptionsOf(b: JsonObject): CopyOptions {
  const opts = defElems(b.options);
  const fmt = (defString(opts.get('format')) ?? 'text').toLowerCase();
  const format = fmt === 'csv' || fmt === 'binary' ? fmt : 'text';
  const o = defaultCopyOptions(format);
  const delim = defString(opts.get('delimiter'));
  if (delim) o.delimiter = delim;
  const nul = defString(opts.get('null'));
  if (nul !== null) o.null = nul;
  const quote = defString(opts.get('quote'));
  if (quote) o.quote = quote;
  const esc = defString(opts.get('escape'));
  o.escape = esc ?? o.quote;
  if (opts.has('header')) {
    const h = opts.get('header');
    const hs = h === undefined ? 'true' : (defString(h) ?? 'true');
    o.header = !['false', 'off', '0'].includes(hs.toLowerCase());
  }
  return o;
}

/** A view created in this session (not yet visible to the catalog connection). */
export interface LocalView {
  kind: 'local-view';
  query: JsonObject;
  aliases: string[];
}

/**
 * Per client session: SQL-level prepared statements and cursors (EXECUTE / FETCH answer with
 * the lineage of what was prepared / declared), and relations this session created or filled
 * from masked data (CREATE TABLE AS, SELECT INTO, INSERT ... SELECT, UPDATE ... SET, CREATE
 * VIEW) so that reading them back stays masked even before the catalog sees them.
 */
/** What lineage needs of the session's prepared statements (see MaskingStream's model-backed view). */
export interface PreparedLineages {
  get(name: string): StatementLineage | undefined;
  set(name: string, lineage: StatementLineage): void;
  delete(name: string): void;
  clear(): void;
}

/** What lineage needs of the session's cursors: a name's output columns (null = unknown). */
export interface CursorLineages {
  get(name: string): ColumnLineage[] | null | undefined;
  set(name: string, columns: ColumnLineage[] | null): void;
  delete(name: string): void;
  clear(): void;
}

export class LineageSession {
  /**
   * PREPARE / EXECUTE by name. On its own (tests, previews) a plain map in statement order; in a
   * live session a view of the protocol model's statements, where only confirmed PREPAREs count.
   */
  constructor(
    readonly prepared: PreparedLineages = new Map<string, StatementLineage>(),
    /** DECLAREd cursors; in a live session also the protocol's portals (one namespace). */
    readonly cursors: CursorLineages = new Map<string, ColumnLineage[] | null>(),
  ) {}
  private readonly local = new Map<string, ResolvedRelation | LocalView>();
  /** Extra taint on columns of existing relations: relation -> column -> rule ('' = every column). */
  private readonly taints = new Map<string, Map<string, MaskRule>>();

  private static key(schema: string | null, name: string): string {
    return `${schema ?? ''}.${name}`;
  }

  relation(schema: string | null, name: string, base: LineageResolver): ResolvedRelation | LocalView | null {
    const own = this.local.get(LineageSession.key(schema, name)) ?? (schema !== null ? null : null);
    const r = own ?? base.relation(schema, name);
    const extra = this.taints.get(name);
    if (!extra) return r;
    const all = extra.get('') ?? null;
    if (r === null || r.kind === 'opaque') {
      let rule: MaskRule | null = r?.kind === 'opaque' ? r.rule : null;
      for (const v of extra.values()) rule = stricter(rule, v);
      return { kind: 'opaque', rule };
    }
    if (r.kind === 'table')
      return {
        kind: 'table',
        columns: r.columns.map((c) => ({
          ...c,
          rule: stricter(stricter(c.rule, extra.get(c.name) ?? null), all),
        })),
      };
    return r;
  }

  /** Records what a statement does to the session's state. */
  note(stmtType: string, b: JsonObject, result: StatementLineage, outputs: OutCol[] | null, ctx: Ctx): void {
    switch (stmtType) {
      case 'DeclareCursorStmt':
        if (typeof b.portalname === 'string')
          this.cursors.set(b.portalname, outputs ? toLineage(outputs) : null);
        break;
      case 'ClosePortalStmt':
        if (typeof b.portalname === 'string') this.cursors.delete(b.portalname);
        else this.cursors.clear();
        break;
      case 'PrepareStmt':
        break;
      case 'DeallocateStmt':
        if (typeof b.name === 'string') this.prepared.delete(b.name);
        else this.prepared.clear();
        break;
      case 'DiscardStmt':
        this.cursors.clear();
        this.prepared.clear();
        break;
      case 'CreateTableAsStmt':
      case 'SelectStmt': {
        const into = isObj(b.into) ? b.into : isObj(b.intoClause) ? b.intoClause : null;
        const rel = into && isObj(into.rel) ? into.rel : null;
        if (!rel || !outputs) break;
        const colnames = names(into?.colNames);
        const cols = outputs.filter((c) => !c.star);
        if (!outputs.some((c) => c.taint.rule)) break;
        const key = LineageSession.key(str(rel.schemaname), str(rel.relname) ?? '');
        if (cols.length !== outputs.length) {
          this.local.set(key, { kind: 'opaque', rule: whole(...outputs.map((c) => c.taint)).rule });
        } else {
          this.local.set(key, {
            kind: 'table',
            columns: cols.map((c, i) => ({
              name: colnames[i] ?? c.name ?? `?column?`,
              rule: c.taint.rule,
              typeOid: c.taint.typeOid,
            })),
          });
        }
        if (str(rel.schemaname) !== null)
          this.local.set(
            LineageSession.key(null, str(rel.relname) ?? ''),
            this.local.get(key) as ResolvedRelation,
          );
        break;
      }
      case 'ViewStmt': {
        const v = isObj(b.view) ? b.view : null;
        if (!v || !isObj(b.query)) break;
        const lv: LocalView = { kind: 'local-view', query: b.query, aliases: names(b.aliases) };
        this.local.set(LineageSession.key(str(v.schemaname), str(v.relname) ?? ''), lv);
        this.local.set(LineageSession.key(null, str(v.relname) ?? ''), lv);
        break;
      }
      case 'InsertStmt': {
        const rel = isObj(b.relation) ? b.relation : null;
        if (!rel || b.selectStmt === undefined) break;
        const src = query(b.selectStmt, null, { ...ctx, reads: null }, null);
        if (!src.some((c) => c.taint.rule)) break;
        const cols = list(b.cols).map((c) => {
          const w = wrapper(c);
          return w ? (str(w[1].name) ?? '') : '';
        });
        const m = this.taints.get(str(rel.relname) ?? '') ?? new Map<string, MaskRule>();
        if (cols.length === src.length && !src.some((c) => c.star)) {
          cols.forEach((c, i) => {
            const r = src[i].taint.rule;
            if (r) m.set(c, stricter(m.get(c) ?? null, r) as MaskRule);
          });
        } else m.set('', stricter(m.get('') ?? null, whole(...src.map((c) => c.taint)).rule) as MaskRule);
        this.taints.set(str(rel.relname) ?? '', m);
        break;
      }
      case 'UpdateStmt': {
        const rel = isObj(b.relation) ? b.relation : null;
        if (!rel) break;
        const scope: Scope = { rels: [relationRel(rel, null, ctx, null)], parent: null };
        for (const f of list(b.fromClause)) scope.rels.push(...fromItem(f, scope, ctx, null).rels);
        const m = this.taints.get(str(rel.relname) ?? '') ?? new Map<string, MaskRule>();
        for (const t of list(b.targetList)) {
          const tw = wrapper(t);
          if (!tw || typeof tw[1].name !== 'string') continue;
          const r = expr(tw[1].val, scope, { ...ctx, reads: null }).rule;
          if (r) m.set(tw[1].name, stricter(m.get(tw[1].name) ?? null, r) as MaskRule);
        }
        if (m.size > 0) this.taints.set(str(rel.relname) ?? '', m);
        break;
      }
    }
    void result;
  }
}

export function analyseStatement(
  stmt: JsonObject,
  resolve: LineageResolver,
  session: LineageSession | null,
  record = true,
): StatementLineage {
  const w = wrapper(stmt);
  const result: StatementLineage = { columns: null, reads: null, copy: null, ddl: false };
  if (!w) return result;
  const [type, b] = w;
  const ctx: Ctx = newCtx(resolve, session);
  result.ddl = DDL_TYPES.test(type);
  let outputs: OutCol[] | null = null;
  switch (type) {
    case 'SelectStmt': {
      const src = tracked(ctx, () => query(stmt, null, ctx, null));
      outputs = src.value;
      if (!isObj(b.intoClause)) result.columns = toLineage(outputs);
      else {
        result.ddl = true;
        intoWrites(ctx, b.intoClause, outputs, src.cols, 'table');
      }
      break;
    }
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      outputs = query(stmt, null, ctx, null);
      result.columns = toLineage(outputs);
      break;
    case 'DeclareCursorStmt':
      outputs = query(b.query, null, ctx, null);
      break;
    case 'CreateTableAsStmt': {
      const src = tracked(ctx, () => query(b.query, null, ctx, null));
      outputs = src.value;
      const kind = b.objtype === 'OBJECT_MATVIEW' ? 'materialized view' : 'table';
      intoWrites(ctx, isObj(b.into) ? b.into : null, outputs, src.cols, kind);
      break;
    }
    case 'CreateTrigStmt':
    case 'RuleStmt':
    case 'CreatePolicyStmt':
    case 'AlterPolicyStmt':
      attachWrites(type, b, ctx);
      break;
    case 'DoStmt':
      doWrites(b, ctx);
      break;
    case 'FetchStmt': {
      if (b.ismove === true) break;
      // A cursor the gateway did not see declared with known lineage (opened inside a function,
      // `<unnamed portal 1>`, a refcursor) may hold any masked column: fail closed.
      const known = typeof b.portalname === 'string' ? session?.cursors.get(b.portalname) : undefined;
      result.columns = known ?? [{ name: null, rule: anyTaint(ctx).rule, star: true }];
      break;
    }
    case 'ExecuteStmt': {
      const p = typeof b.name === 'string' ? session?.prepared.get(b.name) : undefined;
      if (p) return { ...p, ddl: p.ddl };
      result.columns = [{ name: null, rule: anyTaint(ctx).rule, star: true }];
      break;
    }
    case 'PrepareStmt': {
      if (isObj(b.query) && typeof b.name === 'string' && session) {
        const inner = analyseStatement(b.query, resolve, session, record);
        if (record) session.prepared.set(b.name, inner);
        result.reads = inner.reads;
        result.ddl = inner.ddl;
        ctx.writes.push(...(inner.writes ?? []));
      } else if (isObj(b.query))
        ctx.writes.push(...(analyseStatement(b.query, resolve, null, false).writes ?? []));
      break;
    }
    case 'ExplainStmt': {
      // EXPLAIN ANALYZE runs the statement; its rows are the plan, not data.
      if (isObj(b.query)) {
        const inner = analyseStatement(b.query, resolve, session, record);
        result.reads = inner.reads;
        ctx.writes.push(...(inner.writes ?? []));
      }
      break;
    }
    case 'CopyStmt': {
      if (b.is_from === true || typeof b.filename === 'string' || b.is_program === true) break;
      const options = copyOptionsOf(b);
      let cols: OutCol[] | null = null;
      if (isObj(b.query)) cols = query(b.query, null, ctx, null);
      else if (isObj(b.relation)) {
        const rel = relationRel(b.relation, null, ctx, null);
        const att = names(b.attlist);
        if (rel.columns)
          cols = att.length
            ? att.map((a) => rel.columns?.find((c) => c.name === a) ?? { name: a, taint: CLEAN })
            : rel.columns;
        else if (rel.unknown) cols = [{ name: null, taint: { ...CLEAN, rule: rel.unknown }, star: true }];
        for (const c of cols ?? []) ctx.reads = stricter(ctx.reads, c.taint.rule);
      }
      const lin = cols ? toLineage(cols) : null;
      if (lin?.some((c) => c.star)) {
        // COPY has no field names to align by: with an unknown width, the strictest rule covers all.
        let r: MaskRule | null = null;
        for (const c of lin) r = stricter(r, c.rule);
        result.copy = { options, columns: null, all: r };
      } else result.copy = { options, columns: lin, all: null };
      break;
    }
    case 'ViewStmt':
      if (isObj(b.query)) query(b.query, null, ctx, null);
      break;
    case 'CallStmt': {
      // A procedure's OUT / INOUT parameters come back as one row.
      const fc = isObj(b.funccall) ? b.funccall : null;
      if (!fc) break;
      const qualified = names(fc.funcname);
      const schema = qualified.length > 1 ? qualified[qualified.length - 2] : null;
      const f = ctx.resolve.function?.(schema, qualified[qualified.length - 1] ?? '') ?? null;
      const argTaint = whole(...list(fc.args).map((a) => expr(a, null, ctx)));
      if (f === null) break;
      if (f.unknownShape) {
        let rule = argTaint.rule;
        for (const c of f.columns) rule = stricter(rule, c.rule);
        result.columns = [{ name: null, rule, star: true }];
      } else
        result.columns = f.columns.map((c) => ({
          name: c.name,
          rule: stricter(c.rule, argTaint.rule),
          typeOid: c.typeOid ?? null,
        }));
      for (const c of result.columns) ctx.reads = stricter(ctx.reads, c.rule);
      break;
    }
    default:
      break;
  }
  result.reads = stricter(result.reads, ctx.reads);
  if (ctx.writes.length > 0) result.writes = ctx.writes;
  if (record) session?.note(type, b, result, outputs, ctx);
  return result;
}

/** Parse trees by SQL text (agents repeat themselves); read-only, bounded. */
export const parseCache = new Map<string, readonly { stmt: JsonObject }[] | null>();
/**
 * Parse trees by numeric shape (policy/shape.ts), or false when a shape's texts must be parsed
 * one by one. Lineage never reads a numeric constant's value, so the tree of any text of a
 * verified shape gives the lineage of every text of that shape.
 */
export const shapeCache = new Map<string, readonly { stmt: JsonObject }[] | false>();
export const PARSE_CACHE_SIZE = 512;

export function bounded<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= PARSE_CACHE_SIZE) map.delete(map.keys().next().value as string);
  map.set(key, value);
}

export function parsed(sql: string): readonly { stmt: JsonObject }[] | null {
  let p = parseCache.get(sql);
  if (p !== undefined) return p;
  const shape = sql.length <= 64 * 1024 ? numericShape(sql) : null;
  const shared = shape ? shapeCache.get(shape.key) : undefined;
  if (shared) return shared;
  try {
    p = parseSql(sql);
  } catch {
    p = null;
  }
  if (sql.length <= 64 * 1024) bounded(parseCache, sql, p);
  if (shape && shared === undefined)
    bounded(shapeCache, shape.key, p !== null && shapeMatchesTree(shape, p as unknown as Json) ? p : false);
  return p;
}

/**
 * The lineage of every statement of a SQL text, in order. Statements the parser refuses give
 * an empty list (the guardrails block them). `session` (optional) tracks cursors, SQL-level
 * prepared statements and relations the session derived from masked data.
 */
export function statementLineages(
  sql: string,
  resolve: LineageResolver,
  session: LineageSession | null = null,
  record = true,
): StatementLineage[] {
  const stmts = parsed(sql);
  if (stmts === null) return [];
  return stmts.map((s) => {
    try {
      return analyseStatement(s.stmt, resolve, session, record);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      // Too deep for the analysis (the call stack ran out): nothing of it is known, fail closed.
      const r = resolve.anyRule?.() ?? null;
      const why = r && {
        target: 'server state',
        columns: [],
        rule: r,
        reason: `this statement is too deeply nested for the gateway to prove it copies no masked data; ${SERVER_STATE}`,
      };
      return {
        columns: [{ name: null, rule: r, star: true }],
        reads: r,
        copy: null,
        ddl: true,
        ...(why ? { writes: [why] } : {}),
      };
    }
  });
}

/**
 * Why the statements of a SQL text may not run: the first copies masked data into server state
 * (null = none does). Reads the session's cursors and prepared statements without changing them.
 */
export function writeRefusal(
  sql: string,
  resolve: LineageResolver,
  session: LineageSession | null,
): string | null {
  for (const st of statementLineages(sql, resolve, session, false)) {
    const w = st.writes?.[0];
    if (w) return w.reason;
  }
  return null;
}

/** The output lineage of the first statement of a SQL text (null when unknown). */
export function outputLineage(sql: string, resolve: LineageResolver): ColumnLineage[] | null {
  return statementLineages(sql, resolve)[0]?.columns ?? null;
}
