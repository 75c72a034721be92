// Property tests: whatever comments, letter case, identifier quoting, whitespace and harmless
// neighbouring statements are put around a statement, its decision does not change; arbitrary
// text inside string literals never matters; the cache never changes a decision.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import fc from 'fast-check';
import { analyze, statedReason } from '../../proxy/policy/analyze.js';
import { AnalysisCache } from '../../proxy/policy/cache.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';
import { DEFAULT_POLICY, decide } from '../../proxy/policy/policy.js';
import { PreparedRegistry } from '../../proxy/policy/prepared.js';

before(async () => {
  await initPolicyEngine();
});

/** k: keyword (case varies); i: identifier (case varies, or quoted); l / p: literal and punctuation, verbatim. */
type Tok = { k: string } | { i: string } | { l: string } | { p: string };
const k = (s: string): Tok[] => s.split(' ').map((w) => ({ k: w }));
const i = (s: string): Tok => ({ i: s });
const l = (s: string): Tok => ({ l: s });
const p = (s: string): Tok => ({ p: s });

interface Case {
  name: string;
  toks: Tok[];
  action: string;
  rule: string | null;
}

const cases: Case[] = [
  { name: 'drop table', toks: [...k('DROP TABLE'), i('customers')], action: 'block', rule: 'no-drop' },
  {
    name: 'drop schema',
    toks: [...k('DROP SCHEMA'), i('public'), ...k('CASCADE')],
    action: 'block',
    rule: 'no-drop',
  },
  { name: 'truncate', toks: [...k('TRUNCATE'), i('orders')], action: 'block', rule: 'no-drop' },
  {
    name: 'pg_read_file',
    toks: [...k('SELECT'), i('pg_read_file'), p('('), l("'/etc/passwd'"), p(')')],
    action: 'block',
    rule: 'no-server-functions',
  },
  {
    name: 'qualified pg_terminate_backend',
    toks: [...k('SELECT'), i('pg_catalog'), p('.'), i('pg_terminate_backend'), p('('), l('1'), p(')')],
    action: 'block',
    rule: 'no-server-functions',
  },
  {
    name: 'pg_ls_dir in FROM',
    toks: [...k('SELECT * FROM'), i('pg_ls_dir'), p('('), l("'.'"), p(')')],
    action: 'block',
    rule: 'no-server-functions',
  },
  {
    name: 'copy to program',
    toks: [...k('COPY'), i('t'), ...k('TO PROGRAM'), l("'nc evil 1'")],
    action: 'block',
    rule: 'no-server-programs-or-files',
  },
  {
    name: 'copy from file',
    toks: [...k('COPY'), i('t'), ...k('FROM'), l("'/etc/passwd'")],
    action: 'block',
    rule: 'no-server-programs-or-files',
  },
  { name: 'set role', toks: [...k('SET ROLE'), i('postgres')], action: 'block', rule: 'no-role-changes' },
  {
    name: 'set session authorization',
    toks: [...k('SET SESSION AUTHORIZATION'), i('postgres')],
    action: 'block',
    rule: 'no-role-changes',
  },
  {
    name: 'grant',
    toks: [...k('GRANT ALL ON'), i('t'), ...k('TO PUBLIC')],
    action: 'block',
    rule: 'no-role-changes',
  },
  {
    name: 'create role',
    toks: [...k('CREATE ROLE'), i('x'), ...k('SUPERUSER')],
    action: 'block',
    rule: 'no-role-changes',
  },
  {
    name: 'alter system',
    toks: [...k('ALTER SYSTEM SET'), i('work_mem'), p('='), l("'1MB'")],
    action: 'block',
    rule: 'no-alter-system',
  },
  { name: 'load', toks: [...k('LOAD'), l("'evil.so'")], action: 'block', rule: 'no-load' },
  {
    name: 'do drop',
    toks: [...k('DO'), l('$$ BEGIN DROP TABLE t; END $$')],
    action: 'block',
    rule: 'no-drop',
  },
  {
    name: 'explain analyze delete',
    toks: [...k('EXPLAIN ANALYZE DELETE FROM'), i('t')],
    action: 'review',
    rule: 'unbounded-writes',
  },
  {
    name: 'cte delete',
    toks: [
      ...k('WITH'),
      i('d'),
      ...k('AS'),
      p('('),
      ...k('DELETE FROM'),
      i('t'),
      ...k('RETURNING'),
      p('*'),
      p(')'),
      ...k('SELECT * FROM'),
      i('d'),
    ],
    action: 'review',
    rule: 'unbounded-writes',
  },
  { name: 'delete', toks: [...k('DELETE FROM'), i('t')], action: 'review', rule: 'unbounded-writes' },
  {
    name: 'update where 1=1',
    toks: [
      ...k('UPDATE'),
      i('t'),
      ...k('SET'),
      i('a'),
      p('='),
      l('1'),
      ...k('WHERE'),
      l('1'),
      p('='),
      l('1'),
    ],
    action: 'review',
    rule: 'unbounded-writes',
  },
  {
    name: 'select from drop_log',
    toks: [
      ...k('SELECT'),
      i('a'),
      p(','),
      i('b'),
      ...k('FROM'),
      i('drop_log'),
      ...k('WHERE'),
      i('id'),
      p('='),
      l('1'),
    ],
    action: 'allow',
    rule: null,
  },
  { name: 'select string', toks: [...k('SELECT'), l("'DROP TABLE t'")], action: 'allow', rule: null },
  {
    name: 'select count',
    toks: [...k('SELECT'), i('count'), p('('), p('*'), p(')'), ...k('FROM'), i('truncate_log')],
    action: 'allow',
    rule: null,
  },
  {
    name: 'delete with where',
    toks: [...k('DELETE FROM'), i('t'), ...k('WHERE'), i('id'), p('='), l('42')],
    action: 'allow',
    rule: null,
  },
  { name: 'explain delete', toks: [...k('EXPLAIN DELETE FROM'), i('t')], action: 'allow', rule: null },
];

/** Comment text that cannot end the comment early. */
const commentText = fc
  .string({ maxLength: 30 })
  .map((s) => s.replace(/\*\/|\/\*|[\r\n]/g, ' ').replace(/[/*]$/, ' '));
const blockComment = commentText.map((c) => `/*${c}*/`);
const nestedComment = fc.tuple(commentText, commentText).map(([a, b]) => `/* ${a} /* ${b} */ */`);
const lineComment = commentText.map((c) => `--${c}\n`);
const space = fc.constantFrom(' ', '  ', '\t', '\n', '\r\n', '\f', ' \n\t ');
const separator = fc.oneof(
  { weight: 5, arbitrary: space },
  { weight: 2, arbitrary: fc.tuple(space, blockComment, space).map((x) => x.join('')) },
  { weight: 1, arbitrary: fc.tuple(space, nestedComment, space).map((x) => x.join('')) },
  { weight: 1, arbitrary: fc.tuple(space, lineComment).map((x) => x.join('')) },
);
const leading = fc.oneof(
  fc.constant(''),
  separator,
  commentText.map((c) => `/* reason: ${c} */ `),
  commentText.map((c) => `-- reason: ${c}\n`),
);
const trailing = fc.constantFrom('', ';', ' ;', ';\n', '; -- done\n', ' /* end */');
const neighbours = fc.constantFrom<[string, string]>(
  ['', ''],
  ['SELECT 1; ', ''],
  ['', '; SELECT 2'],
  ['BEGIN; ', '; COMMIT'],
  ['SET search_path = public; ', ''],
);

function randomCase(word: string, bits: boolean[]): string {
  let out = '';
  for (let j = 0; j < word.length; j++)
    out += bits[j % bits.length] ? word[j].toUpperCase() : word[j].toLowerCase();
  return out;
}

const rendering = (toks: Tok[]) =>
  fc.record({
    cases: fc.array(fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), {
      minLength: toks.length,
      maxLength: toks.length,
    }),
    quote: fc.array(fc.boolean(), { minLength: toks.length, maxLength: toks.length }),
    seps: fc.array(separator, { minLength: toks.length, maxLength: toks.length }),
    lead: leading,
    trail: trailing,
    around: neighbours,
  });

function render(
  toks: Tok[],
  r: {
    cases: boolean[][];
    quote: boolean[];
    seps: string[];
    lead: string;
    trail: string;
    around: [string, string];
  },
): string {
  let sql = '';
  toks.forEach((t, n) => {
    if (n > 0) sql += r.seps[n];
    if ('k' in t) sql += randomCase(t.k, r.cases[n]);
    else if ('i' in t) sql += r.quote[n] ? `"${t.i}"` : randomCase(t.i, r.cases[n]);
    else if ('l' in t) sql += t.l;
    else sql += t.p;
  });
  return `${r.lead}${r.around[0]}${sql}${r.trail}${r.around[1]}`;
}

const cache = new AnalysisCache({ maxEntries: 500 });

function decideBoth(sql: string) {
  const ctx = () => ({ identity: 'agent-1', prepared: new PreparedRegistry() });
  const a = decide(analyze(sql), DEFAULT_POLICY, ctx(), statedReason(sql));
  const b = decide(cache.analyze(sql), DEFAULT_POLICY, ctx(), statedReason(sql));
  assert.deepEqual(
    [b.action, b.rule],
    [a.action, a.rule],
    `cache changed the decision on ${JSON.stringify(sql)}`,
  );
  return a;
}

describe('decisions are stable under comments, case, quoting and whitespace', () => {
  for (const c of cases) {
    test(`${c.action} ${c.rule ?? ''}: ${c.name}`, () => {
      fc.assert(
        fc.property(rendering(c.toks), (r) => {
          const sql = render(c.toks, r);
          const d = decideBoth(sql);
          assert.equal(d.action, c.action, `${JSON.stringify(sql)}: ${d.reason}`);
          assert.equal(d.rule, c.rule, `${JSON.stringify(sql)}: ${d.reason}`);
        }),
        { numRuns: Number(process.env.PROP_RUNS ?? 150) },
      );
    });
  }
});

describe('text inside literals and comments never matters', () => {
  const danger = fc.constantFrom(
    'DROP TABLE t',
    "'; DROP TABLE t; --",
    '$$; TRUNCATE t; $$',
    "pg_read_file('/etc/passwd')",
    '*/ DROP TABLE t /*',
    '\\',
  );
  const content = fc.oneof(
    fc.string({ maxLength: 40 }),
    danger,
    fc.tuple(fc.string({ maxLength: 10 }), danger).map((x) => x.join('')),
  );
  test('single-quoted strings', () => {
    fc.assert(
      fc.property(content, (s) => {
        const sql = `SELECT '${s.replace(/\0/g, '').replace(/'/g, "''")}' AS x`;
        assert.equal(decideBoth(sql).action, 'allow', sql);
      }),
      { numRuns: 300 },
    );
  });
  test('dollar-quoted strings', () => {
    fc.assert(
      fc.property(content, (s) => {
        const body = s.replace(/\0/g, '').replace(/\$q\$/g, '');
        const sql = `SELECT $q$${body.endsWith('$') ? `${body} ` : body}$q$`;
        assert.equal(decideBoth(sql).action, 'allow', sql);
      }),
      { numRuns: 300 },
    );
  });
  test('comments', () => {
    fc.assert(
      fc.property(commentText, fc.constantFrom('SELECT 1', 'SELECT * FROM t WHERE id = 1'), (c, q) => {
        const sql = `/* ${c} DROP TABLE t */ ${q} -- ${c} TRUNCATE t`;
        assert.equal(decideBoth(sql).action, 'allow', sql);
      }),
      { numRuns: 200 },
    );
  });
});
