// Time partitions of the shared store's big tables (records, statements, frame_chunks; see
// schema.ts), one per calendar month (UTC) of `part_us`, and retention by dropping whole months.
//
// Partitions are created ahead (this month and the next two) when a shipper connects, and on
// demand for a batch that needs an older or later month, under the schema's advisory lock.
//
// Dropping a month removes ids from the middle of every gateway's chain. As a gateway's `prune`
// record does, the drop writes, per gateway, which ids went (runs of consecutive present ids) and
// the digest that ends each run, to `bastion.cuts`; `verify` bridges the gaps with them. It runs with
// every gateway's row locked (a shipper's batch takes its row first) and the big tables locked
// against writes, so no batch lands in the month while it is measured and dropped. A month that
// still holds an open session is kept (with every later month) until the session closes.

import type pg from 'pg';
import type { Logger } from '../../session/session.js';
import { decodePruneBody } from '../retention.js';

export const BIG_TABLES = ['records', 'statements', 'frame_chunks'] as const;

/** Months ahead of the current one created in advance. */
const MONTHS_AHEAD = 2;

/** Months since 1970-01, UTC, of an epoch-microseconds time. */
export function monthOf(us: number): number {
  const d = new Date(Math.floor(us / 1000));
  return d.getUTCFullYear() * 12 + d.getUTCMonth() - 1970 * 12;
}

/** Epoch microseconds at the start of a month. */
export function monthStartUs(month: number): number {
  return Date.UTC(1970 + Math.floor(month / 12), month % 12, 1) * 1000;
}

/** "2026_11": the suffix of a month's partitions. */
export function monthSuffix(month: number): string {
  return `${1970 + Math.floor(month / 12)}_${String((month % 12) + 1).padStart(2, '0')}`;
}

function monthOfSuffix(suffix: string): number | null {
  const m = /^(\d{4})_(\d{2})$/.exec(suffix);
  if (!m) return null;
  return (Number(m[1]) - 1970) * 12 + Number(m[2]) - 1;
}

/** Whether the store's big tables are partitioned (a store made by schema version 1 is not). */
export async function isPartitioned(client: pg.Client): Promise<boolean> {
  const r = await client.query("SELECT value FROM bastion.meta WHERE key = 'partitions'");
  return r.rows[0]?.value === 'month';
}

/** The months that have partitions, ascending. */
export async function listMonths(client: pg.Client): Promise<number[]> {
  const r = await client.query(
    `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'bastion.records'::regclass`,
  );
  return r.rows
    .map((x) => monthOfSuffix(String(x.relname).replace(/^records_p/, '')))
    .filter((m): m is number => m !== null)
    .sort((a, b) => a - b);
}

/**
 * Creates the months' partitions that do not exist yet (bastion.ensure_months, schema.ts). Run
 * inside the caller's transaction.
 */
export async function createMonths(client: pg.Client, months: Iterable<number>): Promise<void> {
  await client.query('SELECT bastion.ensure_months($1::int[])', [[...new Set(months)]]);
}

/** This month and the next ones, created ahead (inside the schema's transaction). */
export function monthsAhead(nowUs: number): number[] {
  const now = monthOf(nowUs);
  return Array.from({ length: MONTHS_AHEAD + 1 }, (_, i) => now + i);
}

/** Creates partitions for `months` in a transaction of its own, under the schema's advisory lock. */
export async function ensureMonths(client: pg.Client, months: Iterable<number>): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('bastion.schema'))");
    await createMonths(client, months);
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  }
}

export interface DroppedMonth {
  month: string;
  /** Per gateway: sessions and records the month held. */
  gateways: { gateway: string; sessions: number; records: number }[];
}

export interface RetentionOutcome {
  dropped: DroppedMonth[];
  /** Why the oldest month due was kept, if one was. */
  kept: string | null;
}

/**
 * Drops every month whose sessions all started before `beforeUs`, oldest first, one transaction
 * each. Another store client doing the same meanwhile makes this one skip (advisory lock).
 */
export async function dropMonthsBefore(
  client: pg.Client,
  beforeUs: number,
  log: Logger,
  nowUs = Date.now() * 1000,
): Promise<RetentionOutcome> {
  const out: RetentionOutcome = { dropped: [], kept: null };
  if (!(await isPartitioned(client))) {
    out.kept =
      'the store is not partitioned (made by an older Bastion); retention follows prune records only';
    return out;
  }
  for (const month of await listMonths(client)) {
    if (monthStartUs(month + 1) > beforeUs) break;
    const done = await dropMonth(client, month, nowUs);
    if (typeof done === 'string') {
      out.kept = done;
      log.warn(`shared store retention: ${done}`);
      break;
    }
    if (done) {
      out.dropped.push(done);
      const what = done.gateways.map((g) => `${g.gateway}: ${g.sessions} sessions, ${g.records} records`);
      log.info(`shared store retention: dropped month ${done.month} (${what.join('; ') || 'empty'})`);
    }
  }
  return out;
}

type Range = [number, number, string];

/** One month: null when another client holds the retention lock, a reason when it must stay. */
async function dropMonth(
  client: pg.Client,
  month: number,
  nowUs: number,
): Promise<DroppedMonth | string | null> {
  const suffix = monthSuffix(month);
  const part = `bastion.records_p${suffix}`;
  await client.query('BEGIN');
  try {
    const lock = await client.query("SELECT pg_try_advisory_xact_lock(hashtext('bastion.retention')) AS ok");
    if (!lock.rows[0].ok) {
      await client.query('ROLLBACK');
      return null;
    }
    // Never queue for long behind a reader (a verify holds its tables for its whole snapshot):
    // while DROP waited, new readers would wait behind it. Retried at the next run instead.
    await client.query("SET LOCAL lock_timeout = '10s'");
    // Shippers take their gateway's row before writing: holding every row keeps them out; the
    // table lock keeps out a gateway whose row is created meanwhile. Readers go on.
    await client.query('SELECT name FROM bastion.gateways ORDER BY name FOR UPDATE');
    await client.query(`LOCK TABLE ${BIG_TABLES.map((t) => `bastion.${t}`).join(', ')} IN EXCLUSIVE MODE`);
    const open = await client.query(
      `SELECT s.id, s.gateway FROM bastion.sessions s JOIN ${part} r
         ON r.gateway = s.gateway AND r.id = s.open_record_id
       WHERE s.close_record_id IS NULL LIMIT 1`,
    );
    if (open.rows.length > 0) {
      await client.query('ROLLBACK');
      const s = open.rows[0];
      return `month ${suffix} is kept: session ${s.id} of gateway "${s.gateway}" is still open`;
    }
    const dropped: DroppedMonth = { month: suffix, gateways: [] };
    const gateways = await client.query(
      `SELECT gateway, count(*)::bigint AS records, count(*) FILTER (WHERE kind = 'session_open')::int AS sessions
       FROM ${part} GROUP BY gateway ORDER BY gateway`,
    );
    for (const g of gateways.rows) {
      const gateway = g.gateway as string;
      const ranges = await removedRuns(client, part, gateway);
      // Prune records in this month go too: keep the ranges they declared, so their gaps stay bridged.
      const prunes = await client.query(
        `SELECT r.id, r.body FROM bastion.checkpoints c JOIN ${part} r ON r.gateway = c.gateway AND r.id = c.id
         WHERE c.gateway = $1`,
        [gateway],
      );
      for (const p of prunes.rows) {
        for (const range of decodePruneBody(Number(p.id), p.body as Buffer).ranges) ranges.push(range);
      }
      ranges.sort((a, b) => a[0] - b[0]);
      await client.query(
        `INSERT INTO bastion.cuts (gateway, part, dropped_at, sessions, records, ranges)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [gateway, suffix, nowUs, g.sessions, g.records, JSON.stringify(ranges)],
      );
      dropped.gateways.push({ gateway, sessions: Number(g.sessions), records: Number(g.records) });
    }
    // Projections outside the partitioned tables that records of this month attest.
    const attested = (table: string, column: string) =>
      client.query(
        `DELETE FROM bastion.${table} x USING ${part} r WHERE r.gateway = x.gateway AND r.id = x.${column}`,
      );
    await attested('sessions', 'open_record_id');
    await attested('approvals', 'request_record_id');
    await attested('approvals', 'record_id');
    await attested('policy_changes', 'id');
    await attested('checkpoints', 'id');
    await client.query(`DROP TABLE ${BIG_TABLES.map((t) => `bastion.${t}_p${suffix}`).join(', ')}`);
    await client.query('COMMIT');
    return dropped;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  }
}

/**
 * The gateway's ids in the partition as runs of ids consecutive among all its present records,
 * each with the digest of its last record (the link the next present record was chained to).
 * Gaps and islands in SQL: within a run, the rank among present ids and the rank among the
 * partition's ids rise together.
 */
async function removedRuns(client: pg.Client, part: string, gateway: string): Promise<Range[]> {
  const r = await client.query(
    `WITH span AS (SELECT min(id) AS lo, max(id) AS hi FROM ${part} WHERE gateway = $1),
     present AS (
       SELECT x.id, x.digest, x.tableoid = '${part}'::regclass AS gone,
         row_number() OVER (ORDER BY x.id) AS n
       FROM bastion.records x, span WHERE x.gateway = $1 AND x.id BETWEEN span.lo AND span.hi),
     runs AS (SELECT id, digest, n - row_number() OVER (ORDER BY id) AS run FROM present WHERE gone)
     SELECT min(id) AS first, max(id) AS last, (array_agg(digest ORDER BY id DESC))[1] AS digest
     FROM runs GROUP BY run ORDER BY 1`,
    [gateway],
  );
  // Number(): the caller's client may read int8 as text.
  return r.rows.map((x) => [Number(x.first), Number(x.last), (x.digest as Buffer).toString('hex')]);
}
