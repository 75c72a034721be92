#!/usr/bin/env node
// The `bastion` command. The TypeScript sources are compiled into dist/ by `npm ci` (prepare).
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  console.error(`bastion: Node.js 22 or newer is required (this is ${process.version})`);
  process.exit(2);
}
// `serve` runs for long next to the database and its clients: it collects garbage on its own
// thread only. V8's helper threads compete with them for a small machine's cores, and each keeps a
// malloc arena of its own (measured on 2 cores: 5-8% more pgbench throughput, tens of MB less
// peak memory on large results). The flag only takes effect at start: the process re-executes
// itself with it (same PID, same arguments).
const GC_FLAG = '--single-threaded-gc';
if (
  process.argv[2] === 'serve' &&
  process.platform !== 'win32' &&
  typeof process.execve === 'function' &&
  !process.execArgv.includes(GC_FLAG)
) {
  process.execve(process.execPath, [
    process.execPath,
    GC_FLAG,
    ...process.execArgv,
    ...process.argv.slice(1),
  ]);
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
