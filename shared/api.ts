// The one contract between the core and every host/UI: calls and event streams. The core
// implements `BastionApi`; every host carries it through the one dispatcher (proxy/api/dispatcher.ts)
// in the shape of shared/rpc.ts: Electron over IPC, the headless host over one WebSocket, the CLI
// over its control socket. The renderer sees only this interface, never the transport.
// Types, plus the list of method names (the only runtime value), so it is safe to import anywhere.

import type { RpcOutcome } from './rpc.js';
import type { Decision, FrameView, SessionInfo, StatementRecord, VerifyResult } from './types.js';

export type ListenerState = 'stopped' | 'starting' | 'listening' | 'failed';

/** A connection as the UI may see it: never a password. */
export interface ConnectionView {
  name: string;
  listen: string;
  /** postgres://user@host:port/db?sslmode=... (no password). */
  upstream: string;
  hasUpstreamPassword: boolean;
  tls: 'configured' | 'self-signed';
  /** What the store keeps of values clients type (SQL text, parameters, COPY data): `record_client_values`. */
  recordClientValues?: 'masked' | 'clear';
  state: ListenerState;
  error: string | null;
  activeSessions: number;
  /** host:port the listener accepts connections on now (the bound port when `listen` says :0); null when not listening. */
  address: string | null;
  /** The upstream user is a superuser (where a guardrail miss costs most); null until the gateway could ask. */
  upstreamSuperuser?: boolean | null;
  /**
   * Masking rule columns (`schema.table.column` as written) that name no column of the upstream
   * at the last catalog load: nothing is masked by them until the column exists. Empty until the
   * catalog is loaded (the first session).
   */
  unboundMaskingColumns?: string[];
}

export interface ConnectionInput {
  name: string;
  listen: string;
  upstreamHost: string;
  upstreamPort: number;
  upstreamUser: string;
  /** Omitted or null keeps the stored secret. */
  upstreamPassword?: string | null;
  upstreamDatabase: string;
  sslmode: 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
  /** Client-facing TLS files; null = a self-signed certificate; omitted keeps what the connection has. */
  tls?: { cert: string; key: string } | null;
  /** `record_client_values`; omitted keeps what the connection has (a new one: masked). */
  recordClientValues?: 'masked' | 'clear';
}

export interface IdentityView {
  name: string;
  kind: 'password' | 'oidc';
  connections: string[];
  policy: string;
}

export interface IdentityInput {
  name: string;
  /** Omitted or null keeps the stored secret. */
  password?: string | null;
  connections: string[];
  policy?: string;
}

/** A statement as the live inspector shows it. */
export interface LiveStatement extends StatementRecord {
  identity: string;
  connection: string;
}

export type ApprovalState = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';

export interface Approval {
  id: string;
  sessionId: string;
  identity: string;
  connection: string;
  sql: string;
  rule: string | null;
  reason: string;
  /** The client's stated reason (SET bastion.reason / a leading reason comment). */
  clientReason: string | null;
  requestedAt: number;
  expiresAt: number;
  state: ApprovalState;
  decidedBy: string | null;
  decidedAt: number | null;
  /** The session's most recent statements, for context. */
  recent: { sql: string; decision: Decision; at: number }[];
}

export interface SessionFilter {
  identity?: string;
  connection?: string;
  since?: number;
  until?: number;
  text?: string;
  limit?: number;
  offset?: number;
}

/**
 * Sessions by who (identity), where (connection), when (since/until, on the start time) and what
 * was said (`text`: full-text over the sessions' statements), and sessions that have blocked,
 * held or failed statements.
 */
export interface SessionSearch extends SessionFilter {
  hasBlocked?: boolean;
  hasHeld?: boolean;
  hasErrors?: boolean;
}

/** A session found by searchSessions. */
export interface SessionHit extends SessionInfo {
  /** Statements the guardrails blocked, held for review, and that ended in an error. */
  blocked: number;
  held: number;
  errors: number;
  /** With a text search: the session's newest statement that matches (results are ordered by it). */
  match: { seq: number; sql: string; firstFrame: number } | null;
}

export interface SessionSearchResult {
  sessions: SessionHit[];
  /** All sessions that match; null when counting them would mean reading every match. */
  total: number | null;
  /** Whether more sessions match past this page. */
  more: boolean;
}

export interface StatementSearchResult {
  /** Newest first. */
  statements: LiveStatement[];
  more: boolean;
}

/** Flags of a statement on the replayer's timeline (ReplayInfo.marks). */
export const STATEMENT_MARK = { blocked: 1, held: 2, error: 4, warn: 8 } as const;

/** What the replayer needs to open a session. */
export interface ReplayInfo {
  session: SessionInfo;
  /** The last frame's seq (frames are numbered from 1). */
  frames: number;
  /** Every statement as [seq, firstFrame, lastFrame, STATEMENT_MARK flags], flattened, in seq order. */
  marks: number[];
}

/** One frame as it went over the wire. */
export interface FrameBytes {
  seq: number;
  dir: 'client' | 'server';
  type: string;
  /** The message in hex: type byte (none for startup packets), length, body; at most FRAME_BYTES_MAX bytes. */
  hex: string;
  /** The whole message's length in bytes. */
  length: number;
  /** True when `hex` holds only the first FRAME_BYTES_MAX bytes. */
  truncated: boolean;
}

/** The most bytes of one frame readFrameBytes returns. */
export const FRAME_BYTES_MAX = 64 * 1024;

/** A problem in policy YAML, where it is (1-based lines and columns, end exclusive). */
export interface PolicyProblem {
  message: string;
  /** "default.guardrails[1].action" (relative to the policies section); null for YAML syntax. */
  keyPath: string | null;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  severity: 'error' | 'warning';
  source: 'yaml' | 'schema' | 'policy';
}

/** A recorded change of policy. */
export interface PolicyChange {
  /** The chained record's id. */
  id: number;
  /** Epoch microseconds. */
  at: number;
  by: string;
  summary: string;
  /** Unified diff of the policies' YAML. */
  diff: string;
}

/** The policies section as the policy editor edits it. */
export interface PolicyDocument {
  /** YAML of the `policies` section: policy name -> policy (CONTRACT.md "Config file"). */
  yaml: string;
  /** JSON Schema (draft-07) the YAML is validated against. */
  schema: Record<string, unknown>;
  /** Which policy each identity uses. */
  identities: { name: string; policy: string }[];
  /** Recent changes, newest first. */
  history: PolicyChange[];
}

/** One statement decided as `bastion check` decides it. */
export interface PolicyCheckStatement {
  sql: string;
  action: Decision;
  rule: string | null;
  reason: string;
  kind: string;
  command: string;
}

export interface PolicyCheck {
  /** Problems of the YAML; when there are errors, nothing was decided. */
  problems: PolicyProblem[];
  /** The policy that decided (the identity's, else `default`). */
  policy: string;
  statements: PolicyCheckStatement[];
}

export interface MaskPreview {
  problems: PolicyProblem[];
  /** The policy whose masking rules applied (the identity's, else `default`). */
  policy: string;
  /** Why nothing (or not everything) could be shown; null when the query ran. */
  error: string | null;
  columns: string[];
  /** Masked values, as text. */
  rows: (string | null)[][];
  /** Values masked, by rule. */
  masked: Record<string, number>;
  truncated: boolean;
}

export interface PolicySaveResult {
  ok: boolean;
  problems: PolicyProblem[];
  /** The recorded change; null when not saved or when nothing changed. */
  change: PolicyChange | null;
  /** Open sessions that switch to their policy's new version at their next statement. */
  switchedSessions: number;
}

export type ReportFileFormat = 'pdf' | 'html' | 'csv' | 'json';

export interface ReportRequest {
  format: ReportFileFormat;
  /** Epoch microseconds, inclusive. */
  since?: number | null;
  until?: number | null;
  identity?: string | null;
  connection?: string | null;
}

export interface ReportFile {
  fileName: string;
  mime: string;
  /** The file's bytes, base64. */
  base64: string;
  bytes: number;
  summary: {
    sessions: number;
    statements: number;
    blocked: number;
    held: number;
    errors: number;
    masked: number;
    verified: boolean;
    digest: string;
  };
}

/**
 * What the app may do in a shared store it opened: `reader` searches, replays, verifies and
 * reports; `approver` also decides statements held by any gateway of the fleet.
 */
export type StoreRole = 'reader' | 'approver';

/** Which store the reading calls (sessions, search, replay, verify, reports, approvals) use. */
export interface StoreSourceView {
  /**
   * `local`: this host's own store file; `team`: the shared store its team-mode config names;
   * `shared`: a shared store opened with openSharedStore.
   */
  kind: 'local' | 'team' | 'shared';
  /** The file, or the store as postgres://user@host:port/db?sslmode=... (never a password). */
  store: string;
  /** Short, for a badge: "auditor@audit-db/audit", or the file's name. */
  label: string;
  /** What may be done in a shared store; null for the local store. */
  role: StoreRole | null;
  /** The name decisions are recorded under when the call does not give one; null when deciding is not possible. */
  decideAs: string | null;
  /** Whether the store answered just now. */
  connected: boolean;
  /** Why it did not, else null. */
  error: string | null;
  /** Gateways that shipped to the shared store, by name (empty for the local store). */
  gateways: string[];
  /** When it was opened (epoch ms); null for the configured store. */
  openedAt: number | null;
  /** Team mode: how this gateway's shipping to the shared store goes; null otherwise. */
  shipping: ShippingView | null;
}

/** A team-mode gateway's shipper (proxy/store/pg/shipper.ts), as the app shows it. */
export interface ShippingView {
  /** `rejected`: the store refuses a record for its content (it is retried, never skipped). */
  state: 'connecting' | 'shipping' | 'down' | 'rejected' | 'diverged' | 'stopped';
  /** Records recorded here and not yet in the shared store. */
  behind: number;
  /** The refused record range and its SQLSTATE while `rejected`. */
  rejected: { firstId: number; lastId: number; sqlstate: string; message: string; since: number } | null;
  /** The last error, without credentials. */
  error: string | null;
}

export interface SharedStoreInput {
  /** postgres://user@host:port/db?sslmode=verify-full[&sslrootcert=FILE] */
  url: string;
  /** The store role's password (else the one in `url`): kept in the host's memory only, never saved, returned or logged. */
  password?: string | null;
  role: StoreRole;
  /** Who decisions are recorded as (approver); default the OS user running the host. */
  as?: string | null;
}

export interface BastionApi {
  listConnections(): Promise<ConnectionView[]>;
  saveConnection(input: ConnectionInput): Promise<ConnectionView>;
  removeConnection(name: string): Promise<void>;
  testConnection(input: ConnectionInput): Promise<{ ok: boolean; message: string }>;
  startListener(name: string): Promise<ConnectionView>;
  stopListener(name: string): Promise<ConnectionView>;

  listIdentities(): Promise<IdentityView[]>;
  saveIdentity(input: IdentityInput): Promise<IdentityView>;
  removeIdentity(name: string): Promise<void>;

  listSessions(filter: SessionFilter): Promise<SessionInfo[]>;
  getSession(id: string): Promise<SessionInfo | null>;
  listStatements(sessionId: string): Promise<StatementRecord[]>;
  readFrames(sessionId: string, fromSeq: number, limit: number): Promise<FrameView[]>;
  /** The newest statements across sessions, newest first (the inspector's backfill). */
  recentStatements(limit: number): Promise<LiveStatement[]>;

  listApprovals(state?: ApprovalState): Promise<Approval[]>;
  decideApproval(id: string, decision: 'approve' | 'deny', by: string): Promise<Approval>;

  verifyStore(): Promise<VerifyResult>;

  /** Sessions by who, where, when and what was said; paged (limit default 50, offset). */
  searchSessions(filter: SessionSearch): Promise<SessionSearchResult>;
  /** Statements whose SQL holds every word of `text` (the last word may be a prefix), newest first. */
  searchStatements(text: string, limit: number, offset: number): Promise<StatementSearchResult>;
  /** A session's size and timeline for the replayer; null when there is no such session. */
  openReplay(sessionId: string): Promise<ReplayInfo | null>;
  /** A session's statements from seq `fromSeq` on (at most `limit`, up to 2000). */
  statementsPage(sessionId: string, fromSeq: number, limit: number): Promise<StatementRecord[]>;
  /** One frame's wire bytes (the replayer's bytes view); null when there is no such frame. */
  readFrameBytes(sessionId: string, seq: number): Promise<FrameBytes | null>;

  /** The policies section as YAML, its JSON schema, who uses which policy, recent changes. */
  getPolicies(): Promise<PolicyDocument>;
  /** Problems of policies YAML (syntax, schema, policy rules), with lines and columns. */
  validatePolicies(yaml: string): Promise<PolicyProblem[]>;
  /** Decides `sql` with the policies in `yaml` (not saved), as `bastion check` does. */
  checkPolicy(yaml: string, sql: string, identity?: string | null): Promise<PolicyCheck>;
  /**
   * Runs one read-only SELECT on a connection's upstream with the (unsaved) policy's masking rules
   * and returns only the masked result, as a client would get it.
   */
  previewMasking(
    yaml: string,
    connection: string,
    sql: string,
    identity?: string | null,
  ): Promise<MaskPreview>;
  /**
   * Validates, records the change (who, when, diff) and applies it to the running listeners
   * (sessions that log in from now on); saved to the app config when the host keeps one.
   */
  savePolicies(yaml: string, by: string): Promise<PolicySaveResult>;
  listPolicyChanges(limit: number): Promise<PolicyChange[]>;

  /** An audit report over the store (proxy/report), as a file to save. */
  exportReport(request: ReportRequest): Promise<ReportFile>;

  /** Which store the reading calls use, and whether it answers. */
  storeSource(): Promise<StoreSourceView>;
  /**
   * Connects to a shared PostgreSQL store (read-only) and makes every reading call use it; an
   * `approver` also decides approvals held by any gateway through it. Rejects with a clear message
   * (bad URL, refused password, not a Bastion store, missing privileges), changing nothing.
   */
  openSharedStore(input: SharedStoreInput): Promise<StoreSourceView>;
  /** Back to the configured store; forgets the shared store's password. */
  closeSharedStore(): Promise<StoreSourceView>;

  /** Every connection's classified columns (or one connection's). */
  listClassifications(connection?: string | null): Promise<ClassificationView[]>;
  /**
   * Decides a classified column (`schema.table.column`, each part as stored): `exclude` removes
   * its auto rule (its values pass in clear unless a detector finds them), `accept` keeps it,
   * `{ strategy }` masks it that way, `auto` undoes a decision. Applies from the next statement
   * of every session on that connection.
   */
  decideClassification(
    connection: string,
    column: { schema: string; table: string; column: string },
    decision: ClassificationDecision,
    by: string,
  ): Promise<ClassificationView>;
  /** Samples and classifies a connection's upstream now; resolves when the run ended. */
  runClassification(connection: string): Promise<ClassificationView>;
}

/** A column automatic classification found to hold PII (proxy/masking/classify.ts). */
export interface ClassifiedColumn {
  connection: string;
  schema: string;
  table: string;
  column: string;
  /** The detector most of its sampled values matched (email, ssn, credit_card, phone, ...). */
  detector: string;
  /** Share of the sampled non-null values the detector matched, 0..1. */
  share: number;
  /** Non-null values sampled. */
  sampled: number;
  /** auto: as found; accepted / changed (strategy) / excluded: the operator's decision. */
  state: 'auto' | 'accepted' | 'excluded' | 'changed';
  /** The strategy the operator chose ('changed'), else null. */
  strategy: 'redact' | 'partial' | 'hash' | 'null' | null;
  classifiedAt: number;
  decidedBy: string | null;
  decidedAt: number | null;
}

/** A connection's classification: its columns and the state of its runs. */
export interface ClassificationView {
  connection: string;
  columns: ClassifiedColumn[];
  running: boolean;
  lastRun: number | null;
  error: string | null;
}

/** What the operator decides on a classified column: keep it masked, unmask it, or mask it otherwise. */
export type ClassificationDecision =
  | 'accept'
  | 'exclude'
  | 'auto'
  | { strategy: 'redact' | 'partial' | 'hash' | 'null' };

/** Event streams, by name. */
export interface BastionEvents {
  statement: LiveStatement;
  'session-opened': SessionInfo;
  'session-closed': SessionInfo;
  'approval-changed': Approval;
  'connection-changed': ConnectionView;
  /** The store the reading calls use was switched (openSharedStore, closeSharedStore). */
  'store-source-changed': StoreSourceView;
}

export type BastionEventName = keyof BastionEvents;

/** One event as the transports carry it: `{ event, data }`, discriminated by `event`. */
export type BastionEvent = {
  [K in BastionEventName]: { event: K; data: BastionEvents[K] };
}[BastionEventName];

/** What emits the event streams: the core's service, and the renderer's API client. */
export interface BastionEventSource {
  /** Calls `listener` with every event, in order; returns the function that stops it. */
  subscribe(listener: (e: BastionEvent) => void): () => void;
}

/** The names of the calls, for transports that map them mechanically (IPC channels, WS methods). */
export const API_METHODS = [
  'listConnections',
  'saveConnection',
  'removeConnection',
  'testConnection',
  'startListener',
  'stopListener',
  'listIdentities',
  'saveIdentity',
  'removeIdentity',
  'listSessions',
  'getSession',
  'listStatements',
  'readFrames',
  'recentStatements',
  'listApprovals',
  'decideApproval',
  'verifyStore',
  'searchSessions',
  'searchStatements',
  'openReplay',
  'statementsPage',
  'readFrameBytes',
  'getPolicies',
  'validatePolicies',
  'checkPolicy',
  'previewMasking',
  'savePolicies',
  'listPolicyChanges',
  'exportReport',
  'storeSource',
  'openSharedStore',
  'closeSharedStore',
  'listClassifications',
  'decideClassification',
  'runClassification',
] as const satisfies readonly (keyof BastionApi)[];

/**
 * What the Electron preload exposes to the renderer as `window.bastion` (through contextBridge):
 * the API as one call function (whose outcome carries a typed error as data: contextBridge would
 * drop an Error's own properties, such as its code), its event streams, and navigation requests
 * from the host (a notification clicked).
 */
export interface BastionBridge extends BastionEventSource {
  call(method: (typeof API_METHODS)[number], params: unknown[]): Promise<RpcOutcome>;
  /** `route` is a location hash such as "#/approvals/<id>". */
  onNavigate(listener: (route: string) => void): () => void;
}
