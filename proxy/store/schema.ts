// The SQLite schema of the session store, versioned with PRAGMA user_version.
//
// `records` is the source of truth (append-only, chained); every other table is a projection
// of it for queries, and each projection row names the record that attests it so `verify` can
// check the projection against the chain.

import type Database from 'better-sqlite3';

export const SCHEMA_VERSION = 3;

/** Version 1: records, checkpoints and the sessions, statements and frame_chunks projections. */
const V1 = `
-- body is the last column so that reading the other columns (digest included) never has to
-- follow a large body's overflow pages. t_us: epoch microseconds, except for frames records
-- where it is the chunk's microseconds since its session started.
CREATE TABLE records (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  session_id TEXT NOT NULL,
  t_us INTEGER NOT NULL,
  digest BLOB NOT NULL,
  body BLOB NOT NULL
) STRICT;

-- Retention (later) prunes records up to a checkpoint; the chain then continues from the
-- checkpoint's (record_id, digest). Empty until then.
CREATE TABLE checkpoints (
  id INTEGER PRIMARY KEY,
  record_id INTEGER NOT NULL,
  digest BLOB NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

-- Guards against accidents, not attackers (verify catches those): records never change, and
-- only records covered by a checkpoint may be deleted.
CREATE TRIGGER records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'records are append-only'); END;
CREATE TRIGGER records_no_delete BEFORE DELETE ON records
WHEN old.id > coalesce((SELECT max(record_id) FROM checkpoints), 0)
BEGIN SELECT RAISE(ABORT, 'records are append-only: only checkpointed records can be pruned'); END;

CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  identity TEXT NOT NULL,
  auth_method TEXT NOT NULL,
  connection TEXT NOT NULL,
  client_address TEXT NOT NULL,
  application_name TEXT,
  database TEXT,
  tls INTEGER NOT NULL,
  protocol TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  ended_at INTEGER,
  end_reason TEXT,
  statements INTEGER NOT NULL,
  open_record_id INTEGER NOT NULL UNIQUE,
  close_record_id INTEGER
) STRICT;
CREATE INDEX sessions_by_start ON sessions (started_at, open_record_id);
CREATE INDEX sessions_by_identity ON sessions (identity, started_at);
CREATE INDEX sessions_by_connection ON sessions (connection, started_at);
CREATE INDEX sessions_open ON sessions (close_record_id) WHERE close_record_id IS NULL;

CREATE TABLE statements (
  session_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  protocol TEXT NOT NULL,
  sql TEXT NOT NULL,
  params TEXT,
  started_at INTEGER NOT NULL,
  duration_us INTEGER NOT NULL,
  rows INTEGER NOT NULL,
  tag TEXT,
  error_code TEXT,
  error_message TEXT,
  decision TEXT NOT NULL,
  rule TEXT,
  first_frame INTEGER NOT NULL,
  last_frame INTEGER NOT NULL,
  truncated INTEGER NOT NULL,
  uncaptured_bytes INTEGER NOT NULL,
  uncaptured_rows INTEGER NOT NULL,
  uncaptured_digest TEXT,
  masked TEXT NOT NULL,
  record_id INTEGER NOT NULL,
  PRIMARY KEY (session_id, seq)
) STRICT, WITHOUT ROWID;

-- Keyed by (session, last seq) so that "frames of S from seq N" is one range seek: the first
-- chunk with seq_last >= N, then onwards. Chunks of a session never overlap, so seq_last order
-- is seq order.
CREATE TABLE frame_chunks (
  session_id TEXT NOT NULL,
  seq_last INTEGER NOT NULL,
  seq_first INTEGER NOT NULL,
  dir TEXT NOT NULL,
  t_us INTEGER NOT NULL,
  record_id INTEGER NOT NULL,
  PRIMARY KEY (session_id, seq_last)
) STRICT, WITHOUT ROWID;
`;

/** The approvals projection's columns (shared by the table and its read-only stand-in). */
const APPROVALS_COLUMNS = `
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  identity TEXT NOT NULL,
  connection TEXT NOT NULL,
  sql TEXT NOT NULL,
  rule TEXT,
  reason TEXT NOT NULL,
  client_reason TEXT,
  requested_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  decided_by TEXT,
  decided_at INTEGER,
  recent TEXT NOT NULL,
  request_record_id INTEGER NOT NULL,
  record_id INTEGER NOT NULL`;

/**
 * Version 2: approvals. Every state change of an approval is an `approval` record; the
 * `approvals` projection holds one row per approval with its latest state (attested by
 * record_id) and the record that first stated it (request_record_id: the 'pending' record, or
 * the same record when the outcome was the first thing recorded). statements.approval_id names
 * the approval that held a statement.
 */
const V2 = `
ALTER TABLE statements ADD COLUMN approval_id TEXT;
CREATE INDEX statements_by_approval ON statements (approval_id) WHERE approval_id IS NOT NULL;

CREATE TABLE approvals (${APPROVALS_COLUMNS}
) STRICT;
CREATE INDEX approvals_by_session ON approvals (session_id, requested_at);
CREATE INDEX approvals_by_time ON approvals (requested_at, request_record_id);
CREATE INDEX approvals_by_state ON approvals (state, requested_at, request_record_id);
`;

/** The policy_changes projection's columns (shared by the table and its read-only stand-in). */
const POLICY_CHANGES_COLUMNS = `
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  changed_by TEXT NOT NULL,
  summary TEXT NOT NULL,
  diff TEXT NOT NULL,
  yaml TEXT NOT NULL`;

/**
 * Version 3: search, and policy changes.
 * - statements_fts: a full-text index over statements.sql. It is derived (like an index, it is not
 *   attested by records and verify does not check it) and kept in step by append and prune.
 *   Contentless (the text lives in statements); its rowid is the statement's record id, so a hit
 *   finds its session through records (id = rowid) and newest first is rowid DESC.
 * - partial indexes on statements for "sessions that have blocked / held / failed statements".
 * - policy_changes: every change of policy is a chained `policy_change` record (who, when, the
 *   diff and the whole new text); this projection lists them (id = the record's id).
 */
const V3 = `
CREATE VIRTUAL TABLE statements_fts USING fts5(
  sql, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO statements_fts (rowid, sql) SELECT record_id, sql FROM statements;
CREATE INDEX statements_blocked ON statements (session_id) WHERE decision = 'block';
CREATE INDEX statements_held ON statements (session_id) WHERE decision = 'review';
CREATE INDEX statements_failed ON statements (session_id) WHERE error_code IS NOT NULL;

CREATE TABLE policy_changes (${POLICY_CHANGES_COLUMNS}
) STRICT;
`;

/** MIGRATIONS[v] brings a file at version v to version v + 1. */
const MIGRATIONS: readonly string[] = [V1, V2, V3];

/**
 * What a read-only connection to a file at version v (>= 1) needs to read it as the current
 * version without changing it: TEMP objects that stand in for what later migrations add (an
 * unqualified name finds the temp schema first). Writes are never prepared read-only.
 */
const READ_ONLY_SHIMS: readonly string[] = [
  '',
  `CREATE TEMP VIEW statements AS SELECT *, NULL AS approval_id FROM main.statements;
   CREATE TEMP TABLE approvals (${APPROVALS_COLUMNS}
   ) STRICT;`,
  // No full-text index (search falls back to scanning statements: see SqliteSessionStore.fts).
  `CREATE TEMP TABLE policy_changes (${POLICY_CHANGES_COLUMNS}
   ) STRICT;`,
];

/**
 * Brings the file to SCHEMA_VERSION (creating it in an empty file, migrating an older one), or,
 * read-only, checks that it is a Bastion store and lets this connection read an older version as
 * the current one. Throws an Error saying what is wrong with a file that is not a Bastion store or
 * is too new (the caller adds the path).
 */
export function ensureSchema(db: Database.Database, readonly: boolean): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`its schema version ${version} is newer than this Bastion's (${SCHEMA_VERSION})`);
  }
  if (version === SCHEMA_VERSION) return;
  const tables = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").pluck().get();
  if (version === 0 && tables !== 0) {
    throw new Error('it is an SQLite file but not a Bastion store');
  }
  if (readonly) {
    if (version === 0) throw new Error('it is empty, not a Bastion store');
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(READ_ONLY_SHIMS[v]);
    return;
  }
  db.transaction(() => {
    // Re-read inside the write lock: another process may have migrated the file meanwhile.
    const from = db.pragma('user_version', { simple: true }) as number;
    for (let v = from; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
