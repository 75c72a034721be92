// Does a WHERE clause really filter? `WHERE true`, `WHERE 1=1`, `WHERE 'a'='a'`, `WHERE NOT false`,
// `WHERE $1` (the client binds true), `WHERE f()` (a function of no column),
// `WHERE 1=1 OR id=3`, `WHERE EXISTS (SELECT 1)` and `WHERE id = id` select every row (the last
// every row where id is not null): such a clause counts as absent. Evaluation is deliberately
// small: constants, casts of constants, comparisons, AND / OR / NOT, IS [NOT] NULL, IN, BETWEEN,
// IS [NOT] DISTINCT FROM, and a comparison of an expression with itself.

import { PARSE_BOOL_TRUE } from './lexing.js';
import type { Json, JsonObject } from './parser.js';
import { numericReads } from './shape.js';

type Value = { t: 'bool'; v: boolean } | { t: 'num'; v: number } | { t: 'str'; v: string } | { t: 'null' };

function isObj(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function node(n: Json | undefined): [string, JsonObject] | null {
  if (!isObj(n)) return null;
  const keys = Object.keys(n);
  if (keys.length !== 1) return null;
  const body = n[keys[0]];
  return isObj(body) ? [keys[0], body] : null;
}

function items(v: Json | undefined): Json[] {
  if (Array.isArray(v)) return v;
  const x = node(v);
  return x && x[0] === 'List' && Array.isArray(x[1].items) ? x[1].items : [];
}

function sval(n: Json | undefined): string | null {
  const x = node(n);
  return x && x[0] === 'String' && typeof x[1].sval === 'string' ? x[1].sval : null;
}

const FALSE_WORDS = new Set(['f', 'fa', 'fal', 'fals', 'false', 'n', 'no', 'of', 'off', '0']);

function constValue(c: JsonObject): Value | null {
  if (c.isnull === true) return { t: 'null' };
  if (isObj(c.ival)) {
    numericReads.count++;
    return { t: 'num', v: typeof c.ival.ival === 'number' ? c.ival.ival : 0 };
  }
  if (isObj(c.fval)) {
    numericReads.count++;
    return { t: 'num', v: Number(c.fval.fval) };
  }
  if (isObj(c.boolval)) return { t: 'bool', v: c.boolval.boolval === true };
  if (isObj(c.sval)) return { t: 'str', v: typeof c.sval.sval === 'string' ? c.sval.sval : '' };
  return null;
}

function castTo(v: Value, type: string): Value | null {
  if (v.t === 'null') return v;
  if (type === 'bool' || type === 'boolean') {
    if (v.t === 'bool') return v;
    if (v.t === 'num' && Number.isInteger(v.v)) return { t: 'bool', v: v.v !== 0 };
    if (v.t === 'str') {
      const w = v.v.trim().toLowerCase();
      if (PARSE_BOOL_TRUE.has(w)) return { t: 'bool', v: true };
      if (FALSE_WORDS.has(w)) return { t: 'bool', v: false };
    }
    return null;
  }
  if (
    [
      'int2',
      'int4',
      'int8',
      'int',
      'integer',
      'smallint',
      'bigint',
      'numeric',
      'float4',
      'float8',
      'real',
    ].includes(type)
  ) {
    if (v.t === 'num') return v;
    if (v.t === 'str' && /^\s*[-+]?\d+(\.\d+)?\s*$/.test(v.v)) return { t: 'num', v: Number(v.v) };
    if (v.t === 'bool') return { t: 'num', v: v.v ? 1 : 0 };
    return null;
  }
  if (['text', 'varchar', 'bpchar', 'name', 'char'].includes(type)) {
    if (v.t === 'str') return v;
    if (v.t === 'num') return { t: 'str', v: String(v.v) };
    if (v.t === 'bool') return { t: 'str', v: v.v ? 'true' : 'false' };
  }
  return null;
}

function compare(op: string, a: Value, b: Value): Value | null {
  if (a.t === 'null' || b.t === 'null') return { t: 'null' };
  let x: number | string | boolean;
  let y: number | string | boolean;
  if (a.t === b.t) {
    x = a.v;
    y = b.v;
  } else if (a.t === 'str' || b.t === 'str') {
    // An untyped literal takes the other side's type.
    const s = (a.t === 'str' ? a : b) as { v: string };
    const o = a.t === 'str' ? b : a;
    const conv = castTo({ t: 'str', v: s.v }, o.t === 'num' ? 'numeric' : 'bool');
    if (!conv || conv.t === 'null' || conv.t === 'str') return null;
    x = a.t === 'str' ? conv.v : (o.v as number | boolean);
    y = a.t === 'str' ? (o.v as number | boolean) : conv.v;
  } else {
    return null;
  }
  // String order depends on the collation: only equality is safe.
  if (typeof x === 'string' && !['=', '<>', '!='].includes(op))
    return x === y && ['<=', '>='].includes(op) ? { t: 'bool', v: true } : null;
  switch (op) {
    case '=':
      return { t: 'bool', v: x === y };
    case '<>':
    case '!=':
      return { t: 'bool', v: x !== y };
    case '<':
      return { t: 'bool', v: x < y };
    case '>':
      return { t: 'bool', v: x > y };
    case '<=':
      return { t: 'bool', v: x <= y };
    case '>=':
      return { t: 'bool', v: x >= y };
    default:
      return null;
  }
}

/**
 * Structural equality ignoring locations. Expressions that differ apart from their numbers
 * differ whatever the numbers are; only when they match apart from them are the numbers read.
 */
function sameExpr(a: Json | undefined, b: Json | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  if (JSON.stringify(a, dropLocationAndNumbers) !== JSON.stringify(b, dropLocationAndNumbers)) return false;
  numericReads.count++;
  return JSON.stringify(a, dropLocation) === JSON.stringify(b, dropLocation);
}

function dropLocation(key: string, value: unknown): unknown {
  return key === 'location' ? undefined : value;
}

function dropLocationAndNumbers(key: string, value: unknown): unknown {
  if (key === 'location') return undefined;
  return key === 'ival' || key === 'fval' ? '#' : value;
}

/** An expression without function calls or subqueries (so comparing it with itself is stable). */
function isPlain(n: Json | undefined): boolean {
  const s = JSON.stringify(n ?? null);
  return !s.includes('"FuncCall"') && !s.includes('"SubLink"');
}

/** An untyped literal in a boolean context is read as a boolean ('t', 'yes', 'on', ...). */
function boolish(v: Value | null): Value | null {
  return v?.t === 'str' ? castTo(v, 'bool') : v;
}

function and(a: Value | null, b: Value | null): Value | null {
  a = boolish(a);
  b = boolish(b);
  if ((a?.t === 'bool' && !a.v) || (b?.t === 'bool' && !b.v)) return { t: 'bool', v: false };
  if (a?.t === 'bool' && b?.t === 'bool') return { t: 'bool', v: true };
  if (a && b && (a.t === 'null' || b.t === 'null') && a.t !== 'str' && b.t !== 'str') return { t: 'null' };
  return null;
}

function or(a: Value | null, b: Value | null): Value | null {
  a = boolish(a);
  b = boolish(b);
  if ((a?.t === 'bool' && a.v) || (b?.t === 'bool' && b.v)) return { t: 'bool', v: true };
  if (a?.t === 'bool' && b?.t === 'bool') return { t: 'bool', v: false };
  if (a && b && (a.t === 'null' || b.t === 'null') && a.t !== 'str' && b.t !== 'str') return { t: 'null' };
  return null;
}

/**
 * The value of an expression when it does not depend on the row; `tautology` also accepts
 * "true for every row where the compared expression is not null" (x = x).
 */
function evaluate(n: Json | undefined, depth = 0): Value | null {
  if (depth > 64) return null;
  const x = node(n);
  if (!x) return null;
  const [type, b] = x;
  switch (type) {
    case 'A_Const':
      return constValue(b);
    case 'TypeCast': {
      const v = evaluate(b.arg, depth + 1);
      const names = isObj(b.typeName) && Array.isArray(b.typeName.names) ? b.typeName.names : [];
      const last = sval(names[names.length - 1]);
      if (!v || !last) return null;
      if (isObj(b.typeName) && Array.isArray(b.typeName.arrayBounds)) return null;
      return castTo(v, last.toLowerCase());
    }
    case 'BoolExpr': {
      const args = Array.isArray(b.args) ? b.args : [];
      if (b.boolop === 'NOT_EXPR') {
        const v = boolish(evaluate(args[0], depth + 1));
        if (v?.t === 'bool') return { t: 'bool', v: !v.v };
        return v?.t === 'null' ? v : null;
      }
      const vals = args.map((a) => evaluate(a, depth + 1));
      if (b.boolop === 'AND_EXPR')
        return vals.reduce((acc, v) => and(acc, v), { t: 'bool', v: true } as Value | null);
      if (b.boolop === 'OR_EXPR')
        return vals.reduce((acc, v) => or(acc, v), { t: 'bool', v: false } as Value | null);
      return null;
    }
    case 'A_Expr': {
      const names = Array.isArray(b.name) ? b.name : [];
      const op = sval(names[names.length - 1]) ?? '';
      if (b.kind === 'AEXPR_OP') {
        if (['=', '>=', '<='].includes(op) && sameExpr(b.lexpr, b.rexpr) && isPlain(b.lexpr))
          return { t: 'bool', v: true };
        if (b.lexpr === undefined) return null;
        // Right side only when the left is constant: a row-dependent side decides alone, and the
        // shape cache can then share `id = 5` across numbers (no number was read).
        const l = evaluate(b.lexpr, depth + 1);
        if (!l) return null;
        const r = evaluate(b.rexpr, depth + 1);
        return r ? compare(op, l, r) : null;
      }
      if (b.kind === 'AEXPR_NOT_DISTINCT' || b.kind === 'AEXPR_DISTINCT') {
        const want = b.kind === 'AEXPR_NOT_DISTINCT';
        if (sameExpr(b.lexpr, b.rexpr) && isPlain(b.lexpr)) return { t: 'bool', v: want };
        const l = evaluate(b.lexpr, depth + 1);
        if (!l) return null;
        const r = evaluate(b.rexpr, depth + 1);
        if (!r) return null;
        const same = l.t === 'null' || r.t === 'null' ? l.t === r.t : compare('=', l, r);
        if (same === null) return null;
        const eq = typeof same === 'boolean' ? same : same.t === 'bool' && same.v;
        return { t: 'bool', v: want ? eq : !eq };
      }
      if (b.kind === 'AEXPR_IN') {
        const l = evaluate(b.lexpr, depth + 1);
        const list = items(b.rexpr);
        if (!l) return null;
        let acc: Value | null = { t: 'bool', v: false };
        for (const item of list) {
          const r = evaluate(item, depth + 1);
          acc = or(acc, r ? compare('=', l, r) : null);
        }
        if (op === '<>') return acc?.t === 'bool' ? { t: 'bool', v: !acc.v } : acc;
        return acc;
      }
      if (b.kind === 'AEXPR_BETWEEN' || b.kind === 'AEXPR_NOT_BETWEEN') {
        const l = evaluate(b.lexpr, depth + 1);
        if (!l) return null;
        const bounds = items(b.rexpr);
        const lo = evaluate(bounds[0], depth + 1);
        const hi = evaluate(bounds[1], depth + 1);
        if (!l || !lo || !hi) return null;
        const v = and(compare('>=', l, lo), compare('<=', l, hi));
        if (b.kind === 'AEXPR_NOT_BETWEEN') return v?.t === 'bool' ? { t: 'bool', v: !v.v } : v;
        return v;
      }
      return null;
    }
    case 'NullTest': {
      const v = evaluate(b.arg, depth + 1);
      if (!v) return null;
      const isNull = v.t === 'null';
      return { t: 'bool', v: b.nulltesttype === 'IS_NULL' ? isNull : !isNull };
    }
    case 'BooleanTest': {
      const v = boolish(evaluate(b.arg, depth + 1));
      if (!v || (v.t !== 'bool' && v.t !== 'null')) return null;
      const bv = v.t === 'bool' ? v.v : null;
      switch (b.booltesttype) {
        case 'IS_TRUE':
          return { t: 'bool', v: bv === true };
        case 'IS_NOT_TRUE':
          return { t: 'bool', v: bv !== true };
        case 'IS_FALSE':
          return { t: 'bool', v: bv === false };
        case 'IS_NOT_FALSE':
          return { t: 'bool', v: bv !== false };
        case 'IS_UNKNOWN':
          return { t: 'bool', v: bv === null };
        case 'IS_NOT_UNKNOWN':
          return { t: 'bool', v: bv !== null };
        default:
          return null;
      }
    }
    case 'SubLink': {
      // EXISTS (SELECT <anything>) with no FROM, WHERE, HAVING, LIMIT or set operation: true.
      if (b.subLinkType !== 'EXISTS_SUBLINK') return null;
      const sel = node(b.subselect);
      if (sel?.[0] !== 'SelectStmt') return null;
      const s = sel[1];
      if (s.fromClause || s.havingClause || s.limitCount || s.limitOffset || s.valuesLists) return null;
      if (s.op && s.op !== 'SETOP_NONE') return null;
      if (s.whereClause === undefined) return { t: 'bool', v: true };
      const w = evaluate(s.whereClause, depth + 1);
      return w?.t === 'bool' ? w : w?.t === 'null' ? { t: 'bool', v: false } : null;
    }
    default:
      return null;
  }
}

/** True when the WHERE clause lets every row through. */
export function isConstantTrue(where: Json | undefined): boolean {
  if (where === undefined || where === null) return true;
  if (mayMatchEveryRow(where)) return true;
  const v = boolish(evaluate(where));
  return (v !== null && v.t === 'bool' && v.v) || tautology(where);
}

// A tautology over the target's own columns is as bad as no WHERE: `id IS NULL OR id IS NOT
// NULL`, `NOT (id > 0 AND id <= 0)`, `coalesce(id, 1) = coalesce(id, 1)`, CASE with only true
// branches. These two checks only ever turn a WHERE into "absent" (a review), so where they are
// loose (`random() = random()`, a row whose atoms are NULL) they err on the reviewed side; they
// never make a clause count as filtering.

const FLIPPED_OP: Record<string, string> = {
  '=': '<>',
  '<>': '=',
  '!=': '=',
  '<': '>=',
  '>=': '<',
  '>': '<=',
  '<=': '>',
};
const FLIPPED_TEST: Record<string, string> = {
  IS_NULL: 'IS_NOT_NULL',
  IS_NOT_NULL: 'IS_NULL',
  IS_TRUE: 'IS_NOT_TRUE',
  IS_NOT_TRUE: 'IS_TRUE',
  IS_FALSE: 'IS_NOT_FALSE',
  IS_NOT_FALSE: 'IS_FALSE',
  IS_UNKNOWN: 'IS_NOT_UNKNOWN',
  IS_NOT_UNKNOWN: 'IS_UNKNOWN',
};

/**
 * Structural equality as sameExpr, for operands that may be absent: numbers are read (and the
 * shape cache told so) only when the expressions match apart from them.
 */
function same(a: Json | undefined, b: Json | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return sameExpr(a, b);
}

function opOf(b: JsonObject): string {
  const names = items(b.name);
  return sval(names[names.length - 1]) ?? '';
}

/** Whether `a` is (for every row where it is not NULL) the negation of `b`. */
function complementary(a: Json | undefined, b: Json | undefined): boolean {
  const x = node(a);
  const y = node(b);
  if (!x || !y) return false;
  if (x[0] === 'BoolExpr' && x[1].boolop === 'NOT_EXPR') return same(items(x[1].args)[0], b);
  if (y[0] === 'BoolExpr' && y[1].boolop === 'NOT_EXPR') return same(items(y[1].args)[0], a);
  if (x[0] !== y[0]) return false;
  const [t, p] = x;
  const q = y[1];
  if (t === 'NullTest') return FLIPPED_TEST[String(p.nulltesttype)] === q.nulltesttype && same(p.arg, q.arg);
  if (t === 'BooleanTest')
    return FLIPPED_TEST[String(p.booltesttype)] === q.booltesttype && same(p.arg, q.arg);
  if (t !== 'A_Expr' || !same(p.lexpr, q.lexpr) || !same(p.rexpr, q.rexpr)) return false;
  if (p.kind === 'AEXPR_OP' && q.kind === 'AEXPR_OP') return FLIPPED_OP[opOf(p)] === opOf(q);
  if (p.kind === 'AEXPR_IN' && q.kind === 'AEXPR_IN') return FLIPPED_OP[opOf(p)] === opOf(q);
  const distinct = new Set([p.kind, q.kind]);
  return distinct.has('AEXPR_DISTINCT') && distinct.has('AEXPR_NOT_DISTINCT');
}

/** The operands of nested ORs (or ANDs) as one list: `a OR (b OR c)` is `a OR b OR c`. */
function flatten(args: Json[], boolop: string, depth = 0): Json[] {
  return args.flatMap((a) => {
    const x = node(a);
    return depth < 16 && x?.[0] === 'BoolExpr' && x[1].boolop === boolop
      ? flatten(items(x[1].args), boolop, depth + 1)
      : [a];
  });
}

function anyPair(args: Json[], f: (a: Json, b: Json) => boolean): boolean {
  const n = Math.min(args.length, 64);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (f(args[i], args[j])) return true;
  return false;
}

/** True for every row (where what it compares is not NULL). */
function tautology(n: Json | undefined, depth = 0): boolean {
  if (depth > 64) return false;
  const x = node(n);
  if (!x) return false;
  const [t, b] = x;
  if (t === 'BoolExpr') {
    const args = items(b.args);
    if (b.boolop === 'OR_EXPR')
      return args.some((a) => tautology(a, depth + 1)) || anyPair(flatten(args, 'OR_EXPR'), complementary);
    if (b.boolop === 'AND_EXPR') return args.every((a) => tautology(a, depth + 1));
    if (b.boolop === 'NOT_EXPR') return contradiction(args[0], depth + 1);
  }
  if (t === 'A_Expr' && same(b.lexpr, b.rexpr) && b.lexpr !== undefined) {
    if (b.kind === 'AEXPR_OP' && ['=', '>=', '<='].includes(opOf(b))) return true;
    if (b.kind === 'AEXPR_NOT_DISTINCT') return true;
  }
  if (t === 'CaseExpr') {
    const results = [...items(b.args).map((w) => node(w)?.[1].result), b.defresult];
    return b.defresult !== undefined && results.every((r) => tautology(r, depth + 1));
  }
  if (t === 'BooleanTest' && (b.booltesttype === 'IS_TRUE' || b.booltesttype === 'IS_NOT_FALSE'))
    return tautology(b.arg, depth + 1);
  const v = boolish(evaluate(n));
  return v?.t === 'bool' && v.v;
}

/** True for no row (false or NULL whatever the row holds). */
function contradiction(n: Json | undefined, depth = 0): boolean {
  if (depth > 64) return false;
  const x = node(n);
  if (!x) return false;
  const [t, b] = x;
  if (t === 'BoolExpr') {
    const args = items(b.args);
    if (b.boolop === 'AND_EXPR')
      return (
        args.some((a) => contradiction(a, depth + 1)) || anyPair(flatten(args, 'AND_EXPR'), complementary)
      );
    if (b.boolop === 'OR_EXPR') return args.every((a) => contradiction(a, depth + 1));
    if (b.boolop === 'NOT_EXPR') return tautology(args[0], depth + 1);
  }
  if (t === 'A_Expr' && same(b.lexpr, b.rexpr) && b.lexpr !== undefined) {
    if (b.kind === 'AEXPR_OP' && ['<>', '!=', '<', '>'].includes(opOf(b))) return true;
    if (b.kind === 'AEXPR_DISTINCT') return true;
  }
  if (t === 'CaseExpr') {
    const results = [...items(b.args).map((w) => node(w)?.[1].result), b.defresult];
    return results.every((r) => r === undefined || contradiction(r, depth + 1));
  }
  const v = boolish(evaluate(n));
  return v?.t === 'null' || (v?.t === 'bool' && !v.v);
}

/**
 * Whether the clause can hold for every row whatever the rows hold: a part of it that reads no
 * column of the row (a bound parameter, a function of constants, an uncorrelated subquery) is
 * all or nothing, and the client chooses: `WHERE $1` bound to true deletes every row. A
 * disjunction is so if any branch is, a conjunction if every branch is. Column references inside
 * a subquery do not count (they may be the subquery's own), so a correlated subquery alone counts
 * as not filtering: fail closed.
 */
function mayMatchEveryRow(n: Json | undefined, depth = 0): boolean {
  if (depth > 64) return true;
  const x = node(n);
  if (x?.[0] === 'BoolExpr') {
    const args = items(x[1].args);
    if (x[1].boolop === 'OR_EXPR') return args.some((a) => mayMatchEveryRow(a, depth + 1));
    if (x[1].boolop === 'AND_EXPR') return args.every((a) => mayMatchEveryRow(a, depth + 1));
  }
  if (readsRow(n)) return false;
  // Reads no column: unless it is known false (or NULL), it may be true for every row.
  const v = boolish(evaluate(n));
  return v === null || (v.t === 'bool' && v.v);
}

/** Whether an expression refers to a column outside any subquery. */
function readsRow(n: Json | undefined): boolean {
  if (Array.isArray(n)) return n.some(readsRow);
  if (!isObj(n)) return false;
  for (const [k, v] of Object.entries(n)) {
    // WHERE CURRENT OF a cursor: the one row it is on.
    if (k === 'ColumnRef' || k === 'CurrentOfExpr') return true;
    // x IN (SELECT ...), x = ANY (SELECT ...): x is outside the subquery.
    if (k === 'SubLink') {
      if (isObj(v) && readsRow(v.testexpr)) return true;
      continue;
    }
    if (readsRow(v)) return true;
  }
  return false;
}
