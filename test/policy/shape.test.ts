// The numeric-shape cache must never change a decision: every text analysed through a cache that
// has seen the same statement with other numbers gives exactly what a fresh analysis gives. The
// corpus statements (and look-alikes whose numbers matter) are replayed with their numbers changed.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import fc from 'fast-check';
import { analyze } from '../../proxy/policy/analyze.js';
import { AnalysisCache } from '../../proxy/policy/cache.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';
import { numericShape } from '../../proxy/policy/shape.js';
import { loadCorpus } from './corpus-file.js';

before(async () => {
  await initPolicyEngine();
});

/** `sql` with the k-th numeric literal (as the shape lexer found it) replaced by `values[k]`. */
function withNumbers(sql: string, values: string[]): string {
  const shape = numericShape(sql);
  if (!shape) return sql;
  let out = '';
  let at = 0;
  shape.starts.forEach((start, k) => {
    let end = start;
    while (end < sql.length && /[0-9_.eE+-]/.test(sql[end])) {
      if ((sql[end] === '+' || sql[end] === '-') && !/[eE]/.test(sql[end - 1])) break;
      end++;
    }
    out += sql.slice(at, start) + values[k % values.length];
    at = end;
  });
  return out + sql.slice(at);
}

const NUMBERS = ['0', '1', '2', '7', '42', '1.5', '0.0', '2147483647', '2147483648', '1e3', '99999999999'];

describe('numeric shape cache', () => {
  test('pgbench-style statements share one analysis, with their own text', () => {
    const cache = new AnalysisCache();
    for (let aid = 1; aid <= 50; aid++) {
      const sql = `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid * 7919};`;
      const a = cache.analyze(sql);
      assert.deepEqual(a, analyze(sql));
    }
    assert.equal(cache.misses, 1);
    assert.equal(cache.shapeHits, 49);
  });

  test('numbers that decide keep their own analyses: WHERE 1=1 is not WHERE 1=2', () => {
    const cache = new AnalysisCache();
    const filtered = cache.analyze('DELETE FROM t WHERE 1 = 2');
    const all = cache.analyze('DELETE FROM t WHERE 1 = 1');
    assert.equal(filtered.statements[0].units[0].where, 'present');
    assert.equal(all.statements[0].units[0].where, 'absent');
    assert.equal(cache.shapeHits, 0);
    assert.equal(cache.analyze('DELETE FROM t WHERE id = id + 0').statements[0].units[0].where, 'present');
    assert.equal(cache.analyze('DELETE FROM t WHERE 3 = 3').statements[0].units[0].where, 'absent');
  });

  test('every corpus statement with numbers, replayed with other numbers, is analysed as if fresh', () => {
    let withDigits = 0;
    for (const entry of loadCorpus()) {
      if (!numericShape(entry.sql)) continue;
      withDigits++;
      const cache = new AnalysisCache();
      cache.analyze(entry.sql);
      for (let v = 0; v < NUMBERS.length; v++) {
        const variant = withNumbers(entry.sql, NUMBERS.slice(v).concat(NUMBERS.slice(0, v)));
        assert.deepEqual(cache.analyze(variant), analyze(variant), `corpus line ${entry.line}: ${variant}`);
      }
    }
    assert.ok(withDigits >= 20, `corpus statements with numbers: ${withDigits}`);
  });

  test('random numbers in statements whose numbers matter or do not (property)', () => {
    const templates = [
      'SELECT * FROM t WHERE id = {} LIMIT {}',
      'DELETE FROM t WHERE {} = {}',
      'UPDATE t SET v = {} WHERE {} <> {}',
      'DELETE FROM t WHERE id = {} OR {} = {}',
      'DELETE FROM t WHERE NOT ({} = {})',
      'EXPLAIN (ANALYZE {}) DELETE FROM t',
      'SELECT {}::numeric(10, {}) FROM t',
      "SELECT set_config('statement_timeout', '{}', false)",
      'DELETE FROM t WHERE id IN ({}, {}) AND {} BETWEEN {} AND {}',
      'FETCH {} FROM c',
      'SELECT -{} FROM t WHERE x > -{}',
    ];
    const cache = new AnalysisCache();
    fc.assert(
      fc.property(
        fc.constantFrom(...templates),
        fc.array(fc.oneof(fc.constantFrom(...NUMBERS), fc.nat().map(String)), { minLength: 5, maxLength: 5 }),
        (template, nums) => {
          let k = 0;
          const sql = template.replace(/\{\}/g, () => nums[k++]);
          assert.deepEqual(cache.analyze(sql), analyze(sql), sql);
        },
      ),
      { numRuns: 800 },
    );
  });

  test('the lexer gives up on what it does not follow for sure', () => {
    for (const sql of [
      "SELECT E'\\x' || 5",
      "SELECT 'é', 5",
      'SELECT 0x1F',
      'SELECT 5abc',
      "SELECT 'unterminated 5",
      'SELECT $tag$ 5 $tag',
    ]) {
      assert.equal(numericShape(sql), null, sql);
    }
    assert.equal(
      numericShape('SELECT a1, $1 FROM t2'),
      null,
      'digits in names and parameters are not literals',
    );
    assert.deepEqual(numericShape('SELECT \'5\', "x5", 5 -- 6\n')?.starts, [18]);
  });
});
