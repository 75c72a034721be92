// Team mode in the config: `store: postgres://...` names the shared audit store. The gateway then
// records to a local SQLite spool (`spool`, default bastion-spool.db beside the config) that its
// shipper copies to the shared store, under its fleet name (`gateway`, default the hostname).

import os from 'node:os';
import path from 'node:path';
import { readPasswordFile } from '../store/pg/target.js';
import type { ConfigReader } from './load.js';
import type { TeamConfig } from './types.js';
import { parseUpstreamUrl } from './upstream-url.js';

const GATEWAY_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

export const TEAM_KEYS = ['gateway', 'spool', 'store_password_file'] as const;

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
    return { store: spool, team: { target, gateway } };
  }
  for (const k of TEAM_KEYS) {
    if (top[k] !== undefined && top[k] !== null)
      r.fail(k, 'applies only with a postgres:// store (team mode)');
  }
  return { store: path.resolve(baseDir, r.str(top, 'store', '', false) ?? 'bastion.db') };
}
