// A WHERE that cannot narrow is no WHERE (issue 17, class 4): tautologies over the target's own
// columns count as absent, ordinary filters stay present, and the shape cache (which shares a
// decision across texts that differ in numbers) never shares one across a number that decided.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { analyze } from '../../proxy/policy/analyze.js';
import { AnalysisCache } from '../../proxy/policy/cache.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';

before(async () => {
  await initPolicyEngine();
});

const where = (sql: string) => analyze(sql).statements[0].units[0].where;

describe('always-true predicates count as absent', () => {
  for (const w of [
    'id = id',
    'id IS NOT NULL OR true',
    'coalesce(id, 1) = coalesce(id, 1)',
    'id > 0 OR 1=1',
    'NOT (id IS NULL AND id IS NOT NULL)',
    'id IS NULL OR id IS NOT NULL',
    'id > 5 OR NOT id > 5',
    'id = 3 OR id <> 3',
    'id < 10 OR id >= 10',
    'NOT (id > 0 AND id <= 0)',
    'id IS DISTINCT FROM 1 OR id IS NOT DISTINCT FROM 1',
    'CASE WHEN id > 0 THEN true ELSE true END',
    'CASE WHEN id > 0 THEN id = id ELSE 1 = 1 END',
    '(id = id) IS TRUE',
    'name IN (1, 2) OR name NOT IN (1, 2)',
    'lower(name) = lower(name) AND id >= id',
    'EXISTS (SELECT 1 FROM t t2 WHERE t2.id = t2.id)',
    'NOT (id <> id)',
    'id > 0 OR (id <= 0 OR id IS NULL)',
  ]) {
    test(`DELETE ... WHERE ${w}`, () => assert.equal(where(`DELETE FROM t WHERE ${w}`), 'absent'));
  }
});

describe('filters stay present', () => {
  for (const w of [
    'id = $1',
    "created < now() - interval '1 day'",
    'id = 3 OR id <> 4',
    'id > 5 OR NOT id > 6',
    'id IS NULL AND name IS NOT NULL',
    'NOT (id IS NULL AND name IS NOT NULL)',
    'CASE WHEN id > 0 THEN true ELSE false END',
    'CASE WHEN id > 0 THEN true END',
    'lower(name) = lower(other)',
  ]) {
    test(`DELETE ... WHERE ${w}`, () => assert.equal(where(`DELETE FROM t WHERE ${w}`), 'present'));
  }
});

test('the shape cache does not share a decision a number decided', () => {
  const c = new AnalysisCache();
  assert.equal(c.analyze('DELETE FROM t WHERE id = 3 OR id <> 4').statements[0].units[0].where, 'present');
  assert.equal(c.analyze('DELETE FROM t WHERE id = 3 OR id <> 3').statements[0].units[0].where, 'absent');
  assert.equal(c.analyze('DELETE FROM t WHERE id = 7 OR id <> 8').statements[0].units[0].where, 'present');
});
