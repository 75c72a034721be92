// What a statement does beyond its kind, for the guardrails: writes to the system catalogs (an
// `UPDATE pg_proc` rewrites a function after its body was checked, `INSERT INTO
// pg_db_role_setting` sets a persistent setting), statements that reach the server's
// configuration, file system or network (ALTER DATABASE ... SET, tablespaces, subscriptions), and
// writes whose rows nothing narrows although they do not look like an UPDATE (an upsert from a
// SELECT, ALTER COLUMN ... TYPE ... USING rewriting every row).

import { isObj, type Json, type JsonObject, list, wrapper } from './parser.js';
import { relOf } from './self-join.js';
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
  AlterDatabaseStmt:
    'ALTER DATABASE ... WITH (connection limit, connections allowed, template, tablespace: every session of it)',
  CreateTableSpaceStmt: 'CREATE TABLESPACE (creates a directory on the server)',
  AlterTableSpaceOptionsStmt: 'ALTER TABLESPACE',
  AlterTableMoveAllStmt: 'ALTER TABLE ALL IN TABLESPACE',
  CreateSubscriptionStmt: 'CREATE SUBSCRIPTION (connects out and applies changes as a superuser)',
  AlterSubscriptionStmt: 'ALTER SUBSCRIPTION',
};

export function reachUnits(type: string, b: JsonObject, unit: Unit): ExtraUnit[] {
  const out: ExtraUnit[] = [];
  const wide =
    type === 'RenameStmt' && b.renameType === 'OBJECT_DATABASE'
      ? 'ALTER DATABASE ... RENAME (every client that names it)'
      : SERVER_WIDE[type];
  if (wide !== undefined) out.push({ kind: 'alter_system', command: wide, targets: [] });
  // A table inheriting a system catalog changes the catalog itself (relhassubclass) and what
  // scans of it read.
  if (type === 'CreateStmt') {
    const parents = list(b.inhRelations)
      .map((r) => relOf(r))
      .filter((r) => r !== null)
      .map((r) => (r.schema === null ? r.name : `${r.schema}.${r.name}`))
      .filter(isCatalogRelation);
    if (parents.length > 0)
      out.push({
        kind: 'builtin_override',
        command: `CREATE TABLE ... INHERITS the system catalog ${parents.join(', ')}`,
        targets: parents,
      });
  }
  if (unit.writes) {
    const catalogs = unit.targets.filter(isCatalogRelation);
    if (catalogs.length > 0)
      out.push({
        kind: 'builtin_override',
        command: `${unit.command} of the system catalog ${catalogs.join(', ')}`,
        targets: catalogs,
      });
  }
  // A simple view over a system catalog (or pg_settings, whose UPDATE is set_config) is
  // updatable: writing through it writes the catalog under a name no rule knows.
  if (type === 'ViewStmt' || type === 'RuleStmt') {
    const over = catalogNamed(b);
    if (over !== null)
      out.push({
        kind: 'builtin_override',
        command: `${unit.command} over the system catalog ${over} (writing through it writes the catalog)`,
        targets: [],
      });
  }
  // A type or domain named like a built-in type: pg_temp comes first on the path for types, so
  // `CREATE DOMAIN pg_temp.text AS varchar(4)` changes what every `'...'::text` means.
  if (TYPE_CREATING.has(type)) {
    const name = createdTypeName(type, b);
    if (name !== null && BUILTIN_TYPE_NAMES.has(name))
      out.push({
        kind: 'builtin_override',
        command: `${unit.command} ${name} (shadows the built-in type)`,
        targets: [],
      });
  }
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

/** The first system catalog relation the statement names (a RangeVar anywhere), or null. */
function catalogNamed(v: Json | undefined, depth = 0): string | null {
  if (depth > 200 || v === null || typeof v !== 'object') return null;
  if (Array.isArray(v)) {
    for (const x of v) {
      const n = catalogNamed(x, depth + 1);
      if (n !== null) return n;
    }
    return null;
  }
  if (typeof v.relname === 'string') {
    const name = typeof v.schemaname === 'string' ? `${v.schemaname}.${v.relname}` : v.relname;
    if (isCatalogRelation(name)) return name;
  }
  for (const x of Object.values(v)) {
    const n = catalogNamed(x, depth + 1);
    if (n !== null) return n;
  }
  return null;
}

const TYPE_CREATING = new Set([
  'CreateDomainStmt',
  'CompositeTypeStmt',
  'CreateEnumStmt',
  'CreateRangeStmt',
  'DefineStmt',
]);

/** The unqualified name of the type a statement creates, or null. */
function createdTypeName(type: string, b: JsonObject): string | null {
  if (type === 'DefineStmt' && b.kind !== 'OBJECT_TYPE') return null;
  // CREATE DOMAIN names its domain in domainname (typeName is the base type); enums and ranges
  // in typeName; CREATE TYPE (DefineStmt) in defnames.
  const nameList =
    type === 'CreateDomainStmt' ? b.domainname : type === 'DefineStmt' ? b.defnames : b.typeName;
  if (type === 'CompositeTypeStmt') {
    const rv = isObj(b.typevar) ? b.typevar : null;
    return rv !== null && typeof rv.relname === 'string' ? rv.relname : null;
  }
  const w = wrapper(nameList as Json | undefined);
  const names = w?.[0] === 'TypeName' ? list(w[1].names) : list(nameList as Json | undefined);
  const last = names.at(-1);
  const lw = wrapper(last);
  return lw?.[0] === 'String' && typeof lw[1].sval === 'string' ? lw[1].sval : null;
}

/** Built-in type names of pg_catalog (PostgreSQL 18; array types are these with a leading _). */
const BUILTIN_TYPE_NAMES: ReadonlySet<string> = new Set(
  `aclitem any anyarray anycompatible anycompatiblearray anycompatiblemultirange anycompatiblenonarray
anycompatiblerange anyelement anyenum anymultirange anynonarray anyrange bit bool box bpchar bytea
char cid cidr circle cstring date datemultirange daterange event_trigger fdw_handler float4 float8
gtsvector index_am_handler inet int2 int2vector int4 int4multirange int4range int8 int8multirange
int8range internal interval json jsonb jsonpath language_handler line lseg macaddr macaddr8 money
name numeric nummultirange numrange oid oidvector path pg_brin_bloom_summary
pg_brin_minmax_multi_summary pg_ddl_command pg_dependencies pg_lsn pg_mcv_list pg_ndistinct
pg_node_tree pg_snapshot point polygon record refcursor regclass regcollation regconfig
regdictionary regnamespace regoper regoperator regproc regprocedure regrole regtype
table_am_handler text tid time timestamp timestamptz timetz trigger tsm_handler tsmultirange
tsquery tsrange tstzmultirange tstzrange tsvector txid_snapshot unknown uuid varbit varchar void
xid xid8 xml integer int smallint bigint real boolean decimal character varying`
    .split(/\s+/)
    .flatMap((n) => [n, `_${n}`]),
);
