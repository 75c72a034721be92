// Expressions: the taint of every expression node, function calls, JSON builders and the
// built-ins that dump relations.
// Part of lineage.ts (the public entry).

import { BUILTIN_FUNCTION_NAMES } from '../../policy/builtins.js';
import { SQL_TEXT_ARGUMENT } from '../../policy/functions.js';
import { isObj, type Json, type JsonObject, list, sval, wrapper } from '../../policy/parser.js';
import { DATA_DUMPING_BUILTINS } from '../dumping.js';
import { TYPE_NAMES } from '../pgtypes.js';
import { type MaskRule, stricter } from '../rules.js';
import { query, relationRel } from './queries.js';
import { anyTaint, type Ctx, MAX_EXPR_DEPTH, resolveColumn, type Scope, wholeRow } from './scope.js';
import { statementLineages } from './statements.js';
import {
  asJsonKeys,
  CLEAN,
  constString,
  jsonOf,
  mergeMaps,
  names,
  type ResolvedFunction,
  str,
  structural,
  type Taint,
  whole,
} from './taint.js';
import { noteWrite, STATE_WRITERS, tracked } from './writes.js';

// ---------------------------------------------------------------------------------------------
// Expressions

export const JSON_FROM_VALUE = new Set([
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
export const JSON_BUILD_OBJECT = new Set(['json_build_object', 'jsonb_build_object']);
export const JSON_BUILD_ARRAY = new Set(['json_build_array', 'jsonb_build_array']);
export const JSON_OBJECT_AGG = new Set([
  'json_object_agg',
  'jsonb_object_agg',
  'json_object_agg_strict',
  'jsonb_object_agg_strict',
]);
/** Functions that reveal nothing about their argument's value. */
export const VALUE_FREE = new Set(['count']);
export const JSON_FIELD_OPS = new Set(['->', '->>', '#>', '#>>']);

export function exprList(v: Json | undefined, scope: Scope | null, ctx: Ctx, d: number): Taint[] {
  return list(v).map((x) => expr(x, scope, ctx, d + 1));
}

export function expr(node: Json | undefined, scope: Scope | null, ctx: Ctx, d = 0): Taint {
  if (node === null || node === undefined) return CLEAN;
  // Past the depth limit the inputs are not known: everything masked there is (fail closed).
  if (d > MAX_EXPR_DEPTH) return anyTaint(ctx);
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
      // A record cast to a scalar or an array (`c::text`) is no longer a record: masked whole.
      if (t.record && (oid !== null || isArray)) return { ...whole(t), typeOid: oid };
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

export function funcCall(b: JsonObject, scope: Scope | null, ctx: Ctx, d: number): Taint {
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
  if ((schema === null || schema === 'pg_catalog') && STATE_WRITERS.has(fn)) {
    const { value: ts, cols } = tracked(ctx, () => exprList(args, scope, ctx, d));
    ctx.effects.state = true;
    noteWrite(ctx, STATE_WRITERS.get(fn) as string, whole(...ts).rule, cols);
    return whole(...ts);
  }
  const userFn = schema === 'pg_catalog' ? null : (ctx.resolve.function?.(schema, fn) ?? null);
  if (userFn) {
    const { value: argTs, cols } = tracked(ctx, () => exprList(args, scope, ctx, d));
    const argT = whole(...argTs);
    // What its body stores happens on every call; masked arguments of a body that stores
    // anything may be what it stores.
    ctx.writes.push(...(userFn.writes ?? []));
    if (userFn.writesState) {
      ctx.effects.state = true;
      noteWrite(ctx, `server state through function ${fn}`, argT.rule, cols);
    }
    const t = functionTaint(userFn, argT);
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
  // A function the gateway cannot see into: not a built-in, or qualified with a schema other than
  // pg_catalog (pg_temp.f, a C or PL/Python function, an extension's): its body may read any
  // masked column, so its output carries every rule (red-team 18a: pg_temp.f() selecting a column).
  if ((schema !== null && schema !== 'pg_catalog') || !BUILTIN_FUNCTION_NAMES.has(fn)) {
    ts.push(anyTaint(ctx));
  }
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
export const DUMPING = new Set([...SQL_TEXT_ARGUMENT.keys(), ...DATA_DUMPING_BUILTINS]);

/** What a data-dumping built-in's output carries: what it reads, or every rule when unknown. */
export function dumped(fn: string, args: Json[], ctx: Ctx): Taint {
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
export function functionTaint(f: ResolvedFunction, args: Taint): Taint {
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
