// PgSessionStore: the shared PostgreSQL audit store behind the synchronous SessionStore interface,
// so the CLI, reports and CoreService read it as they read the local store. Queries run on a
// worker-thread connection the caller blocks on (sync-client.ts): for the CLI and the operator's
// app, never for a gateway's data path. It is read-only: records only arrive through the gateways'
// shippers; approval decisions go through decisions.ts.

import {
  type Approval,
  type LiveStatement,
  type PolicyChange,
  type SessionSearch,
  STATEMENT_MARK,
} from '../../../shared/api.js';
import type { SessionInfo, StatementRecord, VerifyResult } from '../../../shared/types.js';
import type { ApprovalEntry } from '../../report/types.js';
import { APPROVAL_STATES, approvalEntry } from '../approvals.js';
import { GENESIS } from '../chain.js';
import { splitChunk } from '../frames.js';
import { decodePruneBody } from '../retention.js';
import type {
  ApprovalQuery,
  ChainedRecord,
  PruneInfo,
  PruneResult,
  SessionQuery,
  SessionSearchPage,
  SessionStore,
  StoredFrame,
  StoreEntry,
} from '../types.js';
import {
  type Row,
  rowToApproval,
  rowToChainedRecord,
  rowToPolicyChange,
  rowToSession,
  rowToStatement,
  tsQuery,
} from './rows.js';
import { SyncPgClient } from './sync-client.js';
import { describeStore, type StoreTarget } from './target.js';
import { type GatewayVerifyResult, gatewayLedger, verifyGateway } from './verify.js';

const MATCH_CHARS = 400;

/** Builds numbered placeholders as values are added. */
class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

export class PgSessionStore implements SessionStore {
  readonly readonly = true;
  readonly path: string;
  private readonly db: SyncPgClient;

  constructor(readonly target: StoreTarget) {
    this.path = describeStore(target);
    this.db = new SyncPgClient(target);
    const [meta] = this.db.query("SELECT to_regclass('bastion.meta') IS NOT NULL AS ok");
    if (!meta.ok) {
      this.db.close();
      throw new Error(
        `${this.path} is not a Bastion store (no bastion schema; a gateway creates it on first start)`,
      );
    }
  }

  get chainHead(): { id: number; digest: string | null } {
    return { id: 0, digest: null };
  }

  get cancelledApprovals(): number {
    return 0;
  }

  append(_entries: readonly StoreEntry[]): void {
    throw this.readOnly('append');
  }

  closeInterrupted(_endedAt: number): number {
    throw this.readOnly('closeInterrupted');
  }

  prune(_before: number, _connection?: string): PruneResult {
    throw this.readOnly(
      'prune (retention runs on each gateway; its prune records remove the same sessions here)',
    );
  }

  private readOnly(what: string): Error {
    return new Error(`the shared store ${this.path} is read-only here: ${what} is not possible`);
  }

  /** Gateways that shipped to this store, by name. */
  gateways(): { name: string; headId: number; shippedAt: number | null }[] {
    return this.db.query('SELECT name, head_id, shipped_at FROM bastion.gateways ORDER BY name').map((r) => ({
      name: r.name as string,
      headId: r.head_id as number,
      shippedAt: r.shipped_at as number | null,
    }));
  }

  listSessions(query: SessionQuery = {}): SessionInfo[] {
    const p = new Params();
    const where = this.filters(query, p);
    const rows = this.db.query(
      `SELECT s.* FROM bastion.sessions s WHERE ${where} ORDER BY s.started_at DESC, s.id DESC
       LIMIT ${p.add(query.limit ?? null)} OFFSET ${p.add(query.offset ?? 0)}`,
      p.values,
    );
    return rows.map(rowToSession);
  }

  private filters(q: SessionSearch, p: Params): string {
    const parts: string[] = [];
    if (q.identity != null) parts.push(`s.identity = ${p.add(q.identity)}`);
    if (q.connection != null) parts.push(`s.connection = ${p.add(q.connection)}`);
    if (q.since != null) parts.push(`s.started_at >= ${p.add(q.since)}`);
    if (q.until != null) parts.push(`s.started_at <= ${p.add(q.until)}`);
    const has = (cond: string) =>
      `EXISTS (SELECT 1 FROM bastion.statements st WHERE st.session_id = s.id AND ${cond})`;
    if (q.hasBlocked === true) parts.push(has("st.decision = 'block'"));
    if (q.hasHeld === true) parts.push(has("st.decision = 'review'"));
    if (q.hasErrors === true) parts.push(has('st.error_code IS NOT NULL'));
    return parts.length ? parts.join(' AND ') : 'true';
  }

  getSession(idOrPrefix: string): SessionInfo | undefined {
    if (idOrPrefix === '') return undefined;
    const rows = this.db.query(
      `SELECT * FROM bastion.sessions WHERE starts_with(id, $1) ORDER BY id <> $1, id LIMIT 2`,
      [idOrPrefix],
    );
    if (rows.length === 0) return undefined;
    if (rows.length > 1 && rows[0].id !== idOrPrefix) {
      throw new Error(`session id prefix '${idOrPrefix}' is ambiguous: ${rows[0].id}, ${rows[1].id}, ...`);
    }
    return rowToSession(rows[0]);
  }

  listStatements(sessionId: string): StatementRecord[] {
    return this.db
      .query('SELECT * FROM bastion.statements WHERE session_id = $1 ORDER BY seq', [sessionId])
      .map(rowToStatement);
  }

  statementsPage(sessionId: string, fromSeq: number, limit: number): StatementRecord[] {
    return this.db
      .query('SELECT * FROM bastion.statements WHERE session_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3', [
        sessionId,
        fromSeq,
        limit,
      ])
      .map(rowToStatement);
  }

  readFrames(sessionId: string, fromSeq = 0, limit = Number.POSITIVE_INFINITY): StoredFrame[] {
    const out: StoredFrame[] = [];
    if (!(limit > 0)) return out;
    let from = fromSeq;
    // Chunks in pages, so a long session is never read whole.
    for (;;) {
      const rows = this.db.query<{ seq_last: number; body: Buffer }>(
        `SELECT f.seq_last, r.body FROM bastion.frame_chunks f
         JOIN bastion.records r ON r.gateway = f.gateway AND r.id = f.record_id
         WHERE f.session_id = $1 AND f.seq_last >= $2 ORDER BY f.seq_last LIMIT 200`,
        [sessionId, from],
      );
      for (const r of rows) {
        splitChunk(r.body, fromSeq, limit, out);
        if (out.length >= limit) return out;
      }
      if (rows.length < 200) return out;
      from = rows[rows.length - 1].seq_last + 1;
    }
  }

  frameCount(sessionId: string): number {
    const [r] = this.db.query('SELECT max(seq_last) AS n FROM bastion.frame_chunks WHERE session_id = $1', [
      sessionId,
    ]);
    return (r?.n as number | null) ?? 0;
  }

  statementMarks(sessionId: string): number[] {
    const out: number[] = [];
    for (const r of this.db.query(
      `SELECT seq, first_frame, last_frame, decision, error_code IS NOT NULL AS failed
       FROM bastion.statements WHERE session_id = $1 ORDER BY seq`,
      [sessionId],
    )) {
      let flags = 0;
      if (r.decision === 'block') flags |= STATEMENT_MARK.blocked;
      else if (r.decision === 'review') flags |= STATEMENT_MARK.held;
      else if (r.decision === 'warn') flags |= STATEMENT_MARK.warn;
      if (r.failed === true) flags |= STATEMENT_MARK.error;
      out.push(r.seq as number, r.first_frame as number, r.last_frame as number, flags);
    }
    return out;
  }

  /** Every gateway's chain and projections, in one snapshot. */
  verifyGateways(): GatewayVerifyResult[] {
    this.db.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      return this.gateways().map((g) => verifyGateway(this.db, g.name));
    } finally {
      this.db.query('COMMIT');
    }
  }

  /** All gateways: ok when every chain is; the first bad one is named in the reason. */
  verify(): VerifyResult {
    const all = this.verifyGateways();
    const bad = all.find((g) => !g.ok);
    return {
      ok: bad === undefined,
      records: all.reduce((n, g) => n + g.records, 0),
      head: all.length === 1 ? all[0].head : null,
      ...(bad
        ? { firstBad: { id: bad.firstBad!.id, reason: `gateway "${bad.gateway}": ${bad.firstBad!.reason}` } }
        : {}),
    };
  }

  listApprovals(sessionId: string): ApprovalEntry[] {
    return this.db
      .query(
        `SELECT a.*, (SELECT min(st.seq) FROM bastion.statements st
           WHERE st.session_id = a.session_id AND st.approval_id = a.id) AS statement_seq
         FROM bastion.approvals a WHERE a.session_id = $1 ORDER BY a.requested_at, a.request_record_id`,
        [sessionId],
      )
      .map((r) => approvalEntry(rowToApproval(r), r.statement_seq as number | null));
  }

  approvals(query: ApprovalQuery = {}): Approval[] {
    if (query.state !== undefined && !APPROVAL_STATES.includes(query.state)) {
      throw new TypeError(`approval state must be one of ${APPROVAL_STATES.join(', ')}`);
    }
    return this.db
      .query(
        `SELECT * FROM bastion.approvals WHERE ($1::text IS NULL OR state = $1)
         ORDER BY requested_at DESC, id DESC LIMIT $2`,
        [query.state ?? null, query.limit ?? null],
      )
      .map(rowToApproval);
  }

  getApproval(id: string): Approval | undefined {
    const [r] = this.db.query('SELECT * FROM bastion.approvals WHERE id = $1', [id]);
    return r ? rowToApproval(r) : undefined;
  }

  /** The gateway whose chain holds an approval (where a decision must go). */
  approvalGateway(id: string): string | undefined {
    const [r] = this.db.query('SELECT gateway FROM bastion.approvals WHERE id = $1', [id]);
    return r?.gateway as string | undefined;
  }

  listPrunes(): PruneInfo[] {
    return this.db
      .query(
        `SELECT r.id, r.body FROM bastion.checkpoints c
         JOIN bastion.records r ON r.gateway = c.gateway AND r.id = c.id ORDER BY r.t_us, c.gateway`,
      )
      .flatMap((r) => {
        try {
          return [decodePruneBody(r.id as number, r.body as Buffer)];
        } catch {
          return [];
        }
      });
  }

  *sessionRecords(sessionId: string): Generator<ChainedRecord> {
    const [s] = this.db.query('SELECT gateway FROM bastion.sessions WHERE id = $1', [sessionId]);
    if (!s) return;
    const rows = this.db.query(
      `SELECT r.id, r.kind, r.session_id, r.t_us, r.digest, r.body, p.digest AS prev_digest
       FROM bastion.records r LEFT JOIN bastion.records p ON p.gateway = r.gateway AND p.id = r.id - 1
       WHERE r.gateway = $1 AND r.session_id = $2 ORDER BY r.id`,
      [s.gateway, sessionId],
    );
    // Only when a record's predecessor was removed (retention, a dropped month): the declared link.
    let removed: ReturnType<typeof gatewayLedger>['ledger'] | undefined;
    for (const r of rows) {
      const id = r.id as number;
      let prev =
        id === 1 ? GENESIS : r.prev_digest ? { id: id - 1, digest: r.prev_digest as Buffer } : undefined;
      if (!prev) {
        removed ??= gatewayLedger(this.db, s.gateway as string).ledger;
        const link = removed.link(id - 1);
        if (link) prev = { id: id - 1, digest: link };
      }
      if (!prev) throw new Error(`record ${id - 1} (before record ${id}) of gateway ${s.gateway} is missing`);
      yield rowToChainedRecord(r, prev);
    }
  }

  searchSessions(query: SessionSearch = {}): SessionSearchPage {
    const limit = query.limit ?? 50;
    const offset = query.offset ?? 0;
    const p = new Params();
    const where = this.filters(query, p);
    const counts = `(SELECT count(*) FILTER (WHERE decision = 'block')::int AS blocked,
        count(*) FILTER (WHERE decision = 'review')::int AS held,
        count(*) FILTER (WHERE error_code IS NOT NULL)::int AS errors
      FROM bastion.statements c WHERE c.session_id = s.id) k ON true`;
    const text = query.text?.trim() ?? '';
    let rows: Row[];
    if (text === '') {
      rows = this.db.query(
        `SELECT s.*, k.*, count(*) OVER () AS total FROM bastion.sessions s LEFT JOIN LATERAL ${counts}
         WHERE ${where} ORDER BY s.started_at DESC, s.id DESC LIMIT ${p.add(limit)} OFFSET ${p.add(offset)}`,
        p.values,
      );
    } else {
      const q = tsQuery(text);
      if (q === null) return { sessions: [], total: 0, more: false };
      rows = this.db.query(
        `WITH m AS (
           SELECT DISTINCT ON (st.session_id) st.session_id, st.seq AS m_seq, st.started_at AS m_at,
             st.first_frame AS m_frame, left(st.sql, ${MATCH_CHARS}) AS m_sql
           FROM bastion.statements st WHERE st.tsv @@ to_tsquery('simple', ${p.add(q)})
           ORDER BY st.session_id, st.started_at DESC, st.seq DESC)
         SELECT s.*, k.*, m.m_seq, m.m_sql, m.m_frame, count(*) OVER () AS total
         FROM m JOIN bastion.sessions s ON s.id = m.session_id LEFT JOIN LATERAL ${counts}
         WHERE ${where} ORDER BY m.m_at DESC, m.m_seq DESC LIMIT ${p.add(limit)} OFFSET ${p.add(offset)}`,
        p.values,
      );
    }
    const total = rows.length > 0 ? (rows[0].total as number) : offset === 0 ? 0 : null;
    return {
      sessions: rows.map((r) => ({
        ...rowToSession(r),
        blocked: r.blocked as number,
        held: r.held as number,
        errors: r.errors as number,
        match:
          r.m_seq === undefined
            ? null
            : { seq: r.m_seq as number, sql: r.m_sql as string, firstFrame: r.m_frame as number },
      })),
      total,
      more: total !== null && offset + rows.length < total,
    };
  }

  searchStatements(text: string, limit: number, offset = 0): { statements: LiveStatement[]; more: boolean } {
    const q = tsQuery(text.trim());
    if (q === null) return { statements: [], more: false };
    const rows = this.db.query(
      `SELECT st.*, s.identity AS s_identity, s.connection AS s_connection
       FROM bastion.statements st JOIN bastion.sessions s ON s.id = st.session_id
       WHERE st.tsv @@ to_tsquery('simple', $1) ORDER BY st.started_at DESC, st.seq DESC LIMIT $2 OFFSET $3`,
      [q, limit + 1, offset],
    );
    return {
      statements: rows.slice(0, limit).map((r) => ({
        ...rowToStatement(r),
        identity: r.s_identity as string,
        connection: r.s_connection as string,
      })),
      more: rows.length > limit,
    };
  }

  recentStatements(limit: number): LiveStatement[] {
    // One query on the statements' time index (statements_by_time).
    return this.db
      .query(
        `SELECT st.*, s.identity AS s_identity, s.connection AS s_connection
         FROM bastion.statements st JOIN bastion.sessions s ON s.id = st.session_id
         ORDER BY st.started_at DESC, st.seq DESC LIMIT $1`,
        [limit],
      )
      .map((r) => ({
        ...rowToStatement(r),
        identity: r.s_identity as string,
        connection: r.s_connection as string,
      }));
  }

  policyChanges(limit = 100): PolicyChange[] {
    return this.db
      .query('SELECT * FROM bastion.policy_changes ORDER BY at DESC, pid DESC LIMIT $1', [limit])
      .map(rowToPolicyChange);
  }

  getPolicyChange(id: number): (PolicyChange & { yaml: string }) | undefined {
    const [r] = this.db.query('SELECT * FROM bastion.policy_changes WHERE pid = $1', [id]);
    return r ? { ...rowToPolicyChange(r), yaml: r.yaml as string } : undefined;
  }

  close(): void {
    this.db.close();
  }
}
