// Red-team findings on the default policy, through the gateway to PostgreSQL 18 with a superuser
// upstream (where each worked): writes to the system catalogs (a function rewritten after its body
// was checked, a persistent setting), server-wide statements (ALTER DATABASE ... SET, a
// tablespace directory), and writes that reach every row without looking like an UPDATE. Checked
// on the server: the function body, pg_db_role_setting, pg_tablespace and the canary rows are as
// they were.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let db: TestPostgres;
let gw: TestGateway;
let direct: pg.Client;
let dir: string;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-reach-'));
  fs.chmodSync(dir, 0o777);
  db = await startPostgres({ version: 18 });
  direct = new pg.Client(db.url);
  await direct.connect();
  await direct.query(`
    CREATE TABLE canary (id int PRIMARY KEY, note text);
    INSERT INTO canary VALUES (1, 'a'), (2, 'b'), (3, 'c');
    CREATE FUNCTION public.echo(text) RETURNS text LANGUAGE sql AS $$ SELECT $1 $$;`);
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'quick' },
    ],
    // The default guardrails; a held statement is refused after a second.
    policies: { quick: { approval_timeout: '1s' } },
  });
});

after(async () => {
  await direct?.end();
  await gw?.stop();
  await db?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function refused(sql: string): Promise<string> {
  const c = new pg.Client({ ...gw.target(), ssl: false });
  await c.connect();
  try {
    const err = await c.query(sql).then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    assert.equal(err?.code, '42501', `${sql}: ${err?.message ?? 'it ran'}`);
    return err?.message ?? '';
  } finally {
    await c.end();
  }
}

const canary = async () =>
  (await direct.query('SELECT id, note FROM canary ORDER BY id')).rows
    .map((r) => `${r.id}:${r.note}`)
    .join(' ');

describe('what reaches past the tables the policy sees', () => {
  test('writes to the system catalogs are refused; the function keeps its checked body', async () => {
    assert.match(
      await refused(
        `UPDATE pg_proc SET prolang = (SELECT oid FROM pg_language WHERE lanname = 'internal'), prosrc = 'pg_read_file_all' WHERE proname = 'echo'`,
      ),
      /system catalog/,
    );
    await refused(`UPDATE pg_catalog.pg_proc SET prosrc = 'SELECT 2' WHERE proname = 'echo'`);
    await refused(`INSERT INTO pg_db_role_setting VALUES (0, 0, '{work_mem=1MB}')`);
    await refused(`WITH x AS (DELETE FROM pg_catalog.pg_db_role_setting RETURNING 1) SELECT * FROM x`);
    await refused('CREATE TEMP VIEW pg_settings AS SELECT 1 AS name');
    const fn = await direct.query(
      `SELECT l.lanname, p.prosrc FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.proname = 'echo'`,
    );
    assert.deepEqual(fn.rows[0], { lanname: 'sql', prosrc: ' SELECT $1 ' });
    assert.equal((await direct.query('SELECT count(*)::int AS n FROM pg_db_role_setting')).rows[0].n, 0);
  });

  test('server-wide statements are refused: no persistent setting, no tablespace directory, no subscription', async () => {
    await refused('ALTER DATABASE appdb SET statement_timeout = 1');
    await refused(`ALTER DATABASE appdb SET session_preload_libraries = 'auto_explain'`);
    await refused(`CREATE TABLESPACE rt LOCATION '${dir}'`);
    await refused(`CREATE SUBSCRIPTION rt CONNECTION 'host=127.0.0.1' PUBLICATION p WITH (connect = false)`);
    await refused(`SELECT pg_logical_emit_message(true, 'x', 'y')`);
    assert.equal((await direct.query('SELECT count(*)::int AS n FROM pg_db_role_setting')).rows[0].n, 0);
    assert.equal(
      (await direct.query(`SELECT count(*)::int AS n FROM pg_tablespace WHERE spcname = 'rt'`)).rows[0].n,
      0,
    );
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.equal((await direct.query('SELECT count(*)::int AS n FROM pg_subscription')).rows[0].n, 0);
  });

  test('ALTER DATABASE ... WITH and RENAME are refused (red-team round 3: a connection limit locked every client out)', async () => {
    await refused('ALTER DATABASE appdb WITH CONNECTION LIMIT 1');
    await refused('ALTER DATABASE postgres WITH ALLOW_CONNECTIONS false');
    await refused('ALTER DATABASE postgres RENAME TO pgx');
    await refused('CREATE TABLE child () INHERITS (pg_catalog.pg_cast)');
    const dbs = await direct.query(
      `SELECT datname, datconnlimit, datallowconn FROM pg_database WHERE datname IN ('appdb', 'postgres') ORDER BY datname`,
    );
    assert.deepEqual(dbs.rows, [
      { datname: 'appdb', datconnlimit: -1, datallowconn: true },
      { datname: 'postgres', datconnlimit: -1, datallowconn: true },
    ]);
    const cast = await direct.query(
      `SELECT relhassubclass FROM pg_class WHERE oid = 'pg_catalog.pg_cast'::regclass`,
    );
    assert.equal(cast.rows[0].relhassubclass, false);
  });

  test('writes that reach every row are held (and refused when no one approves); the rows are unchanged', async () => {
    for (const sql of [
      `INSERT INTO canary SELECT * FROM canary ON CONFLICT (id) DO UPDATE SET note = 'upsert-all'`,
      'MERGE INTO canary t USING canary s ON t.id = s.id WHEN MATCHED THEN DELETE',
      `ALTER TABLE canary ALTER COLUMN note TYPE text USING 'rewritten'`,
      'DELETE FROM canary WHERE ctid IS NOT NULL',
      'DELETE FROM canary WHERE id IN (SELECT id FROM canary)',
      'DELETE FROM canary c USING canary c2 WHERE c.id = c2.id',
      `UPDATE canary c SET note = 'x' FROM canary c2 WHERE c.id = c2.id`,
    ]) {
      assert.match(await refused(sql), /timed out without a decision/, sql);
    }
    assert.equal(await canary(), '1:a 2:b 3:c');
  });

  test('ordinary statements of the same shapes still run', async () => {
    const c = new pg.Client({ ...gw.target(), ssl: false });
    await c.connect();
    try {
      await c.query(`INSERT INTO canary VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET note = 'one'`);
      await c.query('DELETE FROM canary c USING canary c2 WHERE c.id = 4 AND c2.id = c.id');
      await c.query('ALTER TABLE canary ALTER COLUMN note TYPE varchar(20)');
      await c.query('SELECT relname FROM pg_class LIMIT 1');
    } finally {
      await c.end();
    }
    assert.equal(await canary(), '1:one 2:b 3:c');
  });
});
