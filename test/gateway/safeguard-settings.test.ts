// Settings that switch off the server's own safeguards (policy/safeguards.ts), through the
// gateway to PostgreSQL 18 with a superuser upstream (where they would work): refused in every
// spelling, and on the server the audit trigger still fires and logging stays on. RESET and
// harmless settings keep working.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { analyze } from '../../proxy/policy/analyze.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let db: TestPostgres;
let gw: TestGateway;
let direct: pg.Client;

before(async () => {
  await initPolicyEngine();
  db = await startPostgres({ version: 18 });
  direct = new pg.Client(db.url);
  await direct.connect();
  await direct.query(`
    CREATE TABLE orders (id int);
    CREATE TABLE audit (what text);
    CREATE FUNCTION audit_orders() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN INSERT INTO audit VALUES ('order ' || NEW.id); RETURN NEW; END $$;
    CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION audit_orders();`);
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'default' },
    ],
  });
});

after(async () => {
  await direct?.end();
  await gw?.stop();
  await db?.stop();
});

async function session<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ ...gw.target(), user: AGENT.name, password: AGENT.password, ssl: false });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const refusals = [
  'SET session_replication_role = replica',
  "SET SESSION session_replication_role TO 'replica'",
  'SET LOCAL "Session_Replication_Role" = replica',
  "SELECT set_config('session_replication_role', 'replica', false)",
  "SELECT pg_catalog.set_config('SESSION_REPLICATION_ROLE', 'replica', true)",
  "WITH x AS (SELECT set_config('session_replication_role', 'replica', false)) SELECT * FROM x",
  "DO $$ BEGIN PERFORM set_config('session_replication_role', 'replica', false); END $$",
  'CREATE FUNCTION quiet() RETURNS int LANGUAGE sql SET session_replication_role = replica AS $$ SELECT 1 $$',
  'ALTER DATABASE appdb SET session_replication_role = replica',
  'SET log_statement = none',
  'SET log_min_duration_statement = -1',
  'SET allow_system_table_mods = on',
  'SET zero_damaged_pages = on',
  "SET session_preload_libraries = 'auto_explain'",
  'SET track_activities = off',
  'SET ignore_system_indexes = on',
];

describe('settings that switch off server safeguards', () => {
  test('the analyser names each a safeguard_setting', () => {
    for (const sql of refusals) {
      const kinds = analyze(sql).statements.flatMap((s) => s.units.map((u) => u.kind));
      assert.ok(kinds.includes('safeguard_setting'), `${sql}: ${kinds.join(', ')}`);
    }
    for (const sql of [
      'RESET session_replication_role',
      'SET session_replication_role TO DEFAULT',
      'SET work_mem = 1024',
    ]) {
      const kinds = analyze(sql).statements.flatMap((s) => s.units.map((u) => u.kind));
      assert.ok(!kinds.includes('safeguard_setting'), `${sql}: ${kinds.join(', ')}`);
    }
  });

  test('each is refused with 42501; the audit trigger still fires on the server', async () => {
    await session(async (c) => {
      for (const sql of refusals) {
        const err = await c.query(sql).then(
          () => null,
          (e: Error & { code?: string }) => e,
        );
        assert.equal(err?.code, '42501', `${sql}: ${err?.message ?? 'ran'}`);
      }
      await c.query('INSERT INTO orders VALUES (1)');
      const setting = await c.query('SHOW session_replication_role');
      assert.equal(setting.rows[0].session_replication_role, 'origin');
    });
    const audit = await direct.query('SELECT what FROM audit');
    assert.deepEqual(
      audit.rows.map((r) => r.what),
      ['order 1'],
    );
    const persisted = await direct.query('SELECT count(*)::int AS n FROM pg_db_role_setting');
    assert.equal(persisted.rows[0].n, 0, 'no persistent setting was written');
    const fn = await direct.query("SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'quiet'");
    assert.equal(fn.rows[0].n, 0);
  });

  test('RESET, DEFAULT and ordinary settings still work', async () => {
    await session(async (c) => {
      await c.query('RESET session_replication_role');
      await c.query('SET session_replication_role TO DEFAULT');
      await c.query("SET work_mem = '8MB'");
      assert.equal((await c.query('SHOW work_mem')).rows[0].work_mem, '8MB');
    });
  });
});
