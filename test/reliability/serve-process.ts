// `bastion serve --no-ui` as a child process of the same build as this test (dist*/cli/main.js,
// not bin/bastion.js, which always runs dist/): for faults that need a real process (SIGKILL,
// memory measured from /proc) and for the soak. Also: config files, RSS readings, the CLI.

import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv, startBastion } from '../helpers/cli.js';
import { type RunResult, run } from '../helpers/clients.js';
import type { TestPostgres } from '../helpers/postgres.js';
import { rssKb } from '../helpers/proc.js';

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

/** Starts `serve --config FILE --no-ui` of this build and waits for `ready` (see startBastion). */
export async function startServe(
  configFile: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<ServeProcess> {
  const b = await startBastion(['serve', '--config', configFile, '--no-ui'], {
    cwd: path.dirname(configFile),
    env,
    timeoutMs,
    entry: CLI_MAIN,
  });
  const port = b.ports().get('app');
  if (port === undefined) throw new Error(`no listening line for "app" in:\n${b.stderr()}`);
  return { ...b, pid: b.child.pid!, port };
}

export { rssKb };

/** `bastion ...args` of this build, to completion. */
export function cli(args: readonly string[], cwd: string, timeoutMs = 60_000): Promise<RunResult> {
  return run(process.execPath, [CLI_MAIN, ...args], { cwd, env: cleanEnv(), timeoutMs });
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
