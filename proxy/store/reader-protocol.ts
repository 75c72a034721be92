// The operator's reads of a store, as the reader thread (reader-worker.ts) answers them and the
// event loop asks for them (reader-thread.ts). Everything here crosses a thread boundary by
// structured clone: plain data only, no Buffers.

import type {
  Approval,
  FrameBytes,
  LiveStatement,
  ReplayInfo,
  ReportFile,
  ReportFileFormat,
  SessionSearch,
} from '../../shared/api.js';
import type { FrameView, SessionInfo, StatementRecord, VerifyResult } from '../../shared/types.js';
import type { ReportFilter } from '../report/index.js';
import type { StoreTarget } from './pg/target.js';
import type { ApprovalQuery, SessionQuery, SessionSearchPage } from './types.js';

/**
 * Which store the thread opens: a SQLite file (read-only, beside the writer thread's connection;
 * WAL lets both work at once), or a shared PostgreSQL store (read-only by PgSessionStore).
 */
export type StoreLocation = { kind: 'sqlite'; path: string } | { kind: 'pg'; target: StoreTarget };

/** The chain head as the writer last reported it (hex digest): verify checks nothing was cut off after it. */
export interface KnownHead {
  id: number;
  digest: string;
}

/** What the service reads, each call answered off the event loop. */
export interface StoreReads {
  listSessions(query: SessionQuery): Promise<SessionInfo[]>;
  /** By full id or a unique prefix; null when none. */
  getSession(idOrPrefix: string): Promise<SessionInfo | null>;
  listStatements(sessionId: string): Promise<StatementRecord[]>;
  /** Frames decoded for the replayer. */
  frameViews(sessionId: string, fromSeq: number, limit: number): Promise<FrameView[]>;
  /** One frame's wire bytes; null when there is no such frame. */
  frameBytes(sessionId: string, seq: number): Promise<FrameBytes | null>;
  recentStatements(limit: number): Promise<LiveStatement[]>;
  approvals(query: ApprovalQuery): Promise<Approval[]>;
  verify(head: KnownHead | null): Promise<VerifyResult>;
  searchSessions(query: SessionSearch): Promise<SessionSearchPage>;
  searchStatements(
    text: string,
    limit: number,
    offset: number,
  ): Promise<{ statements: LiveStatement[]; more: boolean }>;
  openReplay(sessionId: string): Promise<ReplayInfo | null>;
  statementsPage(sessionId: string, fromSeq: number, limit: number): Promise<StatementRecord[]>;
  /** The audit report built and rendered; `source` names the store in it. */
  exportReport(format: ReportFileFormat, filter: ReportFilter, source: string): Promise<ReportFile>;
  /** Gateways that shipped to a shared store, by name ([] for a SQLite store). */
  gateways(): Promise<string[]>;
}

export type ReadMethod = keyof StoreReads;

export interface ReaderWorkerData {
  location: StoreLocation;
}

export interface ReadRequest {
  id: number;
  method: ReadMethod;
  args: unknown[];
}

/** id 0 answers the opening of the store (value 'ready'), before any request. */
export type ReadReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string };
