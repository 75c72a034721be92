import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../proxy/config/load.js';
import { openSharedStore } from '../proxy/store/open.js';
import { describeStore, type StoreTarget } from '../proxy/store/pg/target.js';
import { isStoreUrl, parseStoreUrl } from '../proxy/store/pg/url.js';
import { openSqliteStore } from '../proxy/store/sqlite-store.js';
import type { SessionStore } from '../proxy/store/types.js';
import { type Parsed, str, UsageError } from './args.js';

/** `--store` if given, else the config's store (`--config` or ./bastion.yaml), else ./bastion.db. */
export function resolveStorePath(p: Parsed): string {
  const explicit = str(p, 'store');
  // A shared store is named without its password.
  if (explicit && isStoreUrl(explicit)) return describeStore(sharedStoreTarget(p)!);
  if (explicit) return path.resolve(explicit);
  const config = str(p, 'config') ?? (existsSync('bastion.yaml') ? 'bastion.yaml' : undefined);
  if (config) return loadConfig(config).store;
  return path.resolve('bastion.db');
}

/**
 * Opens the store read-only. A missing store, or a file that is not one, is a usage error (exit 2),
 * so that `verify`'s exit 1 keeps meaning a broken chain.
 */
export function openStoreForReading(p: Parsed): SessionStore {
  const shared = sharedStoreTarget(p);
  if (shared) {
    try {
      return openSharedStore(shared);
    } catch (e) {
      throw new UsageError((e as Error).message.split('\n')[0]);
    }
  }
  const file = resolveStorePath(p);
  if (!existsSync(file)) throw new UsageError(`no store at ${file} (use --store PATH)`);
  if (statSync(file).isDirectory())
    throw new UsageError(`${file} is a directory, not a store (use --store PATH)`);
  try {
    return openSqliteStore(file, { readonly: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
}

/**
 * The shared PostgreSQL store to read, if that is what the arguments name: `--store postgres://...`
 * (password from the URL, else PGPASSWORD), or, without `--store`, a team config's store.
 */
export function sharedStoreTarget(p: Parsed): StoreTarget | null {
  const explicit = str(p, 'store');
  if (explicit) {
    if (!isStoreUrl(explicit)) return null;
    try {
      return parseStoreUrl(explicit);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const config = str(p, 'config') ?? (existsSync('bastion.yaml') ? 'bastion.yaml' : undefined);
  return config ? (loadConfig(config).team?.target ?? null) : null;
}
