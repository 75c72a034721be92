// Where the shared PostgreSQL audit store is and how to reach it. The target carries the password
// (from the URL's ${ENV} reference, a password file or PGPASSWORD, which node-postgres reads by
// itself); nothing here ever puts it in a message: `describeStore` is the only way to show one.

import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { UpstreamConfig } from '../../config/types.js';

/** A PostgreSQL store's address: the same shape as a connection's upstream. */
export type StoreTarget = UpstreamConfig;

/** The store as it may be shown: no password. */
export function describeStore(t: StoreTarget): string {
  return `postgres://${t.user}@${t.host}:${t.port}/${t.database}?sslmode=${t.sslmode}`;
}

/** Reads a password file (first line, trimmed): a secret kept out of the config and the URL. */
export function readPasswordFile(file: string): string {
  const text = readFileSync(file, 'utf8');
  const first = text.split(/\r?\n/)[0].trim();
  if (first === '') throw new Error(`password file ${file} is empty`);
  return first;
}

/** int8 as a JavaScript number: every id, time and count the store keeps is a safe integer. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

function clientConfig(t: StoreTarget, ssl: boolean, applicationName: string): pg.ClientConfig {
  let tls: pg.ClientConfig['ssl'] = false;
  if (ssl) {
    const verify = t.sslmode === 'verify-ca' || t.sslmode === 'verify-full';
    tls = {
      rejectUnauthorized: verify,
      ...(t.sslrootcert ? { ca: readFileSync(t.sslrootcert, 'utf8') } : {}),
      // verify-ca checks the chain only, as libpq does.
      ...(t.sslmode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
    };
  }
  return {
    host: t.host,
    port: t.port,
    user: t.user,
    ...(t.password !== null ? { password: t.password } : {}),
    database: t.database,
    ssl: tls,
    types,
    application_name: applicationName,
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  };
}

/**
 * Connects one client. `prefer` tries TLS first and falls back to a plain connection only when the
 * server says it has no TLS (as libpq does); every other mode is strict.
 */
export async function connectStore(t: StoreTarget, applicationName = 'bastion'): Promise<pg.Client> {
  const attempt = async (ssl: boolean) => {
    const c = new pg.Client(clientConfig(t, ssl, applicationName));
    // A connection that dies later must not crash the process: its owner sees the failed query.
    c.on('error', () => {});
    try {
      await c.connect();
      return c;
    } catch (e) {
      await c.end().catch(() => {});
      throw e;
    }
  };
  if (t.sslmode === 'disable') return attempt(false);
  try {
    return await attempt(true);
  } catch (e) {
    if (t.sslmode === 'prefer' && /does not support SSL/i.test((e as Error).message)) return attempt(false);
    throw e;
  }
}

/** An error message about the store, with the address (never the password) in front. */
export function storeError(t: StoreTarget, e: unknown): string {
  return `shared store ${describeStore(t)}: ${(e as Error)?.message ?? String(e)}`;
}
