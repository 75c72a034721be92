// Team-mode gateways for tests: the real AppCore in front of one audited PostgreSQL, each with its
// own spool and gateway name, all shipping to one shared PostgreSQL store.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { GatewayConfig, TeamConfig, UpstreamConfig } from '../../proxy/config/types.js';
import { AppCore } from '../../proxy/core.js';
import type { Logger } from '../../proxy/session/session.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../../proxy/wire/codes.js';
import { connectionTo, eventually } from '../helpers/gateway.js';
import type { TestPostgres } from '../helpers/postgres.js';

export const AGENT = { name: 'agent', password: 'agent-secret' };

export interface TeamGateway {
  name: string;
  core: AppCore;
  port: number;
  dir: string;
  spool: string;
  logs: string[];
  client(application: string): pg.Client;
  stop(): Promise<void>;
}

/** The shared store's address (no TLS on the test server). */
export function storeTarget(store: TestPostgres): UpstreamConfig {
  return {
    host: store.host,
    port: store.port,
    user: store.user,
    password: store.password,
    database: store.database,
    sslmode: 'disable',
    sslrootcert: null,
  };
}

/** The shared store's URL for `user`, without a password (it goes in PGPASSWORD or a form). */
export function storeUrl(store: TestPostgres, user: string): string {
  return `postgres://${user}@127.0.0.1:${store.port}/${store.database}?sslmode=disable`;
}

/** Waits until every gateway of the fleet has shipped everything it recorded so far. */
export async function shipAll(fleet: readonly TeamGateway[]): Promise<void> {
  for (const g of fleet) g.core.writer.flush();
  await Promise.all(fleet.map((g) => g.core.team!.shipper.drained()));
}

/**
 * One session per gateway that selects the word 'storepick' (with the gateway's name), shipped:
 * what the Store tests search the fleet's sessions for.
 */
export async function shipStorepick(fleet: readonly TeamGateway[]): Promise<void> {
  for (const g of fleet) {
    const c = g.client(`storepick-${g.name}`);
    await c.connect();
    await c.query(`SELECT 'storepick' AS word, '${g.name}' AS gateway`);
    await c.end();
  }
  await shipAll(fleet);
}

export async function startTeamGateway(
  name: string,
  db: TestPostgres,
  store: TestPostgres,
  team: Partial<TeamConfig> = {},
): Promise<TeamGateway> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bastion-team-${name}-`));
  const logs: string[] = [];
  const log: Logger = {
    info: (m) => logs.push(`info ${m}`),
    warn: (m) => logs.push(`warn ${m}`),
    error: (m) => logs.push(`error ${m}`),
  };
  const config: GatewayConfig = {
    file: null,
    store: path.join(dir, 'bastion-spool.db'),
    team: { target: storeTarget(store), gateway: name, ...team },
    tlsDir: path.join(dir, 'tls'),
    connections: [connectionTo('app', db)],
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'default' },
    ],
    policies: {},
    limits: {
      maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE,
      captureLimit: 64 * 1024 * 1024,
      startupTimeoutMs: 30_000,
    },
  };
  const core = new AppCore(config, log);
  await core.start();
  const port = core.addresses()[0].port;
  return {
    name,
    core,
    port,
    dir,
    spool: config.store,
    logs,
    client: (application) =>
      new pg.Client({
        host: '127.0.0.1',
        port,
        user: AGENT.name,
        password: AGENT.password,
        database: 'app',
        application_name: application,
      }),
    stop: async () => {
      await core.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` resolves to a value (not undefined) or the time is up (eventually, for the team tests). */
export function until<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  return eventually(check, timeoutMs, what);
}
