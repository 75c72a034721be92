// Applies a batch of one gateway's chained records to the shared store: the records themselves
// (with their digests, unchanged) and the projections built from their bodies. Runs inside the
// shipper's transaction; one query per table and batch (unnest / jsonb_to_recordset), not per row.

import type pg from 'pg';
import type { Approval } from '../../../shared/api.js';
import type { SessionInfo, StatementRecord } from '../../../shared/types.js';
import { APPROVAL_KIND, decodeApprovalBody } from '../approvals.js';
import { decodeChunkHeader } from '../frames.js';
import { decodePruneBody, PRUNE_KIND } from '../retention.js';
import type { PolicyChangeRecord } from '../types.js';

/** One record as the local spool holds it. */
export interface ShippedRecord {
  id: number;
  kind: string;
  sessionId: string;
  tUs: number;
  digest: Buffer;
  body: Buffer;
  /** The partition key (schema.ts): the start of the record's session, or the record's own time. */
  partUs: number;
}

type Json = Record<string, unknown>;

function json(r: ShippedRecord): Json {
  return JSON.parse(r.body.toString('utf8')) as Json;
}

export async function applyRecords(
  client: pg.Client,
  gateway: string,
  records: readonly ShippedRecord[],
): Promise<void> {
  if (records.length === 0) return;
  await client.query(
    `INSERT INTO bastion.records (gateway, id, kind, session_id, t_us, digest, body, part_us)
     SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bytea[], $7::bytea[], $8::bigint[])`,
    [
      gateway,
      records.map((r) => r.id),
      records.map((r) => r.kind),
      records.map((r) => r.sessionId),
      records.map((r) => r.tUs),
      records.map((r) => r.digest),
      records.map((r) => r.body),
      records.map((r) => r.partUs),
    ],
  );
  const sessions: Json[] = [];
  const statements: Json[] = [];
  const counts = new Map<string, number>();
  const closes: Json[] = [];
  const chunks: [string, number, number, string, number, number, number][] = [];
  const approvals = new Map<string, { a: Approval; requestId: number; recordId: number }>();
  const policies: Json[] = [];
  const prunes: ShippedRecord[] = [];
  for (const r of records) {
    switch (r.kind) {
      case 'frames': {
        const h = decodeChunkHeader(r.body);
        chunks.push([r.sessionId, h.seq + h.count - 1, h.seq, h.dir, h.tUs, r.id, r.partUs]);
        break;
      }
      case 'session_open': {
        const s = json(r).session as SessionInfo;
        sessions.push({ ...s, open_record_id: r.id });
        break;
      }
      case 'statement': {
        const s = json(r).statement as StatementRecord;
        statements.push({
          ...s,
          params: s.params === null ? null : JSON.stringify(s.params),
          masked: JSON.stringify(s.masked ?? {}),
          approvalId: s.approvalId ?? null,
          record_id: r.id,
          part_us: r.partUs,
        });
        counts.set(s.sessionId, (counts.get(s.sessionId) ?? 0) + 1);
        break;
      }
      case 'session_close': {
        const c = json(r);
        closes.push({ id: c.sessionId, ended_at: c.endedAt, end_reason: c.endReason, record_id: r.id });
        break;
      }
      case APPROVAL_KIND: {
        const a = decodeApprovalBody(r.body);
        const known = approvals.get(a.id);
        approvals.set(a.id, { a, requestId: known?.requestId ?? r.id, recordId: r.id });
        break;
      }
      case 'policy_change': {
        const c = json(r).change as PolicyChangeRecord;
        policies.push({ ...c, id: r.id });
        break;
      }
      case PRUNE_KIND:
        prunes.push(r);
        break;
      default:
        throw new Error(`record ${r.id} of gateway ${gateway} has an unknown kind "${r.kind}"`);
    }
  }
  if (sessions.length) {
    await client.query(
      `INSERT INTO bastion.sessions (id, gateway, identity, auth_method, connection, client_address,
         application_name, database, tls, protocol, started_at, ended_at, end_reason, statements, open_record_id)
       SELECT x.id, $1, x.identity, x."authMethod", x.connection, x."clientAddress", x."applicationName",
         x.database, x.tls, x.protocol, x."startedAt", x."endedAt", x."endReason", 0, x.open_record_id
       FROM jsonb_to_recordset($2::jsonb) AS x(id text, identity text, "authMethod" text, connection text,
         "clientAddress" text, "applicationName" text, database text, tls boolean, protocol text,
         "startedAt" bigint, "endedAt" bigint, "endReason" text, open_record_id bigint)`,
      [gateway, JSON.stringify(sessions)],
    );
  }
  if (statements.length) {
    await client.query(
      `INSERT INTO bastion.statements (session_id, seq, gateway, protocol, sql, params, started_at,
         duration_us, rows, tag, error_code, error_message, decision, rule, approval_id, first_frame,
         last_frame, truncated, uncaptured_bytes, uncaptured_rows, uncaptured_digest, masked, record_id, part_us)
       SELECT x."sessionId", x.seq, $1, x.protocol, x.sql, x.params, x."startedAt", x."durationUs", x.rows,
         x.tag, x."errorCode", x."errorMessage", x.decision, x.rule, x."approvalId", x."firstFrame",
         x."lastFrame", x.truncated, x."uncapturedBytes", x."uncapturedRows", x."uncapturedDigest",
         x.masked, x.record_id, x.part_us
       FROM jsonb_to_recordset($2::jsonb) AS x("sessionId" text, seq integer, protocol text, sql text,
         params text, "startedAt" bigint, "durationUs" bigint, rows bigint, tag text, "errorCode" text,
         "errorMessage" text, decision text, rule text, "approvalId" text, "firstFrame" bigint,
         "lastFrame" bigint, truncated boolean, "uncapturedBytes" bigint, "uncapturedRows" bigint,
         "uncapturedDigest" text, masked text, record_id bigint, part_us bigint)`,
      [gateway, JSON.stringify(statements)],
    );
    await client.query(
      `UPDATE bastion.sessions s SET statements = s.statements + x.n
       FROM unnest($1::text[], $2::integer[]) AS x(id, n) WHERE s.id = x.id`,
      [[...counts.keys()], [...counts.values()]],
    );
  }
  if (chunks.length) {
    await client.query(
      `INSERT INTO bastion.frame_chunks (session_id, seq_last, seq_first, dir, t_us, gateway, record_id, part_us)
       SELECT x.s, x.l, x.f, x.d, x.t, $1, x.r, x.p
       FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[])
         AS x(s, l, f, d, t, r, p)`,
      [gateway, ...[0, 1, 2, 3, 4, 5, 6].map((i) => chunks.map((c) => c[i]))],
    );
  }
  if (closes.length) {
    await client.query(
      `UPDATE bastion.sessions s SET ended_at = x.ended_at, end_reason = x.end_reason, close_record_id = x.record_id
       FROM jsonb_to_recordset($1::jsonb) AS x(id text, ended_at bigint, end_reason text, record_id bigint)
       WHERE s.id = x.id`,
      [JSON.stringify(closes)],
    );
  }
  for (const { a, requestId, recordId } of approvals.values()) {
    await client.query(
      `INSERT INTO bastion.approvals (id, gateway, session_id, identity, connection, sql, rule, reason,
         client_reason, requested_at, expires_at, state, decided_by, decided_at, recent, request_record_id, record_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
       ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, decided_by = EXCLUDED.decided_by,
         decided_at = EXCLUDED.decided_at, record_id = EXCLUDED.record_id`,
      [
        a.id,
        gateway,
        a.sessionId,
        a.identity,
        a.connection,
        a.sql,
        a.rule,
        a.reason,
        a.clientReason,
        a.requestedAt,
        a.expiresAt,
        a.state,
        a.decidedBy,
        a.decidedAt,
        JSON.stringify(a.recent),
        requestId,
        recordId,
      ],
    );
  }
  for (const c of policies) {
    await client.query(
      `INSERT INTO bastion.policy_changes (gateway, id, at, changed_by, summary, diff, yaml)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [gateway, c.id, c.at, c.by, c.summary, c.diff, c.yaml],
    );
  }
  for (const r of prunes) await applyPrune(client, gateway, r);
}

/** Retention on a gateway removed sessions from its chain: remove the same here, keeping its checkpoint. */
async function applyPrune(client: pg.Client, gateway: string, r: ShippedRecord): Promise<void> {
  const info = decodePruneBody(r.id, r.body);
  const ids = info.sessions.map((s) => s.id);
  const last = info.ranges[info.ranges.length - 1];
  if (last) {
    await client.query(
      `INSERT INTO bastion.checkpoints (gateway, id, record_id, digest, created_at) VALUES ($1, $2, $3, $4, $5)`,
      [gateway, r.id, last[1], Buffer.from(last[2], 'hex'), info.at],
    );
  }
  for (const table of ['statements', 'frame_chunks', 'approvals']) {
    await client.query(`DELETE FROM bastion.${table} WHERE gateway = $1 AND session_id = ANY($2::text[])`, [
      gateway,
      ids,
    ]);
  }
  await client.query('DELETE FROM bastion.sessions WHERE gateway = $1 AND id = ANY($2::text[])', [
    gateway,
    ids,
  ]);
  for (const [first, lastId] of info.ranges) {
    await client.query('DELETE FROM bastion.records WHERE gateway = $1 AND id BETWEEN $2 AND $3', [
      gateway,
      first,
      lastId,
    ]);
  }
}
