// Opens a session store from where it is: an SQLite file path, or a postgres:// URL (the shared
// store of a team, read through PgSessionStore).

import { PgSessionStore } from './pg/pg-store.js';
import type { StoreTarget } from './pg/target.js';
import { isStoreUrl, parseStoreUrl } from './pg/url.js';
import { openSqliteStore } from './sqlite-store.js';
import type { SessionStore } from './types.js';

export { isStoreUrl };

export interface OpenStoreOptions {
  readonly?: boolean;
  /** A password for a URL without one (from a password file); else PGPASSWORD applies. */
  password?: string;
}

/** A shared store (always read-only: records arrive through the gateways' shippers). */
export function openSharedStore(target: StoreTarget): PgSessionStore {
  return new PgSessionStore(target);
}

export function openStore(where: string, opts: OpenStoreOptions = {}): SessionStore {
  if (isStoreUrl(where)) {
    const target = parseStoreUrl(where);
    if (target.password === null && opts.password !== undefined) target.password = opts.password;
    return openSharedStore(target);
  }
  return openSqliteStore(where, { readonly: opts.readonly });
}
