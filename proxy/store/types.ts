import type {
  Approval,
  ApprovalState,
  LiveStatement,
  PolicyChange,
  SessionHit,
  SessionSearch,
} from '../../shared/api.js';
import type { Direction, SessionInfo, StatementRecord, VerifyResult } from '../../shared/types.js';
import type { ApprovalEntry } from '../report/types.js';

/**
 * What the recorder hands the store. Every entry becomes one append-only record in the
 * integrity chain; the queryable tables (sessions, statements, approvals) are projections of these
 * records and `verify` checks both the chain and that the projections match it.
 */
export type StoreEntry =
  | { kind: 'session_open'; session: SessionInfo }
  | FrameChunk
  | { kind: 'statement'; statement: StatementRecord }
  | { kind: 'session_close'; sessionId: string; endedAt: number; endReason: string }
  | ApprovalChange
  | PolicyChangeEntry;

/**
 * A change of policy, made through the API (the policy editor): who, when, what (a unified diff
 * of the policies' YAML) and the whole new text. Not tied to a session (the record's session id is
 * empty); retention never removes it.
 */
export interface PolicyChangeEntry {
  kind: 'policy_change';
  change: PolicyChangeRecord;
}

export interface PolicyChangeRecord {
  /** Epoch microseconds. */
  at: number;
  by: string;
  /** One line: which policies changed. */
  summary: string;
  diff: string;
  /** The policies section as saved. */
  yaml: string;
}

/**
 * A state change of an approval: appended when it is requested (state 'pending') and again with
 * its outcome (approved / denied with decidedBy and decidedAt; expired or cancelled with
 * decidedBy null). The outcome must repeat the request's fields (ApprovalQueue does); an approval
 * that already has an outcome takes no other. The session need not be open (a cancel may follow
 * the session's close).
 */
export interface ApprovalChange {
  kind: 'approval';
  approval: Approval;
}

/** Which approvals `SessionStore.approvals` lists. */
export interface ApprovalQuery {
  state?: ApprovalState;
  limit?: number;
}

/**
 * Consecutive frames of one direction that arrived together (one socket read), so they share
 * one timestamp. `data` is the frames' wire bytes concatenated, each a full message:
 * type byte, int32 length (including itself), body. Frames without a type byte on the wire
 * (startup packets: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest) are stored with
 * the type byte 0x00 followed by the packet as sent (int32 length, body).
 * Authentication secrets never get here: the recorder replaces them before.
 */
export interface FrameChunk {
  kind: 'frames';
  sessionId: string;
  /** seq of the first frame in `data`; the following frames are seq+1, seq+2, ... */
  seq: number;
  /** Number of frames in `data`. */
  count: number;
  dir: Direction;
  /** Microseconds since the session started. */
  tUs: number;
  data: Buffer;
}

/** One raw frame read back from the store. */
export interface StoredFrame {
  seq: number;
  tUs: number;
  dir: Direction;
  /** Type byte (0 for startup packets). */
  type: number;
  /** Message body (after the length field; for startup packets, after the length field too). */
  body: Buffer;
}

export interface SessionQuery {
  identity?: string;
  connection?: string;
  /** Epoch microseconds, inclusive. */
  since?: number;
  until?: number;
  limit?: number;
  offset?: number;
}

/** A page of sessions from `searchSessions`. */
export interface SessionSearchPage {
  sessions: SessionHit[];
  /** How many sessions match in all; null when counting them would mean reading every match. */
  total: number | null;
  /** Whether sessions beyond this page match. */
  more: boolean;
}

export type { SessionSearch };

/** What retention did in one `prune` call (see SessionStore.prune). */
export interface PruneResult {
  /** Id of the chained `prune` record that states what was removed; null when nothing was. */
  recordId: number | null;
  /** Epoch microseconds: sessions that ended before this were removed. */
  before: number;
  connection: string | null;
  sessions: number;
  /** Records removed from the chain. */
  records: number;
}

/** A session removed by retention, as its prune record lists it. */
export interface PrunedSession {
  id: string;
  identity: string;
  connection: string;
  startedAt: number;
  endedAt: number;
  statements: number;
  /** Records of the session that were removed. */
  records: number;
}

/** One chained `prune` record, read back. */
export interface PruneInfo {
  recordId: number;
  /** Epoch microseconds when the prune ran. */
  at: number;
  before: number;
  connection: string | null;
  sessions: PrunedSession[];
  records: number;
  /** Removed id ranges [first, last] and the digest (hex) of each range's last record. */
  ranges: [number, number, string][];
}

/**
 * One record of the integrity chain with the link it was chained to: enough to recompute its
 * digest without the rest of the chain (session export).
 */
export interface ChainedRecord {
  id: number;
  kind: string;
  sessionId: string;
  tUs: number;
  digest: Buffer;
  body: Buffer;
  /** The previous record in the chain (id - 1, or the genesis link) and its digest. */
  prev: { id: number; digest: Buffer };
}

/** The read side of a store: what the replayer and reports need (a store, or an exported session). */
export interface SessionReader {
  listSessions(query?: SessionQuery): SessionInfo[];
  getSession(idOrPrefix: string): SessionInfo | undefined;
  listStatements(sessionId: string): StatementRecord[];
  readFrames(sessionId: string, fromSeq?: number, limit?: number): StoredFrame[];
  verify(): VerifyResult;
  /** Prune records (retention), oldest first; optional for readers that have none. */
  listPrunes?(): PruneInfo[];
  /** The session's approvals (see SessionStore.listApprovals); optional for readers that have none. */
  listApprovals?(sessionId: string): ApprovalEntry[];
  close(): void;
}

/** The session store. SQLite now; a PostgreSQL implementation later keeps the same behaviour. */
export interface SessionStore extends SessionReader {
  /** The last record written, as this instance knows it (id 0 and digest null when empty). */
  readonly chainHead: { id: number; digest: string | null };
  /** Another connection (the writer thread) wrote up to this head (see SqliteSessionStore). */
  observeHead?(id: number, digest: Buffer): void;
  /** Appends entries in order, in one transaction. Throws if the store cannot write. */
  append(entries: readonly StoreEntry[]): void;
  /** Newest first. */
  listSessions(query?: SessionQuery): SessionInfo[];
  /** By full id or a unique prefix of it. */
  getSession(idOrPrefix: string): SessionInfo | undefined;
  listStatements(sessionId: string): StatementRecord[];
  /** Frames of a session in seq order, starting at `fromSeq`, at most `limit`. */
  readFrames(sessionId: string, fromSeq?: number, limit?: number): StoredFrame[];
  /** Walks the integrity chain and the projections. */
  verify(): VerifyResult;
  /**
   * Marks sessions left open by a previous run (crash) as ended with reason 'interrupted'
   * (the close is itself a chained record), and ends every approval still pending from a previous
   * run as 'cancelled' at `endedAt` (decidedBy null; the client that waited is gone), each with
   * its chained record. Call it at start, before anything new is recorded. Returns how many
   * sessions it closed (see `cancelledApprovals` for the approvals).
   */
  closeInterrupted(endedAt: number): number;
  /** How many pending approvals the last `closeInterrupted` cancelled. */
  readonly cancelledApprovals: number;
  /**
   * The approvals of a session for the audit report, oldest request first, each with its latest
   * state and the seq of the statement that names it (null while none does).
   */
  listApprovals(sessionId: string): ApprovalEntry[];
  /** Approvals with their latest state, newest request first (approval history, `--all`). */
  approvals(query?: ApprovalQuery): Approval[];
  /** One approval with its latest state, by id. */
  getApproval(id: string): Approval | undefined;
  /**
   * Retention: removes every closed session of `connection` (all connections when omitted) that
   * ended before `before` (epoch microseconds): its records and projection rows. What was removed
   * is stated by one chained `prune` record (with the digests the rest of the chain needs to
   * verify across the gaps) and a checkpoint row. Nothing is written when nothing is old enough.
   */
  prune(before: number, connection?: string): PruneResult;
  /** Prune records, oldest first. */
  listPrunes(): PruneInfo[];
  /** The records of one session in chain order, each with its chain link (session export). */
  sessionRecords(sessionId: string): Iterable<ChainedRecord>;
  /**
   * Sessions by who, where, when and what was said: the SessionQuery filters, sessions that have
   * blocked / held / failed statements, and `text` (full-text over their statements; then each
   * session comes with its newest matching statement, and the order is by that statement, newest
   * first). Paged with limit/offset; stays fast on millions of statements.
   */
  searchSessions(query: SessionSearch): SessionSearchPage;
  /** Statements whose SQL holds every word of `text` (the last may be a prefix), newest first. */
  searchStatements(
    text: string,
    limit: number,
    offset?: number,
  ): { statements: LiveStatement[]; more: boolean };
  /** The newest `limit` statements across sessions, newest first, with their sessions' identity and connection (one query). */
  recentStatements(limit: number): LiveStatement[];
  /** A session's statements from seq `fromSeq` on, at most `limit`. */
  statementsPage(sessionId: string, fromSeq: number, limit: number): StatementRecord[];
  /** Every statement of a session in seq order as [seq, firstFrame, lastFrame, STATEMENT_MARK flags], flattened. */
  statementMarks(sessionId: string): number[];
  /** The last frame seq of a session (0 when it has none). */
  frameCount(sessionId: string): number;
  /** Changes of policy, newest first. */
  policyChanges(limit?: number): PolicyChange[];
  /** One change of policy with its whole text, by id. */
  getPolicyChange(id: number): (PolicyChange & { yaml: string }) | undefined;
  close(): void;
}
