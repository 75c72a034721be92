// A call of a user function that already exists on the server counts as what its body does. The
// test's superuser creates the functions directly (as a DBA would) before any gateway session:
// wrappers of server-file functions, a DROP, dynamic SQL, a two-level chain, a recursive pair,
// a procedure, a body in another language. Through the gateway, under the default policy, each
// is refused (42501) with the function named in the reason, and the outcome is checked on the
// server: the canary table still there, no file written, the marker file's text never in what
// the client got. Harmless functions (and an extension's) keep working.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { AGENT, queryThrough, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

const MARKER = 'bodies-gateway-marker-83c1';
const MARKER_HEX = Buffer.from(MARKER).toString('hex');
const READER = { user: 'reader', password: 'reader-secret' };
const AGENT_LOGIN = { user: AGENT.name, password: AGENT.password };

function suite(version: 18 | 15): void {
  describe(`PostgreSQL ${version}`, () => {
    let db: TestPostgres;
    let gw: TestGateway;
    let direct: pg.Client;
    let dir: string;
    let file: string;
    let pgcrypto = false;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-bodies-gw-'));
      fs.chmodSync(dir, 0o777);
      file = path.join(dir, 'secret.txt');
      fs.writeFileSync(file, MARKER, { mode: 0o644 });
      db = await startPostgres({ version });
      direct = new pg.Client(db.url);
      await direct.connect();
      // The C symbol of pg_read_file(text) differs between major versions.
      const src = (
        await direct.query(
          `SELECT prosrc FROM pg_proc WHERE oid = 'pg_catalog.pg_read_file(text)'::regprocedure`,
        )
      ).rows[0].prosrc;
      await direct.query(`CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2), (3);
      CREATE FUNCTION public.wrapper(p text) RETURNS text LANGUAGE sql AS $$ SELECT pg_read_file(p) $$;
      CREATE FUNCTION public.dropper() RETURNS int LANGUAGE plpgsql
        AS $$ BEGIN DROP TABLE canary; RETURN 1; END $$;
      CREATE FUNCTION public.dyn(p text) RETURNS text LANGUAGE plpgsql
        AS $$ DECLARE r text; BEGIN EXECUTE 'SELECT pg_read_' || 'file(' || quote_literal(p) || ')' INTO r; RETURN r; END $$;
      CREATE FUNCTION public.prog(p text) RETURNS int LANGUAGE plpgsql
        AS $$ BEGIN EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'touch ' || p); RETURN 1; END $$;
      CREATE FUNCTION public.dump_to(p text) RETURNS int LANGUAGE plpgsql
        AS $$ DECLARE o oid; BEGIN o := lo_from_bytea(0, 'pwned'::bytea); RETURN lo_export(o, p); END $$;
      CREATE FUNCTION public.inner_read(p text) RETURNS text LANGUAGE sql AS $$ SELECT pg_read_file(p) $$;
      CREATE FUNCTION public.outer_read(p text) RETURNS text LANGUAGE sql AS $$ SELECT inner_read(p) $$;
      CREATE FUNCTION public.ping(n int, p text) RETURNS text LANGUAGE plpgsql
        AS $$ BEGIN IF n <= 0 THEN RETURN 'done'; END IF; RETURN pong(n - 1, p); END $$;
      CREATE FUNCTION public.pong(n int, p text) RETURNS text LANGUAGE plpgsql
        AS $$ BEGIN IF n = 1 THEN RETURN pg_read_file(p); END IF; RETURN ping(n - 1, p); END $$;
      CREATE FUNCTION public.fact(n int) RETURNS bigint LANGUAGE plpgsql
        AS $$ BEGIN IF n <= 1 THEN RETURN 1; END IF; RETURN n * fact(n - 1); END $$;
      CREATE FUNCTION public.count_items() RETURNS bigint LANGUAGE plpgsql
        AS $$ BEGIN RETURN (SELECT count(*) FROM items); END $$;
      CREATE FUNCTION public.readacc(acc text, x text) RETURNS text LANGUAGE plpgsql
        AS $$ BEGIN RETURN coalesce(acc, '') || pg_read_file(x); END $$;
      CREATE AGGREGATE public.readall(text) (sfunc = readacc, stype = text);
      CREATE FUNCTION public.check_read(v text) RETURNS boolean LANGUAGE plpgsql
        AS $$ BEGIN RAISE EXCEPTION 'got %', pg_read_file(v); END $$;
      CREATE DOMAIN readdom AS text CHECK (check_read(VALUE));
      CREATE PROCEDURE public.drop_proc() LANGUAGE plpgsql AS $$ BEGIN DROP TABLE canary; END $$;
      CREATE FUNCTION public.rf(text) RETURNS text LANGUAGE internal STRICT AS '${src}'`);
      pgcrypto =
        (await direct.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto'`)).rowCount === 1;
      if (pgcrypto) await direct.query('CREATE EXTENSION pgcrypto');
      gw = await startGateway(db, {
        identities: [
          { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'default' },
          {
            name: READER.user,
            password: READER.password,
            oidc: null,
            connections: ['app'],
            policy: 'readonly',
          },
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

    const viaGateway = (sql: string, who = AGENT_LOGIN) => queryThrough(gw, sql, who);

    const canaryExists = async () =>
      (await direct.query("SELECT to_regclass('public.canary') AS r")).rows[0].r !== null;

    function assertNoMarker(rows: string): void {
      assert.doesNotMatch(rows, new RegExp(MARKER));
      assert.doesNotMatch(rows.toLowerCase(), new RegExp(MARKER_HEX));
    }

    describe('file readers behind user functions', () => {
      const cases = () =>
        [
          [
            'a SQL wrapper of pg_read_file',
            `SELECT public.wrapper('${file}') AS x`,
            /no-server-functions/,
            'public.wrapper',
          ],
          ['its unqualified name', `SELECT wrapper('${file}') AS x`, /no-server-functions/, 'public.wrapper'],
          ['in FROM', `SELECT x FROM wrapper('${file}') AS x`, /no-server-functions/, 'public.wrapper'],
          [
            'two levels',
            `SELECT outer_read('${file}') AS x`,
            /no-server-functions/,
            'public.outer_read > function public.inner_read',
          ],
          [
            'a recursive pair',
            `SELECT ping(2, '${file}') AS x`,
            /no-server-functions/,
            'public.ping > function public.pong',
          ],
          ['EXECUTE of a computed string', `SELECT dyn('${file}') AS x`, /no-dynamic-sql/, 'public.dyn'],
          [
            'a user aggregate whose transition function reads',
            `SELECT readall(p) AS x FROM (VALUES ('${file}')) v(p)`,
            /no-server-functions/,
            'public.readacc',
          ],
          ['LANGUAGE internal', `SELECT rf('${file}') AS x`, /no-dynamic-sql/, 'public.rf'],
        ] as const;
      for (let i = 0; i < cases().length; i++) {
        test(`case ${i}: read on the server directly, refused through the gateway`, async () => {
          const [what, sql, rule, inside] = cases()[i];
          assert.equal((await direct.query(sql)).rows[0].x, MARKER, `${what} reads the file directly`);
          const r = await viaGateway(sql);
          assert.equal(r.error?.code, '42501', `${what}: ${r.error?.message ?? r.rows}`);
          assert.match(r.error?.message ?? '', rule, what);
          assert.ok(r.error?.message.includes(`inside function ${inside}`), `${what}: ${r.error?.message}`);
          assertNoMarker(r.rows);
        });
      }
    });

    test('a cast to a domain whose CHECK calls a reading function: refused, the marker not in the error', async () => {
      const sql = `SELECT ('${file}'::readdom)::text AS x`;
      await assert.rejects(direct.query(sql), new RegExp(MARKER), 'the CHECK reads the file directly');
      const r = await viaGateway(sql);
      assert.equal(r.error?.code, '42501', r.error?.message ?? r.rows);
      assert.match(r.error?.message ?? '', /no-server-functions/);
      assert.ok(r.error?.message.includes('inside function public.check_read'), r.error?.message);
      assert.doesNotMatch(r.error?.message ?? '', new RegExp(MARKER));
    });

    describe('writes behind user functions', () => {
      test('a PL/pgSQL DROP TABLE (function and procedure): refused, the canary still there', async () => {
        await direct.query('CREATE TABLE IF NOT EXISTS canary (id int)');
        for (const sql of [
          'SELECT dropper()',
          'SELECT public.dropper()',
          'CALL drop_proc()',
          'CALL public.drop_proc()',
        ]) {
          const r = await viaGateway(sql);
          assert.equal(r.error?.code, '42501', `${sql}: ${r.error?.message ?? r.rows}`);
          assert.match(r.error?.message ?? '', /no-drop/);
          assert.match(r.error?.message ?? '', /inside (function|procedure) public\.(dropper|drop_proc)/);
          assert.equal(await canaryExists(), true, sql);
        }
        // The shape does drop it on this server.
        await direct.query('SELECT dropper()');
        assert.equal(await canaryExists(), false);
      });

      test('lo_export and COPY TO PROGRAM behind functions: refused, no file written', async () => {
        const out = path.join(dir, 'lo-out');
        const touched = path.join(dir, 'touched');
        for (const sql of [`SELECT dump_to('${out}')`, `SELECT prog('${touched}')`]) {
          const r = await viaGateway(sql);
          assert.equal(r.error?.code, '42501', `${sql}: ${r.error?.message ?? r.rows}`);
        }
        assert.equal(fs.existsSync(out), false);
        assert.equal(fs.existsSync(touched), false);
        // Both do write on this server.
        await direct.query(`SELECT dump_to('${out}'), prog('${touched}')`);
        assert.equal(fs.existsSync(out), true);
        assert.equal(fs.existsSync(touched), true);
      });
    });

    describe('renaming or moving instead of calling', () => {
      const names = async () =>
        (
          await direct.query(
            `SELECT string_agg(n.nspname || '.' || p.proname, ',' ORDER BY 1) AS s FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proname IN ('wrapper', 'nice')`,
          )
        ).rows[0].s;

      // The catalog the decision reads is the one before the DDL (and, inside a transaction,
      // one without it): the new name would look like an unknown, harmless function.
      for (const sql of [
        "ALTER FUNCTION public.wrapper(text) RENAME TO nice; SELECT nice('FILE') AS x",
        `BEGIN; ALTER FUNCTION wrapper(text) RENAME TO nice`,
        'CREATE SCHEMA IF NOT EXISTS util; ALTER FUNCTION wrapper(text) SET SCHEMA util',
        'ALTER SCHEMA public RENAME TO elsewhere',
        'ALTER EXTENSION plpgsql ADD FUNCTION wrapper(text)',
      ]) {
        test(`${sql}: refused, the function unchanged on the server`, async () => {
          const r = await viaGateway(sql.replace('FILE', file));
          assert.equal(r.error?.code, '42501', `${sql}: ${r.error?.message ?? r.rows}`);
          assertNoMarker(r.rows);
          assert.equal(await names(), 'public.wrapper');
          const member = await direct.query(
            `SELECT 1 FROM pg_depend WHERE objid = 'public.wrapper(text)'::regprocedure AND deptype = 'e'`,
          );
          assert.equal(member.rowCount, 0);
        });
      }

      test('an extension member renamed is unknown (it is known by its name only)', async (t) => {
        if (!pgcrypto) return t.skip('pgcrypto is not available on this server');
        const r = await viaGateway('ALTER FUNCTION digest(text, text) RENAME TO dg');
        assert.equal(r.error?.code, '42501', r.error?.message ?? r.rows);
        const n = await direct.query(`SELECT 1 FROM pg_proc WHERE proname = 'dg'`);
        assert.equal(n.rowCount, 0);
      });

      test('a harmless function may be renamed', async () => {
        const r = await viaGateway('ALTER FUNCTION fact(int) RENAME TO fact2');
        assert.equal(r.error, null, r.error?.message);
        await direct.query('ALTER FUNCTION fact2(int) RENAME TO fact');
      });
    });

    describe('controls', () => {
      test('harmless PL/pgSQL functions (one recursive) still run under the default policy', async () => {
        const r = await viaGateway('SELECT count_items() AS n, fact(5) AS f');
        assert.equal(r.error, null, r.error?.message);
        assert.equal(r.rows, JSON.stringify([{ n: '3', f: '120' }]));
      });

      test('an extension function is known by name and runs', async (t) => {
        if (!pgcrypto) return t.skip('pgcrypto is not available on this server');
        const r = await viaGateway("SELECT encode(digest('x', 'sha256'), 'hex') AS h");
        assert.equal(r.error, null, r.error?.message);
        assert.match(r.rows, /2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881/);
      });

      test('read_only identities still refuse user functions, harmless ones included', async () => {
        for (const sql of ['SELECT count_items()', `SELECT wrapper('${file}')`]) {
          const r = await viaGateway(sql, READER);
          assert.equal(r.error?.code, '42501', `${sql}: ${r.error?.message ?? r.rows}`);
          assertNoMarker(r.rows);
        }
      });
    });
  });
}

suite(18);
suite(15);
