// Approvals in the store: every state change is a chained record, the approvals projection keeps
// the latest state, held statements link to their approval, verify catches edits, a restart
// cancels what was pending, a version-1 store migrates, and reports and exports carry them.

import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { buildReport } from '../../proxy/report/build.js';
import { toCsv } from '../../proxy/report/csv.js';
import { toHtml } from '../../proxy/report/html.js';
import { exportSession, openExport, verifyExport } from '../../proxy/store/export.js';
import { SCHEMA_VERSION } from '../../proxy/store/schema.js';
import { openSqliteStore, type SqliteSessionStore } from '../../proxy/store/sqlite-store.js';
import type { Approval } from '../../shared/api.js';
import { session, statement, tempStorePath } from './fixtures.js';

const A = 'a0000000-0000-4000-8000-00000000000a';
const B = 'b0000000-0000-4000-8000-00000000000b';
const T0 = 1_750_000_000_000_000;
const SEC = 1_000_000;

let n = 0;
/** A pending approval of session `sessionId`, requested at T0 + `at` seconds. */
function pending(sessionId: string, at: number, over: Partial<Approval> = {}): Approval {
  n++;
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    sessionId,
    identity: 'agent-1',
    connection: 'app',
    sql: `DELETE FROM orders /* ${n} */`,
    rule: 'unbounded-writes',
    reason: 'DELETE without WHERE',
    clientReason: 'ticket OPS-1',
    requestedAt: T0 + at * SEC,
    expiresAt: T0 + (at + 60) * SEC,
    state: 'pending',
    decidedBy: null,
    decidedAt: null,
    recent: [{ sql: 'SELECT 1', decision: 'allow', at: T0 }],
    ...over,
  };
}

function outcome(a: Approval, state: Approval['state'], by: string | null, at: number): Approval {
  return { ...a, state, decidedBy: by, decidedAt: T0 + at * SEC };
}

/** Edits the file with a separate connection, as someone with access to it could. */
function tamper(path: string, sql: string): void {
  const db = new Database(path);
  db.exec('DROP TRIGGER IF EXISTS records_no_update; DROP TRIGGER IF EXISTS records_no_delete;');
  db.exec(sql);
  db.close();
}

function verifyFile(path: string) {
  const store = openSqliteStore(path, { readonly: true });
  try {
    return store.verify();
  } finally {
    store.close();
  }
}

/**
 * Session A: statement 1 allowed, statement 2 held and approved by alice, statement 3 held and
 * denied by bob, statement 4 held until it timed out; a fifth approval was cancelled when the
 * client went away (no statement names it). Record ids on the right.
 */
function populated(): { path: string; store: SqliteSessionStore; ids: string[] } {
  const path = tempStorePath();
  const store = openSqliteStore(path);
  const a2 = pending(A, 2);
  const a3 = pending(A, 3, { clientReason: null });
  const a4 = pending(A, 4);
  const a5 = pending(A, 5);
  const held = (seq: number, a: Approval) =>
    statement(A, seq, { decision: 'review', rule: a.rule, approvalId: a.id, sql: a.sql });
  store.append([
    { kind: 'session_open', session: session(A, { startedAt: T0 }) }, // 1
    { kind: 'statement', statement: statement(A, 1) }, // 2
    { kind: 'approval', approval: a2 }, // 3
  ]);
  store.append([
    { kind: 'approval', approval: outcome(a2, 'approved', 'alice', 10) }, // 4
    { kind: 'statement', statement: held(2, a2) }, // 5
    { kind: 'approval', approval: a3 }, // 6
    { kind: 'approval', approval: outcome(a3, 'denied', 'bob', 11) }, // 7
    { kind: 'statement', statement: held(3, a3) }, // 8
    { kind: 'approval', approval: a4 }, // 9
    { kind: 'approval', approval: outcome(a4, 'expired', null, 64) }, // 10
    { kind: 'statement', statement: held(4, a4) }, // 11
    { kind: 'approval', approval: a5 }, // 12
    { kind: 'session_close', sessionId: A, endedAt: T0 + 70 * SEC, endReason: 'client disconnected' }, // 13
    { kind: 'approval', approval: outcome(a5, 'cancelled', null, 70) }, // 14
  ]);
  assert.deepEqual(store.verify().ok, true);
  return { path, store, ids: [a2.id, a3.id, a4.id, a5.id] };
}

describe('approvals in the store', () => {
  test('requested, then decided: listed with who decided and when, linked to the held statement', () => {
    const path = tempStorePath();
    const store = openSqliteStore(path);
    const a = pending(A, 1);
    store.append([
      { kind: 'session_open', session: session(A, { startedAt: T0 }) },
      { kind: 'approval', approval: a },
    ]);
    assert.deepEqual(store.approvals({ state: 'pending' }), [a]);
    assert.deepEqual(
      store.listApprovals(A).map((e) => [e.outcome, e.statementSeq, e.approver, e.decidedAt]),
      [['pending', null, null, null]],
    );

    const decided = outcome(a, 'approved', 'alice', 5);
    store.append([
      { kind: 'approval', approval: decided },
      {
        kind: 'statement',
        statement: statement(A, 1, { decision: 'review', rule: a.rule, approvalId: a.id }),
      },
    ]);
    assert.deepEqual(store.getApproval(a.id), decided);
    assert.deepEqual(store.approvals(), [decided]);
    assert.deepEqual(store.approvals({ state: 'pending' }), []);
    assert.deepEqual(store.approvals({ state: 'approved' }), [decided]);
    assert.deepEqual(store.listApprovals(A), [
      {
        sessionId: A,
        statementSeq: 1,
        approvalId: a.id,
        requestedAt: a.requestedAt,
        outcome: 'approved',
        approver: 'alice',
        decidedAt: T0 + 5 * SEC,
        reason: 'ticket OPS-1',
        policyReason: 'DELETE without WHERE',
      },
    ]);
    assert.equal(store.listStatements(A)[0].approvalId, a.id);
    assert.deepEqual(store.verify(), { ok: true, records: 4, head: store.chainHead.digest });
    store.close();

    // A restart keeps who decided what.
    const again = openSqliteStore(path, { readonly: true });
    assert.deepEqual(again.approvals(), [decided]);
    again.close();
  });

  test('approvals() lists newest request first, by state, with a limit', () => {
    const { store, ids } = populated();
    assert.deepEqual(
      store.approvals().map((a) => a.id),
      [...ids].reverse(),
    );
    assert.deepEqual(
      store.approvals({ limit: 2 }).map((a) => a.id),
      [ids[3], ids[2]],
    );
    assert.deepEqual(
      store.approvals({ state: 'expired' }).map((a) => [a.id, a.decidedBy]),
      [[ids[2], null]],
    );
    assert.deepEqual(store.approvals({ state: 'pending' }), []);
    assert.throws(() => store.approvals({ state: 'bogus' as 'pending' }), /state must be one of/);
    assert.equal(store.getApproval('nope'), undefined);
    store.close();
  });

  test('a statement that no approval held is stored as before (no approvalId)', () => {
    const { path, store } = populated();
    store.close();
    const db = new Database(path, { readonly: true });
    const body = db.prepare('SELECT body FROM records WHERE id = 2').pluck().get() as Buffer;
    db.close();
    assert.equal(body.toString().includes('approvalId'), false);
  });

  test('contradictory approval history is refused and nothing is written', () => {
    const { store, ids } = populated();
    const head = store.chainHead;
    const a2 = store.getApproval(ids[0])!;
    assert.throws(
      () => store.append([{ kind: 'approval', approval: { ...a2, state: 'denied', decidedBy: 'eve' } }]),
      /already approved/,
    );
    const p = pending(A, 30);
    store.append([{ kind: 'approval', approval: p }]);
    const head2 = store.chainHead;
    assert.throws(() => store.append([{ kind: 'approval', approval: p }]), /already pending/);
    assert.throws(
      () =>
        store.append([{ kind: 'approval', approval: { ...outcome(p, 'approved', 'x', 31), sql: 'DROP' } }]),
      /differs from its request in sql/,
    );
    assert.throws(
      () => store.append([{ kind: 'approval', approval: { ...p, state: 'approved', decidedBy: 'x' } }]),
      /decidedAt must be set/,
    );
    assert.throws(
      () => store.append([{ kind: 'approval', approval: { ...p, id: 'other', decidedBy: 'x' } }]),
      /must be null while the approval is pending/,
    );
    assert.throws(
      () =>
        store.append([{ kind: 'approval', approval: { ...p, id: 'other', state: 'maybe' as 'pending' } }]),
      /state must be one of/,
    );
    assert.notDeepEqual(head2, head);
    assert.deepEqual(store.chainHead, head2);
    assert.equal(store.verify().ok, true);
    store.close();
  });

  test('closeInterrupted cancels approvals left pending by an earlier run', () => {
    const path = tempStorePath();
    let store = openSqliteStore(path);
    const waiting = pending(A, 1);
    const done = pending(B, 2);
    store.append([
      { kind: 'session_open', session: session(A, { startedAt: T0 }) },
      { kind: 'session_open', session: session(B, { startedAt: T0 }) },
      { kind: 'approval', approval: waiting },
      { kind: 'approval', approval: done },
      { kind: 'approval', approval: outcome(done, 'approved', 'alice', 3) },
      { kind: 'session_close', sessionId: B, endedAt: T0 + 4 * SEC, endReason: 'client terminated' },
    ]);
    store.close(); // a crash while A waited
    store = openSqliteStore(path);
    assert.equal(store.closeInterrupted(T0 + 9 * SEC), 1);
    assert.equal(store.cancelledApprovals, 1);
    assert.deepEqual(store.getApproval(waiting.id), outcome(waiting, 'cancelled', null, 9));
    assert.equal(store.getApproval(done.id)?.state, 'approved');
    assert.equal(store.getSession(A)?.endReason, 'interrupted');
    assert.equal(store.closeInterrupted(T0 + 10 * SEC), 0);
    assert.equal(store.cancelledApprovals, 0);
    assert.deepEqual(store.verify(), { ok: true, records: 8, head: store.chainHead.digest });
    store.close();
  });

  test('retention removes a session with its approvals; the rest still verifies', () => {
    const { store } = populated();
    const other = pending(B, 100);
    store.append([
      { kind: 'session_open', session: session(B, { startedAt: T0 + 100 * SEC }) },
      { kind: 'approval', approval: other },
    ]);
    const r = store.prune(T0 + 80 * SEC);
    assert.equal(r.sessions, 1);
    assert.equal(r.records, 14);
    assert.deepEqual(store.listApprovals(A), []);
    assert.deepEqual(
      store.approvals().map((a) => a.id),
      [other.id],
    );
    assert.equal(store.verify().ok, true);
    store.close();
  });
});

describe('verify and approvals', () => {
  test('an edited decided_by is named, with the record that attests it', () => {
    const { path, store, ids } = populated();
    store.close();
    tamper(path, `UPDATE approvals SET decided_by = 'mallory' WHERE id = '${ids[1]}'`);
    const v = verifyFile(path);
    assert.equal(v.ok, false);
    assert.equal(v.firstBad?.id, 7);
    assert.match(
      v.firstBad!.reason,
      new RegExp(`approvals row ${ids[1]} differs from record 7 in decidedBy`),
    );
  });

  test('an approval turned from denied to approved in the table is caught', () => {
    const { path, store, ids } = populated();
    store.close();
    tamper(path, `UPDATE approvals SET state = 'approved' WHERE id = '${ids[1]}'`);
    const v = verifyFile(path);
    assert.equal(v.firstBad?.id, 7);
    assert.match(v.firstBad!.reason, /differs from record 7 in state/);
  });

  test('a deleted approvals row leaves its records without a projection', () => {
    const { path, store, ids } = populated();
    store.close();
    tamper(path, `DELETE FROM approvals WHERE id = '${ids[0]}'`);
    const v = verifyFile(path);
    assert.equal(v.firstBad?.id, 3);
    assert.match(v.firstBad!.reason, /record 3 \(approval\) has no projection row/);
  });

  test('a row pointed at an earlier state (or away from its request) is caught', () => {
    const { path, store, ids } = populated();
    store.close();
    // Back to pending, attested by the request record: the outcome record is then unprojected.
    tamper(
      path,
      `UPDATE approvals SET state = 'pending', decided_by = NULL, decided_at = NULL, record_id = 3
       WHERE id = '${ids[0]}'`,
    );
    let v = verifyFile(path);
    assert.equal(v.firstBad?.id, 4);
    assert.match(v.firstBad!.reason, /record 4 \(approval\) has no projection row/);

    const second = populated();
    second.store.close();
    tamper(second.path, `UPDATE approvals SET request_record_id = 6 WHERE id = '${second.ids[0]}'`);
    v = verifyFile(second.path);
    assert.equal(v.firstBad?.id, 3);
  });

  test("a statement's approval_id changed in the table is caught", () => {
    const { path, store, ids } = populated();
    store.close();
    tamper(path, `UPDATE statements SET approval_id = '${ids[1]}' WHERE seq = 2`);
    let v = verifyFile(path);
    assert.equal(v.firstBad?.id, 5);
    assert.match(v.firstBad!.reason, /differs from record 5 in approvalId/);

    const second = populated();
    second.store.close();
    tamper(second.path, `UPDATE statements SET approval_id = '${second.ids[0]}' WHERE seq = 1`);
    v = verifyFile(second.path);
    assert.equal(v.firstBad?.id, 2);
    assert.match(v.firstBad!.reason, /differs from record 2 in approvalId/);
  });

  test('an edited approval record is caught at that record', () => {
    const { path, store } = populated();
    store.close();
    const db = new Database(path);
    const body = db.prepare('SELECT body FROM records WHERE id = 4').pluck().get() as Buffer;
    db.exec('DROP TRIGGER records_no_update');
    db.prepare('UPDATE records SET body = ? WHERE id = 4').run(
      Buffer.from(body.toString().replace('"alice"', '"mallo"')),
    );
    db.close();
    const v = verifyFile(path);
    assert.equal(v.firstBad?.id, 4);
    assert.match(v.firstBad!.reason, /digest mismatch/);
  });
});

/**
 * Makes `path` (written by this code, schema version 3) what schema version 1 left: no approvals
 * table, no statements.approval_id, none of version 3's search index and policy changes,
 * user_version 1. Only valid while nothing used approvals.
 */
function downgradeToV1(path: string): void {
  const db = new Database(path);
  db.exec(`
    DROP TABLE statements_fts;
    DROP INDEX statements_blocked;
    DROP INDEX statements_held;
    DROP INDEX statements_failed;
    DROP TABLE policy_changes;
    DROP INDEX statements_by_approval;
    ALTER TABLE statements DROP COLUMN approval_id;
    DROP TABLE approvals;
    PRAGMA user_version = 1;
  `);
  db.close();
}

function schemaOf(path: string): { version: number; statements: string; tables: string[] } {
  const db = new Database(path, { readonly: true });
  try {
    return {
      version: db.pragma('user_version', { simple: true }) as number,
      statements: db
        .prepare("SELECT sql FROM sqlite_schema WHERE name = 'statements'")
        .pluck()
        .get() as string,
      tables: db
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .pluck()
        .all() as string[],
    };
  } finally {
    db.close();
  }
}

describe('a store of schema version 1', () => {
  function v1Store(): string {
    const path = tempStorePath();
    const store = openSqliteStore(path);
    store.append([
      { kind: 'session_open', session: session(A, { startedAt: T0 }) },
      { kind: 'statement', statement: statement(A, 1) },
      // Held before approvals were recorded: no approval names it.
      { kind: 'statement', statement: statement(A, 2, { decision: 'review', rule: 'unbounded-writes' }) },
      { kind: 'session_close', sessionId: A, endedAt: T0 + 9 * SEC, endReason: 'client terminated' },
    ]);
    store.close();
    downgradeToV1(path);
    const s = schemaOf(path);
    assert.equal(s.version, 1);
    assert.equal(s.statements.includes('approval_id'), false);
    assert.deepEqual(s.tables, ['checkpoints', 'frame_chunks', 'records', 'sessions', 'statements']);
    return path;
  }

  test('opens read-only without being changed, and verifies', () => {
    const path = v1Store();
    const ro = openSqliteStore(path, { readonly: true });
    assert.deepEqual(ro.verify().ok, true);
    assert.equal(ro.listStatements(A).length, 2);
    assert.equal(ro.listStatements(A)[1].approvalId, undefined);
    assert.deepEqual(ro.listApprovals(A), []);
    assert.deepEqual(ro.approvals(), []);
    assert.throws(() => ro.append([{ kind: 'approval', approval: pending(A, 1) }]), /read-only/);
    ro.close();
    assert.equal(schemaOf(path).version, 1);
  });

  test('migrates when opened for writing, verifies, and records approvals from then on', () => {
    const path = v1Store();
    const store = openSqliteStore(path);
    const s = schemaOf(path);
    assert.equal(s.version, SCHEMA_VERSION);
    assert.match(s.statements, /approval_id/);
    assert.ok(s.tables.includes('approvals'));
    assert.equal(store.verify().ok, true);

    const B1 = pending(B, 20);
    store.append([
      { kind: 'session_open', session: session(B, { startedAt: T0 + 20 * SEC }) },
      { kind: 'approval', approval: B1 },
      { kind: 'approval', approval: outcome(B1, 'approved', 'alice', 21) },
      { kind: 'statement', statement: statement(B, 1, { decision: 'review', approvalId: B1.id }) },
    ]);
    assert.deepEqual(store.verify(), { ok: true, records: 8, head: store.chainHead.digest });
    store.close();

    const ro = openSqliteStore(path, { readonly: true });
    const r = buildReport(ro);
    ro.close();
    assert.equal(r.integrity.verified, true);
    assert.equal(r.approvals.recorded, true);
    assert.deepEqual(
      r.held.map((h) => [h.sessionId, h.seq, h.outcome, h.approver]),
      [
        [A, 2, null, null],
        [B, 1, 'approved', 'alice'],
      ],
    );
    assert.deepEqual(r.summary.heldOutcomes, {
      approved: 1,
      denied: 0,
      'timed out': 0,
      cancelled: 0,
      pending: 0,
      unrecorded: 1,
    });
  });
});

describe('reports and exports carry approvals', () => {
  test('the report shows held statements with outcome and approver, and every approval', () => {
    const { store, ids } = populated();
    const r = buildReport(store, {}, { now: new Date(0) });
    assert.equal(r.integrity.verified, true);
    assert.equal(r.approvals.recorded, true);
    assert.deepEqual(
      r.held.map((h) => [h.seq, h.outcome, h.approver, h.decidedAt]),
      [
        [2, 'approved', 'alice', T0 + 10 * SEC],
        [3, 'denied', 'bob', T0 + 11 * SEC],
        [4, 'timed out', null, T0 + 64 * SEC],
      ],
    );
    assert.deepEqual(
      r.approvals.entries.map((e) => [e.approvalId, e.statementSeq, e.outcome, e.approver, e.reason]),
      [
        [ids[0], 2, 'approved', 'alice', 'ticket OPS-1'],
        [ids[1], 3, 'denied', 'bob', null],
        [ids[2], 4, 'timed out', null, 'ticket OPS-1'],
        [ids[3], null, 'cancelled', null, 'ticket OPS-1'],
      ],
    );
    assert.deepEqual(r.summary.heldOutcomes, {
      approved: 1,
      denied: 1,
      'timed out': 1,
      cancelled: 0,
      pending: 0,
      unrecorded: 0,
    });
    const statementTwo = r.sessions[0].statements.find((s) => s.seq === 2)!;
    assert.equal(statementTwo.approval?.approver, 'alice');
    const html = toHtml(r);
    assert.match(html, /id="approvals"/);
    assert.match(html, /alice/);
    assert.match(html, /no statement/);
    assert.doesNotMatch(html, /does not record approval decisions/);
    assert.match(toCsv(r), /,approved,alice,/);

    // The period decides: only approvals of statements in it, or requested in it when unlinked.
    const late = buildReport(store, { since: T0 + 5 * SEC });
    assert.deepEqual(
      late.approvals.entries.map((e) => e.outcome),
      ['cancelled'],
    );
    store.close();
  });

  test('a session export carries its approval records, verifies and reports them', () => {
    const { path, store } = populated();
    const file = join(dirname(path), 'session.jsonl');
    const summary = exportSession(store, A, file);
    assert.equal(summary.approvals, 8);
    assert.equal(summary.records, 14);
    assert.equal(verifyExport(file, { against: store }).ok, true);
    const view = openExport(file);
    assert.deepEqual(view.listApprovals(A), store.listApprovals(A));
    assert.deepEqual(view.listStatements(A), store.listStatements(A));
    const r = buildReport(view);
    assert.deepEqual(
      r.held.map((h) => h.outcome),
      ['approved', 'denied', 'timed out'],
    );
    store.close();
  });
});
