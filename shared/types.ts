// Domain types shared by the core, the hosts and the renderer. Types only: no runtime code,
// so that anything (Node, Electron main, the browser) can import this file.

/** Which side sent a frame. `client` = client -> gateway, `server` = gateway -> client. */
export type Direction = 'client' | 'server';

/** A guardrail decision for a statement. */
export type Decision = 'allow' | 'warn' | 'block' | 'review';

/** How the client proved who it is. */
export type AuthMethod = 'scram-sha-256' | 'oidc';

/** One client connection through the gateway, bound to a verified identity. */
export interface SessionInfo {
  /** Random UUID. */
  id: string;
  identity: string;
  authMethod: AuthMethod;
  /** Name of the configured connection (listener) the client used. */
  connection: string;
  /** `ip:port` of the client. */
  clientAddress: string;
  applicationName: string | null;
  /** The database name the client asked for (informational; the upstream database is configured). */
  database: string | null;
  /** Whether the client side used TLS. */
  tls: boolean;
  /** Protocol version the client spoke, e.g. "3.0" or "3.2". */
  protocol: string;
  /** Epoch microseconds. */
  startedAt: number;
  endedAt: number | null;
  /** Why the session ended: 'client terminated', 'client disconnected', 'upstream lost', 'gateway stopped', ... */
  endReason: string | null;
  /** Number of statements recorded so far (maintained by the store). */
  statements: number;
}

/** How a statement reached the server. */
export type StatementProtocol = 'simple' | 'extended' | 'function' | 'copy';

/** One statement as executed (or refused) in a session, derived from its frames. */
export interface StatementRecord {
  sessionId: string;
  /** 1-based number of the statement within its session. */
  seq: number;
  protocol: StatementProtocol;
  sql: string;
  /** Bound parameters as text; binary ones as `\x` hex; null for SQL NULL. Null when none. */
  params: (string | null)[] | null;
  /** Epoch microseconds when the statement was sent. */
  startedAt: number;
  durationUs: number;
  /** DataRows sent to the client (including rows beyond the capture limit). */
  rows: number;
  /** Last CommandComplete tag, e.g. "SELECT 3". */
  tag: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  decision: Decision;
  rule: string | null;
  /** The approval that held the statement (decision 'review'), if any. */
  approvalId?: string | null;
  /** First and last frame seq that belong to this statement (inclusive). */
  firstFrame: number;
  lastFrame: number;
  /** True if the response exceeded the capture limit and was not stored whole. */
  truncated: boolean;
  /** Bytes and rows of the response that were counted but not stored. */
  uncapturedBytes: number;
  uncapturedRows: number;
  /** SHA-256 (hex) over the uncaptured frames, in order; null when nothing was left out. */
  uncapturedDigest: string | null;
  /** Masked values by rule name. */
  masked: Record<string, number>;
}

/** One decoded frame, as the replayer and `bastion replay` show it. */
export interface FrameView {
  seq: number;
  /** Microseconds since the session started. */
  t_us: number;
  dir: Direction;
  /** Message name, e.g. "Query", "DataRow", "StartupMessage". */
  type: string;
  decoded: Record<string, unknown>;
}

export interface VerifyResult {
  ok: boolean;
  /** Records checked. */
  records: number;
  /** Hex SHA-256 of the last record (the chain head). */
  head: string | null;
  /** The first bad record, when not ok. */
  firstBad?: { id: number; reason: string };
}
