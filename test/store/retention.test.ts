// Retention: prune removes whole old sessions, records what it removed in a chained prune record,
// and the remaining chain still verifies; tampering around the gaps is still caught.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { GENESIS, recordDigest } from '../../proxy/store/chain.js';
import { PruneLedger, RetentionJob, removedRuns } from '../../proxy/store/retention.js';
import { openSqliteStore, type SqliteSessionStore } from '../../proxy/store/sqlite-store.js';
import type { PruneResult } from '../../proxy/store/types.js';
import { chunk, frame, session, statement, tempStorePath } from './fixtures.js';

const OLD_A = 'a0000000-0000-4000-8000-000000000001';
const NEW_B = 'b0000000-0000-4000-8000-000000000002';
const OLD_C = 'c0000000-0000-4000-8000-000000000003';
const OPEN_D = 'd0000000-0000-4000-8000-000000000004';

const T0 = 1_750_000_000_000_000;
const HOUR = 3_600_000_000;

/**
 * Four interleaved sessions (record ids on the right): A (app, ended at T0+1h), B (app, ended at
 * T0+5h), C (reports, ended at T0+2h), D (app, still open).
 */
function populated(): { path: string; store: SqliteSessionStore } {
  const path = tempStorePath();
  const store = openSqliteStore(path);
  store.append([
    { kind: 'session_open', session: session(OLD_A, { startedAt: T0 }) }, // 1
    { kind: 'session_open', session: session(NEW_B, { startedAt: T0 + 1 }) }, // 2
    chunk(OLD_A, 0, 'client', 10, [frame(0x51, 'SELECT 1\0')]), // 3
    chunk(OLD_A, 1, 'server', 20, [frame(0x43, 'SELECT 1\0')]), // 4
    { kind: 'statement', statement: statement(OLD_A, 1) }, // 5
    chunk(NEW_B, 0, 'client', 30, [frame(0x51, 'SELECT 2\0')]), // 6
    { kind: 'session_open', session: session(OLD_C, { startedAt: T0 + 2, connection: 'reports' }) }, // 7
    chunk(OLD_C, 0, 'client', 5, [frame(0x51, 'SELECT 3\0')]), // 8
    { kind: 'session_close', sessionId: OLD_A, endedAt: T0 + HOUR, endReason: 'client terminated' }, // 9
    { kind: 'statement', statement: statement(NEW_B, 1) }, // 10
    { kind: 'session_close', sessionId: OLD_C, endedAt: T0 + 2 * HOUR, endReason: 'client terminated' }, // 11
    { kind: 'session_open', session: session(OPEN_D, { startedAt: T0 + 3 }) }, // 12
    { kind: 'session_close', sessionId: NEW_B, endedAt: T0 + 5 * HOUR, endReason: 'client terminated' }, // 13
  ]);
  assert.equal(store.verify().ok, true);
  return { path, store };
}

function reopenVerify(path: string) {
  const ro = openSqliteStore(path, { readonly: true });
  try {
    return ro.verify();
  } finally {
    ro.close();
  }
}

function tamper(path: string, sql: string): void {
  const db = new Database(path);
  db.exec('DROP TRIGGER IF EXISTS records_no_update; DROP TRIGGER IF EXISTS records_no_delete;');
  db.exec(sql);
  db.close();
}

describe('prune', () => {
  test('removes whole sessions that ended before the cutoff, and the rest still verifies', () => {
    const { path, store } = populated();
    const r = store.prune(T0 + 3 * HOUR);
    assert.deepEqual(r, { recordId: 14, before: T0 + 3 * HOUR, connection: null, sessions: 2, records: 8 });
    assert.deepEqual(
      store.listSessions().map((s) => s.id),
      [OPEN_D, NEW_B],
    );
    assert.equal(store.getSession(OLD_A), undefined);
    assert.deepEqual(store.listStatements(OLD_A), []);
    assert.deepEqual(store.readFrames(OLD_A), []);
    assert.equal(store.readFrames(NEW_B).length, 1);
    const v = store.verify();
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.equal(v.records, 6); // 2, 6, 10, 12, 13 and the prune record
    assert.equal(reopenVerify(path).ok, true);

    const [p] = store.listPrunes();
    assert.equal(p.recordId, 14);
    assert.deepEqual(
      p.sessions.map((s) => [s.id, s.records, s.statements]),
      [
        [OLD_A, 5, 1],
        [OLD_C, 3, 0],
      ],
    );
    // Removed 1, 3-5, 7-9, 11: runs among the present records are 1 | 3..5 | 7..9 | 11.
    assert.deepEqual(
      p.ranges.map(([a, b]) => [a, b]),
      [
        [1, 1],
        [3, 5],
        [7, 9],
        [11, 11],
      ],
    );
    store.close();
  });

  test('the chain goes on after a prune; a second prune merges with the first gaps', () => {
    const { path, store } = populated();
    store.prune(T0 + 3 * HOUR, 'app'); // A only
    store.append([{ kind: 'statement', statement: statement(OPEN_D, 1) }]); // 15
    assert.equal(store.verify().ok, true);
    const r = store.prune(T0 + 3 * HOUR); // C now (reports)
    assert.equal(r.sessions, 1);
    store.append([{ kind: 'session_close', sessionId: OPEN_D, endedAt: T0 + 6 * HOUR, endReason: 'x' }]);
    const r3 = store.prune(T0 + 10 * HOUR); // B and D: everything but the prune records
    assert.equal(r3.sessions, 2);
    assert.deepEqual(store.listSessions(), []);
    const v = store.verify();
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.equal(v.records, 3);
    assert.equal(store.listPrunes().length, 3);
    store.close();
    assert.equal(reopenVerify(path).ok, true);
  });

  test('only closed sessions of the given connection are removed; nothing old enough writes nothing', () => {
    const { store } = populated();
    assert.deepEqual(store.prune(T0, 'app'), {
      recordId: null,
      before: T0,
      connection: 'app',
      sessions: 0,
      records: 0,
    });
    assert.equal(store.listPrunes().length, 0);
    const r = store.prune(T0 + 100 * HOUR, 'reports');
    assert.equal(r.sessions, 1);
    assert.equal(store.getSession(OLD_C), undefined);
    assert.ok(store.getSession(OLD_A));
    assert.ok(store.getSession(OPEN_D), 'open sessions are never pruned');
    assert.equal(store.verify().ok, true);
    store.close();
  });

  test('a read-only store refuses to prune', () => {
    const { path, store } = populated();
    store.close();
    const ro = openSqliteStore(path, { readonly: true });
    assert.throws(() => ro.prune(T0 + 100 * HOUR), /read-only/);
    ro.close();
  });
});

describe('tampering after a prune is still caught', () => {
  function pruned(): string {
    const { path, store } = populated();
    store.prune(T0 + 3 * HOUR);
    store.close();
    return path;
  }

  test('a remaining record deleted next to a gap (the gap widened) is named', () => {
    let path = pruned();
    tamper(path, 'DELETE FROM records WHERE id = 6'); // between gap 3..5 and gap 7..9
    let v = reopenVerify(path);
    assert.equal(v.firstBad?.id, 6);
    assert.match(v.firstBad?.reason ?? '', /missing/);
    path = pruned();
    tamper(path, 'DELETE FROM records WHERE id = 12'); // right after gap 11
    v = reopenVerify(path);
    assert.equal(v.firstBad?.id, 12);
  });

  test('a remaining record changed after a gap is named', () => {
    const path = pruned();
    const db = new Database(path);
    const body = db.prepare('SELECT body FROM records WHERE id = 10').pluck().get() as Buffer;
    db.exec('DROP TRIGGER records_no_update');
    db.prepare('UPDATE records SET body = ? WHERE id = 10').run(
      Buffer.from(body.toString('utf8').replace('SELECT 1', 'SELECT 9')),
    );
    db.close();
    const v = reopenVerify(path);
    assert.equal(v.firstBad?.id, 10);
    assert.match(v.firstBad?.reason ?? '', /digest mismatch/);
  });

  test('the prune record edited to declare more removed ids is caught at the prune record', () => {
    const path = pruned();
    const db = new Database(path);
    const body = JSON.parse(db.prepare('SELECT body FROM records WHERE id = 14').pluck().get() as string);
    body.ranges[1][1] = 6; // claim 6 was pruned too, then delete it
    db.exec('DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;');
    db.prepare('UPDATE records SET body = ? WHERE id = 14').run(Buffer.from(JSON.stringify(body)));
    db.exec('DELETE FROM records WHERE id = 6');
    db.close();
    const v = reopenVerify(path);
    assert.equal(v.ok, false);
    assert.ok(v.firstBad!.id <= 14, JSON.stringify(v));
  });

  test('the checkpoint row removed or changed is caught', () => {
    let path = pruned();
    tamper(path, 'DELETE FROM checkpoints');
    let v = reopenVerify(path);
    assert.equal(v.firstBad?.id, 1, JSON.stringify(v)); // the gaps are no longer declared
    path = pruned();
    tamper(path, 'UPDATE checkpoints SET record_id = 12');
    v = reopenVerify(path);
    assert.equal(v.firstBad?.id, 14);
    assert.match(v.firstBad?.reason ?? '', /checkpoints row 14/);
  });

  test('records of other sessions are still protected by the trigger above the checkpoint', () => {
    const path = pruned();
    const db = new Database(path);
    assert.throws(() => db.exec('DELETE FROM records WHERE id = 13'), /append-only/);
    db.close();
    assert.equal(reopenVerify(path).ok, true);
  });
});

describe('session records for export', () => {
  test('every record of a session comes with the link it was chained to, across gaps', () => {
    const { store } = populated();
    store.prune(T0 + 3 * HOUR);
    const recs = [...store.sessionRecords(NEW_B)];
    assert.deepEqual(
      recs.map((r) => r.id),
      [2, 6, 10, 13],
    );
    for (const r of recs) {
      assert.equal(r.prev.id, r.id - 1);
      assert.ok(recordDigest(r.prev, r).equals(r.digest), `record ${r.id}`);
    }
    // Record 2's predecessor (1) was pruned: its link comes from the prune record.
    assert.notDeepEqual(recs[0].prev.digest, GENESIS.digest);
    store.close();
  });
});

describe('ledger and runs', () => {
  test('removedRuns groups ids that are consecutive among the present ones', () => {
    assert.deepEqual(removedRuns([1, 3, 4, 9], [1, 2, 3, 4, 7, 9]), [
      [1, 1],
      [3, 4],
      [9, 9],
    ]);
    assert.deepEqual(removedRuns([5, 8], [5, 8, 9]), [[5, 8]]);
  });

  test('covers() needs every id of a gap declared, across adjacent and overlapping ranges', () => {
    const l = new PruneLedger();
    const d = '00'.repeat(32);
    l.add({
      recordId: 20,
      at: 0,
      before: 0,
      connection: null,
      sessions: [],
      records: 0,
      ranges: [[3, 5, d]],
    });
    l.add({
      recordId: 30,
      at: 0,
      before: 0,
      connection: null,
      sessions: [],
      records: 0,
      ranges: [[6, 9, d]],
    });
    assert.equal(l.covers(3, 9), true);
    assert.equal(l.covers(4, 5), true);
    assert.equal(l.covers(2, 5), false);
    assert.equal(l.covers(9, 10), false);
    assert.ok(l.link(9));
    assert.equal(l.link(8), undefined);
  });
});

describe('RetentionJob', () => {
  test('prunes each connection by its own period, and reports what it did', async () => {
    const { store } = populated();
    const pruned: PruneResult[] = [];
    // "now" is T0 + 4h: app keeps 2h (A goes, B stays), reports keeps 1h (C goes).
    const job = new RetentionJob(
      store,
      { app: 2 * 3_600_000, reports: 3_600_000 },
      { now: () => (T0 + 4 * HOUR) / 1000, onPrune: (r) => pruned.push(r) },
    );
    const results = await job.runOnce();
    assert.deepEqual(
      results.map((r) => [r.connection, r.sessions]),
      [
        ['app', 1],
        ['reports', 1],
      ],
    );
    assert.equal(pruned.length, 2);
    assert.deepEqual(
      store.listSessions().map((s) => s.id),
      [OPEN_D, NEW_B],
    );
    assert.deepEqual(
      (await job.runOnce()).map((r) => r.recordId),
      [null, null],
    );
    assert.equal(store.verify().ok, true);
    store.close();
  });

  test('runs periodically until stopped; errors are reported per connection', async () => {
    let calls = 0;
    const errors: string[] = [];
    const job = new RetentionJob(
      {
        prune: (before, connection) => {
          calls++;
          if (connection === 'bad') throw new Error('disk full');
          return { recordId: null, before, connection: connection ?? null, sessions: 0, records: 0 };
        },
      },
      new Map([
        ['bad', 1000],
        ['good', 1000],
      ]),
      { intervalMs: 20, onError: (e, c) => errors.push(`${c}: ${e.message}`) },
    );
    job.start();
    await new Promise((r) => setTimeout(r, 70));
    job.stop();
    const after = calls;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(calls, after);
    assert.ok(calls >= 4, `ran ${calls} times`);
    assert.equal(errors[0], 'bad: disk full');
    assert.throws(() => new RetentionJob({ prune: () => assert.fail() }, { app: 0 }), /positive/);
  });
});
