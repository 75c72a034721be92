// Writes into server state: what masked data a statement would store where a later statement
// or another session reads it back unmasked (refused: see docs/contract.md).
// Part of lineage.ts (the public entry).

import { isObj, type Json, type JsonObject, list, wrapper } from '../../policy/parser.js';
import { type MaskRule, STRICTNESS, stricter } from '../rules.js';
import { expr } from './expressions.js';
import { plpgsqlOutput, strictestOf } from './functions.js';
import { query, relationRel } from './queries.js';
import { anyTaint, type CteScope, type Ctx, type OutCol, type Rel, type Scope, wholeRow } from './scope.js';
import { defElems, defString } from './statements.js';
import { CLEAN, str, type Taint, whole } from './taint.js';

// ---------------------------------------------------------------------------------------------
// Writes into server state: masked values must not leave through a table, a setting, a large
// object, a notification, a lock or a sequence, where a later statement (or another session)
// would read them back in clear. Each is refused (docs/contract.md "Masked data and server
// state"); writing a masked column back into a column masked at least as strictly is allowed.

export interface MaskedWrite {
  /** Where masked values would go ("public.copy.email", "a setting (set_config)"). */
  target: string;
  /** The masked columns read by the value written (`pii.customers.email`); empty = not known. */
  columns: readonly string[];
  rule: MaskRule;
  /** Why the statement is refused, for the client. */
  reason: string;
}

export const SERVER_STATE = 'masked values cannot leave through server state';

export function copiesReason(target: string, columns: readonly string[], rule: MaskRule): string {
  const what =
    columns.length === 0
      ? `masked data (rule "${rule.name}")`
      : `masked column${columns.length > 1 ? 's' : ''} ${columns.join(', ')}`;
  return `this statement copies ${what} into ${target}; ${SERVER_STATE}`;
}

export function noteWrite(
  ctx: Ctx,
  target: string,
  rule: MaskRule | null,
  columns: Iterable<string>,
  reason?: string,
): void {
  if (rule === null) return;
  const cols = [...new Set(columns)].sort();
  ctx.writes.push({ target, columns: cols, rule, reason: reason ?? copiesReason(target, cols, rule) });
}

/** Runs f, collecting the masked columns it reads on their own (still counted outside too). */
export function tracked<T>(ctx: Ctx, f: () => T): { value: T; cols: string[] } {
  const outer = ctx.readCols;
  const own = new Set<string>();
  ctx.readCols = own;
  try {
    return { value: f(), cols: [...own] };
  } finally {
    for (const c of own) outer.add(c);
    ctx.readCols = outer;
  }
}

/** Whether a column's rule masks at least as strictly as a value's own rule. */
export function covers(target: MaskRule | null, value: MaskRule): boolean {
  return target !== null && STRICTNESS[target.strategy] >= STRICTNESS[value.strategy];
}

export function relLabel(rv: JsonObject): string {
  const schema = str(rv.schemaname);
  return `${schema === null ? '' : `${schema}.`}${str(rv.relname) ?? ''}`;
}

export function targetRule(rel: Rel, col: string): MaskRule | null {
  if (rel.columns === null) return rel.unknown;
  return rel.columns.find((c) => c.name === col)?.taint.rule ?? null;
}

/**
 * INSERT / UPDATE / MERGE / ON CONFLICT DO UPDATE: each value written into a column of the target
 * (scope.rels[0]) that reads masked data must land in a column masked at least as strictly. A
 * relation unknown to the catalog masks nothing, so masked values may not go there.
 */
export function dmlWrites(type: string, b: JsonObject, scope: Scope, ctx: Ctx, cs: CteScope | null): void {
  ctx.effects.state = true;
  const target = scope.rels[0];
  const label = relLabel(b.relation as JsonObject);
  const check = (col: string, t: Taint, cols: string[]): void => {
    if (t.rule !== null && !covers(targetRule(target, col), t.rule))
      noteWrite(ctx, `${label}.${col}`, t.rule, cols);
  };
  const setList = (items: Json[], sc: Scope): void => {
    for (const it of items) {
      const w = wrapper(it);
      if (!w || typeof w[1].name !== 'string') continue;
      const name = w[1].name;
      const { value, cols } = tracked(ctx, () => expr(w[1].val, sc, ctx));
      check(name, value, cols);
    }
  };
  /** Values in order into named columns (none named: the target's columns in order). */
  const rows = (named: string[], values: OutCol[], cols: string[]): Rel => {
    const names = named.length > 0 ? named : (target.columns?.map((c) => c.name ?? '') ?? []);
    if (values.some((c) => c.star) || names.length < values.length) {
      // Columns that cannot be lined up: every column written must cover the strictest value.
      const t = whole(...values.map((c) => c.taint));
      if (t.rule !== null) {
        const all = named.length > 0 ? named : null;
        const uncovered =
          all === null
            ? target.columns === null
              ? !covers(target.unknown, t.rule)
              : target.columns.some((c) => !covers(c.taint.rule, t.rule as MaskRule))
            : all.some((n) => !covers(targetRule(target, n), t.rule as MaskRule));
        if (uncovered) noteWrite(ctx, label, t.rule, cols);
      }
      return { alias: 'excluded', columns: null, unknown: t.rule };
    }
    values.forEach((c, i) => {
      check(names[i], c.taint, cols);
    });
    return {
      alias: 'excluded',
      columns: names.map((n, i) => ({ name: n, taint: values[i]?.taint ?? CLEAN })),
      unknown: null,
    };
  };
  const targetNames = (items: Json[]): string[] => items.map((c) => str(wrapper(c)?.[1].name) ?? '');
  if (type === 'InsertStmt') {
    const src =
      b.selectStmt === undefined || b.selectStmt === null
        ? { value: [] as OutCol[], cols: [] as string[] }
        : tracked(ctx, () => query(b.selectStmt, null, ctx, cs));
    const excluded = rows(targetNames(list(b.cols)), src.value, src.cols);
    const oc = isObj(b.onConflictClause) ? b.onConflictClause : null;
    if (oc) {
      const sc: Scope = { rels: [target, excluded], parent: null };
      setList(list(oc.targetList), sc);
      expr(oc.whereClause, sc, ctx);
    }
  } else if (type === 'UpdateStmt') setList(list(b.targetList), scope);
  else if (type === 'MergeStmt') {
    for (const wc of list(b.mergeWhenClauses)) {
      const w = wrapper(wc);
      if (!w) continue;
      expr(w[1].condition, scope, ctx);
      if (w[1].commandType === 'CMD_UPDATE') setList(list(w[1].targetList), scope);
      else if (w[1].commandType === 'CMD_INSERT') {
        const src = tracked(ctx, () =>
          list(w[1].values).map((v) => ({ name: null, taint: expr(v, scope, ctx) })),
        );
        rows(targetNames(list(w[1].targetList)), src.value, src.cols);
      }
    }
  }
}

/** CREATE TABLE AS / SELECT INTO / CREATE MATERIALIZED VIEW from masked columns. */
export function intoWrites(
  ctx: Ctx,
  into: JsonObject | null,
  outputs: OutCol[],
  cols: string[],
  kind: string,
): void {
  const rel = into && isObj(into.rel) ? into.rel : null;
  if (!rel) return;
  ctx.effects.state = true;
  noteWrite(ctx, `${kind} ${relLabel(rel)}`, strictestOf(outputs), cols);
}

/** Built-ins whose arguments end up in server state that other statements read back. */
export const STATE_WRITERS: ReadonlyMap<string, string> = new Map([
  ['set_config', 'a setting (set_config)'],
  ['pg_notify', 'a notification (pg_notify)'],
  ['lo_from_bytea', 'a large object (lo_from_bytea)'],
  ['lowrite', 'a large object (lowrite)'],
  ['lo_put', 'a large object (lo_put)'],
  ['lo_create', 'a large object number (lo_create)'],
  ['lo_import', 'a large object (lo_import)'],
  ['setval', 'a sequence (setval)'],
  ['pg_advisory_lock', 'an advisory lock key'],
  ['pg_advisory_lock_shared', 'an advisory lock key'],
  ['pg_advisory_xact_lock', 'an advisory lock key'],
  ['pg_advisory_xact_lock_shared', 'an advisory lock key'],
  ['pg_try_advisory_lock', 'an advisory lock key'],
  ['pg_try_advisory_lock_shared', 'an advisory lock key'],
  ['pg_try_advisory_xact_lock', 'an advisory lock key'],
  ['pg_try_advisory_xact_lock_shared', 'an advisory lock key'],
  ['pg_logical_emit_message', 'the write-ahead log (pg_logical_emit_message)'],
  ['pg_create_restore_point', 'a restore point'],
  ['pg_replication_origin_create', 'a replication origin'],
]);

/** Statements that attach code to a relation: later writes to it could copy its values anywhere. */
export function attachWrites(type: string, b: JsonObject, ctx: Ctx): void {
  const rv = isObj(b.relation) ? b.relation : isObj(b.table) ? b.table : null;
  if (!rv) return;
  const rule = wholeRow(relationRel(rv, null, ctx, null)).rule;
  const what =
    type === 'CreateTrigStmt' ? 'a trigger' : type === 'RuleStmt' ? 'a rule' : 'a row security policy';
  noteWrite(
    ctx,
    `${what} on ${relLabel(rv)}`,
    rule,
    [],
    `this statement creates ${what} on ${relLabel(rv)}, which has masked columns: it could copy their values elsewhere; ${SERVER_STATE}`,
  );
}

/** A DO block's body (PL/pgSQL): the statements it runs, as a function body's. */
export function doWrites(b: JsonObject, ctx: Ctx): void {
  const opts = defElems(b.args);
  const lang = (defString(opts.get('language')) ?? 'plpgsql').toLowerCase();
  const body = defString(opts.get('as'));
  // What the block reads can come back in what it RAISEs (notices, errors) or in any other side
  // channel: the statement reads it. A body that cannot be analysed (another language, dynamic
  // SQL, one that does not parse) may read any masked column.
  if (lang !== 'plpgsql' || body === null) {
    anyTaint(ctx);
    return;
  }
  let tag = 'bastion';
  while (body.includes(`$${tag}$`)) tag += '_';
  const r = plpgsqlOutput(
    `CREATE FUNCTION pg_temp.bastion_do() RETURNS void LANGUAGE plpgsql AS $${tag}$${body}$${tag}$`,
    ctx,
  );
  if (r === null) {
    anyTaint(ctx);
    return;
  }
  ctx.reads = stricter(ctx.reads, r.extra);
  for (const cols of r.out) for (const c of cols) ctx.reads = stricter(ctx.reads, c.taint.rule);
}
