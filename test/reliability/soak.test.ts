// The soak of bench/soak.ts at CI scale: SOAK_CLIENTS clients (default 100) for SOAK_SECONDS
// (default 10) through a real `bastion serve` with recording, guardrails and masking on: no
// unexpected error, RSS within the bound, the store verifies. `npm run soak` runs 500 for 60 s.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatReport, soak } from '../../bench/soak.js';

test('soak: 100 clients for 10 s with recording, guardrails and masking: no error, bounded RSS, the store verifies', {
  timeout: 300_000,
}, async (t) => {
  const r = await soak({
    clients: Number(process.env.SOAK_CLIENTS ?? 100),
    seconds: Number(process.env.SOAK_SECONDS ?? 10),
    thinkMs: Number(process.env.SOAK_THINK_MS ?? 500),
    log: (l) => t.diagnostic(l),
  });
  for (const line of formatReport(r).split('\n')) t.diagnostic(line);
  assert.deepEqual([...r.errors.keys()], [], 'unexpected errors');
  assert.ok(
    r.statements.select > 0 && r.statements.insert > 0 && r.statements.blocked > 0,
    'the whole mix ran',
  );
  assert.equal(r.storeVerified, true);
  assert.ok(r.rssEndKb - r.rssStartKb <= r.rssBoundKb, `RSS grew ${r.rssEndKb - r.rssStartKb} kB`);
  assert.equal(r.ok, true);
});
