// CoreService: the one implementation of shared/api.ts over an AppCore. Both hosts (the headless
// UI host's WebSocket, Electron's IPC) expose exactly this object, plus its event streams
// (`subscribe`). Everything a UI sends is validated here; upstream passwords never leave it.
// Reads of recordings go to the store's reader thread (AppCore.reads): the event loop that relays
// every session only sends the request and receives the answer.

import fs from 'node:fs';
import os from 'node:os';
import type {
  Approval,
  ApprovalState,
  BastionApi,
  BastionEvent,
  BastionEventSource,
  ClassificationDecision,
  ClassificationView,
  ConnectionInput,
  ConnectionView,
  FrameBytes,
  IdentityInput,
  IdentityView,
  LiveStatement,
  MaskPreview,
  PolicyChange,
  PolicyCheck,
  PolicyDocument,
  PolicyProblem,
  PolicySaveResult,
  ReplayInfo,
  ReportFile,
  ReportRequest,
  SessionFilter,
  SessionSearch,
  SessionSearchResult,
  SharedStoreInput,
  StatementSearchResult,
  StoreSourceView,
} from '../../shared/api.js';
import type { FrameView, SessionInfo, StatementRecord, VerifyResult } from '../../shared/types.js';
import { ApprovalError } from '../approvals/queue.js';
import {
  type ConnectionConfig,
  describeUpstream,
  type IdentityConfig,
  type UpstreamConfig,
} from '../config/types.js';
import { type AppCore, consoleLogger } from '../core.js';
import { GatewayError } from '../errors.js';
import {
  analyzeEach,
  decideStatement,
  initPolicyEngine,
  type Policy,
  PreparedRegistry,
  policyFor,
} from '../policy/index.js';
import type { ReportFilter } from '../report/index.js';
import type { Logger } from '../session/session.js';
import { connectUpstream } from '../session/upstream.js';
import { REPORT_TYPES } from '../store/read-ops.js';
import * as msg from '../wire/messages.js';
import type { ConfigPersistence } from './app-config.js';
import { checkColumn, checkDecision, classificationView } from './classification.js';
import { EventHub } from './events.js';
import { previewMasking } from './mask-preview.js';
import { changeSummary, keyPathLocator, policiesToYaml, readPolicies, unifiedDiff } from './policies.js';
import { policiesSchema } from './policy-schema.js';
import { ruleTargetWarnings } from './rule-targets.js';
import { checkSharedStoreInput, StoreSource } from './store-source.js';
import {
  type CheckedConnection,
  checkConnectionInput,
  checkIdentityInput,
  name as checkName,
  checkSessionFilter,
  checkSessionSearch,
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
  /** Where the shared store opened from the UI reports its outages (default: stderr). */
  log?: Logger;
}

const MAX_POLICY_TEXT = 1_000_000;

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
  /** Which store the reading calls use (a shared store the operator opened, or the configured one). */
  private readonly source: StoreSource;
  readonly operator: string;

  constructor(
    readonly core: AppCore,
    private readonly opts: CoreServiceOptions = {},
  ) {
    this.recentCapacity = opts.recentCapacity ?? 5000;
    this.operator = opts.operator ?? safeUserName();
    this.source = new StoreSource(
      core,
      this.operator,
      {
        statement: (st) => this.liveStatement(st),
        sessionOpened: (si) => this.hub.emit({ event: 'session-opened', data: si }),
        sessionClosed: (si) => this.hub.emit({ event: 'session-closed', data: si }),
      },
      opts.log ?? consoleLogger,
      (a) => this.hub.emit({ event: 'approval-changed', data: a }),
    );
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
    on('statement', (st: StatementRecord) => this.liveStatement(this.live(st)));
    // Team mode: the other gateways' traffic, as the shared store receives it.
    on('fleet-statement', (st: LiveStatement) => this.liveStatement(st));
    on('fleet-session-opened', (s: SessionInfo) => this.hub.emit({ event: 'session-opened', data: s }));
    on('fleet-session-closed', (s: SessionInfo) => this.hub.emit({ event: 'session-closed', data: s }));
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
    this.source.dispose();
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
      // Kept from the config when the form does not say (an edit must not change what is stored).
      const rcv = c.recordClientValues ?? (existing?.recordClientValues === 'clear' ? 'clear' : 'masked');
      if (rcv === 'clear') config.recordClientValues = 'clear';
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
    const reads = await this.core.reads();
    if (!f.text) return reads.listSessions({ ...f, limit });
    const text = f.text.toLowerCase();
    const out: SessionInfo[] = [];
    // Text matches are filtered here: read pages until enough match.
    for (let offset = f.offset ?? 0; out.length < limit; offset += 1000) {
      const page = await reads.listSessions({ ...f, limit: 1000, offset });
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
    return (await this.core.reads()).getSession(str(id, 'session id', 100));
  }

  async listStatements(sessionId: string): Promise<StatementRecord[]> {
    return (await this.core.reads()).listStatements(str(sessionId, 'session id', 100));
  }

  async readFrames(sessionId: string, fromSeq: number, limit: number): Promise<FrameView[]> {
    const id = str(sessionId, 'session id', 100);
    const from = int(fromSeq, 'fromSeq', 0, 2 ** 52);
    return (await this.core.reads()).frameViews(id, from, int(limit, 'limit', 1, 5000));
  }

  async recentStatements(limit: number): Promise<LiveStatement[]> {
    const n = int(limit, 'limit', 1, 20_000);
    const byKey = new Map<string, LiveStatement>();
    try {
      // The store has what earlier runs recorded; the live buffer what may not be flushed yet.
      for (const st of await (await this.core.reads()).recentStatements(n))
        byKey.set(`${st.sessionId}:${st.seq}`, st);
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
    const shared = this.source.current;
    if (!this.approvals && !shared) return [];
    const live = this.approvals ? await this.approvals.list(state ?? undefined) : [];
    if (this.approvals !== this.core.approvals && !shared) return live;
    // History from before a restart lives only in the store; the queue is newer where both know an id.
    const seen = new Set(live.map((a) => a.id));
    const stored = (
      await (await this.core.reads()).approvals({ state: state ?? undefined, limit: 1000 })
    ).filter((a) => !seen.has(a.id));
    return [...live, ...stored].sort((a, b) => b.requestedAt - a.requestedAt);
  }

  async decideApproval(id: string, decision: 'approve' | 'deny', by: string): Promise<Approval> {
    const approvalId = str(id, 'approval id', 100);
    if (decision !== 'approve' && decision !== 'deny')
      throw new InputError('decision must be approve or deny');
    const given = (by === undefined || by === null ? '' : str(by, 'decided by', 100)).trim();
    const who = given || this.operator;
    const shared = this.source.current;
    if (!this.approvals && !shared) throw new Error('approvals are not available in this gateway');
    try {
      if (!this.approvals) throw new ApprovalError('not-found', `no approval ${approvalId}`);
      return await this.approvals.decide(approvalId, decision, who);
    } catch (e) {
      // A statement held by another gateway of the fleet is decided through the shared store: the
      // one opened from the app (if its role allows), else the team-mode config's.
      const elsewhere =
        e instanceof ApprovalError &&
        e.code === 'not-found' &&
        (this.approvals === this.core.approvals || !this.approvals);
      if (elsewhere && shared) {
        const a = await this.source.decide(approvalId, decision, given || null);
        this.hub.emit({ event: 'approval-changed', data: a });
        return a;
      }
      if (elsewhere && this.core.team) return this.core.team.decide(approvalId, decision, who);
      throw e;
    }
  }

  async verifyStore(): Promise<VerifyResult> {
    const reads = await this.core.reads();
    // The local store is checked up to the head the writer reported (nothing cut off after it).
    return reads.verify(reads === this.core.localReads ? this.core.knownHead : null);
  }

  // --- search and replay ----------------------------------------------------------------------

  async searchSessions(filter: SessionSearch): Promise<SessionSearchResult> {
    const f = checkSessionSearch(filter);
    return (await this.core.reads()).searchSessions({ ...f, limit: f.limit ?? 50 });
  }

  async searchStatements(text: string, limit: number, offset: number): Promise<StatementSearchResult> {
    return (await this.core.reads()).searchStatements(
      str(text, 'text', 1000),
      int(limit, 'limit', 1, 500),
      offset === undefined || offset === null ? 0 : int(offset, 'offset', 0, 1_000_000),
    );
  }

  async openReplay(sessionId: string): Promise<ReplayInfo | null> {
    return (await this.core.reads()).openReplay(str(sessionId, 'session id', 100));
  }

  async statementsPage(sessionId: string, fromSeq: number, limit: number) {
    return (await this.core.reads()).statementsPage(
      str(sessionId, 'session id', 100),
      int(fromSeq, 'fromSeq', 0, 2 ** 52),
      int(limit, 'limit', 1, 2000),
    );
  }

  async readFrameBytes(sessionId: string, seq: number): Promise<FrameBytes | null> {
    const n = int(seq, 'seq', 0, 2 ** 52);
    return (await this.core.reads()).frameBytes(str(sessionId, 'session id', 100), n);
  }

  // --- policies -------------------------------------------------------------------------------

  async getPolicies(): Promise<PolicyDocument> {
    return {
      yaml: this.policiesText(),
      schema: policiesSchema(),
      identities: this.core.config.identities.map((i) => ({ name: i.name, policy: i.policy })),
      history: this.core.store.policyChanges(20),
    };
  }

  async validatePolicies(yaml: string): Promise<PolicyProblem[]> {
    const text = str(yaml, 'policies', MAX_POLICY_TEXT);
    const read = readPolicies(text, this.core.config.identities);
    return [...read.problems, ...(await this.ruleTargets(text, read.compiled))];
  }

  /** Warnings for column rules that name no column of the connections' databases (rule-targets.ts). */
  private ruleTargets(text: string, compiled: Map<string, Policy> | null): Promise<PolicyProblem[]> {
    if (!compiled) return Promise.resolve([]);
    return ruleTargetWarnings(compiled, this.core.ruleTargetSources(), keyPathLocator(text));
  }

  async checkPolicy(yaml: string, sql: string, identity?: string | null): Promise<PolicyCheck> {
    const text = str(yaml, 'policies', MAX_POLICY_TEXT);
    const statements = str(sql, 'sql', 1_000_000);
    const who =
      identity === undefined || identity === null || identity === '' ? '' : checkName(identity, 'identity');
    const policyName = this.core.config.identities.find((i) => i.name === who)?.policy ?? 'default';
    // Who uses which policy does not matter for a dry run: only the text's own problems.
    const read = readPolicies(text);
    if (!read.compiled) return { problems: read.problems, policy: policyName, statements: [] };
    await initPolicyEngine();
    const policy: Policy = policyFor(read.compiled, policyName);
    const prepared = new PreparedRegistry();
    return {
      problems: [],
      policy: policyName,
      statements: analyzeEach(statements).map((st) => {
        const d = decideStatement(st, policy, { identity: who, prepared });
        return {
          sql: st.sql,
          action: d.action,
          rule: d.rule,
          reason: d.reason,
          kind: d.kind,
          command: d.command,
        };
      }),
    };
  }

  async previewMasking(
    yaml: string,
    connection: string,
    sql: string,
    identity?: string | null,
  ): Promise<MaskPreview> {
    const text = str(yaml, 'policies', MAX_POLICY_TEXT);
    const query = str(sql, 'sql', 100_000);
    const name = checkName(connection, 'connection');
    const who =
      identity === undefined || identity === null || identity === '' ? '' : checkName(identity, 'identity');
    const policyName = this.core.config.identities.find((i) => i.name === who)?.policy ?? 'default';
    const empty = { policy: policyName, columns: [], rows: [], masked: {}, truncated: false };
    const read = readPolicies(text);
    if (!read.compiled) return { ...empty, problems: read.problems, error: 'the policies have errors' };
    const conn = this.core.config.connections.find((c) => c.name === name);
    if (!conn) throw new InputError(`no connection "${name}"`);
    await initPolicyEngine();
    const masking = this.core.maskingFor(policyFor(read.compiled, policyName));
    try {
      return { problems: [], policy: policyName, ...(await previewMasking(conn, masking, query)) };
    } catch (e) {
      const m =
        e instanceof GatewayError ? `${e.message}${e.detail ? ` (${e.detail})` : ''}` : (e as Error).message;
      return { ...empty, problems: [], error: m };
    }
  }

  async savePolicies(yaml: string, by: string): Promise<PolicySaveResult> {
    const text = str(yaml, 'policies', MAX_POLICY_TEXT);
    const who = (by === undefined || by === null ? '' : str(by, 'changed by', 100)).trim() || this.operator;
    return this.serial(async () => {
      const read = readPolicies(text, this.core.config.identities);
      if (!read.value || !read.compiled)
        return { ok: false, problems: read.problems, change: null, switchedSessions: 0 };
      const before = this.policiesText();
      const beforeValue = this.core.config.policies;
      if (before === text) return { ok: true, problems: [], change: null, switchedSessions: 0 };
      // Recorded first: a change that cannot be recorded is not made.
      this.core.writer.commit([
        {
          kind: 'policy_change',
          change: {
            at: Date.now() * 1000,
            by: who,
            summary: changeSummary(beforeValue, read.value),
            diff: unifiedDiff(before, text, ['policies (before)', 'policies (after)']),
            yaml: text,
          },
        },
      ]);
      // Every session that logs in from now on, on every listener, gets the new policies, and
      // every open one switches at its next statement.
      const switchedSessions = this.core.setPolicies(read.value);
      this.persist();
      return {
        ok: true,
        // Saved; what names no column is still said (the editor keeps the markers).
        problems: await this.ruleTargets(text, read.compiled),
        change: this.core.store.policyChanges(1)[0] ?? null,
        switchedSessions,
      };
    });
  }

  async listPolicyChanges(limit: number): Promise<PolicyChange[]> {
    return this.core.store.policyChanges(int(limit, 'limit', 1, 1000));
  }

  // --- reports --------------------------------------------------------------------------------

  async exportReport(request: ReportRequest): Promise<ReportFile> {
    if (request === null || typeof request !== 'object')
      throw new InputError('the report request must be an object');
    const format = request.format;
    if (!REPORT_TYPES[format]) throw new InputError('format must be one of pdf, html, csv, json');
    const filter: ReportFilter = {};
    const n = Number.MAX_SAFE_INTEGER;
    if (request.since !== undefined && request.since !== null)
      filter.since = int(request.since, 'since', 0, n);
    if (request.until !== undefined && request.until !== null)
      filter.until = int(request.until, 'until', 0, n);
    if (filter.since !== undefined && filter.until !== undefined && filter.since > filter.until)
      throw new InputError('since is after until');
    if (request.identity) filter.identity = str(request.identity, 'identity', 200);
    if (request.connection) filter.connection = str(request.connection, 'connection', 200);
    await this.core.writer.flushAsync(); // what was recorded up to now
    const reads = await this.core.reads();
    return reads.exportReport(format, filter, this.source.current?.described ?? this.core.config.store);
  }

  // --- which store is read --------------------------------------------------------------------

  async storeSource(): Promise<StoreSourceView> {
    return this.source.view();
  }

  async openSharedStore(input: SharedStoreInput): Promise<StoreSourceView> {
    const checked = checkSharedStoreInput(input);
    return this.serial(async () => {
      await this.source.open(checked);
      return this.sourceChanged();
    });
  }

  async closeSharedStore(): Promise<StoreSourceView> {
    return this.serial(async () => {
      await this.source.close();
      return this.sourceChanged();
    });
  }

  // --- automatic PII classification (proxy/classification.ts) ---------------------------------

  async listClassifications(connection?: string | null): Promise<ClassificationView[]> {
    const names =
      connection === undefined || connection === null
        ? this.core.config.connections.map((c) => c.name)
        : [this.knownConnection(connection)];
    return names.map((n) => classificationView(this.core.classifier, n));
  }

  async decideClassification(
    connection: string,
    column: { schema: string; table: string; column: string },
    decision: ClassificationDecision,
    by: string,
  ): Promise<ClassificationView> {
    const n = this.knownConnection(connection);
    const c = checkColumn(column);
    const d = checkDecision(decision);
    const who = (by === undefined || by === null ? '' : str(by, 'decided by', 100)).trim() || this.operator;
    if (!this.core.classifier.decide(n, c, d, who))
      throw new InputError(`no classified column ${c.schema}.${c.table}.${c.column} on "${n}"`);
    return classificationView(this.core.classifier, n);
  }

  async runClassification(connection: string): Promise<ClassificationView> {
    const n = this.knownConnection(connection);
    // A failed run is reported in the view (error), not as a failed call.
    await this.core.classifier.run(n).catch(() => {});
    return classificationView(this.core.classifier, n);
  }

  private knownConnection(raw: unknown): string {
    const n = checkName(raw, 'connection');
    if (!this.connection(n)) throw new InputError(`no connection "${n}"`);
    return n;
  }

  private async sourceChanged(): Promise<StoreSourceView> {
    const view = await this.source.view();
    this.hub.emit({ event: 'store-source-changed', data: view });
    return view;
  }

  // --- internals ------------------------------------------------------------------------------

  /**
   * The policies section as text: as last saved through the editor (comments kept) while the
   * config still holds what it says, else rendered from the config.
   */
  private policiesText(): string {
    const last = this.core.store.policyChanges(1)[0];
    if (last) {
      const text = this.core.store.getPolicyChange(last.id)?.yaml;
      if (text !== undefined) {
        const read = readPolicies(text);
        if (read.value && JSON.stringify(read.value) === JSON.stringify(this.core.config.policies))
          return text;
      }
    }
    return policiesToYaml(this.core.config.policies);
  }

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
      recordClientValues: c.recordClientValues === 'clear' ? 'clear' : 'masked',
      state,
      error: state === 'failed' ? (l?.lastError ?? 'failed') : null,
      activeSessions: l?.activeSessions ?? 0,
      address: state === 'listening' && l ? `${host}:${l.port}` : null,
      upstreamSuperuser: this.core.upstreamSuperuser(c.name),
      unboundMaskingColumns: this.core.unboundMaskingColumns(c.name),
    };
  }

  private liveStatement(live: LiveStatement): void {
    this.recent.push(live);
    if (this.recent.length > this.recentCapacity * 1.25)
      this.recent.splice(0, this.recent.length - this.recentCapacity);
    this.hub.emit({ event: 'statement', data: live });
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
    const code = e.upstreamCode;
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
