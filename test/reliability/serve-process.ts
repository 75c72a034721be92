// `bastion serve --no-ui` as a child process of the same build as this test (dist*/cli/main.js,
// not bin/bastion.js, which always runs dist/): for faults that need a real process (SIGKILL,
// memory measured from /proc) and for the soak. Also: config files, RSS readings, the CLI.

import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv } from '../helpers/cli.js';
import { type RunResult, run } from '../helpers/clients.js';
import type { TestPostgres } from '../helpers/postgres.js';

/** cli/main.js of the build this file was compiled into. */
export const CLI_MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

export interface ServeIdentity {
  name: string;
  password: string;
}

export interface ServeConfigOptions {
  db: TestPostgres;
  store: string;
  identities: ServeIdentity[];
  /** YAML lines under `policies:` (indented by two), when not the built-in default. */
  policiesYaml?: string;
  /** YAML lines under `limits:` (indented by two). */
  limitsYaml?: string;
}

/**
 * A config whose secrets are ${NAME} references; returns the file and the environment that
 * resolves them (so that no secret is in the file or on a command line).
 */
export function writeServeConfig(
  file: string,
  o: ServeConfigOptions,
): { file: string; env: Record<string, string> } {
  const env: Record<string, string> = { REL_UPSTREAM_PW: o.db.password };
  const ids = o.identities.map((id, i) => {
    env[`REL_ID${i}_PW`] = id.password;
    return [`  - name: ${id.name}`, `    password: \${REL_ID${i}_PW}`, '    connections: [app]'].join('\n');
  });
  const text = [
    `store: ${JSON.stringify(o.store)}`,
    'connections:',
    '  - name: app',
    '    listen: 127.0.0.1:0',
    `    upstream: postgres://${encodeURIComponent(o.db.user)}:\${REL_UPSTREAM_PW}@127.0.0.1:${o.db.port}/${o.db.database}?sslmode=disable`,
    'identities:',
    ...ids,
    ...(o.policiesYaml ? ['policies:', o.policiesYaml] : []),
    ...(o.limitsYaml ? ['limits:', o.limitsYaml] : []),
    '',
  ].join('\n');
  fs.writeFileSync(file, text);
  return { file, env };
}

export interface ServeProcess {
  child: ChildProcess;
  pid: number;
  /** The port of connection `app`. */
  port: number;
  stderr(): string;
  stdout(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends the signal and waits for the exit (SIGKILL after `ms`). */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Starts `serve --config FILE --no-ui` and waits for `ready` (rejects with its output if it exits first). */
export async function startServe(
  configFile: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI_MAIN, 'serve', '--config', configFile, '--no-ui'], {
    cwd: path.dirname(configFile),
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bastion serve: no "ready" after ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    const check = () => {
      if (/^ready$/m.test(stdout)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`bastion serve exited (${code ?? signal}) before "ready"\n${stderr}`));
    });
  });
  const m = /connection "app" listening on \S+:(\d+) /.exec(stderr);
  if (!m) throw new Error(`no listening line for "app" in:\n${stderr}`);
  return {
    child,
    pid: child.pid!,
    port: Number(m[1]),
    stderr: () => stderr,
    stdout: () => stdout,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 20_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** `bastion ...args` of this build, to completion. */
export function cli(args: readonly string[], cwd: string, timeoutMs = 60_000): Promise<RunResult> {
  return run(process.execPath, [CLI_MAIN, ...args], { cwd, env: cleanEnv(), timeoutMs });
}

/** VmRSS (or VmHWM, the peak) of a process, in kB. */
export function rssKb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Samples VmRSS every `everyMs` until stopped. */
export function sampleRss(pid: number, everyMs = 50): { stop(): { peakKb: number; samples: number[] } } {
  const samples: number[] = [];
  const timer = setInterval(() => {
    try {
      samples.push(rssKb(pid));
    } catch {}
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return { peakKb: Math.max(0, ...samples), samples };
    },
  };
}

export const mb = (kb: number): string => (kb / 1024).toFixed(1);
