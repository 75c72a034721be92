// SQL carried as data is SQL (issue 17, class 3) and server files stay server-side (class 6): the
// built-ins that run a query given as text or dump relations are decided on what they run or
// read; a FunctionCall message gets the decision of the SELECT it equals, with its arguments.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { analyze } from '../../proxy/policy/analyze.js';
import { analyzeFunctionCall, builtinProc, equivalentSelect } from '../../proxy/policy/function-call.js';
import { SessionGuard } from '../../proxy/policy/guard.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';
import { compilePolicies, DEFAULT_POLICY } from '../../proxy/policy/policy.js';

before(async () => {
  await initPolicyEngine();
});

const guard = () => new SessionGuard(DEFAULT_POLICY, 'agent');
const rule = (sql: string) => {
  const d = guard().query(sql);
  return `${d.action} ${d.rule ?? '-'}`;
};
const guarded = compilePolicies({
  guarded: {
    guardrails: [{ name: 'no-secrets', match: { relation: ['secrets'] }, action: 'block' }, 'default'],
  },
}).get('guarded');

describe('built-ins that run SQL text', () => {
  const cases: [string, string][] = [
    ["SELECT query_to_xml('DROP TABLE t', true, false, '')", 'block no-drop'],
    [
      "SELECT query_to_xmlschema('SELECT pg_read_file(''/etc/passwd'')', true, false, '')",
      'block no-server-functions',
    ],
    [
      "SELECT query_to_xml_and_xmlschema('SELECT * FROM pg_file_settings', true, false, '')",
      'block no-server-file-views',
    ],
    [
      "SELECT query_to_xml(query => 'DROP TABLE t', nulls => true, tableforest => false, targetns => '')",
      'block no-drop',
    ],
    [
      "SELECT query_to_xml(nulls => true, tableforest => false, targetns => '', query => 'DROP TABLE t')",
      'block no-drop',
    ],
    ["SELECT query_to_xml(q, true, false, '') FROM (SELECT 'SELECT 1' AS q) s", 'block no-dynamic-sql'],
    ["SELECT * FROM ts_stat('SELECT pg_terminate_backend(1)')", 'block no-server-functions'],
    ["SELECT * FROM ts_stat('SELECT pg_terminate_backend(1)', 'ab')", 'block no-server-functions'],
    ["SELECT ts_rewrite('a'::tsquery, 'SELECT pg_cancel_backend(1)')", 'block no-server-functions'],
    ["SELECT * FROM crosstab('SELECT pg_reload_conf()') AS t(a text)", 'block no-server-functions'],
    [
      "SELECT * FROM crosstab('SELECT 1', 'SELECT pg_reload_conf()') AS t(a text)",
      'block no-server-functions',
    ],
    ["SELECT * FROM crosstab('SELECT a, b, c FROM x', 3) AS t(a text, b text, c text)", 'allow -'],
    ["SELECT * FROM connectby('t', 'id', 'parent', '1', 0) AS t(a int)", 'block no-dynamic-sql'],
    ["SELECT schema_to_xml('public', true, false, '')", 'block no-dynamic-sql'],
    ["SELECT database_to_xml(true, false, '')", 'block no-dynamic-sql'],
    ["SELECT query_to_xml('SELECT 1', true, false, '')", 'allow -'],
    ["SELECT cursor_to_xml('c', 10, true, false, '')", 'allow -'],
  ];
  for (const [sql, want] of cases) test(sql, () => assert.equal(rule(sql), want));
});

describe('table_to_xml names the relation it dumps', () => {
  const rels = (sql: string) => analyze(sql).statements[0].units[0].relations;
  test('spellings as regclassin reads them', () => {
    assert.deepEqual(rels("SELECT table_to_xml('secrets', true, false, '')"), ['secrets']);
    assert.deepEqual(rels("SELECT table_to_xml('Public.SECRETS'::regclass, true, false, '')"), [
      'public.secrets',
    ]);
    assert.deepEqual(rels(`SELECT table_to_xml(' "My.T" ', true, false, '')`), ['My.T']);
    assert.deepEqual(rels("SELECT table_to_xmlschema('db.s.t', true, false, '')"), ['s.t']);
    assert.deepEqual(rels(`SELECT table_to_xml('${'x'.repeat(70)}', true, false, '')`), ['x'.repeat(63)]);
  });
  test('an OID, a computed name or a bad one fails closed', () => {
    for (const a of ["'16384'", '16384', 'relname::regclass', "'a.'", "'a b'", "'a.b.c.d'"]) {
      const sql = `SELECT table_to_xml(${a}, true, false, '') FROM pg_class`;
      assert.equal(rule(sql), 'block no-dynamic-sql', sql);
    }
  });
  test('a relation rule sees the dumped relation', () => {
    const g = new SessionGuard(guarded ?? DEFAULT_POLICY, 'agent');
    assert.equal(g.query("SELECT table_to_xml('public.secrets', true, false, '')").rule, 'no-secrets');
    assert.equal(
      g.query("SELECT table_to_xml_and_xmlschema('\"secrets\"', true, false, '')").rule,
      'no-secrets',
    );
    assert.equal(g.query("SELECT table_to_xml('canary', true, false, '')").action, 'allow');
  });
});

describe('FunctionCall as the SELECT it equals', () => {
  const SET_CONFIG = 2078;
  const QUERY_TO_XML = 2924;
  const text = (s: string) => Buffer.from(s, 'utf8');
  const call = (oid: number, values: (Buffer | null)[], formats: number[] = []) => {
    const d = guard().functionCall(oid, { formats, values });
    return `${d.action} ${d.rule ?? '-'}`;
  };

  test('the catalog knows the functions by OID with their argument types', () => {
    assert.deepEqual(builtinProc(SET_CONFIG), { name: 'set_config', volatility: 'v', argClasses: 'ttb' });
    assert.equal(builtinProc(QUERY_TO_XML)?.name, 'query_to_xml');
  });
  test('arguments become literals (quotes doubled, backslashes kept); unreadable ones parameters', () => {
    const p = builtinProc(SET_CONFIG);
    assert.ok(p);
    assert.equal(
      equivalentSelect(p, { formats: [], values: [text("a'b\\"), null, text('t')] }),
      `SELECT pg_catalog."set_config"('a''b\\', NULL, 't')`,
    );
    assert.equal(
      equivalentSelect(p, { formats: [1], values: [text('role'), Buffer.from([1, 2]), Buffer.from([1])] }),
      `SELECT pg_catalog."set_config"('role', '\u0001\u0002', 'true')`,
    );
    assert.equal(
      equivalentSelect(p, { formats: [0, 1, 1], values: [text('a\0b'), text('x'), Buffer.from([0, 0])] }),
      `SELECT pg_catalog."set_config"($1, 'x', $3)`,
    );
    assert.deepEqual(equivalentSelect(p, { formats: [], values: [null] }), {
      refused: '1 arguments where set_config takes 3',
    });
    assert.deepEqual(equivalentSelect(p, { formats: [0, 0], values: [null, null, null] }), {
      refused: '2 format codes for 3 arguments',
    });
  });
  test('set_config decided on its values, as SELECT set_config is', () => {
    assert.equal(call(SET_CONFIG, [text('role'), text('postgres'), text('f')]), 'block no-role-changes');
    assert.equal(
      call(SET_CONFIG, [text('SESSION_AUTHORIZATION'), text('x'), text('f')]),
      'block no-role-changes',
    );
    assert.equal(
      call(SET_CONFIG, [text('standard_conforming_strings'), text('off'), text('f')]),
      'block unguardable',
    );
    assert.equal(
      call(SET_CONFIG, [text('standard_conforming_strings'), text('off'), Buffer.from([0])], [1]),
      'block unguardable',
    );
    assert.equal(call(SET_CONFIG, [text('application_name'), text('x'), text('f')]), 'allow -');
    assert.equal(call(SET_CONFIG, [Buffer.from([0xc3]), text('x'), text('f')]), 'block no-dynamic-sql');
    assert.equal(call(SET_CONFIG, [text('role')]), 'block no-dynamic-sql');
  });
  test('query_to_xml by FunctionCall runs its query through the analyser', () => {
    const a = [text('t'), text('f'), text('')];
    assert.equal(call(QUERY_TO_XML, [text('DROP TABLE t'), ...a]), 'block no-drop');
    assert.equal(
      call(QUERY_TO_XML, [text('SELECT * FROM pg_hba_file_rules'), ...a]),
      'block no-server-file-views',
    );
    assert.equal(call(QUERY_TO_XML, [text('SELECT 1'), ...a]), 'allow -');
    assert.equal(call(QUERY_TO_XML, [text('SELECT 1'), ...a], [1]), 'allow -');
    assert.equal(call(QUERY_TO_XML, [Buffer.from([0xff]), ...a]), 'block no-dynamic-sql');
  });
  test('read_only sees what the call runs', () => {
    const ro = compilePolicies({ ro: { read_only: true } }).get('ro');
    assert.ok(ro);
    const g = new SessionGuard(ro, 'agent');
    const d = g.functionCall(QUERY_TO_XML, {
      formats: [],
      values: [text("SELECT nextval('s')"), text('t'), text('f'), text('')],
    });
    assert.equal(d.rule, 'read_only');
  });
  test('without its arguments a call counts them as computed; user functions are opaque', () => {
    assert.equal(analyzeFunctionCall(SET_CONFIG).statements[0].units.at(-1)?.kind, 'unknown');
    assert.equal(analyzeFunctionCall(70000).statements[0].units[0].kind, 'unknown');
  });
});

describe('server configuration files (class 6)', () => {
  const cases: [string, string][] = [
    ['SELECT * FROM pg_hba_file_rules', 'block no-server-file-views'],
    ['SELECT * FROM PG_CATALOG.PG_FILE_SETTINGS', 'block no-server-file-views'],
    ['SELECT * FROM "pg_ident_file_mappings"', 'block no-server-file-views'],
    ['SELECT name FROM pg_config', 'block no-server-file-views'],
    ['WITH x AS (SELECT * FROM pg_file_settings) SELECT * FROM x', 'block no-server-file-views'],
    ['SELECT (SELECT count(*) FROM pg_hba_file_rules)', 'block no-server-file-views'],
    ['EXPLAIN ANALYZE SELECT * FROM pg_file_settings', 'block no-server-file-views'],
    ['DO $$ BEGIN PERFORM * FROM pg_hba_file_rules; END $$', 'block no-server-file-views'],
    ['SELECT * FROM pg_catalog.pg_hba_file_rules()', 'block no-server-functions'],
    ['SELECT * FROM pg_show_all_file_settings()', 'block no-server-functions'],
    ['SELECT * FROM pg_ident_file_mappings()', 'block no-server-functions'],
    ['SELECT pg_current_logfile()', 'block no-server-functions'],
    ['SELECT * FROM pg_config()', 'block no-server-functions'],
    ['SELECT * FROM pg_settings', 'allow -'],
  ];
  for (const [sql, want] of cases) test(sql, () => assert.equal(rule(sql), want));
});
