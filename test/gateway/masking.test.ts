// Masking through the gateway with real clients: the dataset's secrets cannot be read by any of
// these query shapes, in any format, and the store file holds none of them; columns that hold
// nothing sensitive come back byte-identical.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import postgres from 'postgres';
import { luhnComplete } from '../../cli/demo-data.js';
import { runPsql } from '../helpers/clients.js';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let db: TestPostgres;
let gw: TestGateway;
const secrets: string[] = [];

const cfg = (t: { host: string; port: number; user: string; password: string; database: string }) => ({
  host: t.host,
  port: t.port,
  user: t.user,
  password: t.password,
  database: t.database,
});

before(async () => {
  db = await startPostgres({ version: 18 });
  const admin = new pg.Client(cfg(db));
  await admin.connect();
  await admin.query(`CREATE TABLE customers (id int PRIMARY KEY, name text, email text, ssn text, card text, phone text, note text);
    CREATE VIEW contacts AS SELECT id, name, email AS mail, lower(ssn) AS tax_id FROM customers;`);
  for (let i = 1; i <= 40; i++) {
    const email = `person${i}.secret@example.org`;
    const ssn = `9${String(10 + i).padStart(2, '0')}-${String(20 + i).padStart(2, '0')}-${String(1000 + i)}`;
    const card = luhnComplete(`4111${String(10_000_000_000 + i * 7919).slice(0, 11)}`);
    const phone = `+1-555-${String(100 + i)}-${String(2000 + i)}`;
    secrets.push(email, ssn, card);
    await admin.query('INSERT INTO customers VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      i,
      `Customer ${i}`,
      email,
      ssn,
      card,
      phone,
      `call ${phone} or write ${email}`,
    ]);
  }
  await admin.end();
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'pii' },
    ],
    policies: {
      pii: {
        masking: [
          // By column, resolved from the wire and the parse tree, whatever the alias.
          { name: 'ssn-column', columns: ['public.customers.ssn'], strategy: 'redact' },
          { name: 'detectors', detect: ['email', 'credit_card', 'ssn', 'phone'], strategy: 'partial' },
        ],
      },
    },
  });
});

after(async () => {
  await gw?.stop();
  await db?.stop();
});

function assertNoSecret(text: string, where: string): void {
  for (const s of secrets) assert.equal(text.includes(s), false, `${where} contains ${s}`);
}

describe('masking through the gateway', () => {
  test('node-postgres: many query shapes, text and binary, never show a secret', async () => {
    const c = new pg.Client(cfg(gw.target()));
    await c.connect();
    try {
      const shapes = [
        'SELECT * FROM customers ORDER BY id',
        'SELECT email AS harmless, ssn AS x FROM customers',
        "SELECT id, upper(email) || '!' AS shout, substring(ssn from 1 for 11) AS part FROM customers",
        'SELECT * FROM contacts',
        "SELECT json_build_object('e', email, 's', ssn)::text AS j FROM customers",
        'SELECT row_to_json(c)::text AS j FROM customers c',
        "SELECT string_agg(email, ',') AS all_emails, string_agg(card, ';') AS cards FROM customers",
        'SELECT t.* FROM (SELECT ssn, email FROM customers) t',
        'WITH x AS (SELECT ssn AS v FROM customers) SELECT v FROM x',
        'SELECT note FROM customers',
      ];
      for (const sql of shapes) {
        const r = await c.query(sql);
        assert.ok(r.rows.length > 0, sql);
        assertNoSecret(JSON.stringify(r.rows), sql);
      }
      const bin = await c.query({
        text: 'SELECT id, email, ssn, name FROM customers WHERE id <= $1 ORDER BY id',
        values: [5],
        binary: true,
      } as pg.QueryConfig);
      assertNoSecret(JSON.stringify(bin.rows.map((r) => [String(r.email), String(r.ssn)])), 'binary');
      // Unmasked columns are exactly what the database has.
      assert.deepEqual(
        bin.rows.map((r) => [r.id, Buffer.isBuffer(r.name) ? r.name.toString() : r.name]),
        [1, 2, 3, 4, 5].map((i) => [i, `Customer ${i}`]),
      );
      const direct = await c.query('SELECT id, name FROM customers ORDER BY id');
      assert.equal(direct.rows[0].name, 'Customer 1');
      // A partial email keeps a hint; a redacted SSN column shows nothing of the value.
      const one = await c.query('SELECT email, ssn FROM customers WHERE id = 1');
      assert.match(one.rows[0].email, /^p\*+@example\.org$/);
      assert.doesNotMatch(String(one.rows[0].ssn), /\d{4}/);
      // An error that echoes a value (failed cast) and a notice with one.
      await assert.rejects(c.query('SELECT ssn::int FROM customers WHERE id = 2'), (e: Error) => {
        assertNoSecret(JSON.stringify(e) + e.message, 'error');
        return true;
      });
      const notices: string[] = [];
      c.on('notice', (n) => notices.push(JSON.stringify(n) + n.message));
      await c.query("DO $$ BEGIN RAISE NOTICE 'mail %', (SELECT email FROM customers WHERE id = 3); END $$");
      assert.equal(notices.length, 1);
      assertNoSecret(notices[0], 'notice');
      // A cursor fetched in pages.
      await c.query('BEGIN');
      await c.query('DECLARE cur CURSOR FOR SELECT email, card FROM customers');
      const page1 = await c.query('FETCH 10 FROM cur');
      const page2 = await c.query('FETCH 10 FROM cur');
      await c.query('COMMIT');
      assert.equal(page1.rows.length + page2.rows.length, 20);
      assertNoSecret(JSON.stringify([page1.rows, page2.rows]), 'cursor');
    } finally {
      await c.end();
    }
  });

  test('notifications, postgres.js pipelines and COPY in text, csv and binary', async () => {
    const listener = new pg.Client(cfg(gw.target()));
    await listener.connect();
    const payloads: string[] = [];
    listener.on('notification', (n) => payloads.push(n.payload ?? ''));
    await listener.query('LISTEN leak');
    const sql = postgres({ ...cfg(gw.target()), max: 1, ssl: false, onnotice: () => {} });
    try {
      const rows = await Promise.all(
        [1, 2, 3].map((i) => sql`SELECT email, card FROM customers WHERE id = ${i}`),
      );
      assertNoSecret(JSON.stringify(rows), 'postgres.js');
      await sql`SELECT pg_notify('leak', email) FROM customers WHERE id = 4`;
      for (let i = 0; i < 50 && payloads.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(payloads.length, 1);
      assertNoSecret(payloads[0], 'notification');
    } finally {
      await sql.end();
      await listener.end();
    }
    for (const format of ['text', 'csv', 'binary']) {
      const out = path.join(gw.dir, `copy.${format}`);
      const r = await runPsql(['-c', `\\copy customers TO '${out}' WITH (FORMAT ${format})`], gw.target());
      assert.equal(r.code, 0, r.stderr);
      const bytes = fs.readFileSync(out);
      assertNoSecret(bytes.toString('latin1'), `COPY ${format}`);
      assert.ok(bytes.includes('Customer 7'), `COPY ${format} still has the unmasked names`);
    }
  });

  test('the store holds no secret and counts what was masked, by rule', async () => {
    gw.flush();
    for (const f of [gw.storePath, `${gw.storePath}-wal`]) {
      if (fs.existsSync(f)) assertNoSecret(fs.readFileSync(f).toString('latin1'), path.basename(f));
    }
    const store = gw.readStore();
    try {
      const all = store.listSessions().flatMap((s) => store.listStatements(s.id));
      const star = all.find((s) => s.sql === 'SELECT * FROM customers ORDER BY id')!;
      assert.equal(star.masked['ssn-column'], 40);
      assert.ok((star.masked.detectors ?? 0) >= 40 * 2, JSON.stringify(star.masked));
      assert.equal(store.verify().ok, true);
    } finally {
      store.close();
    }
  });
});
