// The upstream killed under a session: one backend terminated mid-transaction (the others live
// on), and one SIGKILLed mid-result, which makes PostgreSQL restart every backend (crash
// recovery). Clients get a clear error and are closed, sessions are recorded as ended with the
// statement's error, uncommitted work is gone, new connections work once the server is back, and
// the store verifies. (A clean restart of the server: test/gateway/faults.test.ts.)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { SessionInfo } from '../../shared/types.js';
import { AGENT, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { cstr, errorFields, message, RawClient } from '../helpers/raw-client.js';

const MiB = 1024 * 1024;
let db: TestPostgres;
let gw: TestGateway;

const directConfig = () => ({
  host: db.host,
  port: db.port,
  user: db.user,
  password: db.password,
  database: db.database,
});

/** eventually, where a check that throws (the upstream is down) counts as not yet. */
const until = <T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string) =>
  eventually(() => check().catch(() => undefined), timeoutMs, what);

async function direct<R extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<R[]> {
  const c = new pg.Client(directConfig());
  await c.connect();
  try {
    return (await c.query<R>(sql, values)).rows;
  } finally {
    await c.end();
  }
}

const backendPid = async (app: string) =>
  until(
    async () =>
      (
        await direct<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [app])
      )[0]?.pid,
    5000,
    `the backend of ${app}`,
  );

function ended(app: string): Promise<SessionInfo> {
  return until(
    async () => {
      const s = gw.readStore();
      try {
        const x = s.listSessions().find((y) => y.applicationName === app);
        return x?.endedAt ? x : undefined;
      } finally {
        s.close();
      }
    },
    10_000,
    `the session of ${app} to be recorded as ended`,
  );
}

async function login(app: string): Promise<RawClient> {
  const c = await RawClient.connect(gw.host, gw.port);
  await c.login({ user: AGENT.name, password: AGENT.password, params: { application_name: app } });
  return c;
}

before(async () => {
  db = await startPostgres({ version: 18 });
  await direct('CREATE TABLE ledger (v text)');
  gw = await startGateway(db);
});

after(async () => {
  await gw?.stop();
  await db?.stop();
});

describe('the upstream killed', () => {
  test('a backend terminated mid-transaction: 57P01 to that client only, the INSERT is rolled back, the session recorded, others go on', {
    timeout: 60_000,
  }, async () => {
    const bystander = new pg.Client({ ...gw.target(), application_name: 'rel-up-bystander' });
    await bystander.connect();
    const c = await login('rel-up-tx');
    assert.deepEqual((await c.query('BEGIN')).tags, ['BEGIN']);
    assert.deepEqual((await c.query("INSERT INTO ledger VALUES ('uncommitted')")).tags, ['INSERT 0 1']);
    const pid = await backendPid('rel-up-tx');
    await direct('SELECT pg_terminate_backend($1)', [pid]);

    const msgs = await c.readToEnd(5000);
    const codes = msgs.filter((m) => m.type === 'E').map((m) => errorFields(m.body).C);
    assert.ok(codes.length > 0 && codes.every((x) => x === '57P01'), `errors ${codes.join(', ')}`);
    assert.ok(c.ended, 'the client is closed');
    const s = await ended('rel-up-tx');
    assert.equal(s.endReason, 'upstream lost');
    assert.deepEqual(await direct('SELECT v FROM ledger'), [], 'the open transaction was rolled back');

    assert.equal((await bystander.query('SELECT 1 AS n')).rows[0].n, 1, 'the other session is unaffected');
    await bystander.query("INSERT INTO ledger VALUES ('bystander')");
    await bystander.end();
    const again = await login('rel-up-tx-again');
    assert.deepEqual((await again.query("INSERT INTO ledger VALUES ('reconnected')")).tags, ['INSERT 0 1']);
    await again.end();
    assert.deepEqual(
      (await direct<{ v: string }>('SELECT v FROM ledger ORDER BY v')).map((r) => r.v),
      ['bystander', 'reconnected'],
    );
  });

  test('a backend SIGKILLed mid-result (the server restarts every backend): clients closed with an error, sessions and statement recorded, reconnects work', {
    timeout: 90_000,
  }, async (t) => {
    const streaming = await login('rel-up-result');
    const idle = await login('rel-up-idle');
    streaming.write(
      message(
        'Q',
        cstr("SELECT a, b, repeat('x', 200) FROM generate_series(1, 5000) a, generate_series(1, 1000) b"),
      ),
    );
    // Whole messages (not skipped bytes), so the rest can still be read message by message.
    while (streaming.received < 2 * MiB) await streaming.readMessage(20_000);
    const pid = await backendPid('rel-up-result');
    process.kill(pid, 'SIGKILL');

    // The killed backend says nothing (the gateway sees its socket close: 08006); the others are
    // told by the server (57P02, crash of another server process) or cut (08006).
    for (const [name, c] of [
      ['streaming', streaming],
      ['idle', idle],
    ] as const) {
      const msgs = await c.readToEnd(20_000);
      const codes = msgs.filter((m) => m.type === 'E').map((m) => errorFields(m.body).C);
      t.diagnostic(`${name}: ${codes.join(', ')}`);
      assert.ok(
        codes.length > 0 && codes.every((x) => ['08006', '57P02', '57P01'].includes(x)),
        `${name}: ${codes}`,
      );
      assert.ok(c.ended, `${name} closed`);
    }
    const s = await ended('rel-up-result');
    assert.equal(s.endReason, 'upstream lost');
    const store = gw.readStore();
    try {
      const st = store.listStatements(s.id);
      assert.equal(st.length, 1);
      assert.ok(st[0].rows > 0, 'rows relayed before the kill are counted');
      assert.match(st[0].errorMessage ?? '', /session ended: upstream lost/);
      assert.equal(st[0].tag, null, 'it did not complete');
      assert.equal((await ended('rel-up-idle')).endReason, 'upstream lost');
      assert.equal(store.verify().ok, true);
    } finally {
      store.close();
    }

    // The server is in crash recovery for a moment: logins fail clearly (57P03), then work.
    const back = await until(
      async () => {
        const c = await login('rel-up-after');
        return c;
      },
      30_000,
      'a login after crash recovery',
    );
    assert.deepEqual((await back.query('SELECT 1')).tags, ['SELECT 1']);
    await back.end();
  });
});
