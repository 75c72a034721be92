// The statement corpus (test/policy/corpus/default-policy.txt) under the built-in default policy:
// dangerous statements, the same hidden in comments, case, quoting, CTEs, DO blocks, function
// bodies, EXPLAIN ANALYZE, PREPARE/EXECUTE, COPY PROGRAM and multi-statement strings, and
// harmless look-alikes. Every text is decided as one simple Query, uncached and cached.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { analyze, statedReason } from '../../proxy/policy/analyze.js';
import { AnalysisCache } from '../../proxy/policy/cache.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';
import { DEFAULT_POLICY, decide } from '../../proxy/policy/policy.js';
import { PreparedRegistry } from '../../proxy/policy/prepared.js';
import { loadCorpus } from './corpus-file.js';

const corpus = loadCorpus();

before(async () => {
  await initPolicyEngine();
});

describe('policy corpus (built-in default policy)', () => {
  test('holds at least 150 statements, each kind of outcome well represented', () => {
    assert.ok(corpus.length >= 150, `corpus has ${corpus.length} statements`);
    const count = (a: string) => corpus.filter((e) => e.action === a).length;
    assert.ok(count('block') >= 100, `block: ${count('block')}`);
    assert.ok(count('review') >= 30, `review: ${count('review')}`);
    assert.ok(count('allow') >= 80, `allow: ${count('allow')}`);
    const texts = new Set(corpus.map((e) => e.sql));
    assert.equal(texts.size, corpus.length, 'no duplicate statements');
  });

  const cache = new AnalysisCache();
  for (const e of corpus) {
    test(`line ${e.line}: ${e.action} ${e.rule ?? ''} ${JSON.stringify(e.sql.slice(0, 90))}`, () => {
      for (const pass of ['uncached', 'cached (miss)', 'cached (hit)']) {
        const a = pass === 'uncached' ? analyze(e.sql) : cache.analyze(e.sql);
        const d = decide(
          a,
          DEFAULT_POLICY,
          { identity: 'agent-1', prepared: new PreparedRegistry() },
          statedReason(e.sql),
        );
        const got = `${d.action} ${d.rule}`;
        assert.equal(d.action, e.action, `${pass}: got ${got}: ${d.reason}`);
        if (e.rule !== undefined) assert.equal(d.rule, e.rule, `${pass}: got ${got}: ${d.reason}`);
        assert.ok(d.reason.length > 0);
      }
    });
  }
});
