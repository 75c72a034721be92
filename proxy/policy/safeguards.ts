// Settings that switch off the server's own safeguards or its audit trail. With a superuser (or a
// role granted SET on them) upstream, an agent could `SET session_replication_role = replica`
// (triggers, audit triggers included, and foreign keys stop firing), `SET allow_system_table_mods`
// (write the catalogs), `SET zero_damaged_pages`, or turn the server's statement logging off. Each
// is a `safeguard_setting` unit, which the default policy blocks; RESET and SET ... TO DEFAULT go
// back to the server's value and stay allowed.
// https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-SESSION-REPLICATION-ROLE

/** Exact names (lower case). */
const SAFEGUARD_SETTINGS: ReadonlySet<string> = new Set([
  'session_replication_role',
  'allow_system_table_mods',
  'allow_in_place_tablespaces',
  'zero_damaged_pages',
  'lo_compat_privileges',
  'session_preload_libraries',
  'local_preload_libraries',
  'jit_provider',
  'dynamic_library_path',
]);

/** Families (lower-case prefixes): logging, tracking, debugging and the ignore_* overrides. */
const SAFEGUARD_PREFIXES: readonly string[] = ['log_', 'debug_', 'track_', 'ignore_'];

/** Whether setting `name` to a value could switch off a server safeguard or its audit trail. */
export function isSafeguardSetting(name: string): boolean {
  const n = name.toLowerCase();
  return SAFEGUARD_SETTINGS.has(n) || SAFEGUARD_PREFIXES.some((p) => n.startsWith(p));
}
