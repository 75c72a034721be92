// Prepared statements of one session, by name: what `EXECUTE name` (SQL) or Bind/Execute
// (protocol) will run. SQL PREPARE and protocol Parse share PostgreSQL's one namespace.

import type { Unit } from './types.js';

export interface PreparedEntry {
  sql: string;
  /** The prepared statement's units (for PREPARE, the inner statement's). */
  units: Unit[];
}

/** Beyond this many names the oldest is forgotten (an EXECUTE of it is then `unknown`: fail closed). */
const MAX_PREPARED = 10_000;

/** What deciding needs of a session's prepared statements (see DecideContext.prepared). */
export interface PreparedLookup {
  get(name: string): PreparedEntry | undefined;
  set(name: string, entry: PreparedEntry): void;
  delete(name: string): void;
  clear(): void;
}

export class PreparedRegistry implements PreparedLookup {
  private readonly entries = new Map<string, PreparedEntry>();

  get size(): number {
    return this.entries.size;
  }

  get(name: string): PreparedEntry | undefined {
    return this.entries.get(name);
  }

  set(name: string, entry: PreparedEntry): void {
    this.entries.delete(name);
    this.entries.set(name, entry);
    if (this.entries.size > MAX_PREPARED) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  delete(name: string): void {
    this.entries.delete(name);
  }

  clear(): void {
    this.entries.clear();
  }
}
