// Server settings that change how SQL is lexed (standard_conforming_strings): with it off, the
// server reads `\'` in '...' as an escaped quote, so `SELECT 'a\' , 'b; DROP TABLE t; --'` is a
// DROP to the server and one harmless SELECT to a reader that assumes the default. The gateway
// refuses to turn it off, ends a session in which it goes off anyway (before the next statement
// that could read differently), and refuses logins that start with it off. Outcomes are checked
// on the server: the table still there.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import pg from 'pg';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  bindMessage,
  errorFields,
  executeMessage,
  parseMessage,
  queryMessage,
  RawClient,
  type RawMessage,
  syncMessage,
} from '../helpers/raw-client.js';

let db: TestPostgres;
let gw: TestGateway;
let direct: pg.Client;
const SMUGGLED = "SELECT 'a\\' , 'b; DROP TABLE victim; --'";

before(async () => {
  db = await startPostgres({ version: 18 });
  direct = new pg.Client({ connectionString: db.url });
  await direct.connect();
  // A function the gateway cannot see into, made by the database's owner. The guardrails read
  // the bodies of user functions (a call counts as what it runs, and this one would be refused),
  // but not of extension members: made one, it stands for what the analysis cannot reach, and
  // the server's own report of the setting is what must stop the statement behind it.
  await direct.query(`CREATE FUNCTION flip() RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM set_config('standard_' || 'conforming_strings', 'off', false); RETURN 'flipped'; END $$;
    ALTER EXTENSION plpgsql ADD FUNCTION flip()`);
  gw = await startGateway(db);
});

beforeEach(async () => {
  await direct.query('CREATE TABLE IF NOT EXISTS victim (id int)');
});

after(async () => {
  await direct?.end();
  await gw?.stop();
  await db?.stop();
});

const victimExists = async () =>
  (await direct.query("SELECT to_regclass('public.victim') AS r")).rows[0].r !== null;

async function login(): Promise<RawClient> {
  const c = await RawClient.connect(gw.host, gw.port);
  await c.login({ user: AGENT.name, password: AGENT.password });
  return c;
}

const errorsOf = (ms: RawMessage[]) => ms.filter((m) => m.type === 'E').map((m) => errorFields(m.body));

describe('standard_conforming_strings', () => {
  test('turning it off is refused, however it is asked for; the smuggled DROP stays a string', async () => {
    const c = await login();
    try {
      for (const sql of [
        'SET standard_conforming_strings = off',
        'SET SESSION standard_conforming_strings TO false',
        "SELECT set_config('standard_conforming_strings', 'off', false)",
        'ALTER DATABASE appdb SET standard_conforming_strings = off',
        'CREATE FUNCTION f() RETURNS int LANGUAGE sql SET standard_conforming_strings = off AS $$ SELECT 1 $$',
      ]) {
        c.write(queryMessage(sql));
        const errors = errorsOf(await c.readUntil('Z'));
        assert.equal(errors[0]?.C, '42501', `${sql}: ${JSON.stringify(errors)}`);
      }
      c.write(queryMessage(SMUGGLED));
      assert.deepEqual(errorsOf(await c.readUntil('Z')), []);
      assert.equal(await victimExists(), true);
      const settings = await direct.query('SELECT count(*)::int AS n FROM pg_db_role_setting');
      assert.equal(settings.rows[0].n, 0, 'no database or role default was changed');
    } finally {
      c.socket.destroy();
    }
  });

  test('turned off by a function the gateway cannot see into: the pipelined statement behind it never runs', async () => {
    const c = await login();
    try {
      c.write(Buffer.concat([queryMessage('SELECT flip()'), queryMessage(SMUGGLED)]));
      const got = await c.readToEnd(5000);
      const fatal = errorsOf(got).find((f) => f.S === 'FATAL');
      assert.equal(fatal?.C, '0A000', JSON.stringify(errorsOf(got)));
      assert.match(fatal?.M ?? '', /standard_conforming_strings/);
      assert.equal(await victimExists(), true, 'the DROP did not run');
    } finally {
      c.socket.destroy();
    }
  });

  test('... in the extended protocol, without a Sync between: the statement is refused', async () => {
    const c = await login();
    try {
      c.write(
        Buffer.concat([
          parseMessage('', 'SELECT flip()'),
          bindMessage('', '', []),
          executeMessage(''),
          // The server reports the change only at the next ReadyForQuery: this Parse would be
          // read with it off before the gateway could know.
          parseMessage('', SMUGGLED),
          bindMessage('', '', []),
          executeMessage(''),
          syncMessage(),
        ]),
      );
      const errors = errorsOf(await c.readUntil('Z'));
      assert.ok(
        errors.some((f) => f.C === '42501' && /without a Sync/.test(f.M)),
        JSON.stringify(errors),
      );
      // The refusal aborts the implicit transaction, and with it flip()'s setting: the session
      // goes on with standard_conforming_strings on.
      assert.equal(await victimExists(), true, 'the DROP did not run');
      c.write(queryMessage('SHOW standard_conforming_strings'));
      const shown = (await c.readUntil('Z')).find((m) => m.type === 'D');
      assert.equal(shown?.body.toString('utf8', 6), 'on');
    } finally {
      c.socket.destroy();
    }
  });

  test('a login whose session would start with it off is refused', async () => {
    await direct.query(`ALTER ROLE ${db.user} SET standard_conforming_strings = off`);
    try {
      const c = await RawClient.connect(gw.host, gw.port);
      try {
        await assert.rejects(
          c.login({ user: AGENT.name, password: AGENT.password }),
          (e: Error & { code?: string }) => {
            assert.equal(e.code, '0A000');
            assert.match(e.message, /standard_conforming_strings/);
            return true;
          },
        );
      } finally {
        c.socket.destroy();
      }
    } finally {
      await direct.query(`ALTER ROLE ${db.user} RESET standard_conforming_strings`);
    }
  });
});
