// The embedded session store: one SQLite file, an append-only chained `records` table as the
// source of truth, and projection tables (sessions, statements, frame_chunks, approvals) for
// queries. See schema.ts for the tables, chain.ts for the digest, frames.ts for the chunk format,
// approvals.ts for approval records.

import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import {
  type Approval,
  type LiveStatement,
  type PolicyChange,
  type SessionSearch,
  STATEMENT_MARK,
} from '../../shared/api.js';
import type {
  AuthMethod,
  Decision,
  SessionInfo,
  StatementProtocol,
  StatementRecord,
  VerifyResult,
} from '../../shared/types.js';
import type { ApprovalEntry } from '../report/types.js';
import {
  APPROVAL_KIND,
  APPROVAL_STATES,
  approvalEntry,
  approvalTime,
  normalizeApproval,
  requestDiffers,
} from './approvals.js';
import { type ChainLink, GENESIS, type RecordRow, recordDigest, walkChain } from './chain.js';
import { flag, int, nonEmpty, optInt, optText, text } from './checks.js';
import { joinFrameChunks } from './chunk-join.js';
import {
  CHUNK_HEADER_BYTES,
  decodeChunkHeader,
  encodeChunkBody,
  encodePartsBody,
  splitChunk,
  validateChunk,
} from './frames.js';
import {
  decodePruneBody,
  decodeRemovedRanges,
  PRUNE_KIND,
  type PruneBody,
  PruneLedger,
  removedRuns,
} from './retention.js';
import {
  type Row,
  rowToApproval,
  rowToChainedRecord,
  rowToPolicyChange,
  rowToSession,
  rowToStatement,
} from './rows.js';
import { ensureSchema } from './schema.js';
import { StoreSearch } from './search.js';
import type {
  ApprovalQuery,
  ChainedRecord,
  FrameChunk,
  PolicyChangeRecord,
  PrunedSession,
  PruneInfo,
  PruneResult,
  SessionQuery,
  SessionSearchPage,
  SessionStore,
  StoredFrame,
  StoreEntry,
} from './types.js';

export interface SqliteStoreOptions {
  /** Open an existing store for reading only (CLI commands that only read). */
  readonly?: boolean;
  /**
   * Join the frame chunks of a session that one append writes into one record (chunk-join.ts):
   * the recording writers do. Without it every entry is one record.
   */
  joinFrameChunks?: boolean;
}

/** Opens (creating if needed, unless read-only) the SQLite session store at `path`. */
export function openSqliteStore(path: string, opts: SqliteStoreOptions = {}): SqliteSessionStore {
  return new SqliteSessionStore(path, opts);
}

/**
 * Outside the versioned schema on purpose: bookkeeping of the writer (not part of the audit
 * record), created on demand.
 */
const JOURNAL_APPLIED_TABLE =
  'CREATE TABLE IF NOT EXISTS journal_applied (id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER NOT NULL)';
const SET_JOURNAL_APPLIED =
  'INSERT INTO journal_applied (id, position) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET position = excluded.position';

/** A session_open record's session: SessionInfo without the count the store maintains. */
type OpenedSession = Omit<SessionInfo, 'statements'>;
type Bad = { id: number; reason: string };

const OPEN_FIELDS = [
  'id',
  'identity',
  'authMethod',
  'connection',
  'clientAddress',
  'applicationName',
  'database',
  'tls',
  'protocol',
  'startedAt',
] as const;

export class SqliteSessionStore implements SessionStore {
  readonly path: string;
  readonly readonly: boolean;
  private readonly joinChunks: boolean;
  private readonly db: Database.Database;
  /** Where the chain starts: genesis (records pruned by retention are bridged, see retention.ts). */
  private readonly start: ChainLink = GENESIS;
  /** The last record written; only replaced after a transaction commits. */
  private head: ChainLink;
  /** Approvals the last closeInterrupted cancelled. */
  private cancelled = 0;
  private readonly q: ReturnType<typeof prepareStatements>;
  /** Whether the file has the full-text index over statements (schema version 3 on). */
  readonly fts: boolean;
  private readonly search: StoreSearch;
  /** listSessions statements by filter combination (at most 16), each prepared once. */
  private readonly listQueries = new Map<string, Database.Statement<[Row], Row>>();
  private readonly appendTx: Database.Transaction<
    (entries: readonly StoreEntry[], journaled: number | undefined) => ChainLink
  >;
  private readonly closeInterruptedTx: Database.Transaction<(endedAt: number) => [number, number, ChainLink]>;
  private readonly verifyTx: Database.Transaction<() => VerifyResult>;
  private readonly pruneTx: Database.Transaction<
    (before: number, connection: string | null, at: number) => [PruneResult, ChainLink]
  >;

  constructor(path: string, opts: SqliteStoreOptions = {}) {
    this.path = path;
    this.readonly = opts.readonly === true;
    this.joinChunks = opts.joinFrameChunks === true;
    if (this.readonly && !existsSync(path)) throw new Error(`store file not found: ${path}`);
    let db: Database.Database | undefined;
    try {
      if (!this.readonly) mkdirSync(dirname(resolve(path)), { recursive: true });
      db = new Database(path, this.readonly ? { readonly: true, fileMustExist: true } : {});
      if (!this.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        // Checkpoints (WAL pages copied into the file, with an fsync) every ~40 MB rather than
        // every 4 MB: recording spends a tenth less time in SQLite; the WAL is cut back after.
        db.pragma('wal_autocheckpoint = 10000');
        db.pragma('journal_size_limit = 67108864');
        // 2 MB of page cache (SQLite's default; better-sqlite3 builds with 16 MB). Recording
        // appends: it touches the right edge of each B-tree, and a large result's captured
        // frames would otherwise fill the whole cache with pages nobody reads again.
        db.pragma('cache_size = -2000');
      }
      ensureSchema(db, this.readonly);
    } catch (e) {
      db?.close();
      throw new Error(`cannot open store ${path}: ${errorMessage(e)}`, { cause: e });
    }
    this.db = db;
    this.q = prepareStatements(db);
    this.fts =
      db.prepare("SELECT 1 FROM main.sqlite_schema WHERE name = 'statements_fts'").pluck().get() === 1;
    this.search = new StoreSearch(db, this.fts, rowToSession, rowToStatement);
    this.head = (this.q.lastRecord.get() as ChainLink | undefined) ?? this.start;
    // Created by the first append that carries a journal position (never for stores written without).
    let setJournaled: Database.Statement | null = null;
    this.appendTx = db.transaction((entries: readonly StoreEntry[], journaled: number | undefined) => {
      const head = this.write(entries);
      if (journaled !== undefined) {
        if (setJournaled === null) {
          db.exec(JOURNAL_APPLIED_TABLE);
          setJournaled = db.prepare(SET_JOURNAL_APPLIED);
        }
        setJournaled.run(journaled);
      }
      return head;
    });
    this.closeInterruptedTx = db.transaction((endedAt: number): [number, number, ChainLink] => {
      // Approvals first: each ended while its session was still open.
      const cancels: StoreEntry[] = (this.q.pendingApprovals.all() as Row[]).map((r) => ({
        kind: 'approval',
        approval: { ...rowToApproval(r), state: 'cancelled', decidedBy: null, decidedAt: endedAt },
      }));
      const ids = this.q.openSessionIds.all() as string[];
      const closes = ids.map((sessionId) => ({
        kind: 'session_close' as const,
        sessionId,
        endedAt,
        endReason: 'interrupted',
      }));
      return [ids.length, cancels.length, this.write([...cancels, ...closes])];
    });
    this.verifyTx = db.transaction(() => this.verifyNow());
    this.pruneTx = db.transaction((before: number, connection: string | null, at: number) =>
      this.pruneNow(before, connection, at),
    );
  }

  /** The chain head as this connection knows it (id 0 and null digest for an empty store). */
  get chainHead(): { id: number; digest: string | null } {
    return { id: this.head.id, digest: this.head === GENESIS ? null : this.head.digest.toString('hex') };
  }

  /**
   * Another connection (the writer thread) wrote up to this head: keep this connection's idea of
   * the head current, so verify still notices records removed from the end.
   */
  observeHead(id: number, digest: Buffer): void {
    if (id > this.head.id && digest.length > 0) this.head = { id, digest };
  }

  /**
   * How far the recording journal (journal.ts) has been applied: the journal position of the last
   * entry appended with one. 0 when none was.
   */
  journalApplied(): number {
    const table = this.db
      .prepare("SELECT 1 FROM main.sqlite_schema WHERE name = 'journal_applied'")
      .pluck()
      .get();
    if (table !== 1) return 0;
    const row = this.db.prepare('SELECT position FROM journal_applied WHERE id = 1').get() as
      | { position: number }
      | undefined;
    return row?.position ?? 0;
  }

  /**
   * Appends entries in order, in one transaction. `journaled`: the journal position of the last
   * of them, stored in the same transaction, so a restart replays exactly what is missing.
   */
  append(entries: readonly StoreEntry[], journaled?: number): void {
    if (entries.length === 0) return;
    this.assertWritable();
    try {
      // IMMEDIATE: take the write lock before reading the head, so the head check is sound.
      this.head = this.appendTx.immediate(entries, journaled);
    } catch (e) {
      throw new Error(`store ${this.path}: append failed, nothing written: ${errorMessage(e)}`, { cause: e });
    }
  }

  closeInterrupted(endedAt: number): number {
    this.assertWritable();
    const [count, cancelled, head] = this.closeInterruptedTx.immediate(endedAt);
    this.head = head;
    this.cancelled = cancelled;
    return count;
  }

  get cancelledApprovals(): number {
    return this.cancelled;
  }

  listApprovals(sessionId: string): ApprovalEntry[] {
    return (this.q.approvalsOfSession.all(sessionId) as Row[]).map((r) =>
      approvalEntry(rowToApproval(r), r.statement_seq as number | null),
    );
  }

  approvals(query: ApprovalQuery = {}): Approval[] {
    const limit = query.limit ?? -1;
    if (query.state === undefined) return (this.q.approvalsAll.all(limit) as Row[]).map(rowToApproval);
    if (!APPROVAL_STATES.includes(query.state)) {
      throw new TypeError(`approval state must be one of ${APPROVAL_STATES.join(', ')}`);
    }
    return (this.q.approvalsInState.all(query.state, limit) as Row[]).map(rowToApproval);
  }

  getApproval(id: string): Approval | undefined {
    const r = this.q.approvalById.get(id) as Row | undefined;
    return r ? rowToApproval(r) : undefined;
  }

  listSessions(query: SessionQuery = {}): SessionInfo[] {
    const filters: [keyof SessionQuery, string][] = [
      ['identity', 'identity = @identity'],
      ['connection', 'connection = @connection'],
      ['since', 'started_at >= @since'],
      ['until', 'started_at <= @until'],
    ];
    const used = filters.filter(([k]) => query[k] !== undefined);
    const key = used.map(([k]) => k).join(',');
    let stmt = this.listQueries.get(key);
    if (!stmt) {
      const where = used.length ? `WHERE ${used.map(([, sql]) => sql).join(' AND ')}` : '';
      stmt = this.db.prepare<[Row], Row>(
        `SELECT * FROM sessions ${where}
         ORDER BY started_at DESC, open_record_id DESC LIMIT @limit OFFSET @offset`,
      );
      this.listQueries.set(key, stmt);
    }
    const params: Row = { limit: query.limit ?? -1, offset: query.offset ?? 0 };
    for (const [k] of used) params[k] = query[k];
    return stmt.all(params).map(rowToSession);
  }

  /**
   * By full id or unique prefix. Undefined when nothing matches (or the prefix is empty);
   * throws an Error naming two candidates when the prefix is ambiguous, so that a CLI user
   * learns to type more rather than being told the session does not exist.
   */
  getSession(idOrPrefix: string): SessionInfo | undefined {
    if (idOrPrefix === '') return undefined;
    // Ids with the prefix sort right after it: the first two rows from there decide.
    const rows = (this.q.sessionsFrom.all(idOrPrefix) as Row[]).filter((r) =>
      (r.id as string).startsWith(idOrPrefix),
    );
    if (rows.length === 0) return undefined;
    if (rows.length > 1 && rows[0].id !== idOrPrefix) {
      throw new Error(`session id prefix '${idOrPrefix}' is ambiguous: ${rows[0].id}, ${rows[1].id}, ...`);
    }
    return rowToSession(rows[0]);
  }

  listStatements(sessionId: string): StatementRecord[] {
    return (this.q.statementsOf.all(sessionId) as Row[]).map(rowToStatement);
  }

  readFrames(sessionId: string, fromSeq = 0, limit = Number.POSITIVE_INFINITY): StoredFrame[] {
    const out: StoredFrame[] = [];
    if (!(limit > 0)) return out;
    for (const body of this.q.chunksFrom.iterate(sessionId, fromSeq) as Iterable<Buffer>) {
      splitChunk(body, fromSeq, limit, out);
      if (out.length >= limit) break;
    }
    return out;
  }

  verify(): VerifyResult {
    // One read transaction: the chain and the projections are checked on the same snapshot.
    return this.verifyTx.deferred();
  }

  prune(before: number, connection?: string): PruneResult {
    this.assertWritable();
    if (!Number.isSafeInteger(before)) throw new TypeError('prune: before must be epoch microseconds');
    try {
      const [result, head] = this.pruneTx.immediate(before, connection ?? null, Date.now() * 1000);
      this.head = head;
      return result;
    } catch (e) {
      throw new Error(`store ${this.path}: prune failed, nothing removed: ${errorMessage(e)}`, { cause: e });
    }
  }

  listPrunes(): PruneInfo[] {
    return (this.q.pruneRecords.all() as Row[]).flatMap((r) => {
      if (r.kind !== PRUNE_KIND || !Buffer.isBuffer(r.body)) return [];
      try {
        return [decodePruneBody(r.id as number, r.body)];
      } catch {
        return []; // verify names it
      }
    });
  }

  *sessionRecords(sessionId: string): Generator<ChainedRecord> {
    // Ids first (from the projections), then each record by its key: no statement stays open
    // while the caller consumes the generator.
    const ids = this.q.sessionRecordIds.all({ sessionId }) as number[];
    let ledger: PruneLedger | undefined;
    for (const id of ids) {
      const r = this.q.recordById.get(id) as Row | undefined;
      if (!r) throw new Error(`record ${id} of session ${sessionId} is missing`);
      let prev: ChainLink | undefined;
      if (id === 1) prev = GENESIS;
      else {
        const digest = this.q.digestById.get(id - 1) as Buffer | undefined;
        if (digest) prev = { id: id - 1, digest };
        else {
          ledger ??= this.pruneLedger().ledger;
          const link = ledger.link(id - 1);
          if (link) prev = { id: id - 1, digest: link };
        }
      }
      if (!prev) throw new Error(`record ${id - 1} (before record ${id}) is missing and was not pruned`);
      yield rowToChainedRecord(r, prev);
    }
  }

  searchSessions(query: SessionSearch = {}): SessionSearchPage {
    return this.search.sessions(query);
  }

  searchStatements(text: string, limit: number, offset = 0): { statements: LiveStatement[]; more: boolean } {
    return this.search.statements(text, limit, offset);
  }

  recentStatements(limit: number): LiveStatement[] {
    return this.search.recent(limit);
  }

  statementsPage(sessionId: string, fromSeq: number, limit: number): StatementRecord[] {
    return (this.q.statementsPage.all(sessionId, fromSeq, limit) as Row[]).map(rowToStatement);
  }

  statementMarks(sessionId: string): number[] {
    const out: number[] = [];
    for (const r of this.q.statementMarks.iterate(sessionId) as Iterable<Row>) {
      let flags = 0;
      if (r.decision === 'block') flags |= STATEMENT_MARK.blocked;
      else if (r.decision === 'review') flags |= STATEMENT_MARK.held;
      else if (r.decision === 'warn') flags |= STATEMENT_MARK.warn;
      if (r.failed === 1) flags |= STATEMENT_MARK.error;
      out.push(r.seq as number, r.first_frame as number, r.last_frame as number, flags);
    }
    return out;
  }

  frameCount(sessionId: string): number {
    return (this.q.lastFrameSeq.get(sessionId) as number | null) ?? 0;
  }

  policyChanges(limit = 100): PolicyChange[] {
    return (this.q.policyChanges.all(limit) as Row[]).map(rowToPolicyChange);
  }

  getPolicyChange(id: number): (PolicyChange & { yaml: string }) | undefined {
    const r = this.q.policyChangeById.get(id) as Row | undefined;
    return r ? { ...rowToPolicyChange(r), yaml: r.yaml as string } : undefined;
  }

  /** Runs a PRAGMA on this store's connection: diagnostics, and tests that make writes fail. */
  pragma(source: string): unknown {
    return this.db.pragma(source);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private assertWritable(): void {
    if (this.readonly) throw new Error(`store ${this.path} is open read-only`);
  }

  /** Appends entries inside the caller's transaction; returns the new head (not yet adopted). */
  private write(entries: readonly StoreEntry[]): ChainLink {
    const lastId = (this.q.maxRecordId.get() as number | null) ?? this.start.id;
    if (lastId !== this.head.id) {
      throw new Error(
        `another writer appended to the store (last record ${lastId}, expected ${this.head.id})`,
      );
    }
    let prev = this.head;
    if (!this.joinChunks) {
      for (const entry of entries) prev = this.writeOne(entry, prev);
      return prev;
    }
    for (const item of joinFrameChunks(entries)) {
      prev = Array.isArray(item) ? this.writeChunks(item, prev) : this.writeOne(item, prev);
    }
    return prev;
  }

  /** Chunks of one session, joined by joinFrameChunks, as one format 2 record. */
  private writeChunks(chunks: readonly FrameChunk[], prev: ChainLink): ChainLink {
    // Validated as writeOne does one chunk; encodePartsBody checks that they follow each other.
    for (const c of chunks) validateChunk(c);
    const body = encodePartsBody(chunks, this.chunkScratch);
    // The index row is read off the header it attests (as verify compares them).
    const h = decodeChunkHeader(body);
    const sessionId = chunks[0].sessionId;
    this.q.insertChunk.run(sessionId, h.seq + h.count - 1, h.seq, h.dir, h.tUs, prev.id + 1);
    return this.insertRecord(prev, 'frames', sessionId, h.tUs, body);
  }

  /** See writeOne: a frame chunk's record body is built here (bodies larger than it are not). */
  private readonly chunkScratch = Buffer.allocUnsafeSlow(256 * 1024);

  private writeOne(entry: StoreEntry, prev: ChainLink): ChainLink {
    const id = prev.id + 1;
    const q = this.q;
    let sessionId: string;
    let tUs: number;
    let body: Buffer;
    switch (entry.kind) {
      case 'frames': {
        validateChunk(entry);
        ({ sessionId, tUs } = entry);
        // Into memory reused from chunk to chunk: the body only lives until it is hashed and
        // bound (SQLite copies it), and a large result would otherwise leave megabytes of
        // buffers for the garbage collector.
        body = encodeChunkBody(entry, this.chunkScratch);
        q.insertChunk.run(sessionId, entry.seq + entry.count - 1, entry.seq, entry.dir, tUs, id);
        break;
      }
      case 'session_open': {
        const s = openedSession(entry.session);
        ({ id: sessionId, startedAt: tUs } = s);
        body = jsonBody({ kind: entry.kind, session: s });
        q.insertSession.run({ ...s, tls: s.tls ? 1 : 0, statements: 0, openRecordId: id });
        break;
      }
      case 'statement': {
        const s = statementRecord(entry.statement);
        ({ sessionId, startedAt: tUs } = s);
        body = jsonBody({ kind: entry.kind, statement: s });
        if (q.countStatement.run(sessionId).changes !== 1)
          throw new Error(`statement for unknown session ${sessionId}`);
        q.insertStatement.run({
          ...s,
          params: s.params === null ? null : JSON.stringify(s.params),
          truncated: s.truncated ? 1 : 0,
          masked: JSON.stringify(s.masked),
          approvalId: s.approvalId ?? null,
          recordId: id,
        });
        if (this.fts) q.insertFts.run(id, s.sql);
        break;
      }
      case 'policy_change': {
        const c = policyChange(entry.change);
        sessionId = '';
        tUs = c.at;
        body = jsonBody({ kind: entry.kind, change: c });
        q.insertPolicyChange.run({ ...c, id });
        break;
      }
      case 'approval': {
        const a = normalizeApproval(entry.approval);
        sessionId = a.sessionId;
        tUs = approvalTime(a);
        body = jsonBody({ kind: APPROVAL_KIND, approval: a });
        const known = q.approvalById.get(a.id) as Row | undefined;
        if (!known) {
          q.insertApproval.run({ ...approvalParams(a), requestRecordId: id, recordId: id });
          break;
        }
        const prior = rowToApproval(known);
        if (prior.state !== 'pending') throw new Error(`approval ${a.id} is already ${prior.state}`);
        if (a.state === 'pending') throw new Error(`approval ${a.id} is already pending`);
        const differ = requestDiffers(prior, a);
        if (differ.length) {
          throw new Error(`approval ${a.id}: its outcome differs from its request in ${differ.join(', ')}`);
        }
        q.decideApproval.run(a.state, a.decidedBy, a.decidedAt, id, a.id);
        break;
      }
      case 'session_close': {
        const c = sessionClose(entry);
        ({ sessionId, endedAt: tUs } = c);
        body = jsonBody({ kind: entry.kind, ...c });
        if (q.closeSession.run(c.endedAt, c.endReason, id, sessionId).changes !== 1) {
          throw new Error(
            q.sessionExists.get(sessionId)
              ? `session ${sessionId} is already closed`
              : `close for unknown session ${sessionId}`,
          );
        }
        break;
      }
      default:
        throw new TypeError(`unknown store entry kind ${String((entry as { kind: unknown }).kind)}`);
    }
    return this.insertRecord(prev, entry.kind, sessionId, tUs, body);
  }

  private insertRecord(
    prev: ChainLink,
    kind: string,
    sessionId: string,
    tUs: number,
    body: Buffer,
  ): ChainLink {
    const id = prev.id + 1;
    const digest = recordDigest(prev, { id, kind, sessionId, tUs, body });
    this.q.insertRecord.run(id, kind, sessionId, tUs, digest, body);
    return { id, digest };
  }

  /** Inside the prune transaction: see SessionStore.prune and retention.ts. */
  private pruneNow(before: number, connection: string | null, at: number): [PruneResult, ChainLink] {
    const q = this.q;
    const lastId = (q.maxRecordId.get() as number | null) ?? this.start.id;
    if (lastId !== this.head.id) {
      throw new Error(
        `another writer appended to the store (last record ${lastId}, expected ${this.head.id})`,
      );
    }
    const victims = q.prunableSessions.all({ before, connection }) as Row[];
    const result: PruneResult = { recordId: null, before, connection, sessions: 0, records: 0 };
    if (victims.length === 0) return [result, this.head];
    const removed: number[] = [];
    const sessions: PrunedSession[] = victims.map((v) => {
      const ids = q.sessionRecordIds.all({ sessionId: v.id }) as number[];
      for (const id of ids) removed.push(id);
      return {
        id: v.id as string,
        identity: v.identity as string,
        connection: v.connection as string,
        startedAt: v.started_at as number,
        endedAt: v.ended_at as number,
        statements: v.statements as number,
        records: ids.length,
      };
    });
    removed.sort((a, b) => a - b);
    const first = removed[0];
    const last = removed[removed.length - 1];
    const runs = removedRuns(removed, q.idsBetween.iterate(first, last) as Iterable<number>);
    const ranges = runs.map(([a, b]): [number, number, string] => [
      a,
      b,
      (q.digestById.get(b) as Buffer).toString('hex'),
    ]);
    const body: PruneBody = {
      kind: PRUNE_KIND,
      at,
      before,
      connection,
      sessions,
      records: removed.length,
      ranges,
    };
    const head = this.insertRecord(this.head, PRUNE_KIND, '', at, jsonBody(body));
    // The checkpoint first: the delete trigger allows removing records up to its record_id.
    q.insertCheckpoint.run(head.id, last, q.digestById.get(last) as Buffer, at);
    for (const v of victims) {
      if (this.fts) q.deleteFts.run(v.id);
      q.deleteStatements.run(v.id);
      q.deleteChunks.run(v.id);
      q.deleteApprovals.run(v.id);
      q.deleteSession.run(v.id);
    }
    for (const id of removed) q.deleteRecord.run(id);
    return [{ ...result, recordId: head.id, sessions: victims.length, records: removed.length }, head];
  }

  /** The prune records as verify sees them: the ledger of removed ranges, and any bad one. */
  private pruneLedger(): { ledger: PruneLedger; bad?: Bad } {
    const ledger = new PruneLedger();
    let bad: Bad | undefined;
    for (const r of this.q.checkpointsAttested.iterate() as Iterable<Row>) {
      const id = r.id as number;
      let info: PruneInfo | undefined;
      try {
        if (r.kind === PRUNE_KIND && r.session_id === '' && Buffer.isBuffer(r.body)) {
          info = decodePruneBody(id, r.body);
        }
      } catch {
        info = undefined;
      }
      if (!info) {
        bad ??= { id, reason: `checkpoints row ${id} is not attested by a valid prune record ${id}` };
        continue;
      }
      const lastRange = info.ranges[info.ranges.length - 1];
      if (
        !lastRange ||
        r.record_id !== lastRange[1] ||
        !Buffer.isBuffer(r.digest) ||
        r.digest.toString('hex') !== lastRange[2] ||
        r.created_at !== info.at ||
        r.t_us !== info.at
      ) {
        bad ??= { id, reason: `checkpoints row ${id} differs from prune record ${id}` };
      }
      ledger.add(info);
    }
    // A team gateway's spool, compacted after shipping (proxy/store/pg/spool-compact.ts): what went.
    const compacted = this.db.prepare("SELECT 1 FROM main.sqlite_schema WHERE name = 'spool_compactions'");
    if (compacted.pluck().get() === 1) {
      for (const r of this.db
        .prepare('SELECT id, ranges FROM spool_compactions ORDER BY id')
        .iterate() as Iterable<Row>) {
        try {
          ledger.addRanges(decodeRemovedRanges(JSON.parse(String(r.ranges))));
        } catch {
          bad ??= { id: 0, reason: `spool_compactions row ${r.id} is malformed` };
        }
      }
    }
    return bad ? { ledger, bad } : { ledger };
  }

  private verifyNow(): VerifyResult {
    const pruned = this.pruneLedger();
    const walk = walkChain(
      this.q.recordsFrom.iterate(this.start.id) as Iterable<RecordRow>,
      this.start,
      pruned.ledger.empty ? undefined : pruned.ledger,
    );
    const result = (firstBad?: Bad): VerifyResult => ({
      ok: firstBad === undefined,
      records: walk.records,
      head: walk.head === GENESIS ? null : walk.head.digest.toString('hex'),
      ...(firstBad ? { firstBad } : {}),
    });
    if (walk.firstBad || pruned.bad) {
      const a = walk.firstBad;
      const b = pruned.bad;
      return result(a && b ? (a.id <= b.id ? a : b) : (a ?? b));
    }
    // Records removed from the end leave no gap; this connection may know the head they had.
    if (walk.head.id < this.head.id) {
      return result({
        id: walk.head.id + 1,
        reason: `record ${walk.head.id + 1} is missing (this store wrote up to ${this.head.id})`,
      });
    }
    if (walk.head.id === this.head.id && !walk.head.digest.equals(this.head.digest)) {
      return result({
        id: walk.head.id,
        reason: 'the chain was rewritten: its head is not the one this store wrote',
      });
    }
    return result(this.checkProjections());
  }

  /** The projection mismatch with the lowest attesting record id, if any. */
  private checkProjections(): Bad | undefined {
    let first: Bad | undefined;
    const note = (bad: Bad | undefined) => {
      if (bad && (!first || bad.id < first.id)) first = bad;
    };
    for (const row of this.q.sessionsAttested.iterate() as Iterable<Row>) note(checkSessionRow(row));
    for (const row of this.q.statementsAttested.iterate() as Iterable<Row>) note(checkStatementRow(row));
    for (const row of this.q.chunksAttested.iterate() as Iterable<Row>) note(checkChunkRow(row));
    for (const row of this.q.approvalsAttested.iterate() as Iterable<Row>) note(checkApprovalRow(row));
    for (const row of this.q.policyChangesAttested.iterate() as Iterable<Row>)
      note(checkPolicyChangeRow(row));
    const orphan = this.q.unprojectedRecord.get() as Row | undefined;
    if (orphan) {
      note({ id: orphan.id as number, reason: `record ${orphan.id} (${orphan.kind}) has no projection row` });
    }
    return first;
  }
}

function prepareStatements(db: Database.Database) {
  return lazily({
    lastRecord: () => db.prepare('SELECT id, digest FROM records ORDER BY id DESC LIMIT 1'),
    maxRecordId: () => db.prepare('SELECT max(id) FROM records').pluck(),
    insertRecord: () =>
      db.prepare('INSERT INTO records (id, kind, session_id, t_us, digest, body) VALUES (?, ?, ?, ?, ?, ?)'),
    insertChunk: () =>
      db.prepare(
        'INSERT INTO frame_chunks (session_id, seq_last, seq_first, dir, t_us, record_id) VALUES (?, ?, ?, ?, ?, ?)',
      ),
    insertSession: () =>
      db.prepare(
        `INSERT INTO sessions (id, identity, auth_method, connection, client_address, application_name,
         database, tls, protocol, started_at, ended_at, end_reason, statements, open_record_id)
       VALUES (@id, @identity, @authMethod, @connection, @clientAddress, @applicationName,
         @database, @tls, @protocol, @startedAt, @endedAt, @endReason, @statements, @openRecordId)`,
      ),
    insertStatement: () =>
      db.prepare(
        `INSERT INTO statements (session_id, seq, protocol, sql, params, started_at, duration_us, rows, tag,
         error_code, error_message, decision, rule, first_frame, last_frame, truncated, uncaptured_bytes,
         uncaptured_rows, uncaptured_digest, masked, approval_id, record_id)
       VALUES (@sessionId, @seq, @protocol, @sql, @params, @startedAt, @durationUs, @rows, @tag,
         @errorCode, @errorMessage, @decision, @rule, @firstFrame, @lastFrame, @truncated, @uncapturedBytes,
         @uncapturedRows, @uncapturedDigest, @masked, @approvalId, @recordId)`,
      ),
    countStatement: () => db.prepare('UPDATE sessions SET statements = statements + 1 WHERE id = ?'),
    closeSession: () =>
      db.prepare(
        `UPDATE sessions SET ended_at = ?, end_reason = ?, close_record_id = ?
       WHERE id = ? AND close_record_id IS NULL`,
      ),
    sessionExists: () => db.prepare('SELECT 1 FROM sessions WHERE id = ?').pluck(),
    openSessionIds: () =>
      db.prepare('SELECT id FROM sessions WHERE close_record_id IS NULL ORDER BY open_record_id').pluck(),
    sessionsFrom: () => db.prepare('SELECT * FROM sessions WHERE id >= ? ORDER BY id LIMIT 2'),
    statementsOf: () => db.prepare('SELECT * FROM statements WHERE session_id = ? ORDER BY seq'),
    chunksFrom: () =>
      db
        .prepare(
          `SELECT r.body FROM frame_chunks f JOIN records r ON r.id = f.record_id
         WHERE f.session_id = ? AND f.seq_last >= ? ORDER BY f.seq_last`,
        )
        .pluck(),
    recordById: () => db.prepare('SELECT id, kind, session_id, t_us, digest, body FROM records WHERE id = ?'),
    digestById: () => db.prepare('SELECT digest FROM records WHERE id = ?').pluck(),
    idsBetween: () => db.prepare('SELECT id FROM records WHERE id >= ? AND id <= ? ORDER BY id').pluck(),
    sessionRecordIds: () =>
      db
        .prepare(
          `SELECT open_record_id AS id FROM sessions WHERE id = @sessionId
         UNION ALL SELECT close_record_id FROM sessions WHERE id = @sessionId AND close_record_id IS NOT NULL
         UNION ALL SELECT record_id FROM statements WHERE session_id = @sessionId
         UNION ALL SELECT record_id FROM frame_chunks WHERE session_id = @sessionId
         UNION ALL SELECT request_record_id FROM approvals WHERE session_id = @sessionId
         UNION ALL SELECT record_id FROM approvals
           WHERE session_id = @sessionId AND record_id <> request_record_id
         ORDER BY 1`,
        )
        .pluck(),
    prunableSessions: () =>
      db.prepare(
        `SELECT * FROM sessions WHERE close_record_id IS NOT NULL AND ended_at < @before
         AND (@connection IS NULL OR connection = @connection)
       ORDER BY open_record_id`,
      ),
    insertCheckpoint: () =>
      db.prepare('INSERT INTO checkpoints (id, record_id, digest, created_at) VALUES (?, ?, ?, ?)'),
    deleteStatements: () => db.prepare('DELETE FROM statements WHERE session_id = ?'),
    deleteChunks: () => db.prepare('DELETE FROM frame_chunks WHERE session_id = ?'),
    deleteSession: () => db.prepare('DELETE FROM sessions WHERE id = ?'),
    deleteRecord: () => db.prepare('DELETE FROM records WHERE id = ?'),
    pruneRecords: () =>
      db.prepare(
        'SELECT r.id, r.kind, r.body FROM checkpoints c JOIN records r ON r.id = c.id ORDER BY c.id',
      ),
    checkpointsAttested: () =>
      db.prepare(
        `SELECT c.id, c.record_id, c.digest, c.created_at, r.kind, r.session_id, r.t_us, r.body
       FROM checkpoints c LEFT JOIN records r ON r.id = c.id ORDER BY c.id`,
      ),
    recordsFrom: () =>
      db.prepare('SELECT id, kind, session_id, t_us, digest, body FROM records WHERE id > ? ORDER BY id'),
    sessionsAttested: () =>
      db.prepare(
        `SELECT s.*, o.kind AS o_kind, o.session_id AS o_sid, o.body AS o_body,
         c.kind AS c_kind, c.session_id AS c_sid, c.body AS c_body,
         (SELECT count(*) FROM statements st WHERE st.session_id = s.id) AS n_statements
       FROM sessions s LEFT JOIN records o ON o.id = s.open_record_id
         LEFT JOIN records c ON c.id = s.close_record_id`,
      ),
    statementsAttested: () =>
      db.prepare(
        `SELECT st.*, r.kind AS r_kind, r.session_id AS r_sid, r.body AS r_body
       FROM statements st LEFT JOIN records r ON r.id = st.record_id`,
      ),
    chunksAttested: () =>
      db.prepare(
        `SELECT f.*, r.kind AS r_kind, r.session_id AS r_sid, r.t_us AS r_t_us,
         substr(r.body, 1, ${CHUNK_HEADER_BYTES}) AS r_head
       FROM frame_chunks f LEFT JOIN records r ON r.id = f.record_id`,
      ),
    // Every record must be attested to by a projection row (a deleted projection row, or a
    // record of an unknown kind, shows here); the NOT IN set is built once, not per row.
    unprojectedRecord: () =>
      db.prepare(
        `SELECT id, kind FROM records WHERE id NOT IN (
         SELECT open_record_id FROM sessions
         UNION ALL SELECT close_record_id FROM sessions WHERE close_record_id IS NOT NULL
         UNION ALL SELECT record_id FROM statements
         UNION ALL SELECT record_id FROM frame_chunks
         UNION ALL SELECT request_record_id FROM approvals
         UNION ALL SELECT record_id FROM approvals
         UNION ALL SELECT id FROM policy_changes
         UNION ALL SELECT id FROM checkpoints)
       ORDER BY id LIMIT 1`,
      ),
    approvalById: () => db.prepare('SELECT * FROM approvals WHERE id = ?'),
    insertFts: () => db.prepare('INSERT INTO statements_fts (rowid, sql) VALUES (?, ?)'),
    deleteFts: () =>
      db.prepare(
        'DELETE FROM statements_fts WHERE rowid IN (SELECT record_id FROM statements WHERE session_id = ?)',
      ),
    statementsPage: () =>
      db.prepare('SELECT * FROM statements WHERE session_id = ? AND seq >= ? ORDER BY seq LIMIT ?'),
    statementMarks: () =>
      db.prepare(
        `SELECT seq, first_frame, last_frame, decision, error_code IS NOT NULL AS failed
         FROM statements WHERE session_id = ? ORDER BY seq`,
      ),
    lastFrameSeq: () => db.prepare('SELECT max(seq_last) FROM frame_chunks WHERE session_id = ?').pluck(),
    insertPolicyChange: () =>
      db.prepare(
        `INSERT INTO policy_changes (id, at, changed_by, summary, diff, yaml)
         VALUES (@id, @at, @by, @summary, @diff, @yaml)`,
      ),
    policyChanges: () =>
      db.prepare('SELECT id, at, changed_by, summary, diff FROM policy_changes ORDER BY id DESC LIMIT ?'),
    policyChangeById: () => db.prepare('SELECT * FROM policy_changes WHERE id = ?'),
    policyChangesAttested: () =>
      db.prepare(
        `SELECT p.*, r.kind AS r_kind, r.session_id AS r_sid, r.t_us AS r_t_us, r.body AS r_body
         FROM policy_changes p LEFT JOIN records r ON r.id = p.id`,
      ),
    insertApproval: () =>
      db.prepare(
        `INSERT INTO approvals (id, session_id, identity, connection, sql, rule, reason, client_reason,
           requested_at, expires_at, state, decided_by, decided_at, recent, request_record_id, record_id)
         VALUES (@id, @sessionId, @identity, @connection, @sql, @rule, @reason, @clientReason,
           @requestedAt, @expiresAt, @state, @decidedBy, @decidedAt, @recent, @requestRecordId, @recordId)`,
      ),
    decideApproval: () =>
      db.prepare(
        `UPDATE approvals SET state = ?, decided_by = ?, decided_at = ?, record_id = ?
         WHERE id = ? AND state = 'pending'`,
      ),
    deleteApprovals: () => db.prepare('DELETE FROM approvals WHERE session_id = ?'),
    pendingApprovals: () =>
      db.prepare("SELECT * FROM approvals WHERE state = 'pending' ORDER BY requested_at, request_record_id"),
    approvalsOfSession: () =>
      db.prepare(
        `SELECT a.*, (SELECT min(st.seq) FROM statements st
             WHERE st.session_id = a.session_id AND st.approval_id = a.id) AS statement_seq
         FROM approvals a WHERE a.session_id = ? ORDER BY a.requested_at, a.request_record_id`,
      ),
    approvalsAll: () =>
      db.prepare('SELECT * FROM approvals ORDER BY requested_at DESC, request_record_id DESC LIMIT ?'),
    approvalsInState: () =>
      db.prepare(
        `SELECT * FROM approvals WHERE state = ?
         ORDER BY requested_at DESC, request_record_id DESC LIMIT ?`,
      ),
    approvalsAttested: () =>
      db.prepare(
        `SELECT a.*, r.kind AS r_kind, r.session_id AS r_sid, r.t_us AS r_t_us, r.body AS r_body,
           q.kind AS q_kind, q.session_id AS q_sid, q.t_us AS q_t_us, q.body AS q_body
         FROM approvals a LEFT JOIN records r ON r.id = a.record_id
           LEFT JOIN records q ON q.id = a.request_record_id`,
      ),
  });
}

/**
 * Statements prepared on first use, each once: a read-only store never prepares the writes
 * (which an older schema, read through schema.ts's stand-ins, could not compile).
 */
function lazily<T extends Record<string, () => object>>(
  make: T,
): { readonly [K in keyof T]: ReturnType<T[K]> } {
  const out = {} as { [K in keyof T]: ReturnType<T[K]> };
  for (const key of Object.keys(make) as (keyof T)[]) {
    let stmt: ReturnType<T[typeof key]> | undefined;
    Object.defineProperty(out, key, {
      enumerable: true,
      get: () => {
        stmt ??= make[key]() as ReturnType<T[typeof key]>;
        return stmt;
      },
    });
  }
  return out;
}

// --- projection checks (verify) -------------------------------------------------------------

function checkSessionRow(row: Row): Bad | undefined {
  const where = `sessions row ${row.id}`;
  const openId = row.open_record_id as number;
  const open = attestedBy(row.o_kind, row.o_sid, row.o_body, 'session_open', row.id, (e) =>
    openedSession(e.session as SessionInfo),
  );
  if (!open) return { id: openId, reason: `${where} is not attested by record ${openId}` };
  const actual = rowToSession(row);
  const differ = OPEN_FIELDS.filter((k) => actual[k] !== open[k]);
  if (differ.length) {
    return { id: openId, reason: `${where} differs from record ${openId} in ${differ.join(', ')}` };
  }
  let end = { endedAt: open.endedAt, endReason: open.endReason };
  const closeId = row.close_record_id as number | null;
  if (closeId !== null) {
    const close = attestedBy(row.c_kind, row.c_sid, row.c_body, 'session_close', row.id, (e) =>
      sessionClose(e as { sessionId: string; endedAt: number; endReason: string }),
    );
    if (!close) return { id: closeId, reason: `${where} is not closed by record ${closeId}` };
    end = close;
  }
  if (actual.endedAt !== end.endedAt || actual.endReason !== end.endReason) {
    const id = closeId ?? openId;
    return { id, reason: `${where} differs from record ${id} in its end` };
  }
  if (actual.statements !== row.n_statements) {
    return {
      id: openId,
      reason: `${where} counts ${actual.statements} statements, ${row.n_statements} are recorded`,
    };
  }
  return undefined;
}

function checkStatementRow(row: Row): Bad | undefined {
  const id = row.record_id as number;
  const where = `statements row (session ${row.session_id}, seq ${row.seq})`;
  const recorded = attestedBy(row.r_kind, row.r_sid, row.r_body, 'statement', row.session_id, (e) =>
    statementRecord(e.statement as StatementRecord),
  );
  if (!recorded) return { id, reason: `${where} is not attested by record ${id}` };
  const actual = rowToStatement(row);
  const keys = new Set([...Object.keys(recorded), ...Object.keys(actual)] as (keyof StatementRecord)[]);
  const differ = [...keys].filter((k) => canonicalJson(actual[k]) !== canonicalJson(recorded[k]));
  return differ.length
    ? { id, reason: `${where} differs from record ${id} in ${differ.join(', ')}` }
    : undefined;
}

function checkChunkRow(row: Row): Bad | undefined {
  const id = row.record_id as number;
  const where = `frame_chunks row (session ${row.session_id}, seq ${row.seq_first}..${row.seq_last})`;
  let ok = row.r_kind === 'frames' && row.r_sid === row.session_id && Buffer.isBuffer(row.r_head);
  if (ok) {
    try {
      const h = decodeChunkHeader(row.r_head as Buffer);
      ok =
        row.seq_first === h.seq &&
        row.seq_last === h.seq + h.count - 1 &&
        row.dir === h.dir &&
        row.t_us === h.tUs &&
        row.r_t_us === h.tUs;
    } catch {
      ok = false;
    }
  }
  return ok ? undefined : { id, reason: `${where} does not match record ${id}` };
}

function checkApprovalRow(row: Row): Bad | undefined {
  const id = row.record_id as number;
  const requestId = row.request_record_id as number;
  const where = `approvals row ${row.id}`;
  const read = (e: Row) => {
    const a = normalizeApproval(e.approval as Approval);
    if (a.id !== row.id) throw new Error('another approval');
    return a;
  };
  const latest = attestedBy(row.r_kind, row.r_sid, row.r_body, APPROVAL_KIND, row.session_id, read);
  if (!latest || row.r_t_us !== approvalTime(latest)) {
    return { id, reason: `${where} is not attested by record ${id}` };
  }
  let actual: Approval;
  try {
    actual = rowToApproval(row);
  } catch {
    return { id, reason: `${where} cannot be read` };
  }
  const differ = (Object.keys(latest) as (keyof Approval)[]).filter(
    (k) => canonicalJson(actual[k]) !== canonicalJson(latest[k]),
  );
  if (differ.length) return { id, reason: `${where} differs from record ${id} in ${differ.join(', ')}` };
  if (requestId === id) return undefined;
  // Two records: the request ('pending') and, later, its outcome with the same request fields.
  const request = attestedBy(row.q_kind, row.q_sid, row.q_body, APPROVAL_KIND, row.session_id, read);
  if (
    !request ||
    row.q_t_us !== approvalTime(request) ||
    request.state !== 'pending' ||
    latest.state === 'pending' ||
    !(requestId < id) ||
    requestDiffers(request, latest).length
  ) {
    return { id: requestId, reason: `${where} is not requested by record ${requestId}` };
  }
  return undefined;
}

function checkPolicyChangeRow(row: Row): Bad | undefined {
  const id = row.id as number;
  const recorded = attestedBy(row.r_kind, row.r_sid, row.r_body, 'policy_change', '', (e) =>
    policyChange(e.change as PolicyChangeRecord),
  );
  if (!recorded || row.r_t_us !== recorded.at) {
    return { id, reason: `policy_changes row ${id} is not attested by record ${id}` };
  }
  const actual: PolicyChangeRecord = {
    at: row.at as number,
    by: row.changed_by as string,
    summary: row.summary as string,
    diff: row.diff as string,
    yaml: row.yaml as string,
  };
  const differ = (Object.keys(recorded) as (keyof PolicyChangeRecord)[]).filter(
    (k) => actual[k] !== recorded[k],
  );
  return differ.length
    ? { id, reason: `policy_changes row ${id} differs from record ${id} in ${differ.join(', ')}` }
    : undefined;
}

/** The normalized content of a JSON record of `kind` for `sessionId`, or undefined if it is not one. */
function attestedBy<T>(
  kind: unknown,
  sessionId: unknown,
  body: unknown,
  expectedKind: string,
  expectedSessionId: unknown,
  read: (entry: Row) => T,
): T | undefined {
  if (kind !== expectedKind || sessionId !== expectedSessionId || !Buffer.isBuffer(body)) return undefined;
  try {
    return read(JSON.parse(body.toString('utf8')) as Row);
  } catch {
    return undefined;
  }
}

// --- entries: normalized before storing, so the record and its projection hold the same values

function openedSession(s: SessionInfo): OpenedSession {
  return {
    id: nonEmpty(s.id, 'session.id'),
    identity: text(s.identity, 'session.identity'),
    authMethod: text(s.authMethod, 'session.authMethod') as AuthMethod,
    connection: text(s.connection, 'session.connection'),
    clientAddress: text(s.clientAddress, 'session.clientAddress'),
    applicationName: optText(s.applicationName, 'session.applicationName'),
    database: optText(s.database, 'session.database'),
    tls: flag(s.tls, 'session.tls'),
    protocol: text(s.protocol, 'session.protocol'),
    startedAt: int(s.startedAt, 'session.startedAt'),
    endedAt: optInt(s.endedAt, 'session.endedAt'),
    endReason: optText(s.endReason, 'session.endReason'),
  };
}

function statementRecord(s: StatementRecord): StatementRecord {
  const params = s.params ?? null;
  if (
    params !== null &&
    (!Array.isArray(params) || params.some((p) => p !== null && typeof p !== 'string'))
  ) {
    throw new TypeError('statement.params must be an array of strings and nulls, or null');
  }
  // fromEntries defines own properties, so a rule named "__proto__" stays a plain key.
  const masked = Object.fromEntries(
    Object.entries(s.masked ?? {}).map(([rule, n]) => [rule, int(n, `statement.masked.${rule}`)]),
  );
  const approvalId = optText(s.approvalId, 'statement.approvalId');
  return {
    sessionId: nonEmpty(s.sessionId, 'statement.sessionId'),
    seq: int(s.seq, 'statement.seq'),
    protocol: text(s.protocol, 'statement.protocol') as StatementProtocol,
    sql: text(s.sql, 'statement.sql'),
    params,
    startedAt: int(s.startedAt, 'statement.startedAt'),
    durationUs: int(s.durationUs, 'statement.durationUs'),
    rows: int(s.rows, 'statement.rows'),
    tag: optText(s.tag, 'statement.tag'),
    errorCode: optText(s.errorCode, 'statement.errorCode'),
    errorMessage: optText(s.errorMessage, 'statement.errorMessage'),
    decision: text(s.decision, 'statement.decision') as Decision,
    rule: optText(s.rule, 'statement.rule'),
    // Only when set: a statement no approval held is stored as schema version 1 stored it.
    ...(approvalId !== null ? { approvalId } : {}),
    firstFrame: int(s.firstFrame, 'statement.firstFrame'),
    lastFrame: int(s.lastFrame, 'statement.lastFrame'),
    truncated: flag(s.truncated, 'statement.truncated'),
    uncapturedBytes: int(s.uncapturedBytes, 'statement.uncapturedBytes'),
    uncapturedRows: int(s.uncapturedRows, 'statement.uncapturedRows'),
    uncapturedDigest: optText(s.uncapturedDigest, 'statement.uncapturedDigest'),
    masked,
  };
}

function policyChange(c: PolicyChangeRecord): PolicyChangeRecord {
  return {
    at: int(c.at, 'change.at'),
    by: nonEmpty(c.by, 'change.by'),
    summary: text(c.summary, 'change.summary'),
    diff: text(c.diff, 'change.diff'),
    yaml: text(c.yaml, 'change.yaml'),
  };
}

function sessionClose(c: { sessionId: string; endedAt: number; endReason: string }) {
  return {
    sessionId: nonEmpty(c.sessionId, 'close.sessionId'),
    endedAt: int(c.endedAt, 'close.endedAt'),
    endReason: text(c.endReason, 'close.endReason'),
  };
}

/** An approval's named parameters for insertApproval (without the record ids). */
function approvalParams(a: Approval): Row {
  return { ...a, recent: JSON.stringify(a.recent) };
}

// --- small helpers ---------------------------------------------------------------------------

function jsonBody(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** JSON with object keys sorted, so equal values compare equal whatever their key order. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
