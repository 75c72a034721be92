// The `masking` section of a policy: validation with key paths, defaults, column names.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileMasking } from '../../proxy/masking/compile.js';
import {
  DEFAULT_MASKING_RULES,
  parseColumnName,
  parseMaskingRules,
  stricter,
} from '../../proxy/masking/rules.js';
import { DEFAULT_POLICY, PolicyError, parsePolicy } from '../../proxy/policy/policy.js';

describe('masking rules', () => {
  test('omitted = the built-in detectors (partial); [] = nothing', () => {
    assert.deepEqual(parseMaskingRules(undefined, 'm'), [...DEFAULT_MASKING_RULES]);
    assert.deepEqual(DEFAULT_MASKING_RULES[0], {
      kind: 'detect',
      name: 'detectors',
      detect: ['email', 'credit_card', 'ssn', 'phone'],
      strategy: 'partial',
    });
    assert.deepEqual(parseMaskingRules([], 'm'), []);
    assert.equal(compileMasking([], { hashKey: 'k'.repeat(16) }).inactive, true);
    assert.deepEqual(DEFAULT_POLICY.masking, DEFAULT_MASKING_RULES);
    assert.deepEqual(parsePolicy('p', { read_only: true }).masking, DEFAULT_MASKING_RULES);
  });
  test('the CONTRACT example', () => {
    const p = parsePolicy('default', {
      masking: [
        {
          name: 'customer-pii',
          columns: ['public.customers.email', 'public.customers.ssn'],
          strategy: 'redact',
        },
        { name: 'detectors', detect: ['email', 'credit_card', 'ssn', 'phone'], strategy: 'partial' },
      ],
    });
    assert.equal(p.masking.length, 2);
    const [a, b] = p.masking;
    assert.equal(a.kind, 'columns');
    assert.deepEqual(a.kind === 'columns' && a.parsed, [
      { schema: 'public', table: 'customers', column: 'email' },
      { schema: 'public', table: 'customers', column: 'ssn' },
    ]);
    assert.equal(b.kind === 'detect' && b.detect.length, 4);
  });
  test('defaults per kind, `default` spliced in, one name a string', () => {
    const r = parseMaskingRules(
      ['default', { name: 'x', columns: 'Public."Odd Table".Email' }, { name: 'y', detect: 'IBAN' }],
      'm',
    );
    assert.equal(r[0], DEFAULT_MASKING_RULES[0]);
    assert.equal(r[1].strategy, 'redact');
    assert.deepEqual(r[1].kind === 'columns' && r[1].parsed, [
      { schema: 'public', table: 'Odd Table', column: 'email' },
    ]);
    assert.equal(r[2].strategy, 'partial');
    assert.deepEqual(r[2].kind === 'detect' && r[2].detect, ['iban']);
  });
  const bad: [unknown, string, RegExp][] = [
    ['x', 'policies.p.masking', /list/],
    [[42], 'policies.p.masking[0]', /mapping/],
    [[{ columns: ['a.b.c'] }], 'policies.p.masking[0].name', /required/],
    [[{ name: 'a' }], 'policies.p.masking[0]', /exactly one/],
    [[{ name: 'a', columns: ['a.b'], detect: ['email'] }], 'policies.p.masking[0]', /exactly one/],
    [[{ name: 'a', columns: ['customers'] }], 'policies.p.masking[0].columns[0]', /column name/],
    [[{ name: 'a', columns: [] }], 'policies.p.masking[0].columns', /non-empty/],
    [[{ name: 'a', detect: ['dna'] }], 'policies.p.masking[0].detect[0]', /not a detector/],
    [
      [{ name: 'a', detect: ['email'], strategy: 'shred' }],
      'policies.p.masking[0].strategy',
      /not a strategy/,
    ],
    [[{ name: 'a', detect: ['email'], action: 'x' }], 'policies.p.masking[0].action', /unknown key/],
    [
      [
        { name: 'a', detect: ['email'] },
        { name: 'a', detect: ['ssn'] },
      ],
      'policies.p.masking[1].name',
      /duplicate/,
    ],
  ];
  for (const [raw, kp, re] of bad) {
    test(`bad: ${JSON.stringify(raw)}`, () => {
      try {
        parsePolicy('p', { masking: raw });
        assert.fail('accepted');
      } catch (e) {
        assert.ok(e instanceof PolicyError, String(e));
        assert.equal(e.keyPath, kp);
        assert.match(e.problem, re);
      }
    });
  }
  test('column names', () => {
    assert.deepEqual(parseColumnName('customers.email'), {
      schema: null,
      table: 'customers',
      column: 'email',
    });
    assert.deepEqual(parseColumnName('"a.b"."C""d".e'), { schema: 'a.b', table: 'C"d', column: 'e' });
    assert.equal(parseColumnName('a..b'), null);
    assert.equal(parseColumnName('"unterminated.a.b'), null);
  });
  test('strictness: null > redact > hash > partial', () => {
    const r = (strategy: 'null' | 'redact' | 'hash' | 'partial') => ({ name: strategy, strategy });
    assert.equal(stricter(r('partial'), r('hash')).name, 'hash');
    assert.equal(stricter(r('null'), r('redact')).name, 'null');
    assert.equal(stricter(null, r('partial'))?.name, 'partial');
  });
  test('compiled: column rules by real names, schema-less rules match any schema, detector -> rule', () => {
    const m = compileMasking(
      parseMaskingRules(
        [
          { name: 'a', columns: ['public.t.c'], strategy: 'partial' },
          { name: 'b', columns: ['t.c'], strategy: 'hash' },
          { name: 'd1', detect: ['email'], strategy: 'partial' },
          { name: 'd2', detect: ['email', 'ssn'], strategy: 'redact' },
        ],
        'm',
      ),
      { hashKey: 'k'.repeat(16) },
    );
    assert.equal(m.columnRule('public', 't', 'c')?.name, 'b');
    assert.equal(m.columnRule('other', 't', 'c')?.name, 'b');
    assert.equal(m.columnRule('public', 't', 'x'), null);
    assert.equal(m.detection?.ruleOf('email').name, 'd2');
    assert.equal(m.masksTable('x', 't'), true);
    assert.throws(() => compileMasking([], { hashKey: 'short' }), /16 bytes/);
  });
});
