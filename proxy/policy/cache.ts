// Analyses by statement text, so an agent repeating itself is not re-parsed. The key is the text
// after its leading whitespace and comments (which the parser ignores, and where the client's
// stated reason lives), everything else byte for byte. The cache holds analyses, not decisions:
// a decision also depends on the identity, the policy and the session's prepared statements,
// and deciding from an analysis costs well under a microsecond.
//
// Texts that differ only in numeric literals (pgbench, ORMs that inline values) share one entry
// by their numeric shape (shape.ts) when that is exact: the parser saw the lexer's numbers as
// constants of the same class, the analysis never read a number's value (`WHERE 1=1` vs
// `WHERE 1=2` read them, so those texts keep entries of their own), and the text is one
// statement, so only the text itself differs in the result. libpg-query's normalize /
// fingerprint are not used: they erase strings too, and strings change decisions
// (`set_config('role', ...)`, `query_to_xml('<sql>', ...)`).

import { analyzeWithTree, leadingComments } from './analyze.js';
import { numericReads, numericShape, shapeMatchesTree } from './shape.js';
import type { Analysis } from './types.js';

/** A shape's shared analysis, or false: texts of this shape are analysed one by one. */
type ShapeEntry = { analysis: Analysis } | false;

function trimEnd(sql: string): string {
  return sql.replace(/[\s;]+$/, '');
}

export interface AnalysisCacheOptions {
  /** Most entries kept (least recently used dropped first). Default 10 000. */
  maxEntries?: number;
  /** Longer texts are analysed every time, not kept. Default 64 KiB. */
  maxTextLength?: number;
}

export class AnalysisCache {
  private readonly map = new Map<string, Analysis>();
  private readonly shapes = new Map<string, ShapeEntry>();
  private readonly maxEntries: number;
  private readonly maxTextLength: number;
  hits = 0;
  misses = 0;
  /** Hits by numeric shape (counted in `hits` too). */
  shapeHits = 0;

  constructor(opts: AnalysisCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.maxTextLength = opts.maxTextLength ?? 64 * 1024;
  }

  get size(): number {
    return this.map.size;
  }

  /** The analysis of `sql`, from the cache when the same statement text was seen before. */
  analyze(sql: string): Analysis {
    if (sql.length > this.maxTextLength) {
      this.misses++;
      return analyzeWithTree(sql).analysis;
    }
    const start = leadingComments(sql).start;
    const key = start > 0 ? sql.slice(start) : sql;
    const hit = this.map.get(key);
    if (hit !== undefined) {
      this.hits++;
      // Refresh its place in the LRU order.
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const shape = numericShape(key);
    if (shape !== null) {
      const entry = this.shapes.get(shape.key);
      if (entry) {
        this.hits++;
        this.shapeHits++;
        const st = entry.analysis.statements[0];
        return { sql: key, statements: [{ ...st, sql: trimEnd(key) }], error: null };
      }
    }
    this.misses++;
    const readsBefore = numericReads.count;
    const { analysis: a, raws } = analyzeWithTree(key);
    remember(this.map, key, a, this.maxEntries);
    if (shape !== null && !this.shapes.has(shape.key)) {
      const st = a.statements[0];
      const shareable =
        raws !== null &&
        a.error === null &&
        a.statements.length === 1 &&
        st.offset === 0 &&
        st.sql === trimEnd(key) &&
        numericReads.count === readsBefore &&
        shapeMatchesTree(shape, raws as never);
      remember(this.shapes, shape.key, shareable ? { analysis: a } : false, this.maxEntries);
    }
    return a;
  }

  clear(): void {
    this.map.clear();
    this.shapes.clear();
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.set(key, value);
  if (map.size > max) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}

/** The process-wide cache the sessions share. */
export const sharedAnalysisCache = new AnalysisCache();
