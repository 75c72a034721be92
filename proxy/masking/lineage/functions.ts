// Function bodies: a function's output columns and what it stores, from its definition.
// Part of lineage.ts (the public entry).

import { isObj, type Json, type JsonObject, list, parsePlpgsql, sval, wrapper } from '../../policy/parser.js';
import { TYPE_NAMES } from '../pgtypes.js';
import { type MaskRule, stricter } from '../rules.js';
import { expr } from './expressions.js';
import { query } from './queries.js';
import { type Ctx, newCtx, type OutCol } from './scope.js';
import { defElems, parsed } from './statements.js';
import { type FunctionLineage, type LineageResolver, names, type ResolvedColumn, str } from './taint.js';
import { intoWrites, tracked } from './writes.js';

// ---------------------------------------------------------------------------------------------
// Function bodies

export const OUT_MODES = new Set(['FUNC_PARAM_OUT', 'FUNC_PARAM_INOUT', 'FUNC_PARAM_TABLE']);

export interface Declared {
  /** Declared output columns; null = a record whose columns the body decides. */
  cols: { name: string; typeOid: number | null }[] | null;
  composite: boolean;
}

export function typeOidOf(typeName: Json | undefined): number | null {
  if (!isObj(typeName) || list(typeName.arrayBounds).length > 0) return null;
  const tn = names(typeName.names);
  return TYPE_NAMES.get(tn[tn.length - 1] ?? '') ?? null;
}

/** The output columns a CREATE FUNCTION declares (OUT / TABLE parameters, or the return type). */
export function declaredOutputs(b: JsonObject, fname: string, procedure: boolean, ctx: Ctx): Declared {
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
export function strictestOf(cols: readonly OutCol[]): MaskRule | null {
  let r: MaskRule | null = null;
  for (const c of cols) r = stricter(r, c.taint.rule);
  return r;
}

export const WRITES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'CreateTableAsStmt']);

/**
 * The statements of a LANGUAGE sql body: the last one's output, and the rule of what earlier
 * statements may have stored from masked data (it could come back through the last one).
 */
export function sqlBodyOutput(
  stmts: readonly JsonObject[],
  ctx: Ctx,
): { out: OutCol[]; extra: MaskRule | null } {
  let extra: MaskRule | null = null;
  let out: OutCol[] = [];
  stmts.forEach((stmt, i) => {
    const w = wrapper(stmt);
    if (!w) return;
    const inner: Ctx = { ...ctx, reads: null };
    let cols: OutCol[] = [];
    if (w[0] === 'ReturnStmt') cols = [{ name: null, taint: expr(w[1].returnval, null, inner) }];
    else if (w[0] === 'SelectStmt' || WRITES.has(w[0])) {
      const src = tracked(inner, () =>
        query(w[0] === 'CreateTableAsStmt' ? w[1].query : stmt, null, inner, null),
      );
      cols = src.value;
      if (w[0] === 'SelectStmt' && isObj(w[1].intoClause)) {
        extra = stricter(extra, strictestOf(cols));
        intoWrites(inner, w[1].intoClause, cols, src.cols, 'table');
      }
      if (w[0] === 'CreateTableAsStmt')
        intoWrites(inner, isObj(w[1].into) ? w[1].into : null, cols, src.cols, 'table');
    }
    if (WRITES.has(w[0])) extra = stricter(extra, stricter(inner.reads, strictestOf(cols)));
    if (i === stmts.length - 1) out = cols;
  });
  return { out, extra };
}

/** `v := expr` / `v = expr` (a PL/pgSQL assignment) -> the expression. */
export function assignedExpression(q: string): string | null {
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
export function plpgsqlOutput(
  definition: string,
  ctx: Ctx,
): { out: OutCol[][]; extra: MaskRule | null } | null {
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
  const ctx: Ctx = newCtx(resolve, null);
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
      ...effectsOf(ctx),
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
  return { composite: declared.composite || width > 1, columns, ...effectsOf(ctx) };
}

/** What a function body stores (FunctionLineage.writes / writesState), when it stores anything. */
export function effectsOf(ctx: Ctx): Pick<FunctionLineage, 'writes' | 'writesState'> {
  const out: Pick<FunctionLineage, 'writes' | 'writesState'> = {};
  if (ctx.writes.length > 0) out.writes = ctx.writes;
  if (ctx.effects.state) out.writesState = true;
  return out;
}
