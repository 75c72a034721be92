// Calls resolved through the live catalog. The analyser decides on names as written, but what a
// name runs depends on objects that already exist on the server: a user function named like a
// built-in (`public.lower(int)` wins `lower(5)` whatever the search_path, by argument match), a
// built-in renamed there (`harmless()` is pg_read_file), user operators and casts (they run their
// functions implicitly), and `t.f` calling a user function f. A CallSnapshot (loaded with the
// masking catalog, on the same catalog link) lists those objects; resolveCalls adds, per unit,
// the functions they make it call. Done at decision time, never in the shared analysis cache.

import { FunctionBodies, type UserFunction } from './bodies.js';
import { BUILTIN_PROCS, FIRST_NORMAL_OBJECT_ID } from './builtins.js';
import { argumentSensitive, splitName } from './functions.js';
import type { Unit } from './types.js';

/**
 * One query for what the snapshot needs (text rows: what, key, function schema, function name):
 * `o` user operator (key: its symbol), `c` user cast with a function (key: target type name),
 * `i` such a cast PostgreSQL may apply implicitly or on assignment, `f` a user aggregate or
 * window function (the masking catalog lists the others), `g` a support function of a user
 * aggregate (key: the aggregate's `schema.name`: calling it runs them), `d` a function a CHECK
 * of a user domain calls (key: the domain's name: a cast to it runs them), `b` every initdb
 * pg_proc row (key: OID; compared with BUILTIN_PROCS here rather than sent as a 3000-row VALUES
 * list).
 */
export const CALLS_QUERY = `SELECT 'o', o.oprname, fn.nspname, p.proname
FROM pg_catalog.pg_operator o
JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode::pg_catalog.oid
JOIN pg_catalog.pg_namespace fn ON fn.oid = p.pronamespace
WHERE o.oid >= ${FIRST_NORMAL_OBJECT_ID}
UNION ALL
SELECT CASE WHEN c.castcontext IN ('i', 'a') THEN 'i' ELSE 'c' END, t.typname, fn.nspname, p.proname
FROM pg_catalog.pg_cast c
JOIN pg_catalog.pg_type t ON t.oid = c.casttarget
JOIN pg_catalog.pg_proc p ON p.oid = c.castfunc
JOIN pg_catalog.pg_namespace fn ON fn.oid = p.pronamespace
WHERE c.oid >= ${FIRST_NORMAL_OBJECT_ID} AND c.castfunc <> 0
UNION ALL
SELECT 'f', p.proname, n.nspname, p.proname
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.oid >= ${FIRST_NORMAL_OBJECT_ID} AND p.prokind IN ('a', 'w')
UNION ALL
SELECT 'g', an.nspname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) ap.proname, fn.nspname, p.proname
FROM pg_catalog.pg_aggregate a
JOIN pg_catalog.pg_proc ap ON ap.oid = a.aggfnoid::pg_catalog.oid
JOIN pg_catalog.pg_namespace an ON an.oid = ap.pronamespace
JOIN pg_catalog.pg_proc p ON p.oid IN (a.aggtransfn::pg_catalog.oid, a.aggfinalfn::pg_catalog.oid,
  a.aggcombinefn::pg_catalog.oid, a.aggserialfn::pg_catalog.oid, a.aggdeserialfn::pg_catalog.oid,
  a.aggmtransfn::pg_catalog.oid, a.aggminvtransfn::pg_catalog.oid, a.aggmfinalfn::pg_catalog.oid)
JOIN pg_catalog.pg_namespace fn ON fn.oid = p.pronamespace
WHERE ap.oid >= ${FIRST_NORMAL_OBJECT_ID}
UNION ALL
SELECT 'd', t.typname, fn.nspname, p.proname
FROM pg_catalog.pg_constraint c
JOIN pg_catalog.pg_type t ON t.oid = c.contypid
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objid = c.oid
  AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
JOIN pg_catalog.pg_proc p ON p.oid = d.refobjid
JOIN pg_catalog.pg_namespace fn ON fn.oid = p.pronamespace
WHERE c.contypid <> 0 AND p.oid >= ${FIRST_NORMAL_OBJECT_ID}
UNION ALL
SELECT 'b', p.oid::pg_catalog.text, n.nspname, p.proname
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.oid < ${FIRST_NORMAL_OBJECT_ID}`;

/** Comparison symbols PostgreSQL also applies without writing them (GROUP BY, DISTINCT, ORDER BY, joins, CASE, IN). */
const IMPLICIT_SYMBOLS = new Set(['=', '<>', '<', '>', '<=', '>=']);

function add(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}

/** The function a row names: `schema.name`, or the bare name for a built-in (rules match it in any schema). */
function qualified(schema: string, name: string): string {
  return schema === 'pg_catalog' ? name : `${schema}.${name}`;
}

export class CallSnapshot {
  /** Unqualified name -> the user functions of that name (`schema.name`). */
  private readonly userFunctions = new Map<string, string[]>();
  /** Schema -> its user functions (`schema.name`), for ALTER SCHEMA ... RENAME. */
  private readonly bySchema = new Map<string, string[]>();
  /** Live name of a renamed built-in -> its original names. */
  private readonly renamed = new Map<string, string[]>();
  private readonly operators = new Map<string, string[]>();
  private readonly casts = new Map<string, string[]>();
  /** User aggregate (`schema.name`) -> the functions it runs. */
  private readonly aggregates = new Map<string, string[]>();
  /** Functions every unit may call without naming them: implicit casts, comparison operators. */
  private readonly implicit: string[] = [];
  private readonly memo = new WeakMap<Unit, Unit>();
  private readonly expanded = new WeakMap<Unit, Unit[]>();
  /** Units that reach an argument-sensitive built-in through an operator, cast or aggregate. */
  private readonly opaque = new WeakMap<Unit, string>();
  /** What calling each user function with a body runs (policy/bodies.ts). */
  private readonly bodies: FunctionBodies;
  /** Nothing in the database changes what a name runs: units pass through untouched. */
  readonly empty: boolean;

  /**
   * `functions`: every user function and procedure — the masking catalog's list, with languages
   * and definitions; `rows`: the rows of CALLS_QUERY.
   */
  constructor(functions: Iterable<UserFunction>, rows: readonly (string | null)[][]) {
    const list = [...functions];
    for (const f of list) add(this.userFunctions, f.name, `${f.schema}.${f.name}`);
    this.bodies = new FunctionBodies(list, (u) => this.resolve(u));
    // Renamed built-ins first: an operator or cast bound to one runs it under its original name.
    for (const r of rows) {
      if (r[0] !== 'b') continue;
      const original = BUILTIN_PROCS.get(Number(r[1]))?.split(':')[0];
      // An OID BUILTIN_PROCS does not know (another major version) is left to its live name.
      if (original !== undefined && original !== r[3]) add(this.renamed, r[3] ?? '', original);
    }
    for (const r of rows) {
      const [what, key, schema, name] = [r[0] ?? '', r[1] ?? '', r[2] ?? '', r[3] ?? ''];
      const fns = [
        qualified(schema, name),
        ...(schema === 'pg_catalog' ? (this.renamed.get(name) ?? []) : []),
      ];
      for (const fn of fns) {
        if (what === 'o') {
          add(this.operators, key, fn);
          if (IMPLICIT_SYMBOLS.has(key) && !this.implicit.includes(fn)) this.implicit.push(fn);
        } else if (what === 'g') {
          add(this.aggregates, key, fn);
        } else if (what === 'c' || what === 'i' || what === 'd') {
          add(this.casts, key, fn);
          if (what === 'i' && !this.implicit.includes(fn)) this.implicit.push(fn);
        }
      }
      if (what === 'f') add(this.userFunctions, key, `${schema}.${name}`);
    }
    for (const keys of this.userFunctions.values())
      for (const key of keys) add(this.bySchema, splitName(key)[0] ?? '', key);
    this.empty =
      this.userFunctions.size === 0 &&
      this.renamed.size === 0 &&
      this.operators.size === 0 &&
      this.casts.size === 0;
  }

  /** What a unit calls once names are read as the server reads them (memoised per unit). */
  resolve(u: Unit): Unit {
    if (this.empty) return u;
    const hit = this.memo.get(u);
    if (hit !== undefined) return hit;
    const extra: string[] = [];
    const push = (list: readonly string[] | undefined) => {
      if (list) for (const f of list) if (!u.functions.includes(f) && !extra.includes(f)) extra.push(f);
    };
    for (const f of u.functions) {
      const [schema, base] = splitName(f);
      // An unqualified name: PostgreSQL picks the best argument match in any schema on the path.
      if (schema === null) push(this.userFunctions.get(base));
      // A qualified one still runs the renamed built-in if that is what lives under the name.
      if (schema === null || schema === 'pg_catalog') push(this.renamed.get(base));
    }
    // `t.f` / `(x).f` with no such column runs f(t).
    for (const field of u.fields ?? []) {
      push(this.userFunctions.get(field));
      push(this.renamed.get(field));
    }
    const direct = extra.length;
    for (const op of u.operators ?? []) push(this.operators.get(splitName(op)[1]));
    for (const t of u.casts ?? []) push(this.casts.get(splitName(t)[1]));
    push(this.implicit);
    push(this.rebound(u));
    // A user aggregate runs its support functions (written by name, or found above).
    if (this.aggregates.size > 0) for (const f of [...u.functions, ...extra]) push(this.aggregates.get(f));
    // What an operator, cast or aggregate runs is called with arguments no statement shows.
    const bound = extra.slice(direct).find(argumentSensitive);
    if (bound !== undefined) this.opaque.set(u, bound);
    const out = extra.length === 0 ? u : { ...u, functions: [...u.functions, ...extra] };
    this.memo.set(u, out);
    return out;
  }

  /** The user functions DDL in `u` renames or moves (policy/rebinds.ts). */
  private rebound(u: Unit): string[] {
    const out: string[] = [];
    for (const r of u.rebinds ?? []) {
      const [schema, base] = splitName(r);
      const keys =
        schema === null
          ? this.userFunctions.get(base)
          : base === '*'
            ? this.bySchema.get(schema)
            : [`${schema}.${base}`];
      for (const k of keys ?? []) if (!out.includes(k)) out.push(k);
    }
    return out;
  }

  /**
   * `resolve(u)`, followed by what the bodies of the user functions it calls run (transitively),
   * inside the unit's own place (memoised per unit; just `[resolve(u)]` when it calls none).
   */
  expand(u: Unit): Unit[] {
    if (this.empty) return [u];
    const hit = this.expanded.get(u);
    if (hit !== undefined) return hit;
    const base = this.resolve(u);
    const out = [base];
    const bound = this.opaque.get(u);
    if (bound !== undefined)
      out.push({
        ...base,
        kind: 'unknown',
        command: base.command,
        writes: true,
        functions: [bound],
        detail: `an operator, cast or aggregate runs ${bound}, with arguments no statement shows`,
      });
    if (u.rebinds !== undefined) out.push(...this.bodies.renamedMembers(this.rebound(u), u.via));
    for (const key of this.bodies.called(base))
      for (const b of this.bodies.closure(key))
        out.push(u.via.length === 0 ? b : { ...b, via: [...u.via, ...b.via] });
    this.expanded.set(u, out);
    return out;
  }
}
