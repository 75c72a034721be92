// Tampering with the SQLite file directly (another connection, triggers dropped, as an attacker
// would) must make verify() name the first bad record.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { type ChainLink, GENESIS, recordDigest } from '../../proxy/store/chain.js';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import { chunk, frame, session, statement, tempStorePath } from './fixtures.js';

const A = 'aaaa0000-0000-4000-8000-000000000001';
const B = 'bbbb0000-0000-4000-8000-000000000002';

/** A store with known record ids (listed on the right), closed again. */
function populated(): string {
  const path = tempStorePath();
  const store = openSqliteStore(path);
  store.append([
    { kind: 'session_open', session: session(A) }, // 1
    chunk(A, 0, 'client', 0, [frame(0, 'startup'), frame(0x51, 'SELECT 1\0')]), // 2
    chunk(A, 2, 'server', 10, [frame(0x54, 'rd'), frame(0x44, 'payload'), frame(0x43, 'SELECT 1\0')]), // 3
    { kind: 'statement', statement: statement(A, 1) }, // 4
  ]);
  store.append([
    chunk(A, 5, 'client', 20, [frame(0x51, 'SELECT 2\0')]), // 5
    { kind: 'session_open', session: session(B, { identity: 'agent-2' }) }, // 6
    chunk(B, 0, 'client', 0, [frame(0x51, 'SELECT 3\0')]), // 7
    { kind: 'statement', statement: statement(B, 1) }, // 8
    { kind: 'statement', statement: statement(A, 2) }, // 9
    { kind: 'session_close', sessionId: A, endedAt: 99, endReason: 'client terminated' }, // 10
  ]);
  assert.equal(store.verify().ok, true);
  store.close();
  return path;
}

/** Edits the file with a separate connection, as someone with access to it could. */
function tamper(path: string, sql: string): void {
  const db = new Database(path);
  db.exec('DROP TRIGGER IF EXISTS records_no_update; DROP TRIGGER IF EXISTS records_no_delete;');
  db.exec(sql);
  db.close();
}

function firstBad(path: string) {
  const store = openSqliteStore(path, { readonly: true });
  const v = store.verify();
  store.close();
  assert.equal(v.ok, false);
  return v.firstBad!;
}

test('a changed frame payload byte is caught at its record', () => {
  const path = populated();
  const db = new Database(path);
  const body = db.prepare('SELECT body FROM records WHERE id = 3').pluck().get() as Buffer;
  const at = body.indexOf('payload');
  body[at] ^= 0x01;
  db.exec('DROP TRIGGER records_no_update');
  db.prepare('UPDATE records SET body = ? WHERE id = 3').run(body);
  db.close();
  const bad = firstBad(path);
  assert.equal(bad.id, 3);
  assert.match(bad.reason, /digest mismatch/);
});

test('a deleted record is caught as the missing id', () => {
  const path = populated();
  tamper(path, 'DELETE FROM records WHERE id = 5');
  const bad = firstBad(path);
  assert.equal(bad.id, 5);
  assert.match(bad.reason, /missing/);
});

test("two records' bodies swapped: the first of them is caught", () => {
  const path = populated();
  tamper(
    path,
    `UPDATE records SET body = CASE id WHEN 2 THEN (SELECT body FROM records WHERE id = 3)
                                      ELSE (SELECT body FROM records WHERE id = 2) END
     WHERE id IN (2, 3)`,
  );
  assert.equal(firstBad(path).id, 2);
});

test('two whole records swapped (reordered): the first position is caught', () => {
  const path = populated();
  tamper(
    path,
    `UPDATE records SET id = -7 WHERE id = 7;
     UPDATE records SET id = 7 WHERE id = 8;
     UPDATE records SET id = 8 WHERE id = -7;`,
  );
  assert.equal(firstBad(path).id, 7);
});

test("a statement's sql edited in the projection is caught at the statement's record", () => {
  const path = populated();
  tamper(path, `UPDATE statements SET sql = 'SELECT harmless' WHERE session_id = '${A}' AND seq = 2`);
  const bad = firstBad(path);
  assert.equal(bad.id, 9);
  assert.match(bad.reason, /sql/);
});

test("a session's identity edited in the projection is caught at its open record", () => {
  const path = populated();
  tamper(path, `UPDATE sessions SET identity = 'someone-else' WHERE id = '${B}'`);
  const bad = firstBad(path);
  assert.equal(bad.id, 6);
  assert.match(bad.reason, /identity/);
});

test("a session's statement count or end edited in the projection is caught", () => {
  let path = populated();
  tamper(path, `UPDATE sessions SET statements = 1 WHERE id = '${A}'`);
  assert.equal(firstBad(path).id, 1);
  path = populated();
  tamper(path, `UPDATE sessions SET end_reason = 'gateway stopped' WHERE id = '${A}'`);
  assert.equal(firstBad(path).id, 10);
});

test('a projection row deleted (statement hidden) is caught at its record', () => {
  const path = populated();
  tamper(path, `DELETE FROM statements WHERE session_id = '${A}' AND seq = 1`);
  // The count in sessions still says 2 (caught at 1); the statement record itself has no row (4).
  assert.equal(firstBad(path).id, 1);
  tamper(path, `UPDATE sessions SET statements = 1 WHERE id = '${A}'`);
  const bad = firstBad(path);
  assert.equal(bad.id, 4);
  assert.match(bad.reason, /no projection row/);
});

test('a frame index row pointed elsewhere is caught', () => {
  const path = populated();
  tamper(path, `UPDATE frame_chunks SET seq_first = 3 WHERE record_id = 3`);
  assert.equal(firstBad(path).id, 3);
});

test('the last record deleted: caught by its projection, and by the open store that wrote it', () => {
  const path = populated();
  const store = openSqliteStore(path);
  tamper(path, 'DELETE FROM records WHERE id = 10');
  const live = store.verify();
  assert.equal(live.firstBad?.id, 10);
  assert.match(live.firstBad?.reason ?? '', /missing/);
  store.close();
  assert.equal(firstBad(path).id, 10);
});

test('a chain rewritten with recomputed digests is caught by the open store that wrote it', () => {
  const path = populated();
  const store = openSqliteStore(path);
  const db = new Database(path);
  db.exec('DROP TRIGGER records_no_update');
  const rows = db
    .prepare('SELECT id, kind, session_id, t_us, digest, body FROM records ORDER BY id')
    .all() as {
    id: number;
    kind: string;
    session_id: string;
    t_us: number;
    digest: Buffer;
    body: Buffer;
  }[];
  rows[2].body[rows[2].body.indexOf('payload')] ^= 0x01;
  let prev: ChainLink = GENESIS;
  const update = db.prepare('UPDATE records SET body = ?, digest = ? WHERE id = ?');
  for (const r of rows) {
    const digest = recordDigest(prev, {
      id: r.id,
      kind: r.kind,
      sessionId: r.session_id,
      tUs: r.t_us,
      body: r.body,
    });
    update.run(r.body, digest, r.id);
    prev = { id: r.id, digest };
  }
  db.close();
  const v = store.verify();
  assert.equal(v.firstBad?.id, 10);
  assert.match(v.firstBad?.reason ?? '', /rewritten/);
  store.close();
});

test('the schema refuses accidental updates and deletes of records', () => {
  const path = populated();
  const db = new Database(path);
  assert.throws(() => db.exec("UPDATE records SET kind = 'x' WHERE id = 1"), /append-only/);
  assert.throws(() => db.exec('DELETE FROM records WHERE id = 10'), /append-only/);
  db.close();
  assert.equal(openSqliteStore(path, { readonly: true }).verify().ok, true);
});
