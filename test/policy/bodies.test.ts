// What a call of a user function runs (policy/bodies.ts), from definitions shaped as
// pg_get_functiondef returns them (the gateway test checks the same against real servers): the
// body's units inside "function s.f", chains and cycles, the depth limit, other languages and
// extension members, parameter defaults, memoisation, and the shared analysis left untouched.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { analyze } from '../../proxy/policy/analyze.js';
import { MAX_CALL_DEPTH, type UserFunction } from '../../proxy/policy/bodies.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';
import { DEFAULT_POLICY, decide, type Policy, parsePolicy } from '../../proxy/policy/policy.js';
import { CallSnapshot } from '../../proxy/policy/resolution.js';

before(() => initPolicyEngine());

function def(name: string, lang: string, body: string, args = ''): UserFunction {
  return {
    schema: 'public',
    name,
    language: lang,
    definition: `CREATE OR REPLACE FUNCTION public.${name}(${args})\n RETURNS text\n LANGUAGE ${lang}\nAS $function$${body}$function$\n`,
  };
}

function decideWith(sql: string, fns: UserFunction[], policy: Policy = DEFAULT_POLICY) {
  return decide(analyze(sql), policy, { identity: 'agent', calls: new CallSnapshot(fns, []) });
}

describe('a call counts as what the body does', () => {
  const fns = [
    def('wrapper', 'sql', ' SELECT pg_read_file(p) ', 'p text'),
    def('dropper', 'plpgsql', ' BEGIN DROP TABLE canary; RETURN 1; END '),
    def('dyn', 'plpgsql', " BEGIN EXECUTE 'SELECT ' || p; RETURN 1; END ", 'p text'),
    def('outer1', 'sql', ' SELECT inner1(p) ', 'p text'),
    def('inner1', 'sql', ' SELECT pg_catalog.pg_read_file(p) ', 'p text'),
    def('ping', 'plpgsql', ' BEGIN RETURN pong(n - 1); END ', 'n int'),
    def(
      'pong',
      'plpgsql',
      " BEGIN IF n = 0 THEN RETURN pg_ls_dir('.'); END IF; RETURN ping(n - 1); END ",
      'n int',
    ),
    def('ok', 'plpgsql', ' BEGIN RETURN (SELECT count(*) FROM items); END '),
    def('defaults', 'sql', ' SELECT p ', "p text DEFAULT pg_read_file('/etc/passwd')"),
    { schema: 'public', name: 'py', language: 'plpython3u', definition: null },
    { schema: 'public', name: 'crypt', language: 'c', definition: null, extension: true },
    { schema: 'public', name: 'ext_sql', language: 'sql', definition: null, extension: true },
  ];

  for (const [sql, rule, inside] of [
    ["SELECT public.wrapper('/etc/passwd')", 'no-server-functions', 'function public.wrapper'],
    ["SELECT * FROM wrapper('x')", 'no-server-functions', 'function public.wrapper'],
    ['SELECT dropper()', 'no-drop', 'function public.dropper'],
    ['CALL public.dropper()', 'no-drop', 'function public.dropper'],
    ["SELECT dyn('1')", 'no-dynamic-sql', 'function public.dyn'],
    ["SELECT outer1('x')", 'no-server-functions', 'function public.outer1 > function public.inner1'],
    ['SELECT ping(3)', 'no-server-functions', 'function public.ping > function public.pong'],
    ['SELECT pong(3)', 'no-server-functions', 'function public.pong'],
    ['SELECT defaults()', 'no-server-functions', 'function public.defaults'],
    ['SELECT py()', 'no-dynamic-sql', 'function public.py'],
    ["DO $$BEGIN PERFORM wrapper('x'); END$$", 'no-server-functions', 'DO block > function public.wrapper'],
    [
      "WITH w AS (SELECT wrapper('x')) SELECT * FROM w",
      'no-server-functions',
      'WITH w > function public.wrapper',
    ],
  ]) {
    test(`${sql}: ${rule}, inside ${inside}`, () => {
      const d = decideWith(sql, fns);
      assert.equal(d.action, 'block', d.reason);
      assert.equal(d.rule, rule, d.reason);
      assert.ok(d.reason.includes(`(inside ${inside})`), d.reason);
    });
  }

  for (const sql of ['SELECT ok()', 'SELECT crypt()', 'SELECT ext_sql()', "SELECT lower('x')"]) {
    test(`${sql} runs`, () => {
      const d = decideWith(sql, fns);
      assert.equal(d.action, 'allow', d.reason);
    });
  }

  test('read_only still refuses a harmless user function by name', () => {
    const d = decideWith('SELECT ok()', fns, parsePolicy('ro', { read_only: true }));
    assert.equal(d.rule, 'read_only', d.reason);
  });
});

describe('fail closed', () => {
  test(`a chain deeper than ${MAX_CALL_DEPTH} functions is unknown`, () => {
    const n = MAX_CALL_DEPTH + 4;
    const fns = Array.from({ length: n }, (_, i) =>
      def(`f${i}`, 'sql', i === n - 1 ? ' SELECT 1 ' : ` SELECT f${i + 1}() `),
    );
    const d = decideWith('SELECT f0()', fns);
    assert.equal(d.rule, 'no-dynamic-sql', d.reason);
    assert.match(d.reason, /more than \d+ deep/);
    // A chain within the limit is followed to its end.
    assert.equal(decideWith(`SELECT f${n - MAX_CALL_DEPTH}()`, fns).action, 'allow');
  });

  test('a definition missing or unparseable is unknown', () => {
    for (const f of [
      { schema: 'public', name: 'gone', language: 'plpgsql', definition: null },
      { schema: 'public', name: 'gone', language: 'sql', definition: 'CREATE FUNCTION public.gone( AS' },
    ]) {
      const d = decideWith('SELECT gone()', [f]);
      assert.equal(d.action, 'block', d.reason);
      assert.ok(d.reason.includes('public.gone'), d.reason);
    }
  });

  test('every overload counts', () => {
    const d = decideWith('SELECT two(1)', [
      def('two', 'sql', ' SELECT 1 ', 'n int'),
      def('two', 'sql', " SELECT pg_read_file('/etc/passwd') ", 'p text'),
    ]);
    assert.equal(d.rule, 'no-server-functions', d.reason);
  });

  test('a user function reached by an operator runs its body', () => {
    const snap = new CallSnapshot(
      [def('eq_reads', 'sql', " SELECT pg_read_file('/etc/passwd') IS NULL ", 'a text, b text')],
      [['o', '===', 'public', 'eq_reads']],
    );
    const d = decide(analyze("SELECT 'a' === 'b'"), DEFAULT_POLICY, { identity: 'agent', calls: snap });
    assert.equal(d.rule, 'no-server-functions', d.reason);
    assert.ok(d.reason.includes('inside function public.eq_reads'), d.reason);
  });
});

describe('renaming or moving counts as calling', () => {
  const fns = [
    def('wrapper', 'sql', ' SELECT pg_read_file(p) ', 'p text'),
    def('ok', 'sql', ' SELECT 1 '),
    { schema: 'util', name: 'helper', language: 'sql', definition: null },
    { schema: 'public', name: 'dblink_exec', language: 'c', definition: null, extension: true },
  ];
  for (const [sql, action] of [
    ['ALTER FUNCTION public.wrapper(text) RENAME TO nice', 'block'],
    ['ALTER FUNCTION wrapper SET SCHEMA util', 'block'],
    ['ALTER ROUTINE wrapper(text) RENAME TO nice', 'block'],
    ['ALTER SCHEMA public RENAME TO x', 'block'],
    ['ALTER SCHEMA util RENAME TO x', 'block'],
    ['ALTER EXTENSION plpgsql ADD FUNCTION wrapper(text)', 'block'],
    ['ALTER FUNCTION dblink_exec(text, text) RENAME TO nice', 'block'],
    ['ALTER FUNCTION ok() RENAME TO ok2', 'allow'],
    ['ALTER TABLE items RENAME TO things', 'allow'],
  ] as const) {
    test(`${sql}: ${action}`, () => {
      const d = decideWith(sql, fns);
      assert.equal(d.action, action, d.reason);
    });
  }
});

describe('cost', () => {
  test('memoised per unit, the shared analysis untouched, nothing added without a call', () => {
    const snap = new CallSnapshot([def('wrapper', 'sql', ' SELECT pg_read_file(p) ', 'p text')], []);
    const a = analyze("SELECT wrapper('x')");
    const before = JSON.stringify(a);
    const u = a.statements[0].units[0];
    const first = snap.expand(u);
    assert.equal(first.length, 2);
    assert.equal(snap.expand(u), first);
    assert.equal(JSON.stringify(a), before);
    const plain = analyze('SELECT 1').statements[0].units[0];
    assert.deepEqual(snap.expand(plain), [plain]);
  });
});
