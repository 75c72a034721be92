// Column lineage on PostgreSQL's parse tree: for each output column of a statement, the
// strictest rule of any masked column its expression reads. Views and subqueries hide a value's
// origin from RowDescription (which names the view, or nothing), so the statement itself is
// analysed: aliases, `*` and `t.*`, subqueries, CTEs (recursive too), set operations, VALUES,
// joins (USING / NATURAL), LATERAL, functions in FROM, views (their definitions, recursively,
// depth-bounded), functions, casts, operators, CASE / COALESCE / NULLIF / GREATEST, aggregates,
// window functions, scalar and ARRAY subqueries, ROW(), whole-row references (`SELECT c FROM
// customers c`), and JSON builders (row_to_json(t), to_jsonb(t), json_agg, json_build_object ...),
// which mask only the keys holding masked values.
//
// Functions of the database are resolved through the catalog like views: the body of a LANGUAGE
// sql function (or its SQL-standard body) gives its output columns; a PL/pgSQL function's output
// is what its RETURN QUERY statements return, plus whatever any other statement of it computes
// (values reach RETURN / RETURN NEXT through variables); a body that cannot be analysed (another
// language, dynamic SQL) leaves its output to the detectors. Built-ins that dump relations named
// by their arguments (query_to_xml, table_to_xml, database_to_xml, ts_stat, ...) carry what those
// relations hold.
//
// Conservative by design: an expression that reads a masked column is masked (except count()
// and IS [NOT] NULL tests, which reveal no value); an unqualified name that a masked relation in
// scope has is taken to be that column; what cannot be resolved is unmasked here (the wire
// mapping and the value detectors still apply). Pure and synchronous (initPolicyEngine() first).

import { SQL_TEXT_ARGUMENT } from '../policy/functions.js';
import {
  isObj,
  type Json,
  type JsonObject,
  list,
  parsePlpgsql,
  parseSql,
  sval,
  wrapper,
} from '../policy/parser.js';
import { numericShape, shapeMatchesTree } from '../policy/shape.js';
import type { CopyOptions } from './copy.js';
import { defaultCopyOptions } from './copy.js';
import { DATA_DUMPING_BUILTINS } from './dumping.js';
import { TYPE_NAMES } from './pgtypes.js';
import type { ColumnLineage } from './plan.js';
import { type MaskRule, stricter } from './rules.js';

// ---------------------------------------------------------------------------------------------
// What the analysis needs to know about relations

export interface ResolvedColumn {
  name: string;
  /** The column's type (domains resolved to their base type) when known. */
  typeOid?: number | null;
  rule: MaskRule | null;
}

export type ResolvedRelation =
  /** A table (or anything with known columns in order). */
  | { kind: 'table'; columns: readonly ResolvedColumn[] }
  /** A view or materialized view: its definition (pg_get_viewdef), analysed in turn. */
  | { kind: 'view'; definition: string }
  /** Columns unknown; every column of it carries `rule` (null = none). */
  | { kind: 'opaque'; rule: MaskRule | null };

export interface LineageResolver {
  /**
   * A relation by schema (null = unqualified: any schema on the search path) and name. null =
   * unknown to the masking catalog: it has no masked columns.
   */
  relation(schema: string | null, name: string): ResolvedRelation | null;
  /**
   * A user function by schema (null = any) and name, every overload merged; null = unknown or
   * its body cannot be analysed (its output is left to the detectors).
   */
  function?(schema: string | null, name: string): ResolvedFunction | null;
  /** The strictest rule of any configured column (for built-ins that dump whole schemas). */
  anyRule?(): MaskRule | null;
}

/** What a function returns, from its body. */
export interface FunctionLineage {
  /** Output columns in order (one for a scalar function). */
  columns: readonly ResolvedColumn[];
  /** Returns rows of named columns (a composite, TABLE, several OUT parameters, record). */
  composite: boolean;
  /** The columns are not known one by one: `columns` holds one entry whose rule covers all. */
  unknownShape?: boolean;
}

export type ResolvedFunction = FunctionLineage;

/** The three-function form: masked columns, view definitions, table column lists. */
export interface SimpleResolver {
  masked(schema: string | null, table: string, column: string): MaskRule | null;
  viewDefinition(schema: string | null, name: string): string | null;
  tableColumns(schema: string | null, table: string): string[] | null;
}

/** Adapts the three-function form to a LineageResolver. */
export function lineageResolver(r: SimpleResolver): LineageResolver {
  return {
    relation(schema, name) {
      const def = r.viewDefinition(schema, name);
      if (def !== null) return { kind: 'view', definition: def };
      const cols = r.tableColumns(schema, name);
      if (cols === null) return null;
      return { kind: 'table', columns: cols.map((c) => ({ name: c, rule: r.masked(schema, name, c) })) };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Parse-tree helpers

function str(v: Json | undefined): string | null {
  return typeof v === 'string' ? v : null;
}

function names(v: Json | undefined): string[] {
  return list(v).map((x) => sval(x) ?? '');
}

/** A string constant ('a', 'a'::text). */
function constString(v: Json | undefined): string | null {
  const w = wrapper(v);
  if (!w) return null;
  if (w[0] === 'A_Const')
    return isObj(w[1].sval) && typeof w[1].sval.sval === 'string' ? w[1].sval.sval : null;
  if (w[0] === 'TypeCast') return constString(w[1].arg);
  return null;
}

// ---------------------------------------------------------------------------------------------
// Taints

interface RecordShape {
  names: readonly string[];
  rules: readonly (MaskRule | null)[];
  types: readonly (number | null)[];
  /** Nested JSON keys of fields that are themselves JSON. */
  json: readonly (ReadonlyMap<string, MaskRule> | null)[];
}

/** What an expression carries: the rule (strictest masked input), and structure when known. */
interface Taint {
  rule: MaskRule | null;
  json: ReadonlyMap<string, MaskRule> | null;
  record: RecordShape | null;
  typeOid: number | null;
}

const CLEAN: Taint = Object.freeze({ rule: null, json: null, record: null, typeOid: null });

function whole(...ts: Taint[]): Taint {
  let rule: MaskRule | null = null;
  for (const t of ts) rule = stricter(rule, t.rule);
  return rule === null ? CLEAN : { rule, json: null, record: null, typeOid: null };
}

function mergeMaps(
  a: ReadonlyMap<string, MaskRule> | null,
  b: ReadonlyMap<string, MaskRule> | null,
): Map<string, MaskRule> {
  const m = new Map(a ?? []);
  for (const [k, r] of b ?? []) m.set(k, stricter(m.get(k) ?? null, r) as MaskRule);
  return m;
}

/** The JSON key map a value contributes when placed inside a JSON document. */
function asJsonKeys(t: Taint): Map<string, MaskRule> | null {
  if (t.rule === null) return null;
  if (t.json) return new Map(t.json);
  if (t.record) {
    const m = new Map<string, MaskRule>();
    t.record.names.forEach((n, i) => {
      const r = t.record?.rules[i] ?? null;
      const nested = t.record?.json[i] ?? null;
      if (nested) for (const [k, v] of nested) m.set(k, stricter(m.get(k) ?? null, v) as MaskRule);
      else if (r) m.set(n, stricter(m.get(n) ?? null, r) as MaskRule);
    });
    return m;
  }
  return new Map([['*', t.rule]]);
}

/** Merge keeping JSON structure when every tainted input has it (CASE, COALESCE, casts). */
function structural(ts: Taint[]): Taint {
  const tainted = ts.filter((t) => t.rule !== null);
  if (tainted.length === 0) return ts.length === 1 ? ts[0] : CLEAN;
  if (tainted.every((t) => t.json !== null)) {
    let m: Map<string, MaskRule> | null = null;
    for (const t of tainted) m = mergeMaps(m, t.json);
    return { rule: whole(...tainted).rule, json: m, record: null, typeOid: null };
  }
  if (tainted.length === 1 && ts.length === 1) return tainted[0];
  return whole(...tainted);
}

function jsonOf(t: Taint): Taint {
  const keys = asJsonKeys(t);
  return keys === null ? CLEAN : { rule: t.rule, json: keys, record: null, typeOid: null };
}

// ---------------------------------------------------------------------------------------------
// Scopes

interface OutCol {
  name: string | null;
  taint: Taint;
  /** An unknown number of columns (each carrying taint.rule). */
  star?: boolean;
}

interface Rel {
  alias: string;
  /** Known columns in order, or null. */
  columns: OutCol[] | null;
  /** Rule of every column when the columns are unknown. */
  unknown: MaskRule | null;
}

interface FromResult {
  rels: Rel[];
  star: OutCol[];
}

interface Scope {
  rels: Rel[];
  parent: Scope | null;
}

interface CteScope {
  ctes: Map<string, OutCol[]>;
  parent: CteScope | null;
}

interface Ctx {
  resolve: LineageResolver;
  depth: number;
  /** Views being expanded (cycle guard). */
  views: Set<string>;
  reads: MaskRule | null;
  session: LineageSession | null;
}

const MAX_VIEW_DEPTH = 8;
const MAX_EXPR_DEPTH = 200;

function relColumnsFromOut(cols: OutCol[]): { columns: OutCol[] | null; unknown: MaskRule | null } {
  if (cols.some((c) => c.star)) {
    let u: MaskRule | null = null;
    for (const c of cols) u = stricter(u, c.taint.rule);
    return { columns: null, unknown: u };
  }
  return { columns: cols, unknown: null };
}

function renameCols(cols: OutCol[], alias: JsonObject | null): OutCol[] {
  const colnames = alias ? names(alias.colnames) : [];
  if (colnames.length === 0) return cols;
  return cols.map((c, i) => (i < colnames.length && !c.star ? { ...c, name: colnames[i] } : c));
}

function wholeRow(rel: Rel): Taint {
  if (rel.columns === null)
    return rel.unknown ? { rule: rel.unknown, json: null, record: null, typeOid: null } : CLEAN;
  let rule: MaskRule | null = null;
  for (const c of rel.columns) rule = stricter(rule, c.taint.rule);
  if (rule === null) return CLEAN;
  return {
    rule,
    json: null,
    record: {
      names: rel.columns.map((c) => c.name ?? ''),
      rules: rel.columns.map((c) => c.taint.rule),
      types: rel.columns.map((c) => c.taint.typeOid),
      json: rel.columns.map((c) => (c.taint.rule ? (c.taint.json ?? null) : null)),
    },
    typeOid: null,
  };
}

/** Columns every table has and no rule names. */
const SYSTEM_COLUMNS = new Set(['ctid', 'xmin', 'xmax', 'cmin', 'cmax', 'tableoid', 'oid']);

/**
 * A column the catalog does not list in any relation in scope: the server would refuse it unless
 * the catalog is behind (a rename in the same Query message or in an open transaction, which the
 * catalog's own connection cannot see yet): it may be any column of those relations (catalog
 * part of issue 18; fail closed).
 */
function missingColumn(scope: Scope | null): Taint {
  const ts: Taint[] = [];
  for (let s = scope; s; s = s.parent) for (const r of s.rels) ts.push(wholeRow(r));
  return whole(...ts);
}

function findRel(scope: Scope | null, name: string): Rel | null {
  for (let s = scope; s; s = s.parent) {
    for (let i = s.rels.length - 1; i >= 0; i--) if (s.rels[i].alias === name) return s.rels[i];
  }
  return null;
}

function resolveColumn(fields: Json[], scope: Scope | null, ctx: Ctx): Taint {
  const parts = fields.map((f) => sval(f));
  const star = wrapper(fields[fields.length - 1])?.[0] === 'A_Star';
  let t: Taint = CLEAN;
  if (star) {
    if (parts.length === 1) {
      // `*` in an expression: every relation in the innermost scope.
      const ts = (scope?.rels ?? []).map(wholeRow);
      t = whole(...ts);
    } else {
      const rel = findRel(scope, parts[parts.length - 2] ?? '');
      t = rel ? wholeRow(rel) : CLEAN;
    }
  } else if (parts.length === 1) {
    const col = parts[0] ?? '';
    t = CLEAN;
    let found = false;
    for (let s = scope; s; s = s.parent) {
      const hits: Taint[] = [];
      let unknown = false;
      let unknownRule: MaskRule | null = null;
      for (const r of s.rels) {
        if (r.columns === null) {
          unknown = true;
          unknownRule = stricter(unknownRule, r.unknown);
          continue;
        }
        for (const c of r.columns) if (c.name === col) hits.push(c.taint);
      }
      if (hits.length > 0) {
        t = hits.length === 1 ? hits[0] : whole(...hits);
        found = true;
        break;
      }
      const rel = s.rels.find((r) => r.alias === col);
      if (rel) {
        t = wholeRow(rel);
        found = true;
        break;
      }
      if (unknown) {
        t = unknownRule ? { rule: unknownRule, json: null, record: null, typeOid: null } : CLEAN;
        found = true;
        break;
      }
    }
    if (!found && !SYSTEM_COLUMNS.has(col)) t = missingColumn(scope);
  } else {
    const relName = parts[parts.length - 2] ?? '';
    const col = parts[parts.length - 1] ?? '';
    const rel = findRel(scope, relName);
    if (rel) {
      if (rel.columns === null)
        t = rel.unknown ? { rule: rel.unknown, json: null, record: null, typeOid: null } : CLEAN;
      else {
        const c = rel.columns.find((x) => x.name === col);
        t = c ? c.taint : SYSTEM_COLUMNS.has(col) ? CLEAN : whole(wholeRow(rel));
      }
    }
  }
  ctx.reads = stricter(ctx.reads, t.rule);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Expressions

const JSON_FROM_VALUE = new Set([
  'row_to_json',
  'to_json',
  'to_jsonb',
  'json_agg',
  'jsonb_agg',
  'array_to_json',
  'json_strip_nulls',
  'jsonb_strip_nulls',
  'jsonb_pretty',
  'json_agg_strict',
  'jsonb_agg_strict',
]);
const JSON_BUILD_OBJECT = new Set(['json_build_object', 'jsonb_build_object']);
const JSON_BUILD_ARRAY = new Set(['json_build_array', 'jsonb_build_array']);
const JSON_OBJECT_AGG = new Set([
  'json_object_agg',
  'jsonb_object_agg',
  'json_object_agg_strict',
  'jsonb_object_agg_strict',
]);
/** Functions that reveal nothing about their argument's value. */
const VALUE_FREE = new Set(['count']);
const JSON_FIELD_OPS = new Set(['->', '->>', '#>', '#>>']);

function exprList(v: Json | undefined, scope: Scope | null, ctx: Ctx, d: number): Taint[] {
  return list(v).map((x) => expr(x, scope, ctx, d + 1));
}

function expr(node: Json | undefined, scope: Scope | null, ctx: Ctx, d = 0): Taint {
  if (node === null || node === undefined || d > MAX_EXPR_DEPTH) return CLEAN;
  if (Array.isArray(node)) return whole(...node.map((x) => expr(x, scope, ctx, d + 1)));
  const w = wrapper(node);
  if (!w) return CLEAN;
  const [type, b] = w;
  switch (type) {
    case 'ColumnRef':
      return resolveColumn(list(b.fields), scope, ctx);
    case 'A_Const':
    case 'ParamRef':
    case 'SQLValueFunction':
    case 'SetToDefault':
    case 'GroupingFunc':
      return CLEAN;
    case 'TypeCast': {
      const t = expr(b.arg, scope, ctx, d + 1);
      if (t.rule === null) return t;
      const tn = isObj(b.typeName) ? names(b.typeName.names) : [];
      const isArray = isObj(b.typeName) && list(b.typeName.arrayBounds).length > 0;
      const oid = isArray ? null : (TYPE_NAMES.get(tn[tn.length - 1] ?? '') ?? null);
      return { ...t, typeOid: oid };
    }
    case 'CollateClause':
      return expr(b.arg, scope, ctx, d + 1);
    case 'FuncCall':
      return funcCall(b, scope, ctx, d);
    case 'A_Expr': {
      const op = names(b.name).pop() ?? '';
      const l = expr(b.lexpr, scope, ctx, d + 1);
      const r = expr(b.rexpr, scope, ctx, d + 1);
      if (b.kind === 'AEXPR_OP' && JSON_FIELD_OPS.has(op) && l.json) {
        if (r.rule !== null) return whole(l, r);
        const key = constString(b.rexpr);
        const star = l.json.get('*');
        if (star)
          return {
            rule: star,
            json: op.endsWith('>>') ? null : new Map([['*', star]]),
            record: null,
            typeOid: null,
          };
        if (key !== null && l.json.has(key)) {
          const kr = l.json.get(key) as MaskRule;
          return {
            rule: kr,
            json: op.endsWith('>>') ? null : new Map([['*', kr]]),
            record: null,
            typeOid: null,
          };
        }
        // Another key: masked keys may still sit deeper inside it.
        return { rule: l.rule, json: l.json, record: null, typeOid: null };
      }
      if (b.kind === 'AEXPR_NULLIF') return structural([l]);
      return whole(l, r);
    }
    case 'BoolExpr':
      return whole(...exprList(b.args, scope, ctx, d));
    case 'NullTest':
    case 'BooleanTest':
      expr(b.arg, scope, ctx, d + 1);
      return CLEAN;
    case 'CaseExpr': {
      const conds: Taint[] = [expr(b.arg, scope, ctx, d + 1)];
      const results: Taint[] = [];
      for (const cw of list(b.args)) {
        const c = wrapper(cw);
        if (!c) continue;
        conds.push(expr(c[1].expr, scope, ctx, d + 1));
        results.push(expr(c[1].result, scope, ctx, d + 1));
      }
      results.push(expr(b.defresult, scope, ctx, d + 1));
      const res = structural(results);
      const cond = whole(...conds);
      return cond.rule === null ? res : whole(res, cond);
    }
    case 'CoalesceExpr':
    case 'MinMaxExpr':
      return structural(exprList(b.args, scope, ctx, d));
    case 'SubLink': {
      const kind = str(b.subLinkType);
      const cols = query(b.subselect, scope, ctx, null);
      const first = cols.find((c) => !c.star) ?? cols[0];
      const t = first ? first.taint : CLEAN;
      if (kind === 'EXISTS_SUBLINK') return CLEAN;
      if (kind === 'EXPR_SUBLINK') return t;
      if (kind === 'ARRAY_SUBLINK') return whole(t);
      return whole(t, expr(b.testexpr, scope, ctx, d + 1));
    }
    case 'RowExpr': {
      const ts = exprList(b.args, scope, ctx, d);
      const rule = whole(...ts).rule;
      if (rule === null) return CLEAN;
      const colnames = names(b.colnames);
      return {
        rule,
        json: null,
        record: {
          names: ts.map((_, i) => colnames[i] ?? `f${i + 1}`),
          rules: ts.map((t) => t.rule),
          types: ts.map((t) => t.typeOid),
          json: ts.map((t) => t.json),
        },
        typeOid: null,
      };
    }
    case 'A_ArrayExpr':
      return whole(...exprList(b.elements, scope, ctx, d));
    case 'A_Indirection': {
      const t = expr(b.arg, scope, ctx, d + 1);
      const ind = list(b.indirection);
      for (const x of ind) {
        const iw = wrapper(x);
        if (iw?.[0] === 'A_Indices')
          whole(expr(iw[1].lidx, scope, ctx, d + 1), expr(iw[1].uidx, scope, ctx, d + 1));
      }
      const field = ind.length === 1 ? sval(ind[0]) : null;
      if (field !== null && t.record) {
        const i = t.record.names.indexOf(field);
        if (i >= 0) {
          const r = t.record.rules[i];
          return r === null
            ? CLEAN
            : { rule: r, json: t.record.json[i], record: null, typeOid: t.record.types[i] };
        }
      }
      return whole(t);
    }
    case 'SelectStmt': {
      const cols = query(node, scope, ctx, null);
      return whole(...cols.map((c) => c.taint));
    }
    default: {
      // Anything else (XML, SQL/JSON constructors, ...): whatever it reads, whole.
      const ts: Taint[] = [];
      for (const v of Object.values(b)) {
        if (isObj(v) || Array.isArray(v)) ts.push(expr(v as Json, scope, ctx, d + 1));
      }
      const t = whole(...ts);
      return type.startsWith('Json') && t.rule ? { ...t, json: new Map([['*', t.rule]]) } : t;
    }
  }
}

function funcCall(b: JsonObject, scope: Scope | null, ctx: Ctx, d: number): Taint {
  const qualified = names(b.funcname);
  const fn = (qualified[qualified.length - 1] ?? '').toLowerCase();
  const schema = qualified.length > 1 ? qualified[qualified.length - 2] : null;
  const args = list(b.args);
  // FILTER, ORDER BY inside the call and OVER read but do not output.
  expr(b.agg_filter, scope, ctx, d + 1);
  for (const s of list(b.agg_order)) {
    const sw = wrapper(s);
    if (sw) expr(sw[1].node, scope, ctx, d + 1);
  }
  if ((schema === null || schema === 'pg_catalog') && DUMPING.has(fn)) {
    const t = whole(...exprList(args, scope, ctx, d), dumped(fn, args, ctx));
    ctx.reads = stricter(ctx.reads, t.rule);
    return t;
  }
  const userFn = schema === 'pg_catalog' ? null : (ctx.resolve.function?.(schema, fn) ?? null);
  if (userFn) {
    const t = functionTaint(userFn, whole(...exprList(args, scope, ctx, d)));
    ctx.reads = stricter(ctx.reads, t.rule);
    return t;
  }
  if (VALUE_FREE.has(fn)) {
    exprList(args, scope, ctx, d);
    return CLEAN;
  }
  if (JSON_FROM_VALUE.has(fn)) {
    const ts = exprList(args, scope, ctx, d);
    return ts.length > 0 ? jsonOf(ts[0]) : CLEAN;
  }
  if (JSON_BUILD_OBJECT.has(fn)) {
    const m = new Map<string, MaskRule>();
    let rule: MaskRule | null = null;
    let broken = false;
    for (let i = 0; i < args.length; i += 2) {
      const kt = expr(args[i], scope, ctx, d + 1);
      const vt = i + 1 < args.length ? expr(args[i + 1], scope, ctx, d + 1) : CLEAN;
      if (kt.rule !== null) broken = true;
      rule = stricter(rule, stricter(kt.rule, vt.rule));
      if (vt.rule === null) continue;
      const key = constString(args[i]);
      const nested = vt.json ?? (vt.record ? asJsonKeys(vt) : null);
      if (nested) for (const [k, r] of nested) m.set(k, stricter(m.get(k) ?? null, r) as MaskRule);
      if (key === null) m.set('*', stricter(m.get('*') ?? null, vt.rule) as MaskRule);
      else if (!nested) m.set(key, stricter(m.get(key) ?? null, vt.rule) as MaskRule);
    }
    if (rule === null) return CLEAN;
    return broken ? whole({ ...CLEAN, rule }) : { rule, json: m, record: null, typeOid: null };
  }
  if (JSON_BUILD_ARRAY.has(fn)) {
    const ts = exprList(args, scope, ctx, d);
    let m: Map<string, MaskRule> | null = null;
    for (const t of ts) if (t.rule) m = mergeMaps(m, asJsonKeys(t));
    const rule = whole(...ts).rule;
    return rule === null ? CLEAN : { rule, json: m, record: null, typeOid: null };
  }
  if (JSON_OBJECT_AGG.has(fn)) {
    const [k, v] = [expr(args[0], scope, ctx, d + 1), expr(args[1], scope, ctx, d + 1)];
    if (k.rule !== null) return whole(k, v);
    if (v.rule === null) return CLEAN;
    return { rule: v.rule, json: mergeMaps(null, asJsonKeys(v)), record: null, typeOid: null };
  }
  const ts = exprList(args, scope, ctx, d);
  if (isObj(b.over)) {
    const ow = b.over;
    exprList(ow.partitionClause, scope, ctx, d);
    for (const s of list(ow.orderClause)) {
      const sw = wrapper(s);
      if (sw) expr(sw[1].node, scope, ctx, d + 1);
    }
  }
  return whole(...ts);
}

/** Built-ins whose output holds the rows of relations named by their arguments. */
const DUMPING = new Set([...SQL_TEXT_ARGUMENT.keys(), ...DATA_DUMPING_BUILTINS]);

/** What a data-dumping built-in's output carries: what it reads, or every rule when unknown. */
function dumped(fn: string, args: Json[], ctx: Ctx): Taint {
  const everything = (): Taint => {
    const r = ctx.resolve.anyRule?.() ?? null;
    return r ? { ...CLEAN, rule: r } : CLEAN;
  };
  const sqlArg = SQL_TEXT_ARGUMENT.get(fn);
  if (sqlArg) {
    const at = sqlArg(args.length);
    if (at === null) return CLEAN;
    const sql = constString(args[at]);
    if (sql === null) return everything();
    let rule: MaskRule | null = null;
    for (const st of statementLineages(sql, ctx.resolve, ctx.session)) {
      if (st.columns === null) rule = stricter(rule, st.reads);
      else for (const c of st.columns) rule = stricter(rule, c.rule);
    }
    return rule ? { ...CLEAN, rule } : CLEAN;
  }
  if (fn === 'table_to_xml' || fn === 'table_to_xml_and_xmlschema') {
    const name = constString(args[0]);
    const parts = name === null ? null : name.split('.').map((x) => x.replace(/^"|"$/g, ''));
    if (parts === null || parts.length > 2) return everything();
    const rv = { relname: parts[parts.length - 1], schemaname: parts.length === 2 ? parts[0] : undefined };
    return whole(wholeRow(relationRel(rv as JsonObject, null, ctx, null)));
  }
  if (fn === 'cursor_to_xml') {
    const name = constString(args[0]);
    const cols = name === null ? undefined : ctx.session?.cursors.get(name);
    if (!cols) return everything();
    let rule: MaskRule | null = null;
    for (const c of cols) rule = stricter(rule, c.rule);
    return rule ? { ...CLEAN, rule } : CLEAN;
  }
  return everything();
}

/** The taint of a call of a resolved function (its arguments' taint flows into its output). */
function functionTaint(f: ResolvedFunction, args: Taint): Taint {
  if (f.composite && !f.unknownShape) {
    const rules = f.columns.map((c) => stricter(c.rule, args.rule));
    let rule: MaskRule | null = null;
    for (const r of rules) rule = stricter(rule, r);
    if (rule === null) return CLEAN;
    return {
      rule,
      json: null,
      record: {
        names: f.columns.map((c) => c.name),
        rules,
        types: f.columns.map((c) => c.typeOid ?? null),
        json: f.columns.map(() => null),
      },
      typeOid: null,
    };
  }
  let rule = args.rule;
  for (const c of f.columns) rule = stricter(rule, c.rule);
  if (rule === null) return CLEAN;
  return { rule, json: null, record: null, typeOid: f.unknownShape ? null : (f.columns[0]?.typeOid ?? null) };
}

// ---------------------------------------------------------------------------------------------
// Queries

function outName(rt: JsonObject): string | null {
  if (typeof rt.name === 'string') return rt.name;
  let v = rt.val;
  for (let i = 0; i < 8; i++) {
    const w = wrapper(v);
    if (!w) return null;
    const [t, b] = w;
    if (t === 'ColumnRef') {
      const f = list(b.fields);
      return sval(f[f.length - 1]);
    }
    if (t === 'FuncCall') return names(b.funcname).pop() ?? null;
    if (t === 'TypeCast') {
      const inner = wrapper(b.arg);
      if (inner && (inner[0] === 'ColumnRef' || inner[0] === 'FuncCall' || inner[0] === 'TypeCast')) {
        v = b.arg;
        continue;
      }
      const tn = isObj(b.typeName) ? names(b.typeName.names) : [];
      return tn[tn.length - 1] ?? null;
    }
    if (t === 'CaseExpr') return 'case';
    if (t === 'CoalesceExpr') return 'coalesce';
    if (t === 'A_Indirection') {
      const ind = list(b.indirection);
      const last = sval(ind[ind.length - 1]);
      if (last !== null) return last;
      v = b.arg;
      continue;
    }
    if (t === 'SubLink' && b.subLinkType === 'ARRAY_SUBLINK') return 'array';
    if (t === 'SubLink' && b.subLinkType === 'EXISTS_SUBLINK') return 'exists';
    return null;
  }
  return null;
}

function lookupCte(ctes: CteScope | null, name: string): OutCol[] | null {
  for (let c = ctes; c; c = c.parent) {
    const v = c.ctes.get(name);
    if (v) return v;
  }
  return null;
}

/** Columns of a view: its definition's lineage, cached per resolver. */
const viewCache = new WeakMap<LineageResolver, Map<string, OutCol[] | null>>();

function viewColumns(key: string, def: string | JsonObject, ctx: Ctx): OutCol[] | null {
  let cache = viewCache.get(ctx.resolve);
  if (cache === undefined) {
    cache = new Map();
    viewCache.set(ctx.resolve, cache);
  }
  const memo = typeof def === 'string' && ctx.session === null;
  if (memo && cache.has(key)) return cache.get(key) ?? null;
  if (ctx.views.has(key) || ctx.views.size >= MAX_VIEW_DEPTH) return null;
  ctx.views.add(key);
  let cols: OutCol[] | null = null;
  try {
    const node = typeof def === 'string' ? (parseSql(def)[0]?.stmt ?? null) : def;
    if (node) {
      const inner: Ctx = { ...ctx, reads: null };
      cols = query(node, null, inner, null);
    }
  } catch {
    cols = null;
  } finally {
    ctx.views.delete(key);
  }
  if (memo) cache.set(key, cols);
  return cols;
}

function relationRel(rv: JsonObject, scope: Scope | null, ctx: Ctx, ctes: CteScope | null): Rel {
  const schema = str(rv.schemaname);
  const name = str(rv.relname) ?? '';
  const alias = isObj(rv.alias) ? rv.alias : null;
  const aliasName = (alias && str(alias.aliasname)) ?? name;
  let cols: OutCol[] | null = null;
  let unknown: MaskRule | null = null;
  const cte = schema === null ? lookupCte(ctes, name) : null;
  if (cte) cols = cte;
  else {
    const r = (ctx.session?.relation(schema, name, ctx.resolve) ?? ctx.resolve.relation(schema, name)) as
      | ResolvedRelation
      | LocalView
      | null;
    if (r === null) cols = null;
    else if (r.kind === 'table')
      cols = r.columns.map((c) => ({
        name: c.name,
        taint: c.rule
          ? { rule: c.rule, json: null, record: null, typeOid: c.typeOid ?? null }
          : { ...CLEAN, typeOid: c.typeOid ?? null },
      }));
    else if (r.kind === 'opaque') unknown = r.rule;
    else {
      const key = `${schema ?? ''}.${name}`;
      const vc = viewColumns(key, r.kind === 'view' ? r.definition : r.query, ctx);
      if (vc) {
        const named =
          r.kind === 'local-view'
            ? renameCols(vc, { colnames: r.aliases.map((a) => ({ String: { sval: a } })) })
            : vc;
        const rc = relColumnsFromOut(named);
        cols = rc.columns;
        unknown = rc.unknown;
      }
    }
  }
  if (cols) cols = renameCols(cols, alias);
  void scope;
  return { alias: aliasName, columns: cols, unknown };
}

function starOf(rel: Rel): OutCol[] {
  if (rel.columns) return rel.columns;
  return [{ name: null, taint: rel.unknown ? { ...CLEAN, rule: rel.unknown } : CLEAN, star: true }];
}

function fromItem(node: Json, scope: Scope, ctx: Ctx, ctes: CteScope | null): FromResult {
  const w = wrapper(node);
  if (!w) return { rels: [], star: [] };
  const [type, b] = w;
  switch (type) {
    case 'RangeVar': {
      const rel = relationRel(b, scope, ctx, ctes);
      return { rels: [rel], star: starOf(rel) };
    }
    case 'RangeSubselect': {
      const alias = isObj(b.alias) ? b.alias : null;
      const cols = renameCols(query(b.subquery, b.lateral ? scope : scope.parent, ctx, ctes), alias);
      const rc = relColumnsFromOut(cols);
      const rel: Rel = {
        alias: (alias && str(alias.aliasname)) ?? '',
        columns: rc.columns,
        unknown: rc.unknown,
      };
      return { rels: [rel], star: cols };
    }
    case 'RangeFunction': {
      const own = rangeFunctionColumns(b, scope, ctx);
      if (own) return own;
      let t: Taint = CLEAN;
      const coldefs: string[] = [];
      for (const f of list(b.functions)) {
        const items = list(f);
        t = whole(t, expr(items[0], scope, ctx));
        for (const cd of list(items[1])) {
          const cw = wrapper(cd);
          if (cw && typeof cw[1].colname === 'string') coldefs.push(cw[1].colname);
        }
      }
      for (const cd of list(b.coldeflist)) {
        const cw = wrapper(cd);
        if (cw && typeof cw[1].colname === 'string') coldefs.push(cw[1].colname);
      }
      const alias = isObj(b.alias) ? b.alias : null;
      const colnames = alias ? names(alias.colnames) : [];
      const known = colnames.length > 0 ? colnames : coldefs;
      const aliasName =
        (alias && str(alias.aliasname)) ??
        names(wrapper(list(list(b.functions)[0])[0])?.[1].funcname).pop() ??
        '';
      const rel: Rel =
        known.length > 0
          ? { alias: aliasName, columns: known.map((n) => ({ name: n, taint: whole(t) })), unknown: null }
          : { alias: aliasName, columns: null, unknown: t.rule };
      return { rels: [rel], star: starOf(rel) };
    }
    case 'RangeTableSample':
      return fromItem(b.relation, scope, ctx, ctes);
    case 'JoinExpr': {
      const l = fromItem(b.larg, scope, ctx, ctes);
      // Later items see earlier ones (LATERAL); the join's condition sees both.
      const inner: Scope = { rels: [...scope.rels, ...l.rels], parent: scope.parent };
      const r = fromItem(b.rarg, inner, ctx, ctes);
      const both: Scope = { rels: [...scope.rels, ...l.rels, ...r.rels], parent: scope.parent };
      expr(b.quals, both, ctx);
      let using = names(b.usingClause);
      const knownL = l.star.every((c) => !c.star);
      const knownR = r.star.every((c) => !c.star);
      if (b.isNatural && knownL && knownR) {
        const rn = new Set(r.star.map((c) => c.name));
        using = l.star.map((c) => c.name ?? '').filter((n) => rn.has(n));
      }
      let star: OutCol[];
      if (using.length > 0 && knownL) {
        // USING / NATURAL columns come first, once, then the rest of each side.
        const u = new Set(using);
        const merged = using.map((n) => {
          const a = l.star.find((c) => c.name === n);
          const c = knownR ? r.star.find((x) => x.name === n) : undefined;
          return { name: n, taint: whole(a?.taint ?? CLEAN, c?.taint ?? CLEAN) };
        });
        const right = knownR ? r.star.filter((c) => !u.has(c.name ?? '')) : r.star;
        star = [...merged, ...l.star.filter((c) => !u.has(c.name ?? '')), ...right];
      } else star = [...l.star, ...r.star];
      const alias = isObj(b.alias) ? b.alias : null;
      if (alias) {
        const cols = renameCols(star, alias);
        const rc = relColumnsFromOut(cols);
        return {
          rels: [{ alias: str(alias.aliasname) ?? '', columns: rc.columns, unknown: rc.unknown }],
          star: cols,
        };
      }
      return { rels: [...l.rels, ...r.rels], star };
    }
    default: {
      // XMLTABLE, JSON_TABLE, ...: columns unknown, tainted by what they read.
      const t = expr(node, scope, ctx);
      const alias = isObj(b.alias) ? b.alias : null;
      const rel: Rel = { alias: (alias && str(alias.aliasname)) ?? '', columns: null, unknown: t.rule };
      return { rels: [rel], star: starOf(rel) };
    }
  }
}

/**
 * A single function in FROM whose output columns the catalog knows (a user function): its columns
 * one by one, named by the alias or column definitions. null = handled the generic way.
 */
function rangeFunctionColumns(b: JsonObject, scope: Scope, ctx: Ctx): FromResult | null {
  const fns = list(b.functions);
  if (fns.length !== 1 || !ctx.resolve.function) return null;
  const items = list(fns[0]);
  const fw = wrapper(items[0]);
  if (fw?.[0] !== 'FuncCall') return null;
  const qualified = names(fw[1].funcname);
  const fn = qualified[qualified.length - 1] ?? '';
  const schema = qualified.length > 1 ? qualified[qualified.length - 2] : null;
  if (schema === 'pg_catalog') return null;
  const f = ctx.resolve.function(schema, fn);
  if (!f || f.unknownShape) return null;
  const call = expr(items[0], scope, ctx);
  const argTaint = whole(...list(fw[1].args).map((a) => expr(a, scope, ctx)));
  const alias = isObj(b.alias) ? b.alias : null;
  const aliasName = (alias && str(alias.aliasname)) ?? fn;
  const coldefs: string[] = [];
  for (const cd of [...list(items[1]), ...list(b.coldeflist)]) {
    const cw = wrapper(cd);
    if (cw && typeof cw[1].colname === 'string') coldefs.push(cw[1].colname);
  }
  let cols: OutCol[];
  if (f.composite)
    cols = f.columns.map((c, i) => ({
      name: coldefs[i] ?? c.name,
      taint: c.rule || argTaint.rule ? whole({ ...CLEAN, rule: c.rule }, argTaint) : CLEAN,
    }));
  // A scalar function in FROM: one column, named after the function (or the alias).
  else cols = [{ name: coldefs[0] ?? aliasName, taint: call.rule ? { ...call, record: null } : CLEAN }];
  if (b.ordinality === true) cols.push({ name: 'ordinality', taint: CLEAN });
  cols = renameCols(cols, alias);
  return { rels: [{ alias: aliasName, columns: cols, unknown: null }], star: cols };
}

function withCtes(
  withClause: Json | undefined,
  scope: Scope | null,
  ctx: Ctx,
  ctes: CteScope | null,
): CteScope | null {
  if (!isObj(withClause)) return ctes;
  const layer: CteScope = { ctes: new Map(), parent: ctes };
  const recursive = withClause.recursive === true;
  for (const c of list(withClause.ctes)) {
    const cw = wrapper(c);
    if (!cw) continue;
    const name = str(cw[1].ctename) ?? '';
    const aliases = names(cw[1].aliascolnames);
    const alias = aliases.length ? { colnames: aliases.map((a) => ({ String: { sval: a } })) } : null;
    const analyse = () => renameCols(query(cw[1].ctequery, scope, ctx, layer), alias as JsonObject | null);
    if (recursive) {
      layer.ctes.set(name, []);
      let cols = analyse();
      // The recursive part reads its own output: iterate to a fixed point (rules only grow).
      for (let i = 0; i < 4; i++) {
        layer.ctes.set(name, cols);
        const next = analyse();
        const same = next.length === cols.length && next.every((c, j) => c.taint.rule === cols[j].taint.rule);
        cols = next.map((c, j) => ({
          ...c,
          taint: j < cols.length ? whole(c.taint, cols[j].taint) : c.taint,
        }));
        if (same) break;
      }
      layer.ctes.set(name, cols);
    } else layer.ctes.set(name, analyse());
  }
  return layer;
}

function setOpMerge(a: OutCol[], b: OutCol[]): OutCol[] {
  if (a.length === b.length && !a.some((c) => c.star) && !b.some((c) => c.star)) {
    return a.map((c, i) => ({ name: c.name, taint: structural([c.taint, b[i].taint]) }));
  }
  // Shapes differ (unknown stars): every column carries the strictest of the other side.
  const other = whole(...b.map((c) => c.taint));
  return a.map((c) => ({ ...c, taint: other.rule ? whole(c.taint, other) : c.taint }));
}

/** Output columns of a query (SelectStmt, or a DML statement's RETURNING). */
function query(node: Json | undefined, parent: Scope | null, ctx: Ctx, ctes: CteScope | null): OutCol[] {
  const w = wrapper(node);
  let b: JsonObject;
  let type: string;
  if (w) [type, b] = w;
  else if (isObj(node) && ('targetList' in node || 'op' in node || 'valuesLists' in node)) {
    type = 'SelectStmt';
    b = node;
  } else return [];
  if (type === 'InsertStmt' || type === 'UpdateStmt' || type === 'DeleteStmt' || type === 'MergeStmt')
    return dml(type, b, parent, ctx, ctes);
  if (type !== 'SelectStmt') return [];
  const cs = withCtes(b.withClause, parent, ctx, ctes);
  const op = str(b.op);
  if (op && op !== 'SETOP_NONE') {
    const l = query(b.larg, parent, ctx, cs);
    const r = query(b.rarg, parent, ctx, cs);
    return setOpMerge(l, r);
  }
  const values = list(b.valuesLists);
  if (values.length > 0) {
    let cols: OutCol[] = [];
    for (const row of values) {
      const ts = list(row).map((x) => expr(x, parent, ctx));
      cols = ts.map((t, i) => ({ name: `column${i + 1}`, taint: cols[i] ? whole(cols[i].taint, t) : t }));
    }
    return cols;
  }
  const scope: Scope = { rels: [], parent };
  const star: OutCol[][] = [];
  for (const f of list(b.fromClause)) {
    const r = fromItem(f, scope, ctx, cs);
    scope.rels.push(...r.rels);
    star.push(r.star);
  }
  const out: OutCol[] = [];
  for (const t of list(b.targetList)) {
    const tw = wrapper(t);
    if (!tw) continue;
    const rt = tw[1];
    const cr = wrapper(rt.val);
    if (cr && cr[0] === 'ColumnRef') {
      const fields = list(cr[1].fields);
      if (wrapper(fields[fields.length - 1])?.[0] === 'A_Star') {
        let cols: OutCol[];
        if (fields.length === 1) cols = star.flat();
        else {
          const rel = findRel(scope, sval(fields[fields.length - 2]) ?? '');
          cols = rel ? starOf(rel) : [{ name: null, taint: CLEAN, star: true }];
        }
        for (const c of cols) ctx.reads = stricter(ctx.reads, c.taint.rule);
        out.push(...cols);
        continue;
      }
    }
    out.push({ name: outName(rt), taint: expr(rt.val, scope, ctx) });
  }
  // What filters, groups and sorts reads (for error echoes), not output.
  expr(b.whereClause, scope, ctx);
  expr(b.havingClause, scope, ctx);
  for (const g of list(b.groupClause)) expr(g, scope, ctx);
  for (const s of list(b.sortClause)) {
    const sw = wrapper(s);
    if (sw) expr(sw[1].node, scope, ctx);
  }
  for (const dcl of list(b.distinctClause)) if (wrapper(dcl)) expr(dcl, scope, ctx);
  return out;
}

function returningList(b: JsonObject): Json[] {
  if (isObj(b.returningClause)) return list(b.returningClause.exprs);
  return list(b.returningList);
}

function dml(type: string, b: JsonObject, parent: Scope | null, ctx: Ctx, ctes: CteScope | null): OutCol[] {
  const cs = withCtes(b.withClause, parent, ctx, ctes);
  const scope: Scope = { rels: [], parent };
  if (isObj(b.relation)) scope.rels.push(relationRel(b.relation, scope, ctx, cs));
  for (const f of [...list(b.fromClause), ...list(b.usingClause)])
    scope.rels.push(...fromItem(f, scope, ctx, cs).rels);
  if (type === 'MergeStmt' && b.sourceRelation)
    scope.rels.push(...fromItem(b.sourceRelation, scope, ctx, cs).rels);
  expr(b.whereClause, scope, ctx);
  const out: OutCol[] = [];
  for (const t of returningList(b)) {
    const tw = wrapper(t);
    if (!tw) continue;
    const rt = tw[1];
    const cr = wrapper(rt.val);
    if (cr && cr[0] === 'ColumnRef') {
      const fields = list(cr[1].fields);
      if (wrapper(fields[fields.length - 1])?.[0] === 'A_Star') {
        const rels =
          fields.length === 1
            ? scope.rels.slice(0, 1)
            : [findRel(scope, sval(fields[fields.length - 2]) ?? '')];
        for (const rel of rels) {
          const cols = rel ? starOf(rel) : [{ name: null, taint: CLEAN, star: true }];
          for (const c of cols) ctx.reads = stricter(ctx.reads, c.taint.rule);
          out.push(...cols);
        }
        continue;
      }
    }
    out.push({ name: outName(rt), taint: expr(rt.val, scope, ctx) });
  }
  return out;
}

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
}

const DDL_TYPES = /^(Create|Alter|Drop|Rename|Define|CompositeType|View|Rule|Do|Comment)/;

function toLineage(cols: OutCol[]): ColumnLineage[] {
  return cols.map((c) => ({
    name: c.name,
    rule: c.taint.rule,
    json: c.taint.json,
    record: c.taint.record ? { rules: c.taint.record.rules, types: c.taint.record.types } : null,
    typeOid: c.taint.typeOid,
    star: c.star === true,
  }));
}

function defElems(v: Json | undefined): Map<string, Json | undefined> {
  const m = new Map<string, Json | undefined>();
  for (const item of list(v)) {
    const w = wrapper(item);
    if (w && w[0] === 'DefElem' && typeof w[1].defname === 'string') m.set(w[1].defname, w[1].arg);
  }
  return m;
}

function defString(v: Json | undefined): string | null {
  const s = sval(v);
  if (s !== null) return s;
  const w = wrapper(v);
  if (w && w[0] === 'Boolean') return w[1].boolval === true ? 'true' : 'false';
  if (w && w[0] === 'Integer') return String(w[1].ival ?? 0);
  return null;
}

function copyOptionsOf(b: JsonObject): CopyOptions {
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
interface LocalView {
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

function analyseStatement(
  stmt: JsonObject,
  resolve: LineageResolver,
  session: LineageSession | null,
): StatementLineage {
  const w = wrapper(stmt);
  const result: StatementLineage = { columns: null, reads: null, copy: null, ddl: false };
  if (!w) return result;
  const [type, b] = w;
  const ctx: Ctx = { resolve, depth: 0, views: new Set(), reads: null, session };
  result.ddl = DDL_TYPES.test(type);
  let outputs: OutCol[] | null = null;
  switch (type) {
    case 'SelectStmt':
      outputs = query(stmt, null, ctx, null);
      if (!isObj(b.intoClause)) result.columns = toLineage(outputs);
      else result.ddl = true;
      break;
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      outputs = query(stmt, null, ctx, null);
      result.columns = toLineage(outputs);
      if (type === 'InsertStmt' && b.selectStmt !== undefined) query(b.selectStmt, null, ctx, null);
      break;
    case 'DeclareCursorStmt':
      outputs = query(b.query, null, ctx, null);
      break;
    case 'CreateTableAsStmt':
      outputs = query(b.query, null, ctx, null);
      break;
    case 'FetchStmt':
      if (b.ismove !== true && typeof b.portalname === 'string')
        result.columns = session?.cursors.get(b.portalname) ?? null;
      break;
    case 'ExecuteStmt': {
      const p = typeof b.name === 'string' ? session?.prepared.get(b.name) : undefined;
      if (p) return { ...p, ddl: p.ddl };
      break;
    }
    case 'PrepareStmt': {
      if (isObj(b.query) && typeof b.name === 'string' && session) {
        const inner = analyseStatement(b.query, resolve, session);
        session.prepared.set(b.name, inner);
        result.reads = inner.reads;
        result.ddl = inner.ddl;
      }
      break;
    }
    case 'ExplainStmt': {
      // EXPLAIN ANALYZE runs the statement; its rows are the plan, not data.
      if (isObj(b.query)) result.reads = analyseStatement(b.query, resolve, session).reads;
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
  session?.note(type, b, result, outputs, ctx);
  return result;
}

/** Parse trees by SQL text (agents repeat themselves); read-only, bounded. */
const parseCache = new Map<string, readonly { stmt: JsonObject }[] | null>();
/**
 * Parse trees by numeric shape (policy/shape.ts), or false when a shape's texts must be parsed
 * one by one. Lineage never reads a numeric constant's value, so the tree of any text of a
 * verified shape gives the lineage of every text of that shape.
 */
const shapeCache = new Map<string, readonly { stmt: JsonObject }[] | false>();
const PARSE_CACHE_SIZE = 512;

function bounded<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= PARSE_CACHE_SIZE) map.delete(map.keys().next().value as string);
  map.set(key, value);
}

function parsed(sql: string): readonly { stmt: JsonObject }[] | null {
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
): StatementLineage[] {
  const stmts = parsed(sql);
  if (stmts === null) return [];
  return stmts.map((s) => analyseStatement(s.stmt, resolve, session));
}

/** The output lineage of the first statement of a SQL text (null when unknown). */
export function outputLineage(sql: string, resolve: LineageResolver): ColumnLineage[] | null {
  return statementLineages(sql, resolve)[0]?.columns ?? null;
}

// ---------------------------------------------------------------------------------------------
// Function bodies

const OUT_MODES = new Set(['FUNC_PARAM_OUT', 'FUNC_PARAM_INOUT', 'FUNC_PARAM_TABLE']);

interface Declared {
  /** Declared output columns; null = a record whose columns the body decides. */
  cols: { name: string; typeOid: number | null }[] | null;
  composite: boolean;
}

function typeOidOf(typeName: Json | undefined): number | null {
  if (!isObj(typeName) || list(typeName.arrayBounds).length > 0) return null;
  const tn = names(typeName.names);
  return TYPE_NAMES.get(tn[tn.length - 1] ?? '') ?? null;
}

/** The output columns a CREATE FUNCTION declares (OUT / TABLE parameters, or the return type). */
function declaredOutputs(b: JsonObject, fname: string, procedure: boolean, ctx: Ctx): Declared {
  const outs: { name: string; typeOid: number | null }[] = [];
  for (const p of list(b.parameters)) {
    const pw = wrapper(p);
    if (!pw || !OUT_MODES.has(String(pw[1].mode))) continue;
    outs.push({ name: str(pw[1].name) ?? `column${outs.length + 1}`, typeOid: typeOidOf(pw[1].argType) });
  }
  if (procedure || outs.length >= 2) return { cols: outs, composite: true };
  if (outs.length === 1) return { cols: outs, composite: false };
  const rt = isObj(b.returnType) ? b.returnType : null;
  const tn = rt ? names(rt.names) : [];
  const type = tn[tn.length - 1] ?? '';
  if (type === 'record') return { cols: null, composite: true };
  const oid = typeOidOf(rt ?? undefined);
  if (oid !== null || type === 'void' || type === 'trigger' || rt === null)
    return { cols: [{ name: fname, typeOid: oid }], composite: false };
  // A relation's row type (RETURNS SETOF customers): its columns, when the catalog knows them.
  const rel = ctx.resolve.relation(tn.length > 1 ? tn[tn.length - 2] : null, type);
  if (rel?.kind === 'table')
    return { cols: rel.columns.map((c) => ({ name: c.name, typeOid: c.typeOid ?? null })), composite: true };
  if (rel !== null) return { cols: null, composite: true };
  // Another type (a domain, a composite type the catalog does not list): the body's shape decides.
  return { cols: null, composite: false };
}

/** The strictest rule of some output columns. */
function strictestOf(cols: readonly OutCol[]): MaskRule | null {
  let r: MaskRule | null = null;
  for (const c of cols) r = stricter(r, c.taint.rule);
  return r;
}

const WRITES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'CreateTableAsStmt']);

/**
 * The statements of a LANGUAGE sql body: the last one's output, and the rule of what earlier
 * statements may have stored from masked data (it could come back through the last one).
 */
function sqlBodyOutput(stmts: readonly JsonObject[], ctx: Ctx): { out: OutCol[]; extra: MaskRule | null } {
  let extra: MaskRule | null = null;
  let out: OutCol[] = [];
  stmts.forEach((stmt, i) => {
    const w = wrapper(stmt);
    if (!w) return;
    const inner: Ctx = { ...ctx, reads: null };
    let cols: OutCol[] = [];
    if (w[0] === 'ReturnStmt') cols = [{ name: null, taint: expr(w[1].returnval, null, inner) }];
    else if (w[0] === 'SelectStmt' || WRITES.has(w[0])) {
      cols = query(w[0] === 'CreateTableAsStmt' ? w[1].query : stmt, null, inner, null);
      if (w[0] === 'InsertStmt' && w[1].selectStmt !== undefined) query(w[1].selectStmt, null, inner, null);
      if (w[0] === 'SelectStmt' && isObj(w[1].intoClause)) extra = stricter(extra, strictestOf(cols));
    }
    if (WRITES.has(w[0])) extra = stricter(extra, stricter(inner.reads, strictestOf(cols)));
    if (i === stmts.length - 1) out = cols;
  });
  return { out, extra };
}

/** `v := expr` / `v = expr` (a PL/pgSQL assignment) -> the expression. */
function assignedExpression(q: string): string | null {
  const at = q.indexOf(':=');
  if (at >= 0) return q.slice(at + 2);
  const eq = q.indexOf('=');
  return eq >= 0 ? q.slice(eq + 1) : null;
}

/**
 * A PL/pgSQL body: the columns of its RETURN QUERY statements (position by position), and the
 * strictest rule of what every other statement computes (it may reach the output through
 * variables, RETURN and RETURN NEXT). null = dynamic SQL or a body that does not parse.
 */
function plpgsqlOutput(definition: string, ctx: Ctx): { out: OutCol[][]; extra: MaskRule | null } | null {
  let funcs: JsonObject[];
  try {
    funcs = parsePlpgsql(definition);
  } catch {
    return null;
  }
  const returned: OutCol[][] = [];
  let extra: MaskRule | null = null;
  let dynamic = false;
  const sqlOf = (q: string, mode: number): string | null => {
    if (mode === 0) return q;
    if (mode === 2) return `SELECT ${q}`;
    if (mode >= 3 && mode <= 5) {
      const e = assignedExpression(q);
      return e === null ? null : `SELECT ${e}`;
    }
    return null;
  };
  const analyse = (sql: string): OutCol[] | null => {
    const stmts = parsed(sql);
    if (stmts === null) return null;
    return sqlBodyOutput(
      stmts.map((s) => s.stmt),
      ctx,
    ).out;
  };
  const visit = (v: Json | undefined, key: string | null): void => {
    if (dynamic || v === null || v === undefined || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (const x of v) visit(x, key);
      return;
    }
    for (const [k, child] of Object.entries(v)) {
      if (k === 'PLpgSQL_stmt_dynexecute' || k === 'PLpgSQL_stmt_dynfors' || k === 'dynquery') {
        dynamic = true;
        return;
      }
      if (k === 'PLpgSQL_stmt_return_query' && isObj(child)) {
        const e = isObj(child.query) && isObj(child.query.PLpgSQL_expr) ? child.query.PLpgSQL_expr : null;
        const cols = e ? analyse(String(e.query ?? '')) : null;
        if (cols === null) {
          dynamic = true;
          return;
        }
        returned.push(cols);
        continue;
      }
      if (k === 'PLpgSQL_expr' && isObj(child)) {
        const sql = sqlOf(String(child.query ?? ''), Number(child.parseMode ?? 0));
        if (sql === null) continue;
        const stmts = parsed(sql);
        if (stmts === null) continue;
        const inner: Ctx = { ...ctx, reads: null };
        const r = sqlBodyOutput(
          stmts.map((s) => s.stmt),
          inner,
        );
        extra = stricter(extra, stricter(strictestOf(r.out), r.extra));
        continue;
      }
      visit(child, k);
    }
  };
  visit(funcs as unknown as Json, null);
  return dynamic ? null : { out: returned, extra };
}

/**
 * The output of a function from its definition (pg_get_functiondef): per column, the strictest
 * rule of any masked column it returns. null = the body cannot be analysed (another language,
 * dynamic SQL, a parse failure): its output is left to the detectors.
 */
export function functionLineage(
  definition: string,
  language: string,
  resolve: LineageResolver,
): FunctionLineage | null {
  const stmt = parsed(definition)?.[0]?.stmt;
  const w = wrapper(stmt);
  if (w?.[0] !== 'CreateFunctionStmt') return null;
  const b = w[1];
  const qualified = names(b.funcname);
  const fname = qualified[qualified.length - 1] ?? '';
  const ctx: Ctx = { resolve, depth: 0, views: new Set(), reads: null, session: null };
  const declared = declaredOutputs(b, fname, b.is_procedure === true, ctx);
  let bodies: OutCol[][];
  let extra: MaskRule | null = null;
  try {
    if (b.sql_body !== undefined) {
      const flat: JsonObject[] = [];
      const collect = (v: Json | undefined): void => {
        const lw = wrapper(v);
        if (lw && lw[0] === 'List') for (const x of list(v)) collect(x);
        else if (Array.isArray(v)) for (const x of v) collect(x);
        else if (isObj(v)) flat.push(v);
      };
      collect(b.sql_body);
      const r = sqlBodyOutput(flat, ctx);
      bodies = [r.out];
      extra = r.extra;
    } else if (language === 'sql') {
      const src = sval(list(defElems(b.options).get('as'))[0]);
      const stmts = src === null ? null : parsed(src);
      if (stmts === null) return null;
      const r = sqlBodyOutput(
        stmts.map((s) => s.stmt),
        ctx,
      );
      bodies = [r.out];
      extra = r.extra;
    } else if (language === 'plpgsql') {
      const r = plpgsqlOutput(definition, ctx);
      if (r === null) return null;
      bodies = r.out;
      extra = r.extra;
    } else return null;
  } catch {
    return null;
  }
  const width = declared.cols?.length ?? bodies[0]?.length ?? 1;
  const fits = bodies.every((cols) => !cols.some((c) => c.star) && cols.length === width);
  if (!fits || width === 0) {
    // Shapes that cannot be lined up: every output column carries the strictest rule.
    let rule = extra;
    for (const cols of bodies) rule = stricter(rule, strictestOf(cols));
    return {
      composite: declared.composite,
      columns: [{ name: fname, typeOid: null, rule }],
      unknownShape: true,
    };
  }
  const columns: ResolvedColumn[] = [];
  for (let i = 0; i < width; i++) {
    let rule = extra;
    for (const cols of bodies) rule = stricter(rule, cols[i].taint.rule);
    const d = declared.cols?.[i];
    columns.push({
      name: d?.name ?? bodies[0]?.[i]?.name ?? `column${i + 1}`,
      typeOid: d ? d.typeOid : (bodies[0]?.[i]?.taint.typeOid ?? null),
      rule,
    });
  }
  return { composite: declared.composite || width > 1, columns };
}
