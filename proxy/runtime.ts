// Process-wide runtime settings, in one place: what V8 and the C library are told for a process
// that runs the gateway. Library modules never set them; each host applies them explicitly at its
// start (cli/main.ts for `bastion serve`, the Electron main process, benchmarks that measure the
// gateway's code in-process), and libraries only read what was decided (forcedGc()).
//
// Why each setting:
// - --single-threaded-gc (start-up only): garbage is collected on the gateway's own thread. V8's
//   helper threads compete with the database and its clients for a small machine's cores
//   (measured on 2 cores: 5-8% more pgbench throughput).
// - glibc's malloc with two arenas, returning freed memory above 128 KB to the system at once
//   (start-up only, GLIBC_TUNABLES): each thread's arena otherwise holds on to what a burst freed,
//   tens of MB on a large result.
// - --liftoff-only: the SQL parser's WebAssembly (libpg-query) stays on V8's baseline compiler.
//   Optimising its grammar functions once parsing gets busy took about 35 MB of compiler memory on
//   a helper thread, the largest part of the gateway's peak memory (measured with `perf` probes on
//   malloc). Analyses are cached; an uncached one is 0-15% slower (`node dist/bench/policy.js`).
//   V8 reads the flag when a module is compiled, so it must be set before the policy engine loads;
//   nothing else in the process compiles WebAssembly.
// - V8's `gc` function, exposed at run time (no command-line flag): the relay frees spent socket
//   read buffers with a young-generation collection now and then (proxy/wire/read-garbage.ts).

import v8 from 'node:v8';
import vm from 'node:vm';

export type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

const EXEC_FLAGS = ['--single-threaded-gc'];
const MALLOC_TUNING =
  'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072';
/** Set for the re-executed process only: the GLIBC_TUNABLES the operator had before ('' = none). */
const TUNED = 'BASTION_EXEC_TUNED';

export interface ProcessSettings {
  /** The process runs with the start-up settings (re-executed with them). */
  startup: boolean;
  liftoffOnly: boolean;
  /** V8's collector is reachable for forced collections. */
  forcedGc: boolean;
}

let gc: GcFunction | null = null;
let settings: ProcessSettings = { startup: false, liftoffOnly: false, forcedGc: false };

export interface GatewayProcessOptions {
  /**
   * Re-execute this process (same PID, same arguments) with the start-up-only settings when it
   * does not have them yet: for `bastion serve`, which runs for long next to the database. Call it
   * before loading anything heavy: everything loaded so far is loaded again.
   */
  reexec: boolean;
}

/** Applies the gateway's process settings. Idempotent; with `reexec` it may not return (execve). */
export function applyGatewayProcessSettings(opts: GatewayProcessOptions): ProcessSettings {
  const startup = opts.reexec && startupSettings();
  if (!settings.liftoffOnly) {
    v8.setFlagsFromString('--liftoff-only');
    gc = exposeGc();
  }
  settings = { startup: settings.startup || startup, liftoffOnly: true, forcedGc: gc !== null };
  return { ...settings };
}

/** What this process was given (all false when no host applied anything). */
export function processSettings(): ProcessSettings {
  return { ...settings };
}

/** V8's collector when the host exposed it; null otherwise (a forced collection is then skipped). */
export function forcedGc(): GcFunction | null {
  return gc;
}

/**
 * True when the process already runs with the start-up settings (it then takes the markers out of
 * its environment, so that programs it starts, such as the demo's PostgreSQL, do not inherit
 * them); false when they cannot be applied here. Otherwise the process is replaced.
 */
function startupSettings(): boolean {
  const before = process.env[TUNED];
  if (before !== undefined) {
    if (before === '') delete process.env.GLIBC_TUNABLES;
    else process.env.GLIBC_TUNABLES = before;
    delete process.env[TUNED];
    return true;
  }
  if (process.platform === 'win32' || typeof process.execve !== 'function') return false;
  const tunables = process.env.GLIBC_TUNABLES ?? '';
  process.execve(
    process.execPath,
    [process.execPath, ...EXEC_FLAGS, ...process.execArgv, ...process.argv.slice(1)],
    {
      ...process.env,
      [TUNED]: tunables,
      // The operator's own tunables come last and win.
      GLIBC_TUNABLES: tunables === '' ? MALLOC_TUNING : `${MALLOC_TUNING}:${tunables}`,
    },
  );
  return false; // not reached: execve replaced the process
}

function exposeGc(): GcFunction | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    const f = vm.runInNewContext('gc') as unknown;
    return typeof f === 'function' ? (f as GcFunction) : null;
  } catch {
    return null;
  }
}
