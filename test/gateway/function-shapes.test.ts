// Function calls in shapes other than f(x), through the gateway against PostgreSQL 18: attribute
// notation reading a server file, an operator bound to pg_read_file, DDL shadowing or renaming a
// built-in. The client must get 42501 and never the marker file's text; on the server the
// operator, the shadowing function and the rename must not exist afterwards, and under read_only
// an attribute-notation nextval must not advance the sequence.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import postgres from 'postgres';
import { BUILTIN_OPERATOR_NAMES } from '../../proxy/policy/overrides.js';
import { runPsql } from '../helpers/clients.js';
import { AGENT, queryThrough, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

const MARKER = 'funcres-gateway-marker-91c2';
let db: TestPostgres;
let gw: TestGateway;
let direct: pg.Client;
let dir: string;
let file: string;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-funcres-gw-'));
  fs.chmodSync(dir, 0o755);
  file = path.join(dir, 'secret.txt');
  fs.writeFileSync(file, MARKER, { mode: 0o644 });
  db = await startPostgres({ version: 18 });
  direct = new pg.Client(db.url);
  await direct.connect();
  await direct.query(`CREATE TABLE paths (path text); INSERT INTO paths VALUES ('${file}');
    CREATE SEQUENCE s; CREATE TABLE items (id int, name text); INSERT INTO items VALUES (1, 'a')`);
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'default' },
      { name: 'reader', password: 'reader-secret', oidc: null, connections: ['app'], policy: 'readonly' },
    ],
    policies: { readonly: { read_only: true } },
  });
});

after(async () => {
  await direct?.end();
  await gw?.stop();
  await db?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const viaGateway = (sql: string, user = AGENT.name, password = AGENT.password) =>
  queryThrough(gw, sql, { user, password });

const one = async (sql: string, params: unknown[] = []) => (await direct.query(sql, params)).rows[0];

describe('attribute notation', () => {
  for (const sql of [
    "SELECT ('$FILE'::text).pg_read_file AS x",
    'SELECT (p.path).pg_read_file AS x FROM paths p',
    'SELECT ((SELECT path FROM paths)).pg_read_file AS x',
  ]) {
    test(sql, async () => {
      const text = sql.replace('$FILE', file);
      // The shape really reads the file on this server.
      assert.equal((await one(text)).x, MARKER);
      const r = await viaGateway(text);
      assert.equal(r.error?.code, '42501');
      assert.match(r.error?.message ?? '', /no-server-functions/);
      assert.doesNotMatch(r.rows, new RegExp(MARKER));
    });
  }

  test('psql: the same through a real client, refused, the marker never printed', async () => {
    const r = await runPsql(
      ['-v', 'ON_ERROR_STOP=0', '-c', `SELECT ('${file}'::text).pg_read_file`],
      gw.target(),
    );
    assert.match(r.stderr, /Bastion blocked this statement \(rule "no-server-functions"\)/);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(MARKER));
  });

  test('read_only: (x).nextval is refused and the sequence is not advanced on the server', async () => {
    const before = await one('SELECT last_value, is_called FROM s');
    const r = await viaGateway("SELECT ('s').nextval", 'reader', 'reader-secret');
    assert.equal(r.error?.code, '42501');
    assert.match(r.error?.message ?? '', /read_only|read-only/);
    assert.deepEqual(await one('SELECT last_value, is_called FROM s'), before);
  });

  test('qualified columns still run', async () => {
    const r = await viaGateway('SELECT i.id, items.name FROM items i, items');
    assert.equal(r.error, null);
    assert.equal(r.rows, JSON.stringify([{ id: 1, name: 'a' }]));
  });
});

describe('DDL that binds or shadows functions', () => {
  test('CREATE OPERATOR bound to pg_read_file is refused; no operator exists on the server', async () => {
    const r = await viaGateway('CREATE OPERATOR ~~~ (RIGHTARG = text, FUNCTION = pg_read_file)');
    assert.equal(r.error?.code, '42501');
    assert.match(r.error?.message ?? '', /no-server-functions/);
    assert.equal(Number((await one("SELECT count(*) AS n FROM pg_operator WHERE oprname = '~~~'")).n), 0);
  });

  test('CREATE FUNCTION public.lower is refused; no shadow exists on the server', async () => {
    const r = await viaGateway(
      "CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS 'SELECT pg_catalog.pg_read_file($1)'",
    );
    assert.equal(r.error?.code, '42501');
    assert.match(r.error?.message ?? '', /no-builtin-overrides/);
    const n = await one(
      "SELECT count(*) AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE proname = 'lower' AND nspname <> 'pg_catalog'",
    );
    assert.equal(Number(n.n), 0);
  });

  test('ALTER FUNCTION pg_read_file RENAME is refused; the built-in keeps its name', async () => {
    const r = await viaGateway('ALTER FUNCTION pg_read_file(text) RENAME TO harmless');
    assert.equal(r.error?.code, '42501');
    assert.match(r.error?.message ?? '', /no-builtin-overrides/);
    assert.equal(
      (await one("SELECT to_regprocedure('pg_catalog.pg_read_file(text)') IS NOT NULL AS ok")).ok,
      true,
    );
    assert.equal((await one("SELECT to_regproc('harmless') IS NULL AS gone")).gone, true);
  });

  test("every built-in operator name of this server is in the analyser's list", async () => {
    const rows = (await direct.query('SELECT DISTINCT oprname FROM pg_operator WHERE oid < 16384')).rows;
    const missing = rows.map((r) => r.oprname as string).filter((n) => !BUILTIN_OPERATOR_NAMES.has(n));
    assert.deepEqual(missing, []);
  });
});

describe('search_path at login', () => {
  test('a startup search_path with a schema before pg_catalog is refused with 42501', async () => {
    const t = gw.target();
    const sql = postgres({
      host: t.host,
      port: t.port,
      user: t.user,
      password: t.password,
      database: t.database,
      ssl: false,
      max: 1,
      connection: { search_path: 'evil, pg_catalog' },
      onnotice: () => {},
    });
    try {
      await assert.rejects(sql`SELECT 1`, (e: Error & { code?: string }) => e.code === '42501');
    } finally {
      await sql.end();
    }
  });

  test('a role default search_path reported by PostgreSQL 18 at login is refused', async () => {
    await direct.query(`ALTER ROLE ${db.user} IN DATABASE ${db.database} SET search_path = evil, pg_catalog`);
    try {
      await assert.rejects(
        viaGateway('SELECT 1'),
        (e: Error & { code?: string }) => e.code === '42501' && /before pg_catalog/.test(e.message),
      );
    } finally {
      await direct.query(`ALTER ROLE ${db.user} IN DATABASE ${db.database} RESET search_path`);
    }
    assert.equal((await viaGateway('SELECT 1 AS one')).error, null);
  });
});
