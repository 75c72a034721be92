// Detectors on every type and side channels that fail closed (issue 18, part "values"), end to
// end: a real PostgreSQL 18, a real gateway, and the exact bytes a raw protocol client receives.
// Each attack is also run directly against PostgreSQL to show the value does come back there
// (so each check can fail).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { REDACTED_FIELD } from '../../proxy/masking/errors.js';
import { REDACTED_VALUE } from '../../proxy/masking/rewrite.js';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  cstr,
  errorFields,
  int16,
  int32,
  message,
  type QueryResult,
  RawClient,
} from '../helpers/raw-client.js';

const CARD = '4539148803436467';
const EMAIL = 'zed.canary77@maskcanary.test';
/** Letters only: only the column rule protects it. */
const SECRET = 'qvxlorbitzenfaltwump';

let db: TestPostgres;
let gw: TestGateway;
let direct: RawClient;
let c: RawClient;

before(async () => {
  db = await startPostgres({ version: 18 });
  const admin = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
  });
  await admin.connect();
  await admin.query(`
    CREATE TABLE people (id int, secret text, note text, card_num bigint);
    INSERT INTO people VALUES (1, '${SECRET}', 'reach me at ${EMAIL}', ${CARD});
    CREATE TABLE "${EMAIL}" (x int);
    CREATE FUNCTION leak(t text) RETURNS int LANGUAGE plpgsql AS $$
    BEGIN
      RAISE NOTICE 'n: %', t;
      RAISE EXCEPTION 'e: %', t USING DETAIL = t, HINT = t, COLUMN = t, ERRCODE = '22P02';
    END $$;`);
  await admin.end();
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'p' },
    ],
    policies: {
      p: {
        masking: [
          { name: 'secret', columns: ['public.people.secret'], strategy: 'redact' },
          { name: 'detectors', detect: ['email', 'ssn', 'credit_card', 'phone'], strategy: 'partial' },
        ],
      },
    },
  });
  direct = await RawClient.connect(db.host, db.port);
  await direct.login({ user: db.user, password: db.password, database: db.database });
  c = await RawClient.connect(gw.host, gw.port);
  await c.login({ user: AGENT.name, password: AGENT.password });
});

after(async () => {
  await c?.end();
  await direct?.end();
  await gw?.stop();
  await db?.stop();
});

const bytes = (r: QueryResult) => Buffer.concat(r.messages.map((m) => m.raw));

/** The same statement directly (the value does come back) and through the gateway (it must not). */
async function both(sql: string, secrets: string[]): Promise<QueryResult> {
  const d = await direct.query(sql);
  const raw = bytes(d).toString('latin1');
  assert.ok(
    secrets.some((s) => raw.includes(s)),
    `PostgreSQL itself returns a secret for ${sql}`,
  );
  const r = await c.query(sql);
  const got = bytes(r).toString('latin1');
  for (const s of secrets) assert.ok(!got.includes(s), `${s} reached the client: ${sql}\n${got}`);
  return r;
}

const text = (r: QueryResult) =>
  r.rows.map((m) => {
    const n = m.body.readInt16BE(0);
    const out: (string | null)[] = [];
    let p = 2;
    for (let i = 0; i < n; i++) {
      const len = m.body.readInt32BE(p);
      p += 4;
      out.push(len < 0 ? null : m.body.toString('utf8', p, p + len));
      if (len > 0) p += len;
    }
    return out;
  });

describe('detectors on every type (text format)', () => {
  test('a card stored as bigint, numeric, float8, money, in a range and an array; still valid values', async () => {
    const r = await both(
      `SELECT card_num, card_num::numeric(20,2), card_num::float8, card_num::money,
              int8range(card_num, card_num + 1), ARRAY[card_num], card_num::text::name FROM people`,
      [CARD, '4,539,148,803,436,467', '4.539148803436467e+15'],
    );
    const [row] = text(r);
    assert.equal(row[0], '4000000000000000'); // partial keeps one digit: still a bigint
    assert.equal(row[1], '4000000000000000.00');
    assert.equal(row[2], '5000000000000000'); // float partial: one significant digit
    assert.deepEqual(row.slice(3, 6), [null, null, null]); // money, range, bigint[]: NULL
    assert.equal(row[6], '************6467');
    // COPY TO STDOUT of the typed column: the same, in text and CSV.
    const copy = await both('COPY (SELECT card_num, card_num::numeric(20,2) FROM people) TO STDOUT', [CARD]);
    const data = copy.messages.filter((m) => m.type === 'd').map((m) => m.body.toString('utf8'));
    assert.deepEqual(data, ['4000000000000000\t4000000000000000.00\n']);
    await both('COPY (SELECT card_num::money FROM people) TO STDOUT (FORMAT csv)', ['4,539,148,803,436,467']);
    // A number that is no card passes.
    assert.deepEqual(text(await c.query('SELECT 1234567890123::int8, 42::int8'))[0], ['1234567890123', '42']);
  });
  test('values cast to regclass, cstring, tsvector, xml: scanned', async () => {
    const r = await both(
      `SELECT (SELECT oid::regclass FROM pg_class WHERE relname LIKE '%@%'), textout(note),
              to_tsvector('simple', note), xmlelement(name a, note) FROM people`,
      [EMAIL],
    );
    const [row] = text(r);
    assert.equal(row[0], null);
    assert.equal(row[1], 'reach me at z***@maskcanary.test');
    assert.equal(row[2], "'at':3 'me':2 'reach':1 'z***@maskcanary.test':4"); // text: spans
    assert.equal(row[3], '<a>reach me at z***@maskcanary.test</a>');
  });
});

describe('detectors on every type (binary format)', () => {
  test('int8, numeric, float8, money, int8range, bigint[], tsvector: decoded or masked whole', async () => {
    const sql = `SELECT card_num, card_num::numeric, card_num::float8, card_num::money,
      int8range(card_num, card_num + 1), ARRAY[card_num], to_tsvector('simple', note),
      ('x' || encode(convert_to(note, 'UTF8'), 'hex'))::varbit FROM people`;
    const run = async (cl: RawClient) => {
      cl.write(
        Buffer.concat([
          message('P', cstr(''), cstr(sql), int16(0)),
          message('B', cstr(''), cstr(''), int16(0), int16(0), int16(1), int16(1)),
          message('D', Buffer.from('P'), cstr('')),
          message('E', cstr(''), int32(0)),
          message('S'),
        ]),
      );
      const res = await cl.result();
      assert.deepEqual(res.errors, []);
      return res;
    };
    const card8 = Buffer.alloc(8);
    card8.writeBigInt64BE(BigInt(CARD));
    const d = await run(direct);
    assert.ok(bytes(d).includes(card8) && bytes(d).includes(EMAIL));
    const r = await run(c);
    const got = bytes(r);
    assert.ok(!got.includes(card8), 'the card as an int8 reached the client');
    assert.ok(!got.toString('latin1').includes(EMAIL));
    // Field by field: valid values of their types, or NULL.
    const body = r.rows[0].body;
    const vals: (Buffer | null)[] = [];
    let p = 2;
    for (let i = 0; i < body.readInt16BE(0); i++) {
      const len = body.readInt32BE(p);
      p += 4;
      vals.push(len < 0 ? null : body.subarray(p, p + len));
      if (len > 0) p += len;
    }
    assert.equal(vals[0]?.readBigInt64BE(0), 4000000000000000n);
    assert.equal(vals[2]?.readDoubleBE(0), 5000000000000000);
    // money, int8range, tsvector, and varbit (whose binary form is the text's own bytes): NULL.
    assert.deepEqual(vals.slice(3), [null, null, vals[5], null, null]);
    // Binary COPY: the card as an int8 (and as numeric) never leaves the gateway either.
    const copySql = 'COPY (SELECT card_num, card_num::numeric FROM people) TO STDOUT (FORMAT binary)';
    assert.ok(bytes(await direct.query(copySql)).includes(card8));
    const copied = await c.query(copySql);
    assert.deepEqual(copied.errors, []);
    assert.ok(!bytes(copied).includes(card8), 'the card as an int8 reached the client through binary COPY');
    assert.ok(copied.messages.some((m) => m.type === 'd'));
    // The bigint[] keeps its shape (one element, int8) with the element masked in place.
    const arr = vals[5] as Buffer;
    assert.equal(arr.readInt32BE(8), 20);
    assert.equal(arr.readBigInt64BE(arr.length - 8), 4000000000000000n);
  });
});

describe('side channels of statements reading masked columns', () => {
  test('a masked value cast to regclass or used as a setting name', async () => {
    const r = await both('SELECT secret::regclass FROM people', [SECRET]);
    assert.equal(r.errors[0].C, '42P01');
    assert.equal(r.errors[0].M, 'relation "[REDACTED]" does not exist');
    const s = await both('SELECT current_setting(secret) FROM people', [SECRET]);
    assert.equal(s.errors[0].C, '42704');
    assert.equal(s.errors[0].M, 'unrecognized configuration parameter "[REDACTED]"');
    // Every guess written in a comment does not make the value the client's: the error came
    // while rows were read (no position).
    const g = await both(`SELECT secret::regclass FROM people /* ${SECRET} */`, [SECRET]);
    assert.equal(g.errors[0].M, 'relation "[REDACTED]" does not exist');
    assert.equal(g.errors[0].P, undefined);
    // An error of the parser (with a position) names what the client wrote: kept.
    const typo = await c.query('SELECT secret, nosuch FROM people');
    assert.equal(typo.errors[0].M, 'column "nosuch" does not exist');
    assert.ok(typo.errors[0].P);
    // The same through Parse / Bind / Execute (the error answers the Execute).
    c.write(
      Buffer.concat([
        message('P', cstr('reg'), cstr('SELECT secret::regclass FROM people'), int16(0)),
        message('B', cstr(''), cstr('reg'), int16(0), int16(0), int16(0)),
        message('E', cstr(''), int32(0)),
        message('S'),
      ]),
    );
    const x = await c.result();
    assert.equal(x.errors[0]?.M, 'relation "[REDACTED]" does not exist');
    assert.ok(!bytes(x).toString('latin1').includes(SECRET));
    await c.query('DEALLOCATE reg');
  });
  test('PL/pgSQL RAISE NOTICE / EXCEPTION with any SQLSTATE: every text and name field redacted', async () => {
    const r = await both('SELECT leak(secret) FROM people', [SECRET]);
    const notice = r.messages.find((m) => m.type === 'N');
    assert.equal(notice && errorFields(notice.body).M, REDACTED_FIELD);
    const e = r.errors[0];
    assert.equal(e.C, '22P02');
    for (const k of ['M', 'D', 'H', 'c']) assert.equal(e[k], REDACTED_FIELD, k);
  });
  test('JSON parse error quoting the value', async () => {
    const r = await both('SELECT secret::json FROM people', [SECRET]);
    assert.equal(r.errors[0].C, '22P02');
    assert.equal(r.errors[0].M, 'invalid input syntax for type json');
  });
  test('pg_notify payloads (now and at COMMIT) and application_name set from a masked column', async () => {
    // Each side listens on its own channel: the direct session's payloads never reach the gateway's.
    await c.query('LISTEN ch');
    await direct.query('LISTEN chd');
    const notify = async (sql: (ch: string) => string) => {
      assert.ok(
        bytes(await direct.query(sql('chd')))
          .toString('latin1')
          .includes(SECRET),
      );
      return c.query(sql('ch'));
    };
    // The sending side refuses a masked argument (lineage: 42501, nothing sent); whatever does get
    // through is redacted on the receiving side. Either way the secret never arrives.
    const refusedOrRedacted = (r: Awaited<ReturnType<typeof c.query>>, what: string) => {
      assert.ok(!bytes(r).toString('latin1').includes(SECRET), what);
      const a = r.messages.find((m) => m.type === 'A');
      if (a) assert.ok(a.body.toString('utf8').includes(REDACTED_VALUE), what);
      else assert.equal(r.errors[0]?.C, '42501', `${what}: neither refused nor delivered`);
    };
    refusedOrRedacted(await notify((ch) => `SELECT pg_notify('${ch}', secret) FROM people`), 'pg_notify');
    // In a transaction: delivered at COMMIT, which itself reads nothing masked.
    await c.query('BEGIN');
    const mid = await c.query(`SELECT pg_notify('ch', 'x' || secret) FROM people`);
    assert.ok(!mid.messages.some((m) => m.type === 'A'));
    const commit = await c.query('COMMIT');
    assert.ok(!bytes(commit).toString('latin1').includes(SECRET));
    const ca = commit.messages.find((m) => m.type === 'A');
    if (ca) assert.ok(ca.body.toString('utf8').includes(REDACTED_VALUE));
    else assert.equal(mid.errors[0]?.C, '42501');
    await c.query('UNLISTEN ch');
    await direct.query('UNLISTEN chd');
    const ps = await both("SELECT set_config('application_name', secret, false) FROM people", [SECRET]);
    const st = ps.messages.find((m) => m.type === 'S');
    if (st) assert.ok(st.body.toString('utf8').includes(REDACTED_VALUE));
    else assert.equal(ps.errors[0]?.C, '42501');
  });
  test('controls: statements reading nothing masked keep errors, notices, payloads, settings', async () => {
    const r = await c.query('SELECT * FROM nope');
    assert.equal(r.errors[0].M, 'relation "nope" does not exist');
    const l = await c.query("SELECT leak('hello')");
    const notice = l.messages.find((m) => m.type === 'N');
    assert.equal(notice && errorFields(notice.body).M, 'n: hello');
    assert.equal(l.errors[0].M, 'e: hello');
    assert.equal(l.errors[0].D, 'hello');
    await c.query('LISTEN ch2');
    const n = await c.query("SELECT pg_notify('ch2', 'plain payload')");
    assert.ok(
      n.messages
        .find((m) => m.type === 'A')
        ?.body.toString('utf8')
        .includes('plain payload'),
    );
    await c.query('UNLISTEN ch2');
    // A Bind of a statement reading masked columns: the parameter the client sent is its own.
    c.write(
      Buffer.concat([
        message('P', cstr(''), cstr('SELECT secret FROM people WHERE id = $1'), int16(1), int32(23)),
        message('B', cstr(''), cstr(''), int16(0), int16(1), int32(3), Buffer.from('abc'), int16(0)),
        message('E', cstr(''), int32(0)),
        message('S'),
      ]),
    );
    const b = await c.result();
    assert.equal(b.errors[0]?.M, 'invalid input syntax for type integer: "abc"');
    const s = await c.query("SELECT set_config('application_name', 'myapp', false)");
    assert.ok(
      s.messages
        .find((m) => m.type === 'S')
        ?.body.toString('utf8')
        .includes('myapp'),
    );
  });
});
