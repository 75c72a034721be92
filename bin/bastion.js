#!/usr/bin/env node
// The `bastion` command. The TypeScript sources are compiled into dist/ by `npm ci` (prepare).
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  console.error(`bastion: Node.js 22 or newer is required (this is ${process.version})`);
  process.exit(2);
}
// `serve` runs for long next to the database and its clients, so it re-executes itself (same PID,
// same arguments) with settings that only take effect at start:
// - --single-threaded-gc: garbage is collected on the gateway's own thread. V8's helper threads
//   compete with the database and its clients for a small machine's cores (measured on 2 cores:
//   5-8% more pgbench throughput).
// - glibc's malloc keeps two arenas and returns freed memory above 128 KB to the system at once:
//   each thread's arena otherwise holds on to what a burst freed, tens of MB on a large result.
//   Removed from the environment again at start, so that programs the gateway starts (the demo's
//   PostgreSQL) do not inherit it.
// (The SQL parser keeps its WebAssembly on V8's baseline compiler itself: proxy/policy/parser.ts.)
const EXEC_FLAGS = ['--single-threaded-gc'];
const MALLOC_TUNING =
  'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072';
const TUNED = 'BASTION_EXEC_TUNED';
if (process.env[TUNED] !== undefined) {
  const before = process.env[TUNED];
  if (before === '') delete process.env.GLIBC_TUNABLES;
  else process.env.GLIBC_TUNABLES = before;
  delete process.env[TUNED];
} else if (
  process.argv[2] === 'serve' &&
  process.platform !== 'win32' &&
  typeof process.execve === 'function'
) {
  const before = process.env.GLIBC_TUNABLES ?? '';
  process.execve(
    process.execPath,
    [process.execPath, ...EXEC_FLAGS, ...process.execArgv, ...process.argv.slice(1)],
    {
      ...process.env,
      [TUNED]: before,
      // The operator's own tunables come last and win.
      GLIBC_TUNABLES: before === '' ? MALLOC_TUNING : `${MALLOC_TUNING}:${before}`,
    },
  );
}
try {
  await import('../dist/cli/main.js');
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/cli/main.js')) {
    console.error('bastion: not built yet: run `npm ci` (or `npm run build`) in the repository first');
    process.exit(2);
  }
  throw e;
}
