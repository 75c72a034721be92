// The guardrail corpus (test/policy/corpus/default-policy.txt) through the gateway with a real
// client and the built-in default policy: every "block" is refused with 42501 and leaves the
// database unchanged, every "review" is held (then denied, and nothing changes), every "allow"
// reaches the database (it may still fail there, e.g. on a missing table, but not by Bastion).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { loadCorpus } from '../policy/corpus-file.js';

interface Case {
  action: 'allow' | 'warn' | 'block' | 'review';
  rule: string | null;
  sql: string;
  line: number;
}

function readCorpus(): Case[] {
  return loadCorpus()
    .map((c) => ({ ...c, action: c.action as Case['action'], rule: c.rule ?? null, sql: c.sql.trim() }))
    .filter((c) => c.sql !== '');
}

let db: TestPostgres;
let gw: TestGateway;
let admin: pg.Client;

before(async () => {
  db = await startPostgres({ version: 18 });
  admin = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
  });
  await admin.connect();
  await admin.query(`
    CREATE TABLE t (id int PRIMARY KEY, a int, b text);
    INSERT INTO t SELECT g, g, 'row ' || g FROM generate_series(1, 10) g;
    CREATE TABLE users (id int PRIMARY KEY, email text, active bool DEFAULT true);
    INSERT INTO users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 5) g;
    CREATE TABLE customers (id int PRIMARY KEY, name text, email text, ssn text);
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric, status text);`);
  gw = await startGateway(db);
});

after(async () => {
  await admin?.end();
  await gw?.stop();
  await db?.stop();
});

/** What a refused or held statement must not change: relations, row counts, roles, settings. */
async function snapshot(): Promise<string> {
  const r = await admin.query(`
    SELECT (SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text, ',' ORDER BY 1)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')) AS rels,
           (SELECT count(*) FROM t) || '/' || (SELECT sum(a) FROM t) || '/' || (SELECT count(*) FROM users) AS rows,
           (SELECT string_agg(rolname, ',' ORDER BY 1) FROM pg_roles) AS roles,
           (SELECT md5(string_agg(name || '=' || setting, ',' ORDER BY name)) FROM pg_file_settings) AS conf`);
  return JSON.stringify(r.rows[0]);
}

test('every corpus statement gets its action through the gateway', async () => {
  const cases = readCorpus();
  assert.ok(cases.length >= 150, `corpus has ${cases.length} statements`);
  const counts = { allow: 0, warn: 0, block: 0, review: 0 };
  for (const c of cases) {
    const where = `corpus line ${c.line}: ${c.sql.slice(0, 80)}`;
    const client = new pg.Client(gw.target());
    client.on('error', () => {});
    await client.connect();
    try {
      const before = c.action === 'block' || c.action === 'review' ? await snapshot() : '';
      const outcome = client.query(c.sql).then(
        () => null,
        (e: { code?: string; message?: string }) => e,
      );
      if (c.action === 'review') {
        const a = await eventually(
          () => gw.core.approvals.list('pending').find((x) => x.identity === 'agent'),
          5000,
          `a held statement for ${where}`,
        );
        if (c.rule) assert.equal(a.rule, c.rule, where);
        gw.core.approvals.decide(a.id, 'deny', 'corpus-test');
      }
      const err = await outcome;
      const byBastion = err !== null && err.code === '42501' && /^Bastion/.test(err.message ?? '');
      if (c.action === 'block') {
        assert.ok(
          byBastion,
          `${where}: expected a block, got ${err ? `${err.code} ${err.message}` : 'success'}`,
        );
        if (c.rule) assert.match(err!.message!, new RegExp(`rule "${c.rule}"`), where);
      } else if (c.action === 'review') {
        assert.ok(byBastion && /denied by corpus-test/.test(err!.message ?? ''), `${where}: ${err?.message}`);
      } else {
        assert.ok(!byBastion, `${where}: refused by Bastion: ${err?.message}`);
      }
      if (before) assert.equal(await snapshot(), before, `${where}: the database changed`);
      counts[c.action]++;
    } finally {
      await client.end().catch(() => {});
    }
  }
  assert.ok(counts.block >= 100 && counts.review >= 20 && counts.allow >= 50, JSON.stringify(counts));
  const store = gw.readStore();
  try {
    const decisions = store
      .listSessions({ limit: 10_000 })
      .flatMap((s) => store.listStatements(s.id))
      .map((s) => s.decision);
    assert.equal(decisions.filter((d) => d === 'block').length, counts.block);
    assert.equal(decisions.filter((d) => d === 'review').length, counts.review);
    assert.equal(store.verify().ok, true);
  } finally {
    store.close();
  }
});
