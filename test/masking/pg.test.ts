// End to end against a real PostgreSQL 18: the catalog queries, and every frame of real sessions
// (simple and extended protocol, binary formats, prepared statements re-executed without
// Describe, portal suspension, cursors, COPY text/csv/binary, errors, notifications, DDL)
// through a MaskingStream. No raw value of a masked column, and nothing a detector finds, may
// appear in what the client would receive. Binary masked values are sent back to PostgreSQL,
// whose binary input functions must accept them.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { seedDemoData } from '../../cli/demo-data.js';
import { MaskCatalog } from '../../proxy/masking/catalog.js';
import { compileMasking } from '../../proxy/masking/compile.js';
import { MaskingPipe } from '../../proxy/masking/pipe.js';
import { parseMaskingRules } from '../../proxy/masking/rules.js';
import { REDACTED } from '../../proxy/masking/strategies.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  bindMessage,
  cstr,
  dataRowValues,
  errorFields,
  executeMessage,
  int16,
  int32,
  message,
  parseMessage,
  queryMessage,
  RawClient,
  type RawMessage,
  syncMessage,
} from '../helpers/raw-client.js';

const RULES = parseMaskingRules(
  [
    { name: 'customer-pii', columns: ['public.customers.email', 'public.customers.ssn'], strategy: 'redact' },
    { name: 'people-hash', columns: ['people.id', 'people.uid', 'people.tags'], strategy: 'hash' },
    {
      name: 'people-partial',
      columns: ['people.born', 'people.ts', 'people.score', 'people.doc', 'people.nick'],
      strategy: 'partial',
    },
    'default',
  ],
  'masking',
);

let db: TestPostgres;
let admin: pg.Client;
let catalog: MaskCatalog;
const masking = compileMasking(RULES, { hashKey: 'install-key-0123456789abcdef' });
/** Every raw PII value of the demo data. */
let secrets: string[] = [];

const rawText = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

before(async () => {
  await initPolicyEngine();
  db = await startPostgres({ version: 18 });
  admin = new pg.Client({ connectionString: db.url, types: rawText });
  await admin.connect();
  await seedDemoData(admin, 40, 50);
  await admin.query(`
    CREATE TABLE people (id int4 PRIMARY KEY, born date, ts timestamptz, uid uuid, score numeric(10,2), doc jsonb,
      tags text[], nick varchar(8), note text);
    INSERT INTO people VALUES
      (1, '1987-06-05', '2024-03-05 10:11:12.5+01', '123e4567-e89b-12d3-a456-426614174000', 1234.56,
       '{"email": "p1@example.com", "n": 123456}', '{alpha,beta}', 'nickname', 'card 4242 4242 4242 4242'),
      (2, '2001-12-31', '1999-12-31 23:59:59+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', -0.5, '[1,2]', '{}', 'x', NULL);
    CREATE VIEW people_view AS SELECT id, upper(nick) AS n FROM people;
    CREATE TABLE customers_archive () INHERITS (customers);
    INSERT INTO customers_archive SELECT * FROM customers WHERE id <= 3;`);
  const r = await admin.query({
    text: 'SELECT email, ssn, phone, card_number FROM customers',
    rowMode: 'array',
  });
  secrets = (r.rows as string[][]).flat();
  catalog = MaskCatalog.forPolicies([masking], {
    run: async (sql) => (await admin.query({ text: sql, rowMode: 'array' })).rows as (string | null)[][],
  });
  await catalog.ensureLoaded();
});

after(async () => {
  await admin?.end();
  await db?.stop();
});

interface Session {
  raw: RawClient;
  ms: MaskingPipe;
  counts: Map<string, number>;
}

async function session(): Promise<Session> {
  const raw = await RawClient.connect('127.0.0.1', db.port);
  await raw.login({ user: db.user, password: db.password, database: db.database });
  return { raw, ms: new MaskingPipe({ masking, catalog }), counts: new Map() };
}

/** Sends frames through the stream and returns what the client would receive, up to the last ReadyForQuery. */
async function send(s: Session, frames: Buffer[], expectReady = 1): Promise<RawMessage[]> {
  for (const f of frames) {
    const before = s.ms.client(f[0], f, 0, f.length);
    if (before) s.raw.write(before);
    s.raw.write(f);
  }
  const out: RawMessage[] = [];
  let ready = 0;
  while (ready < expectReady) {
    const m = await s.raw.readMessage(10_000);
    if (m.type === 'Z') {
      ready++;
      if (!catalog.fresh) await catalog.ensureLoaded();
    }
    const r = s.ms.server(m.raw[0], m.raw, 0, m.raw.length, s.counts);
    const bytes = r === null ? m.raw : r;
    // Split what the stream returns into messages again.
    let p = 0;
    while (p < bytes.length) {
      const len = bytes.readInt32BE(p + 1);
      const raw = bytes.subarray(p, p + 1 + len);
      out.push({ type: String.fromCharCode(raw[0]), body: raw.subarray(5), raw });
      p += 1 + len;
    }
  }
  return out;
}

function assertNoSecrets(msgs: RawMessage[]): void {
  const all = Buffer.concat(msgs.map((m) => m.raw)).toString('latin1');
  for (const s of secrets) assert.ok(!all.includes(s), `raw value ${s} leaked`);
}

const rows = (msgs: RawMessage[]) => msgs.filter((m) => m.type === 'D').map((m) => dataRowValues(m.body));
const q = (s: Session, sql: string) => send(s, [queryMessage(sql)]);

describe('catalog', () => {
  test('configured columns, children, views and types', () => {
    const snap = catalog.snapshot;
    const names = [...snap.relations.values()].map((r) => `${r.schema}.${r.name}`).sort();
    assert.deepEqual(names, ['public.customers', 'public.customers_archive', 'public.people']);
    const views = [...snap.views.values()].map((v) => v.name).sort();
    // The statistics views too (they hold stored values: statistics.ts).
    assert.deepEqual(views, [
      'customer_contacts',
      'people_view',
      'pg_stats',
      'pg_stats_ext',
      'pg_stats_ext_exprs',
    ]);
  });
});

describe('through a real session', () => {
  let s: Session;
  before(async () => {
    s = await session();
  });
  after(() => s.raw.socket.destroy());

  test('SELECT * (wire rules + detectors), inherited table, counts', async () => {
    s.counts.clear();
    const out = await q(s, 'SELECT * FROM customers ORDER BY id');
    assertNoSecrets(out);
    const r = rows(out);
    assert.equal(r.length, 43); // 40 + 3 in the inheriting customers_archive
    assert.equal(r[0][2], REDACTED);
    assert.equal(r[0][4], REDACTED);
    assert.match(r[0][3] ?? '', /^\+\*-\*\*\*-\*\*\*-\d{4}$/);
    assert.match(r[0][5] ?? '', /^\*{12}\d{4}$/);
    assert.equal(s.counts.get('customer-pii'), 86);
    assert.ok((s.counts.get('detectors') ?? 0) >= 86);
    assertNoSecrets(await q(s, 'SELECT * FROM customers_archive'));
  });
  test('views, aliases, expressions, JSON, whole rows, subqueries, CTEs', async () => {
    for (const sql of [
      'SELECT * FROM customer_contacts',
      'SELECT email AS harmless, lower(ssn) AS nothing_to_see FROM customers',
      "SELECT id || ':' || email FROM customers",
      'SELECT row_to_json(c) FROM customers c',
      'SELECT json_agg(c) FROM customers c',
      "SELECT jsonb_build_object('who', email, 'id', id) FROM customers",
      'SELECT c FROM customers c',
      'WITH x AS (SELECT ssn AS s FROM customers) SELECT * FROM x',
      "SELECT (SELECT max(email) FROM customers), string_agg(ssn, ',') FROM customers",
      "SELECT to_jsonb(c)->>'email' FROM customers c",
      "SELECT encode(convert_to(email, 'UTF8'), 'base64') FROM customers",
    ]) {
      const out = await q(s, sql);
      assert.ok(
        !out.some((m) => m.type === 'E'),
        `${sql}: ${JSON.stringify(out.filter((m) => m.type === 'E').map((m) => errorFields(m.body)))}`,
      );
      assertNoSecrets(out);
    }
    const j = rows(await q(s, 'SELECT row_to_json(c) FROM customers c WHERE id = 1'))[0][0] ?? '';
    const doc = JSON.parse(j);
    assert.equal(doc.email, REDACTED);
    assert.equal(doc.id, 1);
    assert.match(doc.city, /^[A-Z][a-z]+$/);
  });
  test('extended protocol: binary formats, re-execution without Describe, portal suspension', async () => {
    const bindBinary = message(
      'B',
      cstr(''),
      cstr('s1'),
      int16(0),
      int16(1),
      int32(1),
      Buffer.from('5'),
      int16(1),
      int16(1),
    );
    let out = await send(s, [
      parseMessage('s1', 'SELECT id, email, ssn, phone FROM ONLY customers WHERE id <= $1 ORDER BY id', [23]),
      message('D', Buffer.from('S'), cstr('s1')),
      bindBinary,
      executeMessage(''),
      syncMessage(),
    ]);
    assertNoSecrets(out);
    let r = out.filter((m) => m.type === 'D');
    assert.equal(r.length, 5);
    // Binary int4 passes, text columns are masked in binary (= text bytes).
    assert.equal(r[0].body.readInt32BE(6), 1);
    assert.equal(dataRowValues(r[0].body)[1], REDACTED);
    // Again, without any Describe: the statement keeps its plan.
    out = await send(s, [bindBinary, executeMessage(''), syncMessage()]);
    assertNoSecrets(out);
    assert.equal(out.filter((m) => m.type === 'D').length, 5);
    // Portal suspension: 2 rows, then the rest.
    out = await send(s, [
      bindMessage('p1', 's1', ['9']),
      executeMessage('p1', 2),
      executeMessage('p1', 3),
      executeMessage('p1', 0),
      syncMessage(),
    ]);
    assertNoSecrets(out);
    assert.equal(out.filter((m) => m.type === 's').length, 2);
    r = out.filter((m) => m.type === 'D');
    assert.equal(r.length, 9);
    assert.ok(r.every((m) => dataRowValues(m.body)[1] === REDACTED));
  });
  test('a statement never described: the gateway asks, the client sees no extra messages', async () => {
    const out = await send(s, [
      parseMessage('', 'SELECT email, notes FROM customers'),
      bindMessage('', '', []),
      executeMessage(''),
      syncMessage(),
    ]);
    assertNoSecrets(out);
    assert.deepEqual([...new Set(out.map((m) => m.type))], ['1', '2', 'D', 'C', 'Z']);
  });
  test('errors in a pipeline skip to Sync, the next statements still mask', async () => {
    const out = await send(
      s,
      [
        parseMessage('', 'SELECT ssn::int FROM customers'),
        bindMessage('', '', []),
        executeMessage(''),
        parseMessage('', 'SELECT 1'),
        syncMessage(),
        parseMessage('', 'SELECT email FROM customers'),
        bindMessage('', '', []),
        executeMessage(''),
        syncMessage(),
      ],
      2,
    );
    assertNoSecrets(out);
    const e = out.find((m) => m.type === 'E');
    assert.ok(e);
    assert.match(
      errorFields(e.body).M,
      /invalid input syntax for type integer: "(\[REDACTED\]|\*\*\*-\*\*-\d{4})"/,
    );
    assert.equal(out.filter((m) => m.type === 'D').length, 43);
  });
  test('a failed cast of a masked column that no detector recognises', async () => {
    const out = await q(s, 'SELECT email::int FROM customers');
    const e = out.find((m) => m.type === 'E');
    assert.ok(e);
    assert.equal(errorFields(e.body).M, `invalid input syntax for type integer: "${REDACTED}"`);
  });
  test('cursors', async () => {
    const out = await send(s, [
      queryMessage(
        'BEGIN; DECLARE cur CURSOR FOR SELECT id, upper(email) FROM customers; FETCH 5 FROM cur; FETCH ALL FROM cur; COMMIT',
      ),
    ]);
    assertNoSecrets(out);
    assert.equal(rows(out).length, 43);
    assert.ok(rows(out).every((r) => r[1] === REDACTED));
  });
  test('COPY TO STDOUT: text, csv, binary, query', async () => {
    for (const sql of [
      'COPY customers TO STDOUT',
      'COPY customers TO STDOUT WITH (FORMAT csv, HEADER)',
      'COPY customers (id, email, notes) TO STDOUT (FORMAT binary)',
      'COPY (SELECT id, lower(email), ssn FROM customers) TO STDOUT (FORMAT csv)',
      'COPY (SELECT * FROM customer_contacts) TO STDOUT',
    ]) {
      const out = await q(s, sql);
      assert.ok(
        out.some((m) => m.type === 'd'),
        sql,
      );
      assertNoSecrets(out);
    }
    const csv = (
      await q(s, 'COPY (SELECT id, email FROM ONLY customers WHERE id = 1) TO STDOUT (FORMAT csv)')
    )
      .filter((m) => m.type === 'd')
      .map((m) => m.body.toString())
      .join('');
    assert.equal(csv, `1,${REDACTED}\n`);
  });
  test('notices and notifications', async () => {
    let out = await send(s, [
      queryMessage("LISTEN ch; NOTIFY ch, 'customer ada@example.com paid with 4242 4242 4242 4242'"),
    ]);
    const a = out.find((m) => m.type === 'A');
    assert.ok(a);
    assert.match(
      a.body.toString(),
      /customer a\*\*\*@example\.com paid with \*\*\*\* \*\*\*\* \*\*\*\* 4242/,
    );
    assertNoSecrets(out);
    // A notice raised by a block that reads a masked column: its text is redacted whole (RAISE
    // can put any transformation of the value in it), and so is a payload delivered meanwhile.
    out = await send(s, [
      queryMessage(
        "NOTIFY ch, 'plain'; DO $$ BEGIN RAISE NOTICE 'ssn %', (SELECT ssn FROM customers LIMIT 1); END $$",
      ),
    ]);
    const n = out.find((m) => m.type === 'N');
    assert.ok(n);
    assert.match(errorFields(n.body).M, /redacted by Bastion/);
    assertNoSecrets(out);
  });
  test('DDL: a new view over masked columns is masked at once, and the catalog reloads', async () => {
    const v0 = catalog.version;
    let out = await q(s, 'CREATE VIEW new_view AS SELECT id, ssn AS x FROM customers');
    out = await q(s, 'SELECT * FROM new_view');
    assertNoSecrets(out);
    assert.ok(catalog.version > v0);
    assert.ok([...catalog.snapshot.views.values()].some((v) => v.name === 'new_view'));
    // Another session (no local knowledge) masks it through the catalog.
    const other = await session();
    try {
      out = await send(other, [
        parseMessage('', 'SELECT * FROM new_view'),
        bindMessage('', '', []),
        message('D', Buffer.from('P'), cstr('')),
        executeMessage(''),
        syncMessage(),
      ]);
      assertNoSecrets(out);
    } finally {
      other.raw.socket.destroy();
    }
  });
});

describe('types: masked binary values are valid for PostgreSQL and agree with the text format', () => {
  let s: Session;
  before(async () => {
    s = await session();
  });
  after(() => s.raw.socket.destroy());

  const COLS = ['id', 'born', 'ts', 'uid', 'score', 'doc', 'tags', 'nick'];
  const TYPES = ['int4', 'date', 'timestamptz', 'uuid', 'numeric', 'jsonb', 'text[]', 'varchar'];
  const TYPE_OIDS = [23, 1082, 1184, 2950, 1700, 3802, 1009, 1043];

  test('round trip', async () => {
    const sql = `SELECT ${COLS.join(', ')} FROM people ORDER BY 1`;
    const text = rows(await q(s, `SET TimeZone = 'UTC'; ${sql}`));
    const binOut = await send(s, [
      parseMessage('', sql),
      message('B', cstr(''), cstr(''), int16(0), int16(0), int16(1), int16(1)),
      message('D', Buffer.from('P'), cstr('')),
      executeMessage(''),
      syncMessage(),
    ]);
    const binRows = binOut.filter((m) => m.type === 'D');
    assert.equal(binRows.length, 2);
    for (const [ri, row] of binRows.entries()) {
      // Raw binary field values.
      const vals: (Buffer | null)[] = [];
      let p = 2;
      for (let i = 0; i < COLS.length; i++) {
        const len = row.body.readInt32BE(p);
        p += 4;
        vals.push(len < 0 ? null : row.body.subarray(p, p + len));
        if (len > 0) p += len;
      }
      // Send them back as binary parameters: PostgreSQL's receive functions validate them.
      const params = vals.flatMap((v) => (v === null ? [int32(-1)] : [int32(v.length), v]));
      const check = await send(s, [
        parseMessage('', `SELECT ${TYPES.map((t, i) => `$${i + 1}::${t}::text`).join(', ')}`, TYPE_OIDS),
        message('B', cstr(''), cstr(''), int16(1), int16(1), int16(vals.length), ...params, int16(0)),
        executeMessage(''),
        syncMessage(),
      ]);
      const err = check.find((m) => m.type === 'E');
      assert.equal(err, undefined, err && errorFields(err.body).M);
      const back = dataRowValues(check.find((m) => m.type === 'D')?.body as Buffer);
      // Same masked values in both formats (hash and partial are format-independent).
      const t = text[ri];
      assert.equal(back[0], t[0], 'id (hash)');
      assert.equal(back[1], t[1], 'born (partial)');
      assert.equal(back[3], t[3], 'uid (hash)');
      assert.equal(back[4], t[4], 'score (partial)');
      assert.deepEqual(JSON.parse(back[5] ?? 'null'), JSON.parse(t[5] ?? 'null'), 'doc (partial)');
      assert.equal(back[6], t[6], 'tags (hash)');
      assert.equal(back[7], t[7], 'nick (partial)');
      assert.equal(new Date(back[2] ?? '').getTime(), new Date(t[2] ?? '').getTime(), 'ts (partial)');
    }
    assert.equal(text[0][1], '1987-01-01');
    assert.equal(text[0][4], '1000.00');
    assert.deepEqual(JSON.parse(text[0][5] ?? ''), { email: 'p***@example.com', n: 100000 });
    assert.equal(text[0][7], 'n***');
    assert.notEqual(text[0][0], '1');
    // People_view: upper(nick) via the view's definition.
    assert.equal(rows(await q(s, 'SELECT n FROM people_view WHERE id = 1'))[0][0], 'N***');
  });
});
