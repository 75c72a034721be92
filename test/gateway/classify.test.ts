// Automatic PII column classification through the gateway, built-in default policy (detectors
// only): transformations the detectors do not recognise (reversal, replacement, character
// mapping, pieces rejoined) come back masked once the columns are classified, from the very first
// statement of the first session; a column the operator excludes comes back in clear.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { luhnComplete } from '../../cli/demo-data.js';
import { sampleUpstream } from '../../proxy/masking/classify.js';
import { CatalogLink } from '../../proxy/session/catalog-link.js';
import { connectionTo, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let db: TestPostgres;
let gw: TestGateway;
const rows: { email: string; ssn: string; card: string; phone: string }[] = [];

const direct = () =>
  new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
  });

before(async () => {
  db = await startPostgres({ version: 18 });
  const admin = direct();
  await admin.connect();
  await admin.query(`CREATE SCHEMA crm;
    CREATE TABLE crm.people (id int PRIMARY KEY, name text, email text, ssn varchar(11), card text, phone text, city text);`);
  for (let i = 1; i <= 30; i++) {
    const r = {
      email: `someone${i}.canary@example.org`,
      ssn: `6${String(10 + i).padStart(2, '0')}-${String(20 + i).padStart(2, '0')}-${String(3000 + i)}`,
      card: luhnComplete(`4556${String(20_000_000_000 + i * 7919).slice(0, 11)}`),
      phone: `(415) ${String(200 + i)}-${String(5000 + i)}`,
    };
    rows.push(r);
    await admin.query('INSERT INTO crm.people VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      i,
      `Person ${i}`,
      r.email,
      r.ssn,
      r.card,
      r.phone,
      i % 2 ? 'Lyon' : 'Oslo',
    ]);
  }
  await admin.end();
  gw = await startGateway(db);
});

after(async () => {
  await gw?.stop();
  await db?.stop();
});

async function through(sql: string): Promise<string[]> {
  const c = new pg.Client(gw.target());
  await c.connect();
  try {
    const r = await c.query({ text: sql, rowMode: 'array' });
    return r.rows.map((x) => String(x[0]));
  } finally {
    await c.end();
  }
}

const rev = (s: string) => [...s].reverse().join('');

test('the first statement of the first session is masked: reverse(email) of a classified column', async () => {
  const got = await through('SELECT reverse(email) FROM crm.people ORDER BY id');
  assert.equal(got.length, 30);
  for (const [i, r] of rows.entries()) {
    assert.notEqual(got[i], rev(r.email));
    assert.ok(!got[i].includes(rev(r.email.split('@')[0])), `local part of row ${i + 1} leaked: ${got[i]}`);
  }
  const found = gw.core.classifier.list('app');
  const by = new Map(found.map((c) => [`${c.schema}.${c.table}.${c.column}`, c.detector]));
  assert.equal(by.get('crm.people.email'), 'email');
  assert.equal(by.get('crm.people.ssn'), 'ssn');
  assert.equal(by.get('crm.people.card'), 'credit_card');
  assert.equal(by.get('crm.people.phone'), 'phone');
  assert.ok(!by.has('crm.people.name') && !by.has('crm.people.city') && !by.has('crm.people.id'));
  assert.ok(!gw.logs.some((l) => l.includes('canary')), 'no sampled value is logged');
});

test('replace, translate and pieces rejoined come back masked', async () => {
  const cases: [string, (r: (typeof rows)[number]) => string][] = [
    ["SELECT replace(ssn, '-', '') FROM crm.people ORDER BY id", (r) => r.ssn.replace(/-/g, '')],
    [
      "SELECT translate(card, '0123456789', 'abcdefghij') FROM crm.people ORDER BY id",
      (r) => r.card.replace(/\d/g, (d) => 'abcdefghij'[Number(d)]),
    ],
    [
      "SELECT substr(ssn, 1, 3) || ' ' || substr(ssn, 5, 2) || ' ' || substr(ssn, 8) FROM crm.people ORDER BY id",
      (r) => r.ssn.replace(/-/g, ' '),
    ],
    [
      "SELECT substr(email, 1, 4) || '|' || substr(email, 5) FROM crm.people ORDER BY id",
      (r) => `${r.email.slice(0, 4)}|${r.email.slice(4)}`,
    ],
    [
      "SELECT regexp_replace(phone, '\\D', '', 'g') FROM crm.people ORDER BY id",
      (r) => r.phone.replace(/\D/g, ''),
    ],
  ];
  for (const [sql, clear] of cases) {
    const got = await through(sql);
    assert.equal(got.length, 30, sql);
    for (const [i, r] of rows.entries()) assert.notEqual(got[i], clear(r), `${sql}: row ${i + 1} in clear`);
  }
  // Columns not classified stay exact.
  assert.deepEqual(await through('SELECT city FROM crm.people WHERE id <= 2 ORDER BY id'), ['Lyon', 'Oslo']);
});

test('a column the operator excludes comes back in clear; accepting it again masks it', async () => {
  const col = { schema: 'crm', table: 'people', column: 'phone' };
  assert.equal(gw.core.classifier.decide('app', col, { state: 'excluded', strategy: null }, 'test'), true);
  const clear = await through('SELECT reverse(phone) FROM crm.people ORDER BY id');
  assert.deepEqual(
    clear,
    rows.map((r) => rev(r.phone)),
  );
  // The other classified columns are still masked.
  const still = await through('SELECT reverse(email) FROM crm.people WHERE id = 1');
  assert.notEqual(still[0], rev(rows[0].email));
  assert.equal(gw.core.classifier.decide('app', col, { state: 'accepted', strategy: null }, 'test'), true);
  const masked = await through('SELECT reverse(phone) FROM crm.people WHERE id = 1');
  assert.notEqual(masked[0], rev(rows[0].phone));
  // The decision is in the store, with who made it.
  const row = gw.core.classifier.list('app').find((c) => c.column === 'phone');
  assert.equal(row?.state, 'accepted');
  assert.equal(row?.decidedBy, 'test');
});

test('a table made after the first run is classified on demand (the app\'s "Classify now")', async () => {
  const admin = direct();
  await admin.connect();
  await admin.query(`CREATE TABLE crm.leads AS SELECT i AS id, 'lead' || i || '.canary@example.net' AS contact
    FROM generate_series(1, 10) i`);
  await admin.end();
  await gw.core.classifier.run('app');
  const got = await through('SELECT reverse(contact) FROM crm.leads WHERE id = 3');
  assert.notEqual(got[0], rev('lead3.canary@example.net'));
  assert.ok(!got[0].includes('yranac'), got[0]);
});

test('sampling never runs a row-level security policy (code an agent planted) under the gateway', async () => {
  // An ordinary role (RLS binds it; a superuser bypasses RLS) owns a table whose forced policy
  // calls a function that ends every other session of the role: sampling must not run it.
  const admin = direct();
  await admin.connect();
  await admin.query(`CREATE ROLE cls_app LOGIN PASSWORD 'cls-app-pw';
    GRANT USAGE, CREATE ON SCHEMA crm TO cls_app;`);
  const app = new pg.Client({
    ...gw.target(),
    host: db.host,
    port: db.port,
    user: 'cls_app',
    password: 'cls-app-pw',
    database: db.database,
  });
  await app.connect();
  await app.query(`CREATE FUNCTION crm.trap() RETURNS boolean LANGUAGE sql AS
      $$ SELECT bool_or(pg_terminate_backend(pid)) IS NOT NULL FROM pg_stat_activity
         WHERE usename = 'cls_app' AND pid <> pg_backend_pid() $$;
    CREATE TABLE crm.trapped (email text);
    INSERT INTO crm.trapped VALUES ('trap.canary@example.org');
    ALTER TABLE crm.trapped ENABLE ROW LEVEL SECURITY;
    ALTER TABLE crm.trapped FORCE ROW LEVEL SECURITY;
    CREATE POLICY p ON crm.trapped USING (crm.trap());`);
  const link = new CatalogLink(connectionTo('x', db, { user: 'cls_app', password: 'cls-app-pw' }).upstream);
  const skipped: string[] = [];
  try {
    const sampled = await sampleUpstream(link.run, { onTableError: (_s, t) => skipped.push(t) });
    assert.ok(!sampled.some((c) => c.table === 'trapped'), 'the RLS table is not sampled');
    assert.ok(skipped.includes('trapped'));
  } finally {
    link.close();
  }
  // On the server: the role's other session is alive (the policy's function never ran).
  assert.equal((await app.query('SELECT 1 AS one')).rows[0].one, 1);
  await app.end();
  await admin.query(
    'DROP TABLE crm.trapped; DROP FUNCTION crm.trap(); DROP OWNED BY cls_app; DROP ROLE cls_app',
  );
  await admin.end();
});
