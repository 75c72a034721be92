// Red-team pass 2 findings, through the gateway to PostgreSQL 18 (superuser upstream, and a
// role-locked identity whose policy has no guardrails at all, so the lock must hold by itself):
// built-ins whose effect depends on their arguments (set_config, ts_rewrite's SQL text) bound to
// an aggregate or operator, by the session or already in the database; a role reset hidden in an
// existing function's body; NOTIFY from a read-only identity; a view over pg_settings. Checked on
// the server: canary rows, current_user, the marker never in the bytes the client got, no
// notification delivered.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

const MARKER = 'bound-builtins-marker-5e1d';
let db: TestPostgres;
let gw: TestGateway;
let direct: pg.Client;
let dir: string;
let file: string;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-bound-'));
  fs.chmodSync(dir, 0o755);
  file = path.join(dir, 'marker.txt');
  fs.writeFileSync(file, MARKER, { mode: 0o644 });
  db = await startPostgres({ version: 18 });
  direct = new pg.Client(db.url);
  await direct.connect();
  // Made by the database's owner before any session: the analyser sees only their names.
  await direct.query(`
    CREATE ROLE analyst NOLOGIN;
    CREATE TABLE canary (id int, note text);
    INSERT INTO canary VALUES (1, 'a');
    GRANT SELECT ON canary TO analyst;
    CREATE AGGREGATE public.setter(text, boolean) (SFUNC = pg_catalog.set_config, STYPE = text, INITCOND = 'role');
    CREATE OPERATOR public.<<< (FUNCTION = pg_catalog.ts_rewrite, LEFTARG = tsquery, RIGHTARG = text);
    CREATE FUNCTION public.unlock() RETURNS text LANGUAGE sql AS $$ SELECT set_config('role', 'none', false) $$;
    CREATE FUNCTION public.touch() RETURNS int LANGUAGE sql AS $$ INSERT INTO canary VALUES (9, 'touched') RETURNING 1 $$;`);
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'default' },
      { name: 'reader', password: 'reader-secret', oidc: null, connections: ['app'], policy: 'ro' },
      {
        name: 'locked',
        password: 'locked-secret',
        oidc: null,
        connections: ['app'],
        policy: 'open',
        upstreamRole: 'analyst',
      },
    ],
    policies: { ro: { read_only: true }, open: { guardrails: [] } },
  });
});

after(async () => {
  await direct?.end();
  await gw?.stop();
  await db?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function as<T>(user: string, password: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ ...gw.target(), user, password, ssl: false });
  c.on('error', () => {});
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

async function refusedAll(user: string, password: string, sqls: string[]): Promise<void> {
  await as(user, password, async (c) => {
    for (const sql of sqls) {
      const r = await c.query(sql).then(
        (res) => ({ ok: JSON.stringify(res.rows), err: null as (Error & { code?: string }) | null }),
        (e: Error & { code?: string }) => ({ ok: null, err: e }),
      );
      assert.equal(r.err?.code, '42501', `${sql}: ${r.err?.message ?? `ran: ${r.ok}`}`);
      assert.ok(!(r.err?.message ?? '').includes(MARKER));
    }
    assert.equal(
      (await c.query('SELECT current_user AS u')).rows[0].u,
      user === 'locked' ? 'analyst' : db.user,
    );
  });
}

const canary = async () => (await direct.query('SELECT count(*)::int AS n FROM canary')).rows[0].n;

describe('built-ins bound where their arguments cannot be seen', () => {
  test('binding set_config or SQL-running built-ins to an aggregate or operator is refused', async () => {
    const ddl = [
      `CREATE AGGREGATE pg_temp.a(text, boolean) (SFUNC = pg_catalog.set_config, STYPE = text, INITCOND = 'role')`,
      `CREATE AGGREGATE pg_temp.tr(text) (SFUNC = pg_catalog.ts_rewrite, STYPE = tsquery, INITCOND = 'a')`,
      'CREATE OPERATOR pg_temp.<<< (FUNCTION = ts_rewrite, LEFTARG = tsquery, RIGHTARG = text)',
    ];
    await refusedAll(AGENT.name, AGENT.password, ddl);
    await refusedAll('locked', 'locked-secret', ddl);
    const made = await direct.query(`SELECT count(*)::int AS n FROM pg_proc WHERE proname IN ('a', 'tr')`);
    assert.equal(made.rows[0].n, 0);
  });

  test('those already in the database are refused where they are used', async () => {
    const reads = `SELECT 'a'::tsquery OPERATOR(public.<<<) 'select quote_literal(pg_read_file(''${file}''))::tsquery, ''a''::tsquery'`;
    await refusedAll(AGENT.name, AGENT.password, [reads, `SELECT public.setter('none', false)`]);
    await refusedAll('locked', 'locked-secret', [
      `SELECT x, touch() FROM (SELECT public.setter('none', false) x) s OFFSET 0`,
      reads,
    ]);
    assert.equal(await canary(), 1);
  });

  test('a role lock with no guardrails refuses a role reset hidden in an existing function body', async () => {
    await refusedAll('locked', 'locked-secret', ['SELECT unlock(), touch()', 'SELECT unlock()']);
    assert.equal(await canary(), 1);
  });

  test('NOTIFY is a write for a read-only identity: nothing reaches a listener', async () => {
    const listener = new pg.Client(db.url);
    await listener.connect();
    const got: string[] = [];
    listener.on('notification', (n) => got.push(n.payload ?? ''));
    await listener.query('LISTEN rt');
    try {
      await refusedAll('reader', 'reader-secret', [
        `NOTIFY rt, 'from-reader'`,
        `SELECT pg_notify('rt', 'x')`,
      ]);
      await listener.query('SELECT 1');
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(got, []);
    } finally {
      await listener.end();
    }
  });

  test('a view over pg_settings is refused (writing through it would set settings)', async () => {
    await refusedAll('reader', 'reader-secret', [
      'CREATE TEMP VIEW vs AS SELECT name, setting FROM pg_catalog.pg_settings',
    ]);
    await refusedAll(AGENT.name, AGENT.password, ['CREATE VIEW vs AS SELECT name, setting FROM pg_settings']);
  });
});

describe('red-team round 2: casts that change a constant, catalogs behind views, types named like built-ins', () => {
  test('a setting name cut or trimmed by its cast is refused; role and settings unchanged on the server', async () => {
    const cut = [
      `SELECT set_config('role.x'::varchar(4), 'none', true), touch()`,
      `SELECT set_config('role '::char(5), 'none', true), touch()`,
      `SELECT set_config('role   '::bpchar, 'none', true)`,
      `SELECT set_config(cast('role.x' AS varchar(4)), 'none', true)`,
      `SELECT set_config('session_authorizationX'::varchar(21), 'none', true)`,
    ];
    await refusedAll('locked', 'locked-secret', cut);
    await refusedAll(AGENT.name, AGENT.password, [
      `SELECT set_config('session_replication_role '::char(25), 'replica', false)`,
      `SELECT set_config('search_path '::char(12), 'public, pg_catalog', false)`,
      `SELECT query_to_xml('select * from U&"pg_hba_file\\005frules" UESCAPE ''!'''::varchar(39), true, false, '')`,
    ]);
    assert.equal(await canary(), 1);
  });

  test('a view over a system catalog and a domain named like a built-in type are refused; the catalogs are unchanged', async () => {
    await refusedAll(AGENT.name, AGENT.password, [
      'CREATE VIEW public.rt_vc AS SELECT * FROM pg_catalog.pg_cast',
      'CREATE VIEW public.rt_va AS SELECT * FROM pg_authid',
      'CREATE TEMP VIEW rt_vs AS SELECT * FROM pg_db_role_setting',
      'CREATE DOMAIN pg_temp.text AS varchar(4)',
      'CREATE TYPE public.int4 AS (a int)',
    ]);
    const views = await direct.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'rt_v%'`);
    assert.equal(views.rows[0].n, 0);
    const types = await direct.query(
      `SELECT count(*)::int AS n FROM pg_type WHERE typname IN ('text', 'int4') AND typnamespace <> 'pg_catalog'::regnamespace`,
    );
    assert.equal(types.rows[0].n, 0);
  });
});
