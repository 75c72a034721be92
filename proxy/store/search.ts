// Search over the SQLite store: sessions by who, where, when and what was said, and statements by
// the words in them. Text goes through the statements_fts full-text index (schema.ts, version 3),
// a derived index the store keeps in step on append and prune; a read-only store of an older
// version has none and falls back to scanning statements with LIKE.
//
// Every query is bounded so that a store of millions of statements answers at once:
// - without text, one indexed query on sessions (newest first) plus a count on the same indexes;
// - with text, full-text matches are read newest first (FTS5 walks a term's doclist in rowid
//   order cheaply) until the page is full; the total is given when the matches ran out first.
//   When the filters leave few sessions, their record ranges (a session's statement records lie
//   between its open and close records) let most matches be skipped without a lookup.
// A full-text hit is a statement's record id: its session is the record's, its seq in the
// record's body.

import type Database from 'better-sqlite3';
import type { LiveStatement, SessionHit, SessionSearch } from '../../shared/api.js';
import type { SessionInfo, StatementRecord } from '../../shared/types.js';
import type { SessionSearchPage } from './types.js';

type Row = Record<string, unknown>;

/** With text, the filters' sessions are gathered first (and matches checked against them) up to this many. */
const CANDIDATE_LIMIT = 5000;
/** Matches read (newest first) before a text search stops looking for more sessions. */
const SCAN_LIMIT = 2_000_000;
/** Sessions looked up per text search before it stops (the rest are "more"). */
const LOOKUP_LIMIT = 100_000;
/** Characters of a matching statement returned with a session hit. */
const MATCH_CHARS = 400;

/** The seq of the statement a `statement` record `r` states (its JSON body). */
const SEQ_OF_RECORD = "json_extract(CAST(r.body AS TEXT), '$.statement.seq')";

const TOKEN = /[\p{L}\p{N}\p{Co}]+/gu;
const ENDS_IN_TOKEN = /[\p{L}\p{N}\p{Co}]$/u;

/**
 * A full-text query for FTS5 from what a person typed: every whitespace-separated word must
 * appear (a word like `public.customers` or `c42@example.com` is a phrase of its tokens, as the
 * tokenizer splits it), and the last word may be the start of a longer one (search as you type).
 * Null when the text has nothing to search for.
 */
export function ftsQuery(text: string): string | null {
  const words = text.split(/\s+/).filter((w) => w !== '');
  const phrases: string[] = [];
  words.forEach((w, i) => {
    const tokens = w.match(TOKEN);
    if (!tokens) return;
    const lastToken = tokens[tokens.length - 1];
    const prefix = i === words.length - 1 && ENDS_IN_TOKEN.test(w) && lastToken.length >= 2;
    // Tokens hold no quotes: the phrase needs no escaping.
    phrases.push(`"${tokens.join(' ')}"${prefix ? '*' : ''}`);
  });
  return phrases.length > 0 ? phrases.join(' AND ') : null;
}

/** LIKE patterns (ESCAPE '\') for the words of `text`: the fallback without a full-text index. */
export function likePatterns(text: string): string[] {
  return text
    .split(/\s+/)
    .filter((w) => w !== '')
    .map((w) => `%${w.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
}

/** Sessions with blocked / held / failed statements, through version 3's partial indexes when there. */
function flagConditions(indexed: boolean) {
  const by = (index: string) => (indexed ? ` INDEXED BY ${index}` : '');
  const exists = (index: string, cond: string) =>
    `EXISTS (SELECT 1 FROM statements st${by(index)} WHERE st.session_id = s.id AND ${cond})`;
  return {
    hasBlocked: exists('statements_blocked', "st.decision = 'block'"),
    hasHeld: exists('statements_held', "st.decision = 'review'"),
    hasErrors: exists('statements_failed', 'st.error_code IS NOT NULL'),
  } as const;
}

const FILTER_CONDITIONS = {
  identity: 's.identity = @identity',
  connection: 's.connection = @connection',
  since: 's.started_at >= @since',
  until: 's.started_at <= @until',
} as const;

interface Conditions {
  key: string;
  where: string;
  params: Row;
}

function conditions(q: SessionSearch, indexed: boolean): Conditions {
  const parts: string[] = [];
  const keys: string[] = [];
  const params: Row = {};
  for (const k of Object.keys(FILTER_CONDITIONS) as (keyof typeof FILTER_CONDITIONS)[]) {
    if (q[k] === undefined || q[k] === null) continue;
    parts.push(FILTER_CONDITIONS[k]);
    keys.push(k);
    params[k] = q[k];
  }
  const flags = flagConditions(indexed);
  for (const k of Object.keys(flags) as (keyof typeof flags)[]) {
    if (q[k] !== true) continue;
    parts.push(flags[k]);
    keys.push(k);
  }
  return { key: keys.join(','), where: parts.length ? parts.join(' AND ') : '1', params };
}

export class StoreSearch {
  private readonly cache = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    /** Whether the file has the full-text index (schema version 3 or later). */
    readonly fts: boolean,
    private readonly toSession: (r: Row) => SessionInfo,
    private readonly toStatement: (r: Row) => StatementRecord,
  ) {}

  private stmt(key: string, sql: () => string): Database.Statement {
    let s = this.cache.get(key);
    if (!s) {
      s = this.db.prepare(sql());
      this.cache.set(key, s);
    }
    return s;
  }

  sessions(q: SessionSearch): SessionSearchPage {
    const limit = q.limit ?? 50;
    const offset = q.offset ?? 0;
    const c = conditions(q, this.fts);
    const text = q.text?.trim() ?? '';
    if (text === '') {
      const rows = this.stmt(
        `list:${c.key}`,
        () =>
          `SELECT s.* FROM sessions s WHERE ${c.where}
           ORDER BY s.started_at DESC, s.open_record_id DESC LIMIT @limit OFFSET @offset`,
      ).all({ ...c.params, limit: limit + 1, offset }) as Row[];
      const total = this.stmt(`count:${c.key}`, () => `SELECT count(*) FROM sessions s WHERE ${c.where}`)
        .pluck()
        .get(c.params) as number;
      return {
        sessions: rows.slice(0, limit).map((r) => this.hit(r, null)),
        total,
        more: rows.length > limit,
      };
    }
    const fts = this.fts ? ftsQuery(text) : null;
    const likes = this.fts ? [] : likePatterns(text);
    if (fts === null && likes.length === 0) return { sessions: [], total: 0, more: false };
    let candidates: Row[] | null = null;
    if (c.key !== '') {
      const rows = this.stmt(
        `candidates:${c.key}`,
        () => `SELECT s.id, s.open_record_id, s.close_record_id FROM sessions s WHERE ${c.where} LIMIT @n`,
      ).all({ ...c.params, n: CANDIDATE_LIMIT + 1 }) as Row[];
      if (rows.length === 0) return { sessions: [], total: 0, more: false };
      if (rows.length <= CANDIDATE_LIMIT) candidates = rows;
    }
    // Matches newest first, as [record id, session id | null (look it up)].
    const matches: Iterable<[number, string | null]> =
      fts !== null ? this.ftsMatches(fts, candidates) : this.likeMatches(likes);
    const inCandidates = candidates ? new Set(candidates.map((r) => r.id as string)) : null;
    const check = this.stmt(
      `check:${c.key}`,
      () => `SELECT s.* FROM sessions s WHERE s.id = @id AND ${c.where}`,
    );
    const byId = this.stmt('session-by-id', () => 'SELECT * FROM sessions WHERE id = ?');
    const sessionOf = this.stmt(
      'session-of-record',
      () => 'SELECT session_id FROM records WHERE id = ?',
    ).pluck();
    const seen = new Set<string>();
    const page: SessionHit[] = [];
    let matched = 0;
    let scanned = 0;
    let exhausted = true;
    for (const [record, known] of matches) {
      if (++scanned > SCAN_LIMIT || seen.size >= LOOKUP_LIMIT) {
        exhausted = false;
        break;
      }
      const id = known ?? (sessionOf.get(record) as string | undefined);
      if (id === undefined || seen.has(id)) continue;
      seen.add(id);
      let row: Row | undefined;
      if (inCandidates) {
        if (!inCandidates.has(id)) continue;
      } else {
        row = check.get({ ...c.params, id }) as Row | undefined;
        if (!row) continue;
      }
      // Only the sessions of this page are completed (counts, matching statement).
      if (matched >= offset && matched < offset + limit)
        page.push(this.hit(row ?? (byId.get(id) as Row), record));
      matched++;
      if (matched > offset + limit) {
        exhausted = false;
        break;
      }
    }
    return { sessions: page, total: exhausted ? matched : null, more: !exhausted };
  }

  /**
   * Full-text matches, newest first. With candidate sessions, only matches inside their record
   * ranges are yielded (their session still to be checked: ranges of concurrent sessions overlap).
   */
  private *ftsMatches(match: string, candidates: Row[] | null): Generator<[number, string | null]> {
    if (!candidates) {
      const all = this.stmt(
        'matches',
        () =>
          `SELECT statements_fts.rowid, r.session_id FROM statements_fts JOIN records r ON r.id = statements_fts.rowid
           WHERE statements_fts MATCH @match ORDER BY statements_fts.rowid DESC`,
      ).raw();
      for (const [rowid, sid] of all.iterate({ match }) as Iterable<[number, string]>) yield [rowid, sid];
      return;
    }
    const ranges = mergeRanges(
      candidates.map((r) => [
        r.open_record_id as number,
        (r.close_record_id as number | null) ?? Number.MAX_SAFE_INTEGER,
      ]),
    );
    const inRange = this.stmt(
      'matches-in-range',
      () =>
        `SELECT rowid FROM statements_fts WHERE statements_fts MATCH @match AND rowid >= @lo AND rowid <= @hi
         ORDER BY rowid DESC`,
    ).pluck();
    let i = 0;
    const rows = inRange.iterate({
      match,
      lo: ranges[ranges.length - 1][0],
      hi: ranges[0][1],
    }) as Iterable<number>;
    for (const rowid of rows) {
      while (i < ranges.length && ranges[i][0] > rowid) i++;
      if (i === ranges.length) return;
      if (rowid <= ranges[i][1]) yield [rowid, null];
    }
  }

  /** Without a full-text index: statements whose SQL holds every word (LIKE), newest first. */
  private *likeMatches(likes: string[]): Generator<[number, string | null]> {
    const stmt = this.stmt(
      `matches-like:${likes.length}`,
      () =>
        `SELECT record_id, session_id FROM statements WHERE ${likeWhere(likes.length)} ORDER BY record_id DESC`,
    ).raw();
    for (const [record, sid] of stmt.iterate(likeParams(likes)) as Iterable<[number, string]>)
      yield [record, sid];
  }

  /**
   * The newest `limit` statements across sessions, newest first, in one query: the newest
   * statement records (the chain's order is the order they were recorded) walked back by id, each
   * joined to its projection row and its session.
   */
  recent(limit: number): LiveStatement[] {
    const rows = this.stmt(
      'recent',
      () =>
        `SELECT st.*, s.identity AS s_identity, s.connection AS s_connection
         FROM (SELECT r.session_id AS sid, ${SEQ_OF_RECORD} AS seq FROM records r
               WHERE r.kind = 'statement' ORDER BY r.id DESC LIMIT @limit) k
         JOIN statements st ON st.session_id = k.sid AND st.seq = k.seq
         JOIN sessions s ON s.id = st.session_id
         ORDER BY st.started_at DESC, st.seq DESC`,
    ).all({ limit }) as Row[];
    return rows.map((r) => ({
      ...this.toStatement(r),
      identity: r.s_identity as string,
      connection: r.s_connection as string,
    }));
  }

  statements(text: string, limit: number, offset: number): { statements: LiveStatement[]; more: boolean } {
    const t = text.trim();
    let rows: Row[];
    if (this.fts) {
      const match = ftsQuery(t);
      if (match === null) return { statements: [], more: false };
      const keys = this.stmt(
        'statement-matches',
        () =>
          `SELECT r.session_id AS session_id, ${SEQ_OF_RECORD} AS seq
           FROM statements_fts JOIN records r ON r.id = statements_fts.rowid
           WHERE statements_fts MATCH @match ORDER BY statements_fts.rowid DESC LIMIT @limit OFFSET @offset`,
      ).all({ match, limit: limit + 1, offset }) as Row[];
      const one = this.stmt(
        'statement-by-key',
        () => 'SELECT * FROM statements WHERE session_id = ? AND seq = ?',
      );
      rows = keys.map((k) => one.get(k.session_id, Number(k.seq)) as Row).filter((r) => r !== undefined);
    } else {
      const likes = likePatterns(t);
      if (likes.length === 0) return { statements: [], more: false };
      rows = this.stmt(
        `statements-like:${likes.length}`,
        () =>
          `SELECT * FROM statements WHERE ${likeWhere(likes.length)}
           ORDER BY record_id DESC LIMIT @limit OFFSET @offset`,
      ).all({ ...likeParams(likes), limit: limit + 1, offset }) as Row[];
    }
    const who = this.stmt('who', () => 'SELECT identity, connection FROM sessions WHERE id = ?');
    const known = new Map<string, Row>();
    const statements = rows.slice(0, limit).map((r) => {
      const id = r.session_id as string;
      let w = known.get(id);
      if (!w) {
        w = (who.get(id) as Row | undefined) ?? { identity: '?', connection: '?' };
        known.set(id, w);
      }
      return { ...this.toStatement(r), identity: w.identity as string, connection: w.connection as string };
    });
    return { statements, more: rows.length > limit };
  }

  /** A session found, with its statement counts and (for a text search) its matching statement's record. */
  private hit(r: Row, matchRecord: number | null): SessionHit {
    const s = this.toSession(r);
    const counts = this.stmt(
      'counts',
      () =>
        `SELECT (SELECT count(*) FROM statements WHERE session_id = @id AND decision = 'block') AS blocked,
                (SELECT count(*) FROM statements WHERE session_id = @id AND decision = 'review') AS held,
                (SELECT count(*) FROM statements WHERE session_id = @id AND error_code IS NOT NULL) AS errors`,
    ).get({ id: s.id }) as Row;
    let match: SessionHit['match'] = null;
    if (matchRecord !== null) {
      const m = this.stmt(
        'match',
        () =>
          `SELECT seq, substr(sql, 1, ${MATCH_CHARS}) AS sql, first_frame FROM statements
           WHERE session_id = @id AND seq = (SELECT ${SEQ_OF_RECORD} FROM records r WHERE r.id = @record)`,
      ).get({ id: s.id, record: matchRecord }) as Row | undefined;
      if (m) match = { seq: m.seq as number, sql: m.sql as string, firstFrame: m.first_frame as number };
    }
    return {
      ...s,
      blocked: counts.blocked as number,
      held: counts.held as number,
      errors: counts.errors as number,
      match,
    };
  }
}

/** Ranges [lo, hi] merged where they overlap, highest first. */
export function mergeRanges(ranges: [number, number][]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => b[1] - a[1]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && hi >= last[0] - 1) last[0] = Math.min(last[0], lo);
    else out.push([lo, hi]);
  }
  return out;
}

function likeWhere(n: number): string {
  return Array.from({ length: n }, (_, i) => `sql LIKE @w${i} ESCAPE '\\'`).join(' AND ');
}

function likeParams(patterns: string[]): Row {
  return Object.fromEntries(patterns.map((p, i) => [`w${i}`, p]));
}
