// Calls resolved through a catalog snapshot (policy/resolution.ts), from rows shaped as the
// catalog link returns them (the gateway test checks the same against real servers): which
// operator symbols and cast targets the analyser records, what each kind of catalog object adds,
// that a missing catalog fails closed, and that the shared analysis is never changed.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { analyze } from '../../proxy/policy/analyze.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';
import { DEFAULT_POLICY, decide, type Policy, parsePolicy } from '../../proxy/policy/policy.js';
import { CallSnapshot } from '../../proxy/policy/resolution.js';

const READ_ONLY: Policy = parsePolicy('ro', { read_only: true });
/** pg_read_file(text) is OID 2624 in every supported major version. */
const PG_READ_FILE = '2624';

before(() => initPolicyEngine());

const unit = (sql: string) => analyze(sql).statements[0].units[0];

function verdict(sql: string, calls: CallSnapshot | null | undefined, policy = READ_ONLY) {
  return decide(analyze(sql), policy, { identity: 'agent', calls });
}

describe('what the analyser records', () => {
  test('operators: written, schema-qualified, and the ones syntax stands for', () => {
    assert.deepEqual(unit('SELECT 1 + 2').operators, ['+']);
    assert.deepEqual(unit('SELECT 1 OPERATOR(public.===) 2').operators, ['public.===']);
    assert.deepEqual(unit('SELECT 1 BETWEEN 0 AND 2').operators, ['>=', '<=']);
    assert.deepEqual(unit("SELECT 'a' LIKE 'b'").operators, ['~~']);
    assert.deepEqual(unit('SELECT 1 IN (SELECT 1)').operators, ['=']);
    assert.deepEqual(unit('SELECT 1 IN (1, 2)').operators, ['=']);
  });

  test('casts and attribute fields', () => {
    assert.deepEqual(unit("SELECT '1'::int, CAST(1 AS public.bump)").casts, [
      'pg_catalog.int4',
      'public.bump',
    ]);
    assert.deepEqual(unit('SELECT i.bumpit FROM items i').fields, ['bumpit']);
  });
});

describe('resolution', () => {
  const snap = new CallSnapshot(
    [
      { schema: 'public', name: 'lower' },
      { schema: 'public', name: 'bumpit' },
    ],
    [
      ['o', '|~|', 'pg_catalog', 'harmless'],
      ['c', 'bump', 'public', 'bump_of'],
      ['b', PG_READ_FILE, 'pg_catalog', 'harmless'],
      ['b', '870', 'pg_catalog', 'lower'],
    ],
  );

  for (const [sql, policy, rule] of [
    ['SELECT lower(5)', READ_ONLY, 'read_only'],
    ["SELECT harmless('/etc/passwd')", DEFAULT_POLICY, 'no-server-functions'],
    ["SELECT pg_catalog.harmless('/etc/passwd')", DEFAULT_POLICY, 'no-server-functions'],
    ["SELECT |~| '/etc/passwd'", DEFAULT_POLICY, 'no-server-functions'],
    ['SELECT 5::bump', READ_ONLY, 'read_only'],
    ['SELECT i.bumpit FROM items i', READ_ONLY, 'read_only'],
    ['SELECT (i).bumpit FROM items i', READ_ONLY, 'read_only'],
  ] as const) {
    test(`${sql}: refused by ${rule}, allowed without the catalog`, () => {
      const d = verdict(sql, snap, policy);
      assert.equal(d.action, 'block');
      assert.equal(d.rule, rule);
      assert.equal(verdict(sql, undefined, policy).action, 'allow');
    });
  }

  test('controls: colliding names qualified with pg_catalog, other names, built-in operators and casts', () => {
    for (const sql of [
      "SELECT pg_catalog.lower('X')",
      "SELECT upper('x')",
      'SELECT 1 + 1',
      "SELECT '1'::int",
      'SELECT i.id FROM items i',
    ])
      assert.equal(verdict(sql, snap).action, 'allow', sql);
  });

  test('a comparison operator or an implicit cast of the user runs anywhere: added to every unit', () => {
    const s = new CallSnapshot([], [['o', '=', 'public', 'evil_eq']]);
    assert.equal(verdict('SELECT DISTINCT id FROM items', s).action, 'block');
    const c = new CallSnapshot([], [['i', 'bump', 'public', 'bump_of']]);
    assert.equal(verdict('SELECT 1', c).action, 'block');
  });

  test('a live session whose catalog is not loaded fails closed', () => {
    const d = verdict('SELECT 1', null, DEFAULT_POLICY);
    assert.equal(d.action, 'block');
    assert.match(d.reason, /catalog is not loaded/);
  });

  test('an empty snapshot changes nothing; resolution never touches the shared analysis', () => {
    const empty = new CallSnapshot([], [['b', PG_READ_FILE, 'pg_catalog', 'pg_read_file']]);
    assert.equal(empty.empty, true);
    const u = unit('SELECT lower(5)');
    assert.equal(empty.resolve(u), u);
    const before = JSON.stringify(u);
    const r = snap.resolve(u);
    assert.deepEqual(r.functions, ['lower', 'public.lower']);
    assert.equal(snap.resolve(u), r, 'memoised per unit');
    assert.equal(JSON.stringify(u), before);
  });
});
