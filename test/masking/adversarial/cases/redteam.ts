// What the red-team passes of issue 18 confirmed, as cases (attackers briefed with the README and
// a running gateway only). Each reproduces one report entry on the corpus's canary schema; most use
// `secret` (letters only: no detector sees it, only the column rule) or a transformation, so that
// the detectors cannot hide a hole in the column rules.
import type { MaskCase } from '../types.js';

const digits = (s: string) => [s.replace(/\D/g, '')];

let n = 0;
const id = () => `rt-${String(++n).padStart(3, '0')}`;
const leak = (cls: MaskCase['cls'], desc: string, sql: string[], more: Partial<MaskCase> = {}): MaskCase => ({
  id: id(),
  cls,
  desc,
  sql,
  kind: 'leak',
  ...more,
});

export const REDTEAM_CASES: MaskCase[] = [
  // --- pass 18a (baseline)
  leak(
    'functions',
    '18a#2: a pg_temp function selecting the masked column (the catalog cannot see it)',
    [
      "CREATE FUNCTION pg_temp.f1() RETURNS text LANGUAGE sql AS 'SELECT secret FROM pii.customers ORDER BY id LIMIT 1'",
      'SELECT pg_temp.f1()',
    ],
    { identities: ['rules'], via: ['query'] },
  ),
  leak(
    'prepared',
    '18a#3: a cursor opened in a DO block, FETCHed with transformations',
    [
      'BEGIN',
      "DO $$ DECLARE c refcursor := 'rc1'; BEGIN OPEN c FOR SELECT secret || '' AS a, replace(ssn, '-', '') AS b FROM pii.customers; END $$",
      'FETCH ALL FROM rc1',
      'COMMIT',
    ],
    { via: ['query'], reveal: (s) => [s, ...digits(s)] },
  ),
  leak(
    'side-channels',
    '18a#4: RAISE NOTICE of a value read INTO a variable',
    [
      "DO $$ DECLARE v text; BEGIN SELECT secret || '|' || replace(ssn, '-', '') INTO v FROM pii.customers WHERE id = 1; RAISE NOTICE '%', v; END $$",
    ],
    { via: ['query'], reveal: (s) => [s, ...digits(s)] },
  ),
  leak(
    'side-channels',
    '18a#4: RAISE EXCEPTION of a value read INTO a variable',
    [
      "DO $$ DECLARE v text; BEGIN SELECT secret INTO v FROM pii.customers WHERE id = 2; RAISE EXCEPTION 'got %', v; END $$",
    ],
    { identities: ['rules'], via: ['query'] },
  ),
  leak(
    'side-channels',
    '18a#5: a masked value cast to regclass / regtype / regrole / regnamespace',
    [
      'SELECT secret::regclass FROM pii.customers WHERE id = 1',
      "SELECT replace(ssn, '-', '')::regtype FROM pii.customers WHERE id = 2",
      "SELECT translate(phone, '() -+.', '')::regrole FROM pii.customers WHERE id = 3",
      "SELECT replace(email, '@', '_')::regnamespace FROM pii.customers WHERE id = 1",
    ],
    { reveal: (s) => [s, ...digits(s), s.replace('@', '_')] },
  ),
  leak(
    'side-channels',
    '18a#6: an XML parse error echoing the value in DETAIL',
    [
      "SELECT ('<a>' || replace(card, ' ', '_'))::xml FROM pii.customers WHERE id = 1",
      "SELECT ('<a>' || secret)::xml FROM pii.customers WHERE id = 2",
    ],
    { reveal: (s) => [s, s.replaceAll(' ', '_')] },
  ),
  leak(
    'side-channels',
    '18a#7: application_name from a masked column: ParameterStatus, SHOW, pg_stat_activity',
    [
      "SELECT set_config('application_name', secret, false) FROM pii.customers WHERE id = 1",
      'SHOW application_name',
      'SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()',
    ],
    { via: ['query'] },
  ),
  leak(
    'side-channels',
    '18a#8: pg_notify of a transformed masked value to a channel it listens on',
    ['LISTEN rtc', "SELECT pg_notify('rtc', reverse(secret) || replace(ssn, '-', '')) FROM pii.customers"],
    { via: ['query'], reveal: (s) => [s, [...s].reverse().join(''), ...digits(s)] },
  ),
  leak(
    'laundering',
    '18a#9: a large object made from a masked value, found again in pg_largeobject_metadata',
    [
      "SELECT lo_from_bytea(0, convert_to(secret, 'UTF8')) FROM pii.customers WHERE id = 1",
      'SELECT lo_get(oid) FROM pg_largeobject_metadata',
    ],
    {
      via: ['query'],
      reveal: (s) => [s, Buffer.from(s).toString('hex')],
      cleanup: 'SELECT lo_unlink(oid) FROM pg_largeobject_metadata',
    },
  ),
  leak(
    'laundering',
    '18a#10: setval of a temporary sequence from a numeric SSN, read back',
    [
      'CREATE TEMP SEQUENCE rts',
      "SELECT setval('rts', ssn_num) FROM pii.numbers WHERE id = 1",
      'SELECT last_value FROM rts',
    ],
    { via: ['query'], identities: ['rules'], reveal: digits },
  ),
  leak(
    'laundering',
    '18a#10: an advisory lock keyed by a numeric SSN, seen in pg_locks',
    [
      'SELECT pg_advisory_lock(ssn_num) FROM pii.numbers WHERE id = 2',
      "SELECT objid, classid FROM pg_locks WHERE locktype = 'advisory'",
      'SELECT pg_advisory_unlock_all()',
    ],
    { via: ['query'], identities: ['rules'], reveal: digits },
  ),
  leak(
    'laundering',
    '18a#11: CREATE TABLE AS of transformed masked values, read in a later session',
    ["CREATE TABLE pii.rt_t1 AS SELECT id, secret AS x, replace(ssn, '-', '') AS y FROM pii.customers"],
    {
      via: ['query'],
      readBack: ['SELECT * FROM pii.rt_t1'],
      cleanup: 'DROP TABLE IF EXISTS pii.rt_t1',
      reveal: (s) => [s, ...digits(s)],
    },
  ),
  leak(
    'laundering',
    '18a#11: a pg_temp trigger on a temp table copies masked values inserted into it',
    [
      'CREATE TEMP TABLE src (x text)',
      'CREATE TEMP TABLE dst (x text)',
      'CREATE FUNCTION pg_temp.cp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO dst VALUES (NEW.x); RETURN NEW; END $$',
      'CREATE TRIGGER t BEFORE INSERT ON src FOR EACH ROW EXECUTE FUNCTION pg_temp.cp()',
      'INSERT INTO src SELECT secret FROM pii.customers',
      'SELECT * FROM dst',
    ],
    { via: ['query'], identities: ['rules'] },
  ),
  leak(
    'laundering',
    '18a#11: MERGE ... WHEN NOT MATCHED THEN INSERT of a masked column',
    [
      'CREATE TEMP TABLE t10 (x text)',
      'MERGE INTO t10 USING pii.customers c ON false WHEN NOT MATCHED THEN INSERT VALUES (c.secret)',
      'SELECT * FROM t10',
    ],
    { via: ['query'], identities: ['rules'] },
  ),
  leak('statistics', '18a#12: pg_stats histogram_bounds of the masked column', [
    "SELECT histogram_bounds::text, most_common_vals::text FROM pg_stats WHERE schemaname = 'pii' AND tablename = 'customers'",
  ]),
  // 18a#13 (hash as a dictionary oracle through a UNION with literals): test/masking/rewrite.test.ts.
  leak('transforms', '18a#15: a digit after a card number hides it from the card detector', [
    "SELECT card || ' 1', ssn || ' 1', phone || '1' FROM pii.customers",
  ]),
  leak(
    'types',
    '18a#17: tsvector of masked values in binary format',
    ['SELECT tsvector(ssn), to_tsvector(email), to_tsvector(secret) FROM pii.customers'],
    { via: ['binary', 'query'] },
  ),
];
