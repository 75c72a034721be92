// Retention: removing old sessions from the store without breaking its tamper evidence.
//
// The chain is linear and sessions interleave in it, so pruning a session leaves gaps between
// records that stay. A record after a gap was chained to the digest of the record just before it,
// which is gone; so `prune` appends one chained `prune` record that states exactly which ids it
// removed (as runs of consecutive remaining ids) and the digest of the last record of every run.
// `verify` accepts a gap only where prune records cover every missing id, and continues from the
// declared digest. The prune record itself is chained after everything it removed, so changing
// what it declares (to hide a deleted record) breaks the chain at the prune record.
//
// A `checkpoints` row per prune record (id = the prune record's id, record_id = the highest id it
// removed, digest = that record's digest) indexes the prune records for `verify` and lets the
// schema's delete trigger allow exactly the pruned range.

import type { PrunedRanges } from './chain.js';
import type { PrunedSession, PruneInfo, PruneResult } from './types.js';

export const PRUNE_KIND = 'prune';

/** The JSON body of a prune record. */
export interface PruneBody {
  kind: typeof PRUNE_KIND;
  /** Epoch microseconds when the prune ran (also the record's t_us). */
  at: number;
  before: number;
  connection: string | null;
  sessions: PrunedSession[];
  /** Records removed. */
  records: number;
  /** [first, last, digest hex of last]: ids removed, consecutive among the records present then. */
  ranges: [number, number, string][];
}

/** Reads a prune record body; throws on anything malformed (the caller reports the record). */
export function decodePruneBody(recordId: number, body: Buffer): PruneInfo {
  const v = JSON.parse(body.toString('utf8')) as Partial<PruneBody>;
  const isInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n);
  if (v.kind !== PRUNE_KIND || !isInt(v.at) || !isInt(v.before) || !isInt(v.records)) {
    throw new Error('not a prune record');
  }
  if (v.connection !== null && typeof v.connection !== 'string') throw new Error('bad connection');
  if (!Array.isArray(v.sessions) || !Array.isArray(v.ranges)) throw new Error('bad sessions or ranges');
  let last = 0;
  for (const r of v.ranges) {
    if (
      !Array.isArray(r) ||
      r.length !== 3 ||
      !isInt(r[0]) ||
      !isInt(r[1]) ||
      typeof r[2] !== 'string' ||
      !/^[0-9a-f]{64}$/.test(r[2]) ||
      r[0] <= last ||
      r[1] < r[0] ||
      r[1] >= recordId
    ) {
      throw new Error('a removed range is malformed, out of order or not before the prune record');
    }
    last = r[1];
  }
  return {
    recordId,
    at: v.at,
    before: v.before,
    connection: v.connection,
    sessions: v.sessions,
    records: v.records,
    ranges: v.ranges,
  };
}

/**
 * Removed ranges stated outside the chain (a dropped partition of the shared store, a compacted
 * spool: see proxy/store/pg/): [first, last, digest hex of last], each well formed, in any order.
 * Throws on anything else (the caller reports it).
 */
export function decodeRemovedRanges(v: unknown): [number, number, string][] {
  if (!Array.isArray(v)) throw new Error('removed ranges are not a list');
  for (const r of v) {
    if (
      !Array.isArray(r) ||
      r.length !== 3 ||
      !Number.isSafeInteger(r[0]) ||
      !Number.isSafeInteger(r[1]) ||
      r[0] < 1 ||
      r[1] < r[0] ||
      typeof r[2] !== 'string' ||
      !/^[0-9a-f]{64}$/.test(r[2])
    ) {
      throw new Error('a removed range is malformed');
    }
  }
  return v as [number, number, string][];
}

/**
 * Every removed range declared by the prune records, merged, for `walkChain`. Built before the
 * walk from prune records that the walk then verifies in their turn.
 */
export class PruneLedger implements PrunedRanges {
  private readonly links = new Map<number, Buffer>();
  /** Merged, sorted, non-overlapping [first, last] intervals. */
  private merged: [number, number][] = [];
  private pending: [number, number][] = [];

  add(info: PruneInfo): void {
    this.addRanges(info.ranges);
  }

  /** Ranges removed by something other than a prune record (see decodeRemovedRanges). */
  addRanges(ranges: readonly [number, number, string][]): void {
    for (const [first, last, digest] of ranges) {
      this.pending.push([first, last]);
      this.links.set(last, Buffer.from(digest, 'hex'));
    }
  }

  get empty(): boolean {
    return this.links.size === 0;
  }

  covers(first: number, last: number): boolean {
    return this.firstUncovered(first, last) === undefined;
  }

  firstUncovered(first: number, last: number): number | undefined {
    this.merge();
    // The last interval starting at or before `first`.
    let lo = 0;
    let hi = this.merged.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.merged[mid][0] <= first) {
        at = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (at < 0 || this.merged[at][1] < first) return first;
    const end = this.merged[at][1];
    return end >= last ? undefined : end + 1;
  }

  link(id: number): Buffer | undefined {
    return this.links.get(id);
  }

  private merge(): void {
    if (this.pending.length === 0) return;
    const all = [...this.merged, ...this.pending].sort((a, b) => a[0] - b[0]);
    this.pending = [];
    const out: [number, number][] = [];
    for (const [a, b] of all) {
      const top = out[out.length - 1];
      // Adjacent intervals merge too: [3,5] and [6,9] cover 3..9.
      if (top && a <= top[1] + 1) top[1] = Math.max(top[1], b);
      else out.push([a, b]);
    }
    this.merged = out;
  }
}

/**
 * Groups the ids to remove into runs that are consecutive among the records present (ids pruned
 * earlier may sit inside a run). `present` yields every present id from the smallest removed id
 * up to at least the largest, in order; `removed` is sorted.
 */
export function removedRuns(removed: readonly number[], present: Iterable<number>): [number, number][] {
  const runs: [number, number][] = [];
  const set = new Set(removed);
  let run: [number, number] | null = null;
  for (const id of present) {
    if (set.has(id)) {
      if (run) run[1] = id;
      else run = [id, id];
    } else if (run) {
      runs.push(run);
      run = null;
    }
  }
  if (run) runs.push(run);
  return runs;
}

// --- the periodic job ------------------------------------------------------------------------

/**
 * What RetentionJob needs of a store: the same object that writes (one writer per file). The
 * gateway's is asynchronous (the writer thread prunes while the event loop relays).
 */
export interface Prunable {
  prune(before: number, connection?: string): PruneResult | Promise<PruneResult>;
}

export interface RetentionJobOptions {
  /** How often to run; default hourly. */
  intervalMs?: number;
  /** Epoch milliseconds now (tests). */
  now?: () => number;
  onPrune?: (result: PruneResult) => void;
  onError?: (e: Error, connection: string) => void;
}

/**
 * Prunes each connection's sessions older than its retention period, now and then periodically.
 * `periods` maps connection name -> retention period in milliseconds; connections not in it keep
 * everything. The store must be the instance the gateway writes with (prune runs between the
 * writer's batches, on the writer's thread). Passes do not overlap: a slow prune delays the next.
 */
export class RetentionJob {
  private timer: NodeJS.Timeout | null = null;
  private readonly periods: Map<string, number>;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private running: Promise<PruneResult[]> | null = null;

  constructor(
    private readonly store: Prunable,
    periods: ReadonlyMap<string, number> | Readonly<Record<string, number>>,
    private readonly opts: RetentionJobOptions = {},
  ) {
    const entries = periods instanceof Map ? [...periods] : Object.entries(periods);
    for (const [name, ms] of entries) {
      if (!(Number.isFinite(ms) && ms > 0)) {
        throw new RangeError(`retention period of connection ${name} must be a positive number of ms`);
      }
    }
    this.periods = new Map(entries);
    this.intervalMs = opts.intervalMs ?? 3_600_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Runs once now, then every interval (the timer does not keep the process alive). Resolves
   * when the first pass is done (errors are reported per connection, never thrown).
   */
  start(): Promise<PruneResult[]> {
    if (this.timer) return this.running ?? Promise.resolve([]);
    const first = this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
    return first;
  }

  /** A pass unless one is still running. */
  private tick(): Promise<PruneResult[]> {
    this.running ??= this.runOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass over every connection with a period; a failing connection does not stop the rest. */
  async runOnce(): Promise<PruneResult[]> {
    const results: PruneResult[] = [];
    const nowUs = Math.round(this.now()) * 1000;
    for (const [connection, ms] of this.periods) {
      try {
        const r = await this.store.prune(nowUs - Math.round(ms * 1000), connection);
        results.push(r);
        if (r.recordId !== null) this.opts.onPrune?.(r);
      } catch (e) {
        this.opts.onError?.(e as Error, connection);
      }
    }
    return results;
  }
}
