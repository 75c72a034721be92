// Queries: the output columns of SELECT (FROM items, joins, CTEs, set operations, VALUES,
// views) and of DML RETURNING.
// Part of lineage.ts (the public entry).

import { isObj, type Json, type JsonObject, list, parseSql, sval, wrapper } from '../../policy/parser.js';
import { type MaskRule, stricter } from '../rules.js';
import { expr } from './expressions.js';
import {
  anyTaint,
  type CteScope,
  type Ctx,
  type FromResult,
  findRel,
  MAX_QUERY_DEPTH,
  MAX_VIEW_DEPTH,
  type OutCol,
  type Rel,
  relColumnsFromOut,
  renameCols,
  type Scope,
} from './scope.js';
import type { LocalView } from './statements.js';
import {
  CLEAN,
  type LineageResolver,
  names,
  type ResolvedRelation,
  str,
  structural,
  type Taint,
  whole,
} from './taint.js';
import { dmlWrites } from './writes.js';

// ---------------------------------------------------------------------------------------------
// Queries

export function outName(rt: JsonObject): string | null {
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

export function lookupCte(ctes: CteScope | null, name: string): OutCol[] | null {
  for (let c = ctes; c; c = c.parent) {
    const v = c.ctes.get(name);
    if (v) return v;
  }
  return null;
}

/** Columns of a view: its definition's lineage, cached per resolver. */
export const viewCache = new WeakMap<LineageResolver, Map<string, OutCol[] | null>>();

export function viewColumns(key: string, def: string | JsonObject, ctx: Ctx): OutCol[] | null {
  let cache = viewCache.get(ctx.resolve);
  if (cache === undefined) {
    cache = new Map();
    viewCache.set(ctx.resolve, cache);
  }
  // Only a view expanded from the top is memoised: one reached deep in a chain may have hit the
  // depth limit (failing closed), which it would not from a shallower query.
  const memo = typeof def === 'string' && ctx.session === null && ctx.views.size === 0;
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

export function relationRel(rv: JsonObject, scope: Scope | null, ctx: Ctx, ctes: CteScope | null): Rel {
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
          ? {
              rule: c.rule,
              json: null,
              record: null,
              typeOid: c.typeOid ?? null,
              src: `${schema === null ? '' : `${schema}.`}${name}.${c.name}`,
            }
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
      } else unknown = anyTaint(ctx).rule; // past the view-depth limit, a cycle, unparsable: fail closed
    }
  }
  if (cols) cols = renameCols(cols, alias);
  void scope;
  return { alias: aliasName, columns: cols, unknown };
}

export function starOf(rel: Rel): OutCol[] {
  if (rel.columns) return rel.columns;
  return [{ name: null, taint: rel.unknown ? { ...CLEAN, rule: rel.unknown } : CLEAN, star: true }];
}

export function fromItem(node: Json, scope: Scope, ctx: Ctx, ctes: CteScope | null): FromResult {
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
export function rangeFunctionColumns(b: JsonObject, scope: Scope, ctx: Ctx): FromResult | null {
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

export function withCtes(
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

export function setOpMerge(a: OutCol[], b: OutCol[]): OutCol[] {
  if (a.length === b.length && !a.some((c) => c.star) && !b.some((c) => c.star)) {
    return a.map((c, i) => ({ name: c.name, taint: structural([c.taint, b[i].taint]) }));
  }
  // Shapes differ (unknown stars): every column carries the strictest of the other side.
  const other = whole(...b.map((c) => c.taint));
  return a.map((c) => ({ ...c, taint: other.rule ? whole(c.taint, other) : c.taint }));
}

/** Output columns of a query (SelectStmt, or a DML statement's RETURNING). */
export function query(
  node: Json | undefined,
  parent: Scope | null,
  ctx: Ctx,
  ctes: CteScope | null,
): OutCol[] {
  // Past the nesting limit nothing of it is known: every masked column, any number of columns.
  if (ctx.depth >= MAX_QUERY_DEPTH) return [{ name: null, taint: anyTaint(ctx), star: true }];
  ctx.depth++;
  try {
    return queryAt(node, parent, ctx, ctes);
  } finally {
    ctx.depth--;
  }
}

export function queryAt(
  node: Json | undefined,
  parent: Scope | null,
  ctx: Ctx,
  ctes: CteScope | null,
): OutCol[] {
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

export function returningList(b: JsonObject): Json[] {
  if (isObj(b.returningClause)) return list(b.returningClause.exprs);
  return list(b.returningList);
}

export function dml(
  type: string,
  b: JsonObject,
  parent: Scope | null,
  ctx: Ctx,
  ctes: CteScope | null,
): OutCol[] {
  const cs = withCtes(b.withClause, parent, ctx, ctes);
  const scope: Scope = { rels: [], parent };
  if (isObj(b.relation)) scope.rels.push(relationRel(b.relation, scope, ctx, cs));
  for (const f of [...list(b.fromClause), ...list(b.usingClause)])
    scope.rels.push(...fromItem(f, scope, ctx, cs).rels);
  if (type === 'MergeStmt' && b.sourceRelation)
    scope.rels.push(...fromItem(b.sourceRelation, scope, ctx, cs).rels);
  if (type === 'MergeStmt') expr(b.joinCondition, scope, ctx);
  if (isObj(b.relation) && type !== 'DeleteStmt') dmlWrites(type, b, scope, ctx, cs);
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
