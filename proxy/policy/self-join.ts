// WHERE clauses that name the target's columns and still select every row, because what they
// compare with is the target itself: `DELETE FROM t WHERE id IN (SELECT id FROM t)`, `MERGE INTO t
// USING t s ON t.id = s.id`, `DELETE FROM t USING t t2 WHERE t.id = t2.id`, and tests of a system
// column that is never NULL (`WHERE ctid IS NOT NULL`). where.ts cannot see these: it does not
// know which relation is the target. Like where.ts's tautologies, these only ever make a WHERE
// count as absent (a review), never the other way.

import { isObj, type Json, type JsonObject, list, sval, wrapper } from './parser.js';

/** A relation as the statement names it, with the name its columns are qualified by. */
interface Rel {
  schema: string | null;
  name: string;
  /** The alias, else the relation's name. */
  ref: string;
}

/** Columns every row has, never NULL. */
const SYSTEM_COLUMNS = new Set(['ctid', 'xmin', 'xmax', 'cmin', 'cmax', 'tableoid']);

export function relOf(rv: Json | undefined): Rel | null {
  const w = wrapper(rv);
  const b: JsonObject | null = w?.[0] === 'RangeVar' ? w[1] : isObj(rv ?? null) ? (rv as JsonObject) : null;
  if (b === null || typeof b.relname !== 'string') return null;
  const alias = isObj(b.alias) && typeof b.alias.aliasname === 'string' ? b.alias.aliasname : null;
  return {
    schema: typeof b.schemaname === 'string' ? b.schemaname : null,
    name: b.relname,
    ref: alias ?? b.relname,
  };
}

const sameRelation = (a: Rel, b: Rel) => a.name === b.name && a.schema === b.schema;

/** [qualifier or null, column] of a plain column reference. */
function column(n: Json | undefined): [string | null, string] | null {
  const w = wrapper(n);
  if (w?.[0] !== 'ColumnRef') return null;
  const f = list(w[1].fields).map((x) => sval(x));
  if (f.some((x) => x === null) || f.length === 0 || f.length > 2) return null;
  return f.length === 1 ? [null, f[0] as string] : [f[0] as string, f[1] as string];
}

/** `col IN (SELECT col FROM target)` with nothing narrowing the subquery. */
function inItself(b: JsonObject, target: Rel): boolean {
  if (b.subLinkType !== 'ANY_SUBLINK') return false;
  const outer = column(b.testexpr);
  const sel = wrapper(b.subselect);
  if (outer === null || sel?.[0] !== 'SelectStmt') return false;
  const s = sel[1];
  if (s.whereClause || s.limitCount || s.havingClause || s.groupClause || (s.op && s.op !== 'SETOP_NONE'))
    return false;
  const from = list(s.fromClause);
  const targets = list(s.targetList);
  if (from.length !== 1 || targets.length !== 1) return false;
  const inner = relOf(from[0]);
  const res = wrapper(targets[0]);
  const innerCol = res?.[0] === 'ResTarget' ? column(res[1].val) : null;
  return inner !== null && sameRelation(inner, target) && innerCol !== null && innerCol[1] === outer[1];
}

/** `a.col = b.col` where a and b are the target and another scan of the same relation. */
function joinsItself(b: JsonObject, target: Rel, others: Rel[]): boolean {
  if (b.kind !== 'AEXPR_OP' || sval(list(b.name).at(-1)) !== '=') return false;
  const l = column(b.lexpr);
  const r = column(b.rexpr);
  if (l === null || r === null || l[1] !== r[1] || l[0] === null || r[0] === null) return false;
  const self = others.filter((o) => sameRelation(o, target)).map((o) => o.ref);
  return (l[0] === target.ref && self.includes(r[0])) || (r[0] === target.ref && self.includes(l[0]));
}

/**
 * Whether `clause` lets every row of `target` through for one of these reasons. `others`: the
 * relations joined in (MERGE's source, DELETE ... USING, UPDATE ... FROM).
 */
export function selectsItself(
  clause: Json | undefined,
  target: Rel | null,
  others: Rel[],
  depth = 0,
): boolean {
  if (target === null || depth > 32) return false;
  const w = wrapper(clause);
  if (!w) return false;
  const [t, b] = w;
  if (t === 'BoolExpr') {
    const args = list(b.args);
    if (b.boolop === 'OR_EXPR') return args.some((a) => selectsItself(a, target, others, depth + 1));
    if (b.boolop === 'AND_EXPR') return args.every((a) => selectsItself(a, target, others, depth + 1));
    return false;
  }
  if (t === 'NullTest' && b.nulltesttype === 'IS_NOT_NULL') {
    const c = column(b.arg);
    return c !== null && SYSTEM_COLUMNS.has(c[1]) && (c[0] === null || c[0] === target.ref);
  }
  if (t === 'SubLink') return inItself(b, target);
  if (t === 'A_Expr') return joinsItself(b, target, others);
  return false;
}

/**
 * Whether a clause over the target joined with `others` reads no column of the target: every
 * column it names (outside subqueries) is qualified by a joined relation. `DELETE FROM t USING o
 * WHERE o.flag` deletes every row of t when any row of o is flagged. Unqualified columns may be
 * the target's: they count as reading it.
 */
export function readsNoTargetColumn(clause: Json | undefined, target: Rel | null, others: Rel[]): boolean {
  if (target === null || others.length === 0 || clause === undefined) return false;
  const refs = new Set(others.map((o) => o.ref));
  let joined = 0;
  let own = 0;
  const walk = (v: Json | undefined, depth: number): void => {
    if (depth > 200 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1);
      return;
    }
    for (const [k, x] of Object.entries(v)) {
      if (k === 'SubLink' && isObj(x)) {
        // Only the outer side of `x IN (SELECT ...)` / `x = ANY (SELECT ...)` is this query's.
        walk(x.testexpr, depth + 1);
        continue;
      }
      if (k === 'ColumnRef') {
        const c = column({ ColumnRef: x } as Json);
        if (c !== null && c[0] !== null && refs.has(c[0]) && c[0] !== target.ref) joined++;
        else own++;
        continue;
      }
      walk(x, depth + 1);
    }
  };
  walk(clause, 0);
  return own === 0 && joined > 0;
}
