// What a statement does beyond its kind, for the guardrails: writes to the system catalogs (an
// `UPDATE pg_proc` rewrites a function after its body was checked, `INSERT INTO
// pg_db_role_setting` sets a persistent setting), statements that reach the server's
// configuration, file system or network (ALTER DATABASE ... SET, tablespaces, subscriptions), and
// writes whose rows nothing narrows although they do not look like an UPDATE (an upsert from a
// SELECT, ALTER COLUMN ... TYPE ... USING rewriting every row).

import { isObj, type Json, type JsonObject, list, wrapper } from './parser.js';
import type { StatementKind, Unit } from './types.js';
import { isConstantTrue } from './where.js';

export interface ExtraUnit {
  kind: StatementKind;
  command: string;
  targets: string[];
  where?: 'present' | 'absent';
}

/** Schemas whose relations are the server's own. */
const CATALOG_SCHEMAS = new Set(['pg_catalog', 'information_schema', 'pg_toast']);

/**
 * A relation name (as written, "schema.name" or "name") that is, or may be, a system catalog:
 * pg_catalog comes first on every search path for relations but pg_temp, so an unqualified pg_*
 * name is the catalog's (or a temporary relation shadowing it, which is no better).
 */
export function isCatalogRelation(name: string): boolean {
  const i = name.lastIndexOf('.');
  if (i < 0) return name.startsWith('pg_');
  const schema = name.slice(0, i);
  return CATALOG_SCHEMAS.has(schema) || (schema.startsWith('pg_temp') && name.slice(i + 1).startsWith('pg_'));
}

/** Server-wide statements: their effect reaches every session, the file system or the network. */
const SERVER_WIDE: Record<string, string> = {
  AlterDatabaseSetStmt: 'ALTER DATABASE ... SET (a persistent setting for every session)',
  CreateTableSpaceStmt: 'CREATE TABLESPACE (creates a directory on the server)',
  AlterTableSpaceOptionsStmt: 'ALTER TABLESPACE',
  AlterTableMoveAllStmt: 'ALTER TABLE ALL IN TABLESPACE',
  CreateSubscriptionStmt: 'CREATE SUBSCRIPTION (connects out and applies changes as a superuser)',
  AlterSubscriptionStmt: 'ALTER SUBSCRIPTION',
};

export function reachUnits(type: string, b: JsonObject, unit: Unit): ExtraUnit[] {
  const out: ExtraUnit[] = [];
  const wide = SERVER_WIDE[type];
  if (wide !== undefined) out.push({ kind: 'alter_system', command: wide, targets: [] });
  if (unit.writes) {
    const catalogs = unit.targets.filter(isCatalogRelation);
    if (catalogs.length > 0)
      out.push({
        kind: 'builtin_override',
        command: `${unit.command} of the system catalog ${catalogs.join(', ')}`,
        targets: catalogs,
      });
  }
  // pg_settings is the one catalog view that can be written (UPDATE of it is set_config): a view
  // or rule over it writes settings under a name no rule knows.
  if ((type === 'ViewStmt' || type === 'RuleStmt') && namesRelation(b, 'pg_settings'))
    out.push({
      kind: 'builtin_override',
      command: `${unit.command} over pg_settings (writing through it changes settings)`,
      targets: [],
    });
  if (type === 'InsertStmt' && upsertFromQuery(b)) {
    const clause = isObj(b.onConflictClause) ? b.onConflictClause.whereClause : undefined;
    out.push({
      kind: 'update',
      command: 'INSERT ... SELECT ... ON CONFLICT DO UPDATE',
      targets: [...unit.targets],
      where: clause === undefined || isConstantTrue(clause) ? 'absent' : 'present',
    });
  }
  if (type === 'AlterTableStmt') {
    for (const c of list(b.cmds)) {
      const w = wrapper(c);
      if (w?.[0] !== 'AlterTableCmd' || w[1].subtype !== 'AT_AlterColumnType') continue;
      const def = wrapper(w[1].def);
      if (def?.[0] === 'ColumnDef' && def[1].raw_default !== undefined)
        out.push({
          kind: 'update',
          command: `ALTER TABLE ... ALTER COLUMN ${String(w[1].name ?? '')} TYPE ... USING (rewrites every row)`,
          targets: [...unit.targets],
          where: 'absent',
        });
    }
  }
  return out;
}

/** INSERT ... SELECT ... ON CONFLICT DO UPDATE: it updates as many rows as the query yields. */
function upsertFromQuery(b: JsonObject): boolean {
  if (!isObj(b.onConflictClause) || b.onConflictClause.action !== 'ONCONFLICT_UPDATE') return false;
  const sel = wrapper(b.selectStmt as Json | undefined);
  return sel?.[0] === 'SelectStmt' && sel[1].valuesLists === undefined;
}

/** Whether the statement names relation `name` anywhere (a RangeVar, any schema). */
function namesRelation(v: Json | undefined, name: string, depth = 0): boolean {
  if (depth > 200 || v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some((x) => namesRelation(x, name, depth + 1));
  if (v.relname === name) return true;
  return Object.values(v).some((x) => namesRelation(x, name, depth + 1));
}
