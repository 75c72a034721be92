// `read_only` enforced by PostgreSQL (policy/read-only.ts, session/boundary.ts): a read_only
// session's upstream runs every transaction read-only, so a write the analyser misses (a view
// calling a writing function, a writing function wrongly allow-listed) fails in the server with
// 25006; every way to switch that off is refused; a switch the gateway cannot see (set_config
// inside a function) ends the session before the next batch runs. Against PostgreSQL 18 and 15,
// outcomes checked on the server: the canary table's rows, the role and database defaults.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import pg from 'pg';
import { runPsql } from '../helpers/clients.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  bindMessage,
  dataRowValues,
  errorFields,
  executeMessage,
  int16,
  int32,
  message,
  parseMessage,
  queryMessage,
  RawClient,
  type RawMessage,
  syncMessage,
} from '../helpers/raw-client.js';

const RO = { name: 'reader', password: 'reader-secret' };
/** set_config(text, text, boolean) in pg_proc (stable since PostgreSQL 8). */
const SET_CONFIG_OID = 2078;

const errorsOf = (ms: RawMessage[]) => ms.filter((m) => m.type === 'E').map((m) => errorFields(m.body));

/** Every way the analyser can see to make transactions read-write: each refused with 42501. */
const SWITCHES = [
  'SET default_transaction_read_only = off',
  'SET SESSION default_transaction_read_only TO false',
  'SET LOCAL transaction_read_only = 0',
  'SET "Default_Transaction_Read_Only" TO \'of\'',
  'SET default_transaction_read_only TO DEFAULT',
  'SET transaction_read_only = DEFAULT',
  'SET TRANSACTION READ WRITE',
  'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE',
  'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE',
  'BEGIN READ WRITE',
  'BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ WRITE',
  'START TRANSACTION READ WRITE',
  "SELECT set_config('default_transaction_read_only', 'off', false)",
  "SELECT pg_catalog.set_config('TRANSACTION_READ_ONLY', 'off', true)",
  "SELECT set_config('default_transaction_' || 'read_only', 'off', false)",
  "SELECT set_config(chr(100) || 'efault_transaction_read_only', 'off', false)",
  "SELECT * FROM (SELECT set_config('default_transaction_read_only', 'no', false)) s",
  'CREATE FUNCTION g() RETURNS int LANGUAGE sql SET default_transaction_read_only = off AS $$SELECT 1$$',
  'ALTER FUNCTION flip() SET default_transaction_read_only = off',
  'ALTER ROLE CURRENT_USER SET default_transaction_read_only = off',
  'ALTER DATABASE appdb SET default_transaction_read_only = off',
  "UPDATE pg_settings SET setting = 'off' WHERE name = 'default_transaction_read_only'",
  "DO $$BEGIN PERFORM set_config('default_transaction_read_only', 'off', false); END$$",
  'DO $$BEGIN PERFORM flip(); COMMIT; PERFORM sneaky_write(); END$$',
  'CALL allowed_proc()',
  'SELECT flip(); COMMIT; SELECT sneaky_write()',
  'SELECT 1; END; SELECT sneaky_write()',
  "PREPARE rw AS SELECT set_config('default_transaction_read_only', 'off', false)",
];

/** What stays allowed: none of it makes a transaction read-write. */
const HARMLESS = [
  'SET default_transaction_read_only = on',
  "SET transaction_read_only TO 'true'",
  'BEGIN READ ONLY; SELECT 1; COMMIT',
  'RESET default_transaction_read_only',
  'RESET ALL',
  'DISCARD ALL',
];

for (const version of [18, 15] as const) {
  describe(`read_only enforced by PostgreSQL ${version}`, () => {
    let db: TestPostgres;
    let gw: TestGateway;
    let direct: pg.Client;

    before(async () => {
      db = await startPostgres({ version });
      direct = new pg.Client({ connectionString: db.url });
      await direct.connect();
      await direct.query(`
        CREATE TABLE canary (x int);
        CREATE FUNCTION sneaky_write() RETURNS int LANGUAGE sql AS 'INSERT INTO canary VALUES (1) RETURNING 1';
        CREATE VIEW innocent AS SELECT sneaky_write() AS w;
        CREATE FUNCTION flip() RETURNS text LANGUAGE plpgsql AS
          $$ BEGIN PERFORM set_config('default_transaction_' || 'read_only', 'off', false); RETURN 'flipped'; END $$;
        CREATE PROCEDURE allowed_proc() LANGUAGE plpgsql AS $$ BEGIN PERFORM flip(); COMMIT; PERFORM sneaky_write(); END $$;
        -- Extension members: the gateway knows them by name only (it reads the bodies of other
        -- user functions), so they stand for what the analysis cannot reach.
        ALTER EXTENSION plpgsql ADD FUNCTION sneaky_write();
        ALTER EXTENSION plpgsql ADD FUNCTION flip();
        ALTER EXTENSION plpgsql ADD PROCEDURE allowed_proc();
        -- A role default that would make every session read-write: the startup value wins.
        ALTER ROLE ${db.user} SET default_transaction_read_only = off;`);
      gw = await startGateway(db, {
        identities: [
          { name: RO.name, password: RO.password, oidc: null, connections: ['app'], policy: 'ro' },
        ],
        // The analyser is told the writing functions are read-only: only the server stands between.
        policies: {
          ro: {
            read_only: true,
            read_only_functions: ['sneaky_write', 'flip', 'allowed_proc'],
            guardrails: [],
          },
        },
      });
    });

    beforeEach(async () => {
      await direct.query('TRUNCATE canary');
    });

    after(async () => {
      await direct?.end();
      await gw?.stop();
      await db?.stop();
    });

    const canaryRows = async () => (await direct.query('SELECT count(*)::int AS n FROM canary')).rows[0].n;

    async function login(params: Record<string, string> = {}): Promise<RawClient> {
      const c = await RawClient.connect(gw.host, gw.port);
      await c.login({ user: RO.name, password: RO.password, database: 'appdb', params });
      return c;
    }

    async function show(c: RawClient): Promise<string | null> {
      c.write(queryMessage('SHOW default_transaction_read_only'));
      const row = (await c.readUntil('Z')).find((m) => m.type === 'D');
      return row ? dataRowValues(row.body)[0] : null;
    }

    test('a write the analyser lets through fails in the server (25006), whatever the client asked at login', async () => {
      const c = await login({ default_transaction_read_only: 'off', Default_Transaction_Read_Only: 'off' });
      try {
        assert.equal(await show(c), 'on');
        for (const sql of ['SELECT sneaky_write()', 'SELECT * FROM innocent']) {
          c.write(queryMessage(sql));
          const errors = errorsOf(await c.readUntil('Z'));
          assert.equal(errors[0]?.C, '25006', `${sql}: ${JSON.stringify(errors)}`);
        }
        c.write(
          Buffer.concat([
            parseMessage('', 'SELECT w FROM innocent'),
            bindMessage('', '', []),
            executeMessage(''),
            syncMessage(),
          ]),
        );
        assert.equal(errorsOf(await c.readUntil('Z'))[0]?.C, '25006');
        assert.equal(await canaryRows(), 0);
      } finally {
        c.socket.destroy();
      }
    });

    test('every way to switch read-only transactions off is refused (42501, rule read_only)', async () => {
      const c = await login();
      try {
        for (const sql of SWITCHES) {
          c.write(queryMessage(sql));
          const errors = errorsOf(await c.readUntil('Z'));
          assert.equal(errors[0]?.C, '42501', `${sql}: ${JSON.stringify(errors)}`);
          assert.match(errors[0]?.M ?? '', /read_only|read-only/, sql);
          assert.equal(await show(c), 'on', sql);
        }
        // FunctionCall of set_config('default_transaction_read_only', 'off', false).
        const arg = (s: string) => Buffer.concat([int32(Buffer.byteLength(s)), Buffer.from(s)]);
        c.write(
          message(
            'F',
            int32(SET_CONFIG_OID),
            int16(0),
            int16(3),
            arg('default_transaction_read_only'),
            arg('off'),
            arg('f'),
            int16(0),
          ),
        );
        assert.equal(errorsOf(await c.readUntil('Z'))[0]?.C, '42501');
        assert.equal(await show(c), 'on');
        for (const sql of HARMLESS) {
          c.write(queryMessage(sql));
          assert.deepEqual(errorsOf(await c.readUntil('Z')), [], sql);
          assert.equal(await show(c), 'on', sql);
        }
        assert.equal(await canaryRows(), 0);
        const settings = await direct.query(
          "SELECT count(*)::int AS n FROM pg_db_role_setting WHERE array_to_string(setconfig, ',') LIKE '%read_only=off%'",
        );
        assert.equal(settings.rows[0].n, 1, 'only the test setup role default is there');
        const fn = await direct.query("SELECT proconfig FROM pg_proc WHERE proname = 'flip'");
        assert.equal(fn.rows[0].proconfig, null);
      } finally {
        c.socket.destroy();
      }
    });

    test('switched off where the gateway cannot see: the pipelined write behind it never runs', async () => {
      const c = await login();
      try {
        c.write(Buffer.concat([queryMessage('SELECT flip()'), queryMessage('SELECT sneaky_write()')]));
        const got = await c.readToEnd(5000);
        const fatal = errorsOf(got).find((f) => f.S === 'FATAL');
        assert.equal(fatal?.C, '42501', JSON.stringify(errorsOf(got)));
        assert.match(fatal?.M ?? '', /default_transaction_read_only/);
        assert.equal(await canaryRows(), 0, 'the write did not run');
      } finally {
        c.socket.destroy();
      }
    });

    test('... the same in the extended protocol, pipelined across Syncs', async () => {
      const c = await login();
      try {
        const run = (sql: string) =>
          Buffer.concat([parseMessage('', sql), bindMessage('', '', []), executeMessage(''), syncMessage()]);
        c.write(Buffer.concat([run('SELECT flip()'), run('SELECT sneaky_write()')]));
        const got = await c.readToEnd(5000);
        assert.equal(errorsOf(got).find((f) => f.S === 'FATAL')?.C, '42501', JSON.stringify(errorsOf(got)));
        assert.equal(await canaryRows(), 0, 'the write did not run');
      } finally {
        c.socket.destroy();
      }
    });

    test('a new transaction inside one extended batch (Execute of COMMIT, then more) ends the session', async () => {
      const c = await login();
      try {
        const step = (sql: string) =>
          Buffer.concat([parseMessage('', sql), bindMessage('', '', []), executeMessage('')]);
        c.write(
          Buffer.concat([
            step('SELECT flip()'),
            step('COMMIT'),
            step('SELECT sneaky_write()'),
            syncMessage(),
          ]),
        );
        const got = await c.readToEnd(5000);
        const fatal = errorsOf(got).find((f) => f.S === 'FATAL');
        assert.equal(fatal?.C, '42501', JSON.stringify(errorsOf(got)));
        assert.match(fatal?.M ?? '', /followed by Sync/);
        assert.equal(await canaryRows(), 0, 'the write did not run');
      } finally {
        c.socket.destroy();
      }
    });

    test('psql: reads work, the hidden write fails in the server, the switch ends the session', async () => {
      const target = {
        ...gw.target(),
        user: RO.name,
        password: RO.password,
        env: { PGOPTIONS: '-c default_transaction_read_only=off' },
      };
      const ok = await runPsql(
        ['-At', '-c', 'SHOW default_transaction_read_only', '-c', 'SELECT count(*) FROM canary'],
        target,
      );
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, 'on\n0\n');
      const miss = await runPsql(['-c', 'SELECT * FROM innocent'], target);
      assert.notEqual(miss.code, 0);
      assert.match(miss.stderr, /read-only transaction/);
      const hidden = await runPsql(['-c', 'SELECT flip()', '-c', 'SELECT sneaky_write()'], target);
      assert.notEqual(hidden.code, 0);
      assert.match(hidden.stderr, /default_transaction_read_only = off/);
      assert.equal(await canaryRows(), 0);
    });

    test('an ordinary client works as before (node-postgres, extended protocol, transactions)', async () => {
      const client = new pg.Client({
        host: gw.host,
        port: gw.port,
        user: RO.name,
        password: RO.password,
        database: 'appdb',
      });
      await client.connect();
      try {
        assert.equal((await client.query('SELECT $1::int + 1 AS n', [41])).rows[0].n, 42);
        await client.query('BEGIN');
        assert.equal((await client.query('SELECT count(*)::int AS n FROM canary')).rows[0].n, 0);
        await client.query('COMMIT');
        await assert.rejects(
          client.query('SELECT * FROM innocent'),
          (e: Error & { code?: string }) => e.code === '25006',
        );
        assert.equal((await client.query('SHOW transaction_read_only')).rows[0].transaction_read_only, 'on');
      } finally {
        await client.end();
      }
    });
  });
}
