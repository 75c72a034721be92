// Compacting a team gateway's spool once the shared store has its records: whole sessions that
// are closed, older than `spool_keep` and shipped (every one of their records at or below the
// store's high-water mark for this gateway) are removed from the spool.
//
// The spool's writer (its own connection, maybe another thread) keeps its chain head in memory, so
// nothing is appended to the chain here (an appended record would collide with the writer's next
// one). Instead, as a prune record does (retention.ts), a `spool_compactions` row states which ids
// went, as runs of consecutive present ids with the digest ending each run, and `verify` of the
// spool bridges the gaps with it (SqliteSessionStore.pruneLedger). The spool's last record is never
// removed: the writer and the shipper both start from it. The shipper's mixed-chain check finds a
// removed head's digest in these rows (SpoolReader.digestOf).
//
// The delete trigger on `records` allows only checkpointed ids; each compaction transaction lifts it
// and puts it back as it was, atomically. Work goes in small transactions so the writer, which
// waits on SQLite's lock meanwhile, is never held up for long.

import Database from 'better-sqlite3';
import { removedRuns } from '../retention.js';

/** Per transaction (the writer waits meanwhile): at most this many sessions, and about this many records. */
const SESSIONS_PER_TRANSACTION = 100;
const RECORDS_PER_TRANSACTION = 5000;

export interface SpoolCompaction {
  sessions: number;
  records: number;
}

const COMPACTIONS_TABLE = `CREATE TABLE IF NOT EXISTS spool_compactions (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  shipped INTEGER NOT NULL,
  sessions INTEGER NOT NULL,
  records INTEGER NOT NULL,
  ranges TEXT NOT NULL
) STRICT`;

/**
 * Removes from the spool at `path` the closed sessions that ended before `beforeUs` (epoch
 * microseconds) and whose records are all below `shippedId`. Returns what it removed.
 */
export function compactSpool(path: string, shippedId: number, beforeUs: number): SpoolCompaction {
  const db = new Database(path, { fileMustExist: true, timeout: 5000 });
  try {
    db.exec(COMPACTIONS_TABLE);
    const total: SpoolCompaction = { sessions: 0, records: 0 };
    let after = 0;
    for (;;) {
      const step = db.transaction(() => compactSome(db, shippedId, beforeUs, after)).immediate();
      total.sessions += step.sessions;
      total.records += step.records;
      if (step.next === null) return total;
      after = step.next;
    }
  } finally {
    db.close();
  }
}

/** One transaction's worth: sessions opened after record `after`; `next` is where to go on. */
function compactSome(
  db: Database.Database,
  shippedId: number,
  beforeUs: number,
  after: number,
): SpoolCompaction & { next: number | null } {
  const head = (db.prepare('SELECT max(id) FROM records').pluck().get() as number | null) ?? 0;
  // Shipped records only, and never the spool's last one.
  const limit = Math.min(shippedId + 1, head);
  const candidates = db
    .prepare(
      `SELECT s.id, s.open_record_id FROM sessions s
       WHERE s.open_record_id > ? AND s.close_record_id IS NOT NULL AND s.close_record_id < ? AND s.ended_at < ?
         AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.session_id = s.id AND a.state = 'pending')
       ORDER BY s.open_record_id LIMIT ?`,
    )
    .all(after, limit, beforeUs, SESSIONS_PER_TRANSACTION) as { id: string; open_record_id: number }[];
  let next =
    candidates.length < SESSIONS_PER_TRANSACTION ? null : candidates[candidates.length - 1].open_record_id;
  const recordIds = db
    .prepare(
      `SELECT open_record_id FROM sessions WHERE id = @id
       UNION ALL SELECT close_record_id FROM sessions WHERE id = @id
       UNION ALL SELECT record_id FROM statements WHERE session_id = @id
       UNION ALL SELECT record_id FROM frame_chunks WHERE session_id = @id
       UNION ALL SELECT request_record_id FROM approvals WHERE session_id = @id
       UNION ALL SELECT record_id FROM approvals WHERE session_id = @id`,
    )
    .pluck();
  const victims: string[] = [];
  const removed = new Set<number>();
  for (const c of candidates) {
    if (removed.size >= RECORDS_PER_TRANSACTION) {
      // Enough for one transaction: the rest in the next one.
      next = c.open_record_id - 1;
      break;
    }
    const ids = recordIds.all({ id: c.id }) as number[];
    // An approval's outcome may follow the close: the whole session must be shipped.
    if (ids.some((id) => id >= limit)) continue;
    victims.push(c.id);
    for (const id of ids) removed.add(id);
  }
  if (victims.length === 0) return { sessions: 0, records: 0, next };
  const sorted = [...removed].sort((a, b) => a - b);
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  const present = db.prepare('SELECT id FROM records WHERE id >= ? AND id <= ? ORDER BY id').pluck();
  const digest = db.prepare('SELECT digest FROM records WHERE id = ?').pluck();
  const ranges = removedRuns(sorted, present.iterate(first, last) as Iterable<number>).map(
    ([a, b]): [number, number, string] => [a, b, (digest.get(b) as Buffer).toString('hex')],
  );
  const fts =
    db.prepare("SELECT 1 FROM main.sqlite_schema WHERE name = 'statements_fts'").pluck().get() === 1;
  const deleteFts = fts
    ? db.prepare(
        'DELETE FROM statements_fts WHERE rowid IN (SELECT record_id FROM statements WHERE session_id = ?)',
      )
    : null;
  const deletes = ['statements', 'frame_chunks', 'approvals'].map((t) =>
    db.prepare(`DELETE FROM ${t} WHERE session_id = ?`),
  );
  const deleteSession = db.prepare('DELETE FROM sessions WHERE id = ?');
  for (const id of victims) {
    deleteFts?.run(id);
    for (const d of deletes) d.run(id);
    deleteSession.run(id);
  }
  const trigger = db
    .prepare("SELECT sql FROM main.sqlite_schema WHERE type = 'trigger' AND name = 'records_no_delete'")
    .pluck()
    .get() as string | undefined;
  if (trigger) db.exec('DROP TRIGGER records_no_delete');
  const deleteRecord = db.prepare('DELETE FROM records WHERE id = ?');
  for (const id of sorted) deleteRecord.run(id);
  if (trigger) db.exec(trigger);
  db.prepare(
    'INSERT INTO spool_compactions (at, shipped, sessions, records, ranges) VALUES (?, ?, ?, ?, ?)',
  ).run(Date.now() * 1000, shippedId, victims.length, sorted.length, JSON.stringify(ranges));
  return { sessions: victims.length, records: sorted.length, next };
}
