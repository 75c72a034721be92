// search_path decides what an unqualified function name calls. pg_catalog is searched first
// unless the path names it explicitly later: `SET search_path = evil, pg_catalog` makes
// `lower(x)` call `evil.lower` when one exists, and the analyser, which reads names as a default
// session does, would see a call of the built-in. A path the gateway cannot read (a computed
// set_config value) is as bad. Both are refused (see analyze.ts: SET, set_config, a function's
// SET clause, ALTER ROLE / DATABASE ... SET).
// https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-SEARCH-PATH

/** Schema names of a search_path string, as PostgreSQL's SplitIdentifierString reads it; null if malformed. */
export function parseSearchPath(value: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  const ws = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f';
  for (;;) {
    while (ws(value[i])) i++;
    if (i >= value.length) return out.length === 0 ? out : null;
    let name = '';
    if (value[i] === '"') {
      i++;
      for (;;) {
        if (i >= value.length) return null;
        if (value[i] === '"') {
          if (value[i + 1] === '"') {
            name += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        name += value[i++];
      }
    } else {
      const start = i;
      while (i < value.length && value[i] !== ',' && !ws(value[i])) i++;
      name = value.slice(start, i).toLowerCase();
      if (name === '') return null;
    }
    out.push(name);
    while (ws(value[i])) i++;
    if (i >= value.length) return out;
    if (value[i] !== ',') return null;
    i++;
  }
}

/**
 * Why a search_path lets user functions shadow built-ins by name (a schema listed before an
 * explicit pg_catalog), or the gateway cannot know it (null `schemas`); null when it is safe.
 */
export function unsafeSearchPath(schemas: readonly string[] | null): string | null {
  if (schemas === null) return 'search_path set to a value the gateway cannot read';
  const at = schemas.indexOf('pg_catalog');
  if (at <= 0) return null;
  return `search_path puts ${schemas.slice(0, at).join(', ')} before pg_catalog, so unqualified names could call functions that shadow built-ins`;
}

/** For a session's starting settings (the startup packet, the server's ParameterStatus at login). */
export function unsafeSearchPathSetting(name: string, value: string): string | null {
  return name.toLowerCase() === 'search_path' ? unsafeSearchPath(parseSearchPath(value)) : null;
}
