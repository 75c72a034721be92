// Runs real PostgreSQL client programs (psql, psycopg 3, pgjdbc, pgbench) against a server or the
// gateway, and hands back what they printed. Fixture programs live in test/fixtures/.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** Where and as whom to connect. A TestPostgres from ./postgres.js is one. */
export interface ClientTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  sslmode?: SslMode;
  /** CA file for verify-ca / verify-full. */
  sslrootcert?: string | null;
}

export interface RunOptions extends ClientTarget {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Written to the program's stdin, which is then closed. */
  input?: string;
  /** Killed after this long (default 60 s); the result then has code null and signal SIGKILL. */
  timeoutMs?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export const JDBC_JAR = '/usr/share/java/postgresql.jar';
const PYTHON = '/usr/bin/python3'; // Debian's, which has python3-psycopg (not a pyenv shim)

/** The repository root: the nearest folder above this file holding package.json. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above test/helpers');
    dir = up;
  }
  return dir;
}

const fixture = (name: string) => path.join(repoRoot(), 'test', 'fixtures', name);

/** libpq's environment for a target. Inherited PG* variables are dropped so a developer's own
 * PGSERVICE, PGSSLMODE or ~/.pgpass cannot change what a test connects to. */
export function libpqEnv(t: ClientTarget): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG') && v !== undefined) env[k] = v;
  Object.assign(env, {
    PGHOST: t.host,
    PGPORT: String(t.port),
    PGUSER: t.user,
    PGPASSWORD: t.password,
    PGDATABASE: t.database,
    PGPASSFILE: '/dev/null',
    PGCONNECT_TIMEOUT: '10',
    PGSSLMODE: t.sslmode ?? 'prefer',
  });
  if (t.sslrootcert) env.PGSSLROOTCERT = t.sslrootcert;
  return env;
}

/** libpq conninfo without the password (that comes from PGPASSWORD). */
export function libpqDsn(t: ClientTarget): string {
  const q = (v: string | number) => `'${String(v).replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  const parts = [`host=${q(t.host)}`, `port=${q(t.port)}`, `user=${q(t.user)}`, `dbname=${q(t.database)}`];
  parts.push(`sslmode=${q(t.sslmode ?? 'prefer')}`);
  if (t.sslrootcert) parts.push(`sslrootcert=${q(t.sslrootcert)}`);
  return parts.join(' ');
}

export function jdbcUrl(t: ClientTarget): string {
  const params = new URLSearchParams({ connectTimeout: '10' });
  if (t.sslmode) params.set('sslmode', t.sslmode);
  if (t.sslrootcert) params.set('sslrootcert', t.sslrootcert);
  return `jdbc:postgresql://${t.host}:${t.port}/${encodeURIComponent(t.database)}?${params}`;
}

/** Runs a program to completion; never rejects for a non-zero exit. */
export function run(
  file: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // the program may exit without reading its input
    child.stdin.end(opts.input ?? '');
  });
}

const envOf = (o: RunOptions) => ({ ...libpqEnv(o), ...o.env });

/** psql with -X (no ~/.psqlrc) and ON_ERROR_STOP, so a failed statement exits 3. */
export function runPsql(args: readonly string[], o: RunOptions): Promise<RunResult> {
  return run('/usr/bin/psql', ['-X', '-v', 'ON_ERROR_STOP=1', ...args], { ...o, env: envOf(o) });
}

/** test/fixtures/psycopg_smoke.py DSN ...args */
export function runPsycopg(args: readonly string[], o: RunOptions): Promise<RunResult> {
  return run(PYTHON, [fixture('psycopg_smoke.py'), libpqDsn(o), ...args], { ...o, env: envOf(o) });
}

export function pgbenchPath(): string {
  const debian = '/usr/lib/postgresql/15/bin/pgbench';
  return fs.existsSync(debian) ? debian : 'pgbench';
}

export function runPgbench(args: readonly string[], o: RunOptions): Promise<RunResult> {
  return run(pgbenchPath(), args, { ...o, env: envOf(o) });
}

let compiled: Promise<string> | undefined;

/** Compiles JdbcSmoke.java once per source and driver version; parallel test processes share it. */
export function compileJdbcSmoke(): Promise<string> {
  compiled ??= (async () => {
    const src = fixture('JdbcSmoke.java');
    const hash = createHash('sha256')
      .update(fs.readFileSync(src))
      .update(fs.realpathSync(JDBC_JAR))
      .digest('hex')
      .slice(0, 16);
    const dir = path.join(os.tmpdir(), `bastion-jdbc-${hash}`);
    if (fs.existsSync(path.join(dir, 'JdbcSmoke.class'))) return dir;
    const tmp = fs.mkdtempSync(`${dir}-tmp-`);
    const r = spawnSync('javac', ['-cp', JDBC_JAR, '-d', tmp, src], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`javac failed: ${r.error ?? ''}${r.stderr}`);
    try {
      fs.renameSync(tmp, dir); // atomic: another process may have won the race, which is fine
    } catch {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    return dir;
  })();
  return compiled;
}

/** java JdbcSmoke URL USER PASSWORD ...args, in UTC so timestamps print the same everywhere. */
export async function runJdbc(args: readonly string[], o: RunOptions): Promise<RunResult> {
  const classes = await compileJdbcSmoke();
  const cp = `${classes}${path.delimiter}${JDBC_JAR}`;
  const javaArgs = ['-Duser.timezone=UTC', '-cp', cp, 'JdbcSmoke', jdbcUrl(o), o.user, o.password, ...args];
  return run('java', javaArgs, { ...o, env: { ...process.env, ...o.env } });
}
