// Objects that already exist on the server change what a name runs: a user function named like
// a built-in, a renamed built-in, user operators and casts, `t.f` calling a user function. The
// test's superuser creates them directly on a throwaway PostgreSQL 18 (and 15) before any gateway session;
// through the gateway they must be refused (42501), with the outcome checked on the server: the
// sequence never advanced, the marker file's text never in what the client got.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { AGENT, queryThrough, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

const MARKER = 'catres-gateway-marker-5e07';
const MARKER_HEX = Buffer.from(MARKER).toString('hex');
const READER = { user: 'reader', password: 'reader-secret' };
function suite(version: 18 | 15): void {
  describe(`PostgreSQL ${version}`, () => {
    let db: TestPostgres;
    let gw: TestGateway;
    let direct: pg.Client;
    let dir: string;
    let file: string;
    let renamed = false;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-catres-gw-'));
      fs.chmodSync(dir, 0o755);
      file = path.join(dir, 'secret.txt');
      fs.writeFileSync(file, MARKER, { mode: 0o644 });
      db = await startPostgres({ version });
      direct = new pg.Client(db.url);
      await direct.connect();
      await direct.query(`CREATE SEQUENCE s;
      CREATE TABLE items (id int); INSERT INTO items VALUES (1);
      -- (a) a user function with a built-in's name: lower(5) picks it by argument match.
      CREATE FUNCTION public.lower(integer) RETURNS text LANGUAGE sql AS $$ SELECT nextval('s')::text $$;
      -- (c) a prefix operator and a cast bound to built-in file readers, a cast bound to a writer.
      CREATE OPERATOR |~| (RIGHTARG = text, FUNCTION = pg_catalog.pg_read_file);
      CREATE CAST (text AS bytea) WITH FUNCTION pg_catalog.pg_read_binary_file(text);
      CREATE TYPE bump AS (n bigint);
      CREATE FUNCTION public.bump_of(integer) RETURNS bump LANGUAGE sql AS $$ SELECT ROW(nextval('s'))::bump $$;
      CREATE CAST (integer AS bump) WITH FUNCTION public.bump_of(integer);
      -- (d) a writing user function reached as items.bumpit.
      CREATE FUNCTION public.bumpit(items) RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('s') $$;
      -- (b) a renamed built-in (renamed back in after()).
      ALTER FUNCTION pg_catalog.pg_read_file(text) RENAME TO harmless`);
      renamed = true;
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
      if (renamed) await direct.query('ALTER FUNCTION pg_catalog.harmless(text) RENAME TO pg_read_file');
      await direct?.end();
      await gw?.stop();
      await db?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const viaGateway = (sql: string, who: { user: string; password: string }) => queryThrough(gw, sql, who);

    const AGENT_LOGIN = { user: AGENT.name, password: AGENT.password };
    const sequence = async () => (await direct.query('SELECT last_value, is_called FROM s')).rows[0];

    function assertNoMarker(rows: string): void {
      assert.doesNotMatch(rows, new RegExp(MARKER));
      assert.doesNotMatch(rows.toLowerCase(), new RegExp(MARKER_HEX));
    }

    describe('file readers reached without their name', () => {
      const cases = () => [
        { what: '(b) a renamed pg_read_file', sql: `SELECT harmless('${file}') AS x` },
        { what: '(c) an operator bound to pg_read_file', sql: `SELECT |~| '${file}'::text AS x` },
        {
          what: '(c) a cast bound to pg_read_binary_file',
          sql: `SELECT convert_from(('${file}'::text)::bytea, 'UTF8') AS x`,
        },
      ];
      for (const i of [0, 1, 2]) {
        test(`case ${i}: read on the server directly, refused through the gateway (default and read_only)`, async () => {
          const { what, sql } = cases()[i];
          // The shape really reads the file on this server.
          assert.equal((await direct.query(sql)).rows[0].x, MARKER, what);
          for (const who of [AGENT_LOGIN, READER]) {
            const r = await viaGateway(sql, who);
            assert.equal(r.error?.code, '42501', `${what} as ${who.user}: ${r.error?.message ?? r.rows}`);
            assertNoMarker(r.rows);
          }
          const r = await viaGateway(sql, AGENT_LOGIN);
          assert.match(r.error?.message ?? '', /no-server-functions/);
        });
      }
    });

    describe('writing user functions reached without their name (read_only)', () => {
      for (const [what, sql] of [
        ['(a) lower(5) is public.lower(int)', 'SELECT lower(5) AS x'],
        ['(c) 5::bump runs public.bump_of', 'SELECT (5::bump).n AS x'],
        ['(d) i.bumpit is public.bumpit(items)', 'SELECT i.bumpit AS x FROM items i'],
        ['(d) (i).bumpit', 'SELECT (i).bumpit AS x FROM items i'],
      ]) {
        test(`${what}: refused, the sequence not advanced on the server`, async () => {
          // It does write on this server.
          const start = await sequence();
          await direct.query(sql);
          const moved = await sequence();
          assert.notDeepEqual(moved, start, `${what} advances the sequence directly`);
          const r = await viaGateway(sql, READER);
          assert.equal(r.error?.code, '42501', `${what}: ${r.error?.message ?? r.rows}`);
          assert.match(r.error?.message ?? '', /read_only|read-only/);
          assert.deepEqual(await sequence(), moved);
        });
      }
    });

    describe('controls', () => {
      for (const [sql, rows, who] of [
        ["SELECT lower('X') AS x", [{ x: 'x' }], AGENT_LOGIN],
        ["SELECT upper('x') AS x", [{ x: 'X' }], READER],
        ['SELECT 1 + 1 AS x', [{ x: 2 }], READER],
        ["SELECT '1'::int AS x", [{ x: 1 }], READER],
        ['SELECT i.id AS x FROM items i', [{ x: 1 }], READER],
      ] as const) {
        test(`${sql} as ${who.user} still runs`, async () => {
          const r = await viaGateway(sql, who);
          assert.equal(r.error, null, r.error?.message);
          assert.equal(r.rows, JSON.stringify(rows));
        });
      }

      test('a writing function created directly after the catalog loaded is seen once it is stale', async () => {
        // DDL seen through the gateway (a session that masks nothing) marks the catalog stale.
        const r = await viaGateway('CREATE TABLE scratch_t (id int)', AGENT_LOGIN);
        assert.equal(r.error, null, r.error?.message);
        await direct.query(
          `CREATE FUNCTION public.upper(integer) RETURNS text LANGUAGE sql AS $$ SELECT nextval('s')::text $$`,
        );
        const moved = await sequence();
        await viaGateway('CREATE TABLE scratch_u (id int)', AGENT_LOGIN);
        const w = await viaGateway('SELECT upper(5) AS x', READER);
        assert.equal(w.error?.code, '42501', w.error?.message ?? w.rows);
        assert.deepEqual(await sequence(), moved);
      });
    });
  });
}

suite(18);
suite(15);
