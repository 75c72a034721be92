// The Sessions screen's slice: find recorded sessions by who (identity), where (connection), when
// (a time range on the start) and what was said (full-text over their statements), or sessions
// with blocked, held or failed statements; or search the statements themselves. Paged by the
// store (searchSessions / searchStatements); only the page shown is held here.

import type { StateCreator } from 'zustand/vanilla';
import type {
  BastionApi,
  SessionSearch,
  SessionSearchResult,
  StatementSearchResult,
} from '../../../shared/api.js';
import type { AppState } from './store.js';

export const SESSIONS_PAGE = 50;

export type SessionsMode = 'sessions' | 'statements';

export interface SessionsQuery {
  /** Words that must appear in a statement (the last one may be the start of a word). */
  text: string;
  identity: string;
  connection: string;
  /** `datetime-local` values (local time), '' = open. */
  since: string;
  until: string;
  hasBlocked: boolean;
  hasHeld: boolean;
  hasErrors: boolean;
  mode: SessionsMode;
  /** 0-based. */
  page: number;
}

export const EMPTY_SESSIONS_QUERY: SessionsQuery = {
  text: '',
  identity: '',
  connection: '',
  since: '',
  until: '',
  hasBlocked: false,
  hasHeld: false,
  hasErrors: false,
  mode: 'sessions',
  page: 0,
};

export interface SessionsState {
  query: SessionsQuery;
  loading: boolean;
  error: string | null;
  /** The page shown (sessions mode). */
  result: SessionSearchResult | null;
  /** The page shown (statements mode). */
  statements: StatementSearchResult | null;
}

export interface SessionsSlice {
  sessions: SessionsState;
  /** Changes the query; any change but the page goes back to the first page. */
  setSessionsQuery(patch: Partial<SessionsQuery>): void;
  /** Runs the query (an older answer arriving late is dropped). */
  runSessionsSearch(): Promise<void>;
}

/** A `datetime-local` value (local time) as epoch microseconds; undefined when empty or invalid. */
export function localTimeToUs(value: string): number | undefined {
  if (value.trim() === '') return undefined;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms * 1000 : undefined;
}

export function toSessionSearch(q: SessionsQuery, pageSize = SESSIONS_PAGE): SessionSearch {
  const out: SessionSearch = { limit: pageSize, offset: q.page * pageSize };
  const text = q.text.trim();
  if (text) out.text = text;
  if (q.identity) out.identity = q.identity;
  if (q.connection) out.connection = q.connection;
  const since = localTimeToUs(q.since);
  // The end of a range names a minute: include all of it.
  const until = localTimeToUs(q.until);
  if (since !== undefined) out.since = since;
  if (until !== undefined) out.until = until + 59_999_999;
  if (q.hasBlocked) out.hasBlocked = true;
  if (q.hasHeld) out.hasHeld = true;
  if (q.hasErrors) out.hasErrors = true;
  return out;
}

/** "1–50 of 1,234", "51–100 of 100+" (total unknown), "No sessions". */
export function pageLabel(
  page: number,
  pageSize: number,
  shown: number,
  total: number | null,
  more: boolean,
  noun = 'sessions',
): string {
  if (shown === 0 && page === 0) return `No ${noun}`;
  const first = page * pageSize + 1;
  const last = page * pageSize + shown;
  const n = (x: number) => x.toLocaleString('en-US');
  const of = total !== null ? n(total) : more ? `${n(last)}+` : n(last);
  return shown === 0 ? `Nothing past ${n(page * pageSize)}` : `${n(first)}–${n(last)} of ${of}`;
}

export function isQueryEmpty(q: SessionsQuery): boolean {
  return (
    q.text.trim() === '' &&
    !q.identity &&
    !q.connection &&
    !q.since &&
    !q.until &&
    !q.hasBlocked &&
    !q.hasHeld &&
    !q.hasErrors
  );
}

export function createSessionsSlice(
  api: Pick<BastionApi, 'searchSessions' | 'searchStatements'>,
): StateCreator<AppState, [], [], SessionsSlice> {
  let serial = 0;
  return (set, get) => {
    const patch = (p: Partial<SessionsState>) => set({ sessions: { ...get().sessions, ...p } });
    return {
      sessions: { query: EMPTY_SESSIONS_QUERY, loading: false, error: null, result: null, statements: null },

      setSessionsQuery(p) {
        const cur = get().sessions.query;
        const next = { ...cur, ...p };
        const onlyPage = Object.keys(p).every((k) => k === 'page');
        if (!onlyPage && p.page === undefined) next.page = 0;
        patch({ query: next });
      },

      async runSessionsSearch() {
        const mine = ++serial;
        const q = get().sessions.query;
        patch({ loading: true, error: null });
        try {
          if (q.mode === 'statements') {
            const text = q.text.trim();
            const r = text
              ? await api.searchStatements(text, SESSIONS_PAGE, q.page * SESSIONS_PAGE)
              : { statements: [], more: false };
            if (mine === serial) patch({ loading: false, statements: r });
          } else {
            const r = await api.searchSessions(toSessionSearch(q));
            if (mine === serial) patch({ loading: false, result: r });
          }
        } catch (e) {
          if (mine === serial) patch({ loading: false, error: (e as Error).message });
        }
      },
    };
  };
}
