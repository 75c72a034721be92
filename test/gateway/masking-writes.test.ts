// Masked data must not leave through server state (issue 18): a statement that would copy a
// masked column into a table, a setting, a large object, a notification or a trigger is refused
// with 42501 before it reaches the server, by simple and extended protocol and inside DO blocks,
// and the server shows it never ran. A cursor the gateway never saw declared (a function's
// refcursor) is masked whole. Writing a masked column back in place, and copying unmasked
// columns, keep working.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  dataRowValues,
  executeMessage,
  queryMessage,
  RawClient,
  syncMessage,
} from '../helpers/raw-client.js';

let db: TestPostgres;
let gw: TestGateway;
let admin: pg.Client;
const SECRETS = ['ann.quorvex1@leak.test', 'bo.quorvex2@leak.test', '731-55-0191', '731-55-0292'];

const cfg = (t: { host: string; port: number; user: string; password: string; database: string }) => ({
  host: t.host,
  port: t.port,
  user: t.user,
  password: t.password,
  database: t.database,
});

before(async () => {
  db = await startPostgres({ version: 18 });
  admin = new pg.Client(cfg(db));
  await admin.connect();
  await admin.query(`CREATE SCHEMA pii;
    CREATE TABLE pii.customers (id int PRIMARY KEY, name text, email text, ssn text);
    INSERT INTO pii.customers VALUES (1, 'Ann', '${SECRETS[0]}', '${SECRETS[2]}'), (2, 'Bo', '${SECRETS[1]}', '${SECRETS[3]}');
    CREATE TABLE notes (id serial PRIMARY KEY, body text);
    CREATE FUNCTION pii.open_cur() RETURNS refcursor LANGUAGE plpgsql AS $$
      DECLARE c refcursor; BEGIN OPEN c FOR SELECT id, reverse(email) AS r, name FROM pii.customers ORDER BY id; RETURN c; END $$;
    CREATE FUNCTION public.blob(pii.customers) RETURNS text LANGUAGE sql AS $$ SELECT reverse($1.ssn || $1.email) $$;`);
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'pii' },
    ],
    policies: {
      pii: {
        masking: [
          { name: 'pii-columns', columns: ['pii.customers.email', 'pii.customers.ssn'], strategy: 'redact' },
        ],
      },
    },
  });
});

after(async () => {
  await admin?.end();
  await gw?.stop();
  await db?.stop();
});

async function client(): Promise<pg.Client> {
  const c = new pg.Client(cfg(gw.target()));
  await c.connect();
  return c;
}

/** The statement is refused by the gateway: 42501 naming the masked column and server state. */
async function refused(
  c: pg.Client,
  sql: string,
  values?: unknown[],
  column = /pii\.customers\.(email|ssn)/,
) {
  await assert.rejects(c.query(sql, values), (e: Error & { code?: string }) => {
    assert.equal(e.code, '42501', `${sql}: ${e.message}`);
    assert.match(e.message, /masked values cannot leave through server state/);
    assert.match(e.message, column);
    return true;
  });
}

async function count(sql: string): Promise<number> {
  return Number((await admin.query(sql)).rows[0].n);
}

describe('masked data written into server state', () => {
  test('tables: CREATE TABLE AS, SELECT INTO, materialized views, INSERT/UPDATE/MERGE are refused', async () => {
    const c = await client();
    try {
      await refused(c, 'CREATE TABLE leak1 AS SELECT id, email FROM pii.customers');
      await refused(c, 'SELECT reverse(ssn) AS s INTO leak2 FROM pii.customers');
      await refused(c, 'CREATE MATERIALIZED VIEW leak3 AS SELECT lower(email) FROM pii.customers');
      // Extended protocol (a Parse with parameters).
      await refused(c, 'INSERT INTO notes (body) SELECT email FROM pii.customers WHERE id = $1', [1]);
      await refused(
        c,
        'INSERT INTO notes (body) VALUES ((SELECT ssn FROM pii.customers WHERE id = $1))',
        [2],
      );
      await refused(c, 'UPDATE pii.customers SET name = email WHERE id = 1');
      await refused(
        c,
        'MERGE INTO notes n USING pii.customers p ON n.id = p.id WHEN NOT MATCHED THEN INSERT (body) VALUES (p.ssn)',
      );
      await refused(c, 'DO $$BEGIN INSERT INTO notes (body) SELECT ssn FROM pii.customers; END$$');
      await refused(
        c,
        'WITH w AS (INSERT INTO notes (body) SELECT email FROM pii.customers RETURNING id) SELECT count(*) FROM w',
      );
      // The session goes on.
      assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    } finally {
      await c.end();
    }
    // On the server: nothing was created, copied or changed.
    for (const t of ['leak1', 'leak2', 'leak3'])
      assert.equal((await admin.query('SELECT to_regclass($1) AS r', [t])).rows[0].r, null, t);
    assert.equal(await count('SELECT count(*) AS n FROM notes'), 0);
    assert.equal((await admin.query('SELECT name FROM pii.customers WHERE id = 1')).rows[0].name, 'Ann');
  });

  test('settings, large objects, notifications, triggers, rules and policies are refused', async () => {
    const c = await client();
    const notified: string[] = [];
    admin.on('notification', (n) => notified.push(n.payload ?? ''));
    await admin.query('LISTEN leakchan');
    const objects = await count('SELECT count(*) AS n FROM pg_largeobject_metadata');
    try {
      await refused(c, "SELECT set_config('bastion.stash', email, false) FROM pii.customers WHERE id = 1");
      assert.equal((await c.query("SELECT current_setting('bastion.stash', true) AS v")).rows[0].v ?? '', '');
      await refused(c, "SELECT lo_from_bytea(0, convert_to(ssn, 'UTF8')) FROM pii.customers");
      await refused(c, "SELECT pg_notify('leakchan', email) FROM pii.customers");
      await refused(c, 'SELECT pg_advisory_lock(hashtext(ssn)) FROM pii.customers WHERE id = 1');
      const attach = /on pii\.customers, which has masked columns/;
      await refused(
        c,
        'CREATE TRIGGER t AFTER INSERT ON pii.customers FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()',
        undefined,
        attach,
      );
      await refused(
        c,
        'CREATE RULE r AS ON UPDATE TO pii.customers DO ALSO NOTIFY leakchan',
        undefined,
        attach,
      );
      // (CREATE POLICY is refused earlier, by the guardrails' no-role-changes rule.)
      // An unmasked value may go anywhere.
      await c.query("SELECT pg_notify('leakchan', name) FROM pii.customers WHERE id = 2");
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await c.end();
      await admin.query('UNLISTEN leakchan');
    }
    assert.deepEqual(notified, ['Bo']);
    assert.equal(await count('SELECT count(*) AS n FROM pg_largeobject_metadata'), objects);
    assert.equal(await count("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'"), 0);
    assert.equal(
      await count("SELECT count(*) AS n FROM pg_trigger WHERE tgrelid = 'pii.customers'::regclass"),
      0,
    );
    assert.equal(await count("SELECT count(*) AS n FROM pg_rules WHERE tablename = 'customers'"), 0);
    assert.equal(await count("SELECT count(*) AS n FROM pg_policies WHERE tablename = 'customers'"), 0);
  });

  test('controls: writing a masked column in place and copying unmasked columns still work', async () => {
    const c = await client();
    try {
      await c.query('UPDATE pii.customers SET email = lower(email) WHERE id = 1');
      await c.query('CREATE TABLE names AS SELECT id, name FROM pii.customers');
      await c.query('INSERT INTO notes (body) SELECT name FROM pii.customers');
      const r = await c.query('SELECT id, name, email FROM pii.customers ORDER BY id');
      assert.deepEqual(
        r.rows.map((x) => x.name),
        ['Ann', 'Bo'],
      );
      for (const s of SECRETS) assert.equal(JSON.stringify(r.rows).includes(s), false);
    } finally {
      await c.end();
    }
    assert.equal(await count('SELECT count(*) AS n FROM names'), 2);
    assert.equal(await count('SELECT count(*) AS n FROM notes'), 2);
    await admin.query('DROP TABLE names; TRUNCATE notes');
  });

  test("FETCH from a function's refcursor is masked whole", async () => {
    const c = await client();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pii.open_cur()');
      const r = await c.query('FETCH ALL FROM "<unnamed portal 1>"');
      await c.query('COMMIT');
      assert.equal(r.rows.length, 2);
      const text = JSON.stringify(r.rows);
      for (const s of SECRETS) {
        assert.equal(text.includes(s), false, s);
        assert.equal(text.includes([...s].reverse().join('')), false, `reversed ${s}`);
      }
      // A plain read of the unmasked column stays in clear.
      assert.equal((await c.query('SELECT name FROM pii.customers WHERE id = 1')).rows[0].name, 'Ann');
    } finally {
      await c.end();
    }
  });

  test('protocol Execute of a refcursor portal, and a row by attribute notation, are masked whole', async () => {
    const c = await RawClient.connect(gw.host, gw.port);
    await c.login({ user: AGENT.name, password: AGENT.password });
    try {
      c.write(queryMessage('BEGIN'));
      await c.readUntil('Z');
      c.write(queryMessage('SELECT pii.open_cur()'));
      await c.readUntil('Z');
      c.write(Buffer.concat([executeMessage('<unnamed portal 1>'), syncMessage()]));
      const ms = await c.readUntil('Z');
      const rows = ms.filter((m) => m.type === 'D').map((m) => dataRowValues(m.body));
      assert.equal(rows.length, 2);
      c.write(queryMessage('COMMIT'));
      await c.readUntil('Z');
      // `c.blob` is public.blob(c), a function of the whole row (no column of c).
      c.write(queryMessage('SELECT c.blob FROM pii.customers c'));
      const attr = (await c.readUntil('Z')).filter((m) => m.type === 'D').map((m) => dataRowValues(m.body));
      assert.equal(attr.length, 2);
      const text = JSON.stringify([rows, attr]);
      for (const s of SECRETS) {
        assert.equal(text.includes(s), false, s);
        assert.equal(text.includes([...s].reverse().join('')), false, `reversed ${s}`);
      }
    } finally {
      c.socket.destroy();
    }
  });
});
