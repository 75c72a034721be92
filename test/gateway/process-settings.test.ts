// proxy/runtime.ts in fresh Node processes: library modules set no process settings of their own
// (the relay's forced collections need the host's call), the host's call exposes the collector,
// and a re-executing host ends up in the same process with its start-up settings, read from /proc.
// (`bastion serve` itself: test/gateway/large.test.ts.)

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { run } from '../helpers/clients.js';

const DIST = path.resolve(import.meta.dirname, '../..');
const url = (rel: string) => pathToFileURL(path.join(DIST, rel)).href;

let dir: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-runtime-'));
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `body` as an ES module in a new node process; returns the JSON it printed last. */
async function inNewProcess(name: string, body: string): Promise<Record<string, unknown>> {
  const file = path.join(dir, `${name}.mjs`);
  fs.writeFileSync(file, body);
  const env = { ...process.env };
  delete env.BASTION_EXEC_TUNED;
  delete env.GLIBC_TUNABLES;
  const r = await run(process.execPath, [file], { env, timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

test('library modules set nothing: without the host call, the relay has no collector to force', async () => {
  const out = await inNewProcess(
    'library-only',
    `import vm from 'node:vm';
import { noteRelayed } from ${JSON.stringify(url('proxy/wire/read-garbage.js'))};
import { initPolicyEngine } from ${JSON.stringify(url('proxy/policy/parser.js'))};
import { forcedGc, processSettings } from ${JSON.stringify(url('proxy/runtime.js'))};
await initPolicyEngine();
noteRelayed(64 * 1024 * 1024);
console.log(JSON.stringify({ settings: processSettings(), collector: forcedGc() !== null, gc: vm.runInNewContext('typeof gc') }));
`,
  );
  assert.deepEqual(out, {
    settings: { startup: false, liftoffOnly: false, forcedGc: false },
    collector: false,
    gc: 'undefined',
  });
});

test('the host call sets the flags once and exposes the collector the relay uses', async () => {
  const out = await inNewProcess(
    'host',
    `import { applyGatewayProcessSettings, forcedGc } from ${JSON.stringify(url('proxy/runtime.js'))};
const settings = applyGatewayProcessSettings({ reexec: false });
const { initPolicyEngine } = await import(${JSON.stringify(url('proxy/policy/parser.js'))});
await initPolicyEngine();
forcedGc()({ type: 'minor' });
console.log(JSON.stringify({ settings, again: applyGatewayProcessSettings({ reexec: false }) }));
`,
  );
  const expected = { startup: false, liftoffOnly: true, forcedGc: true };
  assert.deepEqual(out, { settings: expected, again: expected });
});

test('a re-executing host runs on in the same process with its start-up settings', {
  skip: process.platform !== 'linux' && 'reads /proc',
}, async () => {
  const out = await inNewProcess(
    'reexec',
    `import fs from 'node:fs';
import { applyGatewayProcessSettings } from ${JSON.stringify(url('proxy/runtime.js'))};
const settings = applyGatewayProcessSettings({ reexec: true });
console.log(JSON.stringify({
  settings,
  argv: fs.readFileSync('/proc/self/cmdline', 'utf8').split('\\0'),
  started: fs.readFileSync('/proc/self/environ', 'utf8').split('\\0').find((e) => e.startsWith('GLIBC_TUNABLES=')) ?? null,
  inherited: process.env.GLIBC_TUNABLES ?? null,
}));
`,
  );
  assert.deepEqual(out.settings, { startup: true, liftoffOnly: true, forcedGc: true });
  assert.ok((out.argv as string[]).includes('--single-threaded-gc'), String(out.argv));
  assert.match(String(out.started), /glibc\.malloc\.arena_max=2/);
  // Programs the host starts do not inherit the tuning: the operator had none.
  assert.equal(out.inherited, null);
});
