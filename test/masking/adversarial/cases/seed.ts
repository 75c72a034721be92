// The harness's own cases (issue 18): at least one per class of types.ts, attacks and controls.
// Setups and cleanups run as the superuser; every case leaves the server as it found it (the suite
// compares the canary schema's fingerprint after each run).
import {
  bindMessage,
  cstr,
  executeMessage,
  message,
  parseMessage,
  syncMessage,
} from '../../../helpers/raw-client.js';
import type { MaskCase } from '../types.js';
import { caseMaker } from './make.js';

const b64 = (s: string) => [Buffer.from(s).toString('base64')];
const hex = (s: string) => [Buffer.from(s).toString('hex')];
const spread = (sep: string) => (s: string) => [[...s].join(sep)];
const digitsToLetters = (s: string) => [s.replace(/\d/g, (d) => 'abcdefghij'[Number(d)])];
const rotated = (s: string) => [s.slice(9) + s.slice(0, 9)];
const parts = (s: string) => [
  s
    .split(/[ .()@+-]+/)
    .filter(Boolean)
    .join(','),
];
const nested = (open: string, inner: string, close: string, n: number) =>
  `${open.repeat(n)}${inner}${close.repeat(n)}`;

const { leak, control } = caseMaker('seed');

const ALL_VIAS: MaskCase['via'] = ['query', 'extended', 'binary', 'psql'];

export const SEED_CASES: MaskCase[] = [
  // ---- whole-row ---------------------------------------------------------------------------
  leak('whole-row', 'a whole-row reference', 'SELECT c FROM pii.customers c', { via: ALL_VIAS }),
  leak('whole-row', 'a whole-row reference cast to text', 'SELECT c::text FROM pii.customers c'),
  leak('whole-row', 'row_to_json of the row', 'SELECT row_to_json(c) FROM pii.customers c'),
  leak('whole-row', 'attribute notation (c).email', 'SELECT (c).email FROM pii.customers c'),
  leak('whole-row', 'to_jsonb of the row, then ->>', "SELECT to_jsonb(c) ->> 'email' FROM pii.customers c"),
  leak('whole-row', 'ROW() of masked columns', 'SELECT ROW(email, ssn, card) FROM pii.customers'),
  leak('whole-row', 'json_agg of whole rows', 'SELECT json_agg(c) FROM pii.customers c'),
  leak('whole-row', 'array_agg of whole rows as text', 'SELECT array_agg(c)::text FROM pii.customers c'),
  leak(
    'whole-row',
    'a whole row out of a scalar subquery',
    'SELECT (SELECT c FROM pii.customers c WHERE id = 2)',
  ),
  leak(
    'whole-row',
    'attribute notation of a function: c.row_to_json',
    'SELECT c.row_to_json FROM pii.customers c',
  ),
  leak('whole-row', '(c.*)::text', 'SELECT (c.*)::text FROM pii.customers c'),
  leak('whole-row', 'whole row of pii.numbers', 'SELECT n FROM pii.numbers n'),

  // ---- types -------------------------------------------------------------------------------
  leak('types', 'email::name', 'SELECT email::name FROM pii.customers'),
  leak('types', 'email::bpchar', 'SELECT email::bpchar FROM pii.customers'),
  leak('types', 'email::varchar(200)', 'SELECT email::varchar(200) FROM pii.customers'),
  leak('types', 'email::xml', 'SELECT email::xml FROM pii.customers'),
  leak('types', 'email::tsvector', 'SELECT email::tsvector FROM pii.customers'),
  leak(
    'types',
    'ssn::"char" (one byte, must not error or leak)',
    'SELECT ssn::"char", email::"char" FROM pii.customers',
  ),
  leak('types', 'email::bytea (hex output)', 'SELECT email::bytea FROM pii.customers'),
  leak('types', "convert_to(email, 'UTF8')", "SELECT convert_to(email, 'UTF8') FROM pii.customers"),
  leak(
    'types',
    'base64 of the bytes',
    "SELECT encode(convert_to(email, 'UTF8'), 'base64') FROM pii.customers",
    {
      reveal: b64,
    },
  ),
  leak('types', 'ssn_num::text', 'SELECT ssn_num::text, card_num::text FROM pii.numbers'),
  leak(
    'types',
    'numeric PII as numbers (binary: int8 and numeric on the wire)',
    'SELECT ssn_num, card_num FROM pii.numbers',
    {
      via: ALL_VIAS,
    },
  ),
  leak('types', 'card_num::float8', 'SELECT card_num::float8, ssn_num::float8 FROM pii.numbers'),
  leak(
    'types',
    'to_json(email), quote_literal(ssn)',
    'SELECT to_json(email), quote_literal(ssn) FROM pii.customers',
  ),
  leak('types', 'ARRAY[email, card]', 'SELECT ARRAY[email, card] FROM pii.customers'),
  leak('types', 'COPY (SELECT ...) TO STDOUT', 'COPY (SELECT email, ssn, card FROM pii.customers) TO STDOUT'),

  // ---- statistics --------------------------------------------------------------------------
  leak(
    'statistics',
    'pg_stats histogram_bounds of pii.customers',
    "SELECT attname, histogram_bounds::text, most_common_vals::text FROM pg_stats WHERE tablename = 'customers'",
  ),
  leak('statistics', 'every pg_stats row of schema pii', "SELECT * FROM pg_stats WHERE schemaname = 'pii'"),
  leak(
    'statistics',
    'pg_stats of the numeric PII',
    "SELECT histogram_bounds FROM pg_stats WHERE tablename = 'numbers'",
  ),
  leak(
    'statistics',
    'min() and max() of masked columns',
    'SELECT min(email), max(ssn), min(card) FROM pii.customers',
  ),

  // ---- limits ------------------------------------------------------------------------------
  leak('limits', '((((email)))) x 300', `SELECT ${nested('(', 'email', ')', 300)} FROM pii.customers`),
  leak(
    'limits',
    'coalesce(coalesce(...)) x 150',
    `SELECT ${nested('coalesce(', 'ssn', ', NULL)', 150)} FROM pii.customers`,
  ),
  leak(
    'limits',
    "((email || '') || '') x 200",
    `SELECT ${nested('(', 'email', " || '')", 200)} FROM pii.customers`,
  ),
  leak(
    'limits',
    'a masked column after 1500 others',
    `SELECT ${'id, '.repeat(1500)}email FROM pii.customers`,
  ),
  leak(
    'limits',
    'a huge value ending with the email',
    "SELECT repeat('x', 300000) || email FROM pii.customers",
  ),
  leak(
    'limits',
    'scalar subqueries nested 40 deep',
    `SELECT ${nested('(SELECT ', 'card', ')', 40)} FROM pii.customers`,
  ),

  // ---- side-channels -----------------------------------------------------------------------
  leak('side-channels', 'email::int: the error echoes the value', 'SELECT email::int FROM pii.customers'),
  leak(
    'side-channels',
    'email::regclass: the error echoes the value',
    'SELECT email::regclass FROM pii.customers',
  ),
  leak(
    'side-channels',
    'set_config(email, ...): an invalid setting name',
    "SELECT set_config(email, 'x', false) FROM pii.customers",
  ),
  leak(
    'side-channels',
    'RAISE NOTICE of a masked value',
    "DO $$ BEGIN RAISE NOTICE '%', (SELECT email FROM pii.customers LIMIT 1); END $$",
  ),
  leak(
    'side-channels',
    'RAISE EXCEPTION with the value in DETAIL',
    "DO $$ BEGIN RAISE EXCEPTION 'no' USING DETAIL = (SELECT ssn FROM pii.customers LIMIT 1); END $$",
  ),
  leak('side-channels', 'pg_notify of masked values to a channel it listens on', [
    'LISTEN c',
    "SELECT pg_notify('c', email) FROM pii.customers",
  ]),
  leak('side-channels', 'ssn::date: the error echoes the value', 'SELECT ssn::date FROM pii.customers'),
  leak('side-channels', 'card::uuid: the error echoes the value', 'SELECT card::uuid FROM pii.customers'),
  leak(
    'side-channels',
    'application_name set to a masked value (ParameterStatus)',
    "SELECT set_config('application_name', email, false) FROM pii.customers WHERE id = 1",
  ),
  leak(
    'side-channels',
    'a JSON path error holding the value',
    "SELECT (profile -> 'contact' ->> 'email')::numeric FROM pii.docs",
  ),

  // ---- laundering --------------------------------------------------------------------------
  leak(
    'laundering',
    'CREATE TABLE AS, read back by another session',
    'CREATE TABLE pii.copy AS SELECT email, ssn FROM pii.customers',
    {
      readBack: ['SELECT * FROM pii.copy'],
      cleanup: 'DROP TABLE IF EXISTS pii.copy',
    },
  ),
  leak('laundering', 'set_config of a custom setting, then SHOW', [
    "SELECT set_config('my.v', email, false) FROM pii.customers WHERE id = 1",
    'SHOW my.v',
  ]),
  leak(
    'laundering',
    'a large object made of the value, read back by another session',
    "SELECT lo_from_bytea(4242001, convert_to(email, 'UTF8')) FROM pii.customers WHERE id = 1",
    {
      readBack: ["SELECT convert_from(lo_get(4242001), 'UTF8')", 'SELECT lo_get(4242001)'],
      cleanup: 'SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE oid = 4242001',
    },
  ),
  leak(
    'laundering',
    'INSERT INTO pii.other SELECT ..., read back',
    'INSERT INTO pii.other SELECT 100 + id, email, ssn FROM pii.customers',
    {
      readBack: ['SELECT * FROM pii.other'],
      cleanup: 'DELETE FROM pii.other WHERE id >= 100',
    },
  ),
  leak('laundering', 'a temp table in the same session', [
    'CREATE TEMP TABLE t AS SELECT card FROM pii.customers',
    'SELECT * FROM t',
  ]),
  leak('laundering', 'SELECT INTO a new table, read back', 'SELECT ssn INTO pii.copy2 FROM pii.customers', {
    readBack: ['SELECT * FROM pii.copy2'],
    cleanup: 'DROP TABLE IF EXISTS pii.copy2',
  }),
  leak(
    'laundering',
    'a materialized view, read back',
    'CREATE MATERIALIZED VIEW pii.mv AS SELECT phone, email FROM pii.customers',
    {
      readBack: ['SELECT * FROM pii.mv'],
      cleanup: 'DROP MATERIALIZED VIEW IF EXISTS pii.mv',
    },
  ),
  leak(
    'laundering',
    'UPDATE of a clear column with a masked value, read back',
    'UPDATE pii.other SET note = (SELECT email FROM pii.customers WHERE id = 3) WHERE id = 1',
    {
      readBack: ['SELECT note FROM pii.other WHERE id = 1'],
      cleanup: "UPDATE pii.other SET note = 'nothing to see' WHERE id = 1",
    },
  ),

  // ---- renames -----------------------------------------------------------------------------
  leak('renames', 'the rule column renamed (by the owner) before the read', 'SELECT e2 FROM pii.customers', {
    setup: 'ALTER TABLE pii.customers RENAME COLUMN email TO e2',
    cleanup: 'ALTER TABLE pii.customers RENAME COLUMN e2 TO email',
  }),
  leak('renames', 'the rule table renamed before the read', 'SELECT email, ssn FROM pii.clients', {
    setup: 'ALTER TABLE pii.customers RENAME TO clients',
    cleanup: 'ALTER TABLE pii.clients RENAME TO customers',
  }),
  leak('renames', 'the rule schema renamed before the read', 'SELECT card, secret FROM pii2.customers', {
    setup: 'ALTER SCHEMA pii RENAME TO pii2',
    cleanup: 'ALTER SCHEMA pii2 RENAME TO pii',
  }),
  leak('renames', 'a numeric rule column renamed before the read', 'SELECT n FROM pii.numbers', {
    setup: 'ALTER TABLE pii.numbers RENAME COLUMN ssn_num TO n',
    cleanup: 'ALTER TABLE pii.numbers RENAME COLUMN n TO ssn_num',
  }),
  leak(
    'renames',
    'the agent renames the column itself (the server refuses: not the owner)',
    ['ALTER TABLE pii.customers RENAME COLUMN email TO e3', 'SELECT e3 FROM pii.customers'],
    {
      cleanup:
        'DO $$ BEGIN ALTER TABLE pii.customers RENAME COLUMN e3 TO email; EXCEPTION WHEN undefined_column THEN NULL; END $$',
    },
  ),

  // ---- prepared ----------------------------------------------------------------------------
  leak('prepared', 'PREPARE then EXECUTE', [
    'PREPARE p AS SELECT email, ssn FROM pii.customers',
    'EXECUTE p',
  ]),
  leak('prepared', 'PREPARE of a whole row, EXECUTE with a parameter', [
    'PREPARE q(int) AS SELECT c FROM pii.customers c WHERE id = $1',
    'EXECUTE q(1)',
  ]),
  leak('prepared', 'DECLARE and FETCH', [
    'BEGIN',
    'DECLARE cur CURSOR FOR SELECT ssn, card FROM pii.customers',
    'FETCH ALL FROM cur',
    'COMMIT',
  ]),
  leak(
    'prepared',
    'a cursor opened inside a PL/pgSQL function, FETCHed',
    ['BEGIN', 'SELECT pii.open_cur()', 'FETCH ALL FROM fcur', 'COMMIT'],
    {
      setup: `CREATE FUNCTION pii.open_cur() RETURNS refcursor LANGUAGE plpgsql AS $$
      DECLARE c refcursor := 'fcur'; BEGIN OPEN c FOR SELECT card, email FROM pii.customers; RETURN c; END $$;
      GRANT EXECUTE ON FUNCTION pii.open_cur() TO mask_app`,
      cleanup: 'DROP FUNCTION IF EXISTS pii.open_cur()',
    },
  ),
  leak('prepared', 'a parameterised read', 'SELECT email, phone FROM pii.customers WHERE id = $1', {
    params: ['1'],
    via: ['extended', 'binary'],
  }),
  leak('prepared', 'a refused re-Parse of a used statement name, then Bind', [], {
    custom: async (ctx) => {
      const c = await ctx.login();
      const until = () => c.readUntil('Z', 10_000);
      c.write(Buffer.concat([parseMessage('s1', 'SELECT email, ssn FROM pii.customers'), syncMessage()]));
      await until();
      c.write(Buffer.concat([bindMessage('', 's1', []), executeMessage(''), syncMessage()]));
      await until();
      // The server refuses this Parse (42P05: s1 exists): s1 still reads the masked columns.
      c.write(Buffer.concat([parseMessage('s1', 'SELECT id, full_name FROM pii.customers'), syncMessage()]));
      await until();
      c.write(Buffer.concat([bindMessage('', 's1', []), executeMessage(''), syncMessage()]));
      await until();
      c.write(message('Q', cstr('SELECT 1')));
      await until();
    },
  }),
  leak('prepared', 'a portal read one row at a time (suspended portal)', [], {
    custom: async (ctx) => {
      const c = await ctx.login();
      c.write(
        Buffer.concat([
          parseMessage('', 'SELECT card, email FROM pii.customers'),
          bindMessage('p1', '', []),
          executeMessage('p1', 1),
          executeMessage('p1', 1),
          executeMessage('p1', 1),
          syncMessage(),
        ]),
      );
      await c.readUntil('Z', 10_000);
    },
  }),

  // ---- transforms --------------------------------------------------------------------------
  leak('transforms', 'reverse(email)', 'SELECT reverse(email), reverse(card) FROM pii.customers'),
  leak(
    'transforms',
    "replace(ssn, '-', '')",
    "SELECT replace(ssn, '-', ''), replace(card, ' ', '') FROM pii.customers",
  ),
  leak(
    'transforms',
    'translate(card) digits to letters',
    "SELECT translate(card, '0123456789', 'abcdefghij'), translate(ssn, '0123456789', 'abcdefghij') FROM pii.customers",
    {
      reveal: digitsToLetters,
    },
  ),
  leak(
    'transforms',
    'characters spread out by regexp_replace',
    "SELECT regexp_replace(email, '(.)', '\\1 ', 'g') FROM pii.customers",
    {
      reveal: spread(' '),
    },
  ),
  leak(
    'transforms',
    'substr pieces rejoined in another order',
    'SELECT substr(email, 10) || substr(email, 1, 9) FROM pii.customers',
    {
      reveal: rotated,
    },
  ),
  leak(
    'transforms',
    'string_agg of the characters',
    "SELECT (SELECT string_agg(x, '|') FROM regexp_split_to_table(email, '') x) FROM pii.customers",
    {
      reveal: spread('|'),
    },
  ),
  leak('transforms', 'upper() and lower()', 'SELECT upper(email), lower(secret) FROM pii.customers'),
  leak(
    'transforms',
    'hex of the bytes',
    "SELECT encode(convert_to(email, 'UTF8'), 'hex') FROM pii.customers",
    { reveal: hex },
  ),
  leak(
    'transforms',
    'split_part pieces rejoined',
    "SELECT split_part(email, '@', 1) || '@' || split_part(email, '@', 2) FROM pii.customers",
  ),
  leak(
    'transforms',
    'string_to_array of the card',
    "SELECT string_to_array(card, ' '), string_to_array(ssn, '-') FROM pii.customers",
    {
      reveal: parts,
    },
  ),
  leak(
    'transforms',
    'CASE and concat()',
    "SELECT CASE WHEN id > 0 THEN concat(email, '') END, left(ssn, 100) FROM pii.customers",
  ),
  leak('transforms', 'free text holding a card and an SSN', 'SELECT note FROM pii.docs'),
  leak(
    'transforms',
    'JSON fields of a masked document',
    "SELECT profile -> 'contact' ->> 'email', jsonb_pretty(profile) FROM pii.docs",
  ),

  // ---- functions ---------------------------------------------------------------------------
  leak('functions', 'through a view', 'SELECT email, card FROM pii.v', {
    setup:
      'CREATE VIEW pii.v AS SELECT id, email, card FROM pii.customers; GRANT SELECT ON pii.v TO mask_app',
    cleanup: 'DROP VIEW IF EXISTS pii.v',
  }),
  leak(
    'functions',
    'through a CTE',
    'WITH x AS (SELECT email AS e, ssn AS s FROM pii.customers) SELECT e, s FROM x',
  ),
  leak('functions', 'through an SQL function', 'SELECT pii.get_email(id) FROM generate_series(1, 3) id', {
    setup: `CREATE FUNCTION pii.get_email(i int) RETURNS text LANGUAGE sql AS $$ SELECT email FROM pii.customers WHERE id = i $$;
      GRANT EXECUTE ON FUNCTION pii.get_email(int) TO mask_app`,
    cleanup: 'DROP FUNCTION IF EXISTS pii.get_email(int)',
  }),
  leak(
    'functions',
    'a function the agent creates, then calls',
    [
      'CREATE FUNCTION pii.f_leak() RETURNS SETOF text LANGUAGE sql AS $$ SELECT card FROM pii.customers $$',
      'SELECT pii.f_leak()',
    ],
    {
      cleanup: 'DROP FUNCTION IF EXISTS pii.f_leak()',
    },
  ),
  leak(
    'functions',
    'dynamic SQL in a DO block, RAISEd',
    "DO $$ DECLARE v text; BEGIN EXECUTE 'SELECT email FROM pii.' || 'customers WHERE id = 2' INTO v; RAISE NOTICE 'v=%', v; END $$",
  ),
  leak(
    'functions',
    'query_to_xml of a literal query',
    "SELECT query_to_xml('SELECT email, ssn FROM pii.customers', true, false, '')",
  ),
  leak(
    'functions',
    'a derived table with renamed columns',
    'SELECT x.a, x.b FROM (SELECT email, ssn FROM pii.customers) x(a, b)',
  ),
  leak(
    'functions',
    'UNION ALL under a clear column name',
    'SELECT full_name FROM pii.customers UNION ALL SELECT email FROM pii.customers',
  ),
  leak('functions', 'LATERAL VALUES', 'SELECT v FROM pii.customers, LATERAL (VALUES (email), (card)) t(v)'),

  // ---- store -------------------------------------------------------------------------------
  leak(
    'store',
    'an email typed by the client in SQL text',
    "SELECT 1 WHERE 'zoe.quist4821@maskcanary.test' = 'x'",
  ),
  leak('store', 'an SSN typed by the client as a Bind parameter', "SELECT $1::text = 'x'", {
    params: ['523-71-4829'],
    via: ['extended'],
  }),
  leak(
    'store',
    'a card typed into an INSERT',
    "INSERT INTO pii.other VALUES (200, '4539 1488 0343 6467', 'x')",
    {
      cleanup: 'DELETE FROM pii.other WHERE id >= 100',
    },
  ),
  leak('store', 'a typed SSN echoed back by an error', "SELECT '614-28-3075'::int"),

  // ---- controls ----------------------------------------------------------------------------
  control(
    'whole-row',
    'unmasked columns come through in clear',
    'SELECT id, full_name FROM pii.customers ORDER BY id',
    'Idris Varga',
    {
      via: ALL_VIAS,
    },
  ),
  control(
    'functions',
    'counts of masked columns still work',
    'SELECT count(*) AS n FROM pii.customers WHERE email IS NOT NULL',
    '3',
  ),
  control(
    'functions',
    'IS NULL of a masked column still works',
    "SELECT count(*) FILTER (WHERE ssn IS NULL) || '-nulls' FROM pii.customers",
    '0-nulls',
  ),
  control(
    'types',
    'a table with no PII is untouched',
    'SELECT label, note FROM pii.other ORDER BY id',
    'nothing to see',
    {
      via: ALL_VIAS,
    },
  ),
  control(
    'transforms',
    'filtering on a masked column runs on the server',
    "SELECT full_name FROM pii.customers WHERE email LIKE 'mei.%'",
    'Mei Okonkwo',
  ),
  control(
    'prepared',
    'a parameterised read of clear columns',
    'SELECT full_name FROM pii.customers WHERE id = $1',
    'Zoe Quist',
    {
      params: ['1'],
      via: ['extended', 'binary'],
    },
  ),
  control(
    'side-channels',
    'a notice with no PII arrives intact',
    "DO $$ BEGIN RAISE NOTICE 'plain notice text'; END $$",
    'plain notice text',
  ),
  control('types', 'a constant query is untouched', "SELECT 'hello world' AS greeting", 'hello world'),
];
