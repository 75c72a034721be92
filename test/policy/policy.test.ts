// Policies: validation (errors name the key path), the built-in default, custom guardrails (first
// match wins, per unit; strictest unit / statement wins), identity / relation / function / copy
// matching, fail-closed defaults, read_only (the MCP `commit; insert` escape), prepared
// statements through SessionGuard, and the client's stated reason.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { analyze, statedReason } from '../../proxy/policy/analyze.js';
import { SessionGuard } from '../../proxy/policy/guard.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';
import {
  compilePolicies,
  DEFAULT_GUARDRAILS,
  DEFAULT_POLICY,
  decide,
  type Policy,
  PolicyError,
  parsePolicy,
  policyFor,
} from '../../proxy/policy/policy.js';
import { PreparedRegistry } from '../../proxy/policy/prepared.js';

before(async () => {
  await initPolicyEngine();
});

const run = (policy: Policy, sql: string, identity = 'agent-1') =>
  decide(analyze(sql), policy, { identity, prepared: new PreparedRegistry() }, statedReason(sql));

function policyError(fn: () => unknown): PolicyError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PolicyError, `expected a PolicyError, got ${e}`);
    return e;
  }
  assert.fail('expected a PolicyError');
}

describe('policy validation', () => {
  test('omitted policy and omitted guardrails are the built-in defaults', () => {
    assert.deepEqual(parsePolicy('default', null).guardrails, [...DEFAULT_GUARDRAILS]);
    const p = parsePolicy('x', { read_only: true });
    assert.equal(p.readOnly, true);
    assert.deepEqual(p.guardrails, [...DEFAULT_GUARDRAILS]);
    assert.equal(p.approvalTimeoutMs, 120_000);
  });
  test('the CONTRACT example parses', () => {
    const p = parsePolicy('default', {
      read_only: false,
      guardrails: [
        { name: 'no-drop', match: { kind: ['drop', 'truncate'] }, action: 'block' },
        {
          name: 'unbounded-writes',
          match: { kind: ['delete', 'update'], where: 'absent' },
          action: 'review',
        },
      ],
      masking: [{ name: 'customer-pii', columns: ['public.customers.email'], strategy: 'redact' }],
      approval_timeout: '120s',
    });
    assert.equal(p.guardrails.length, 2);
    assert.equal(p.approvalTimeoutMs, 120_000);
    assert.ok(Array.isArray(p.masking));
  });
  test('durations', () => {
    assert.equal(parsePolicy('p', { approval_timeout: '5m' }).approvalTimeoutMs, 300_000);
    assert.equal(parsePolicy('p', { approval_timeout: '1500ms' }).approvalTimeoutMs, 1500);
    assert.equal(parsePolicy('p', { approval_timeout: 30 }).approvalTimeoutMs, 30_000);
    assert.equal(
      policyError(() => parsePolicy('p', { approval_timeout: 'soon' })).keyPath,
      'policies.p.approval_timeout',
    );
    assert.equal(
      policyError(() => parsePolicy('p', { approval_timeout: 0 })).keyPath,
      'policies.p.approval_timeout',
    );
  });
  const bad: [string, unknown, string, RegExp][] = [
    ['not a mapping', 'strict', 'policies.p', /mapping/],
    ['unknown key', { readonly: true }, 'policies.p.readonly', /unknown key/],
    ['read_only not boolean', { read_only: 'yes' }, 'policies.p.read_only', /true or false/],
    ['guardrails not a list', { guardrails: {} }, 'policies.p.guardrails', /list/],
    [
      'rule without name',
      { guardrails: [{ match: {}, action: 'block' }] },
      'policies.p.guardrails[0].name',
      /required/,
    ],
    [
      'rule without action',
      { guardrails: [{ name: 'a', match: {} }] },
      'policies.p.guardrails[0].action',
      /required/,
    ],
    [
      'rule without match',
      { guardrails: [{ name: 'a', action: 'block' }] },
      'policies.p.guardrails[0].match',
      /required/,
    ],
    [
      'bad action',
      { guardrails: [{ name: 'a', match: {}, action: 'deny' }] },
      'policies.p.guardrails[0].action',
      /allow, warn, block, review/,
    ],
    [
      'bad kind',
      { guardrails: [{ name: 'a', match: { kind: ['dropp'] }, action: 'block' }] },
      'policies.p.guardrails[0].match.kind[0]',
      /statement kind/,
    ],
    [
      'bad where',
      { guardrails: [{ name: 'a', match: { where: 'none' }, action: 'block' }] },
      'policies.p.guardrails[0].match.where',
      /absent, present/,
    ],
    [
      'unknown match key',
      { guardrails: [{ name: 'a', match: { table: 't' }, action: 'block' }] },
      'policies.p.guardrails[0].match.table',
      /unknown key/,
    ],
    [
      'empty list',
      { guardrails: [{ name: 'a', match: { relation: [] }, action: 'block' }] },
      'policies.p.guardrails[0].match.relation',
      /non-empty/,
    ],
    [
      'bad copy',
      { guardrails: [{ name: 'a', match: { copy: ['pipe'] }, action: 'block' }] },
      'policies.p.guardrails[0].match.copy[0]',
      /COPY target/,
    ],
    [
      'duplicate names',
      {
        guardrails: [
          { name: 'a', match: {}, action: 'block' },
          { name: 'a', match: {}, action: 'warn' },
        ],
      },
      'policies.p.guardrails[1]',
      /duplicate/,
    ],
    ['default twice', { guardrails: ['default', 'default'] }, 'policies.p.guardrails[1]', /duplicate/],
  ];
  for (const [what, raw, keyPath, message] of bad) {
    test(`refused: ${what} (${keyPath})`, () => {
      const e = policyError(() => parsePolicy('p', raw));
      assert.equal(e.keyPath, keyPath);
      assert.match(e.problem, message);
      assert.ok(e.message.startsWith(`${keyPath}: `));
    });
  }
  test('compilePolicies adds the built-in default; policyFor falls back to it', () => {
    const m = compilePolicies({ strict: { read_only: true } });
    assert.equal(m.get('default'), DEFAULT_POLICY);
    assert.equal(policyFor(m, 'strict').readOnly, true);
    assert.equal(policyFor(m, 'nope'), DEFAULT_POLICY);
    assert.equal(compilePolicies({ default: null }).get('default')?.builtin, true);
  });
});

describe('custom guardrails', () => {
  const p = parsePolicy('custom', {
    guardrails: [
      { name: 'scratch-ok', match: { relation: ['scratch.*'] }, action: 'allow' },
      { name: 'no-drop', match: { kind: 'drop' }, action: 'block', reason: 'ask a DBA' },
      { name: 'pii', match: { kind: 'select', relation: ['public.customers'] }, action: 'warn' },
      { name: 'interns', match: { identity: ['intern-*'], writes: true }, action: 'review' },
      { name: 'files', match: { copy: ['file'] }, action: 'block' },
      { name: 'fn', match: { function: ['pg_catalog.pg_sleep'] }, action: 'warn' },
      { name: 'filtered', match: { kind: 'update', where: 'present' }, action: 'warn' },
    ],
  });
  test('first match wins within a unit', () => {
    assert.equal(run(p, 'DROP TABLE scratch.tmp').rule, 'scratch-ok');
    const d = run(p, 'DROP TABLE main.t');
    assert.deepEqual([d.action, d.rule], ['block', 'no-drop']);
    assert.match(d.reason, /ask a DBA/);
  });
  test('an allow on one unit does not launder another: the strictest unit wins', () => {
    const d = run(p, 'WITH s AS (SELECT * FROM scratch.a) SELECT * FROM customers, s');
    assert.deepEqual([d.action, d.rule], ['warn', 'pii']);
  });
  test('a multi-statement query takes its strictest statement', () => {
    const d = run(p, 'SELECT * FROM customers; DROP TABLE x; SELECT 1');
    assert.deepEqual([d.action, d.rule], ['block', 'no-drop']);
    assert.deepEqual(
      d.statements.map((s) => s.action),
      ['warn', 'block', 'allow'],
    );
  });
  test('relation patterns: unqualified names match a qualified pattern', () => {
    assert.equal(run(p, 'SELECT * FROM customers').rule, 'pii');
    assert.equal(run(p, 'SELECT * FROM public.customers').rule, 'pii');
    assert.equal(run(p, 'SELECT * FROM other.customers').rule, null);
  });
  test('identity globs', () => {
    assert.equal(run(p, 'INSERT INTO t VALUES (1)', 'intern-7').rule, 'interns');
    assert.equal(run(p, 'INSERT INTO t VALUES (1)', 'agent-1').action, 'allow');
  });
  test('copy targets, functions and where: present', () => {
    assert.equal(run(p, "COPY t TO '/tmp/f'").rule, 'files');
    assert.equal(run(p, "COPY t TO PROGRAM 'x'").action, 'allow');
    assert.equal(run(p, 'SELECT pg_sleep(1)').rule, 'fn');
    assert.equal(run(p, 'SELECT other.pg_sleep(1)').rule, null);
    assert.equal(run(p, 'UPDATE t SET a = 1 WHERE id = 2').rule, 'filtered');
    assert.equal(run(p, 'UPDATE t SET a = 1 WHERE true').action, 'allow');
  });
  test('unknown and unparseable fail closed unless a guardrail says otherwise', () => {
    const d = run(p, 'SELEC 1');
    assert.deepEqual([d.action, d.rule], ['block', null]);
    assert.match(d.reason, /fail closed/);
    assert.equal(run(p, 'DO $$ DECLARE q text; BEGIN EXECUTE q; END $$').action, 'block');
    const lenient = parsePolicy('l', {
      guardrails: [{ name: 'dyn', match: { kind: ['unknown'] }, action: 'warn' }],
    });
    assert.deepEqual(
      [run(lenient, 'DO $$ DECLARE q text; BEGIN EXECUTE q; END $$').action, run(lenient, 'SELEC 1').action],
      ['warn', 'block'],
    );
  });
  test('"default" in the list splices in the built-in guardrails', () => {
    const q = parsePolicy('q', {
      guardrails: [{ name: 'tmp-ok', match: { relation: 'tmp_*' }, action: 'allow' }, 'default'],
    });
    assert.equal(run(q, 'DROP TABLE tmp_1').action, 'allow');
    assert.equal(run(q, 'DROP TABLE real').rule, 'no-drop');
  });
  test('no guardrails at all: everything analysable is allowed', () => {
    const open = parsePolicy('open', { guardrails: [] });
    assert.equal(run(open, 'DROP TABLE t').action, 'allow');
    assert.equal(run(open, 'SELEC').action, 'block');
  });
});

describe('read_only', () => {
  const ro = parsePolicy('ro', { read_only: true, read_only_functions: ['report_*'] });
  const blocked = [
    'INSERT INTO t VALUES (1)',
    'UPDATE t SET a = 1 WHERE id = 1',
    'DELETE FROM t WHERE id = 1',
    'CREATE TABLE x (a int)',
    'CREATE TEMP TABLE x (a int)',
    // The MCP Postgres server runs the client's SQL inside BEGIN TRANSACTION READ ONLY:
    'commit; insert into t values (1)',
    'COMMIT; INSERT INTO t VALUES (1)',
    'ROLLBACK; BEGIN READ WRITE; INSERT INTO t VALUES (1)',
    'SET transaction_read_only = off; INSERT INTO t VALUES (1)',
    'END; DELETE FROM t WHERE id = 1',
    "SELECT nextval('s')",
    'SELECT my_function()',
    'WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d',
    'DO $$ BEGIN INSERT INTO t VALUES (1); END $$',
    'DO $$ BEGIN COMMIT; INSERT INTO t VALUES (1); END $$',
    'EXPLAIN ANALYZE INSERT INTO t VALUES (1)',
    'COPY t FROM STDIN',
    'CALL my_procedure()',
    'PREPARE x AS INSERT INTO t VALUES (1); EXECUTE x',
    'SELECT * FROM t FOR UPDATE',
    'LOCK t IN ACCESS EXCLUSIVE MODE',
    'VACUUM t',
    'SELECT lo_unlink(1)',
    'SELECT 1 FROM t WHERE id = (SELECT my_fn())',
  ];
  for (const sql of blocked) {
    test(`blocks ${sql}`, () => {
      const d = run(ro, sql);
      assert.equal(d.action, 'block', d.reason);
      assert.equal(d.rule, 'read_only');
    });
  }
  const allowed = [
    'SELECT count(*) FROM t',
    'SELECT lower(name), now(), coalesce(a, 0) FROM t WHERE id = 1',
    'EXPLAIN INSERT INTO t VALUES (1)',
    'COPY t TO STDOUT',
    'BEGIN READ ONLY',
    'COMMIT',
    'SHOW search_path',
    'SET statement_timeout = 1000',
    'LOCK t IN ACCESS SHARE MODE',
    'SELECT report_totals()',
    'SELECT * FROM information_schema.columns',
    'SELECT gen_random_uuid()',
  ];
  for (const sql of allowed) {
    test(`allows ${sql}`, () => {
      assert.equal(run(ro, sql).action, 'allow', run(ro, sql).reason);
    });
  }
});

describe('SessionGuard', () => {
  test('SQL PREPARE then EXECUTE, in separate queries; DEALLOCATE forgets', () => {
    const g = new SessionGuard(DEFAULT_POLICY, 'agent-1');
    assert.equal(g.query('PREPARE p AS SELECT pg_read_file($1)').action, 'block');
    assert.equal(g.query("EXECUTE p('/etc/passwd')").action, 'block');
    assert.equal(g.query('PREPARE ok AS SELECT 1').action, 'allow');
    assert.equal(g.query('EXECUTE ok').action, 'allow');
    g.query('DEALLOCATE ok');
    assert.equal(g.query('EXECUTE ok').action, 'block');
  });
  test('protocol Parse / Execute / Close, and SQL EXECUTE of a protocol statement', () => {
    const g = new SessionGuard(DEFAULT_POLICY, 'agent-1');
    assert.equal(g.parse('s1', 'DELETE FROM t').action, 'review');
    assert.equal(g.execute('s1').action, 'review');
    assert.equal(g.query('EXECUTE s1').action, 'review');
    assert.equal(g.parse('', 'SELECT * FROM t WHERE id = $1').action, 'allow');
    assert.equal(g.execute('').action, 'allow');
    g.close('s1');
    assert.equal(g.execute('s1').action, 'block');
    assert.equal(g.execute('never').action, 'block');
  });
  test('FunctionCall by OID', () => {
    const g = new SessionGuard(DEFAULT_POLICY, 'agent-1');
    assert.equal(g.functionCall(764).rule, 'no-server-functions');
    assert.equal(g.functionCall(954).action, 'allow');
    assert.equal(g.functionCall(99999).action, 'block');
  });
  test('stated reasons: leading comment first, else SET bastion.reason', () => {
    const g = new SessionGuard(DEFAULT_POLICY, 'agent-1');
    assert.equal(g.query('DELETE FROM t').clientReason, null);
    assert.equal(g.query("SET bastion.reason = 'clearing test data'").action, 'allow');
    assert.equal(g.query('DELETE FROM t').clientReason, 'clearing test data');
    assert.equal(g.query('/* reason: one-off fix */ DELETE FROM t').clientReason, 'one-off fix');
    g.query('RESET bastion.reason');
    assert.equal(g.query('DELETE FROM t').clientReason, null);
  });
});
