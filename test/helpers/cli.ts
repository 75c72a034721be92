// Runs the real `bastion` command (node bin/bastion.js ...) as a child process: one-shot commands
// to completion, and `serve` until it prints `ready`, then stopped by a signal.

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RunResult, repoRoot, run } from './clients.js';

export const BASTION_BIN = path.join(repoRoot(), 'bin', 'bastion.js');

export interface CliOptions {
  cwd?: string;
  /** Extra environment variables (on top of this process's environment, minus PG* and BASTION_*). */
  env?: Record<string, string | undefined>;
  input?: string;
  timeoutMs?: number;
  /** The script to run instead of bin/bastion.js (cli/main.js of another build). */
  entry?: string;
}

/** This process's environment without variables that could change what bastion or libpq do. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('PG') && !k.startsWith('BASTION_') && v !== undefined) env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** `node bin/bastion.js ...args` to completion. Never rejects for a non-zero exit. */
export function bastion(args: readonly string[], o: CliOptions = {}): Promise<RunResult> {
  return run(process.execPath, [BASTION_BIN, ...args], {
    cwd: o.cwd,
    env: cleanEnv(o.env),
    input: o.input,
    timeoutMs: o.timeoutMs ?? 30_000,
  });
}

/** Lines of a program's output, without the trailing empty one. */
export function lines(text: string): string[] {
  const l = text.split('\n');
  if (l.at(-1) === '') l.pop();
  return l;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningBastion {
  child: ChildProcessWithoutNullStreams;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** The bound port of each connection, from the "connection "NAME" listening on HOST:PORT" lines. */
  ports(): Map<string, number>;
  /** Sends the signal and waits for the exit (SIGKILL after `timeoutMs`, then the code is null). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
  /** Resolves when the process exits, whatever made it. */
  exited: Promise<Exit>;
}

/**
 * Spawns `bastion ...args` and waits until it prints the exact line `ready` on stdout. Rejects with
 * what it printed if it exits first or is not ready in time (then it is killed).
 */
export async function startBastion(args: readonly string[], o: CliOptions = {}): Promise<RunningBastion> {
  const child = spawn(process.execPath, [o.entry ?? BASTION_BIN, ...args], {
    cwd: o.cwd,
    env: cleanEnv(o.env),
    stdio: 'pipe',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  child.stdin.end();
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  live.add(child);
  exited.finally(() => live.delete(child)).catch(() => {});

  const timeoutMs = o.timeoutMs ?? 30_000;
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    const check = () => {
      if (/(^|\n)ready\n/.test(stdout)) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve(true);
      }
    };
    child.stdout.on('data', check);
    exited.then(
      () => {
        clearTimeout(timer);
        check();
        resolve(/(^|\n)ready\n/.test(stdout));
      },
      () => resolve(false),
    );
    check();
  });
  if (!ready) {
    const wasRunning = child.exitCode === null && child.signalCode === null;
    if (wasRunning) child.kill('SIGKILL');
    const e = await exited.catch((err: Error) => ({ code: null, signal: null, stdout, stderr: String(err) }));
    const why = wasRunning
      ? `not ready after ${timeoutMs} ms`
      : `exited (${e.code ?? e.signal}) before ready`;
    throw new Error(`bastion ${args.join(' ')}: ${why}\n--- stdout\n${e.stdout}--- stderr\n${e.stderr}`);
  }

  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    ports: () => {
      const m = new Map<string, number>();
      for (const x of stderr.matchAll(/connection "([^"]+)" listening on \S+:(\d+) /g))
        m.set(x[1], Number(x[2]));
      return m;
    },
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

// Servers still running when the test process exits are killed, so none outlives a failed test.
const live = new Set<ChildProcessWithoutNullStreams>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** A fresh temp directory, removed by the returned function. */
export function tempDir(prefix = 'bastion-cli-'): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
