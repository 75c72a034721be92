// Reads a gateway's local SQLite store (its spool) for the shipper, over a connection of its own,
// read-only: the recorder's connection is never shared or blocked (SQLite's WAL lets a reader run
// beside the writer).

import Database from 'better-sqlite3';
import type { ShippedRecord } from './project.js';

type Row = { id: number; kind: string; session_id: string; t_us: number; digest: Buffer; body: Buffer };

export class SpoolReader {
  private readonly db: Database.Database;
  private readonly after: Database.Statement<[number], Row>;
  private readonly max: Database.Statement<[], number | null>;
  private readonly digest: Database.Statement<[number], Buffer | undefined>;

  constructor(readonly path: string) {
    this.db = new Database(path, { readonly: true, fileMustExist: true });
    this.after = this.db.prepare<[number], Row>(
      'SELECT id, kind, session_id, t_us, digest, body FROM records WHERE id > ? ORDER BY id',
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

  digestOf(id: number): Buffer | undefined {
    return this.digest.get(id);
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
