// Reads a gateway's local SQLite store (its spool) for the shipper, over a connection of its own,
// read-only: the recorder's connection is never shared or blocked (SQLite's WAL lets a reader run
// beside the writer).

import Database from 'better-sqlite3';
import { decodeRemovedRanges } from '../retention.js';
import type { ShippedRecord } from './project.js';

type Row = {
  id: number;
  kind: string;
  session_id: string;
  t_us: number;
  digest: Buffer;
  body: Buffer;
  started_at: number | null;
};

export class SpoolReader {
  private readonly db: Database.Database;
  private readonly after: Database.Statement<[number], Row>;
  private readonly max: Database.Statement<[], number | null>;
  private readonly digest: Database.Statement<[number], Buffer | undefined>;

  constructor(readonly path: string) {
    this.db = new Database(path, { readonly: true, fileMustExist: true });
    this.after = this.db.prepare<[number], Row>(
      `SELECT r.id, r.kind, r.session_id, r.t_us, r.digest, r.body, s.started_at
       FROM records r LEFT JOIN sessions s ON s.id = r.session_id WHERE r.id > ? ORDER BY r.id`,
    );
    this.max = this.db.prepare<[], number | null>('SELECT max(id) FROM records').pluck();
    this.digest = this.db
      .prepare<[number], Buffer | undefined>('SELECT digest FROM records WHERE id = ?')
      .pluck();
  }

  /** The last record written to the spool (0 when empty). */
  head(): number {
    return this.max.get() ?? 0;
  }

  /**
   * A record's digest: from the record, or, once compaction removed it (spool-compact.ts), from
   * the compaction that states it (when it ended a removed run). Undefined when neither has it.
   */
  digestOf(id: number): Buffer | undefined {
    const kept = this.digest.get(id);
    if (kept) return kept;
    const table = this.db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'spool_compactions'").pluck();
    if (table.get() !== 1) return undefined;
    for (const ranges of this.db.prepare('SELECT ranges FROM spool_compactions').pluck().iterate()) {
      try {
        const hit = decodeRemovedRanges(JSON.parse(String(ranges))).find((r) => r[1] === id);
        if (hit) return Buffer.from(hit[2], 'hex');
      } catch {
        // A malformed row is verify's to report; here it just does not answer.
      }
    }
    return undefined;
  }

  /** Records after `id` in chain order, at most `maxRecords` and (past the first) about `maxBytes`. */
  read(id: number, maxRecords: number, maxBytes: number): ShippedRecord[] {
    const out: ShippedRecord[] = [];
    let bytes = 0;
    for (const r of this.after.iterate(id)) {
      out.push({
        id: r.id,
        kind: r.kind,
        sessionId: r.session_id,
        tUs: r.t_us,
        digest: r.digest,
        body: r.body,
        partUs: partitionTime(r),
      });
      bytes += r.body.length;
      if (out.length >= maxRecords || bytes >= maxBytes) break;
    }
    return out;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * The shared store's partition key of a record: its session's start, so a session's records stay
 * together. A record of no session has its own time (epoch microseconds for every kind but frames,
 * whose time counts from the session's start). A session missing from the spool (pruned by local
 * retention) has no unshipped records left but, at worst, those take their own time, or now.
 */
function partitionTime(r: Row): number {
  if (r.started_at !== null) return r.started_at;
  return r.kind === 'frames' ? Date.now() * 1000 : r.t_us;
}
