// Column rules bound to objects, not names (issue 18). A rule names `schema.table.column`, but an
// agent can rename the column, the table or the schema (through the gateway or directly on the
// server) and the name would then match nothing. So each configured column is bound, when the
// catalog loads, to the (table OID, column number) it names; later loads keep that binding (the
// catalog query also asks for the bound OIDs, whatever they are called now), so a renamed column
// is still masked. The name still binds too: a new object taking the configured name is masked as
// well (fail closed), and a bound column that is gone (DROP COLUMN then ADD COLUMN of the same
// name: a new column number) is re-bound by name, which is logged. A configured column that binds
// to nothing is reported (logged once, and listed for the app), never silently dropped.

import { type ColumnName, columnKey } from './rules.js';

/** A configured column's place in the catalog. */
export interface BoundColumn {
  oid: number;
  attnum: number;
}

/** What the binder needs of a catalog snapshot: the relations the catalog query returned. */
export interface BindableRelation {
  oid: number;
  schema: string;
  name: string;
  /** Only the configured relations themselves (not the children found through inheritance). */
  configured: boolean;
  columns: readonly { attnum: number; name: string }[];
}

/** `schema.table.column` as an operator wrote it (`table.column` without a schema). */
export function columnText(c: ColumnName): string {
  return c.schema === null ? `${c.table}.${c.column}` : `${c.schema}.${c.table}.${c.column}`;
}

/**
 * The bindings of every configured column of one upstream, kept across catalog loads. Not
 * thread-safe nor async: bind() runs when a snapshot is installed.
 */
export class RuleBinder {
  private readonly columns: ColumnName[] = [];
  private bound = new Map<string, BoundColumn[]>();
  /** The log lines already written, so that each situation is logged once (not on every load). */
  private readonly said = new Set<string>();
  /** Configured columns that bind to nothing in the last snapshot (as written). */
  unbound: string[] = [];

  constructor(
    columns: readonly ColumnName[],
    private readonly log: (message: string) => void = () => {},
  ) {
    const seen = new Set<string>();
    for (const c of columns) {
      const k = columnKey(c);
      if (seen.has(k)) continue;
      seen.add(k);
      this.columns.push(c);
    }
  }

  /** Every table OID some configured column is bound to (the catalog query asks for these too). */
  oids(): number[] {
    const s = new Set<number>();
    for (const list of this.bound.values()) for (const b of list) s.add(b.oid);
    return [...s].sort((a, b) => a - b);
  }

  /**
   * Binds every configured column against a snapshot's relations: the columns it was bound to
   * that still exist (whatever their names now), and every column that has the configured name.
   * Returns columnKey -> bound columns (absent: bound to nothing).
   */
  bind(relations: Iterable<BindableRelation>): Map<string, BoundColumn[]> {
    const byOid = new Map<number, BindableRelation>();
    for (const r of relations) byOid.set(r.oid, r);
    const next = new Map<string, BoundColumn[]>();
    const kept = new Map<string, BoundColumn[]>();
    const unbound: string[] = [];
    for (const c of this.columns) {
      const key = columnKey(c);
      const text = columnText(c);
      const out: BoundColumn[] = [];
      const add = (b: BoundColumn) => {
        if (!out.some((x) => x.oid === b.oid && x.attnum === b.attnum)) out.push(b);
      };
      const lost: BoundColumn[] = [];
      for (const b of this.bound.get(key) ?? []) {
        const rel = byOid.get(b.oid);
        const col = rel?.columns.find((x) => x.attnum === b.attnum);
        if (rel === undefined || col === undefined) {
          lost.push(b);
          continue;
        }
        add(b);
        const now = `${rel.schema}.${rel.name}.${col.name}`;
        if (rel.name !== c.table || col.name !== c.column || (c.schema !== null && rel.schema !== c.schema))
          this.once(
            `followed:${key}:${now}`,
            `masking: configured column ${text} was renamed to ${now} (table OID ${b.oid}, column ${b.attnum}); it is still masked`,
          );
      }
      // Followed from now on: the columns followed so far, and a column with the configured name
      // in a relation where none is followed (the first load, a new table of that name, a column
      // dropped and added again). In a relation where one is followed, another column that has
      // the name for a while (two columns swapping names) is masked while it has it, not after.
      const followed = new Set(out.map((b) => b.oid));
      const keep = [...out];
      for (const rel of byOid.values()) {
        if (!rel.configured || rel.name !== c.table || (c.schema !== null && rel.schema !== c.schema))
          continue;
        const col = rel.columns.find((x) => x.name === c.column);
        if (!col) continue;
        add({ oid: rel.oid, attnum: col.attnum });
        if (!followed.has(rel.oid)) keep.push({ oid: rel.oid, attnum: col.attnum });
      }
      if (keep.length > 0) kept.set(key, keep);
      for (const b of lost) {
        const again = out.filter((x) => x.oid === b.oid);
        this.once(
          `lost:${key}:${b.oid}:${b.attnum}`,
          again.length > 0
            ? `masking: configured column ${text} (table OID ${b.oid}, column ${b.attnum}) no longer exists; bound by name to column ${again.map((x) => x.attnum).join(', ')} of the same table`
            : `masking: configured column ${text} (table OID ${b.oid}, column ${b.attnum}) no longer exists`,
        );
      }
      if (out.length === 0) {
        unbound.push(text);
        this.once(
          `unbound:${key}`,
          `masking: configured column ${text} names no column of this database; nothing is masked by it until it exists`,
        );
      } else {
        this.said.delete(`unbound:${key}`);
        next.set(key, out);
      }
    }
    this.bound = kept;
    this.unbound = unbound;
    return next;
  }

  private once(key: string, message: string): void {
    if (this.said.has(key)) return;
    this.said.add(key);
    this.log(message);
  }
}
