// Statements whose bytes could make the gateway see something other than what PostgreSQL runs:
// NUL bytes inside statements, invalid UTF-8, and client encodings in which a byte the gateway
// reads as part of a string literal ends it instead (the multibyte-escape smuggling of
// CVE-2006-2314). Whatever the bytes, a statement the default policy blocks (here DROP TABLE)
// must not run, and the session must go on or end with a clear error.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  bindMessage,
  cstr,
  executeMessage,
  int16,
  message,
  RawClient,
  syncMessage,
} from '../helpers/raw-client.js';

let db: TestPostgres;
let gw: TestGateway;
let admin: pg.Client;

before(async () => {
  db = await startPostgres({ version: 18 });
  gw = await startGateway(db);
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query('CREATE TABLE victim (x int)');
});

after(async () => {
  await admin?.end();
  await gw?.stop();
  await db?.stop();
});

async function victimExists(): Promise<boolean> {
  return (await admin.query("SELECT to_regclass('public.victim') IS NOT NULL AS e")).rows[0].e;
}

async function login(app: string, params: Record<string, string> = {}): Promise<RawClient> {
  const c = await RawClient.connect(gw.host, gw.port);
  await c.login({ user: AGENT.name, password: AGENT.password, params: { application_name: app, ...params } });
  return c;
}

/** Sends raw statement bytes as a simple Query and returns every message up to ReadyForQuery (or the close). */
async function rawQuery(
  c: RawClient,
  sql: Buffer,
): Promise<{ codes: string[]; tags: string[]; closed: boolean }> {
  c.write(message('Q', sql, Buffer.from([0])));
  const r = await c.result().catch(async () => ({ errors: [], tags: [], messages: await c.readToEnd(2000) }));
  return {
    codes: r.errors.map((e) => e.C),
    tags: r.tags,
    closed: c.ended,
  };
}

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('NUL bytes inside statements', () => {
  const cases: [string, Buffer][] = [
    ['Query: SELECT 1 NUL DROP TABLE', bytes('SELECT 1', [0], 'DROP TABLE victim')],
    ['Query: NUL first, then DROP TABLE', bytes([0], 'DROP TABLE victim')],
    ['Query: DROP inside a comment cut by NUL', bytes('SELECT 1 /*', [0], '*/; DROP TABLE victim')],
  ];
  for (const [name, sql] of cases) {
    test(`${name}: refused (by the guardrails or as a malformed message), nothing dropped, the session goes on`, async () => {
      const c = await login('rel-nul');
      const r = await rawQuery(c, sql);
      assert.equal(r.closed, false);
      // 42501: the part before the NUL does not parse (blocked, fail closed); 08P01: PostgreSQL
      // refuses a Query with bytes after its terminator.
      assert.equal(r.codes.length, 1, r.codes.join(', '));
      assert.ok(['08P01', '42501'].includes(r.codes[0]), r.codes[0]);
      assert.equal(await victimExists(), true);
      assert.deepEqual((await c.query('SELECT 2')).tags, ['SELECT 1'], 'the session still works');
      await c.end();
    });
  }

  test('Parse with a NUL inside the statement: the server reads the same prefix the guardrails read', async () => {
    const c = await login('rel-nul-parse');
    // name "", sql "SELECT 1" NUL "DROP TABLE victim" NUL, then no parameter types.
    c.write(
      Buffer.concat([
        message('P', cstr(''), bytes('SELECT 1', [0], 'DROP TABLE victim', [0]), int16(0)),
        bindMessage('', '', []),
        executeMessage(''),
        syncMessage(),
      ]),
    );
    const r = await c.result();
    assert.ok(r.errors.length > 0 || r.tags.length > 0);
    assert.equal(await victimExists(), true);
    assert.deepEqual((await c.query('SELECT 3')).tags, ['SELECT 1']);
    await c.end();
  });
});

describe('invalid UTF-8 inside statements', () => {
  const cases: [string, Buffer][] = [
    ['a lone continuation byte', bytes('SELECT 1 /* ', [0x80], ' */; DROP TABLE victim')],
    ['a truncated sequence before a quote', bytes("SELECT '", [0xe0], "'; DROP TABLE victim; --'")],
    ['an overlong quote (C0 A7)', bytes("SELECT '", [0xc0, 0xa7], "; DROP TABLE victim; --'")],
    ['a surrogate (ED A0 80)', bytes("SELECT E'", [0xed, 0xa0, 0x80], "\\'; DROP TABLE victim; --'")],
    ['0xFF inside a dollar quote', bytes('SELECT $q$', [0xff], '$q$; DROP TABLE victim')],
  ];
  for (const [name, sql] of cases) {
    test(`${name}: never runs a DROP, the session goes on`, async () => {
      const c = await login('rel-utf8');
      const r = await rawQuery(c, sql);
      assert.equal(r.closed, false);
      assert.ok(r.codes.length > 0, 'an error, not a result');
      assert.ok(!r.tags.includes('DROP TABLE'), 'nothing dropped');
      assert.equal(await victimExists(), true);
      assert.deepEqual((await c.query('SELECT 4')).tags, ['SELECT 1']);
      await c.end();
    });
  }
});

describe('client encodings the guardrails do not read', () => {
  // In SJIS, 0x95 0x5C is one character: the quote after it ends the literal for PostgreSQL,
  // while a UTF-8 reader sees an escaped quote and takes the DROP for part of the string.
  const smuggled = bytes("SELECT E'", [0x95, 0x5c], "'; DROP TABLE victim; --'");
  const ways: [string, Record<string, string>, string | null][] = [
    ['client_encoding=SJIS in the startup packet', { client_encoding: 'SJIS' }, null],
    ["SET client_encoding = 'SJIS'", {}, "SET client_encoding = 'SJIS'"],
    [
      "SELECT set_config('client_encoding', 'SJIS', false)",
      {},
      "SELECT set_config('client_encoding', 'SJIS', false)",
    ],
    ["SET NAMES 'SJIS'", {}, "SET NAMES 'SJIS'"],
  ];
  for (const [how, params, setup] of ways) {
    test(`${how}, then a DROP hidden behind a multibyte character: refused, nothing dropped`, async () => {
      if (!(await victimExists())) await admin.query('CREATE TABLE victim (x int)');
      const c = await RawClient.connect(gw.host, gw.port);
      try {
        await c.login({
          user: AGENT.name,
          password: AGENT.password,
          params: { application_name: 'rel-encoding', ...params },
        });
      } catch (e) {
        // The gateway cannot read statements in this encoding: the login itself is refused.
        assert.equal(setup, null, `only the startup packet way is refused at login: ${(e as Error).message}`);
        assert.equal((e as { code?: string }).code, '0A000', (e as Error).message);
        assert.match((e as Error).message, /client_encoding SJIS/);
        await c.end();
        assert.equal(await victimExists(), true);
        return;
      }
      assert.notEqual(setup, null, 'a login in SJIS was accepted');
      // The statement that would switch the encoding is refused; so is the smuggled DROP after it,
      // even when both are sent together (pipelined) before any answer.
      c.write(
        Buffer.concat([
          message('Q', Buffer.from(setup!), Buffer.from([0])),
          message('Q', smuggled, Buffer.from([0])),
        ]),
      );
      const first = await c.result();
      assert.deepEqual(
        first.errors.map((e) => e.C),
        ['42501'],
        'the encoding change is refused',
      );
      assert.match(first.errors[0].M ?? '', /client_encoding/);
      const second = await c.result().catch(() => ({ errors: [], tags: [] as string[] }));
      assert.ok(!second.tags.includes('DROP TABLE'), `the DROP ran (tags ${second.tags.join(', ')})`);
      await c.end();
      assert.equal(await victimExists(), true, 'table victim was dropped through the gateway');
    });
  }

  test('a role whose default client_encoding is SJIS cannot log in through the gateway', async () => {
    const role = (await admin.query('SELECT current_user AS u')).rows[0].u as string;
    await admin.query(`ALTER ROLE "${role}" SET client_encoding = 'SJIS'`);
    try {
      const c = await RawClient.connect(gw.host, gw.port);
      await assert.rejects(
        c.login({
          user: AGENT.name,
          password: AGENT.password,
          params: { application_name: 'rel-role-encoding' },
        }),
        (e: { code?: string; message: string }) =>
          e.code === '0A000' && /client_encoding SJIS/.test(e.message),
      );
      await c.end();
    } finally {
      await admin.query(`ALTER ROLE "${role}" RESET client_encoding`);
    }
  });
});
