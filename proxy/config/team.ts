// Team mode in the config: `store: postgres://...` names the shared audit store. The gateway then
// records to a local SQLite spool (`spool`, default bastion-spool.db beside the config) that its
// shipper copies to the shared store, under its fleet name (`gateway`, default the hostname).

import os from 'node:os';
import path from 'node:path';
import { readPasswordFile } from '../store/pg/target.js';
import type { ConfigReader } from './load.js';
import type { TeamConfig } from './types.js';
import { parseDuration } from './units.js';
import { parseUpstreamUrl } from './upstream-url.js';

const GATEWAY_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

export const TEAM_KEYS = [
  'gateway',
  'spool',
  'store_password_file',
  'store_retention',
  'spool_keep',
] as const;

/** How long shipped, closed sessions stay in the spool by default. */
export const DEFAULT_SPOOL_KEEP_MS = 24 * 3_600_000;

/** The store and, in team mode, the shared store's settings; `store` is then the spool's path. */
export function readStoreSettings(
  r: ConfigReader,
  top: Record<string, unknown>,
  baseDir: string,
): { store: string; team?: TeamConfig } {
  const raw = top.store;
  if (typeof raw === 'string' && /^postgres(?:ql)?:\/\//i.test(raw.trim())) {
    const target = parseUpstreamUrl(r, raw.trim(), 'store', baseDir);
    const passwordFile = r.str(top, 'store_password_file', '', false);
    if (passwordFile !== null) {
      if (target.password !== null) r.fail('store_password_file', 'the store URL already has a password');
      try {
        target.password = readPasswordFile(path.resolve(baseDir, passwordFile));
      } catch (e) {
        r.fail(
          'store_password_file',
          `cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
    }
    const gateway = r.str(top, 'gateway', '', false) ?? os.hostname();
    if (!GATEWAY_NAME.test(gateway)) {
      r.fail('gateway', `"${gateway}" is not a valid gateway name (letters, digits, _ . -; at most 63)`);
    }
    const spool = path.resolve(baseDir, r.str(top, 'spool', '', false) ?? 'bastion-spool.db');
    // The shared store's retention: whole months whose sessions all started longer ago are dropped.
    let storeRetentionMs: number | null = null;
    if (top.store_retention !== undefined && top.store_retention !== null) {
      storeRetentionMs = parseDuration(r, top.store_retention, 'store_retention');
      if (storeRetentionMs <= 0) r.fail('store_retention', 'must be longer than 0');
    }
    // How long shipped, closed sessions stay in the spool; `forever` keeps them.
    let spoolKeepMs: number | null = DEFAULT_SPOOL_KEEP_MS;
    if (top.spool_keep === 'forever') spoolKeepMs = null;
    else if (top.spool_keep !== undefined && top.spool_keep !== null) {
      spoolKeepMs = parseDuration(r, top.spool_keep, 'spool_keep');
      if (spoolKeepMs <= 0) r.fail('spool_keep', 'must be longer than 0 (or forever)');
    }
    return { store: spool, team: { target, gateway, storeRetentionMs, spoolKeepMs } };
  }
  for (const k of TEAM_KEYS) {
    if (top[k] !== undefined && top[k] !== null)
      r.fail(k, 'applies only with a postgres:// store (team mode)');
  }
  return { store: path.resolve(baseDir, r.str(top, 'store', '', false) ?? 'bastion.db') };
}
