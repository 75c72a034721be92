// The shared PostgreSQL audit store's schema (schema `bastion`).
//
// As in the SQLite store, `records` is the source of truth and everything else a projection of it,
// but here records are keyed by (gateway, id): every gateway keeps its own integrity chain (built
// in its local spool, see shipper.ts) and ships the records with their digests, so the shared store
// can verify each gateway's chain by itself. `gateways` holds each chain's shipped head (the
// high-water mark a shipper resumes from). `decisions` carries approval decisions made through the
// shared store to the gateway that holds the statement (decisions.ts).

import type pg from 'pg';
import { createMonths, monthsAhead } from './partitions.js';

export const PG_SCHEMA_VERSION = 2;

/** Text search is over the SQL with every run of ASCII punctuation, spaces and controls turned into one space (so `public.customers` is two words, as in the SQLite store) and capped (tsvector has a size limit). */
export const TSV_EXPR =
  "to_tsvector('simple', regexp_replace(left(sql, 100000), '[\\x01-\\x2F\\x3A-\\x40\\x5B-\\x60\\x7B-\\x7F]+', ' ', 'g'))";

/** Everything but the three big tables (see BIG_TABLES). */
const COMMON = `
CREATE TABLE bastion.meta (key text PRIMARY KEY, value text NOT NULL);

CREATE TABLE bastion.gateways (
  name text PRIMARY KEY,
  head_id bigint NOT NULL DEFAULT 0,
  head_digest bytea,
  shipped_at bigint
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

/**
 * The three tables that grow with every statement and frame, partitioned by month (partitions.ts)
 * on `part_us`: the start of the record's session (epoch microseconds), or the record's own time
 * for a record of no session. All records, statements and frame chunks of one session land in one
 * month, so dropping a month drops whole sessions. A partitioned table's primary key must hold the
 * partition key; (gateway, id) stays unique because a batch lands exactly once (shipper.ts).
 */
const BIG_TABLES = `
CREATE TABLE bastion.records (
  gateway text NOT NULL,
  id bigint NOT NULL,
  kind text NOT NULL,
  session_id text NOT NULL,
  t_us bigint NOT NULL,
  digest bytea NOT NULL,
  body bytea NOT NULL,
  part_us bigint NOT NULL,
  PRIMARY KEY (gateway, id, part_us)
) PARTITION BY RANGE (part_us);

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
  part_us bigint NOT NULL,
  PRIMARY KEY (session_id, seq, part_us)
) PARTITION BY RANGE (part_us);
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
  part_us bigint NOT NULL,
  PRIMARY KEY (session_id, seq_last, part_us)
) PARTITION BY RANGE (part_us);
`;

/**
 * What a dropped partition took from each gateway's chain, as retention's prune records state it
 * (retention.ts): the removed ids as runs of consecutive present ids, with the digest of each
 * run's last record, so `verify` bridges the gap. Written by partitions.ts, not by a gateway.
 */
const CUTS = `
CREATE TABLE bastion.cuts (
  gateway text NOT NULL,
  id bigserial,
  part text NOT NULL,
  dropped_at bigint NOT NULL,
  sessions integer NOT NULL,
  records bigint NOT NULL,
  ranges jsonb NOT NULL,
  PRIMARY KEY (gateway, id)
);
`;

/**
 * Makes the partitions of months (counted from 1970-01, UTC: partitions.ts) that do not exist yet.
 * SECURITY DEFINER, so that gateway roles kept away from DDL can make next month's partitions:
 * the store's owner grants them EXECUTE (docs/TEAM.md). Bounds are epoch microseconds.
 */
const ENSURE_MONTHS = `
CREATE FUNCTION bastion.ensure_months(months integer[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
DECLARE
  m integer;
  t text;
  first timestamptz;
  part text;
BEGIN
  FOREACH m IN ARRAY months LOOP
    IF m IS NULL OR m < 0 OR m >= 12 * 8000 THEN
      RAISE EXCEPTION 'month % is out of range', m USING ERRCODE = 'invalid_parameter_value';
    END IF;
    first := make_timestamptz(1970 + m / 12, m % 12 + 1, 1, 0, 0, 0, 'UTC');
    FOREACH t IN ARRAY ARRAY['records', 'statements', 'frame_chunks'] LOOP
      part := t || '_p' || to_char(first AT TIME ZONE 'UTC', 'YYYY_MM');
      IF to_regclass('bastion.' || quote_ident(part)) IS NULL THEN
        EXECUTE format('CREATE TABLE bastion.%I PARTITION OF bastion.%I FOR VALUES FROM (%s) TO (%s)',
          part, t, (extract(epoch FROM first) * 1000000)::bigint,
          (extract(epoch FROM first + interval '1 month') * 1000000)::bigint);
      END IF;
    END LOOP;
  END LOOP;
END $fn$;
REVOKE ALL ON FUNCTION bastion.ensure_months(integer[]) FROM PUBLIC;
`;

/** A new store: partitioned from the start. */
const FRESH =
  COMMON +
  BIG_TABLES +
  CUTS +
  ENSURE_MONTHS +
  `
INSERT INTO bastion.meta (key, value) VALUES ('partitions', 'month');
`;

/**
 * Version 1 -> 2: a store made unpartitioned by an older Bastion stays unpartitioned (turning a
 * large table into a partitioned one means copying it); it gets the partition key column (unused,
 * null in old rows: adding it is instant) so every version writes the same rows.
 */
const V1_TO_V2 = `
ALTER TABLE bastion.records ADD COLUMN part_us bigint;
ALTER TABLE bastion.statements ADD COLUMN part_us bigint;
ALTER TABLE bastion.frame_chunks ADD COLUMN part_us bigint;
${CUTS}`;

/** What version 1 made of the three big tables: unpartitioned (tests build such a store). */
const V1_BIG_TABLES = `
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
`;

/** The whole schema a version-1 store has (before its migration). */
export const PG_SCHEMA_V1 = COMMON + V1_BIG_TABLES;

/** MIGRATIONS[v] brings a store at version v (>= 1) to v + 1. */
const MIGRATIONS: readonly string[] = ['', V1_TO_V2];

/**
 * Creates or migrates the schema and, in a partitioned store, this month's partitions and the next
 * ones. Gateways may start together: one advisory lock serializes them. Throws when the store was
 * made by a newer Bastion. Returns whether the big tables are partitioned.
 */
export async function ensurePgSchema(
  client: pg.Client,
  nowUs = Date.now() * 1000,
): Promise<{ partitioned: boolean; monthsError: string | null }> {
  await client.query('BEGIN');
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('bastion.schema'))");
    // Only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even then, which
    // a gateway role kept from DDL does not have.
    const schema = await client.query("SELECT to_regnamespace('bastion') IS NOT NULL AS ok");
    if (!schema.rows[0].ok) await client.query('CREATE SCHEMA bastion');
    const has = await client.query("SELECT to_regclass('bastion.meta') IS NOT NULL AS ok");
    let version = 0;
    if (has.rows[0].ok) {
      const v = await client.query("SELECT value FROM bastion.meta WHERE key = 'schema_version'");
      version = Number(v.rows[0]?.value ?? 0);
    }
    if (version > PG_SCHEMA_VERSION) {
      throw new Error(`its schema version ${version} is newer than this Bastion's (${PG_SCHEMA_VERSION})`);
    }
    if (version === 0) await client.query(FRESH);
    else for (let v = version; v < PG_SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v]);
    if (version < PG_SCHEMA_VERSION) {
      await client.query(
        `INSERT INTO bastion.meta (key, value) VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
        [String(PG_SCHEMA_VERSION)],
      );
    }
    const p = await client.query("SELECT value FROM bastion.meta WHERE key = 'partitions'");
    const partitioned = p.rows[0]?.value === 'month';
    let monthsError: string | null = null;
    if (partitioned) {
      // A role that may not make partitions still ships into the months that exist.
      await client.query('SAVEPOINT months');
      try {
        await createMonths(client, monthsAhead(nowUs));
      } catch (e) {
        await client.query('ROLLBACK TO SAVEPOINT months');
        monthsError = (e as Error).message;
      }
    }
    await client.query('COMMIT');
    return { partitioned, monthsError };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  }
}
