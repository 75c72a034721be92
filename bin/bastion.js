#!/usr/bin/env node
// The `bastion` command. The TypeScript sources are compiled into dist/ by `npm ci` (prepare).
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  console.error(`bastion: Node.js 22 or newer is required (this is ${process.version})`);
  process.exit(2);
}
// Process settings (`serve` re-executes itself with start-up-only ones) are the host's, applied in
// dist/cli/main.js through proxy/runtime.ts.
try {
  await import('../dist/cli/main.js');
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/cli/main.js')) {
    console.error('bastion: not built yet: run `npm ci` (or `npm run build`) in the repository first');
    process.exit(2);
  }
  throw e;
}
