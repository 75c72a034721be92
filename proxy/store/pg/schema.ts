// The shared PostgreSQL audit store's schema (schema `bastion`).
//
// As in the SQLite store, `records` is the source of truth and everything else a projection of it,
// but here records are keyed by (gateway, id): every gateway keeps its own integrity chain (built
// in its local spool, see shipper.ts) and ships the records with their digests, so the shared store
// can verify each gateway's chain by itself. `gateways` holds each chain's shipped head (the
// high-water mark a shipper resumes from). `decisions` carries approval decisions made through the
// shared store to the gateway that holds the statement (decisions.ts).

import type pg from 'pg';

export const PG_SCHEMA_VERSION = 1;

/** Text search is over the SQL with every run of ASCII punctuation, spaces and controls turned into one space (so `public.customers` is two words, as in the SQLite store) and capped (tsvector has a size limit). */
export const TSV_EXPR =
  "to_tsvector('simple', regexp_replace(left(sql, 100000), '[\\x01-\\x2F\\x3A-\\x40\\x5B-\\x60\\x7B-\\x7F]+', ' ', 'g'))";

const V1 = `
CREATE TABLE bastion.meta (key text PRIMARY KEY, value text NOT NULL);

CREATE TABLE bastion.gateways (
  name text PRIMARY KEY,
  head_id bigint NOT NULL DEFAULT 0,
  head_digest bytea,
  shipped_at bigint
);

CREATE TABLE bastion.records (
  gateway text NOT NULL,
  id bigint NOT NULL,
  kind text NOT NULL,
  session_id text NOT NULL,
  t_us bigint NOT NULL,
  digest bytea NOT NULL,
  body bytea NOT NULL,
  PRIMARY KEY (gateway, id)
);

CREATE TABLE bastion.checkpoints (
  gateway text NOT NULL,
  id bigint NOT NULL,
  record_id bigint NOT NULL,
  digest bytea NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (gateway, id)
);

CREATE TABLE bastion.sessions (
  id text PRIMARY KEY,
  gateway text NOT NULL,
  identity text NOT NULL,
  auth_method text NOT NULL,
  connection text NOT NULL,
  client_address text NOT NULL,
  application_name text,
  database text,
  tls boolean NOT NULL,
  protocol text NOT NULL,
  started_at bigint NOT NULL,
  ended_at bigint,
  end_reason text,
  statements integer NOT NULL,
  open_record_id bigint NOT NULL,
  close_record_id bigint
);
CREATE INDEX sessions_by_start ON bastion.sessions (started_at DESC, id);
CREATE INDEX sessions_by_identity ON bastion.sessions (identity, started_at);
CREATE INDEX sessions_by_connection ON bastion.sessions (connection, started_at);
CREATE INDEX sessions_open ON bastion.sessions (gateway) WHERE close_record_id IS NULL;

CREATE TABLE bastion.statements (
  session_id text NOT NULL,
  seq integer NOT NULL,
  gateway text NOT NULL,
  protocol text NOT NULL,
  sql text NOT NULL,
  params text,
  started_at bigint NOT NULL,
  duration_us bigint NOT NULL,
  rows bigint NOT NULL,
  tag text,
  error_code text,
  error_message text,
  decision text NOT NULL,
  rule text,
  approval_id text,
  first_frame bigint NOT NULL,
  last_frame bigint NOT NULL,
  truncated boolean NOT NULL,
  uncaptured_bytes bigint NOT NULL,
  uncaptured_rows bigint NOT NULL,
  uncaptured_digest text,
  masked text NOT NULL,
  record_id bigint NOT NULL,
  tsv tsvector GENERATED ALWAYS AS (${TSV_EXPR}) STORED,
  PRIMARY KEY (session_id, seq)
);
CREATE INDEX statements_fts ON bastion.statements USING gin (tsv);
CREATE INDEX statements_by_time ON bastion.statements (started_at DESC);
CREATE INDEX statements_flagged ON bastion.statements (session_id)
  WHERE decision IN ('block', 'review') OR error_code IS NOT NULL;

CREATE TABLE bastion.frame_chunks (
  session_id text NOT NULL,
  seq_last bigint NOT NULL,
  seq_first bigint NOT NULL,
  dir text NOT NULL,
  t_us bigint NOT NULL,
  gateway text NOT NULL,
  record_id bigint NOT NULL,
  PRIMARY KEY (session_id, seq_last)
);

CREATE TABLE bastion.approvals (
  id text PRIMARY KEY,
  gateway text NOT NULL,
  session_id text NOT NULL,
  identity text NOT NULL,
  connection text NOT NULL,
  sql text NOT NULL,
  rule text,
  reason text NOT NULL,
  client_reason text,
  requested_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  state text NOT NULL,
  decided_by text,
  decided_at bigint,
  recent text NOT NULL,
  request_record_id bigint NOT NULL,
  record_id bigint NOT NULL
);
CREATE INDEX approvals_by_session ON bastion.approvals (session_id, requested_at);
CREATE INDEX approvals_by_state ON bastion.approvals (state, requested_at DESC);

-- pid: a fleet-wide id for the API (record ids repeat across gateways).
CREATE TABLE bastion.policy_changes (
  pid bigserial PRIMARY KEY,
  gateway text NOT NULL,
  id bigint NOT NULL,
  at bigint NOT NULL,
  changed_by text NOT NULL,
  summary text NOT NULL,
  diff text NOT NULL,
  yaml text NOT NULL,
  UNIQUE (gateway, id)
);

-- A decision made away from the gateway that holds the statement. The holder applies it (its
-- ApprovalQueue records the outcome in its own chain, which ships back) and fills outcome.
CREATE TABLE bastion.decisions (
  approval_id text PRIMARY KEY,
  gateway text NOT NULL,
  decision text NOT NULL CHECK (decision IN ('approve', 'deny')),
  decided_by text NOT NULL,
  decided_at bigint NOT NULL,
  applied_at bigint,
  outcome text,
  error text
);
CREATE INDEX decisions_unapplied ON bastion.decisions (gateway) WHERE applied_at IS NULL;
`;

const MIGRATIONS: readonly string[] = [V1];

/**
 * Creates or migrates the schema. Gateways may start together: one advisory lock serializes them.
 * Throws when the store was made by a newer Bastion.
 */
export async function ensurePgSchema(client: pg.Client): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('bastion.schema'))");
    await client.query('CREATE SCHEMA IF NOT EXISTS bastion');
    const has = await client.query("SELECT to_regclass('bastion.meta') IS NOT NULL AS ok");
    let version = 0;
    if (has.rows[0].ok) {
      const v = await client.query("SELECT value FROM bastion.meta WHERE key = 'schema_version'");
      version = Number(v.rows[0]?.value ?? 0);
    }
    if (version > PG_SCHEMA_VERSION) {
      throw new Error(`its schema version ${version} is newer than this Bastion's (${PG_SCHEMA_VERSION})`);
    }
    for (let v = version; v < PG_SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v]);
    if (version < PG_SCHEMA_VERSION) {
      await client.query(
        `INSERT INTO bastion.meta (key, value) VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
        [String(PG_SCHEMA_VERSION)],
      );
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  }
}
