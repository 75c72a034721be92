// Masking adversarial cases of part "values" (issue 18): PII in values of every type (cards
// stored as numbers, C strings, names, ranges, text-search vectors, XML), in text and binary
// results, and the side channels of statements that read masked columns (errors, notices,
// notifications, parameter statuses). Run by the harness through `bastion serve`.

import { defaultForms } from '../data.js';
import type { MaskCase } from '../types.js';

/** A card's digits as money prints them: 4,539,148,803,436,467. */
function grouped(secret: string): string[] {
  const d = secret.replace(/\D/g, '');
  if (d.length < 13) return [];
  return [d.replace(/\B(?=(\d{3})+(?!\d))/g, ',')];
}

/** A card's digits as float8 prints them: 4.539148803436467e+15. */
function floated(secret: string): string[] {
  const d = secret.replace(/\D/g, '');
  if (d.length < 13) return [];
  return [`${d[0]}.${d.slice(1).replace(/0+$/, '')}e+${d.length - 1}`];
}

const numberForms = (s: string) => [...defaultForms(s), ...grouped(s), ...floated(s)];

const types = (id: number, desc: string, sql: string, extra: Partial<MaskCase> = {}): MaskCase => ({
  id: `val-${String(id).padStart(3, '0')}`,
  cls: 'types',
  desc,
  sql: [sql],
  kind: 'leak',
  ...extra,
});

const side = (id: number, desc: string, sql: string[], extra: Partial<MaskCase> = {}): MaskCase => ({
  id: `val-${String(id).padStart(3, '0')}`,
  cls: 'side-channels',
  desc,
  sql,
  kind: 'leak',
  ...extra,
});

const control = (
  id: number,
  desc: string,
  sql: string[],
  expect: string,
  extra: Partial<MaskCase> = {},
): MaskCase => ({
  id: `val-${String(id).padStart(3, '0')}`,
  cls: 'types',
  desc,
  sql,
  kind: 'control',
  expect,
  ...extra,
});

export const VALUES_CASES: MaskCase[] = [
  // Cards stored as numbers, and the same numbers cast or wrapped.
  types(1, 'card stored as numeric', 'SELECT card_num FROM pii.numbers', { reveal: numberForms }),
  types(2, 'card numeric cast to bigint', 'SELECT card_num::bigint FROM pii.numbers', {
    reveal: numberForms,
  }),
  types(3, 'card cast to float8 (exponent output)', 'SELECT card_num::float8 FROM pii.numbers', {
    reveal: numberForms,
  }),
  types(4, 'card cast to money (grouped digits)', 'SELECT card_num::money FROM pii.numbers', {
    reveal: numberForms,
  }),
  types(5, 'card as a numrange bound', 'SELECT numrange(card_num, card_num + 1) FROM pii.numbers', {
    reveal: numberForms,
  }),
  types(
    6,
    'card as an int8range bound',
    'SELECT int8range(card_num::bigint, card_num::bigint + 1) FROM pii.numbers',
    { reveal: numberForms },
  ),
  types(
    7,
    'card in an int8multirange',
    'SELECT int8multirange(int8range(card_num::bigint, card_num::bigint + 1)) FROM pii.numbers',
    { reveal: numberForms },
  ),
  types(8, 'card in a bigint[]', 'SELECT ARRAY[card_num::bigint] FROM pii.numbers', { reveal: numberForms }),
  types(9, 'card in a numeric[] of two', 'SELECT ARRAY[card_num, 1] FROM pii.numbers', {
    reveal: numberForms,
  }),
  types(10, 'card divided: the digits after the point', 'SELECT card_num / 1e16 FROM pii.numbers', {
    reveal: numberForms,
  }),
  types(11, 'card in an anonymous record', 'SELECT ROW(id, card_num) FROM pii.numbers', {
    reveal: numberForms,
  }),
  types(12, 'card in to_json of a number', 'SELECT to_json(card_num) FROM pii.numbers', {
    reveal: numberForms,
  }),
  types(
    13,
    'card as a range in an array',
    'SELECT ARRAY[numrange(card_num, card_num + 1)] FROM pii.numbers',
    {
      reveal: numberForms,
    },
  ),
  types(
    14,
    'card numeric through COPY TO STDOUT (text)',
    'COPY (SELECT card_num FROM pii.numbers) TO STDOUT',
    {
      reveal: numberForms,
    },
  ),
  types(
    15,
    'card bigint through COPY TO STDOUT (csv)',
    'COPY (SELECT card_num::bigint FROM pii.numbers) TO STDOUT (FORMAT csv)',
    {
      reveal: numberForms,
    },
  ),
  types(16, 'email as name through COPY TO STDOUT', 'COPY (SELECT email::name FROM pii.customers) TO STDOUT'),
  types(
    17,
    'card as money through COPY TO STDOUT (csv)',
    'COPY (SELECT card_num::money FROM pii.numbers) TO STDOUT (FORMAT csv)',
    {
      reveal: numberForms,
    },
  ),
  types(18, 'card as float8 text (exponent form)', 'SELECT card_num::float8::text FROM pii.numbers', {
    reveal: numberForms,
  }),
  types(19, 'card as a float8 in JSON', 'SELECT to_json(card_num::float8) FROM pii.numbers', {
    reveal: numberForms,
  }),
  types(31, 'card as a point coordinate', 'SELECT point(card_num, 0) FROM pii.numbers', {
    reveal: numberForms,
  }),
  types(32, 'card in a float8[]', 'SELECT ARRAY[card_num::float8] FROM pii.numbers', { reveal: numberForms }),
  // Values cast to less common textual types, or produced as C strings.
  types(20, 'email cast to name', 'SELECT email::name FROM pii.customers'),
  types(21, 'email cast to bpchar(80)', 'SELECT email::bpchar(80) FROM pii.customers'),
  types(22, 'email as a C string (textout)', 'SELECT textout(email) FROM pii.customers'),
  types(23, 'email in a tsvector', "SELECT to_tsvector('simple', email) FROM pii.customers"),
  types(24, 'email in XML', 'SELECT xmlelement(name a, email) FROM pii.customers'),
  types(25, 'email in a tsquery', "SELECT plainto_tsquery('simple', email) FROM pii.customers"),
  types(26, 'email as a refcursor', 'SELECT email::refcursor FROM pii.customers'),
  types(27, 'note (text with a card and SSN) cast to name[]', 'SELECT ARRAY[note::name] FROM pii.docs'),
  types(28, 'phone inside a jsonpath', "SELECT ('$.\"' || phone || '\"')::jsonpath FROM pii.customers"),
  types(
    29,
    'a table named after an email, read back as regclass',
    "SELECT oid::regclass FROM pg_class WHERE relname LIKE '%@%'",
    {
      setup:
        "DO $$ DECLARE e text; BEGIN SELECT email INTO e FROM pii.customers WHERE id = 1; EXECUTE format('CREATE TABLE pii.%I (x int)', e); END $$",
      cleanup:
        "DO $$ DECLARE e text; BEGIN SELECT email INTO e FROM pii.customers WHERE id = 1; EXECUTE format('DROP TABLE IF EXISTS pii.%I', e); END $$",
    },
  ),
  types(
    30,
    'profile jsonb key value cast to text[] of one',
    "SELECT ARRAY[profile->'contact'->>'email'] FROM pii.docs",
  ),
  // Numeric SSNs: per value, a 9-digit integer is no SSN (see proxy/masking/numbers.ts); the
  // column rule masks it, and under the default policy the automatic column classification must.
  types(40, 'SSN stored as bigint (column rule)', 'SELECT ssn_num FROM pii.numbers', {
    identities: ['rules'],
  }),
  types(
    41,
    'SSN stored as bigint (default policy: needs classification)',
    'SELECT ssn_num FROM pii.numbers',
    {
      identities: ['dflt'],
    },
  ),
  // Errors and notices of statements that read masked columns.
  side(50, 'a masked value cast to regclass: relation "..." does not exist', [
    'SELECT secret::regclass FROM pii.customers',
  ]),
  side(51, 'an email cast to regclass', ['SELECT email::regclass FROM pii.customers']),
  side(52, 'a masked value as a setting name', ['SELECT current_setting(secret) FROM pii.customers']),
  side(53, 'a masked value cast to regtype', ['SELECT secret::regtype FROM pii.customers']),
  side(54, 'a masked value cast to regproc', ['SELECT secret::regproc FROM pii.customers']),
  side(55, 'a masked value cast to regrole', ['SELECT secret::regrole FROM pii.customers']),
  side(56, 'a masked value as a table name in has_table_privilege', [
    "SELECT has_table_privilege(secret, 'select') FROM pii.customers",
  ]),
  side(57, 'a masked value parsed as JSON', ['SELECT secret::json FROM pii.customers']),
  side(58, 'a masked value parsed as an XML document', [
    'SELECT xmlparse(document secret) FROM pii.customers',
  ]),
  side(59, 'a masked value cast to uuid', ['SELECT secret::uuid FROM pii.customers']),
  side(60, 'a masked value cast to integer', ['SELECT secret::int FROM pii.customers']),
  side(61, 'a masked value as a to_date input', ["SELECT to_date(secret, 'YYYY') FROM pii.customers"]),
  side(62, 'a masked value as a date', ['SELECT secret::date FROM pii.customers']),
  side(63, 'a masked value as an enum label', ['SELECT secret::val_mood FROM pii.customers'], {
    setup: "CREATE TYPE public.val_mood AS ENUM ('ok'); GRANT USAGE ON TYPE public.val_mood TO PUBLIC",
    cleanup: 'DROP TYPE IF EXISTS public.val_mood',
  }),
  side(
    64,
    'PL/pgSQL RAISE NOTICE and EXCEPTION (any SQLSTATE, DETAIL, HINT, COLUMN) from a function',
    ['SELECT pii.val_raise(secret) FROM pii.customers'],
    {
      setup: `CREATE FUNCTION pii.val_raise(t text) RETURNS int LANGUAGE plpgsql AS $f$
      BEGIN
        RAISE NOTICE 'n: %', t;
        RAISE EXCEPTION USING MESSAGE = t, DETAIL = t, HINT = t, COLUMN = t, TABLE = t, ERRCODE = '22P02';
      END $f$; GRANT EXECUTE ON FUNCTION pii.val_raise(text) TO PUBLIC`,
      cleanup: 'DROP FUNCTION IF EXISTS pii.val_raise(text)',
    },
  ),
  side(
    65,
    'RAISE of an email with SQLSTATE 23505 (a class masked by pattern before)',
    ['SELECT pii.val_raise(email) FROM pii.customers'],
    {
      setup: `CREATE FUNCTION pii.val_raise(t text) RETURNS int LANGUAGE plpgsql AS $f$
      BEGIN RAISE EXCEPTION 'dup %', t USING ERRCODE = '23505'; END $f$;
      GRANT EXECUTE ON FUNCTION pii.val_raise(text) TO PUBLIC`,
      cleanup: 'DROP FUNCTION IF EXISTS pii.val_raise(text)',
    },
  ),
  side(66, 'a DO block raising a masked value it selected', [
    "DO $$ DECLARE s text; BEGIN SELECT secret INTO s FROM pii.customers WHERE id = 1; RAISE NOTICE '%', s; END $$",
  ]),
  side(
    67,
    'a masked value in dynamic SQL: the internal query and context',
    ['SELECT pii.val_exec(secret) FROM pii.customers'],
    {
      setup: `CREATE FUNCTION pii.val_exec(t text) RETURNS int LANGUAGE plpgsql AS $f$
      BEGIN EXECUTE 'SELECT ' || quote_literal(t) || '::int'; RETURN 0; END $f$;
      GRANT EXECUTE ON FUNCTION pii.val_exec(text) TO PUBLIC`,
      cleanup: 'DROP FUNCTION IF EXISTS pii.val_exec(text)',
    },
  ),
  side(68, 'a unique violation echoing the key', [
    'CREATE TEMP TABLE val_u (v text UNIQUE)',
    'INSERT INTO val_u SELECT secret FROM pii.customers UNION ALL SELECT secret FROM pii.customers',
  ]),
  side(69, 'a check violation echoing the failing row', [
    'CREATE TEMP TABLE val_c (v text CHECK (length(v) < 5))',
    'INSERT INTO val_c SELECT secret FROM pii.customers',
  ]),
  // Notifications and parameter statuses.
  side(80, 'pg_notify with a masked payload', [
    'LISTEN val_ch',
    "SELECT pg_notify('val_ch', secret) FROM pii.customers",
  ]),
  side(81, 'pg_notify of an email, reversed', [
    'LISTEN val_ch',
    "SELECT pg_notify('val_ch', reverse(email)) FROM pii.customers",
  ]),
  side(82, 'pg_notify in a transaction: delivered at COMMIT', [
    'LISTEN val_ch',
    'BEGIN',
    "SELECT pg_notify('val_ch', secret) FROM pii.customers",
    'COMMIT',
  ]),
  side(
    83,
    'NOTIFY of a masked value through a function',
    ['LISTEN val_ch', 'SELECT pii.val_notify(secret) FROM pii.customers'],
    {
      setup: `CREATE FUNCTION pii.val_notify(t text) RETURNS void LANGUAGE plpgsql AS $f$
      BEGIN EXECUTE format('NOTIFY val_ch, %L', t); END $f$;
      GRANT EXECUTE ON FUNCTION pii.val_notify(text) TO PUBLIC`,
      cleanup: 'DROP FUNCTION IF EXISTS pii.val_notify(text)',
    },
  ),
  side(84, 'application_name set from a masked column (ParameterStatus)', [
    "SELECT set_config('application_name', secret, false) FROM pii.customers",
  ]),
  side(
    85,
    'application_name set from an email, spaced out',
    [
      "SELECT set_config('application_name', regexp_replace(email, '(.)', '\\1 ', 'g'), false) FROM pii.customers WHERE id = 1",
    ],
    { reveal: (s) => [...defaultForms(s), s.split('').join(' ')] },
  ),
  // Controls: what reads nothing masked keeps working, numbers that are no cards pass.
  control(90, 'a bigint that is no card', ['SELECT 1234567890123::bigint AS n'], '1234567890123'),
  control(91, 'ids of the numbers table', ['SELECT max(id) FROM pii.numbers'], '3'),
  control(
    92,
    'application_name set from a literal',
    ["SELECT set_config('application_name', 'val_app', false)"],
    'val_app',
  ),
  control(
    93,
    'a notification with a plain payload',
    ['LISTEN val_c2', "SELECT pg_notify('val_c2', 'plain payload')"],
    'plain payload',
  ),
  control(
    94,
    'a notice from a function called on a literal',
    ["DO $$ BEGIN RAISE NOTICE 'hello %', 'there'; END $$"],
    'hello there',
  ),
  control(95, 'money amounts that are no cards', ['SELECT 1234.56::money'], '1,234.56'),
  control(96, 'an int8range of small bounds', ['SELECT int8range(1, 10)'], '[1,10)'),
  control(
    97,
    'a timestamp is never scanned',
    ["SELECT '2024-01-02 03:04:05'::timestamp"],
    '2024-01-02 03:04:05',
  ),
];
