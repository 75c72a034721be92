// What lineage needs to know about relations (the resolver), parse-tree helpers, and taints:
// what an expression carries (the strictest masked input, JSON keys, record fields).
// Part of lineage.ts (the public entry).

import { isObj, type Json, list, sval, wrapper } from '../../policy/parser.js';
import { type MaskRule, stricter } from '../rules.js';
import type { MaskedWrite } from './writes.js';

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
  /** Masked data its body writes into server state (each call does it again). */
  writes?: readonly MaskedWrite[];
  /** Its body writes server state at all: masked arguments could be stored. */
  writesState?: boolean;
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

export function str(v: Json | undefined): string | null {
  return typeof v === 'string' ? v : null;
}

export function names(v: Json | undefined): string[] {
  return list(v).map((x) => sval(x) ?? '');
}

/** A string constant ('a', 'a'::text). */
export function constString(v: Json | undefined): string | null {
  const w = wrapper(v);
  if (!w) return null;
  if (w[0] === 'A_Const')
    return isObj(w[1].sval) && typeof w[1].sval.sval === 'string' ? w[1].sval.sval : null;
  if (w[0] === 'TypeCast') return constString(w[1].arg);
  return null;
}

// ---------------------------------------------------------------------------------------------
// Taints

export interface RecordShape {
  names: readonly string[];
  rules: readonly (MaskRule | null)[];
  types: readonly (number | null)[];
  /** Nested JSON keys of fields that are themselves JSON. */
  json: readonly (ReadonlyMap<string, MaskRule> | null)[];
}

/** What an expression carries: the rule (strictest masked input), and structure when known. */
export interface Taint {
  rule: MaskRule | null;
  json: ReadonlyMap<string, MaskRule> | null;
  record: RecordShape | null;
  typeOid: number | null;
  /** A masked column itself (`customers.email`): named in refusals of writes that copy it. */
  src?: string;
}

export const CLEAN: Taint = Object.freeze({ rule: null, json: null, record: null, typeOid: null });

export function whole(...ts: Taint[]): Taint {
  let rule: MaskRule | null = null;
  for (const t of ts) rule = stricter(rule, t.rule);
  return rule === null ? CLEAN : { rule, json: null, record: null, typeOid: null };
}

export function mergeMaps(
  a: ReadonlyMap<string, MaskRule> | null,
  b: ReadonlyMap<string, MaskRule> | null,
): Map<string, MaskRule> {
  const m = new Map(a ?? []);
  for (const [k, r] of b ?? []) m.set(k, stricter(m.get(k) ?? null, r) as MaskRule);
  return m;
}

/** The JSON key map a value contributes when placed inside a JSON document. */
export function asJsonKeys(t: Taint): Map<string, MaskRule> | null {
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
export function structural(ts: Taint[]): Taint {
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

export function jsonOf(t: Taint): Taint {
  const keys = asJsonKeys(t);
  return keys === null ? CLEAN : { rule: t.rule, json: keys, record: null, typeOid: null };
}
