// Function calls in the shapes PostgreSQL runs them besides `f(x)`: attribute notation, DDL that
// binds a function to an operator / aggregate / cast / type, and DDL that renames or shadows a
// built-in. Each shape is first run on a real PostgreSQL 15 to show it does what the attacker
// wants (reads the marker file, advances the sequence, makes a harmless-looking name run
// pg_read_file), then the analyser must see the call and the policy must refuse it.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { analyze } from '../../proxy/policy/analyze.js';
import { BUILTIN_OPERATOR_NAMES } from '../../proxy/policy/overrides.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';
import { DEFAULT_POLICY, decide, type Policy, parsePolicy } from '../../proxy/policy/policy.js';
import { PreparedRegistry } from '../../proxy/policy/prepared.js';
import { parseSearchPath } from '../../proxy/policy/search-path.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

const MARKER = 'funcres-marker-7f3a';
let db: TestPostgres;
let client: pg.Client;
let dir: string;
let file: string;
const READ_ONLY: Policy = parsePolicy('ro', { read_only: true });

before(async () => {
  await initPolicyEngine();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-funcres-'));
  fs.chmodSync(dir, 0o755);
  file = path.join(dir, 'secret.txt');
  fs.writeFileSync(file, MARKER, { mode: 0o644 });
  db = await startPostgres({ version: 15 });
  client = new pg.Client(db.url);
  await client.connect();
  await client.query(`CREATE TABLE paths (path text); INSERT INTO paths VALUES ('${file}');
    CREATE SEQUENCE s; CREATE TABLE customers (id int, name text, left_hand text)`);
});

after(async () => {
  await client?.end();
  await db?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const sub = (sql: string) => sql.replaceAll('$FILE', file);

function verdict(sql: string, policy: Policy = DEFAULT_POLICY) {
  return decide(analyze(sql), policy, { identity: 'agent', prepared: new PreparedRegistry() });
}

/** Runs statements in a transaction that is rolled back; returns the last result's first value. */
async function onServer(...sqls: string[]): Promise<unknown> {
  await client.query('BEGIN');
  try {
    let last: pg.QueryResult | undefined;
    for (const s of sqls) last = await client.query(sub(s));
    const row = last?.rows[0];
    return row === undefined ? undefined : Object.values(row)[0];
  } finally {
    await client.query('ROLLBACK');
  }
}

describe('attribute notation runs a function, and counts as its call', () => {
  const shapes = [
    "SELECT ('$FILE'::text).pg_read_file",
    "SELECT ('$FILE').pg_read_file",
    'SELECT (p.path).pg_read_file FROM paths p',
    'SELECT (path).pg_read_file FROM paths',
    'SELECT ((SELECT path FROM paths LIMIT 1)).pg_read_file',
    "SELECT (ARRAY['$FILE'])[1].pg_read_file",
  ];
  for (const sql of shapes) {
    test(sql, async () => {
      assert.equal(await onServer(sql), MARKER, 'the server runs it as pg_read_file(...)');
      const d = verdict(sub(sql));
      assert.equal(d.action, 'block');
      assert.equal(d.rule, 'no-server-functions');
    });
  }

  test('t.f passes the whole row of t to f (pg_temp is never searched for functions, public is)', async () => {
    const v = await onServer(
      "CREATE FUNCTION public.pg_stat_file(paths) RETURNS text LANGUAGE sql AS 'SELECT pg_catalog.pg_read_file($1.path)'",
      'SELECT paths.pg_stat_file FROM paths',
    );
    assert.equal(v, MARKER);
    assert.equal(verdict('SELECT paths.pg_stat_file FROM paths').rule, 'no-server-functions');
    assert.equal(verdict('SELECT public.paths.pg_stat_file FROM paths').rule, 'no-server-functions');
  });

  test('read_only: (x).nextval advances a sequence on the server, and is refused', async () => {
    const before = await onServer("SELECT ('s').nextval", "SELECT ('s'::regclass).nextval");
    assert.equal(Number(before), 2, 'both attribute calls ran nextval');
    for (const sql of ["SELECT ('s').nextval", "SELECT ('s'::regclass).nextval", "SELECT ('s').setval"]) {
      const d = verdict(sql, READ_ONLY);
      assert.equal(d.action, 'block', sql);
      assert.equal(d.rule, 'read_only', sql);
    }
  });

  test('plain and qualified columns stay allowed, also under read_only', () => {
    for (const sql of [
      'SELECT c.id, c.name, customers.left_hand FROM customers c',
      'SELECT (c).id FROM customers c',
    ]) {
      assert.equal(verdict(sql).action, 'allow', sql);
      assert.equal(verdict(sql, READ_ONLY).action, 'allow', sql);
    }
  });
});

describe('DDL binding a function to something that runs it later', () => {
  const cases: [string[], string][] = [
    [
      ['CREATE OPERATOR ~~~ (RIGHTARG = text, FUNCTION = pg_read_file)', "SELECT ~~~ '$FILE'::text"],
      'pg_read_file',
    ],
    [
      ["CREATE OPERATOR ~~~ (RIGHTARG = text, PROCEDURE = 'pg_read_file')", "SELECT ~~~ '$FILE'::text"],
      'pg_read_file',
    ],
    [
      [
        'CREATE AGGREGATE readall(text) (SFUNC = textcat, STYPE = text, FINALFUNC = pg_catalog.pg_read_file)',
        "SELECT readall(x) FROM (VALUES ('$FILE')) v(x)",
      ],
      'pg_catalog.pg_read_file',
    ],
  ];
  for (const [sqls, fn] of cases) {
    test(sqls[sqls.length - 2], async () => {
      assert.equal(await onServer(...sqls), MARKER);
      const ddl = sqls[sqls.length - 2];
      const a = analyze(ddl);
      assert.ok(a.statements[0].units[0].functions.includes(fn), JSON.stringify(a.statements[0].units));
      const d = verdict(ddl);
      assert.equal(d.action, 'block');
      assert.equal(d.rule, 'no-server-functions');
      assert.equal(verdict(ddl, READ_ONLY).rule, 'read_only');
    });
  }

  test('every other binding DDL names its functions', () => {
    const cases: [string, string[]][] = [
      ['ALTER OPERATOR === (text, text) SET (RESTRICT = r, JOIN = j)', ['r', 'j']],
      ['CREATE CAST (text AS fpath) WITH FUNCTION pg_read_file(text)', ['pg_read_file']],
      ['CREATE TYPE r AS RANGE (SUBTYPE = text, SUBTYPE_DIFF = d, CANONICAL = c)', ['d', 'c']],
      [
        'CREATE TYPE b (INPUT = i, OUTPUT = o, RECEIVE = rc, SEND = sd, ANALYZE = an)',
        ['i', 'o', 'rc', 'sd', 'an'],
      ],
      ['CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW EXECUTE FUNCTION tf()', ['tf']],
      ['CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION ef()', ['ef']],
      ['CREATE OPERATOR CLASS c FOR TYPE text USING btree AS FUNCTION 1 cf(text, text)', ['cf']],
      ['ALTER OPERATOR FAMILY f USING btree ADD FUNCTION 1 ff(int, int)', ['ff']],
      ["CREATE CONVERSION c FOR 'UTF8' TO 'LATIN1' FROM cv", ['cv']],
      [
        'CREATE TRANSFORM FOR int LANGUAGE sql (FROM SQL WITH FUNCTION a(internal), TO SQL WITH FUNCTION b(internal))',
        ['a', 'b'],
      ],
      ['CREATE LANGUAGE l HANDLER h INLINE i VALIDATOR v', ['h', 'i', 'v']],
      ['CREATE FOREIGN DATA WRAPPER w HANDLER h VALIDATOR v', ['h', 'v']],
      ['ALTER FOREIGN DATA WRAPPER w HANDLER h2', ['h2']],
      ['CREATE ACCESS METHOD a TYPE TABLE HANDLER h', ['h']],
      [
        'CREATE TEXT SEARCH PARSER p (START = s, GETTOKEN = g, END = e, LEXTYPES = l, HEADLINE = h)',
        ['s', 'g', 'e', 'l', 'h'],
      ],
      ['CREATE TEXT SEARCH TEMPLATE t (INIT = i, LEXIZE = l)', ['i', 'l']],
    ];
    for (const [sql, fns] of cases) {
      const u = analyze(sql).statements[0].units[0];
      assert.deepEqual([...u.functions].sort(), [...fns].sort(), sql);
      assert.equal(u.writes, true, sql);
    }
  });
});

describe('renaming and shadowing built-ins', () => {
  test('a renamed pg_read_file reads files under a harmless name: the rename is blocked', async () => {
    const v = await onServer(
      'ALTER FUNCTION pg_read_file(text) RENAME TO harmless',
      "SELECT harmless('$FILE')",
    );
    assert.equal(v, MARKER);
    assert.equal(verdict("SELECT harmless('x')").action, 'allow', 'afterwards the name says nothing');
    assert.equal(
      verdict('ALTER FUNCTION pg_read_file(text) RENAME TO harmless').rule,
      'no-builtin-overrides',
    );
  });

  test('public.lower shadows pg_catalog.lower once public comes first: the CREATE is blocked', async () => {
    const create =
      "CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS 'SELECT pg_catalog.pg_read_file($1)'";
    const v = await onServer(create, 'SET LOCAL search_path = public, pg_catalog', "SELECT lower('$FILE')");
    assert.equal(v, MARKER);
    assert.equal(verdict(create).rule, 'no-builtin-overrides');
    assert.equal(verdict(create, READ_ONLY).rule, 'read_only');
  });

  test('a better-matching argument type wins over pg_catalog even with the default search_path', async () => {
    const create =
      "CREATE FUNCTION public.upper(varchar) RETURNS text LANGUAGE sql AS 'SELECT pg_catalog.pg_read_file($1)'";
    const v = await onServer(create, "SELECT upper('$FILE'::varchar)");
    assert.equal(v, MARKER);
    assert.equal(verdict(create).rule, 'no-builtin-overrides');
  });

  test('an operator named like a built-in is blocked; its server-side effect shown', async () => {
    // (text, boolean) is an exact match: it beats the built-in text || anynonarray.
    const create = 'CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = boolean, FUNCTION = rd)';
    const v = await onServer(
      "CREATE FUNCTION rd(text, boolean) RETURNS text LANGUAGE sql AS 'SELECT pg_catalog.pg_read_file($1)'",
      create,
      "SELECT '$FILE'::text || false",
    );
    assert.equal(v, MARKER);
    assert.equal(verdict(create).rule, 'no-builtin-overrides');
    assert.equal(
      verdict('CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = boolean, FUNCTION = pg_read_file)').rule,
      'no-server-functions',
    );
  });

  test('other overrides are accepted by the server and blocked', async () => {
    const cases = [
      'ALTER FUNCTION pg_catalog.lower(text) SECURITY DEFINER',
      'ALTER FUNCTION pg_catalog.lower(text) SET search_path = public',
      'ALTER ROUTINE now() SET SCHEMA public',
      'ALTER AGGREGATE avg(int) RENAME TO mean',
      'ALTER OPERATOR = (int, int) SET (RESTRICT = eqsel)',
      "CREATE FUNCTION pg_catalog.harmless() RETURNS int LANGUAGE sql AS 'SELECT 1'",
      'CREATE AGGREGATE public.max(int) (SFUNC = int4larger, STYPE = int)',
      "CREATE OR REPLACE FUNCTION version() RETURNS text LANGUAGE sql AS 'SELECT 1::text'",
    ];
    for (const sql of cases) {
      await onServer(sql);
      const d = verdict(sql);
      assert.equal(d.action, 'block', sql);
      assert.equal(d.rule, 'no-builtin-overrides', sql);
      assert.ok(
        analyze(sql).statements[0].units.some((u) => u.kind === 'builtin_override'),
        `${sql}: a builtin_override unit`,
      );
    }
  });

  test("every built-in operator name of this server is in the analyser's list", async () => {
    const rows = (await client.query('SELECT DISTINCT oprname FROM pg_operator WHERE oid < 16384')).rows;
    const missing = rows.map((r) => r.oprname as string).filter((n) => !BUILTIN_OPERATOR_NAMES.has(n));
    assert.deepEqual(missing, []);
  });

  test('a user function under its own name stays allowed', () => {
    const sql = "CREATE FUNCTION public.my_lower(text) RETURNS text LANGUAGE sql AS 'SELECT lower($1)'";
    assert.equal(verdict(sql).action, 'allow');
  });
});

describe('search_path that puts a schema before pg_catalog', () => {
  test('makes lower() call a user function on the server; every way of setting it is refused', async () => {
    const v = await onServer(
      'CREATE SCHEMA evil',
      "CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE sql AS 'SELECT pg_catalog.pg_read_file($1)'",
      'SET LOCAL search_path = evil, pg_catalog',
      "SELECT lower('$FILE')",
    );
    assert.equal(v, MARKER);
    for (const sql of [
      'SET search_path = evil, pg_catalog',
      "SET LOCAL search_path TO '$user', pg_catalog",
      'SET search_path = "Evil", "pg_catalog"',
      "SELECT set_config('search_path', 'evil, pg_catalog', false)",
      "SELECT set_config('search_path', current_setting('my.path'), true)",
      "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = evil, pg_catalog AS 'SELECT 1'",
      'ALTER FUNCTION f() SET search_path = evil, pg_catalog',
      'ALTER DATABASE appdb SET search_path = evil, pg_catalog',
    ]) {
      const d = verdict(sql);
      assert.equal(d.action, 'block', sql);
      assert.ok(
        analyze(sql).statements[0].units.some((u) => u.kind === 'builtin_override'),
        `${sql}: a builtin_override unit`,
      );
    }
  });

  test('paths that keep pg_catalog first stay allowed', () => {
    for (const sql of [
      'SET search_path = evil, public',
      'SET search_path = pg_catalog, evil',
      "SELECT set_config('search_path', 'app, public', false)",
      'RESET search_path',
      'SET search_path TO DEFAULT',
    ]) {
      assert.equal(verdict(sql).action, 'allow', sql);
    }
  });

  test('parseSearchPath reads quoting as PostgreSQL does', () => {
    assert.deepEqual(parseSearchPath('a, "B", "c,d" ,pg_catalog'), ['a', 'B', 'c,d', 'pg_catalog']);
    assert.deepEqual(parseSearchPath('"a""b"'), ['a"b']);
    assert.deepEqual(parseSearchPath(''), []);
    assert.equal(parseSearchPath('a,'), null);
    assert.equal(parseSearchPath('"a'), null);
  });
});
