// What is known about functions by name: the server file / process functions the default policy
// blocks, the built-ins that write, the ones that run SQL given as text, and name matching.

import { BUILTIN_FUNCTION_NAMES } from './builtins.js';

/**
 * Server file and process functions (core, adminpack, dblink, replication and backup control).
 * Glob patterns: `*` any run of characters. The built-in default policy blocks every call.
 */
export const SERVER_FUNCTION_PATTERNS: readonly string[] = [
  'pg_read_file',
  'pg_read_binary_file',
  'pg_ls_*',
  'pg_stat_file',
  'pg_file_*',
  'pg_logdir_ls',
  'lo_import',
  'lo_export',
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_signal_backend',
  'pg_reload_conf',
  'pg_rotate_logfile*',
  'pg_promote',
  'pg_switch_wal',
  'pg_switch_xlog',
  'pg_create_restore_point',
  'pg_backup_start',
  'pg_backup_stop',
  'pg_start_backup',
  'pg_stop_backup',
  'pg_log_backend_memory_contexts',
  'pg_wal_replay_*',
  'pg_xlog_replay_*',
  'pg_*_replication_slot',
  'pg_replication_slot_advance',
  'pg_logical_slot_get_*',
  'pg_replication_origin_*',
  'pg_sync_replication_slots',
  'pg_import_system_collations',
  'pg_stat_reset*',
  'binary_upgrade_*',
  'pg_stop_making_pinned_objects',
  'pg_logical_emit_message',
  'dblink*',
  // The server's configuration files and their whereabouts (the views over them are in
  // SERVER_FILE_RELATIONS): pg_hba.conf, pg_ident.conf, postgresql.conf and its includes.
  'pg_hba_file_rules',
  'pg_ident_file_mappings',
  'pg_show_all_file_settings',
  'pg_current_logfile',
  'pg_config',
];

/** Views that read the server's files (configuration, build paths): blocked like the functions under them. */
export const SERVER_FILE_RELATIONS: readonly string[] = [
  'pg_hba_file_rules',
  'pg_ident_file_mappings',
  'pg_file_settings',
  'pg_config',
];

/** Built-ins that change data or server state even though they are called from a SELECT. */
const WRITING_BUILTINS = new Set([
  'nextval',
  'setval',
  'lo_creat',
  'lo_create',
  'lo_from_bytea',
  'lo_put',
  'lo_truncate',
  'lo_truncate64',
  'lo_unlink',
  'lowrite',
  'lo_import',
  'lo_export',
  'pg_logical_emit_message',
  'pg_restore_relation_stats',
  'pg_restore_attribute_stats',
  'pg_clear_relation_stats',
  'pg_clear_attribute_stats',
  'brin_summarize_new_values',
  'brin_summarize_range',
  'brin_desummarize_range',
  'gin_clean_pending_list',
  'pg_extension_config_dump',
  'pg_nextoid',
  'pg_notify',
]);

/** Functions that run a query given as text: argument index of the SQL. */
export const SQL_TEXT_ARGUMENT: ReadonlyMap<string, (argc: number) => number | null> = new Map<
  string,
  (argc: number) => number | null
>([
  ['query_to_xml', () => 0],
  ['query_to_xmlschema', () => 0],
  ['query_to_xml_and_xmlschema', () => 0],
  ['ts_stat', () => 0],
  ['ts_rewrite', (argc: number) => (argc === 2 ? 1 : null)],
  // tablefunc: crosstab(source_sql [, category_sql | N]); crosstabN(source_sql).
  ['crosstab', () => 0],
  ['crosstab2', () => 0],
  ['crosstab3', () => 0],
  ['crosstab4', () => 0],
]);

/** Built-ins whose first argument (regclass) names the relation they dump whole. */
export const RELATION_DUMPING = new Set(['table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema']);

/**
 * Built-ins that dump every relation of a schema or database: which relations they read cannot be
 * checked against relation rules or masking, so they count as opaque.
 */
export const SCHEMA_DUMPING = new Set([
  'schema_to_xml',
  'schema_to_xmlschema',
  'schema_to_xml_and_xmlschema',
  'database_to_xml',
  'database_to_xmlschema',
  'database_to_xml_and_xmlschema',
]);

/**
 * Extension functions that build and run SQL out of their text arguments (tablefunc's connectby
 * splices relation and column names unquoted; xml2's xpath_table a relation name and a WHERE
 * clause): what they run cannot be read, so they count as opaque.
 */
export const SQL_BUILDING = new Set(['connectby', 'xpath_table']);

/**
 * Built-ins whose effect depends on their arguments, which the analyser reads at a call site
 * (`set_config('role', ...)`, the SQL text of `query_to_xml('...')`). Bound to an aggregate,
 * operator or cast, they are called with arguments no statement shows: such a binding is opaque.
 */
export function argumentSensitive(name: string): boolean {
  const [, base] = splitName(name);
  return (
    base === 'set_config' ||
    SQL_TEXT_ARGUMENT.has(base) ||
    RELATION_DUMPING.has(base) ||
    SCHEMA_DUMPING.has(base) ||
    SQL_BUILDING.has(base)
  );
}

const BUILTIN_SCHEMAS = new Set(['pg_catalog', 'information_schema']);

/** "pg_catalog.lower" -> ["pg_catalog", "lower"]; "lower" -> [null, "lower"]. */
export function splitName(name: string): [string | null, string] {
  const i = name.lastIndexOf('.');
  return i < 0 ? [null, name] : [name.slice(0, i), name.slice(i + 1)];
}

/** A built-in function of pg_catalog / information_schema (by name; any argument types). */
export function isBuiltinFunction(name: string): boolean {
  const [schema, base] = splitName(name);
  if (schema !== null && !BUILTIN_SCHEMAS.has(schema)) return false;
  return BUILTIN_FUNCTION_NAMES.has(base);
}

/** True for a function that a read-only policy must refuse: a built-in that writes, or one that is not a known built-in. */
export function mayWrite(name: string): boolean {
  const [, base] = splitName(name);
  if (!isBuiltinFunction(name)) return true;
  return WRITING_BUILTINS.has(base) || serverFunctions().test(base);
}

let serverPatterns: NamePatterns | null = null;
function serverFunctions(): NamePatterns {
  serverPatterns ??= new NamePatterns(SERVER_FUNCTION_PATTERNS);
  return serverPatterns;
}

const globCache = new Map<string, RegExp>();

/** `*` any run of characters, `?` one character; everything else literal; case-insensitive, whole string. */
export function globToRegExp(glob: string): RegExp {
  let r = globCache.get(glob);
  if (r === undefined) {
    const body = glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    r = new RegExp(`^${body}$`, 'i');
    globCache.set(glob, r);
  }
  return r;
}

/** Where an unqualified name resolves with the default search path. */
const DEFAULT_SEARCH_PATH = ['pg_catalog', 'public'];

/**
 * A qualified-name pattern against a name as written. "pg_read_file" matches it in any schema;
 * "pg_catalog.pg_read_file" matches "pg_catalog.pg_read_file" and the unqualified
 * "pg_read_file" (which the default search path resolves there), not "other.pg_read_file";
 * "public.customers" matches "customers", but "scratch.*" does not (write "customers" to match
 * a name in every schema).
 */
export function nameMatches(pattern: string, name: string): boolean {
  const [ps, pb] = splitName(pattern);
  const [ns, nb] = splitName(name);
  if (!globToRegExp(pb).test(nb)) return false;
  if (ps === null) return true;
  const schema = globToRegExp(ps);
  return ns === null ? DEFAULT_SEARCH_PATH.some((s) => schema.test(s)) : schema.test(ns);
}

/** A list of name patterns, compiled once: `test(name)` is nameMatches against any of them. */
export class NamePatterns {
  private readonly anySchema: RegExp | null;
  private readonly qualified: [RegExp, RegExp][];

  constructor(readonly patterns: readonly string[]) {
    const bare: string[] = [];
    this.qualified = [];
    for (const p of patterns) {
      const [schema, base] = splitName(p);
      if (schema === null) bare.push(globToRegExp(base).source.slice(1, -1));
      else this.qualified.push([globToRegExp(schema), globToRegExp(base)]);
    }
    this.anySchema = bare.length > 0 ? new RegExp(`^(?:${bare.join('|')})$`, 'i') : null;
  }

  test(name: string): boolean {
    const [ns, nb] = splitName(name);
    if (this.anySchema?.test(nb)) return true;
    for (const [schema, base] of this.qualified) {
      if (!base.test(nb)) continue;
      if (ns === null ? DEFAULT_SEARCH_PATH.some((s) => schema.test(s)) : schema.test(ns)) return true;
    }
    return false;
  }
}

/** Whole-string globs (identity names): one combined, case-insensitive expression. */
export class GlobList {
  private readonly re: RegExp;

  constructor(readonly patterns: readonly string[]) {
    this.re = new RegExp(`^(?:${patterns.map((p) => globToRegExp(p).source.slice(1, -1)).join('|')})$`, 'i');
  }

  test(value: string): boolean {
    return this.re.test(value);
  }
}
