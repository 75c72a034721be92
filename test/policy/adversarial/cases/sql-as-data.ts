// Class 3: SQL carried as data: the XML export family, full-text statistics, cursors, dynamic SQL
// in DO blocks, and FunctionCall messages (which must get the decision of the same SELECT).
import type { Draft } from './make.js';
import { numbered, ok, refused } from './make.js';

const READ = "SELECT pg_read_file(''{{MARKER_FILE}}'') AS r";
const LO = "SELECT lo_import(''{{MARKER_FILE}}'') AS r";
const KILL = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ''adv-victim''";
const SEQ = "SELECT nextval(''adv.seq'') AS r";

/** Each carrier with each inner query; `ro` for the sequence (a write only read_only forbids). */
const CARRIERS: { name: string; sql: (q: string) => string }[] = [
  { name: 'query_to_xml', sql: (q) => `SELECT query_to_xml('${q}', true, false, '')` },
  { name: 'pg_catalog.query_to_xml', sql: (q) => `SELECT pg_catalog.query_to_xml('${q}', true, false, '')` },
  {
    name: 'query_to_xml_and_xmlschema',
    sql: (q) => `SELECT query_to_xml_and_xmlschema('${q}', true, false, '')`,
  },
  {
    name: 'query_to_xmlschema (plans the query)',
    sql: (q) => `SELECT query_to_xmlschema('${q}', true, false, '')`,
  },
  {
    name: 'query_to_xml with a computed text',
    sql: (q) => `SELECT query_to_xml(concat('', '${q}'), true, false, '')`,
  },
  {
    name: 'query_to_xml with a text from a subquery',
    sql: (q) => `SELECT query_to_xml((SELECT '${q}'::text), true, false, '')`,
  },
  { name: 'query_to_xml in FROM', sql: (q) => `SELECT * FROM query_to_xml('${q}', true, false, '') x` },
  {
    name: 'query_to_xml nested in query_to_xml',
    sql: (q) =>
      `SELECT query_to_xml('SELECT query_to_xml(''${q.replaceAll("''", "''''")}'', true, false, '''')', true, false, '')`,
  },
  {
    name: 'dynamic SQL in a DO block',
    sql: (q) => `DO $$ DECLARE r text; BEGIN EXECUTE '${q}' INTO r; RAISE NOTICE '%', r; END $$`,
  },
  {
    name: 'dynamic SQL built by format() in a DO block',
    sql: (q) =>
      `DO $$ DECLARE r text; BEGIN EXECUTE format('%s', '${q}') INTO r; RAISE NOTICE '%', r; END $$`,
  },
];

const INNER: { name: string; q: string; identity: Draft['identity'] }[] = [
  { name: 'file read', q: READ, identity: 'dflt' },
  { name: 'lo_import', q: LO, identity: 'dflt' },
  { name: 'terminate a backend', q: KILL, identity: 'dflt' },
  { name: 'nextval under read_only', q: SEQ, identity: 'ro' },
];

const generated: Draft[] = INNER.flatMap((i) =>
  CARRIERS.map((c) => refused(i.identity, `${c.name}: ${i.name}`, [c.sql(i.q)])),
);

const more: Draft[] = [
  refused('dflt', 'ts_stat runs a query that reads a file', [
    "SELECT word FROM ts_stat('SELECT to_tsvector(''simple'', pg_read_file(''{{MARKER_FILE}}''))')",
  ]),
  refused('dflt', 'ts_stat with weights runs a query that imports a file', [
    "SELECT * FROM ts_stat('SELECT to_tsvector(''simple'', lo_import(''{{MARKER_FILE}}'')::text)', 'a')",
  ]),
  refused('ro', 'ts_stat runs a query that advances a sequence, under read_only', [
    "SELECT * FROM ts_stat('SELECT to_tsvector(''simple'', nextval(''adv.seq'')::text)')",
  ]),
  refused('dflt', 'ts_rewrite with a query text that reads a file', [
    "SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, to_tsquery(''simple'', pg_read_file(''{{MARKER_FILE}}''))')",
  ]),
  refused('dflt', 'a cursor over a file read, fetched', [
    'BEGIN',
    "DECLARE c CURSOR FOR SELECT pg_read_file('{{MARKER_FILE}}')",
    'FETCH ALL FROM c',
    'COMMIT',
  ]),
  refused('dflt', 'cursor_to_xml over a cursor that reads a file', [
    'BEGIN',
    "DECLARE c CURSOR FOR SELECT pg_read_file('{{MARKER_FILE}}')",
    "SELECT cursor_to_xml('c', 10, true, false, '')",
    'COMMIT',
  ]),
  refused('dflt', 'a plpgsql refcursor opened on a dynamic file read', [
    "DO $$ DECLARE c refcursor; r text; BEGIN OPEN c FOR EXECUTE 'SELECT pg_read_file(''{{MARKER_FILE}}'')'; FETCH c INTO r; RAISE NOTICE '%', r; END $$",
  ]),
  refused('dflt', 'dynamic DROP by string concatenation in a DO block', [
    "DO $$ BEGIN EXECUTE 'DR' || 'OP TABLE adv.canary'; END $$",
  ]),
  refused('dflt', 'dynamic TRUNCATE by chr() codes in a DO block', [
    "DO $$ BEGIN EXECUTE chr(84) || 'RUNCATE adv.canary'; END $$",
  ]),
  refused('dflt', 'dynamic DROP from a table value in a DO block', [
    "DO $$ BEGIN EXECUTE (SELECT 'DROP TABLE adv.' || 'canary'); END $$",
  ]),
  refused('dflt', 'dynamic SQL by a client-made plpgsql function taking the text', [
    'CREATE FUNCTION adv.run(q text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; END $$',
    "SELECT adv.run('DROP TABLE adv.canary')",
  ]),
  refused(
    'dflt',
    'dynamic SQL by a planted plpgsql function taking the text',
    ["SELECT adv.run('TRUNCATE adv.t')"],
    {
      setup: `CREATE FUNCTION adv.run(q text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; END $$;
      GRANT EXECUTE ON FUNCTION adv.run(text) TO PUBLIC`,
      cleanup: 'DROP FUNCTION adv.run(text)',
      conns: ['su'],
    },
  ),
  refused(
    'dflt',
    'dynamic SQL, query text bound as a parameter (extended)',
    ["SELECT query_to_xml($1, true, false, '')"],
    {
      params: ["SELECT pg_read_file('{{MARKER_FILE}}')"],
      via: ['extended'],
    },
  ),
  refused(
    'dflt',
    'COPY of a file read to STDOUT',
    ["COPY (SELECT pg_read_file('{{MARKER_FILE}}')) TO STDOUT"],
    { via: ['query', 'psql'] },
  ),
  refused('dflt', 'a prepared query_to_xml executed with the query as an argument', [
    "PREPARE x(text) AS SELECT query_to_xml($1, true, false, '')",
    "EXECUTE x('SELECT pg_read_file(''{{MARKER_FILE}}'')')",
  ]),
  // FunctionCall messages: the same decision as SELECT f(args), for every identity.
  refused('dflt', 'FunctionCall pg_read_file(text)', [], {
    fcall: { fn: 'pg_read_file(text)', args: ['{{MARKER_FILE}}'] },
  }),
  refused('dflt', 'FunctionCall pg_read_file(text, bigint, bigint)', [], {
    fcall: { fn: 'pg_read_file(text,bigint,bigint)', args: ['{{MARKER_FILE}}', '0', '200'] },
  }),
  refused('dflt', 'FunctionCall pg_read_binary_file(text)', [], {
    fcall: { fn: 'pg_read_binary_file(text)', args: ['{{MARKER_FILE}}'] },
  }),
  refused('dflt', 'FunctionCall lo_import(text)', [], {
    fcall: { fn: 'lo_import(text)', args: ['{{MARKER_FILE}}'] },
  }),
  refused('dflt', 'FunctionCall lo_from_bytea(oid, bytea)', [], {
    fcall: { fn: 'lo_from_bytea(oid,bytea)', args: ['0', '\\x41'] },
    identity: 'ro',
  }),
  refused('dflt', 'FunctionCall pg_terminate_backend(int)', [], {
    fcall: { fn: 'pg_terminate_backend(integer,bigint)', args: ['{{VICTIM}}', '0'] },
  }),
  refused('dflt', 'FunctionCall query_to_xml running a file read', [], {
    fcall: {
      fn: 'query_to_xml(text,boolean,boolean,text)',
      args: ["SELECT pg_read_file('{{MARKER_FILE}}')", 'true', 'false', ''],
    },
  }),
  refused('ro', 'FunctionCall nextval(regclass) under read_only', [], {
    fcall: { fn: 'nextval(regclass)', args: ['adv.seq'] },
  }),
  refused('ro', 'FunctionCall setval(regclass, bigint) under read_only', [], {
    fcall: { fn: 'setval(regclass,bigint)', args: ['adv.seq', '77'] },
  }),
  refused(
    'ro',
    'FunctionCall set_config(default_transaction_read_only off) under read_only, then a planted write',
    [],
    {
      fcall: { fn: 'set_config(text,text,boolean)', args: ['default_transaction_read_only', 'off', 'false'] },
    },
  ),
  refused('locked', 'FunctionCall set_config(role, none) under the role lock', [], {
    fcall: { fn: 'set_config(text,text,boolean)', args: ['role', 'none', 'false'] },
  }),
  refused('dflt', 'FunctionCall set_config(standard_conforming_strings, off)', [], {
    fcall: { fn: 'set_config(text,text,boolean)', args: ['standard_conforming_strings', 'off', 'false'] },
  }),
  refused('dflt', 'FunctionCall ts_stat running a file read', [], {
    fcall: { fn: 'ts_stat(text)', args: ["SELECT to_tsvector('simple', pg_read_file('{{MARKER_FILE}}'))"] },
  }),
  refused('dflt', 'FunctionCall of a planted dynamic-SQL function with DROP TABLE', [], {
    fcall: { fn: 'adv.run(text)', args: ['DROP TABLE adv.canary'] },
    setup: `CREATE FUNCTION adv.run(q text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; END $$;
      GRANT EXECUTE ON FUNCTION adv.run(text) TO PUBLIC`,
    cleanup: 'DROP FUNCTION adv.run(text)',
    conns: ['su'],
  }),
  ok('dflt', 'control: query_to_xml of a harmless query', [
    "SELECT query_to_xml('SELECT 1 AS x', true, false, '')",
  ]),
  ok('dflt', 'control: table_to_xml of the test table', ["SELECT table_to_xml('adv.t', true, false, '')"]),
  ok('dflt', 'control: FunctionCall md5(text)', [], { fcall: { fn: 'md5(text)', args: ['X'] } }),
  ok('ro', 'control: FunctionCall md5(text) under read_only', [], {
    fcall: { fn: 'md5(text)', args: ['x'] },
  }),
  ok('dflt', 'control: a DO block that only raises a notice', ["DO $$ BEGIN RAISE NOTICE 'hello'; END $$"]),
];

export const SQL_AS_DATA = numbered('sql-as-data', 'data', [...generated, ...more]);
