// Guardrails through the gateway with real clients: blocked statements never reach the database,
// held ones wait for a human, and the session goes on.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import postgres from 'postgres';
import type { Approval } from '../../shared/api.js';
import { runPsql } from '../helpers/clients.js';
import { AGENT, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let db: TestPostgres;
let gw: TestGateway;
let direct: pg.Client;

const cfg = (t: { host: string; port: number; user: string; password: string; database: string }) => ({
  host: t.host,
  port: t.port,
  user: t.user,
  password: t.password,
  database: t.database,
});

before(async () => {
  db = await startPostgres({ version: 18 });
  direct = new pg.Client(cfg(db));
  await direct.connect();
  await direct.query(`CREATE TABLE items (id int PRIMARY KEY, name text);
    INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 20) g;`);
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'default' },
      { name: 'reader', password: 'reader-secret', oidc: null, connections: ['app'], policy: 'readonly' },
      { name: 'quick', password: 'quick-secret', oidc: null, connections: ['app'], policy: 'quick' },
    ],
    policies: {
      readonly: { read_only: true },
      quick: {
        approval_timeout: '1s',
        guardrails: [
          { name: 'warn-on-items', match: { kind: ['update'], relation: ['items'] }, action: 'warn' },
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

const count = async () => Number((await direct.query('SELECT count(*) AS n FROM items')).rows[0].n);
const tableExists = async (t: string) =>
  (await direct.query('SELECT to_regclass($1) AS r', [t])).rows[0].r !== null;

async function pendingApproval(sqlPart: string): Promise<Approval> {
  return eventually(
    () => gw.core.approvals.list('pending').find((a) => a.sql.includes(sqlPart)),
    5000,
    `approval for ${sqlPart}`,
  );
}

describe('blocked statements', () => {
  test('DROP through psql is refused with 42501 naming the rule, and the session goes on', async () => {
    const r = await runPsql(
      ['-v', 'ON_ERROR_STOP=0', '-c', 'DROP TABLE items', '-c', "SELECT 'still here'"],
      gw.target(),
    );
    assert.match(r.stderr, /ERROR: {2}Bastion blocked this statement \(rule "no-drop"\)/);
    assert.match(r.stdout, /still here/);
    assert.equal(await tableExists('items'), true);
  });

  test('extended protocol: a blocked Parse errors, pipelined neighbours still run', async () => {
    const sql = postgres({ ...cfg(gw.target()), max: 1, ssl: false, onnotice: () => {} });
    try {
      const results = await Promise.allSettled([
        sql`SELECT ${1}::int AS a`,
        sql`SELECT pg_read_file(${'/etc/passwd'})`,
        sql`SELECT ${3}::int AS c`,
      ]);
      assert.equal(results[0].status, 'fulfilled');
      assert.equal(results[1].status, 'rejected');
      assert.equal((results[1] as PromiseRejectedResult).reason.code, '42501');
      assert.match((results[1] as PromiseRejectedResult).reason.message, /no-server-functions|server/i);
      assert.equal(results[2].status, 'fulfilled');
    } finally {
      await sql.end();
    }
  });

  test('disguised: DO block, PREPARE and multi-statement Query are refused as a whole', async () => {
    const c = new pg.Client(cfg(gw.target()));
    await c.connect();
    try {
      await assert.rejects(c.query("DO $$ BEGIN EXECUTE 'DROP TABLE items'; END $$"), { code: '42501' });
      await assert.rejects(c.query("PREPARE p AS SELECT pg_read_file('/etc/hostname')"), { code: '42501' });
      await assert.rejects(c.query('SELECT 1; TRUNCATE items; SELECT 2'), { code: '42501' });
      assert.equal((await c.query("SELECT 'DROP TABLE items' AS s")).rows[0].s, 'DROP TABLE items');
    } finally {
      await c.end();
    }
    assert.equal(await count(), 20);
    assert.equal(await tableExists('items'), true);
  });

  test('read_only policy stops the MCP-style "commit; insert" escape', async () => {
    const c = new pg.Client(cfg(gw.target({ user: 'reader', password: 'reader-secret' })));
    await c.connect();
    try {
      await c.query('BEGIN TRANSACTION READ ONLY');
      await assert.rejects(c.query("COMMIT; INSERT INTO items VALUES (999, 'escape')"), { code: '42501' });
      await c.query('ROLLBACK');
      assert.equal((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 20);
    } finally {
      await c.end();
    }
    assert.equal((await direct.query('SELECT count(*)::int AS n FROM items WHERE id = 999')).rows[0].n, 0);
  });
});

describe('held statements', () => {
  test('DELETE without WHERE waits; approve runs it and later pipelined messages keep their order', async () => {
    await direct.query('CREATE TABLE scratch (v int); INSERT INTO scratch VALUES (1), (2)');
    const sql = postgres({ ...cfg(gw.target()), max: 1, ssl: false, onnotice: () => {} });
    const notices: string[] = [];
    const c = new pg.Client(cfg(gw.target()));
    c.on('notice', (n) => notices.push(n.message ?? ''));
    await c.connect();
    try {
      const order: string[] = [];
      const held = c
        .query("SET bastion.reason = 'cleanup requested'")
        .then(() => c.query('DELETE FROM scratch').then((r) => order.push(`delete ${r.rowCount}`)));
      const after2 = held.then(() =>
        c.query('SELECT count(*)::int AS n FROM scratch').then((r) => order.push(`count ${r.rows[0].n}`)),
      );
      const a = await pendingApproval('DELETE FROM scratch');
      assert.equal(a.identity, 'agent');
      assert.equal(a.rule, 'unbounded-writes');
      assert.equal(a.clientReason, 'cleanup requested');
      assert.equal(
        (await direct.query('SELECT count(*)::int AS n FROM scratch')).rows[0].n,
        2,
        'not run while held',
      );
      await eventually(() => (notices.some((n) => n.includes(a.id)) ? true : undefined), 5000, 'notice');
      assert.throws(() => gw.core.approvals.decide(a.id, 'approve', 'agent'), /cannot approve its own/);
      const decided = gw.core.approvals.decide(a.id, 'approve', 'ops-alice');
      assert.equal(decided.state, 'approved');
      await after2;
      assert.deepEqual(order, ['delete 2', 'count 0']);
    } finally {
      await c.end();
      await sql.end();
    }
    const store = gw.readStore();
    try {
      const st = store
        .listSessions()
        .flatMap((s) => store.listStatements(s.id))
        .find((x) => x.sql === 'DELETE FROM scratch');
      assert.equal(st?.decision, 'review');
      assert.equal(st?.rule, 'unbounded-writes');
      assert.equal(st?.tag, 'DELETE 2');
      assert.equal(store.verify().ok, true);
    } finally {
      store.close();
    }
  });

  test('a WHERE clause that reads no column (a bound parameter) is held like none at all', async () => {
    const c = new pg.Client(cfg(gw.target()));
    await c.connect();
    try {
      const before = await count();
      const q = c.query('DELETE FROM items WHERE $1', [true]);
      const a = await pendingApproval('DELETE FROM items WHERE $1');
      assert.equal(a.rule, 'unbounded-writes');
      assert.equal(await count(), before, 'not run while held');
      gw.core.approvals.decide(a.id, 'deny', 'ops-bob');
      await assert.rejects(q, (e: { code?: string }) => e.code === '42501');
      assert.equal(await count(), before, 'every row still there');
    } finally {
      await c.end();
    }
  });

  test('deny and timeout return an error and change nothing', async () => {
    const c = new pg.Client(cfg(gw.target()));
    await c.connect();
    try {
      const q = c.query('UPDATE items SET name = name');
      const a = await pendingApproval('UPDATE items SET name = name');
      gw.core.approvals.decide(a.id, 'deny', 'ops-bob');
      await assert.rejects(
        q,
        (e: { code?: string; message?: string }) =>
          e.code === '42501' && /denied by ops-bob/.test(e.message ?? ''),
      );
      assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'session goes on');
    } finally {
      await c.end();
    }
    const quick = new pg.Client(cfg(gw.target({ user: 'quick', password: 'quick-secret' })));
    await quick.connect();
    try {
      await assert.rejects(quick.query('DELETE FROM items'), (e: { code?: string; message?: string }) =>
        /timed out/.test(e.message ?? ''),
      );
      // The policy's warn rule: runs, flagged.
      await quick.query('UPDATE items SET name = name WHERE id = 1');
    } finally {
      await quick.end();
    }
    assert.equal(await count(), 20);
    const store = gw.readStore();
    try {
      const all = store.listSessions().flatMap((s) => store.listStatements(s.id));
      assert.equal(all.find((x) => x.sql === 'UPDATE items SET name = name WHERE id = 1')?.decision, 'warn');
      assert.equal(all.find((x) => x.sql === 'DELETE FROM items')?.decision, 'review');
    } finally {
      store.close();
    }
  });

  test('a cancel request ends the hold with 57014', async () => {
    const sql = postgres({ ...cfg(gw.target()), max: 1, ssl: false, onnotice: () => {} });
    try {
      const q = sql`DELETE FROM items`;
      const outcome = q.then(
        () => 'ran',
        (e: { code?: string }) => e.code,
      );
      const a = await pendingApproval('DELETE FROM items');
      await q.cancel();
      assert.equal(await outcome, '57014');
      assert.equal(gw.core.approvals.list().find((x) => x.id === a.id)?.state, 'cancelled');
    } finally {
      await sql.end();
    }
    assert.equal(await count(), 20);
  });
});
