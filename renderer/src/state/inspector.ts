// The live inspector's slice. Statements arrive at thousands per second, so they are not kept in
// React state: a StatementBuffer (plain arrays, mutated in place) holds them and the slice only
// publishes counters and a `version` that changes once per batch. Components subscribe to
// `version` and read the buffer through a ref; the list renders only the rows in view.

import type { StateCreator } from 'zustand/vanilla';
import type { BastionApi, LiveStatement } from '../../../shared/api.js';
import { compileFilter, EMPTY_FILTER, type InspectorFilter, statementKey } from './filter.js';
import type { AppState } from './store.js';

/** Statements kept in memory; the oldest go first. Everything is in the store anyway. */
export const MAX_STATEMENTS = 50_000;
/** How many the inspector loads at start (the newest). */
export const BACKFILL = 2_000;

export type InspectorOrder = 'newest' | 'tail';

export class StatementBuffer {
  /** Oldest first, in arrival order. */
  all: LiveStatement[] = [];
  /** The statements that match the filter, oldest first. */
  view: LiveStatement[] = [];
  /** Received while paused, not yet in `all`. */
  pending: LiveStatement[] = [];
  readonly byKey = new Map<string, LiveStatement>();
  readonly identities = new Set<string>();
  readonly connections = new Set<string>();
  /** Counts statements ever appended to `view` (lists use the difference to keep their place). */
  viewSerial = 0;
  /** Changes when `view` is rebuilt (filter, backfill, clear): lists go back to the live edge. */
  viewEpoch = 0;
  private match: (s: LiveStatement) => boolean = () => true;

  constructor(readonly capacity = MAX_STATEMENTS) {}

  setFilter(f: InspectorFilter): void {
    this.match = compileFilter(f);
    this.view = this.all.filter(this.match);
    this.viewEpoch++;
  }

  /** Appends new statements (skipping ones already here); returns whether anything was added. */
  append(list: readonly LiveStatement[]): boolean {
    let added = false;
    for (const s of list) {
      const key = statementKey(s);
      if (this.byKey.has(key)) continue;
      this.byKey.set(key, s);
      this.all.push(s);
      this.identities.add(s.identity);
      this.connections.add(s.connection);
      if (this.match(s)) {
        this.view.push(s);
        this.viewSerial++;
      }
      added = true;
    }
    if (this.all.length > this.capacity * 1.1) this.trim();
    return added;
  }

  /** Merges older statements (a backfill) in time order. */
  merge(list: readonly LiveStatement[]): void {
    const fresh = list.filter((s) => !this.byKey.has(statementKey(s)));
    if (fresh.length === 0) return;
    for (const s of fresh) {
      this.byKey.set(statementKey(s), s);
      this.identities.add(s.identity);
      this.connections.add(s.connection);
    }
    this.all = [...fresh, ...this.all].sort((a, b) => a.startedAt - b.startedAt);
    this.trim();
    this.view = this.all.filter(this.match);
    this.viewEpoch++;
  }

  private trim(): void {
    if (this.all.length <= this.capacity) return;
    const drop = this.all.length - this.capacity;
    for (let i = 0; i < drop; i++) this.byKey.delete(statementKey(this.all[i]!));
    this.all = this.all.slice(drop);
    // The view is a subsequence of `all`: drop its entries that are no longer there.
    let cut = 0;
    while (cut < this.view.length && !this.byKey.has(statementKey(this.view[cut]!))) cut++;
    if (cut > 0) this.view = this.view.slice(cut);
  }

  clear(): void {
    this.all = [];
    this.view = [];
    this.pending = [];
    this.byKey.clear();
    this.viewEpoch++;
  }
}

export interface InspectorState {
  /** Changes whenever the rows (or their order/filter) change. */
  version: number;
  /** Statements held (all, matching or not). */
  total: number;
  /** Statements matching the filter. */
  shown: number;
  paused: boolean;
  /** Arrived while paused (shown on resume). */
  backlog: number;
  order: InspectorOrder;
  filter: InspectorFilter;
  /** statementKey of the statement whose detail is open. */
  selected: string | null;
  /** Identities and connections seen, for the filter menus. */
  identities: string[];
  connections: string[];
  /** Statements per second, over the last second or so. */
  rate: number;
  loaded: boolean;
}

export interface InspectorSlice {
  inspector: InspectorState;
  /** Not reactive: read it when `inspector.version` changes. */
  statements: StatementBuffer;
  ingestStatements(batch: readonly LiveStatement[]): void;
  loadRecentStatements(): Promise<void>;
  setFilter(patch: Partial<InspectorFilter>): void;
  setPaused(paused: boolean): void;
  setOrder(order: InspectorOrder): void;
  selectStatement(key: string | null): void;
  clearStatements(): void;
  /** Updates the rate when nothing arrives (call every second or so). */
  tickRate(): void;
}

export function createInspectorSlice(
  api: Pick<BastionApi, 'recentStatements'>,
  now: () => number = Date.now,
): StateCreator<AppState, [], [], InspectorSlice> {
  const buffer = new StatementBuffer();
  let windowStart = now();
  let windowCount = 0;

  return (set, get) => {
    const publish = (extra: Partial<InspectorState> = {}) => {
      const s = get().inspector;
      const identities =
        buffer.identities.size !== s.identities.length ? [...buffer.identities].sort() : s.identities;
      const connections =
        buffer.connections.size !== s.connections.length ? [...buffer.connections].sort() : s.connections;
      set({
        inspector: {
          ...s,
          ...extra,
          version: s.version + 1,
          total: buffer.all.length,
          shown: buffer.view.length,
          backlog: buffer.pending.length,
          identities,
          connections,
        },
      });
    };

    return {
      statements: buffer,
      inspector: {
        version: 0,
        total: 0,
        shown: 0,
        paused: false,
        backlog: 0,
        order: 'newest',
        filter: EMPTY_FILTER,
        selected: null,
        identities: [],
        connections: [],
        rate: 0,
        loaded: false,
      },

      ingestStatements(batch) {
        if (batch.length === 0) return;
        windowCount += batch.length;
        const t = now();
        let rate: number | undefined;
        if (t - windowStart >= 1000) {
          rate = Math.round((windowCount * 1000) / (t - windowStart));
          windowStart = t;
          windowCount = 0;
        }
        if (get().inspector.paused) {
          buffer.pending.push(...batch);
          if (buffer.pending.length > buffer.capacity)
            buffer.pending.splice(0, buffer.pending.length - buffer.capacity);
          const s = get().inspector;
          set({ inspector: { ...s, backlog: buffer.pending.length, rate: rate ?? s.rate } });
          return;
        }
        buffer.append(batch);
        publish(rate === undefined ? {} : { rate });
      },

      async loadRecentStatements() {
        const recent = await api.recentStatements(BACKFILL);
        buffer.merge(recent);
        publish({ loaded: true });
      },

      setFilter(patch) {
        const filter = { ...get().inspector.filter, ...patch };
        buffer.setFilter(filter);
        publish({ filter });
      },

      setPaused(paused) {
        if (paused === get().inspector.paused) return;
        if (!paused) {
          const held = buffer.pending;
          buffer.pending = [];
          buffer.append(held);
        }
        publish({ paused });
      },

      setOrder(order) {
        publish({ order });
      },

      selectStatement(key) {
        set({ inspector: { ...get().inspector, selected: key } });
      },

      clearStatements() {
        buffer.clear();
        publish({ selected: null });
      },

      tickRate() {
        const t = now();
        if (t - windowStart < 1000) return;
        const rate = Math.round((windowCount * 1000) / (t - windowStart));
        windowStart = t;
        windowCount = 0;
        if (rate !== get().inspector.rate) set({ inspector: { ...get().inspector, rate } });
      },
    };
  };
}
