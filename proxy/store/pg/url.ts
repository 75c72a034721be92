// A store given as a URL (`store: postgres://...` in the config, or `--store postgres://...`).

import { ConfigError, ConfigReader } from '../../config/load.js';
import { parseUpstreamUrl } from '../../config/upstream-url.js';
import type { StoreTarget } from './target.js';

/** Whether `store` (a config value or `--store`) names a PostgreSQL store rather than an SQLite file. */
export function isStoreUrl(store: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(store);
}

/**
 * Parses a store URL given outside a config file (`--store`). Throws an Error whose message names
 * what is wrong, never the URL's password.
 */
export function parseStoreUrl(url: string, env: NodeJS.ProcessEnv = process.env): StoreTarget {
  try {
    return parseUpstreamUrl(new ConfigReader('--store', new Map(), env), url, 'store');
  } catch (e) {
    if (e instanceof ConfigError) throw new Error(e.message.replace(/^--store:\d+: store: /, '--store: '));
    throw e;
  }
}
