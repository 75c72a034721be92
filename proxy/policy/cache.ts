// Analyses by statement text, so an agent repeating itself is not re-parsed. The key is the text
// after its leading whitespace and comments (which the parser ignores, and where the client's
// stated reason lives), everything else byte for byte. The cache holds analyses, not decisions:
// a decision also depends on the identity, the policy and the session's prepared statements,
// and deciding from an analysis costs well under a microsecond. Normalizing further (libpg-query's
// normalize / fingerprint) would merge texts that differ in constants, and constants change
// decisions: `WHERE 1=1` vs `WHERE 1=2`, `set_config('role', ...)`, `query_to_xml('<sql>', ...)`.

import { analyze, leadingComments } from './analyze.js';
import type { Analysis } from './types.js';

export interface AnalysisCacheOptions {
  /** Most entries kept (least recently used dropped first). Default 10 000. */
  maxEntries?: number;
  /** Longer texts are analysed every time, not kept. Default 64 KiB. */
  maxTextLength?: number;
}

export class AnalysisCache {
  private readonly map = new Map<string, Analysis>();
  private readonly maxEntries: number;
  private readonly maxTextLength: number;
  hits = 0;
  misses = 0;

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
      return analyze(sql);
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
    this.misses++;
    const a = analyze(key);
    this.map.set(key, a);
    if (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    return a;
  }

  clear(): void {
    this.map.clear();
  }
}

/** The process-wide cache the sessions share. */
export const sharedAnalysisCache = new AnalysisCache();
