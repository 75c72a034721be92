// Names as PostgreSQL reads them: `db.schema.f` is `schema.f` (red-team round 2 reached a user
// function's body past the role lock this way), and WHERE clauses over a join that read no column
// of the target (`DELETE FROM t USING o WHERE o.flag`) count as absent.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { analyze } from '../../proxy/policy/analyze.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';
import { DEFAULT_POLICY, decide } from '../../proxy/policy/policy.js';

before(() => initPolicyEngine());

const functions = (sql: string) =>
  analyze(sql).statements.flatMap((s) => s.units.flatMap((u) => u.functions));

describe('three-part names', () => {
  test('a function named with its database is the schema-qualified function', () => {
    assert.deepEqual(functions('SELECT appdb.public.reset_my_role()'), ['public.reset_my_role']);
    assert.deepEqual(functions('SELECT "appdb"."public"."f"(1)'), ['public.f']);
    assert.ok(functions("SELECT appdb.pg_catalog.pg_read_file('x')").includes('pg_catalog.pg_read_file'));
    assert.ok(
      functions(`CREATE FUNCTION pg_temp.g() RETURNS int LANGUAGE sql AS 'SELECT appdb.public.f()'`).includes(
        'public.f',
      ),
    );
  });
  test('the default policy refuses a server function named with its database', () => {
    const d = decide(analyze("SELECT appdb.pg_catalog.pg_read_file('/etc/passwd')"), DEFAULT_POLICY, {
      identity: 'a',
    });
    assert.equal(d.action, 'block');
    assert.equal(d.rule, 'no-server-functions');
  });
});

describe('a WHERE over a join that reads no column of the target', () => {
  const where = (sql: string) => analyze(sql).statements[0].units[0].where;
  for (const sql of [
    'DELETE FROM t USING o WHERE o.flag',
    'UPDATE t SET a = 1 FROM o WHERE o.id = 3',
    'DELETE FROM t USING o, p WHERE o.id = p.id',
  ])
    test(`${sql}: absent`, () => assert.equal(where(sql), 'absent'));
  for (const sql of [
    'DELETE FROM t USING o WHERE o.id = t.id',
    'DELETE FROM t x USING o WHERE o.id = x.id',
    'DELETE FROM t USING o WHERE o.id = id',
    'UPDATE t SET a = 1 FROM o WHERE t.id IN (SELECT id FROM o)',
  ])
    test(`${sql}: present`, () => assert.equal(where(sql), 'present'));
});
