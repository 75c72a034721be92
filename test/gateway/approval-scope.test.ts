// An approval covers the one execution it was asked for (issue 17, class 7): a prepared statement
// approved once with some parameter values is held again for every later Bind (other values, or
// the same), its approver sees the values, a portal read in several Executes (a row limit) is one
// execution, and SQL PREPARE / EXECUTE is held per EXECUTE. Checked on the server: the rows a
// second, unapproved execution would delete are still there.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Approval } from '../../shared/api.js';
import { AGENT, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  bindMessage,
  dataRowValues,
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

before(async () => {
  db = await startPostgres({ version: 18 });
  direct = new pg.Client({ connectionString: db.url });
  await direct.connect();
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'careful' },
    ],
    policies: {
      careful: {
        approval_timeout: '2s',
        guardrails: [
          { name: 'review-t', match: { kind: ['delete'], relation: ['t'] }, action: 'review' },
          'default',
        ],
      },
    },
  });
});

after(async () => {
  await direct?.end();
  await gw?.stop();
  await db?.stop();
});

async function reset(): Promise<void> {
  await direct.query(
    'DROP TABLE IF EXISTS t; CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)',
  );
}
const exists = async (id: number) =>
  (await direct.query('SELECT 1 FROM t WHERE id = $1', [id])).rowCount === 1;

/** The pending approval whose SQL and reason hold `sqlPart` and `reasonPart`. */
function pending(sqlPart: string, reasonPart = ''): Promise<Approval> {
  return eventually(
    () =>
      gw.core.approvals.list('pending').find((a) => a.sql.includes(sqlPart) && a.reason.includes(reasonPart)),
    5000,
    `approval of ${sqlPart} ${reasonPart}`,
  );
}

async function login(): Promise<RawClient> {
  const c = await RawClient.connect(gw.host, gw.port);
  await c.login({ user: AGENT.name, password: AGENT.password });
  return c;
}
const untilReady = (c: RawClient, timeoutMs = 8000): Promise<RawMessage[]> => c.readUntil('Z', timeoutMs);
const errorsOf = (ms: RawMessage[]) => ms.filter((m) => m.type === 'E').map((m) => errorFields(m.body));
const DELETE = 'DELETE FROM t WHERE id = $1';

describe('an approval covers one execution', () => {
  test('raw protocol: approving id=1 does not cover a re-Bind with id=2 (held, then denied)', async () => {
    await reset();
    const c = await login();
    try {
      c.write(
        Buffer.concat([
          parseMessage('del', DELETE),
          bindMessage('', 'del', ['1']),
          executeMessage(''),
          syncMessage(),
        ]),
      );
      const first = await pending(DELETE, "$1 = '1'");
      assert.equal(await exists(1), true, 'not run while held');
      gw.core.approvals.decide(first.id, 'approve', 'ops-alice');
      assert.deepEqual(errorsOf(await untilReady(c)), []);
      assert.equal(await exists(1), false, 'the approved execution ran');

      // The same prepared statement, another value: a new execution, held again.
      c.write(Buffer.concat([bindMessage('', 'del', ['2']), executeMessage(''), syncMessage()]));
      const second = await pending(DELETE, "$1 = '2'");
      assert.notEqual(second.id, first.id);
      assert.equal(await exists(2), true, 'not run while held');
      gw.core.approvals.decide(second.id, 'deny', 'ops-alice');
      const errs = errorsOf(await untilReady(c));
      assert.equal(errs[0]?.C, '42501');
      assert.equal(await exists(2), true, 'the unapproved execution did not run');

      // Even the very same value is a new execution.
      c.write(Buffer.concat([bindMessage('', 'del', ['1']), executeMessage(''), syncMessage()]));
      const third = await pending(DELETE, "$1 = '1'");
      gw.core.approvals.decide(third.id, 'deny', 'ops-alice');
      assert.equal(errorsOf(await untilReady(c))[0]?.C, '42501');
      // The session goes on.
      c.write(queryMessage('SELECT count(*) FROM t'));
      const rows = (await untilReady(c)).filter((m) => m.type === 'D').map((m) => dataRowValues(m.body)[0]);
      assert.deepEqual(rows, ['9']);
    } finally {
      c.socket.destroy();
    }
    assert.equal(await exists(2), true);
  });

  test('node-postgres: a named prepared statement approved once times out on its next execution', async () => {
    await reset();
    const c = new pg.Client(gw.target());
    c.on('notice', () => {});
    await c.connect();
    try {
      const q1 = c.query({ name: 'del', text: DELETE, values: [3] });
      gw.core.approvals.decide((await pending(DELETE, "$1 = '3'")).id, 'approve', 'ops-alice');
      assert.equal((await q1).rowCount, 1);
      // node-postgres now sends only Bind/Execute for "del": held, nobody decides, it times out.
      const q2 = c.query({ name: 'del', text: DELETE, values: [4] });
      const held = await pending(DELETE, "$1 = '4'");
      await assert.rejects(
        q2,
        (e: { code?: string; message?: string }) => e.code === '42501' && /timed out/.test(e.message ?? ''),
      );
      assert.equal(gw.core.approvals.list().find((a) => a.id === held.id)?.state, 'expired');
      assert.equal(await exists(4), true, 'row 4 is still there');
      assert.equal(await exists(3), false);
    } finally {
      await c.end();
    }
  });

  test('a portal read with a row limit is one execution: one approval, every row', async () => {
    await reset();
    const c = await login();
    try {
      const sql = 'DELETE FROM t WHERE id > $1 RETURNING id';
      c.write(
        Buffer.concat([
          parseMessage('', sql),
          bindMessage('p', '', ['7']),
          executeMessage('p', 2),
          executeMessage('p', 2),
          syncMessage(),
        ]),
      );
      const a = await pending(sql, "$1 = '7'");
      gw.core.approvals.decide(a.id, 'approve', 'ops-alice');
      const ms = await untilReady(c);
      assert.deepEqual(errorsOf(ms), []);
      assert.deepEqual(
        ms.filter((m) => m.type === 'D').map((m) => dataRowValues(m.body)[0]),
        ['8', '9', '10'],
      );
      assert.equal(ms.filter((m) => m.type === 's').length, 1, 'suspended once, then completed');
      assert.equal(gw.core.approvals.list().filter((x) => x.sql === sql).length, 1, 'asked once');
    } finally {
      c.socket.destroy();
    }
  });

  test('values are shown quoted and escaped; long ones cut with size and digest', async () => {
    await reset();
    const c = await login();
    try {
      const forged = "1' -- approved\n$2 = 'x";
      const long = 'z'.repeat(500);
      c.write(
        Buffer.concat([
          parseMessage('', 'DELETE FROM t WHERE id::text = $1 OR id::text = $2 OR $3::text IS NULL'),
          bindMessage('', '', [forged, long, null]),
          executeMessage(''),
          syncMessage(),
        ]),
      );
      const a = await pending('DELETE FROM t WHERE id::text');
      assert.match(a.reason, /\$1 = '1'' -- approved\\u000a\$2 = ''x'/);
      assert.match(a.reason, /\$2 = 'z{200}'… \(500 bytes, sha256 [0-9a-f]{64}\)/);
      assert.match(a.reason, /\$3 = NULL/);
      assert.equal(a.reason.includes('\n'), false);
      gw.core.approvals.decide(a.id, 'deny', 'ops-alice');
      assert.equal(errorsOf(await untilReady(c))[0]?.C, '42501');
    } finally {
      c.socket.destroy();
    }
    assert.equal(Number((await direct.query('SELECT count(*) FROM t')).rows[0].count), 10);
  });

  test('SQL PREPARE / EXECUTE: each EXECUTE is held, with its own values', async () => {
    await reset();
    const c = await login();
    try {
      c.write(queryMessage(`PREPARE d(int) AS ${DELETE}`));
      gw.core.approvals.decide((await pending('PREPARE d')).id, 'approve', 'ops-alice');
      assert.deepEqual(errorsOf(await untilReady(c)), []);
      c.write(queryMessage('EXECUTE d(5)'));
      gw.core.approvals.decide((await pending('EXECUTE d(5)')).id, 'approve', 'ops-alice');
      assert.deepEqual(errorsOf(await untilReady(c)), []);
      c.write(queryMessage('EXECUTE d(6)'));
      gw.core.approvals.decide((await pending('EXECUTE d(6)')).id, 'deny', 'ops-alice');
      assert.equal(errorsOf(await untilReady(c))[0]?.C, '42501');
      // Bind of the SQL-prepared statement: also held.
      c.write(Buffer.concat([bindMessage('', 'd', ['6']), executeMessage(''), syncMessage()]));
      gw.core.approvals.decide(
        (await pending(`PREPARE d(int) AS ${DELETE}`, "$1 = '6'")).id,
        'deny',
        'ops-alice',
      );
      assert.equal(errorsOf(await untilReady(c))[0]?.C, '42501');
    } finally {
      c.socket.destroy();
    }
    assert.equal(await exists(5), false);
    assert.equal(await exists(6), true, 'the denied EXECUTEs did not run');
  });

  test('attack: Execute of an approved, completed portal again does not run the DELETE a second time', async () => {
    await reset();
    const c = await login();
    try {
      c.write(queryMessage('BEGIN'));
      await untilReady(c);
      c.write(
        Buffer.concat([
          parseMessage('d', DELETE),
          bindMessage('p', 'd', ['1']),
          executeMessage('p'),
          syncMessage(),
        ]),
      );
      gw.core.approvals.decide((await pending(DELETE, "$1 = '1'")).id, 'approve', 'ops-alice');
      assert.deepEqual(errorsOf(await untilReady(c)), []);
      // Row 1 back (inside the transaction), then the approved portal once more.
      c.write(queryMessage('INSERT INTO t VALUES (1)'));
      assert.deepEqual(errorsOf(await untilReady(c)), []);
      c.write(Buffer.concat([executeMessage('p'), syncMessage()]));
      const ms = await untilReady(c);
      // PostgreSQL refuses to run a finished portal again; either way nothing may be deleted.
      c.write(queryMessage('SELECT count(*) FROM t WHERE id = 1'));
      const after = await untilReady(c);
      const n = after.filter((m) => m.type === 'D').map((m) => dataRowValues(m.body)[0]);
      assert.ok(n[0] === '1' || errorsOf(ms).length > 0, `row 1 was deleted again (${JSON.stringify(n)})`);
      assert.equal(gw.core.approvals.list('pending').length, 0);
    } finally {
      c.socket.destroy();
    }
    assert.equal(await exists(1), true, 'the transaction never committed: row 1 is there');
  });
});
