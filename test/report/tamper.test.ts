// Tamper evidence on a store built by real traffic, checked with `bastion verify` itself: a payload
// edited, a frame record deleted, two frame records swapped in the SQLite file; and retention:
// pruning, then a clean verify, a report that shows it, and tampering after it still caught.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { buildReport, toHtml } from '../../proxy/report/index.js';
import { toPdf } from '../../proxy/report/pdf.js';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import { copyStore, type RecordedTraffic, recordTraffic } from './traffic.js';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../cli/main.js');

let t: RecordedTraffic;
before(async () => {
  t = await recordTraffic();
});
after(() => t?.cleanup());

function bastionVerify(store: string): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [MAIN, 'verify', '--store', store], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** Opens the file as an attacker would: another connection, the guard triggers dropped. */
function attacker(file: string): Database.Database {
  const db = new Database(file);
  db.exec('DROP TRIGGER IF EXISTS records_no_update; DROP TRIGGER IF EXISTS records_no_delete;');
  return db;
}

interface Rec {
  id: number;
  kind: string;
  session_id: string;
  body: Buffer;
}

function frameRecords(db: Database.Database, sessionId: string): Rec[] {
  return db
    .prepare(
      "SELECT id, kind, session_id, body FROM records WHERE kind = 'frames' AND session_id = ? ORDER BY id",
    )
    .all(sessionId) as Rec[];
}

describe('bastion verify on a store built by real traffic', () => {
  test('is clean before anyone touches it', () => {
    const r = bastionVerify(copyStore(t));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^ok: \d+ records intact/);
  });

  test('a frame payload edited (a masked-looking value changed) is caught at its record', async () => {
    const file = copyStore(t);
    const db = attacker(file);
    // A record of server frames (dir byte 1, or 2 where the recorder joined reads of both
    // directions) holding the DataRow with Bob's email (masked by the default policy: the store
    // keeps what the client got, e.g. b**@example.com).
    const rec = (db.prepare("SELECT id, body FROM records WHERE kind = 'frames'").all() as Rec[]).find(
      (r) => r.body[1] !== 0 && /b\*+@example\.com/.test(r.body.toString('latin1')),
    )!;
    assert.ok(rec, 'the DataRow with the (masked) email was recorded');
    const at = rec.body.toString('latin1').search(/b\*+@example\.com/);
    rec.body.write('e', at, 'latin1');
    db.prepare('UPDATE records SET body = ? WHERE id = ?').run(rec.body, rec.id);
    db.close();
    const r = bastionVerify(file);
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(`^FAILED: record ${rec.id}: digest mismatch`));
    // A report over the tampered store says so, in every format.
    const ro = openSqliteStore(file, { readonly: true });
    const report = buildReport(ro);
    ro.close();
    assert.equal(report.integrity.verified, false);
    assert.equal(report.integrity.firstBad?.id, rec.id);
    const pdf = path.join(t.dir, 'tampered.pdf');
    fs.writeFileSync(pdf, await toPdf(report));
    const text = execFileSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' });
    assert.match(text, new RegExp(`Store chain FAILED verification at record ${rec.id}: digest mismatch`));
    assert.match(toHtml(report), new RegExp(`Store chain FAILED verification at record ${rec.id}`));
  });

  test('a frame record deleted (with its index row) is caught as the missing record', () => {
    const file = copyStore(t);
    const db = attacker(file);
    const frames = frameRecords(db, t.sessions[1].id);
    const victim = frames[Math.floor(frames.length / 2)];
    db.prepare('DELETE FROM frame_chunks WHERE record_id = ?').run(victim.id);
    db.prepare('DELETE FROM records WHERE id = ?').run(victim.id);
    db.close();
    const r = bastionVerify(file);
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(`^FAILED: record ${victim.id}: record ${victim.id} is missing`));
  });

  test('two frame records swapped (reordered) are caught at the first of them', () => {
    const file = copyStore(t);
    const db = attacker(file);
    const frames = frameRecords(db, t.sessions[0].id);
    const [a, b] = [frames[2], frames[5]];
    db.transaction(() => {
      db.prepare('UPDATE records SET id = -1 WHERE id = ?').run(a.id);
      db.prepare('UPDATE records SET id = ? WHERE id = ?').run(a.id, b.id);
      db.prepare('UPDATE records SET id = ? WHERE id = -1').run(b.id);
      // Keep the frame index pointing at the moved records, as a careful attacker would.
      db.prepare('UPDATE frame_chunks SET record_id = -1 WHERE record_id = ?').run(a.id);
      db.prepare('UPDATE frame_chunks SET record_id = ? WHERE record_id = ?').run(a.id, b.id);
      db.prepare('UPDATE frame_chunks SET record_id = ? WHERE record_id = -1').run(b.id);
    })();
    db.close();
    const r = bastionVerify(file);
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(`^FAILED: record ${a.id}: digest mismatch`));
  });

  test("a statement's SQL rewritten in the queryable table is caught at its record", () => {
    const file = copyStore(t);
    const db = attacker(file);
    const { record_id: id } = db
      .prepare("SELECT record_id FROM statements WHERE sql LIKE 'DELETE%'")
      .get() as { record_id: number };
    db.prepare("UPDATE statements SET sql = 'SELECT 1' WHERE record_id = ?").run(id);
    db.close();
    const r = bastionVerify(file);
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(`^FAILED: record ${id}: .* differs from record ${id} in sql`));
  });
});

describe('retention on a store built by real traffic', () => {
  test('prune removes the old sessions, verify stays clean, the report shows the prune', async () => {
    const file = copyStore(t);
    const store = openSqliteStore(file);
    const before = store.verify();
    const r = store.prune(t.cutoff);
    assert.equal(r.sessions, 2);
    assert.ok(r.records > 10);
    assert.deepEqual(
      store.listSessions().map((s) => s.id),
      [t.sessions[2].id],
    );
    const v = store.verify();
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.equal(v.records, before.records - r.records + 1);
    store.close();
    const cli = bastionVerify(file);
    assert.equal(cli.code, 0, cli.out);

    const ro = openSqliteStore(file, { readonly: true });
    const report = buildReport(ro);
    ro.close();
    assert.equal(report.integrity.verified, true);
    assert.equal(report.summary.sessions, 1);
    assert.equal(report.retention.length, 1);
    assert.deepEqual(
      report.retention[0].sessions.map((s) => s.id),
      [t.sessions[0].id, t.sessions[1].id],
    );
    const pdf = path.join(t.dir, 'pruned.pdf');
    fs.writeFileSync(pdf, await toPdf(report));
    const text = execFileSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' });
    assert.match(text, /Sessions removed\s+Records removed/);
    assert.match(text, new RegExp(`all\\s+[0-9-]+ [0-9:.]+\\s+2\\s+${r.records}\\n`));
    assert.match(text, /Store chain verified/);
  });

  test('per connection: only that connection is pruned, and the store keeps verifying as it grows', () => {
    const file = copyStore(t);
    const store = openSqliteStore(file);
    assert.equal(store.prune(Date.now() * 1000 + 1, 'billing').sessions, 1);
    assert.equal(store.verify().ok, true);
    assert.equal(store.prune(Date.now() * 1000 + 1, 'app').sessions, 2);
    assert.equal(store.listSessions().length, 0);
    assert.equal(store.verify().ok, true);
    store.close();
    assert.equal(bastionVerify(file).code, 0);
  });

  test('tampering after a prune is still caught', () => {
    const file = copyStore(t);
    const store = openSqliteStore(file);
    store.prune(t.cutoff);
    store.close();
    const db = attacker(file);
    const frames = frameRecords(db, t.sessions[2].id);
    db.prepare('DELETE FROM frame_chunks WHERE record_id = ?').run(frames[1].id);
    db.prepare('DELETE FROM records WHERE id = ?').run(frames[1].id);
    db.close();
    const r = bastionVerify(file);
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(`^FAILED: record ${frames[1].id}: `));
  });
});
