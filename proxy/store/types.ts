import type { Direction, SessionInfo, StatementRecord, VerifyResult } from '../../shared/types.js';

/**
 * What the recorder hands the store. Every entry becomes one append-only record in the
 * integrity chain; the queryable tables (sessions, statements) are projections of these
 * records and `verify` checks both the chain and that the projections match it.
 */
export type StoreEntry =
  | { kind: 'session_open'; session: SessionInfo }
  | FrameChunk
  | { kind: 'statement'; statement: StatementRecord }
  | { kind: 'session_close'; sessionId: string; endedAt: number; endReason: string };

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

/** The session store. SQLite now; a PostgreSQL implementation later keeps the same behaviour. */
export interface SessionStore {
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
   * (the close is itself a chained record). Returns how many.
   */
  closeInterrupted(endedAt: number): number;
  close(): void;
}
