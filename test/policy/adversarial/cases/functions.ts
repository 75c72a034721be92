// Class 2: functions called in every shape the server accepts, not only f(x): qualified, quoted,
// U&"", upper case, in CTEs and subqueries, DO, EXPLAIN ANALYZE, PREPARE/EXECUTE, function bodies,
// operators and casts bound to them, search_path shadowing, renamed built-ins.
import type { Draft } from './make.js';
import { numbered, ok, refused } from './make.js';

const VICTIM = "(SELECT pid FROM pg_stat_activity WHERE application_name = 'adv-victim')";

/** Dangerous calls whose effect the harness sees on the server: a file read (the marker reaches
 * the client), a large object created, a file written, a backend killed, a sequence advanced. */
const TARGETS: { name: string; fn: string; args: string; identity: Draft['identity'] }[] = [
  { name: 'pg_read_file', fn: 'pg_read_file', args: "'{{MARKER_FILE}}'", identity: 'dflt' },
  { name: 'lo_import', fn: 'lo_import', args: "'{{MARKER_FILE}}'", identity: 'dflt' },
  { name: 'pg_terminate_backend', fn: 'pg_terminate_backend', args: VICTIM, identity: 'dflt' },
  { name: 'lo_export', fn: 'lo_export', args: "lo_from_bytea(0, 'x'), '{{OUT}}/lo.txt'", identity: 'dflt' },
  { name: 'nextval under read_only', fn: 'nextval', args: "'adv.seq'", identity: 'ro' },
];

const SHAPES: { name: string; sql: (fn: string, args: string) => string[] }[] = [
  { name: 'plain call', sql: (f, a) => [`SELECT ${f}(${a})`] },
  { name: 'pg_catalog-qualified', sql: (f, a) => [`SELECT pg_catalog.${f}(${a})`] },
  { name: 'quoted name', sql: (f, a) => [`SELECT "${f}"(${a})`] },
  { name: 'quoted schema and name', sql: (f, a) => [`SELECT "pg_catalog"."${f}"(${a})`] },
  { name: 'upper case', sql: (f, a) => [`SELECT ${f.toUpperCase()}(${a})`] },
  {
    name: 'U& identifier',
    sql: (f, a) => [`SELECT U&"${[...f].map((c) => (c === '_' ? '\\005f' : c)).join('')}"(${a})`],
  },
  { name: 'in a CTE', sql: (f, a) => [`WITH x AS (SELECT ${f}(${a}) AS r) SELECT r FROM x`] },
  { name: 'in a scalar subquery', sql: (f, a) => [`SELECT (SELECT ${f}(${a}))`] },
  { name: 'in FROM as a table function', sql: (f, a) => [`SELECT * FROM ${f}(${a}) AS r`] },
  {
    name: 'in a LATERAL join',
    sql: (f, a) => [`SELECT r FROM (VALUES (1)) v(x), LATERAL (SELECT ${f}(${a}) AS r) l`],
  },
  {
    name: 'in a DO block',
    sql: (f, a) => [`DO $$ BEGIN RAISE NOTICE '%', ${f.replaceAll("'", "''")}(${a}); END $$`],
  },
  { name: 'in EXPLAIN ANALYZE', sql: (f, a) => [`EXPLAIN ANALYZE SELECT ${f}(${a})`] },
  { name: 'behind PREPARE/EXECUTE', sql: (f, a) => [`PREPARE p AS SELECT ${f}(${a})`, 'EXECUTE p'] },
  { name: 'in a CASE branch', sql: (f, a) => [`SELECT CASE WHEN 1 = 1 THEN ${f}(${a})::text END`] },
  { name: 'in an ORDER BY', sql: (f, a) => [`SELECT 1 ORDER BY ${f}(${a})`] },
  { name: 'in a VALUES list', sql: (f, a) => [`VALUES (${f}(${a}))`] },
  { name: 'in ROWS FROM', sql: (f, a) => [`SELECT * FROM ROWS FROM (${f}(${a})) AS r`] },
  { name: 'in an ARRAY constructor', sql: (f, a) => [`SELECT ARRAY[${f}(${a})::text]`] },
  { name: 'in a WHERE clause', sql: (f, a) => [`SELECT 1 WHERE ${f}(${a})::text IS NOT NULL`] },
  { name: 'in json_build_object', sql: (f, a) => [`SELECT json_build_object('k', ${f}(${a}))`] },
  {
    name: 'in an aggregate FILTER',
    sql: (f, a) => [`SELECT count(*) FILTER (WHERE ${f}(${a})::text <> '') FROM (VALUES (1)) v(x)`],
  },
];

const generated: Draft[] = TARGETS.flatMap((t) =>
  SHAPES.map((s) => refused(t.identity, `${t.name}: ${s.name}`, s.sql(t.fn, t.args))),
);

const more: Draft[] = [
  refused('dflt', 'pg_read_file through a search_path shadow created by the client', [
    "CREATE FUNCTION adv.lower(text) RETURNS text LANGUAGE sql AS 'SELECT pg_catalog.pg_read_file($1)'",
    'SET search_path = adv, pg_catalog',
    "SELECT lower('{{MARKER_FILE}}')",
  ]),
  refused(
    'dflt',
    'pg_read_file behind a planted shadow of lower() on search_path',
    ['SET search_path = adv, pg_catalog', "SELECT lower('{{MARKER_FILE}}')"],
    {
      setup:
        "CREATE FUNCTION adv.lower(text) RETURNS text LANGUAGE sql AS 'SELECT pg_catalog.pg_read_file($1)'",
      cleanup: 'DROP FUNCTION adv.lower(text)',
      conns: ['su'],
    },
  ),
  refused('dflt', 'a built-in renamed by the client, then called by its new name', [
    'ALTER FUNCTION pg_catalog.pg_read_file(text) RENAME TO harmless_read',
    "SELECT harmless_read('{{MARKER_FILE}}')",
  ]),
  refused(
    'dflt',
    'a built-in renamed beforehand (planted), called by its new name',
    ["SELECT pg_catalog.harmless_read('{{MARKER_FILE}}')"],
    {
      setup: 'ALTER FUNCTION pg_catalog.pg_read_file(text) RENAME TO harmless_read',
      cleanup: 'ALTER FUNCTION pg_catalog.harmless_read(text) RENAME TO pg_read_file',
      conns: ['su'],
    },
  ),
  refused('dflt', 'a built-in moved into another schema by the client', [
    'ALTER FUNCTION pg_catalog.lo_import(text) SET SCHEMA adv',
  ]),
  refused('dflt', 'CREATE OR REPLACE of a pg_catalog function', [
    "CREATE OR REPLACE FUNCTION pg_catalog.adv_shadow(text) RETURNS text LANGUAGE sql AS 'SELECT $1'",
  ]),
  refused('dflt', 'a prefix operator bound to pg_read_file, created by the client', [
    'CREATE OPERATOR adv.<<< (RIGHTARG = text, FUNCTION = pg_catalog.pg_read_file)',
    "SELECT OPERATOR(adv.<<<) '{{MARKER_FILE}}'",
  ]),
  refused(
    'dflt',
    'a planted operator bound to pg_read_file, through search_path',
    ['SET search_path = adv, pg_catalog', "SELECT <<< '{{MARKER_FILE}}'::text"],
    {
      setup: 'CREATE OPERATOR adv.<<< (RIGHTARG = text, FUNCTION = pg_catalog.pg_read_file)',
      cleanup: 'DROP OPERATOR adv.<<< (NONE, text)',
      conns: ['su'],
    },
  ),
  refused(
    'dflt',
    'a planted operator bound to pg_read_file, OPERATOR() syntax',
    ["SELECT OPERATOR(adv.<<<) '{{MARKER_FILE}}'::text"],
    {
      setup: 'CREATE OPERATOR adv.<<< (RIGHTARG = text, FUNCTION = pg_catalog.pg_read_file)',
      cleanup: 'DROP OPERATOR adv.<<< (NONE, text)',
      conns: ['su'],
    },
  ),
  refused(
    'dflt',
    'a planted operator bound to lo_import',
    ["SELECT OPERATOR(adv.@@@) '{{MARKER_FILE}}'::text"],
    {
      setup: 'CREATE OPERATOR adv.@@@ (RIGHTARG = text, FUNCTION = pg_catalog.lo_import)',
      cleanup: 'DROP OPERATOR adv.@@@ (NONE, text)',
      conns: ['su'],
    },
  ),
  refused(
    'dflt',
    'a cast created by the client through a file-reading function',
    ['CREATE CAST (adv.path AS bytea) WITH FUNCTION pg_catalog.pg_read_binary_file(text)'],
    {
      setup: 'CREATE DOMAIN adv.path AS text',
      cleanup: 'DROP DOMAIN adv.path CASCADE',
    },
  ),
  refused(
    'ro',
    'a planted cast whose function writes, under read_only',
    ['SELECT t::adv.tagged FROM adv.t t LIMIT 1'],
    {
      setup: `CREATE TYPE adv.tagged AS (n bigint);
      CREATE FUNCTION adv.tag(adv.t) RETURNS adv.tagged LANGUAGE sql AS $$ SELECT ROW(nextval('adv.seq'))::adv.tagged $$;
      CREATE CAST (adv.t AS adv.tagged) WITH FUNCTION adv.tag(adv.t);
      GRANT EXECUTE ON FUNCTION adv.tag(adv.t) TO PUBLIC`,
      cleanup: 'DROP CAST (adv.t AS adv.tagged); DROP FUNCTION adv.tag(adv.t); DROP TYPE adv.tagged',
    },
  ),
  refused(
    'ro',
    'a planted writing function called by attribute notation (t).f, under read_only',
    ['SELECT (t).bump FROM adv.t t LIMIT 1'],
    {
      setup: `CREATE FUNCTION adv.bump(adv.t) RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('adv.seq') $$;
      GRANT EXECUTE ON FUNCTION adv.bump(adv.t) TO PUBLIC`,
      cleanup: 'DROP FUNCTION adv.bump(adv.t)',
    },
  ),
  refused(
    'ro',
    'a planted writing function called as alias.f, under read_only',
    ['SELECT t.bump FROM adv.t t LIMIT 1'],
    {
      setup: `CREATE FUNCTION adv.bump(adv.t) RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('adv.seq') $$;
      GRANT EXECUTE ON FUNCTION adv.bump(adv.t) TO PUBLIC`,
      cleanup: 'DROP FUNCTION adv.bump(adv.t)',
    },
  ),
  refused(
    'ro',
    'a planted function shadowing lower() that deletes, under read_only',
    ['SET search_path = adv, pg_catalog', "SELECT lower('X')"],
    {
      setup: `CREATE FUNCTION adv.lower(text) RETURNS text LANGUAGE sql AS $$ DELETE FROM adv.canary WHERE id = 1; SELECT $1 $$;
      GRANT EXECUTE ON FUNCTION adv.lower(text) TO PUBLIC`,
      cleanup: 'DROP FUNCTION adv.lower(text)',
    },
  ),
  refused(
    'ro',
    'a planted writing function used as an implicit cast in a comparison, under read_only',
    ["SELECT 1 FROM adv.t t WHERE t = '(1,x)'::adv.t"],
    {
      setup: `CREATE FUNCTION adv.eqw(adv.t, adv.t) RETURNS bool LANGUAGE sql AS $$ SELECT nextval('adv.seq') > 0 $$;
      CREATE OPERATOR adv.= (LEFTARG = adv.t, RIGHTARG = adv.t, FUNCTION = adv.eqw);
      GRANT EXECUTE ON FUNCTION adv.eqw(adv.t, adv.t) TO PUBLIC`,
      cleanup: 'DROP OPERATOR adv.= (adv.t, adv.t); DROP FUNCTION adv.eqw(adv.t, adv.t)',
    },
  ),
  refused('dflt', 'pg_read_file inside a client-made SQL function body', [
    "CREATE FUNCTION adv.rf() RETURNS text LANGUAGE sql AS $$ SELECT pg_read_file('{{MARKER_FILE}}') $$",
    'SELECT adv.rf()',
  ]),
  refused('dflt', 'pg_read_file inside a client-made plpgsql function body', [
    "CREATE FUNCTION adv.rf2() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN pg_read_file('{{MARKER_FILE}}'); END $$",
    'SELECT adv.rf2()',
  ]),
  refused('dflt', 'pg_read_file in a client-made view', [
    "CREATE VIEW adv.v AS SELECT pg_read_file('{{MARKER_FILE}}') AS r",
    'SELECT * FROM adv.v',
  ]),
  refused('dflt', 'pg_read_file in a column DEFAULT', [
    "CREATE TABLE adv.d (id int, r text DEFAULT pg_read_file('{{MARKER_FILE}}'))",
  ]),
  refused('dflt', 'pg_read_file via a variadic-style named argument call', [
    "SELECT pg_read_file(filename => '{{MARKER_FILE}}')",
  ]),
  refused('dflt', 'pg_read_file with offset and length arguments', [
    "SELECT pg_read_file('{{MARKER_FILE}}', 0, 100)",
  ]),
  refused('dflt', 'convert_from(pg_read_binary_file())', [
    "SELECT convert_from(pg_read_binary_file('{{MARKER_FILE}}'), 'UTF8')",
  ]),
  refused('dflt', 'pg_read_file in a GROUP BY expression', [
    "SELECT count(*) FROM adv.t GROUP BY pg_read_file('{{MARKER_FILE}}')",
  ]),
  refused('dflt', 'pg_read_file in a RETURNING clause', [
    "UPDATE adv.t SET v = v WHERE id = 1 RETURNING pg_read_file('{{MARKER_FILE}}')",
  ]),
  refused('dflt', 'lo_import in a temporary table DEFAULT', [
    "CREATE TEMP TABLE dd (o oid DEFAULT lo_import('{{MARKER_FILE}}'))",
    'INSERT INTO dd DEFAULT VALUES',
  ]),
  refused('dflt', 'lo_import in a temporary view', [
    "CREATE TEMP VIEW lv AS SELECT lo_import('{{MARKER_FILE}}') AS o",
    'SELECT * FROM lv',
  ]),
  refused('dflt', 'lo_import in a CHECK constraint of a temporary table', [
    'CREATE TEMP TABLE ck (a text CHECK (lo_import(a) > 0))',
    "INSERT INTO ck VALUES ('{{MARKER_FILE}}')",
  ]),
  refused('dflt', 'lo_import in a temporary function', [
    "CREATE FUNCTION pg_temp.imp() RETURNS oid LANGUAGE sql AS $$ SELECT lo_import('{{MARKER_FILE}}') $$",
    'SELECT pg_temp.imp()',
  ]),
  refused('dflt', 'pg_read_file in a temporary function', [
    "CREATE FUNCTION pg_temp.rd() RETURNS text LANGUAGE sql AS $$ SELECT pg_read_file('{{MARKER_FILE}}') $$",
    'SELECT pg_temp.rd()',
  ]),
  refused('dflt', 'an aggregate made by the client with lo_import as its final function', [
    'CREATE AGGREGATE adv.imp(text) (SFUNC = textcat, STYPE = text, FINALFUNC = lo_import)',
  ]),
  refused('dflt', 'pg_read_file with missing_ok', ["SELECT pg_read_file('{{MARKER_FILE}}', true)"]),
  ok('dflt', "control: SELECT lower('X')", ["SELECT lower('X')"]),
  ok('dflt', 'control: pg_catalog.upper and length', ["SELECT pg_catalog.upper('x'), length('abc')"]),
  ok('dflt', 'control: now() and a CTE', ['WITH x AS (SELECT now() AS n) SELECT n FROM x']),
  ok('ro', 'control: read-only functions under read_only', [
    'SELECT lower(v), md5(v) FROM adv.t WHERE id = 1',
  ]),
  ok('ro', 'control: currval-free sequence read under read_only', ['SELECT last_value FROM adv.seq']),
];

export const FUNCTIONS = numbered('functions', 'fn', [...generated, ...more]);
