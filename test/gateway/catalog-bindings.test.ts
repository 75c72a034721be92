// Column rules bound to objects, not names (issue 18): a renamed column, table or schema is still
// masked, whether the rename went through the gateway or straight to the server; a column dropped
// and added again under the configured name is masked and the re-binding logged; a rule whose
// column is gone is logged and listed for the app. Planner statistics of masked columns are
// masked. A refused re-Parse does not change what a later Bind is masked as. Real PostgreSQL 18;
// the rules are column rules only (no detectors), so only the binding can mask these values.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
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

/** Values no detector recognises: only a column rule masks them. */
const secret = (table: string, i: number) => `tangerine-${table}-${i}-zq`;
const SECRET_MARK = 'tangerine-';

before(async () => {
  db = await startPostgres({ version: 18 });
  direct = new pg.Client({ connectionString: db.url });
  await direct.connect();
  await direct.query(`CREATE SCHEMA pii;
    CREATE TABLE pii.customers (id int PRIMARY KEY, full_name text, email text);
    CREATE TABLE pii.people (id int PRIMARY KEY, email text);
    CREATE TABLE pii.notes (id int PRIMARY KEY, body text);
    CREATE TABLE pii.temp (id int PRIMARY KEY, x text);
    INSERT INTO pii.customers SELECT g, 'Person ' || g, 'tangerine-customers-' || g || '-zq' FROM generate_series(1, 30) g;
    INSERT INTO pii.people SELECT g, 'tangerine-people-' || g || '-zq' FROM generate_series(1, 5) g;
    INSERT INTO pii.notes SELECT g, 'tangerine-notes-' || g || '-zq' FROM generate_series(1, 5) g;`);
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'cols' },
      // The built-in default: detectors only.
      { name: 'plain', password: 'plain-secret', oidc: null, connections: ['app'], policy: 'default' },
    ],
    policies: {
      cols: {
        masking: [
          {
            name: 'pii-cols',
            columns: ['pii.customers.email', 'pii.people.email', 'pii.notes.body', 'pii.temp.x'],
            strategy: 'redact',
          },
          { name: 'typo', columns: ['public.cusomers.emial'], strategy: 'redact' },
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

/** One statement through the gateway in a session of its own: every value returned, as text. */
async function through(sql: string, user = AGENT.name, password = AGENT.password): Promise<string> {
  const c = new pg.Client({ ...gw.target({ user, password }), ssl: false });
  await c.connect();
  try {
    const r = await c.query({ text: sql, rowMode: 'array' });
    return JSON.stringify(r.rows);
  } finally {
    await c.end();
  }
}

function assertMasked(out: string, what: string): void {
  assert.equal(
    out.toLowerCase().includes(SECRET_MARK),
    false,
    `${what}: a secret came back in clear: ${out.slice(0, 300)}`,
  );
}

async function login(): Promise<RawClient> {
  const c = await RawClient.connect(gw.host, gw.port);
  await c.login({ user: AGENT.name, password: AGENT.password });
  return c;
}

const untilReady = (c: RawClient): Promise<RawMessage[]> => c.readUntil('Z', 5000);
const errorsOf = (ms: RawMessage[]) => ms.filter((m) => m.type === 'E').map((m) => errorFields(m.body).C);
const rowsOf = (ms: RawMessage[]) =>
  ms.filter((m) => m.type === 'D').map((m) => String(dataRowValues(m.body)[0]));

describe('statistics of masked columns', () => {
  test('pg_stats, pg_statistic, extended statistics and pg_mcv_list_items() are masked; names stay', async () => {
    await direct.query(`CREATE STATISTICS pii.cust_mcv (mcv) ON full_name, email FROM pii.customers;
      ANALYZE pii.customers`);
    // The server really holds the values there (else this test could not fail).
    const raw = await direct.query(
      `SELECT histogram_bounds::text AS h FROM pg_stats WHERE schemaname = 'pii' AND tablename = 'customers' AND attname = 'email'`,
    );
    assert.ok(String(raw.rows[0]?.h).includes(secret('customers', 1)), 'ANALYZE stored the values');
    const attacks = [
      `SELECT most_common_vals::text, histogram_bounds::text, most_common_elems::text FROM pg_stats WHERE schemaname = 'pii'`,
      `SELECT * FROM pg_catalog.pg_stats WHERE schemaname = 'pii'`,
      `SELECT s.histogram_bounds FROM pg_stats s WHERE s.attname = 'email'`,
      `SELECT array_to_string(histogram_bounds::text::text[], ',') FROM pg_stats WHERE attname = 'email'`,
      `SELECT stavalues1::text, stavalues2::text, stavalues3::text FROM pg_statistic`,
      `SELECT most_common_vals FROM pg_stats_ext`,
      `SELECT * FROM pg_stats_ext`,
      `SELECT m.* FROM pg_statistic_ext_data d, pg_mcv_list_items(d.stxdmcv) m`,
      `SELECT (pg_mcv_list_items(stxdmcv)).values FROM pg_statistic_ext_data`,
      `SELECT stxdmcv::text FROM pg_statistic_ext_data`,
    ];
    // Views and functions over them, made on the server (outside the gateway).
    await direct.query(`CREATE VIEW public.stats_v AS SELECT schemaname, attname, histogram_bounds::text AS hb, most_common_vals::text AS mcv FROM pg_stats;
      CREATE VIEW public.stats_w AS SELECT upper(hb) AS h FROM public.stats_v;
      CREATE FUNCTION public.stats_f() RETURNS SETOF text LANGUAGE sql AS 'SELECT histogram_bounds::text FROM pg_stats'`);
    attacks.push(
      `SELECT * FROM stats_v WHERE schemaname = 'pii'`,
      'SELECT * FROM stats_w',
      'SELECT stats_f()',
      'SELECT * FROM stats_f()',
      `SELECT s::text FROM pg_stats s WHERE s.attname = 'email'`,
      `SELECT row_to_json(s) FROM pg_stats s WHERE s.attname = 'email'`,
      `SELECT x.histogram_bounds::text FROM (SELECT * FROM pg_stats) x`,
      `WITH w AS (SELECT histogram_bounds AS h FROM "pg_catalog"."pg_stats") SELECT h::text FROM w`,
    );
    for (const sql of attacks) assertMasked(await through(sql), sql);
    // The built-in default (no column rule): SSNs stored as numbers, which no detector sees in
    // a histogram, are masked there by the detectors' rule.
    await direct.query(`CREATE TABLE pii.nums (id int, ssn bigint);
      INSERT INTO pii.nums SELECT g, 523714800 + g FROM generate_series(1, 20) g; ANALYZE pii.nums`);
    const nums = `SELECT histogram_bounds::text AS h FROM pg_stats WHERE tablename = 'nums' AND attname = 'ssn'`;
    assert.match(String((await direct.query(nums)).rows[0]?.h), /523714801/);
    const plain = await through(nums, 'plain', 'plain-secret');
    assert.equal(plain.includes('5237148'), false, plain);
    assert.match(
      await through(
        `SELECT attname FROM pg_stats WHERE tablename = 'nums' ORDER BY 1`,
        'plain',
        'plain-secret',
      ),
      /"ssn"/,
    );
    // What the statistics are about stays readable.
    const names = await through(
      `SELECT attname, null_frac FROM pg_stats WHERE schemaname = 'pii' AND tablename = 'customers' ORDER BY attname`,
    );
    assert.match(names, /"email"/);
    assert.match(names, /"full_name"/);
  });
});

describe('prepared statements: a refused re-Parse changes nothing', () => {
  test('protocol: Bind after a refused re-Parse runs (and is masked as) the statement the server kept', async () => {
    const c = await login();
    try {
      const run = (name: string) =>
        Buffer.concat([bindMessage('', name, []), executeMessage(''), syncMessage()]);
      const parse = (name: string, sql: string) => Buffer.concat([parseMessage(name, sql), syncMessage()]);
      // full_name kept, email refused: the names come back as they are.
      c.write(parse('s', 'SELECT full_name FROM pii.customers ORDER BY id LIMIT 3'));
      assert.deepEqual(errorsOf(await untilReady(c)), []);
      c.write(parse('s', 'SELECT email FROM pii.customers ORDER BY id LIMIT 3'));
      assert.deepEqual(errorsOf(await untilReady(c)), ['42P05']);
      c.write(run('s'));
      assert.deepEqual(rowsOf(await untilReady(c)), ['Person 1', 'Person 2', 'Person 3']);
      // email kept, full_name refused (pipelined): the emails stay masked.
      c.write(
        Buffer.concat([
          parse('t', 'SELECT email FROM pii.customers ORDER BY id LIMIT 3'),
          parse('t', 'SELECT full_name FROM pii.customers ORDER BY id LIMIT 3'),
          run('t'),
        ]),
      );
      const replies = [...(await untilReady(c)), ...(await untilReady(c)), ...(await untilReady(c))];
      assert.deepEqual(errorsOf(replies), ['42P05']);
      const rows = rowsOf(replies);
      assert.equal(rows.length, 3, 'the kept statement ran');
      for (const r of rows) assertMasked(r, 'Bind after refused re-Parse');
    } finally {
      c.socket.destroy();
    }
  });

  test('SQL: PREPARE, refused re-PREPARE, EXECUTE, DEALLOCATE and PREPARE again under the same name', async () => {
    const c = await login();
    try {
      const q = async (sql: string) => {
        c.write(queryMessage(sql));
        return untilReady(c);
      };
      assert.deepEqual(
        errorsOf(await q('PREPARE p AS SELECT email FROM pii.customers ORDER BY id LIMIT 2')),
        [],
      );
      assert.deepEqual(
        errorsOf(await q('PREPARE p AS SELECT full_name FROM pii.customers ORDER BY id LIMIT 2')),
        ['42P05'],
      );
      let rows = rowsOf(await q('EXECUTE p'));
      assert.equal(rows.length, 2);
      for (const r of rows) assertMasked(r, 'EXECUTE after refused re-PREPARE');
      assert.deepEqual(errorsOf(await q('DEALLOCATE p')), []);
      // The name now holds full_name: clear, as the server runs it.
      await q('PREPARE p AS SELECT full_name FROM pii.customers ORDER BY id LIMIT 2');
      assert.deepEqual(rowsOf(await q('EXECUTE p')), ['Person 1', 'Person 2']);
      // DEALLOCATE ALL, then email again, executed by the protocol: masked.
      await q('DEALLOCATE ALL');
      await q('PREPARE p AS SELECT email FROM pii.customers ORDER BY id LIMIT 2');
      c.write(Buffer.concat([bindMessage('', 'p', []), executeMessage(''), syncMessage()]));
      rows = rowsOf(await untilReady(c));
      assert.equal(rows.length, 2);
      for (const r of rows) assertMasked(r, 'protocol Bind of a SQL PREPARE');
    } finally {
      c.socket.destroy();
    }
  });
});

describe('renames', () => {
  test('through the gateway: column, table, SET SCHEMA, schema rename; still masked by OID', async () => {
    const c = new pg.Client({ ...gw.target(), ssl: false });
    await c.connect();
    try {
      const steps: [string, string][] = [
        ['ALTER TABLE pii.customers RENAME COLUMN email TO e2', 'SELECT e2, upper(e2) FROM pii.customers'],
        ['ALTER TABLE pii.customers RENAME TO clients', 'SELECT * FROM pii.clients'],
        ['CREATE SCHEMA hidden', 'SELECT e2 FROM pii.clients'],
        ['ALTER TABLE pii.clients SET SCHEMA hidden', 'SELECT c.e2 || c.full_name FROM hidden.clients c'],
        [
          'ALTER SCHEMA hidden RENAME TO h2',
          'SELECT e2 FROM h2.clients UNION ALL SELECT full_name FROM h2.clients',
        ],
      ];
      for (const [ddl, read] of steps) {
        await c.query(ddl);
        const r = await c.query({ text: read, rowMode: 'array' });
        assert.ok(r.rows.length >= 30, `${read}: rows`);
        assertMasked(JSON.stringify(r.rows), `after ${ddl}: ${read}`);
      }
    } finally {
      await c.end();
    }
    // Checked on the server: the renames happened, and the values are there in clear.
    const r = await direct.query('SELECT e2 FROM h2.clients WHERE id = 1');
    assert.equal(r.rows[0].e2, secret('customers', 1));
    assert.ok(gw.logs.some((l) => l.includes('pii.customers.email was renamed to h2.clients.e2')));
  });

  test('a rename the catalog cannot see yet (same Query message, open transaction) is masked', async () => {
    const c = await login();
    try {
      // One Query: the rename and the read run before the gateway could reload anything.
      c.write(
        queryMessage(
          'ALTER TABLE pii.notes RENAME COLUMN body TO b1; SELECT upper(b1), b1 || id FROM pii.notes',
        ),
      );
      let replies = await untilReady(c);
      assert.deepEqual(errorsOf(replies), []);
      assert.equal(rowsOf(replies).length, 5);
      for (const r of replies.filter((m) => m.type === 'D'))
        assertMasked(JSON.stringify(dataRowValues(r.body)), 'same Query message');
      // In a transaction: the catalog connection cannot see the uncommitted name.
      const rows: RawMessage[] = [];
      for (const sql of [
        'BEGIN',
        'ALTER TABLE pii.notes RENAME COLUMN b1 TO b2',
        'SELECT lower(b2), n.b2 || n.id FROM pii.notes n',
        'ROLLBACK',
      ]) {
        c.write(queryMessage(sql));
        replies = await untilReady(c);
        assert.deepEqual(errorsOf(replies), [], sql);
        rows.push(...replies.filter((m) => m.type === 'D'));
      }
      assert.equal(rows.length, 5);
      for (const r of rows) assertMasked(JSON.stringify(dataRowValues(r.body)), 'open transaction');
      // The table and its schema renamed: a name the catalog does not know at all.
      rows.length = 0;
      for (const sql of [
        'ALTER TABLE pii.notes RENAME TO n9; SELECT upper(b1) FROM pii.n9',
        'BEGIN',
        'ALTER SCHEMA pii RENAME TO p9',
        'SELECT upper(b1), n.b1 || n.id FROM p9.n9 n',
        'ROLLBACK',
        'ALTER TABLE pii.n9 RENAME TO notes',
      ]) {
        c.write(queryMessage(sql));
        replies = await untilReady(c);
        assert.deepEqual(errorsOf(replies), [], sql);
        rows.push(...replies.filter((m) => m.type === 'D'));
      }
      assert.equal(rows.length, 10);
      for (const r of rows) assertMasked(JSON.stringify(dataRowValues(r.body)), 'renamed table or schema');
      c.write(queryMessage('ALTER TABLE pii.notes RENAME COLUMN b1 TO body'));
      assert.deepEqual(errorsOf(await untilReady(c)), []);
    } finally {
      c.socket.destroy();
    }
  });

  test('a rename run inside a function (a SELECT, not DDL) is not missed', async () => {
    const c = await login();
    try {
      // Made by the owner after this session read the catalog (the gateway refuses to create a
      // function that runs dynamic SQL, and refuses calling one once its catalog knows it).
      await direct.query(`CREATE FUNCTION public.ren(a text, b text) RETURNS void LANGUAGE plpgsql AS
          $f$ BEGIN EXECUTE format('ALTER TABLE pii.%I RENAME TO %I', a, b); END $f$`);
      const rows: RawMessage[] = [];
      // The same Query message, then the next one: the catalog is behind on both.
      for (const sql of [
        "SELECT public.ren('notes', 'n7'); SELECT upper(body) FROM pii.n7",
        'SELECT upper(body) FROM pii.n7',
      ]) {
        c.write(queryMessage(sql));
        const replies = await untilReady(c);
        assert.deepEqual(errorsOf(replies), [], sql);
        rows.push(...replies.filter((m) => m.type === 'D' && dataRowValues(m.body)[0] !== ''));
      }
      // 10 rows of notes, plus ren()'s own void result when it is masked (the gateway cannot see
      // into a function made after its catalog was read: its output carries every rule).
      assert.ok(rows.length === 10 || rows.length === 11, `${rows.length} rows`);
      for (const r of rows) assertMasked(JSON.stringify(dataRowValues(r.body)), 'renamed by a function');
    } finally {
      c.socket.destroy();
      await direct.query('ALTER TABLE pii.n7 RENAME TO notes; DROP FUNCTION public.ren(text, text)');
    }
  });

  test('straight on the server (outside the gateway): followed at the next session', async () => {
    assertMasked(await through('SELECT email FROM pii.people'), 'before');
    await direct.query(`ALTER TABLE pii.people RENAME COLUMN email TO contact;
      ALTER TABLE pii.people RENAME TO folks; ALTER SCHEMA pii RENAME TO pii_old`);
    const out = await through('SELECT contact, lower(contact) FROM pii_old.folks');
    assert.equal(JSON.parse(out).length, 5);
    assertMasked(out, 'after renames outside the gateway');
    await direct.query('ALTER SCHEMA pii_old RENAME TO pii');
  });

  test('DROP COLUMN then ADD COLUMN of the configured name: masked, and the re-binding logged', async () => {
    assertMasked(await through('SELECT body FROM pii.notes'), 'before');
    await direct.query(`ALTER TABLE pii.notes DROP COLUMN body; ALTER TABLE pii.notes ADD COLUMN body text;
      UPDATE pii.notes SET body = 'tangerine-notes-again-' || id`);
    assertMasked(await through('SELECT body, id FROM pii.notes'), 'after DROP + ADD');
    assert.ok(
      gw.logs.some((l) =>
        /pii\.notes\.body \(table OID \d+, column 2\) no longer exists; bound by name to column 3/.test(l),
      ),
      gw.logs.join('\n'),
    );
  });

  test('a rule whose column does not exist (misspelled, or dropped) is logged once and listed for the app', async () => {
    assert.deepEqual(gw.core.unboundMaskingColumns('app'), ['public.cusomers.emial']);
    await direct.query('DROP TABLE pii.temp');
    await through('SELECT 1');
    await through('SELECT 2');
    assert.deepEqual(gw.core.unboundMaskingColumns('app'), ['pii.temp.x', 'public.cusomers.emial']);
    assert.equal(gw.logs.filter((l) => l.includes('public.cusomers.emial names no column')).length, 1);
    assert.equal(gw.logs.filter((l) => l.includes('pii.temp.x (table OID')).length, 1);
    assert.ok(
      gw.logs.every((l) => !l.includes(SECRET_MARK)),
      'no value in the log',
    );
  });
});
