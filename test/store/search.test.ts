// Search over the store (schema version 3): full-text over statements, sessions by who, where,
// when and what was said, paging, the index kept in step by prune, the migration from version 2,
// the LIKE fallback of an older read-only store, and policy changes as chained records.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { SCHEMA_VERSION } from '../../proxy/store/schema.js';
import { ftsQuery, likePatterns } from '../../proxy/store/search.js';
import { openSqliteStore, type SqliteSessionStore } from '../../proxy/store/sqlite-store.js';
import type { StoreEntry } from '../../proxy/store/types.js';
import { STATEMENT_MARK } from '../../shared/api.js';
import { chunk, frame, session, statement, tempStorePath } from './fixtures.js';

const T0 = 1_750_000_000_000_000;
const SEC = 1_000_000;
const id = (n: number) => `5e55${String(n).padStart(4, '0')}-0000-4000-8000-000000000000`;

/**
 * Six sessions: agent-1 on app (1, 3, 5), agent-2 on app (2), agent-2 on reporting (4, 6).
 * Session 2 has a blocked statement, 3 a held one, 5 an error; words are spread so each search
 * below has a known answer.
 */
function populated(): { store: SqliteSessionStore; path: string } {
  const path = tempStorePath();
  const store = openSqliteStore(path);
  const entries: StoreEntry[] = [];
  for (let n = 1; n <= 6; n++) {
    entries.push({
      kind: 'session_open',
      session: session(id(n), {
        identity: n % 2 === 0 ? 'agent-2' : 'agent-1',
        connection: n === 4 || n === 6 ? 'reporting' : 'app',
        startedAt: T0 + n * 60 * SEC,
      }),
    });
  }
  const sql: Record<number, string[]> = {
    1: ['select * from customers where id = 1', "select email from customers where country = 'FR'"],
    2: ['select count(*) from orders', 'drop table orders'],
    3: ['delete from invoices', 'select 1'],
    4: ['select sum(total) from orders group by customer_id', 'SELECT name FROM public.customers'],
    5: ['select * from invoicez', "update customers set email = 'x@example.com' where id = 7"],
    6: ['select now()'],
  };
  for (let n = 1; n <= 6; n++) {
    sql[n].forEach((text, i) => {
      const seq = i + 1;
      entries.push({
        kind: 'statement',
        statement: statement(id(n), seq, {
          sql: text,
          startedAt: T0 + n * 60 * SEC + seq * SEC,
          decision: n === 2 && seq === 2 ? 'block' : n === 3 && seq === 1 ? 'review' : 'allow',
          rule: n === 2 && seq === 2 ? 'no-drop' : null,
          errorCode: n === 5 && seq === 1 ? '42P01' : null,
          errorMessage: n === 5 && seq === 1 ? 'relation "invoicez" does not exist' : null,
          firstFrame: seq * 10,
          lastFrame: seq * 10 + 4,
        }),
      });
    });
    if (n !== 6) {
      entries.push({
        kind: 'session_close',
        sessionId: id(n),
        endedAt: T0 + n * 60 * SEC + 30 * SEC,
        endReason: 'client terminated',
      });
    }
  }
  store.append(entries);
  return { store, path };
}

describe('full-text queries', () => {
  test('words become phrases of their tokens, the last one a prefix', () => {
    assert.equal(ftsQuery('customers'), '"customers"*');
    assert.equal(ftsQuery('  public.customers  email '), '"public customers" AND "email"*');
    assert.equal(ftsQuery('c42@example.com'), '"c42 example com"*');
    assert.equal(ftsQuery('where id ='), '"where" AND "id"');
    assert.equal(ftsQuery('"drop" table;'), '"drop" AND "table"');
    assert.equal(ftsQuery('* = ;'), null);
    assert.equal(ftsQuery('x'), '"x"');
    assert.deepEqual(likePatterns('50%_off a\\b'), ['%50\\%\\_off%', '%a\\\\b%']);
  });
});

describe('search', () => {
  const { store } = populated();

  test('statements by a word, newest first, with who and where', () => {
    const r = store.searchStatements('customers', 10);
    assert.deepEqual(
      r.statements.map((s) => [s.sessionId, s.seq, s.identity, s.connection]),
      [
        [id(5), 2, 'agent-1', 'app'],
        [id(4), 2, 'agent-2', 'reporting'],
        [id(1), 2, 'agent-1', 'app'],
        [id(1), 1, 'agent-1', 'app'],
      ],
    );
    assert.equal(r.more, false);
    // Case, a prefix (customers, and customer_id), a dotted name, an e-mail address.
    assert.equal(store.searchStatements('CUSTOM', 10).statements.length, 5);
    assert.deepEqual(
      store.searchStatements('public.customers', 10).statements.map((s) => s.sessionId),
      [id(4)],
    );
    assert.deepEqual(
      store.searchStatements('x@example.com', 10).statements.map((s) => s.sql),
      ["update customers set email = 'x@example.com' where id = 7"],
    );
    // Every word must be there.
    assert.deepEqual(
      store.searchStatements('email country', 10).statements.map((s) => [s.sessionId, s.seq]),
      [[id(1), 2]],
    );
    assert.deepEqual(store.searchStatements('nothing-like-this', 10).statements, []);
    // Paging.
    const p1 = store.searchStatements('customers', 3);
    const p2 = store.searchStatements('customers', 3, 3);
    assert.equal(p1.more, true);
    assert.deepEqual(
      p2.statements.map((s) => [s.sessionId, s.seq]),
      [[id(1), 1]],
    );
    assert.equal(p2.more, false);
  });

  test('sessions newest first with filters, counts and totals', () => {
    const all = store.searchSessions({});
    assert.deepEqual(
      all.sessions.map((s) => s.id),
      [6, 5, 4, 3, 2, 1].map(id),
    );
    assert.equal(all.total, 6);
    assert.equal(all.more, false);
    assert.deepEqual(
      all.sessions.map((s) => [s.blocked, s.held, s.errors, s.match]),
      [
        [0, 0, 0, null],
        [0, 0, 1, null],
        [0, 0, 0, null],
        [0, 1, 0, null],
        [1, 0, 0, null],
        [0, 0, 0, null],
      ],
    );
    const ids = (q: Parameters<typeof store.searchSessions>[0]) =>
      store.searchSessions(q).sessions.map((s) => s.id);
    assert.deepEqual(ids({ identity: 'agent-2' }), [6, 4, 2].map(id));
    assert.deepEqual(ids({ connection: 'reporting' }), [6, 4].map(id));
    assert.deepEqual(ids({ since: T0 + 2 * 60 * SEC, until: T0 + 4 * 60 * SEC }), [4, 3, 2].map(id));
    assert.deepEqual(ids({ hasBlocked: true }), [id(2)]);
    assert.deepEqual(ids({ hasHeld: true }), [id(3)]);
    assert.deepEqual(ids({ hasErrors: true }), [id(5)]);
    assert.deepEqual(ids({ hasErrors: true, identity: 'agent-2' }), []);
    const page = store.searchSessions({ limit: 2, offset: 2 });
    assert.deepEqual(
      page.sessions.map((s) => s.id),
      [4, 3].map(id),
    );
    assert.equal(page.total, 6);
    assert.equal(page.more, true);
  });

  test('sessions by what was said, with the newest matching statement', () => {
    // No other filter: matches are read newest first.
    const r = store.searchSessions({ text: 'customers' });
    assert.deepEqual(
      r.sessions.map((s) => [s.id, s.match?.seq, s.match?.firstFrame]),
      [
        [id(5), 2, 20],
        [id(4), 2, 20],
        [id(1), 2, 20],
      ],
    );
    assert.equal(r.total, 3);
    assert.equal(r.sessions[0].match?.sql, "update customers set email = 'x@example.com' where id = 7");
    // With filters: each candidate session is probed.
    const agent1 = store.searchSessions({ text: 'customers', identity: 'agent-1' });
    assert.deepEqual(
      agent1.sessions.map((s) => [s.id, s.match?.seq]),
      [
        [id(5), 2],
        [id(1), 2],
      ],
    );
    assert.equal(agent1.total, 2);
    assert.deepEqual(
      store.searchSessions({ text: 'orders', hasBlocked: true }).sessions.map((s) => s.id),
      [id(2)],
    );
    // Paging over text results, both ways.
    const first = store.searchSessions({ text: 'select', limit: 2 });
    assert.equal(first.sessions.length, 2);
    assert.equal(first.more, true);
    assert.equal(first.total, null);
    const rest = store.searchSessions({ text: 'select', limit: 10, offset: 2 });
    assert.equal(rest.more, false);
    assert.deepEqual(
      [...first.sessions, ...rest.sessions].map((s) => s.id).sort(),
      [1, 2, 3, 4, 5, 6].map(id),
    );
    const probed = store.searchSessions({ text: 'select', connection: 'app', limit: 2, offset: 2 });
    assert.equal(probed.total, 4);
    assert.equal(probed.sessions.length, 2);
    assert.equal(probed.more, false);
    assert.deepEqual(store.searchSessions({ text: '***' }), { sessions: [], total: 0, more: false });
  });

  test('statement pages, timeline marks and frame counts for the replayer', () => {
    assert.deepEqual(
      store.statementsPage(id(2), 2, 10).map((s) => s.sql),
      ['drop table orders'],
    );
    assert.deepEqual(store.statementMarks(id(2)), [1, 10, 14, 0, 2, 20, 24, STATEMENT_MARK.blocked]);
    assert.deepEqual(store.statementMarks(id(3)).slice(0, 4), [1, 10, 14, STATEMENT_MARK.held]);
    assert.deepEqual(store.statementMarks(id(5)).slice(0, 4), [1, 10, 14, STATEMENT_MARK.error]);
    assert.equal(store.frameCount(id(1)), 0);
    store.append([
      chunk(id(6), 1, 'client', 0, [frame(0x51, 'select now()\0')]),
      chunk(id(6), 2, 'server', 10, [frame(0x43, 'SELECT 1\0'), frame(0x5a, 'I')]),
    ]);
    assert.equal(store.frameCount(id(6)), 3);
    assert.equal(store.verify().ok, true);
  });
});

describe('the full-text index follows retention', () => {
  test('pruned sessions are no longer found', () => {
    const { store } = populated();
    assert.equal(store.searchStatements('invoices', 10).statements.length, 1);
    const r = store.prune(T0 + 3 * 60 * SEC + 31 * SEC); // sessions 1-3 ended before
    assert.equal(r.sessions, 3);
    assert.deepEqual(store.searchStatements('invoices', 10).statements, []);
    assert.deepEqual(
      store.searchStatements('customers', 10).statements.map((s) => s.sessionId),
      [id(5), id(4)],
    );
    assert.deepEqual(
      store.searchSessions({ text: 'customers' }).sessions.map((s) => s.id),
      [id(5), id(4)],
    );
    assert.equal(store.verify().ok, true);
    store.close();
  });
});

/** Makes a version 3 file what version 2 left (no search index, no policy changes). */
function downgradeToV2(path: string): void {
  const db = new Database(path);
  db.exec(`
    DROP TABLE statements_fts;
    DROP INDEX statements_blocked;
    DROP INDEX statements_held;
    DROP INDEX statements_failed;
    DROP TABLE policy_changes;
    PRAGMA user_version = 2;
  `);
  db.close();
}

describe('a store of schema version 2', () => {
  test('read-only: searched by scanning, unchanged', () => {
    const { store, path } = populated();
    store.close();
    downgradeToV2(path);
    const ro = openSqliteStore(path, { readonly: true });
    assert.equal(ro.fts, false);
    assert.deepEqual(
      ro.searchStatements('customers', 10).statements.map((s) => [s.sessionId, s.seq]),
      [
        [id(5), 2],
        [id(4), 2],
        [id(1), 2],
        [id(1), 1],
      ],
    );
    assert.deepEqual(
      ro.searchSessions({ text: 'customers' }).sessions.map((s) => [s.id, s.match?.seq]),
      [
        [id(5), 2],
        [id(4), 2],
        [id(1), 2],
      ],
    );
    assert.deepEqual(
      ro.searchSessions({ text: 'customers', identity: 'agent-2' }).sessions.map((s) => s.id),
      [id(4)],
    );
    assert.deepEqual(ro.policyChanges(), []);
    assert.equal(ro.verify().ok, true);
    ro.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 2);
    db.close();
  });

  test('migrates to version 3 when opened for writing and indexes what was there', () => {
    const { store, path } = populated();
    store.close();
    downgradeToV2(path);
    const rw = openSqliteStore(path);
    assert.equal(rw.fts, true);
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    db.close();
    assert.equal(rw.searchStatements('customers', 10).statements.length, 4);
    assert.equal(rw.verify().ok, true);
    rw.close();
  });
});

describe('policy changes', () => {
  const change = (at: number, by: string, yaml: string) => ({
    kind: 'policy_change' as const,
    change: { at, by, summary: 'default changed', diff: `+${yaml}`, yaml },
  });

  test('are chained records with a verified projection, newest first', () => {
    const { store, path } = populated();
    store.append([change(T0 + 100 * SEC, 'dana', 'default: {}\n')]);
    store.append([change(T0 + 200 * SEC, 'eve', 'default: { read_only: true }\n')]);
    const list = store.policyChanges();
    assert.deepEqual(
      list.map((c) => [c.by, c.at, c.summary]),
      [
        ['eve', T0 + 200 * SEC, 'default changed'],
        ['dana', T0 + 100 * SEC, 'default changed'],
      ],
    );
    assert.equal(store.getPolicyChange(list[0].id)?.yaml, 'default: { read_only: true }\n');
    assert.equal(store.getPolicyChange(999), undefined);
    assert.deepEqual(store.verify(), { ok: true, records: store.chainHead.id, head: store.chainHead.digest });
    assert.throws(() => store.append([change(T0, '', 'x')]), /change\.by must not be empty/);
    // Retention keeps them.
    store.prune(T0 + 10_000 * SEC);
    assert.equal(store.policyChanges().length, 2);
    assert.equal(store.verify().ok, true);
    const idOfEve = list[0].id;
    store.close();

    // A rewritten projection row is caught.
    const db = new Database(path);
    db.prepare("UPDATE policy_changes SET changed_by = 'mallory' WHERE id = ?").run(idOfEve);
    db.close();
    const again = openSqliteStore(path, { readonly: true });
    const v = again.verify();
    assert.equal(v.ok, false);
    assert.equal(v.firstBad?.id, idOfEve);
    assert.match(v.firstBad!.reason, /policy_changes row \d+ differs from record \d+ in by/);
    again.close();

    // A deleted one too: its record has no projection row.
    const db2 = new Database(path);
    db2.prepare('DELETE FROM policy_changes WHERE id = ?').run(idOfEve);
    db2.close();
    const third = openSqliteStore(path, { readonly: true });
    assert.match(third.verify().firstBad?.reason ?? '', /\(policy_change\) has no projection row/);
    third.close();
  });
});
