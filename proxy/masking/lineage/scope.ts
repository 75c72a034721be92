// Scopes: relations in scope, their columns, and how a column reference resolves; the analysis
// context and its limits (past them, everything masked there is).
// Part of lineage.ts (the public entry).

import { type Json, type JsonObject, sval, wrapper } from '../../policy/parser.js';
import { type MaskRule, stricter } from '../rules.js';
import type { LineageSession } from './statements.js';
import { CLEAN, type LineageResolver, names, type Taint, whole } from './taint.js';
import type { MaskedWrite } from './writes.js';

// ---------------------------------------------------------------------------------------------
// Scopes

export interface OutCol {
  name: string | null;
  taint: Taint;
  /** An unknown number of columns (each carrying taint.rule). */
  star?: boolean;
}

export interface Rel {
  alias: string;
  /** Known columns in order, or null. */
  columns: OutCol[] | null;
  /** Rule of every column when the columns are unknown. */
  unknown: MaskRule | null;
}

export interface FromResult {
  rels: Rel[];
  star: OutCol[];
}

export interface Scope {
  rels: Rel[];
  parent: Scope | null;
}

export interface CteScope {
  ctes: Map<string, OutCol[]>;
  parent: CteScope | null;
}

export interface Ctx {
  resolve: LineageResolver;
  depth: number;
  /** Views being expanded (cycle guard). */
  views: Set<string>;
  reads: MaskRule | null;
  session: LineageSession | null;
  /** Masked columns read (their `src`), for naming them in refusals. Shared by inner contexts. */
  readCols: Set<string>;
  /** Masked data this statement writes into server state (see writes). */
  writes: MaskedWrite[];
  /** Whether anything analysed writes server state at all (shared by inner contexts). */
  effects: { state: boolean };
}

export const MAX_VIEW_DEPTH = 8;
export const MAX_EXPR_DEPTH = 200;
/** Nested queries (subqueries, CTEs, views) analysed in one statement before failing closed. */
export const MAX_QUERY_DEPTH = 64;

export function newCtx(resolve: LineageResolver, session: LineageSession | null): Ctx {
  return {
    resolve,
    depth: 0,
    views: new Set(),
    reads: null,
    session,
    readCols: new Set(),
    writes: [],
    effects: { state: false },
  };
}

/**
 * What cannot be known (past a limit, a dynamic construct, a cursor never seen declared): every
 * masked column there is, i.e. the strictest configured rule, masking the value whole.
 */
export function anyTaint(ctx: Ctx): Taint {
  const r = ctx.resolve.anyRule?.() ?? null;
  ctx.reads = stricter(ctx.reads, r);
  return r ? { ...CLEAN, rule: r } : CLEAN;
}

/** System columns: they exist on every table and reveal nothing of a masked value. */
export const SYSTEM_COLUMNS = new Set(['ctid', 'xmin', 'xmax', 'cmin', 'cmax', 'tableoid', 'oid']);

/** Every masked column of every relation in scope, whole. */
function missingColumn(scope: Scope | null): Taint {
  const ts: Taint[] = [];
  for (let s = scope; s; s = s.parent) for (const r of s.rels) ts.push(wholeRow(r));
  return whole(...ts);
}

export function relColumnsFromOut(cols: OutCol[]): { columns: OutCol[] | null; unknown: MaskRule | null } {
  if (cols.some((c) => c.star)) {
    let u: MaskRule | null = null;
    for (const c of cols) u = stricter(u, c.taint.rule);
    return { columns: null, unknown: u };
  }
  return { columns: cols, unknown: null };
}

export function renameCols(cols: OutCol[], alias: JsonObject | null): OutCol[] {
  const colnames = alias ? names(alias.colnames) : [];
  if (colnames.length === 0) return cols;
  return cols.map((c, i) => (i < colnames.length && !c.star ? { ...c, name: colnames[i] } : c));
}

export function wholeRow(rel: Rel): Taint {
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

export function findRel(scope: Scope | null, name: string): Rel | null {
  for (let s = scope; s; s = s.parent) {
    for (let i = s.rels.length - 1; i >= 0; i--) if (s.rels[i].alias === name) return s.rels[i];
  }
  return null;
}

export function resolveColumn(fields: Json[], scope: Scope | null, ctx: Ctx): Taint {
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
    // A column the catalog lists in no relation in scope: the server would refuse it unless the
    // catalog is behind (a rename earlier in the same Query message or in an open transaction,
    // which the catalog's own connection cannot see yet): it may be any column of those relations.
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
        // `t.f` where f is no column of t is f(t), a function of the whole row (`c.text`, a
        // user function taking the row type): every masked column of t, whole.
        t = c ? c.taint : SYSTEM_COLUMNS.has(col) ? CLEAN : whole(wholeRow(rel));
      }
    }
  }
  ctx.reads = stricter(ctx.reads, t.rule);
  if (t.src !== undefined && t.rule !== null) ctx.readCols.add(t.src);
  return t;
}
