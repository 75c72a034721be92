// The upstream_role lock verified by the server (session/boundary.ts): after every batch of a
// role-locked session the gateway asks `SELECT current_user` (pipelined), and the next batch waits
// for the answer. A function whose body resets the role, which the analyser cannot see into,
// ends the session before anything else of the client runs as the gateway's upstream user; a
// later statement in the same batch is refused. Against PostgreSQL 18 and 15, with a superuser
// and a non-superuser upstream, outcomes checked on the server: the rows of a table the locked
// role may not touch.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { runPsql } from '../helpers/clients.js';
import { connectionTo, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  bindMessage,
  dataRowValues,
  errorFields,
  executeMessage,
  message,
  parseMessage,
  queryMessage,
  RawClient,
  type RawMessage,
  syncMessage,
} from '../helpers/raw-client.js';

const LOCKED = { name: 'locked', password: 'locked-secret' };
const GATEKEEPER_PASSWORD = 'gatekeeper-secret';

const errorsOf = (ms: RawMessage[]) => ms.filter((m) => m.type === 'E').map((m) => errorFields(m.body));
const run = (sql: string) =>
  Buffer.concat([parseMessage('', sql), bindMessage('', '', []), executeMessage(''), syncMessage()]);
const step = (sql: string) =>
  Buffer.concat([parseMessage('', sql), bindMessage('', '', []), executeMessage('')]);

for (const version of [18, 15] as const) {
  describe(`upstream_role verified by PostgreSQL ${version}`, () => {
    let db: TestPostgres;
    let gw: TestGateway;
    let direct: pg.Client;

    before(async () => {
      db = await startPostgres({ version });
      direct = new pg.Client({ connectionString: db.url });
      await direct.connect();
      // Made by the database's owner: the analyser sees only `SELECT unlock_...()`.
      await direct.query(`
        CREATE ROLE locked_role NOLOGIN;
        CREATE ROLE gatekeeper LOGIN PASSWORD '${GATEKEEPER_PASSWORD}';
        GRANT locked_role TO gatekeeper;
        CREATE TABLE secret (x int);
        INSERT INTO secret VALUES (1), (2), (3);
        GRANT ALL ON secret TO gatekeeper;
        CREATE TABLE inbox (x int);
        GRANT SELECT, INSERT ON inbox TO locked_role;
        CREATE FUNCTION unlock_sql() RETURNS text LANGUAGE sql AS $$ SELECT set_config('role', 'none', false) $$;
        CREATE FUNCTION unlock_plpgsql() RETURNS text LANGUAGE plpgsql AS
          $$ BEGIN EXECUTE 'RESET ' || 'ROLE'; RETURN 'unlocked'; END $$;
        -- Extension members: the gateway knows them by name only (it reads the bodies of other
        -- user functions and refuses these), so they stand for what the analysis cannot reach.
        ALTER EXTENSION plpgsql ADD FUNCTION unlock_sql();
        ALTER EXTENSION plpgsql ADD FUNCTION unlock_plpgsql();`);
      gw = await startGateway(db, {
        identities: [
          {
            name: LOCKED.name,
            password: LOCKED.password,
            oidc: null,
            connections: ['app', 'plain'],
            policy: 'open',
            upstreamRole: 'locked_role',
          },
        ],
        // No guardrail at all: the lock must hold on its own.
        policies: { open: { guardrails: [] } },
        // The same database through a non-superuser upstream user that may write `secret`.
        extraConnections: [connectionTo('plain', db, { user: 'gatekeeper', password: GATEKEEPER_PASSWORD })],
      });
    });

    after(async () => {
      await direct?.end();
      await gw?.stop();
      await db?.stop();
    });

    const secretRows = async () => (await direct.query('SELECT count(*)::int AS n FROM secret')).rows[0].n;
    const plainPort = () => gw.core.addresses().find((a) => a.name === 'plain')!.port;

    async function login(port = gw.port): Promise<RawClient> {
      const c = await RawClient.connect(gw.host, port);
      await c.login({ user: LOCKED.name, password: LOCKED.password });
      return c;
    }

    async function currentUser(c: RawClient): Promise<string | null> {
      c.write(queryMessage('SELECT current_user'));
      const row = (await c.readUntil('Z')).find((m) => m.type === 'D');
      return row ? dataRowValues(row.body)[0] : null;
    }

    for (const [upstream, port] of [
      ['superuser', () => gw.port],
      ['non-superuser', plainPort],
    ] as const) {
      test(`${upstream} upstream: a function that resets the role ends the session; the pipelined DELETE never runs`, async () => {
        for (const fn of ['unlock_sql', 'unlock_plpgsql']) {
          const c = await login(port());
          try {
            assert.equal(await currentUser(c), 'locked_role');
            c.write(Buffer.concat([queryMessage(`SELECT ${fn}()`), queryMessage('DELETE FROM secret')]));
            const got = await c.readToEnd(5000);
            const fatal = errorsOf(got).find((f) => f.S === 'FATAL');
            assert.equal(fatal?.C, '42501', `${fn}: ${JSON.stringify(errorsOf(got))}`);
            assert.match(fatal?.M ?? '', /locked_role/);
            assert.equal(await secretRows(), 3, `${fn}: the DELETE did not run`);
          } finally {
            c.socket.destroy();
          }
        }
      });

      test(`${upstream} upstream: ... in the extended protocol, pipelined across Syncs`, async () => {
        const c = await login(port());
        try {
          c.write(Buffer.concat([run('SELECT unlock_plpgsql()'), run('DELETE FROM secret')]));
          const got = await c.readToEnd(5000);
          assert.equal(errorsOf(got).find((f) => f.S === 'FATAL')?.C, '42501', JSON.stringify(errorsOf(got)));
          assert.equal(await secretRows(), 3, 'the DELETE did not run');
        } finally {
          c.socket.destroy();
        }
      });
    }

    test('a later statement in the same simple Query is refused before anything runs', async () => {
      const c = await login(plainPort());
      try {
        for (const sql of [
          'SELECT unlock_sql(); DELETE FROM secret',
          'SELECT 1; DELETE FROM secret',
          'BEGIN; SAVEPOINT s; SELECT unlock_sql(); ROLLBACK TO s; DELETE FROM secret; COMMIT',
        ]) {
          c.write(queryMessage(sql));
          const errors = errorsOf(await c.readUntil('Z'));
          assert.equal(errors[0]?.C, '42501', `${sql}: ${JSON.stringify(errors)}`);
          assert.match(errors[0]?.M ?? '', /followed by more statements/);
          assert.equal(await currentUser(c), 'locked_role');
        }
        assert.equal(await secretRows(), 3);
        // Statements that run no user code may lead: transaction control, SET, SHOW. Nothing may
        // follow one that can (a COMMIT runs deferred triggers).
        c.write(
          queryMessage(
            "BEGIN; SET LOCAL application_name = 'x'; SHOW application_name; SELECT count(*) FROM inbox",
          ),
        );
        assert.deepEqual(errorsOf(await c.readUntil('Z')), []);
        c.write(queryMessage('SELECT count(*) FROM inbox; COMMIT'));
        assert.equal(errorsOf(await c.readUntil('Z'))[0]?.C, '42501');
        c.write(queryMessage('COMMIT'));
        assert.deepEqual(errorsOf(await c.readUntil('Z')), []);
        assert.equal(await currentUser(c), 'locked_role');
      } finally {
        c.socket.destroy();
      }
    });

    test('a later Execute or Bind in the same extended batch is refused in place: the error rolls the role change back with the batch', async () => {
      for (const later of [step('DELETE FROM secret'), bindMessage('other', '', [])]) {
        const c = await login(plainPort());
        try {
          c.write(Buffer.concat([step('SELECT unlock_sql()'), later, syncMessage()]));
          const errors = errorsOf(await c.readUntil('Z'));
          assert.equal(errors.length, 1, JSON.stringify(errors));
          assert.equal(errors[0].S, 'ERROR');
          assert.equal(errors[0].C, '42501');
          assert.match(errors[0].M, /last statement/);
          assert.equal(await secretRows(), 3, 'the DELETE did not run');
          // set_config in the batch's implicit transaction is undone with it.
          assert.equal(await currentUser(c), 'locked_role');
        } finally {
          c.socket.destroy();
        }
      }
    });

    test('a JDBC-style batch (several Bind/Execute before one Sync) is refused, not the session ended; the role is unchanged', async () => {
      const c = await login(plainPort());
      try {
        c.write(
          Buffer.concat([
            parseMessage('ins', 'INSERT INTO inbox VALUES ($1)'),
            bindMessage('', 'ins', ['1']),
            executeMessage(''),
            bindMessage('', 'ins', ['2']),
            executeMessage(''),
            syncMessage(),
          ]),
        );
        const got = await c.readUntil('Z');
        const errors = errorsOf(got);
        assert.equal(errors.length, 1, JSON.stringify(errors));
        assert.equal(errors[0].S, 'ERROR');
        assert.equal(errors[0].C, '42501');
        assert.match(errors[0].M, /send a Sync/);
        // The batch ran as one implicit transaction, which the refusal rolled back.
        assert.equal(Number((await direct.query('SELECT count(*) FROM inbox')).rows[0].count), 0);
        // The session goes on, as the locked role; the same rows one batch at a time work.
        assert.equal(await currentUser(c), 'locked_role');
        c.write(Buffer.concat([bindMessage('', 'ins', ['1']), executeMessage(''), syncMessage()]));
        assert.equal(errorsOf(await c.readUntil('Z')).length, 0);
        assert.equal(Number((await direct.query('SELECT count(*) FROM inbox')).rows[0].count), 1);
      } finally {
        c.socket.destroy();
        await direct.query('DELETE FROM inbox');
      }
    });

    test('a simple Query in the middle of an extended batch after user code ends the session before it runs', async () => {
      const c = await login(plainPort());
      try {
        // A simple Query in the middle of an extended batch runs at once.
        c.write(
          Buffer.concat([step('SELECT unlock_sql()'), queryMessage('DELETE FROM secret'), syncMessage()]),
        );
        const got = await c.readToEnd(5000);
        const fatal = errorsOf(got).find((f) => f.S === 'FATAL');
        assert.equal(fatal?.C, '42501', JSON.stringify(errorsOf(got)));
        assert.match(fatal?.M ?? '', /last statement/);
        assert.equal(await secretRows(), 3, 'the DELETE did not run');
      } finally {
        c.socket.destroy();
      }
    });

    test('start-up warns once about the superuser upstream, not about the other; the connection status says so', async () => {
      await eventually(
        () => (gw.core.upstreamSuperuser('plain') === null ? undefined : true),
        10_000,
        'the probes',
      );
      await eventually(
        () => (gw.core.upstreamSuperuser('app') === null ? undefined : true),
        10_000,
        'the probes',
      );
      assert.equal(gw.core.upstreamSuperuser('app'), true);
      assert.equal(gw.core.upstreamSuperuser('plain'), false);
      const warnings = gw.logs.filter((l) => l.startsWith('warn') && /is a superuser/.test(l));
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.match(warnings[0], new RegExp(`connection "app": upstream user "${db.user}" is a superuser`));
    });

    test('psql: a function that resets the role ends the session before the next command', async () => {
      const target = { ...gw.target(), user: LOCKED.name, password: LOCKED.password };
      const r = await runPsql(
        ['-At', '-c', 'SELECT current_user', '-c', 'SELECT unlock_plpgsql()', '-c', 'DELETE FROM secret'],
        target,
      );
      assert.notEqual(r.code, 0);
      assert.match(r.stdout, /^locked_role\n/);
      assert.match(r.stderr, /locked to role "locked_role"/);
      assert.equal(await secretRows(), 3);
    });

    test('a Terminate right behind a query waits for the check, then ends the session cleanly', async () => {
      const c = await RawClient.connect(gw.host, gw.port);
      await c.login({
        user: LOCKED.name,
        password: LOCKED.password,
        params: { application_name: 'quits-at-once' },
      });
      c.write(Buffer.concat([queryMessage('SELECT 1'), message('X')]));
      assert.equal((await c.readUntil('Z')).at(-1)?.type, 'Z');
      assert.equal(await c.waitEnded(5000), true);
      const s = await eventually(
        () => {
          const store = gw.readStore();
          try {
            return store.listSessions().find((x) => x.applicationName === 'quits-at-once' && x.endedAt);
          } finally {
            store.close();
          }
        },
        5000,
        'the session to be recorded as ended',
      );
      assert.equal(s.endReason, 'client terminated');
    });

    test('ordinary work goes on: COPY FROM STDIN, a failed transaction, node-postgres with parameters', async () => {
      const c = await login();
      try {
        c.write(queryMessage('COPY inbox FROM STDIN'));
        assert.equal((await c.readUntil('G')).at(-1)?.type, 'G');
        c.write(Buffer.concat([message('d', Buffer.from('7\n')), message('c')]));
        assert.deepEqual(errorsOf(await c.readUntil('Z')), []);
        c.write(queryMessage('BEGIN; SELECT 1/0'));
        assert.equal(errorsOf(await c.readUntil('Z'))[0]?.C, '22012');
        c.write(queryMessage('ROLLBACK'));
        assert.deepEqual(errorsOf(await c.readUntil('Z')), []);
        assert.equal(await currentUser(c), 'locked_role');
      } finally {
        c.socket.destroy();
      }
      assert.equal((await direct.query('SELECT count(*)::int AS n FROM inbox WHERE x = 7')).rows[0].n, 1);
      const client = new pg.Client({
        host: gw.host,
        port: gw.port,
        user: LOCKED.name,
        password: LOCKED.password,
        database: 'appdb',
      });
      await client.connect();
      try {
        assert.equal((await client.query('SELECT $1::int + 1 AS n', [41])).rows[0].n, 42);
        await client.query('BEGIN');
        await client.query('INSERT INTO inbox VALUES ($1)', [8]);
        await client.query('COMMIT');
        assert.equal((await client.query('SELECT current_user AS u')).rows[0].u, 'locked_role');
        await assert.rejects(
          client.query('DELETE FROM secret'),
          (e: Error & { code?: string }) => e.code === '42501',
        );
      } finally {
        await client.end();
      }
      assert.equal(await secretRows(), 3);
    });
  });
}
