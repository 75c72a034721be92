// classify.ts, the pure part: which columns the samples prove to hold PII, and the rules they become.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  autoRules,
  type ClassDecision,
  COLUMNS_QUERY,
  classifyColumns,
  columnKey,
  sampleQuery,
  samplingSettings,
} from '../../proxy/masking/classify.js';
import { DEFAULT_MASKING_RULES, type MaskingRule } from '../../proxy/masking/rules.js';

const col = (column: string, values: (string | null)[]) => ({ schema: 'public', table: 't', column, values });

test('a column is PII of the detector most of its non-null values match, whole or inside', () => {
  const found = classifyColumns([
    col('email', ['a@example.org', 'b.c@example.com', null, null, 'not-an-email']),
    col('note', ['call 415-555-0134 today', 'ring (212) 555-0199', 'phone 415.555.0100', 'no']),
    col('ssn', ['123-45-6789', '987-65-4321']),
    col('card', ['4111111111111111', '5555 5555 5555 4444']),
    col('name', ['Alice', 'Bob', 'carol@example.org']),
    col('empty', [null, null]),
  ]);
  const by = new Map(found.map((c) => [c.column, c]));
  assert.equal(by.get('email')?.detector, 'email');
  assert.equal(by.get('email')?.sampled, 3, 'NULLs do not count');
  assert.ok(Math.abs((by.get('email')?.share ?? 0) - 2 / 3) < 1e-9);
  assert.equal(by.get('note')?.detector, 'phone');
  assert.equal(by.get('ssn')?.detector, 'ssn');
  assert.equal(by.get('card')?.detector, 'credit_card');
  assert.ok(!by.has('name'), 'one email in three names is below the threshold');
  assert.ok(!by.has('empty'));
});

test('a numeric SSN column is found by its name and the shape of its values together', () => {
  const found = classifyColumns([
    col('ssn_num', ['523714829', '614283075', '271649013']),
    col('order_no', ['523714829', '614283075', '271649013']),
    col('ssn', ['12', '7', '40']),
    col('tax_id', ['000123456', '666123456', '900123456']),
  ]);
  const by = new Map(found.map((c) => [c.column, c]));
  assert.equal(by.get('ssn_num')?.detector, 'ssn');
  assert.ok(!by.has('order_no'), 'the shape alone is any 9-digit id');
  assert.ok(!by.has('ssn'), 'the name alone proves nothing');
  assert.ok(!by.has('tax_id'), 'numbers no SSN can be (area 000, 666, 9xx)');
});

test('the threshold is configurable', () => {
  const c = [col('name', ['Alice', 'Bob', 'carol@example.org'])];
  assert.equal(classifyColumns(c).length, 0);
  assert.equal(classifyColumns(c, 0.3)[0]?.detector, 'email');
});

test('auto rules: one per detector and strategy, excluded columns left out, changed strategy kept', () => {
  const classes = classifyColumns([
    col('email', ['a@example.org']),
    col('mail2', ['b@example.org']),
    col('ssn', ['123-45-6789']),
    { schema: 'Odd"Schema', table: 'My Table', column: 'e.mail', values: ['x@example.org'] },
  ]);
  const decisions = new Map<string, ClassDecision>([
    [columnKey({ schema: 'public', table: 't', column: 'mail2' }), { state: 'excluded', strategy: null }],
    [columnKey({ schema: 'public', table: 't', column: 'ssn' }), { state: 'changed', strategy: 'redact' }],
  ]);
  const rules = autoRules(classes, decisions, DEFAULT_MASKING_RULES);
  const shape = rules.map((r) => [r.name, r.strategy, r.kind === 'columns' ? r.parsed : null]);
  assert.deepEqual(shape, [
    [
      'auto-email',
      'partial',
      [
        { schema: 'public', table: 't', column: 'email' },
        { schema: 'Odd"Schema', table: 'My Table', column: 'e.mail' },
      ],
    ],
    ['auto-ssn', 'redact', [{ schema: 'public', table: 't', column: 'ssn' }]],
  ]);
  // A policy's own detector strategy is the default for its auto rules.
  const hashing: MaskingRule[] = [{ kind: 'detect', name: 'd', detect: ['email'], strategy: 'hash' }];
  assert.equal(autoRules(classes, new Map(), hashing)[0]?.strategy, 'hash');
});

test('the sampling query is bounded and quotes every name', () => {
  const q = sampleQuery('s"x', 'T', ['a', 'b"c'], 50);
  assert.equal(
    q,
    'SELECT pg_catalog.left("a"::text, 4096), pg_catalog.left("b""c"::text, 4096) FROM "s""x"."T" LIMIT 50',
  );
});

test('sampling never runs code for a client: read-only, bounded, row security off, no foreign tables', () => {
  const s = samplingSettings(5000);
  assert.match(s, /SET default_transaction_read_only = on;/);
  assert.match(s, /SET row_security = off;/);
  assert.match(s, /SET statement_timeout = 5000;/);
  assert.match(COLUMNS_QUERY, /relkind IN \('r', 'p', 'm'\)/);
});
