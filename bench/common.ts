// What every benchmark scenario shares: the row each target is reported as, starting pgbouncer and
// `bastion serve` as real processes, free ports, waiting for a line, reading a process's memory.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../test/helpers/clients.js';
import type { TestPostgres } from '../test/helpers/postgres.js';
import { freePort } from '../test/helpers/postgres.js';
import { rssKb } from '../test/helpers/proc.js';

/** One performance target and what was measured for it. */
export interface BenchRow {
  scenario: string;
  /** The target as stated in issue 9, e.g. "TPS ≥ 1.0x pgbouncer". */
  target: string;
  /** The figures behind the verdict, e.g. "bastion 2.31 s, direct 2.01 s". */
  measured: string;
  /** Measured over the target's reference (what the target bounds), when the target is a ratio or a bound. */
  ratio: number | null;
  /** null: informational, no target. */
  pass: boolean | null;
}

/** Where a client connects, as whom. */
export interface Endpoint {
  name: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/**
 * The rows of one part of a scenario, or a FAIL row saying why it could not run, so that one broken
 * part does not hide the figures of the others.
 */
export async function partRows(
  scenario: string,
  target: string,
  part: () => Promise<BenchRow[]>,
): Promise<BenchRow[]> {
  try {
    return await part();
  } catch (e) {
    console.error(`bench: ${scenario}: ${(e as Error).stack ?? e}`);
    const message = (e as Error).message.split('\n')[0];
    return [{ scenario, target, measured: `error: ${message}`, ratio: null, pass: false }];
  }
}

export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
}

export function envList(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** BENCH_CLIENTS: pgbench client counts, "4,16" by default. */
export function envClients(): number[] {
  return envList('BENCH_CLIENTS', '4,16').map((c) => {
    const n = Number(c);
    if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_CLIENTS: "${c}" is not a client count`);
    return n;
  });
}

export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fmtMb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export { freePort };

/** A field of /proc/PID/status in kB (VmRSS: resident now, VmHWM: peak resident). */
export const statusKb = rssKb;

/**
 * Resets the process's peak RSS (VmHWM) to its current RSS (Linux: "5" to /proc/PID/clear_refs),
 * so that the next VmHWM read is the peak of what ran in between. False if that is not allowed.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Keeps the last `max` characters a stream printed (for error messages), draining it meanwhile. */
function tailOf(stream: NodeJS.ReadableStream | null, max = 4000): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (d: string) => {
    text = (text + d).slice(-max);
  });
  return () => text;
}

/** Resolves once `child` prints `line` on its own on stdout; rejects if it exits or time runs out. */
export function waitForLine(
  child: ChildProcess,
  line: string,
  ms: number,
  stderr?: () => string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const more = () => (stderr ? `; stderr:\n${stderr()}` : '');
    const done = (err?: Error) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    const onData = (d: Buffer | string) => {
      buf += d.toString();
      if (buf.split('\n').includes(line)) done();
      else buf = buf.slice(buf.lastIndexOf('\n') + 1);
    };
    const onExit = (code: number | null) => done(new Error(`exited with ${code} before "${line}"${more()}`));
    const timer = setTimeout(() => done(new Error(`no "${line}" within ${ms} ms${more()}`)), ms);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** The compiled tree this file runs from (dist/ for `npm run bench`, dist-NAME/ for a build of one's own). */
export function distDir(): string {
  return path.dirname(import.meta.dirname);
}

/**
 * How to run `bastion`: BENCH_BASTION when set (a script, e.g. another build's cli/main.js), else
 * bin/bastion.js when this is the build in dist/ (what users run), else the CLI of the same build
 * as this file, so that a private build measures its own gateway.
 */
export function bastionScript(): string {
  const chosen = process.env.BENCH_BASTION;
  if (chosen) {
    if (!fs.existsSync(chosen)) throw new Error(`BENCH_BASTION: no file ${chosen}`);
    return path.resolve(chosen);
  }
  const dist = distDir();
  return path.resolve(dist) === path.join(repoRoot(), 'dist')
    ? path.join(repoRoot(), 'bin', 'bastion.js')
    : path.join(dist, 'cli', 'main.js');
}

/** The bastion script as a command line relative to the repository, for the report. */
export function bastionCommand(): string {
  const script = bastionScript();
  const inRepo = script.startsWith(`${repoRoot()}${path.sep}`);
  return `node ${inRepo ? path.relative(repoRoot(), script) : script}`;
}

/** "1 round", "3 rounds". */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export interface PgbouncerProcess {
  endpoint: Endpoint;
  stop(): Promise<void>;
}

/**
 * Debian's pgbouncer in session mode on loopback, in front of `db`, with SCRAM auth. Its files live
 * in a folder of its own (removed by stop()), owned by the OS user it runs as.
 */
export async function startPgbouncer(
  db: TestPostgres,
  opts: { poolSize?: number } = {},
): Promise<PgbouncerProcess> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-bench-pgbouncer-'));
  const ini = path.join(dir, 'pgbouncer.ini');
  const pidFile = path.join(dir, 'pgbouncer.pid');
  fs.writeFileSync(path.join(dir, 'userlist.txt'), `"${db.user}" "${db.password}"\n`, { mode: 0o600 });
  fs.writeFileSync(
    ini,
    `[databases]\n${db.database} = host=127.0.0.1 port=${db.port} dbname=${db.database}\n` +
      `[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${port}\nunix_socket_dir =\nauth_type = scram-sha-256\n` +
      `auth_file = ${dir}/userlist.txt\npool_mode = session\nmax_client_conn = 2000\n` +
      `default_pool_size = ${opts.poolSize ?? 100}\nlogfile = ${dir}/pgbouncer.log\npidfile = ${pidFile}\n`,
  );
  // pgbouncer refuses to run as root: it runs as `postgres` (which startPostgres made), owning its files.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    const [uid, gid] = [id('-u'), id('-g')];
    for (const f of [dir, path.join(dir, 'userlist.txt'), ini]) fs.chownSync(f, uid, gid);
  }
  const child = asRoot
    ? spawn('runuser', ['-u', 'postgres', '--', 'pgbouncer', ini], { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn('pgbouncer', [ini], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = tailOf(child.stderr);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer exited with ${child.exitCode}: ${stderr()}${logTail(dir)}`);
    }
    if (await acceptsConnections(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`pgbouncer not listening on ${port} after 15 s: ${stderr()}${logTail(dir)}`);
    }
    await sleep(50);
  }
  return {
    endpoint: { name: 'pgbouncer', port, user: db.user, password: db.password, database: db.database },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        fs.rmSync(dir, { recursive: true, force: true });
        return;
      }
      // Signal pgbouncer itself (runuser might not pass the signal on).
      const pid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8').trim() : Number.NaN);
      try {
        if (Number.isInteger(pid)) process.kill(pid, 'SIGTERM');
        else child.kill('SIGTERM');
      } catch {}
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function logTail(dir: string): string {
  try {
    return `\n${fs.readFileSync(path.join(dir, 'pgbouncer.log'), 'utf8').split('\n').slice(-10).join('\n')}`;
  } catch {
    return '';
  }
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface ServeIdentity {
  name: string;
  password: string;
  /** Policy name; the built-in default when absent. */
  policy?: string;
}

export interface ServeOptions {
  db: TestPostgres;
  /** Holds the config, the store and the TLS files. */
  dir: string;
  identities: ServeIdentity[];
  /** The `policies:` section's body as YAML, indented by two spaces; none = the built-in default. */
  policiesYaml?: string;
  /** Extra lines of the config file (e.g. a `limits:` section). */
  extraYaml?: string;
  /** The listener's port; a free one when absent. */
  port?: number;
}

export interface ServeProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  configFile: string;
  storePath: string;
  /** From spawn to the `ready` line, in ms. */
  readyMs: number;
  endpoint(identity: string): Endpoint;
  /** SIGTERM (recordings are flushed), then the exit code; SIGKILL after 60 s. */
  stop(): Promise<number | null>;
  stderr(): string;
}

/** Writes a serve config for `opts` (secrets as ${NAME} references) and returns it with its environment. */
export async function writeServeConfig(
  opts: ServeOptions,
): Promise<{ configFile: string; storePath: string; port: number; env: NodeJS.ProcessEnv }> {
  const port = opts.port ?? (await freePort());
  const configFile = path.join(opts.dir, 'bastion.yaml');
  const storePath = path.join(opts.dir, 'bastion.db');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('PG') && !k.startsWith('BASTION_')) env[k] = v;
  }
  env.BENCH_UPSTREAM_PASSWORD = opts.db.password;
  const lines = [
    `store: ${storePath}`,
    'connections:',
    '  - name: app',
    `    listen: 127.0.0.1:${port}`,
    `    upstream: postgres://${encodeURIComponent(opts.db.user)}:\${BENCH_UPSTREAM_PASSWORD}@127.0.0.1:${opts.db.port}/${opts.db.database}?sslmode=disable`,
    'identities:',
  ];
  opts.identities.forEach((id, i) => {
    const secret = `BENCH_IDENTITY_SECRET_${i}`;
    env[secret] = id.password;
    lines.push(`  - name: ${id.name}`, `    password: \${${secret}}`, '    connections: [app]');
    if (id.policy) lines.push(`    policy: ${id.policy}`);
  });
  if (opts.policiesYaml) lines.push('policies:', opts.policiesYaml.replace(/\n+$/, ''));
  if (opts.extraYaml) lines.push(opts.extraYaml.replace(/\n+$/, ''));
  fs.writeFileSync(configFile, `${lines.join('\n')}\n`);
  return { configFile, storePath, port, env };
}

/** `bastion serve --config FILE --no-ui` as a child process, once it has printed `ready`. */
export async function startServe(opts: ServeOptions): Promise<ServeProcess> {
  const { configFile, storePath, port, env } = await writeServeConfig(opts);
  const t0 = performance.now();
  const child = spawn(process.execPath, [bastionScript(), 'serve', '--config', configFile, '--no-ui'], {
    cwd: opts.dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr = tailOf(child.stderr);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitForLine(child, 'ready', 60_000, stderr);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`bastion serve: ${(e as Error).message}`);
  }
  const readyMs = performance.now() - t0;
  child.stdout?.resume(); // keep draining: a full pipe would block the gateway
  const identities = new Map(opts.identities.map((i) => [i.name, i]));
  return {
    child,
    pid: child.pid!,
    port,
    configFile,
    storePath,
    readyMs,
    endpoint(name: string): Endpoint {
      const id = identities.get(name);
      if (!id) throw new Error(`no identity "${name}" in this serve config`);
      return {
        name: `bastion (${name})`,
        port,
        user: id.name,
        password: id.password,
        database: opts.db.database,
      };
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    stderr,
  };
}
