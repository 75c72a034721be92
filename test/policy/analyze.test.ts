// What the analysis reports about statements: kinds, targets, WHERE, functions, COPY, nesting,
// statement boundaries (UTF-8 offsets), the stated reason, and FunctionCall by OID.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { analyze, analyzeEach, leadingComments, statedReason } from '../../proxy/policy/analyze.js';
import { AnalysisCache } from '../../proxy/policy/cache.js';
import { analyzeFunctionCall } from '../../proxy/policy/function-call.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';
import type { StatementAnalysis, Unit } from '../../proxy/policy/types.js';
import { isConstantTrue } from '../../proxy/policy/where.js';

before(async () => {
  await initPolicyEngine();
});

const one = (sql: string): StatementAnalysis => {
  const a = analyze(sql);
  assert.equal(a.statements.length, 1, `one statement in ${sql}`);
  return a.statements[0];
};
const kinds = (units: Unit[]) => units.map((u) => u.kind);

describe('statement kinds', () => {
  const cases: [string, string, boolean][] = [
    ['SELECT 1', 'select', false],
    ['INSERT INTO t VALUES (1)', 'insert', true],
    ['UPDATE t SET a = 1 WHERE id = 2', 'update', true],
    ['DELETE FROM t WHERE id = 2', 'delete', true],
    ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DO NOTHING', 'merge', true],
    ['TRUNCATE t', 'truncate', true],
    ['DROP TABLE t', 'drop', true],
    ['ALTER TABLE t ADD COLUMN c int', 'alter', true],
    ['CREATE TABLE t (a int)', 'create', true],
    ['GRANT SELECT ON t TO r', 'grant', true],
    ['REVOKE SELECT ON t FROM r', 'revoke', true],
    ['CREATE ROLE r', 'role', true],
    ['ALTER TABLE t OWNER TO r', 'alter', true],
    ['SET ROLE r', 'set_role', false],
    ['SET SESSION AUTHORIZATION r', 'set_session_authorization', false],
    ['ALTER SYSTEM SET work_mem = 1', 'alter_system', true],
    ['COPY t TO STDOUT', 'copy', false],
    ['COPY t FROM STDIN', 'copy', true],
    ["LOAD 'x'", 'load', true],
    ['CREATE EXTENSION hstore', 'create_extension', true],
    ['DO $$ BEGIN NULL; END $$', 'do', false],
    ['CALL p()', 'call', false],
    ['EXPLAIN SELECT 1', 'explain', false],
    ['PREPARE p AS SELECT 1', 'prepare', false],
    ['EXECUTE p', 'execute', false],
    ['DEALLOCATE p', 'deallocate', false],
    ['SET work_mem = 1', 'set', false],
    ['SHOW work_mem', 'show', false],
    ['BEGIN', 'transaction', false],
    ['COMMIT PREPARED $$x$$', 'transaction', true],
    ['LISTEN c', 'listen', false],
    ['NOTIFY c', 'notify', true],
    ['FETCH 1 FROM c', 'cursor', false],
    ['LOCK t', 'lock', true],
    ['LOCK t IN ACCESS SHARE MODE', 'lock', false],
    ['VACUUM t', 'vacuum', true],
    ['REFRESH MATERIALIZED VIEW mv', 'maintenance', true],
    ["COMMENT ON TABLE t IS 'x'", 'comment', true],
    ['DISCARD ALL', 'discard', false],
    ['SELECT * INTO t2 FROM t', 'create', true],
    ['SELECT * FROM t FOR UPDATE', 'select', true],
  ];
  for (const [sql, kind, writes] of cases) {
    test(`${sql} -> ${kind}${writes ? ' (writes)' : ''}`, () => {
      const s = one(sql);
      assert.equal(s.kind, kind);
      assert.equal(s.units[0].writes, writes);
    });
  }
  test('ALTER TABLE ... OWNER TO also yields a privilege unit; DROP COLUMN a drop unit', () => {
    assert.deepEqual(kinds(one('ALTER TABLE t DROP COLUMN c, OWNER TO r').units), [
      'alter',
      'drop',
      'privilege',
    ]);
  });
});

describe('relations and targets', () => {
  test('schema-qualified when written so; targets are what is written', () => {
    const s = one('UPDATE public.accounts a SET x = b.y FROM other b WHERE a.id = b.id');
    assert.deepEqual(s.units[0].targets, ['public.accounts']);
    assert.deepEqual(s.units[0].relations.sort(), ['other', 'public.accounts']);
  });
  test('INSERT ... SELECT: the source is a nested select unit', () => {
    const s = one('INSERT INTO a SELECT * FROM secrets');
    assert.deepEqual(kinds(s.units), ['insert', 'select']);
    assert.deepEqual(s.units[0].targets, ['a']);
    assert.deepEqual(s.units[1].relations, ['secrets']);
  });
  test('CTE names are not relations', () => {
    const s = one('WITH x AS (SELECT * FROM real_t) SELECT * FROM x');
    assert.deepEqual(s.units[0].relations, []);
    assert.deepEqual(s.units[1].relations, ['real_t']);
    assert.deepEqual(s.units[1].via, ['WITH x']);
  });
  test('DROP TABLE names its tables', () => {
    assert.deepEqual(one('DROP TABLE a, s.b').units[0].targets, ['a', 's.b']);
  });
  test('TRUNCATE names its tables and has no WHERE', () => {
    const u = one('TRUNCATE a, b').units[0];
    assert.deepEqual(u.targets, ['a', 'b']);
    assert.equal(u.where, 'absent');
  });
});

describe('WHERE presence', () => {
  const absent = [
    'true',
    '1=1',
    "'a'='a'",
    'NOT false',
    '1 = 1 OR id = 3',
    'id = id',
    'EXISTS (SELECT 1)',
    "'yes'::boolean",
    '2 >= 2 AND 3 <> 4',
    'NULL IS NULL',
    '(true)',
    'true IS TRUE',
    "'1' = 1",
    '1 IN (3, 2, 1)',
    '2 NOT BETWEEN 5 AND 6',
    // Reads no column of the row: all or nothing, and the client (or chance) decides which.
    '$1',
    '$1 OR id = 3',
    'id = 3 OR $1::boolean',
    'now() > $1',
    "'a' < 'b'",
    'random() = random()',
    '$1 IN (SELECT id FROM t)',
    // Column references inside a subquery may be the subquery's own: not proven to filter.
    'EXISTS (SELECT 1 FROM t WHERE t.id = x.id)',
    // The target compared with itself (self-join.ts).
    'id IN (SELECT id FROM t)',
    'ctid IS NOT NULL',
  ];
  const present = [
    'id = 1',
    'false',
    '1 = 2',
    'id = 1 OR 1 = 2',
    'EXISTS (SELECT 1 WHERE false)',
    'NULL',
    'id IN (SELECT id FROM other)',
    'id IN (SELECT id FROM t WHERE flagged)',
    'id = $1',
    'id = 3 AND $1',
    'CURRENT OF c',
  ];
  for (const w of absent) {
    test(`WHERE ${w} counts as absent`, () => {
      assert.equal(one(`DELETE FROM t WHERE ${w}`).units[0].where, 'absent');
    });
  }
  for (const w of present) {
    test(`WHERE ${w} counts as present`, () => {
      assert.equal(one(`DELETE FROM t WHERE ${w}`).units[0].where, 'present');
    });
  }
  test('no clause at all', () => {
    assert.equal(isConstantTrue(undefined), true);
    assert.equal(one('UPDATE t SET a = 1').units[0].where, 'absent');
  });
});

describe('functions, COPY and nesting', () => {
  test('functions anywhere, as written', () => {
    const s = one("SELECT lower(x), pg_catalog.pg_read_file('f') FROM t WHERE y = upper('a')");
    assert.deepEqual(s.units[0].functions.sort(), ['lower', 'pg_catalog.pg_read_file', 'upper']);
  });
  test('COPY targets', () => {
    assert.equal(one('COPY t TO STDOUT').units[0].copy, 'client');
    assert.equal(one("COPY t TO '/tmp/x'").units[0].copy, 'file');
    assert.equal(one("COPY t FROM PROGRAM 'id'").units[0].copy, 'program');
    assert.equal(one("COPY t FROM PROGRAM 'id'").units[0].writes, true);
  });
  test('data-modifying CTE makes the statement a write', () => {
    const s = one('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d');
    assert.equal(s.kind, 'select');
    assert.equal(s.writes, true);
    assert.deepEqual(kinds(s.units), ['select', 'delete']);
  });
  test('plain EXPLAIN does not run its statement; EXPLAIN ANALYZE does', () => {
    assert.deepEqual(kinds(one('EXPLAIN DELETE FROM t').units), ['explain']);
    assert.equal(one('EXPLAIN DELETE FROM t').writes, false);
    assert.deepEqual(kinds(one('EXPLAIN ANALYZE DELETE FROM t').units), ['explain', 'delete']);
    assert.equal(one('EXPLAIN ANALYZE DELETE FROM t').writes, true);
    assert.deepEqual(kinds(one('EXPLAIN (ANALYZE 0) DELETE FROM t').units), ['explain']);
  });
  test('PREPARE analyses its statement and names it', () => {
    const s = one('PREPARE p(int) AS DELETE FROM t WHERE id = $1');
    assert.equal(s.prepares, 'p');
    assert.deepEqual(kinds(s.units), ['prepare', 'delete']);
    assert.equal(one('DEALLOCATE p').deallocates, 'p');
    assert.equal(one('DEALLOCATE ALL').deallocates, null);
    assert.equal(one('EXECUTE p(1)').units[0].prepared, 'p');
  });
  test('DO block statements, with their place', () => {
    const s = one("DO $$ BEGIN INSERT INTO a VALUES (1); EXECUTE 'DELETE FROM b WHERE id = 1'; END $$");
    const inner = s.units.filter((u) => u.kind === 'insert' || u.kind === 'delete');
    assert.deepEqual(kinds(inner), ['insert', 'delete']);
    assert.deepEqual(inner[1].via, ['DO block', 'EXECUTE of a constant string']);
  });
  test('a DO body with a dollar tag of ours inside it is still analysed exactly', () => {
    const s = one("DO $x$ BEGIN RAISE NOTICE '$bastion$'; DELETE FROM t; END $x$");
    assert.ok(s.units.some((u) => u.kind === 'delete'));
  });
  test('dynamic SQL is unknown', () => {
    const s = one('DO $$ DECLARE q text := $q$x$q$; BEGIN EXECUTE q; END $$');
    assert.ok(s.units.some((u) => u.kind === 'unknown' && /computed string/.test(u.detail ?? '')));
  });
  test('a PL/pgSQL syntax error is unparseable', () => {
    const s = one('DO $$ BEGIN IF THEN END $$');
    assert.ok(s.units.some((u) => u.kind === 'unparseable'));
  });
  test('SQL function bodies, old style and SQL-standard', () => {
    assert.ok(
      one("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELETE FROM t'").units.some(
        (u) => u.kind === 'delete',
      ),
    );
    assert.ok(
      one('CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN (SELECT count(*) FROM t)').units.some(
        (u) => u.kind === 'select',
      ),
    );
  });
  test('rule actions are nested statements', () => {
    const s = one('CREATE RULE r AS ON INSERT TO t DO INSTEAD UPDATE u SET a = 1');
    assert.deepEqual(kinds(s.units), ['create', 'update']);
    assert.deepEqual(s.units[1].via, ['rule r']);
  });
  test('deep nesting of constant strings stops, failing closed', () => {
    let sql = 'SELECT 1';
    for (let i = 0; i < 20; i++)
      sql = `DO $${'x'.repeat(i)}q$ BEGIN EXECUTE ${`'${sql.replace(/'/g, "''")}'`}; END $${'x'.repeat(i)}q$`;
    const s = one(sql);
    assert.ok(s.units.some((u) => u.kind === 'unknown'));
  });
});

describe('statement boundaries and reasons', () => {
  test('multi-statement text splits on the parser, strings and dollar quotes included', () => {
    const a = analyze("SELECT 'a;b'; SELECT $$;$$ ;\n  DROP TABLE t;");
    assert.deepEqual(
      a.statements.map((s) => s.sql),
      ["SELECT 'a;b'", 'SELECT $$;$$', 'DROP TABLE t'],
    );
  });
  test('non-ASCII text: byte offsets become the right slices', () => {
    const a = analyze("SELECT 'héllo ✓'; DELETE FROM t WHERE name = 'ü'");
    assert.deepEqual(
      a.statements.map((s) => s.sql),
      ["SELECT 'héllo ✓'", "DELETE FROM t WHERE name = 'ü'"],
    );
    assert.equal(a.statements[1].offset, "SELECT 'héllo ✓'; ".length);
  });
  test('leading comments are skipped, nested ones included', () => {
    const sql = '  /* a /* b */ c */ -- d\n SELECT 1';
    assert.equal(sql.slice(leadingComments(sql).start), 'SELECT 1');
    assert.equal(leadingComments('/* unterminated SELECT 1').start, 0);
  });
  test('stated reason from a leading comment', () => {
    assert.equal(
      statedReason('/* reason: weekly cleanup of\n   old sessions */ DELETE FROM s'),
      'weekly cleanup of old sessions',
    );
    assert.equal(statedReason('-- Reason: ticket 42\nSELECT 1'), 'ticket 42');
    assert.equal(statedReason('SELECT 1 /* reason: late */'), null);
    assert.equal(statedReason('/* note */ SELECT 1'), null);
  });
  test('SET bastion.reason is reported', () => {
    assert.equal(one("SET bastion.reason = 'checking invoices'").setReason, 'checking invoices');
    assert.equal(one('RESET bastion.reason').setReason, null);
    assert.equal(one('SET work_mem = 1').setReason, undefined);
  });
  test('analyzeEach: a syntax error spoils only its own statement', () => {
    const st = analyzeEach(
      'SELECT 1; SELEC 2; DROP TABLE t; CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;',
    );
    assert.deepEqual(
      st.map((s) => [s.sql, s.kind]),
      [
        ['SELECT 1', 'select'],
        ['SELEC 2', 'unparseable'],
        ['DROP TABLE t', 'drop'],
        ['CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END', 'create'],
      ],
    );
  });
  test('empty and comment-only texts have no statements', () => {
    assert.equal(analyze('').statements.length, 0);
    assert.equal(analyze(' ; ').statements.length, 0);
    assert.equal(analyze('-- nothing').statements.length, 0);
  });
});

describe('cache', () => {
  test('same text (whatever its leading comment) is parsed once; LRU bound holds', () => {
    const c = new AnalysisCache({ maxEntries: 2 });
    const a = c.analyze('/* reason: x */ SELECT a');
    const b = c.analyze('-- other\nSELECT a');
    assert.equal(a, b);
    assert.equal(c.hits, 1);
    c.analyze('SELECT b');
    c.analyze('SELECT c');
    assert.equal(c.size, 2);
    c.analyze('SELECT a');
    assert.equal(c.misses, 4);
  });
  test('texts differing only in constants are separate entries', () => {
    const c = new AnalysisCache();
    assert.equal(c.analyze('DELETE FROM t WHERE 1=1').statements[0].units[0].where, 'absent');
    assert.equal(c.analyze('DELETE FROM t WHERE 1=2').statements[0].units[0].where, 'present');
  });
});

describe('FunctionCall by OID', () => {
  test('a built-in is named (its arguments, unread here, count as computed)', () => {
    const u = analyzeFunctionCall(764).statements[0].units[0];
    assert.equal(u.kind, 'function_call');
    assert.deepEqual(u.functions, ['pg_catalog.lo_import']);
  });
  test('an immutable built-in reads; a user function is unknown', () => {
    const units = analyzeFunctionCall(870).statements[0].units;
    assert.deepEqual(
      units.map((u) => [u.kind, u.writes, u.functions]),
      [['function_call', false, ['pg_catalog.lower']]],
    );
    assert.equal(analyzeFunctionCall(16500).statements[0].units[0].kind, 'unknown');
  });
});
