// CoreService: the one implementation of shared/api.ts over an AppCore. Both hosts (the headless
// UI host's WebSocket, Electron's IPC) expose exactly this object, plus its event streams
// (`subscribe`). Everything a UI sends is validated here; upstream passwords never leave it.

import fs from 'node:fs';
import os from 'node:os';
import type {
  Approval,
  ApprovalState,
  BastionApi,
  BastionEvent,
  BastionEventSource,
  ConnectionInput,
  ConnectionView,
  IdentityInput,
  IdentityView,
  LiveStatement,
  SessionFilter,
} from '../../shared/api.js';
import type { FrameView, SessionInfo, StatementRecord, VerifyResult } from '../../shared/types.js';
import {
  type ConnectionConfig,
  describeUpstream,
  type IdentityConfig,
  type UpstreamConfig,
} from '../config/types.js';
import type { AppCore } from '../core.js';
import { GatewayError } from '../errors.js';
import { connectUpstream } from '../session/upstream.js';
import { decodeFrame } from '../wire/decode.js';
import * as msg from '../wire/messages.js';
import type { ConfigPersistence } from './app-config.js';
import { EventHub } from './events.js';
import {
  type CheckedConnection,
  checkConnectionInput,
  checkIdentityInput,
  name as checkName,
  checkSessionFilter,
  InputError,
  int,
  str,
} from './validate.js';

/**
 * What the service needs of the approval queue (proxy/approvals): ApprovalQueue fits as is. The
 * core's own queue is used unless another is given; with `null`, listApprovals answers [] and
 * decideApproval says approvals are not available.
 */
export interface ApprovalsProvider {
  list(state?: ApprovalState): Approval[] | Promise<Approval[]>;
  decide(id: string, decision: 'approve' | 'deny', by: string): Approval | Promise<Approval>;
  on(event: 'changed', listener: (a: Approval) => void): unknown;
  off?(event: 'changed', listener: (a: Approval) => void): unknown;
}

export interface CoreServiceOptions {
  /** Where UI-made changes are saved (app config + secret vault); none = changes last until exit. */
  persistence?: ConfigPersistence | null;
  /** Default: the core's ApprovalQueue (statements its guardrails hold). */
  approvals?: ApprovalsProvider | null;
  /** Who decides an approval when the UI does not say (default: the OS user running the host). */
  operator?: string;
  /** How long testConnection waits for the upstream (default 8 s). */
  testTimeoutMs?: number;
  /** Live statements kept in memory for recentStatements (default 5000). */
  recentCapacity?: number;
}

const APPROVAL_STATES: readonly ApprovalState[] = ['pending', 'approved', 'denied', 'expired', 'cancelled'];

export class CoreService implements BastionApi, BastionEventSource {
  private readonly hub = new EventHub((e) => this.core.emit('store-failed', e as Error));
  private readonly sessionsById = new Map<string, { identity: string; connection: string }>();
  private readonly closedOrder: string[] = [];
  private readonly recent: LiveStatement[] = [];
  private readonly recentCapacity: number;
  private readonly changedConnections = new Set<string>();
  private changeTimer: NodeJS.Timeout | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly detach: (() => void)[] = [];
  private readonly approvals: ApprovalsProvider | null;
  readonly operator: string;

  constructor(
    readonly core: AppCore,
    private readonly opts: CoreServiceOptions = {},
  ) {
    this.recentCapacity = opts.recentCapacity ?? 5000;
    this.operator = opts.operator ?? safeUserName();
    const on = <A extends unknown[]>(event: string, fn: (...a: A) => void) => {
      const f = fn as (...a: unknown[]) => void;
      (core as unknown as NodeJS.EventEmitter).on(event, f);
      this.detach.push(() => (core as unknown as NodeJS.EventEmitter).off(event, f));
    };
    on('session-opened', (s: SessionInfo) => {
      this.sessionsById.set(s.id, { identity: s.identity, connection: s.connection });
      this.hub.emit({ event: 'session-opened', data: s });
      this.connectionChanged(s.connection);
    });
    on('session-closed', (s: SessionInfo) => {
      this.closedOrder.push(s.id);
      // Statements may still be reported just after the close: forget closed sessions lazily.
      while (this.closedOrder.length > 2000) this.sessionsById.delete(this.closedOrder.shift()!);
      this.hub.emit({ event: 'session-closed', data: s });
      this.connectionChanged(s.connection);
    });
    on('statement', (st: StatementRecord) => {
      const live = this.live(st);
      this.recent.push(live);
      if (this.recent.length > this.recentCapacity * 1.25)
        this.recent.splice(0, this.recent.length - this.recentCapacity);
      this.hub.emit({ event: 'statement', data: live });
    });
    on('listener-changed', (name: string) => this.connectionChanged(name, true));
    const approvals = opts.approvals === undefined ? core.approvals : opts.approvals;
    this.approvals = approvals;
    if (approvals) {
      const f = (a: Approval) => this.hub.emit({ event: 'approval-changed', data: a });
      approvals.on('changed', f);
      this.detach.push(() => approvals.off?.('changed', f));
    }
  }

  subscribe(listener: (e: BastionEvent) => void): () => void {
    return this.hub.subscribe(listener);
  }

  /** Stops listening to the core (the core itself is the host's to stop). */
  dispose(): void {
    for (const d of this.detach.splice(0)) d();
    if (this.changeTimer) clearTimeout(this.changeTimer);
    this.changeTimer = null;
  }

  // --- connections ----------------------------------------------------------------------------

  async listConnections(): Promise<ConnectionView[]> {
    return this.core.config.connections.map((c) => this.view(c));
  }

  async saveConnection(input: ConnectionInput): Promise<ConnectionView> {
    const c = checkConnectionInput(input);
    return this.serial(async () => {
      const existing = this.connection(c.name);
      const taken = this.core.config.connections.find(
        (x) =>
          x.name !== c.name &&
          c.listen.port !== 0 &&
          x.listen.port === c.listen.port &&
          x.listen.host === c.listen.host,
      );
      if (taken)
        throw new InputError(
          `${c.listen.host}:${c.listen.port} is already used by connection "${taken.name}"`,
        );
      const tls = c.tls === undefined ? (existing?.tls ?? null) : c.tls;
      if (c.tls) {
        for (const f of [c.tls.cert, c.tls.key])
          if (!fs.existsSync(f)) throw new InputError(`no such file: ${f}`);
      }
      const config: ConnectionConfig = {
        name: c.name,
        listen: c.listen,
        upstream: this.upstreamOf(c, existing),
        tls,
      };
      if (existing) await this.core.updateConnection(config);
      else await this.core.addConnection(config);
      this.persist();
      return this.view(config);
    });
  }

  async removeConnection(name: string): Promise<void> {
    const n = checkName(name, 'connection name');
    return this.serial(async () => {
      if (!this.connection(n)) throw new InputError(`no connection "${n}"`);
      await this.core.removeConnection(n);
      this.persist();
    });
  }

  async testConnection(input: ConnectionInput): Promise<{ ok: boolean; message: string }> {
    const c = checkConnectionInput(input);
    const u = this.upstreamOf(c, this.connection(c.name));
    try {
      const link = await connectUpstream(
        u,
        { application_name: 'bastion connection test' },
        {
          timeoutMs: this.opts.testTimeoutMs ?? 8000,
          maxMessageSize: this.core.config.limits.maxMessageSize,
        },
      );
      const version = link.parameters.find(([k]) => k === 'server_version')?.[1] ?? 'unknown version';
      const encrypted = 'encrypted' in link.socket && link.socket.encrypted === true;
      link.socket.end(msg.terminate());
      return {
        ok: true,
        message: `Connected to PostgreSQL ${version} as ${u.user} on ${u.host}:${u.port}/${u.database} (${encrypted ? 'TLS' : 'no TLS'}).`,
      };
    } catch (e) {
      return { ok: false, message: describeFailure(e) };
    }
  }

  async startListener(name: string): Promise<ConnectionView> {
    const n = checkName(name, 'connection name');
    return this.serial(async () => {
      const c = this.connection(n);
      if (!c) throw new InputError(`no connection "${n}"`);
      await this.core.startListener(n).catch(() => {}); // the view carries the error
      return this.view(c);
    });
  }

  async stopListener(name: string): Promise<ConnectionView> {
    const n = checkName(name, 'connection name');
    return this.serial(async () => {
      const c = this.connection(n);
      if (!c) throw new InputError(`no connection "${n}"`);
      await this.core.stopListener(n);
      return this.view(c);
    });
  }

  // --- identities -----------------------------------------------------------------------------

  async listIdentities(): Promise<IdentityView[]> {
    return this.core.config.identities.map(identityView);
  }

  async saveIdentity(input: IdentityInput): Promise<IdentityView> {
    const i = checkIdentityInput(input);
    return this.serial(async () => {
      const existing = this.core.config.identities.find((x) => x.name === i.name);
      for (const c of i.connections) if (!this.connection(c)) throw new InputError(`no connection "${c}"`);
      const policy = i.policy ?? existing?.policy ?? 'default';
      if (policy !== 'default' && !Object.hasOwn(this.core.config.policies, policy)) {
        throw new InputError(`no policy "${policy}"`);
      }
      let password = existing?.password ?? null;
      if (existing?.oidc) {
        if (i.password) throw new InputError(`"${i.name}" logs in with OIDC tokens: it has no password`);
      } else if (i.password !== undefined && i.password !== null) {
        if (i.password.length < 8) throw new InputError('the password must have at least 8 characters');
        password = i.password;
      } else if (password === null) {
        throw new InputError(`a new identity needs a password (clients log in as "${i.name}" with it)`);
      }
      const identity: IdentityConfig = {
        name: i.name,
        password: existing?.oidc ? null : password,
        oidc: existing?.oidc ?? null,
        connections: i.connections,
        policy,
      };
      this.core.setIdentity(identity);
      this.persist();
      return identityView(identity);
    });
  }

  async removeIdentity(name: string): Promise<void> {
    const n = checkName(name, 'identity name');
    return this.serial(async () => {
      if (!this.core.config.identities.some((x) => x.name === n)) throw new InputError(`no identity "${n}"`);
      this.core.removeIdentity(n);
      this.persist();
    });
  }

  // --- sessions, statements, frames -----------------------------------------------------------

  async listSessions(filter: SessionFilter): Promise<SessionInfo[]> {
    const f = checkSessionFilter(filter);
    const limit = f.limit ?? 200;
    if (!f.text) return this.core.store.listSessions({ ...f, limit });
    const text = f.text.toLowerCase();
    const out: SessionInfo[] = [];
    // Text matches are filtered here: read pages until enough match.
    for (let offset = f.offset ?? 0; out.length < limit; offset += 1000) {
      const page = this.core.store.listSessions({ ...f, limit: 1000, offset });
      for (const s of page) {
        const hay = [
          s.id,
          s.identity,
          s.connection,
          s.clientAddress,
          s.applicationName ?? '',
          s.database ?? '',
        ];
        if (hay.some((h) => h.toLowerCase().includes(text))) out.push(s);
      }
      if (page.length < 1000) break;
    }
    return out.slice(0, limit);
  }

  async getSession(id: string): Promise<SessionInfo | null> {
    return this.core.store.getSession(str(id, 'session id', 100)) ?? null;
  }

  async listStatements(sessionId: string): Promise<StatementRecord[]> {
    return this.core.store.listStatements(str(sessionId, 'session id', 100));
  }

  async readFrames(sessionId: string, fromSeq: number, limit: number): Promise<FrameView[]> {
    const id = str(sessionId, 'session id', 100);
    const frames = this.core.store.readFrames(
      id,
      int(fromSeq, 'fromSeq', 0, 2 ** 52),
      int(limit, 'limit', 1, 5000),
    );
    return frames.map((f) => {
      const d = decodeFrame(f.dir, f.type, f.body);
      return { seq: f.seq, t_us: f.tUs, dir: f.dir, type: d.type, decoded: d.decoded };
    });
  }

  async recentStatements(limit: number): Promise<LiveStatement[]> {
    const n = int(limit, 'limit', 1, 20_000);
    const byKey = new Map<string, LiveStatement>();
    try {
      // The store has what earlier runs recorded; the live buffer what may not be flushed yet.
      let collected = 0;
      for (const s of this.core.store.listSessions({ limit: 200 })) {
        if (collected >= n && s.endedAt !== null) continue;
        const rows = this.core.store.listStatements(s.id);
        for (const st of rows)
          byKey.set(`${st.sessionId}:${st.seq}`, { ...st, identity: s.identity, connection: s.connection });
        collected += rows.length;
      }
    } catch {
      // A failing store leaves the live buffer.
    }
    for (const st of this.recent) byKey.set(`${st.sessionId}:${st.seq}`, st);
    return [...byKey.values()].sort((a, b) => b.startedAt - a.startedAt || b.seq - a.seq).slice(0, n);
  }

  // --- approvals ------------------------------------------------------------------------------

  async listApprovals(state?: ApprovalState): Promise<Approval[]> {
    if (state !== undefined && state !== null && !APPROVAL_STATES.includes(state)) {
      throw new InputError(`state must be one of ${APPROVAL_STATES.join(', ')}`);
    }
    if (!this.approvals) return [];
    const live = await this.approvals.list(state ?? undefined);
    if (this.approvals !== this.core.approvals) return live;
    // History from before a restart lives only in the store; the queue is newer where both know an id.
    const seen = new Set(live.map((a) => a.id));
    const stored = this.core.store.approvals({ state: state ?? undefined, limit: 1000 }).filter((a) => !seen.has(a.id));
    return [...live, ...stored].sort((a, b) => b.requestedAt - a.requestedAt);
  }

  async decideApproval(id: string, decision: 'approve' | 'deny', by: string): Promise<Approval> {
    const approvalId = str(id, 'approval id', 100);
    if (decision !== 'approve' && decision !== 'deny')
      throw new InputError('decision must be approve or deny');
    const who = (by === undefined || by === null ? '' : str(by, 'decided by', 100)).trim() || this.operator;
    if (!this.approvals) throw new Error('approvals are not available in this gateway');
    return this.approvals.decide(approvalId, decision, who);
  }

  async verifyStore(): Promise<VerifyResult> {
    return this.core.store.verify();
  }

  // --- internals ------------------------------------------------------------------------------

  private connection(name: string): ConnectionConfig | undefined {
    return this.core.config.connections.find((c) => c.name === name);
  }

  private upstreamOf(c: CheckedConnection, existing: ConnectionConfig | undefined): UpstreamConfig {
    const password =
      c.password === undefined || c.password === null
        ? (existing?.upstream.password ?? null)
        : c.password || null;
    return {
      ...c.upstream,
      password,
      // Not editable in the UI (yet): keep what the config file said.
      sslrootcert: existing?.upstream.sslrootcert ?? null,
    };
  }

  private view(c: ConnectionConfig): ConnectionView {
    const l = this.core.listener(c.name);
    const host = c.listen.host.includes(':') ? `[${c.listen.host}]` : c.listen.host;
    const state = l?.state ?? 'stopped';
    return {
      name: c.name,
      listen: `${host}:${c.listen.port}`,
      upstream: describeUpstream(c.upstream),
      hasUpstreamPassword: c.upstream.password !== null,
      tls: c.tls ? 'configured' : 'self-signed',
      state,
      error: state === 'failed' ? (l?.lastError ?? 'failed') : null,
      activeSessions: l?.activeSessions ?? 0,
      address: state === 'listening' && l ? `${host}:${l.port}` : null,
    };
  }

  private live(st: StatementRecord): LiveStatement {
    let who = this.sessionsById.get(st.sessionId);
    if (!who) {
      const s = this.core.store.getSession(st.sessionId);
      who = { identity: s?.identity ?? '?', connection: s?.connection ?? '?' };
    }
    return { ...st, identity: who.identity, connection: who.connection };
  }

  /** Coalesces connection-changed events (session counts change at the rate clients connect). */
  private connectionChanged(name: string, now = false): void {
    this.changedConnections.add(name);
    if (now) {
      this.flushConnectionChanges();
      return;
    }
    this.changeTimer ??= setTimeout(() => this.flushConnectionChanges(), 200);
  }

  private flushConnectionChanges(): void {
    if (this.changeTimer) clearTimeout(this.changeTimer);
    this.changeTimer = null;
    const names = [...this.changedConnections];
    this.changedConnections.clear();
    for (const n of names) {
      const c = this.connection(n);
      if (c) this.hub.emit({ event: 'connection-changed', data: this.view(c) });
    }
  }

  private persist(): void {
    const p = this.opts.persistence;
    if (!p) return;
    try {
      p.save(this.core.config);
    } catch (e) {
      throw new Error(`the change is active but could not be saved to ${p.file}: ${(e as Error).message}`);
    }
  }

  /** Runs changes one at a time: two saves of the same connection must not interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }
}

function identityView(i: IdentityConfig): IdentityView {
  return {
    name: i.name,
    kind: i.oidc ? 'oidc' : 'password',
    connections: [...i.connections],
    policy: i.policy,
  };
}

function safeUserName(): string {
  try {
    return os.userInfo().username || 'operator';
  } catch {
    return 'operator';
  }
}

/** The operator's view of an upstream failure: more precise than what a client is told. */
function describeFailure(e: unknown): string {
  if (e instanceof GatewayError) {
    const code = /upstream error (\w+)/.exec(e.detail ?? '')?.[1];
    const known: Record<string, string> = {
      '28P01': 'the database refused the user name or password',
      '28000': 'the database does not allow this user from here (pg_hba.conf)',
      '3D000': 'the database does not exist',
      '53300': 'the database has too many connections',
      '57P03': 'the database is starting up or shutting down',
    };
    if (code && known[code]) return `Failed: ${known[code]} (SQLSTATE ${code}).`;
    return `Failed: ${e.message}${e.detail ? ` (${e.detail})` : ''}.`;
  }
  return `Failed: ${(e as Error).message ?? String(e)}`;
}
