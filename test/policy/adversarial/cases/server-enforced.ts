// Class 5: promises the server can enforce. read_only: every way of switching the transaction to
// read-write, and writes the analyser may not see as writes. upstream_role: every way of getting
// the gateway's own role back (the harness checks current_user/session_user in the same session,
// and tables the locked role cannot write).
import type { Draft } from './make.js';
import { numbered, ok, refused } from './make.js';

/** Ways a read_only session could turn its transactions read-write. */
const SWITCHES: { name: string; sql: string[] }[] = [
  { name: 'SET default_transaction_read_only = off', sql: ['SET default_transaction_read_only = off'] },
  {
    name: 'SET SESSION CHARACTERISTICS ... READ WRITE',
    sql: ['SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE'],
  },
  {
    name: 'set_config(default_transaction_read_only)',
    sql: ["SELECT set_config('default_transaction_read_only', 'off', false)"],
  },
  { name: 'RESET default_transaction_read_only', sql: ['RESET default_transaction_read_only'] },
  { name: 'RESET ALL', sql: ['RESET ALL'] },
  { name: 'DISCARD ALL', sql: ['DISCARD ALL'] },
  { name: 'SET transaction_read_only = off', sql: ['SET transaction_read_only = off'] },
  {
    name: 'UPDATE pg_settings',
    sql: ["UPDATE pg_settings SET setting = 'off' WHERE name = 'default_transaction_read_only'"],
  },
];

/** Writes the analyser might not see as writes; the server's read-only transaction would. */
const HIDDEN_WRITES: { name: string; sql: string }[] = [
  { name: 'nextval', sql: "SELECT nextval('adv.seq')" },
  { name: 'setval', sql: "SELECT setval('adv.seq', 500)" },
  {
    name: 'a data-modifying CTE',
    sql: "WITH x AS (INSERT INTO adv.t VALUES (99, 'x') RETURNING 1) SELECT * FROM x",
  },
  { name: 'an INSERT', sql: "INSERT INTO adv.t VALUES (98, 'x')" },
];

const readOnly: Draft[] = SWITCHES.flatMap((s) =>
  HIDDEN_WRITES.map((w) => refused('ro', `read_only: ${s.name}, then ${w.name}`, [...s.sql, w.sql])),
);

const TX_GAMES: Draft[] = [
  refused('ro', 'BEGIN; SET TRANSACTION READ WRITE; INSERT; COMMIT', [
    'BEGIN',
    'SET TRANSACTION READ WRITE',
    "INSERT INTO adv.t VALUES (97, 'x')",
    'COMMIT',
  ]),
  refused('ro', 'START TRANSACTION READ WRITE; nextval; COMMIT', [
    'START TRANSACTION READ WRITE',
    "SELECT nextval('adv.seq')",
    'COMMIT',
  ]),
  refused('ro', 'BEGIN ISOLATION LEVEL SERIALIZABLE, READ WRITE', [
    'BEGIN ISOLATION LEVEL SERIALIZABLE, READ WRITE',
    "SELECT setval('adv.seq', 42)",
    'COMMIT',
  ]),
  refused('ro', 'SET LOCAL transaction_read_only in a transaction', [
    'BEGIN',
    'SET LOCAL transaction_read_only = off',
    "SELECT nextval('adv.seq')",
    'COMMIT',
  ]),
  refused('ro', 'ALTER ROLE ... SET default_transaction_read_only = off', [
    'ALTER ROLE CURRENT_USER SET default_transaction_read_only = off',
  ]),
  refused('ro', 'ALTER DATABASE ... SET default_transaction_read_only = off', [
    'ALTER DATABASE appdb SET default_transaction_read_only = off',
  ]),
  refused('ro', 'lo_from_bytea creates a large object', ["SELECT lo_from_bytea(0, 'x')"]),
  refused('ro', 'lo_create creates a large object', ['SELECT lo_create(0)']),
  refused('ro', 'a planted writing function', ['SELECT adv.w()'], {
    setup: `CREATE FUNCTION adv.w() RETURNS int LANGUAGE sql AS $$ DELETE FROM adv.canary WHERE id = 2; SELECT 1 $$;
      GRANT EXECUTE ON FUNCTION adv.w() TO PUBLIC`,
    cleanup: 'DROP FUNCTION adv.w()',
  }),
  refused('ro', 'a planted writing function in a set-returning position', ['SELECT * FROM adv.w()'], {
    setup: `CREATE FUNCTION adv.w() RETURNS int LANGUAGE sql AS $$ DELETE FROM adv.canary WHERE id = 2; SELECT 1 $$;
      GRANT EXECUTE ON FUNCTION adv.w() TO PUBLIC`,
    cleanup: 'DROP FUNCTION adv.w()',
  }),
  refused('ro', 'a planted procedure that writes, by CALL', ['CALL adv.pw()'], {
    setup: `CREATE PROCEDURE adv.pw() LANGUAGE sql AS $$ DELETE FROM adv.canary WHERE id = 3 $$;
      GRANT EXECUTE ON PROCEDURE adv.pw() TO PUBLIC`,
    cleanup: 'DROP PROCEDURE adv.pw()',
  }),
  refused('ro', 'a planted writing function hidden in a view', ['SELECT * FROM adv.wv'], {
    setup: `CREATE FUNCTION adv.w() RETURNS int LANGUAGE sql AS $$ DELETE FROM adv.canary WHERE id = 2; SELECT 1 $$;
      GRANT EXECUTE ON FUNCTION adv.w() TO PUBLIC; CREATE VIEW adv.wv AS SELECT adv.w() AS n; GRANT SELECT ON adv.wv TO PUBLIC`,
    cleanup: 'DROP VIEW adv.wv; DROP FUNCTION adv.w()',
  }),
  refused('ro', 'a DO block that writes', ["DO $$ BEGIN INSERT INTO adv.t VALUES (96, 'x'); END $$"]),
  refused('ro', 'SELECT ... FOR UPDATE then a write in the same transaction', [
    'BEGIN',
    'SELECT * FROM adv.t FOR UPDATE',
    "UPDATE adv.t SET v = 'x' WHERE id = 1",
    'COMMIT',
  ]),
  refused('ro', 'a write behind PREPARE/EXECUTE', [
    "PREPARE ins AS INSERT INTO adv.t VALUES (95, 'x')",
    'EXECUTE ins',
  ]),
  refused('ro', 'a write under EXPLAIN ANALYZE', ['EXPLAIN ANALYZE DELETE FROM adv.t WHERE id = 1']),
  refused('ro', 'ALTER SEQUENCE ... RESTART', ['ALTER SEQUENCE adv.seq RESTART WITH 50']),
  refused('ro', 'COMMENT ON TABLE', ["COMMENT ON TABLE adv.t IS 'written under read_only'"]),
  refused('ro', 'ALTER TABLE ... ADD COLUMN', ['ALTER TABLE adv.t ADD COLUMN extra int']),
  refused('ro', 'ALTER TABLE ... RENAME', ['ALTER TABLE adv.t RENAME TO t2']),
  refused('ro', 'CREATE TABLE in the test schema', ['CREATE TABLE adv.new (id int)']),
  refused('ro', 'SELECT INTO a new table', ['SELECT * INTO adv.copy FROM adv.t']),
  refused('ro', 'CREATE TABLE AS', ['CREATE TABLE adv.copy2 AS SELECT * FROM adv.t']),
  refused('ro', 'GRANT under read_only', ['GRANT SELECT ON adv.t TO PUBLIC']),
  refused('ro', 'a write in one Query after a harmless SELECT', [], {
    script: "SELECT 1; INSERT INTO adv.t VALUES (94, 'x')",
  }),
  refused('ro', 'a write in a transaction-block script', [], {
    script: "BEGIN; SET TRANSACTION READ WRITE; UPDATE adv.t SET v = 'x' WHERE id = 1; COMMIT",
  }),
];

const ROLE_ESCAPES: { name: string; sql: string[] }[] = [
  { name: 'RESET ROLE', sql: ['RESET ROLE'] },
  { name: 'SET ROLE NONE', sql: ['SET ROLE NONE'] },
  { name: 'SET ROLE to the upstream user', sql: ['SET ROLE {{APP}}'] },
  { name: 'SET SESSION AUTHORIZATION DEFAULT', sql: ['SET SESSION AUTHORIZATION DEFAULT'] },
  { name: 'RESET SESSION AUTHORIZATION', sql: ['RESET SESSION AUTHORIZATION'] },
  { name: "set_config('role', 'none')", sql: ["SELECT set_config('role', 'none', false)"] },
  { name: "set_config with a computed 'role'", sql: ["SELECT set_config(lower('ROLE'), 'none', false)"] },
  { name: 'DISCARD ALL', sql: ['DISCARD ALL'] },
  { name: 'SET "role" = none (quoted)', sql: ['SET "role" = none'] },
  { name: 'SET Role TO DEFAULT (case)', sql: ['SET Role TO DEFAULT'] },
  { name: 'UPDATE pg_settings role', sql: ["UPDATE pg_settings SET setting = 'none' WHERE name = 'role'"] },
  {
    name: 'set_config role in a DO block',
    sql: ["DO $$ BEGIN PERFORM set_config('role', 'none', false); END $$"],
  },
  {
    name: 'set_config role behind PREPARE/EXECUTE',
    sql: ['PREPARE r(text) AS SELECT set_config($1, $2, false)', "EXECUTE r('role', 'none')"],
  },
  {
    name: 'set_config role inside query_to_xml',
    sql: ["SELECT query_to_xml('SELECT set_config(''role'', ''none'', false)', true, false, '')"],
  },
  { name: 'RESET ROLE by dynamic SQL', sql: ["DO $$ BEGIN EXECUTE 'RESET ' || 'ROLE'; END $$"] },
];

const roleLock: Draft[] = ROLE_ESCAPES.flatMap((e) => [
  refused('locked', `role lock: ${e.name}, then write the canary`, [
    ...e.sql,
    'DELETE FROM adv.canary WHERE id = 1',
  ]),
]);

const ROLE_MORE: Draft[] = [
  refused('locked', "role lock: set_config('ROLE') in upper case", [
    "SELECT set_config('ROLE', 'none', false)",
    'DELETE FROM adv.canary WHERE id = 1',
  ]),
  refused('locked', 'role lock: SET "ROLE" (quoted upper case)', [
    'SET "ROLE" = none',
    'DELETE FROM adv.canary WHERE id = 1',
  ]),
  refused('locked', 'role lock: SET SESSION ROLE NONE', [
    'SET SESSION ROLE NONE',
    'DELETE FROM adv.canary WHERE id = 1',
  ]),
  refused('locked', 'role lock: SET session_authorization TO DEFAULT (generic SET)', [
    'SET session_authorization TO DEFAULT',
    'DELETE FROM adv.canary WHERE id = 1',
  ]),
  refused('locked', 'role lock: RESET "role"', ['RESET "role"', 'DELETE FROM adv.canary WHERE id = 1']),
  refused('locked', 'role lock: set_config role with padding in the value', [
    "SELECT set_config('role', 'NONE', false)",
    'DELETE FROM adv.canary WHERE id = 1',
  ]),
  refused('locked', 'role lock: SET ROLE to the upstream user, quoted', [
    'SET ROLE "{{APP}}"',
    'DELETE FROM adv.canary WHERE id = 1',
  ]),
  refused('locked', 'role lock: set_config role in a CTE', [
    "WITH x AS (SELECT set_config('role', 'none', false)) SELECT * FROM x",
    'DELETE FROM adv.canary WHERE id = 1',
  ]),
  refused('locked', 'role lock: set_config role in EXPLAIN ANALYZE', [
    "EXPLAIN ANALYZE SELECT set_config('role', 'none', false)",
    'DELETE FROM adv.canary WHERE id = 1',
  ]),
  ok(
    'locked',
    'control: a SECURITY DEFINER function granted to PUBLIC runs as its owner: the server grants decide',
    ['SELECT adv.sd()'],
    {
      // A bounded DELETE: the gateway reads the body (an unbounded one would be held for review).
      setup: `CREATE FUNCTION adv.sd() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ DELETE FROM adv.su_only WHERE id = 1; SELECT 1 $$;
      GRANT EXECUTE ON FUNCTION adv.sd() TO PUBLIC`,
      cleanup: 'DROP FUNCTION adv.sd()',
      verify: 'SELECT count(*) = 0 FROM adv.su_only',
      conns: ['su'],
    },
  ),
  refused(
    'locked',
    'role lock: SET ROLE to the superuser (su upstream)',
    ['SET ROLE {{SU}}', 'DELETE FROM adv.su_only WHERE id = 1'],
    {
      conns: ['su'],
    },
  ),
  refused('locked', 'role lock: SET SESSION AUTHORIZATION to the superuser', [
    'SET SESSION AUTHORIZATION {{SU}}',
  ]),
  refused('locked', 'role lock: set_config(session_authorization)', [
    "SELECT set_config('session_authorization', '{{SU}}', false)",
  ]),
  refused('locked', 'role lock: SET LOCAL ROLE NONE in a transaction, write before COMMIT', [
    'BEGIN',
    'SET LOCAL ROLE NONE',
    'DELETE FROM adv.canary WHERE id = 1',
    'COMMIT',
  ]),
  refused(
    'locked',
    'role lock: set_config role with parameters (extended)',
    ['SELECT set_config($1, $2, false)'],
    {
      params: ['role', 'none'],
      via: ['extended'],
    },
  ),
  refused(
    'locked',
    'role lock: a planted function that resets the role',
    ['SELECT adv.escape()', 'DELETE FROM adv.canary WHERE id = 1'],
    {
      setup: `CREATE FUNCTION adv.escape() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN set_config('role', 'none', false); END $$;
      GRANT EXECUTE ON FUNCTION adv.escape() TO PUBLIC`,
      cleanup: 'DROP FUNCTION adv.escape()',
    },
  ),
  refused(
    'locked',
    'role lock: a planted procedure that resets the role',
    ['CALL adv.escape_p()', 'DELETE FROM adv.canary WHERE id = 1'],
    {
      setup: `CREATE PROCEDURE adv.escape_p() LANGUAGE plpgsql AS $$ BEGIN RESET ROLE; END $$;
      GRANT EXECUTE ON PROCEDURE adv.escape_p() TO PUBLIC`,
      cleanup: 'DROP PROCEDURE adv.escape_p()',
    },
  ),
  refused(
    'locked',
    'role lock: a planted function shadowing lower() resets the role',
    ['SET search_path = adv, pg_catalog', "SELECT lower('X')"],
    {
      setup: `CREATE FUNCTION adv.lower(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('role', 'none', false); RETURN $1; END $$;
      GRANT EXECUTE ON FUNCTION adv.lower(text) TO PUBLIC`,
      cleanup: 'DROP FUNCTION adv.lower(text)',
    },
  ),
  refused('locked', 'role lock: ALTER ROLE of the locked role', [
    'ALTER ROLE {{LOCKED}} SET search_path = public',
  ]),
  refused('locked', 'role lock: GRANT the upstream user to the locked role', ['GRANT {{APP}} TO {{LOCKED}}']),
  refused('locked', 'role lock: RESET ROLE in one Query with the write', [], {
    script: 'RESET ROLE; DELETE FROM adv.canary WHERE id = 1',
  }),
  refused('dflt', 'default policy: SET ROLE', ['SET ROLE {{LOCKED}}']),
  refused('dflt', 'default policy: CREATE ROLE', ['CREATE ROLE adv_evil SUPERUSER LOGIN']),
  refused('dflt', 'default policy: ALTER ROLE ... SUPERUSER', ['ALTER ROLE {{APP}} SUPERUSER']),
  refused('dflt', 'default policy: GRANT on the su-only table', ['GRANT ALL ON adv.su_only TO PUBLIC']),
  refused('dflt', 'default policy: ALTER ROLE ... PASSWORD of the upstream user', [
    "ALTER ROLE CURRENT_USER PASSWORD 'pwned'",
  ]),
];

const controls: Draft[] = [
  ok('ro', 'control: SELECT under read_only', ['SELECT * FROM adv.t']),
  ok('ro', 'control: BEGIN READ ONLY ... COMMIT', [
    'BEGIN READ ONLY',
    'SELECT count(*) FROM adv.canary',
    'COMMIT',
  ]),
  ok('ro', 'control: SHOW transaction_read_only', ['SHOW transaction_read_only']),
  ok('ro', 'control: SET search_path under read_only', [
    'SET search_path = adv, public',
    'SELECT count(*) FROM t',
  ]),
  ok('locked', 'control: current_user under the lock', ['SELECT current_user']),
  ok('locked', 'control: SELECT under the lock', ['SELECT count(*) FROM adv.canary']),
  ok('locked', 'control: RESET ALL keeps the role', ['RESET ALL', 'SELECT 1']),
  ok('locked', 'control: SET work_mem under the lock', ["SET work_mem = '8MB'"]),
  ok(
    'dflt',
    'control: a transaction with a write',
    ['BEGIN', "INSERT INTO adv.t VALUES (90, 'x')", 'COMMIT'],
    {
      verify: 'SELECT count(*) = 6 FROM adv.t',
    },
  ),
  ok('dflt', 'control: nextval under the default policy', ["SELECT nextval('adv.seq')"], {
    verify: 'SELECT is_called FROM adv.seq',
  }),
];

export const SERVER_ENFORCED = numbered('server-enforced', 'enf', [
  ...readOnly,
  ...TX_GAMES,
  ...roleLock,
  ...ROLE_MORE,
  ...controls,
]);
