// The one contract between the core and every host/UI: calls and event streams. The core
// implements `BastionApi`; Electron carries it over IPC (ipcMain.handle / webContents.send), the
// headless host over one WebSocket. The renderer sees only this interface, never the transport.
// Types, plus the list of method names (the only runtime value), so it is safe to import anywhere.

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
  state: ListenerState;
  error: string | null;
  activeSessions: number;
  /** host:port the listener accepts connections on now (the bound port when `listen` says :0); null when not listening. */
  address: string | null;
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
}

/** Event streams, by name. */
export interface BastionEvents {
  statement: LiveStatement;
  'session-opened': SessionInfo;
  'session-closed': SessionInfo;
  'approval-changed': Approval;
  'connection-changed': ConnectionView;
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
] as const satisfies readonly (keyof BastionApi)[];

/**
 * What the Electron preload exposes to the renderer as `window.bastion` (through contextBridge):
 * the API, its event streams, and navigation requests from the host (a notification clicked).
 */
export interface BastionBridge extends BastionEventSource {
  api: BastionApi;
  /** `route` is a location hash such as "#/approvals/<id>". */
  onNavigate(listener: (route: string) => void): () => void;
}
