// The masking gaps closed by reading functions and encodings, through the real gateway with real
// clients: fast-path FunctionCall results, SQL and PL/pgSQL functions that read masked tables
// (set-returning, SECURITY DEFINER, standard-SQL bodies, procedures, nested calls, functions
// created in the session), data-dumping built-ins, and values split or encoded by SQL (lineage
// under column rules; base64 / hex under the detectors alone). Each test checks that no raw
// secret of the dataset reaches the client, that none is in the store file, and that unmasked
// columns come back byte-identical to what PostgreSQL sends directly.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { luhnComplete } from '../../cli/demo-data.js';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { errorFields, int16, int32, message, RawClient, type RawMessage } from '../helpers/raw-client.js';

const DETECT = { name: 'detect-only', password: 'detect-secret' };
const ROWS = 12;

let db: TestPostgres;
let gw: TestGateway;
let admin: pg.Client;
/** Raw values of masked columns and of everything a detector finds. */
const secrets: string[] = [];
let largeObject = 0;

const rawText = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;
const cfg = (t: { host: string; port: number; user: string; password: string; database: string }) => ({
  host: t.host,
  port: t.port,
  user: t.user,
  password: t.password,
  database: t.database,
  types: rawText,
});

before(async () => {
  db = await startPostgres({ version: 18 });
  admin = new pg.Client(cfg(db));
  await admin.connect();
  await admin.query(`CREATE TABLE customers (id int PRIMARY KEY, name text, email text, ssn text, card text, token text);
    CREATE FUNCTION leak() RETURNS SETOF text LANGUAGE sql AS $$ SELECT token FROM customers ORDER BY id $$;
    CREATE FUNCTION leak_one(int) RETURNS text LANGUAGE sql STABLE AS $$ SELECT token FROM customers WHERE id = $1 $$;
    CREATE FUNCTION leak_rows() RETURNS SETOF customers LANGUAGE sql SECURITY DEFINER
      AS $$ SELECT * FROM customers ORDER BY id $$;
    CREATE FUNCTION leak_table() RETURNS TABLE(k int, t text, n text) LANGUAGE sql
      AS $$ SELECT id, token, name FROM customers ORDER BY id $$;
    CREATE FUNCTION leak_pl() RETURNS SETOF text LANGUAGE plpgsql
      AS $$ BEGIN RETURN QUERY SELECT token FROM customers ORDER BY id; END $$;
    CREATE FUNCTION leak_var(i int) RETURNS text LANGUAGE plpgsql SECURITY DEFINER
      AS $$ DECLARE v text; BEGIN SELECT token INTO v FROM customers WHERE id = i; RETURN 'token: ' || v; END $$;
    CREATE FUNCTION leak_loop() RETURNS SETOF text LANGUAGE plpgsql
      AS $$ DECLARE r record; BEGIN FOR r IN SELECT * FROM customers LOOP RETURN NEXT r.ssn; END LOOP; END $$;
    CREATE FUNCTION leak_std() RETURNS text LANGUAGE sql RETURN (SELECT string_agg(token, ',') FROM customers);
    CREATE FUNCTION leak_nested() RETURNS SETOF text LANGUAGE sql AS $$ SELECT x || '!' FROM leak() x $$;
    CREATE FUNCTION names_only() RETURNS SETOF text LANGUAGE sql AS $$ SELECT name FROM customers ORDER BY id $$;
    CREATE PROCEDURE get_token(IN i int, INOUT t text) LANGUAGE plpgsql
      AS $$ BEGIN SELECT token INTO t FROM customers WHERE id = i; END $$;`);
  for (let i = 1; i <= ROWS; i++) {
    const email = `member${i}.hidden@example.net`;
    const ssn = `8${String(10 + i)}-${String(30 + i)}-${String(4000 + i)}`;
    const card = luhnComplete(`5105${String(1_000_000_000 + i * 7907).padStart(11, '0')}`);
    const token = `quokka-${'abcdefghijklmnop'[i]}${'qrstuvwxyz'[i % 10]}-marsupial`;
    secrets.push(email, ssn, card, token);
    await admin.query('INSERT INTO customers VALUES ($1, $2, $3, $4, $5, $6)', [
      i,
      `Customer ${i}`,
      email,
      ssn,
      card,
      token,
    ]);
  }
  const lo = await admin.query(
    "SELECT lo_from_bytea(0, convert_to('contact member3.hidden@example.net, ssn 813-33-4003', 'UTF8')) AS oid",
  );
  largeObject = Number(lo.rows[0].oid);
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'pii' },
      { name: DETECT.name, password: DETECT.password, oidc: null, connections: ['app'], policy: 'detectors' },
    ],
    policies: {
      pii: {
        masking: [
          {
            name: 'customer-secrets',
            columns: ['public.customers.ssn', 'public.customers.token'],
            strategy: 'redact',
          },
          { name: 'detectors', detect: ['email', 'credit_card', 'ssn', 'phone'], strategy: 'partial' },
        ],
      },
      detectors: {
        masking: [
          { name: 'detectors', detect: ['email', 'credit_card', 'ssn', 'phone'], strategy: 'partial' },
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

/** Every secret, also as the encodings SQL can produce of it. */
function forms(s: string): string[] {
  const b = Buffer.from(s, 'utf8');
  return [s, b.toString('base64'), b.toString('hex'), [...s].reverse().join('')];
}

function assertNoSecret(text: string, where: string): void {
  for (const s of secrets)
    for (const f of forms(s)) assert.equal(text.includes(f), false, `${where} contains ${f}`);
}

async function both(sql: string, user = AGENT): Promise<{ direct: unknown[][]; masked: unknown[][] }> {
  const c = new pg.Client(cfg(gw.target({ user: user.name, password: user.password })));
  await c.connect();
  try {
    const masked = (await c.query({ text: sql, rowMode: 'array' })).rows as unknown[][];
    const direct = (await admin.query({ text: sql, rowMode: 'array' })).rows as unknown[][];
    return { direct, masked };
  } finally {
    await c.end();
  }
}

describe('functions that read masked tables', () => {
  test('SQL and PL/pgSQL functions, set-returning, SECURITY DEFINER, procedures: masked', async () => {
    for (const sql of [
      'SELECT leak()',
      'SELECT * FROM leak()',
      'SELECT x FROM leak() AS x',
      'SELECT leak_one(3)',
      'SELECT leak_rows()',
      'SELECT (leak_rows()).token',
      'SELECT token, ssn FROM leak_rows()',
      'SELECT t FROM leak_table()',
      'SELECT leak_pl()',
      'SELECT leak_var(2)',
      'SELECT leak_loop()',
      'SELECT leak_std()',
      'SELECT leak_nested()',
      'SELECT public.leak_one(5) AS harmless',
      'CALL get_token(4, NULL)',
    ]) {
      const { direct, masked } = await both(sql);
      assert.equal(masked.length, direct.length, sql);
      assert.ok(masked.length > 0, sql);
      assertNoSecret(JSON.stringify(masked), sql);
      // The function's output really held secrets: what PostgreSQL sends directly has them.
      assert.ok(
        secrets.some((s) => JSON.stringify(direct).includes(s)),
        `${sql}: the direct result holds no secret`,
      );
    }
  });

  test('columns of a function that hold nothing masked come back byte-identical', async () => {
    for (const sql of [
      'SELECT names_only()',
      'SELECT k, n FROM leak_table()',
      'SELECT id, name FROM leak_rows()',
    ]) {
      const { direct, masked } = await both(sql);
      assert.deepEqual(masked, direct, sql);
    }
  });

  test('a function created in the session is analysed before its first call', async () => {
    const c = new pg.Client(cfg(gw.target()));
    await c.connect();
    try {
      await c.query(
        'CREATE FUNCTION fresh_leak() RETURNS SETOF text LANGUAGE sql AS $$ SELECT token || $x$!$x$ FROM customers $$',
      );
      const r = await c.query({ text: 'SELECT fresh_leak()', rowMode: 'array' });
      assert.equal(r.rows.length, ROWS);
      assertNoSecret(JSON.stringify(r.rows), 'fresh_leak');
    } finally {
      await c.query('DROP FUNCTION IF EXISTS fresh_leak()').catch(() => {});
      await c.end();
    }
  });

  test('a function the gateway cannot follow (dynamic SQL) fails closed: its output is masked', async () => {
    const c = new pg.Client(cfg(gw.target()));
    await c.connect();
    try {
      // Through the gateway, as an agent would: the DDL refreshes its catalog.
      await c.query(`CREATE FUNCTION leak_dynamic() RETURNS SETOF text LANGUAGE plpgsql
        AS $$ BEGIN RETURN QUERY EXECUTE 'SELECT tok' || 'en FROM customers ORDER BY id'; END $$`);
      const r = await c.query({ text: 'SELECT leak_dynamic()', rowMode: 'array' });
      assert.equal(r.rows.length, ROWS);
      assertNoSecret(JSON.stringify(r.rows), 'leak_dynamic');
    } finally {
      await c.query('DROP FUNCTION IF EXISTS leak_dynamic()').catch(() => {});
      await c.end();
    }
  });

  test('built-ins that dump relations (query_to_xml, table_to_xml) are masked', async () => {
    for (const sql of [
      "SELECT query_to_xml('SELECT id, token FROM customers', true, false, '')",
      "SELECT table_to_xml('customers', true, false, '')",
    ]) {
      const { direct, masked } = await both(sql);
      assertNoSecret(JSON.stringify(masked), sql);
      assert.ok(
        secrets.some((s) => JSON.stringify(direct).includes(s)),
        sql,
      );
    }
  });
});

describe('values split or encoded by SQL', () => {
  const shapes = [
    "encode(token::bytea, 'base64')",
    "encode(convert_to(ssn, 'UTF8'), 'hex')",
    "translate(token, 'aeiou', 'AEIOU')",
    'reverse(token)',
    'upper(token)',
    'lower(ssn)',
    "substr(token, 1, 8) || '-' || substr(token, 9)",
    "overlay(token placing 'Z' from 2 for 1)",
    "split_part(token, '-', 2)",
    "string_to_array(token, '-')",
    "regexp_replace(ssn, '-', ' ', 'g')",
    "format('%s/%s', id, token)",
    'md5(token)',
    "decode(encode(token::bytea, 'hex'), 'hex')",
    'token::bytea',
  ];
  test('column rules follow every shape (lineage)', async () => {
    for (const shape of shapes) {
      const sql = `SELECT id, ${shape} AS v FROM customers ORDER BY id`;
      const { direct, masked } = await both(sql);
      assert.equal(masked.length, ROWS, sql);
      assertNoSecret(JSON.stringify(masked), sql);
      masked.forEach((row, i) => {
        assert.equal(row[0], direct[i][0], `${sql}: the unmasked id`);
        assert.notDeepEqual(row[1], direct[i][1], `${sql}: row ${i + 1} is not masked`);
      });
    }
  });

  test('the detectors alone see through base64 and hex (text and bytea)', async () => {
    for (const shape of [
      "encode(email::bytea, 'base64')",
      "encode(convert_to(ssn, 'UTF8'), 'hex')",
      "upper(encode(convert_to(card, 'UTF8'), 'hex'))",
      "convert_to(email, 'UTF8')",
      "'note: ' || encode(convert_to('mail ' || email || ' or card ' || card, 'UTF8'), 'base64')",
      "encode(convert_to(repeat('padding text ', 10) || email, 'UTF8'), 'base64')",
    ]) {
      const sql = `SELECT id, name, ${shape} AS v FROM customers ORDER BY id`;
      const { direct, masked } = await both(sql, DETECT);
      assertNoSecret(JSON.stringify(masked), sql);
      masked.forEach((row, i) => {
        assert.deepEqual(row.slice(0, 2), direct[i].slice(0, 2), `${sql}: unmasked columns`);
        assert.notEqual(row[2], direct[i][2], `${sql}: row ${i + 1} is not masked`);
      });
    }
    // Binary bytea: the raw bytes are scanned.
    const c = new pg.Client(cfg(gw.target({ user: DETECT.name, password: DETECT.password })));
    await c.connect();
    try {
      const r = await c.query({
        text: "SELECT convert_to(email, 'UTF8') AS b, name FROM customers WHERE id <= $1 ORDER BY id",
        values: [3],
        binary: true,
      } as pg.QueryConfig);
      assert.equal(r.rows.length, 3);
      assertNoSecret(JSON.stringify(r.rows.map((x) => String(x.b))), 'binary bytea');
      assert.deepEqual(
        r.rows.map((x) => String(x.name)),
        ['Customer 1', 'Customer 2', 'Customer 3'],
      );
    } finally {
      await c.end();
    }
  });

  test('ordinary words and numbers are not taken for encodings', async () => {
    const sql =
      "SELECT 'Springfield', 'deadbeefcafe', 'QUJDREVGR0g=', '1234567890123456', 'SGVsbG8gd29ybGQ=', '\\x48656c6c6f'::bytea";
    const { direct, masked } = await both(sql, DETECT);
    assert.deepEqual(masked, direct);
  });
});

// ---------------------------------------------------------------------------------------------
// FunctionCall

function functionCall(oid: number, args: (string | null)[], resultFormat: number): Buffer {
  const values = args.flatMap((a) =>
    a === null ? [int32(-1)] : [int32(Buffer.byteLength(a)), Buffer.from(a, 'utf8')],
  );
  return message('F', int32(oid), int16(0), int16(args.length), ...values, int16(resultFormat));
}

async function fcall(
  oid: number,
  args: (string | null)[],
  format: number,
  user = AGENT,
): Promise<RawMessage[]> {
  const raw = await RawClient.connect(gw.host, gw.port);
  try {
    await raw.login({ user: user.name, password: user.password });
    raw.write(functionCall(oid, args, format));
    return await raw.readUntil('Z', 10_000);
  } finally {
    await raw.end();
  }
}

async function procOid(signature: string): Promise<number> {
  const r = await admin.query({
    text: 'SELECT $1::regprocedure::oid',
    values: [signature],
    rowMode: 'array',
  });
  return Number(r.rows[0][0]);
}

function resultValue(msgs: RawMessage[]): Buffer | null {
  const v = msgs.find((m) => m.type === 'V');
  assert.ok(v, `no FunctionCallResponse: ${JSON.stringify(msgs.map((m) => m.type))}`);
  const len = v.body.readInt32BE(0);
  return len < 0 ? null : v.body.subarray(4, 4 + len);
}

describe('FunctionCall (fast path)', () => {
  test('query_to_xml through FunctionCall: masked in text and binary', async () => {
    const oid = await procOid('pg_catalog.query_to_xml(text,boolean,boolean,text)');
    for (const format of [0, 1]) {
      const msgs = await fcall(
        oid,
        ['SELECT id, name, token, email FROM customers', 'true', 'false', ''],
        format,
      );
      assert.deepEqual(
        msgs.filter((m) => m.type === 'E').map((m) => errorFields(m.body)),
        [],
      );
      const v = resultValue(msgs);
      assertNoSecret(
        Buffer.concat(msgs.map((m) => m.raw)).toString('latin1'),
        `query_to_xml format ${format}`,
      );
      assert.ok(v === null || !v.toString().includes('quokka'), 'the token column is masked');
    }
  });

  test('a large object read with lo_get: masked as hex text, refused in binary', async () => {
    const oid = await procOid('pg_catalog.lo_get(oid)');
    const text = await fcall(oid, [String(largeObject)], 0, DETECT);
    const v = resultValue(text);
    assert.ok(v?.toString().startsWith('\\x'), 'still bytea hex text');
    const decoded = Buffer.from(String(v).slice(2), 'hex').toString('latin1');
    assert.match(decoded, /^contact m\*\*\*@example\.net, ssn \*\*\*-\*\*-4003$/);
    assertNoSecret(Buffer.concat(text.map((m) => m.raw)).toString('latin1'), 'lo_get text');
    const bin = await fcall(oid, [String(largeObject)], 1, DETECT);
    const err = bin.filter((m) => m.type === 'E').map((m) => errorFields(m.body));
    assert.equal(err.length, 1, JSON.stringify(bin.map((m) => m.type)));
    assert.equal(err[0].C, '42501');
    assert.match(err[0].M, /cannot mask the result of this function call safely/);
    assert.equal(bin[bin.length - 1].type, 'Z');
    assertNoSecret(Buffer.concat(bin.map((m) => m.raw)).toString('latin1'), 'lo_get binary');
  });

  test('a result without anything sensitive comes back byte-identical', async () => {
    const oid = await procOid('pg_catalog.quote_ident(text)');
    for (const format of [0, 1]) {
      const viaGateway = await fcall(oid, ['Customer NAME 7'], format);
      const raw = await RawClient.connect(db.host, db.port);
      await raw.login({ user: db.user, password: db.password, database: db.database });
      raw.write(functionCall(oid, ['Customer NAME 7'], format));
      const direct = await raw.readUntil('Z', 10_000);
      await raw.end();
      assert.deepEqual(resultValue(viaGateway), resultValue(direct));
      assert.equal(resultValue(viaGateway)?.toString(), '"Customer NAME 7"');
    }
  });
});

describe('the store', () => {
  test('holds no secret, in any encoding', async () => {
    gw.flush();
    for (const f of [gw.storePath, `${gw.storePath}-wal`]) {
      if (fs.existsSync(f)) assertNoSecret(fs.readFileSync(f).toString('latin1'), path.basename(f));
    }
    const store = gw.readStore();
    try {
      const all = store.listSessions().flatMap((s) => store.listStatements(s.id));
      const leak = all.find((s) => s.sql === 'SELECT leak()');
      assert.equal(leak?.masked['customer-secrets'], ROWS);
      assert.equal(store.verify().ok, true);
    } finally {
      store.close();
    }
  });
});
