// Class 4: a WHERE that cannot narrow is no WHERE. Each write below must be held for review (the
// harness denies every held statement) or refused: the table must not change.
import type { Draft } from './make.js';
import { numbered, ok, refused } from './make.js';

const ALWAYS_TRUE = [
  '2 > 1',
  'true',
  "'a' = 'a'",
  'now() IS NOT NULL',
  '(SELECT count(*) FROM pg_class) > 0',
  'EXISTS (SELECT 1)',
  'NOT false',
  '1 IN (1, 2)',
  "'x' LIKE '%'",
  'random() < 2',
  'current_user IS NOT NULL',
  '(SELECT true)',
  'true = ANY (ARRAY[true])',
  "length('x') > 0",
  'CASE WHEN true THEN true END',
  'coalesce(NULL, true)',
  'pg_backend_pid() > 0',
  'EXISTS (SELECT FROM adv.canary)',
  'true OR id = 1',
  '(1, 2) < (2, 1)',
  "'t'::boolean",
  'NULLIF(1, 2) = 1',
  '1 BETWEEN 0 AND 2',
  'txid_current() > 0',
  'EXISTS (SELECT 1 FROM adv.t x WHERE x.id > 0)',
  "current_setting('search_path') IS NOT NULL",
  "'a' || 'b' = 'ab'",
  'abs(-1) = 1',
  '(SELECT max(id) FROM adv.canary) IS NOT NULL',
];

const deletes: Draft[] = ALWAYS_TRUE.map((p) =>
  refused('dflt', `DELETE ... WHERE ${p}`, [`DELETE FROM adv.t WHERE ${p}`]),
);

const more: Draft[] = [
  refused('dflt', 'UPDATE ... WHERE 1 = 1', ["UPDATE adv.t SET v = 'x' WHERE 1 = 1"]),
  refused('dflt', 'UPDATE ... WHERE (SELECT count(*) FROM adv.canary) > 0', [
    "UPDATE adv.t SET v = 'x' WHERE (SELECT count(*) FROM adv.canary) > 0",
  ]),
  refused('dflt', 'DELETE ... USING another table, predicate on it alone', [
    'DELETE FROM adv.t USING adv.canary c WHERE c.id = 1',
  ]),
  refused('dflt', 'UPDATE ... FROM another table, predicate on it alone', [
    "UPDATE adv.t SET v = 'x' FROM adv.canary c WHERE c.id = 1",
  ]),
  refused('dflt', 'an always-true DELETE in a data-modifying CTE', [
    'WITH d AS (DELETE FROM adv.t WHERE 2 > 1 RETURNING *) SELECT count(*) FROM d',
  ]),
  refused('dflt', 'an always-true DELETE under EXPLAIN ANALYZE', [
    'EXPLAIN ANALYZE DELETE FROM adv.t WHERE 2 > 1',
  ]),
  refused('dflt', 'an always-true DELETE behind PREPARE/EXECUTE', [
    'PREPARE d AS DELETE FROM adv.t WHERE 2 > 1',
    'EXECUTE d',
  ]),
  refused('dflt', 'an always-true DELETE in a DO block', [
    'DO $$ BEGIN DELETE FROM adv.t WHERE now() IS NOT NULL; END $$',
  ]),
  refused('dflt', 'an always-true DELETE with a parameter (extended)', ['DELETE FROM adv.t WHERE $1'], {
    params: ['true'],
    via: ['extended'],
  }),
  refused(
    'dflt',
    'an always-true DELETE with a parameter compared to itself (extended)',
    ['DELETE FROM adv.t WHERE $1 = $1'],
    {
      params: ['1'],
      via: ['extended'],
    },
  ),
  refused('dflt', 'MERGE ... ON true WHEN MATCHED THEN DELETE', [
    'MERGE INTO adv.t USING (SELECT 1 AS one) s ON true WHEN MATCHED THEN DELETE',
  ]),
  refused('dflt', 'MERGE ... ON true WHEN MATCHED THEN UPDATE', [
    "MERGE INTO adv.t USING (SELECT 1 AS one) s ON true WHEN MATCHED THEN UPDATE SET v = 'x'",
  ]),
  refused(
    'dflt',
    'DELETE ... WHERE the column equals itself or true, in one Query with a harmless SELECT',
    [],
    {
      script: 'SELECT 1; DELETE FROM adv.t WHERE true OR id = id',
    },
  ),
  refused(
    'dflt',
    'UPDATE through a planted view, WHERE on a constant',
    ["UPDATE adv.tv SET v = 'x' WHERE 1 = 1"],
    {
      setup: 'CREATE VIEW adv.tv AS SELECT * FROM adv.t; GRANT ALL ON adv.tv TO PUBLIC',
      cleanup: 'DROP VIEW adv.tv',
    },
  ),
  refused('dflt', 'DELETE ... WHERE a subquery that returns every id', [
    'DELETE FROM adv.t WHERE 0 < (SELECT min(id) FROM adv.t)',
  ]),
  refused('dflt', 'DELETE with the table aliased, predicate on a constant', [
    'DELETE FROM adv.t AS x WHERE 5 = 5',
  ]),
  refused('dflt', 'DELETE FROM ONLY ... WHERE 1 = 1', ['DELETE FROM ONLY adv.t WHERE 1 = 1']),
  refused(
    'dflt',
    'DELETE ... WHERE $1 IS NULL with a NULL parameter (extended)',
    ['DELETE FROM adv.t WHERE $1::int IS NULL'],
    {
      params: [null],
      via: ['extended'],
    },
  ),
  refused('dflt', 'UPDATE ... WHERE true in a data-modifying CTE', [
    "WITH u AS (UPDATE adv.t SET v = 'x' WHERE true RETURNING 1) SELECT count(*) FROM u",
  ]),
  ok('dflt', 'control: DELETE ... WHERE id = 1', ['DELETE FROM adv.t WHERE id = 1'], {
    verify: 'SELECT count(*) = 4 FROM adv.t',
  }),
  ok('dflt', 'control: UPDATE ... WHERE id = 2', ["UPDATE adv.t SET v = 'changed' WHERE id = 2"], {
    verify: "SELECT v = 'changed' FROM adv.t WHERE id = 2",
  }),
  ok('dflt', 'control: DELETE ... WHERE id = $1 (extended)', ['DELETE FROM adv.t WHERE id = $1'], {
    params: ['3'],
    via: ['extended'],
    verify: 'SELECT count(*) = 4 FROM adv.t',
  }),
  ok('dflt', 'control: DELETE ... WHERE id IN (SELECT ...)', ['DELETE FROM adv.t WHERE id IN (SELECT 4)'], {
    verify: 'SELECT count(*) = 4 FROM adv.t',
  }),
  ok('dflt', 'control: INSERT a row', ["INSERT INTO adv.t VALUES (100, 'new')"], {
    verify: 'SELECT count(*) = 6 FROM adv.t',
  }),
  ok('dflt', 'control: SELECT ... WHERE true', ['SELECT * FROM adv.t WHERE true']),
  ok('dflt', 'control: UPDATE ... WHERE v LIKE', ["UPDATE adv.t SET v = 'y' WHERE v LIKE 'value 5'"], {
    verify: "SELECT count(*) = 1 FROM adv.t WHERE v = 'y'",
  }),
];

export const WHERE = numbered('where', 'where', [...deletes, ...more]);
