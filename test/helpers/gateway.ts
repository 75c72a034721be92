// An in-process gateway (the real AppCore, real sockets) in front of a test PostgreSQL, with its
// store in a temp dir, plus helpers to check what was recorded.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type {
  ConnectionConfig,
  GatewayConfig,
  IdentityConfig,
  SslMode,
  UpstreamConfig,
} from '../../proxy/config/types.js';
import { AppCore } from '../../proxy/core.js';
import type { Logger } from '../../proxy/session/session.js';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import type { SessionStore } from '../../proxy/store/types.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../../proxy/wire/codes.js';
import type { ClientTarget } from './clients.js';
import type { TestPostgres } from './postgres.js';

export interface GatewayOptions {
  sslmode?: SslMode;
  captureLimit?: number;
  maxMessageSize?: number;
  identities?: IdentityConfig[];
  /** Raw policies as in the config file (CONTRACT.md); the built-in default when absent. */
  policies?: Record<string, unknown>;
  /** Extra connections (e.g. one the identity may not use). */
  extraConnections?: ConnectionConfig[];
  startupTimeoutMs?: number;
  /** Overrides fields of connection `app`'s upstream (e.g. sslrootcert, password, a closed port). */
  upstream?: Partial<UpstreamConfig>;
  /** An existing store file to record into (default: a new one in the gateway's temp dir). */
  storePath?: string;
}

export interface TestGateway {
  core: AppCore;
  host: string;
  port: number;
  storePath: string;
  dir: string;
  logs: string[];
  /** Connection details for the default identity `agent` (password `agent-secret`). */
  target(over?: Partial<ClientTarget>): ClientTarget;
  /** Opens the store read-only for assertions (close it after). */
  readStore(): SessionStore;
  /** Waits until the writer has flushed everything queued so far. */
  flush(): void;
  stop(): Promise<void>;
}

export const AGENT = { name: 'agent', password: 'agent-secret' };

export async function startGateway(pg: TestPostgres, opts: GatewayOptions = {}): Promise<TestGateway> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-gw-'));
  const logs: string[] = [];
  const log: Logger = {
    info: (m) => logs.push(`info ${m}`),
    warn: (m) => logs.push(`warn ${m}`),
    error: (m) => logs.push(`error ${m}`),
  };
  const config: GatewayConfig = {
    file: null,
    store: opts.storePath ?? path.join(dir, 'bastion.db'),
    tlsDir: path.join(dir, 'tls'),
    connections: [
      connectionTo('app', pg, { sslmode: opts.sslmode ?? 'disable', ...opts.upstream }),
      ...(opts.extraConnections ?? []),
    ],
    identities: opts.identities ?? [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'default' },
    ],
    policies: opts.policies ?? {},
    limits: {
      maxMessageSize: opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
      captureLimit: opts.captureLimit ?? 64 * 1024 * 1024,
      startupTimeoutMs: opts.startupTimeoutMs ?? 30_000,
    },
  };
  const core = new AppCore(config, log);
  await core.start();
  const port = core.addresses()[0].port;
  return {
    core,
    host: '127.0.0.1',
    port,
    storePath: config.store,
    dir,
    logs,
    target: (over = {}) => ({
      host: '127.0.0.1',
      port,
      user: AGENT.name,
      password: AGENT.password,
      database: 'anything',
      sslmode: 'disable',
      ...over,
    }),
    readStore: () => {
      core.writer.flush();
      return openSqliteStore(config.store, { readonly: true });
    },
    flush: () => {
      core.writer.flush();
    },
    stop: async () => {
      await core.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A connection named `name` listening on a free loopback port, in front of the test database `pg`. */
export function connectionTo(
  name: string,
  pg: TestPostgres,
  upstream: Partial<UpstreamConfig> = {},
): ConnectionConfig {
  return {
    name,
    listen: { host: '127.0.0.1', port: 0 },
    upstream: {
      host: pg.host,
      port: pg.port,
      user: pg.user,
      password: pg.password,
      database: pg.database,
      sslmode: 'disable',
      sslrootcert: null,
      ...upstream,
    },
    tls: null,
  };
}

/**
 * Runs `sql` through the gateway as `who` in a session of its own: the rows (as JSON) or the
 * error, after checking that the session goes on after it (a refusal does not end it).
 */
export async function queryThrough(
  gw: TestGateway,
  sql: string,
  who: { user: string; password: string } = { user: AGENT.name, password: AGENT.password },
): Promise<{ rows: string; error: (Error & { code?: string }) | null }> {
  const c = new pg.Client({ ...gw.target(), user: who.user, password: who.password, ssl: false });
  await c.connect();
  try {
    const r = await c.query(sql).then(
      (res) => ({ rows: JSON.stringify(res.rows), error: null as (Error & { code?: string }) | null }),
      (e: Error & { code?: string }) => ({ rows: '', error: e }),
    );
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    return r;
  } finally {
    await c.end();
  }
}
