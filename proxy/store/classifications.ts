// The results of automatic column classification and the operator's decisions on them, per
// connection, in the gateway's local store file. Outside the versioned (audited) schema on
// purpose, like journal_applied: it is the gateway's working state, not part of the record, and
// is created on demand by its own connection to the file. Team mode keeps it per gateway (not
// mirrored into the shared store): each gateway classifies the upstreams it serves.
// No value is stored: only the detector, the share of sampled values it matched and the counts.

import Database from 'better-sqlite3';
import type { ClassDecision, ClassState, ColumnClass } from '../masking/classify.js';
import { columnKey } from '../masking/classify.js';
import type { Strategy } from '../masking/rules.js';

const TABLE = `CREATE TABLE IF NOT EXISTS classifications (
  connection TEXT NOT NULL,
  schema_name TEXT NOT NULL,
  table_name TEXT NOT NULL,
  column_name TEXT NOT NULL,
  detector TEXT NOT NULL,
  share REAL NOT NULL,
  matched INTEGER NOT NULL,
  sampled INTEGER NOT NULL,
  classified_at INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'auto',
  strategy TEXT,
  decided_by TEXT,
  decided_at INTEGER,
  PRIMARY KEY (connection, schema_name, table_name, column_name)
) STRICT`;

export interface StoredClass extends ColumnClass, ClassDecision {
  connection: string;
  /** The column as a rule names it ("schema"."table"."column"). */
  key: string;
  classifiedAt: number;
  decidedBy: string | null;
  decidedAt: number | null;
}

type Row = Record<string, unknown>;

function toStored(r: Row): StoredClass {
  const c = {
    schema: r.schema_name as string,
    table: r.table_name as string,
    column: r.column_name as string,
  };
  return {
    connection: r.connection as string,
    ...c,
    key: columnKey(c),
    detector: r.detector as ColumnClass['detector'],
    share: r.share as number,
    matched: r.matched as number,
    sampled: r.sampled as number,
    classifiedAt: r.classified_at as number,
    state: r.state as ClassState,
    strategy: (r.strategy as Strategy | null) ?? null,
    decidedBy: (r.decided_by as string | null) ?? null,
    decidedAt: (r.decided_at as number | null) ?? null,
  };
}

export class ClassificationStore {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    // The recording writer holds the file's write lock in short bursts: wait for it.
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(TABLE);
  }

  list(connection?: string): StoredClass[] {
    const rows =
      connection === undefined
        ? this.db
            .prepare(
              'SELECT * FROM classifications ORDER BY connection, schema_name, table_name, column_name',
            )
            .all()
        : this.db
            .prepare(
              'SELECT * FROM classifications WHERE connection = ? ORDER BY schema_name, table_name, column_name',
            )
            .all(connection);
    return (rows as Row[]).map(toStored);
  }

  /**
   * Records a run's findings: found columns are upserted (a decided column keeps its decision),
   * undecided ('auto') columns the run no longer finds are dropped, decided ones stay (an operator's
   * accept or change holds until they undo it).
   */
  replaceRun(connection: string, found: readonly ColumnClass[], at: number): void {
    const upsert = this.db.prepare(`INSERT INTO classifications
      (connection, schema_name, table_name, column_name, detector, share, matched, sampled, classified_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (connection, schema_name, table_name, column_name) DO UPDATE SET
        detector = excluded.detector, share = excluded.share, matched = excluded.matched,
        sampled = excluded.sampled, classified_at = excluded.classified_at`);
    const autos = this.db.prepare(
      "SELECT schema_name, table_name, column_name FROM classifications WHERE connection = ? AND state = 'auto'",
    );
    const drop = this.db.prepare(
      'DELETE FROM classifications WHERE connection = ? AND schema_name = ? AND table_name = ? AND column_name = ?',
    );
    this.db
      .transaction(() => {
        const keep = new Set(found.map((c) => columnKey(c)));
        for (const r of autos.all(connection) as Row[]) {
          const c = {
            schema: r.schema_name as string,
            table: r.table_name as string,
            column: r.column_name as string,
          };
          if (!keep.has(columnKey(c))) drop.run(connection, c.schema, c.table, c.column);
        }
        for (const c of found)
          upsert.run(connection, c.schema, c.table, c.column, c.detector, c.share, c.matched, c.sampled, at);
      })
      .immediate();
  }

  /** Sets a column's decision; false when no such classified column. */
  decide(
    connection: string,
    c: { schema: string; table: string; column: string },
    d: ClassDecision,
    by: string,
    at: number,
  ): boolean {
    const r = this.db
      .prepare(`UPDATE classifications SET state = ?, strategy = ?, decided_by = ?, decided_at = ?
        WHERE connection = ? AND schema_name = ? AND table_name = ? AND column_name = ?`)
      .run(
        d.state,
        d.state === 'changed' ? d.strategy : null,
        by,
        at,
        connection,
        c.schema,
        c.table,
        c.column,
      );
    return r.changes > 0;
  }

  close(): void {
    this.db.close();
  }
}
