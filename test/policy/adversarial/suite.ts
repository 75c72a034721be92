// Registers every adversarial case as a node:test subtest against one PostgreSQL version. Each
// case runs over each of its connections and transports; after each run the server's state is
// compared with the state before it (over the harness's own superuser connection), the bytes the
// client received are searched for the planted markers, and the session's role is checked.
// A case listed in KNOWN_BYPASSES is reported as todo: an open bypass, not a pass.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import type { PgVersion } from '../../helpers/postgres.js';
import { ALL_CASES } from './cases/index.js';
import { type Env, startEnv } from './harness.js';
import { KNOWN_BYPASSES } from './known-bypasses.js';
import { expectedRole, runCase } from './runner.js';
import { diff, reset, snapshot } from './state.js';
import type { Case, CaseClass, Conn, Via } from './types.js';

export function viasOf(c: Case): Via[] {
  if (c.via) return c.via;
  if (c.custom) return ['query'];
  if (c.fcall) return ['fcall'];
  if (c.script !== undefined) return ['query', 'psql'];
  return ['query', 'extended', 'psql'];
}

/** Runs one case over one connection and transport; returns what went wrong (empty: it held). */
async function once(env: Env, c: Case, conn: Conn, via: Via): Promise<string[]> {
  const problems: string[] = [];
  // The state before the setup: the setup's objects are gone again (cleanup) when `after` is read.
  const before = env.current;
  if (c.setup) await env.db.query(env.fill(c.setup));
  const out = await runCase(env, c, conn, via);
  problems.push(...out.transport.map((t) => `transport: ${t}`));
  const received = Buffer.concat(out.received);
  for (const m of env.markers)
    if (received.includes(m)) problems.push(`marker ${m.slice(0, 12)}... reached the client`);
  const want = expectedRole(c.identity, conn, env.server.user);
  if (out.role && (out.role.current !== want.current || out.role.session !== want.session)) {
    problems.push(`role now ${out.role.current}/${out.role.session}, want ${want.current}/${want.session}`);
  }
  if (c.expect === 'ok') {
    if (out.errors.length > 0) problems.push(`control refused: ${out.errors.join('; ')}`);
    if (out.ended) problems.push('control: the session ended');
    if (c.verify) {
      const v = await env.db.query(env.fill(c.verify));
      if (Object.values(v.rows[0] ?? {})[0] !== true) problems.push(`control: verify failed (${c.verify})`);
    }
  }
  if (c.cleanup)
    await env.db.query(env.fill(c.cleanup)).catch((e: Error) => problems.push(`cleanup: ${e.message}`));
  const afterSnap = await snapshot(env.db, env.state);
  const changed = diff(before, afterSnap);
  if (c.expect === 'refused') for (const d of changed) problems.push(`server state changed: ${d}`);
  if (changed.length > 0 || c.setup) {
    if (afterSnap.victim !== env.base.snapshot.victim) await env.reconnectVictim();
    const left = await reset(env.db, env.base, env.state, 'adv_app');
    if (left.length > 0) problems.push(`reset left: ${left.join('; ')}`);
    env.current = await snapshot(env.db, env.state);
  } else env.current = afterSnap;
  return problems.map((p) => `[${conn}/${via}] ${p}`);
}

/** Registers the cases of `classes` (default: all) against one version; each test file runs a part
 * so that no file takes more than a few minutes on a slow machine. */
export function adversarialSuite(version: PgVersion, classes?: readonly CaseClass[]): void {
  let env: Env;
  const report = process.env.ADV_REPORT;
  before(async () => {
    env = await startEnv(version);
  });
  after(async () => {
    await env?.stop();
  });
  // ADV_ONLY=id,id runs only those cases (to look at a few again by hand).
  const only = process.env.ADV_ONLY?.split(',');
  const cases = ALL_CASES.filter(
    (c) =>
      (c.minVersion ?? 0) <= version &&
      (!only || only.includes(c.id)) &&
      (!classes || classes.includes(c.cls)),
  );
  for (const c of cases) {
    const known = KNOWN_BYPASSES.includes(c.id);
    test(`PG${version} ${c.id} [${c.cls}] ${c.identity}: ${c.desc}`, {
      todo: known ? 'open bypass (known-bypasses.ts)' : undefined,
    }, async () => {
      const problems: string[] = [];
      for (const conn of c.conns ?? (['su', 'nsu'] as Conn[])) {
        for (const via of viasOf(c)) {
          // A run that could not even be sent proves nothing: reported like any other problem.
          const run = once(env, c, conn, via).catch(async (e: Error) => {
            await reset(env.db, env.base, env.state, 'adv_app');
            env.current = await snapshot(env.db, env.state);
            return [`[${conn}/${via}] harness: ${e.message}`];
          });
          problems.push(...(await run));
        }
      }
      if (report && problems.length > 0) {
        fs.appendFileSync(
          report,
          `${JSON.stringify({ id: c.id, cls: c.cls, version, desc: c.desc, problems })}\n`,
        );
      }
      assert.deepEqual(problems, [], `${c.id}: ${c.desc}`);
    });
  }
}
