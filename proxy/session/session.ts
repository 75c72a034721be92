// One client connection end to end: startup (TLS, protocol negotiation), authentication as an
// identity, the upstream login with the gateway's credentials, then the relay of frames in both
// directions with recording, statement tracking and backpressure.
// https://www.postgresql.org/docs/current/protocol-flow.html

import { randomUUID } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import type { Approval } from '../../shared/api.js';
import type { SessionInfo, StatementRecord } from '../../shared/types.js';
import type { ApprovalQueue } from '../approvals/queue.js';
import { MAX_TOKEN_LENGTH, type OidcVerifier, TokenError, type VerifiedToken } from '../auth/oidc.js';
import type { ConnectionConfig, IdentityConfig, LimitsConfig } from '../config/types.js';
import { GatewayError, SqlState } from '../errors.js';
import {
  type CompiledMasking,
  type Counts,
  type MaskCatalog,
  MaskError,
  MaskingStream,
} from '../masking/index.js';
import { isGuardableEncoding, unguardableEncodingReason } from '../policy/encoding.js';
import { type GuardDecision, type Policy, policyFor, SessionGuard } from '../policy/index.js';
import { FrameRecorder } from '../store/recorder.js';
import type { RecordWriter } from '../store/writer.js';
import type { ServerTls } from '../tls/server-tls.js';
import { Backend, Frontend, LATEST_MINOR, MAX_STARTUP_PACKET } from '../wire/codes.js';
import {
  FieldError,
  functionOid,
  noticeSeverity,
  parameterStatus,
  parseMessage,
  passwordText,
  querySql,
} from '../wire/fields.js';
import { BadLengthError, MessageFramer, MessageTooLargeError } from '../wire/framer.js';
import * as msg from '../wire/messages.js';
import { noteRelayed } from '../wire/read-garbage.js';
import { SegmentList } from '../wire/segments.js';
import { SocketClosedError, SocketReader } from '../wire/socket-reader.js';
import { parseStartupPacket, StartupParseError } from '../wire/startup.js';
import {
  type AccessGrant,
  checkWindow,
  type IdentityRegistry,
  outsideWindow,
  resolveGrant,
  upstreamFor,
} from './access.js';
import type { CancelRegistry } from './cancel.js';
import { redactedClient, scramAuthenticate, type VerifierCache } from './client-auth.js';
import {
  MustWaitForServer,
  type Op,
  ProtocolState,
  ProtocolStateError,
  type Reply,
} from './protocol-state.js';
import { assumeUpstreamRole, RoleLockedGuard } from './role-lock.js';
import { StatementTracker, type Verdict } from './statements.js';
import { connectUpstream, type UpstreamLink } from './upstream.js';

export interface Logger {
  info(m: string): void;
  warn(m: string): void;
  error(m: string): void;
}

/** What a session reports to the core (live inspector, metrics). */
export interface SessionEvents {
  opened?(s: SessionInfo): void;
  statement?(s: StatementRecord): void;
  closed?(s: SessionInfo): void;
}

export interface SessionContext {
  connection: ConnectionConfig;
  identities: ReadonlyMap<string, IdentityConfig>;
  verifiers: VerifierCache;
  tls: ServerTls | null;
  writer: RecordWriter;
  cancels: CancelRegistry;
  limits: LimitsConfig;
  log: Logger;
  events: SessionEvents;
  policies: ReadonlyMap<string, Policy>;
  approvals: ApprovalQueue;
  /** The compiled masking rules of a policy. */
  masking: (policy: Policy) => CompiledMasking;
  /** The masking catalog of a connection's upstream. */
  catalog: (connection: string) => MaskCatalog;
  /** Checks OIDC tokens (shared: one JWKS cache per issuer). */
  oidc: OidcVerifier;
  /** Active sessions per verified identity, across listeners; identity change notices. */
  access: IdentityRegistry;
}

const Step = {
  Startup: 'startup',
  Auth: 'auth',
  Connecting: 'connecting',
  Ready: 'ready',
  Closed: 'closed',
} as const;
type Step = (typeof Step)[keyof typeof Step];

/** Startup parameters passed on to the upstream. Others (notably `options`, which can set any GUC such as `role`) are dropped. */
const FORWARDED_PARAMS = new Set([
  'application_name',
  'client_encoding',
  'datestyle',
  'timezone',
  'extra_float_digits',
  'intervalstyle',
  'search_path',
  'lc_monetary',
  'lc_numeric',
  'lc_time',
  'bytea_output',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'default_transaction_read_only',
  'default_transaction_isolation',
]);

/** A message that can never execute: the upstream answers it with a syntax error, which is replaced. */
const NEVER_RUNS = 'BASTION REFUSED )';

function blockedError(d: GuardDecision): msg.ErrorFields {
  return {
    code: SqlState.InsufficientPrivilege,
    message: `Bastion blocked this statement (rule "${d.rule ?? 'policy'}"): ${d.reason}`,
    hint: 'the gateway guardrails refuse it; ask an operator if it is needed',
  };
}

function approvalError(a: Approval): msg.ErrorFields {
  if (a.state === 'cancelled')
    return { code: SqlState.QueryCanceled, message: 'canceling statement due to user request' };
  const why =
    a.state === 'denied'
      ? `was denied by ${a.decidedBy ?? 'an operator'}`
      : a.state === 'expired'
        ? 'timed out without a decision'
        : 'was cancelled';
  return {
    code: SqlState.InsufficientPrivilege,
    message: `Bastion: approval ${a.id} ${why}; the statement did not run`,
  };
}

/** ErrorResponse whose severity field (sent first by PostgreSQL) is FATAL or PANIC. */
function isFatal(buf: Buffer, start: number, end: number): boolean {
  const sev = noticeSeverity(buf, start, end);
  return sev === 'FATAL' || sev === 'PANIC';
}

export class ClientSession {
  readonly id = randomUUID();
  private step: Step = Step.Startup;
  private client: net.Socket;
  private upstream: net.Socket | null = null;
  private readonly recorder: FrameRecorder;
  private tracker: StatementTracker | null = null;
  /** The one model of the extended-query protocol: tracker, masking and guardrails read it. */
  private readonly protocol = new ProtocolState();
  /**
   * A client message whose meaning depends on an answer the server has not sent yet (see
   * MustWaitForServer): reading from the client stops until the answer is in.
   */
  private deferred: { type: number; message: Buffer; seq: number } | null = null;
  private info: SessionInfo;
  private cancelPid = 0;
  private endReason: string | null = null;
  private guard: SessionGuard | null = null;
  /** What the verified identity may do (set by authenticate). */
  private grant: AccessGrant | null = null;
  /** The statement waiting for approval, if any: client messages after it wait too. */
  private held: { approvalId: string } | null = null;
  /** The session's latest statements, shown to approvers. */
  private readonly recent: Approval['recent'] = [];
  /** The upstream already told the client why it is closing (e.g. 57P01 on a server restart). */
  private upstreamSentFatal = false;
  /** Rewrites sensitive values in what the server sends; null when the policy masks nothing. */
  private masker: MaskingStream | null = null;
  private catalog: MaskCatalog | null = null;
  private waitingCatalog = false;
  /** Values masked since the last look, by rule (added to the current statement). */
  private readonly maskCounts: Counts = new Map();
  private readonly clientFramer: MessageFramer;
  private readonly serverFramer: MessageFramer;
  private readonly toUpstream = new SegmentList();
  private readonly toClient = new SegmentList();
  /**
   * Writer position (entries enqueued) that must be durable before the bytes in `toClient` may
   * reach the client: set when they hold a CommandComplete, so a gateway killed at any moment
   * has recorded whatever a client saw finish.
   */
  private ackMark = 0;
  private sawAck = false;
  /** Waiting for the writer to reach `ackMark`; the upstream is paused meanwhile. */
  private holdingAcks = false;
  /** What to do once the held bytes are sent (the upstream closed meanwhile). */
  private afterHold: (() => void) | null = null;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    socket: net.Socket,
    private readonly ctx: SessionContext,
  ) {
    this.client = socket;
    socket.setNoDelay(true);
    // A reset can come at any time; without a listener it would crash the gateway.
    socket.on('error', (e) => this.ctx.log.warn(`session ${this.id}: client socket: ${e.message}`));
    this.recorder = new FrameRecorder(ctx.writer, this.id);
    this.clientFramer = new MessageFramer(ctx.limits.maxMessageSize);
    this.serverFramer = new MessageFramer(ctx.limits.maxMessageSize);
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
    this.info = {
      id: this.id,
      identity: '',
      authMethod: 'scram-sha-256',
      connection: ctx.connection.name,
      clientAddress: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`,
      applicationName: null,
      database: null,
      tls: false,
      protocol: '3.0',
      startedAt: this.recorder.startedAt,
      endedAt: null,
      endReason: null,
      statements: 0,
    };
  }

  get state(): Step {
    return this.step;
  }

  /** Resolves when the session has ended and its close is queued for the store. */
  get finished(): Promise<void> {
    return this.done;
  }

  // ---- startup and authentication ----------------------------------------------------------

  async run(): Promise<void> {
    const deadline = Date.now() + this.ctx.limits.startupTimeoutMs;
    let reader = new SocketReader(this.client);
    try {
      let minor = 0;
      let params: Record<string, string>;
      for (;;) {
        const body = await reader.readStartupPacket(MAX_STARTUP_PACKET, deadline);
        this.recordStartup(body);
        const packet = parseStartupPacket(body);
        if (packet.kind === 'cancel') {
          reader.detach();
          this.step = Step.Closed;
          await this.ctx.cancels.cancel(packet.pid, packet.key).catch((e) => {
            this.ctx.log.warn(`cancel forwarding failed: ${(e as Error).message}`);
          });
          this.client.destroy();
          this.resolveDone();
          return;
        }
        if (packet.kind === 'gssenc') {
          this.client.write('N');
          continue;
        }
        if (packet.kind === 'ssl') {
          if (this.info.tls || this.ctx.tls === null) {
            this.client.write('N');
            continue;
          }
          // Bytes sent after SSLRequest, before the handshake, would be unencrypted data
          // smuggled into the TLS session (CVE-2021-23214): refuse.
          if (reader.detach().length > 0) {
            throw new GatewayError(SqlState.ProtocolViolation, 'received unencrypted data after SSL request');
          }
          this.client.write('S');
          this.client = await this.startTls(this.client, deadline);
          this.info.tls = true;
          reader = new SocketReader(this.client);
          continue;
        }
        minor = packet.minor;
        params = packet.params;
        if (packet.minor > LATEST_MINOR || packet.protocolOptions.length > 0) {
          minor = Math.min(packet.minor, LATEST_MINOR);
          this.send(msg.negotiateProtocolVersion(minor, packet.protocolOptions));
        }
        break;
      }
      this.info.protocol = `3.${minor}`;
      this.info.database = params.database ?? null;
      this.info.applicationName = params.application_name ?? null;
      checkClientEncoding(params);
      await this.authenticate(reader, params, deadline);
      this.step = Step.Connecting;
      const grant = this.grant!;
      const link = await connectUpstream(
        upstreamFor(this.ctx.connection.upstream, grant.entry),
        this.forwardedParams(params),
        {
          timeoutMs: Math.max(1000, deadline - Date.now()),
          maxMessageSize: this.ctx.limits.maxMessageSize,
        },
      );
      if (grant.upstreamRole !== null) {
        await assumeUpstreamRole(
          link,
          grant.upstreamRole,
          Math.max(Date.now() + 1000, deadline),
          this.ctx.limits.maxMessageSize,
          (m) => this.ctx.log.warn(`session ${this.id}: identity "${grant.identity}": ${m}`),
        );
      }
      const encoding = link.parameters.find(([k]) => k === 'client_encoding')?.[1];
      if (encoding !== undefined && !isGuardableEncoding(encoding)) {
        link.socket.destroy();
        throw new GatewayError(SqlState.FeatureNotSupported, unguardableEncodingReason(encoding));
      }
      await this.startMasking(link.socket);
      const leftover = reader.detach();
      this.beginRelay(link, minor, leftover);
      this.watchAccessWindow();
    } catch (e) {
      reader.detach();
      this.failStartup(e);
    }
  }

  private startTls(socket: net.Socket, deadline: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const t = new tls.TLSSocket(socket, { isServer: true, secureContext: this.ctx.tls!.context });
      const timer = setTimeout(
        () => reject(new GatewayError(SqlState.ProtocolViolation, 'TLS handshake timed out')),
        Math.max(1, deadline - Date.now()),
      );
      t.once('secure', () => {
        clearTimeout(timer);
        t.on('error', (e) => this.ctx.log.warn(`session ${this.id}: client TLS socket: ${e.message}`));
        resolve(t);
      });
      t.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  private forwardedParams(params: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) {
      if (FORWARDED_PARAMS.has(k.toLowerCase())) out[k] = v;
    }
    return out;
  }

  private async authenticate(
    reader: SocketReader,
    params: Record<string, string>,
    deadline: number,
  ): Promise<void> {
    this.step = Step.Auth;
    if (params.replication !== undefined && params.replication !== 'false' && params.replication !== 'off') {
      throw new GatewayError(
        SqlState.FeatureNotSupported,
        'replication connections are not supported by the gateway',
      );
    }
    const user = params.user;
    if (!user)
      throw new GatewayError(
        SqlState.InvalidAuthorization,
        'no PostgreSQL user name specified in startup packet',
      );
    this.info.identity = user;
    const identity = this.ctx.identities.get(user);
    let token: VerifiedToken | null = null;
    if (identity?.oidc) {
      this.info.authMethod = 'oidc';
      token = await this.tokenAuthenticate(reader, user, identity, deadline);
    } else {
      await this.scram(reader, user, identity, deadline);
    }
    // Checked only after the password or token, so that none of it can be probed without them.
    const grant = resolveGrant(identity!, token);
    this.info.identity = grant.identity;
    if (!grant.connections.includes(this.ctx.connection.name)) {
      throw new GatewayError(
        SqlState.InvalidAuthorization,
        `identity "${grant.identity}" is not allowed to use connection "${this.ctx.connection.name}"`,
      );
    }
    checkWindow(identity!, grant.identity);
    const release = this.ctx.access.acquire(grant);
    this.done.then(release);
    this.grant = grant;
    const policy = policyFor(this.ctx.policies, grant.policy);
    this.guard =
      grant.upstreamRole === null
        ? new SessionGuard(policy, grant.identity)
        : new RoleLockedGuard(policy, grant.identity, grant.upstreamRole);
    this.guard.attach(this.protocol);
    this.recorder.open({ ...this.info });
    this.ctx.events.opened?.({ ...this.info });
  }

  private async scram(
    reader: SocketReader,
    user: string,
    identity: IdentityConfig | undefined,
    deadline: number,
  ): Promise<void> {
    await scramAuthenticate(
      {
        reader,
        send: (b) => this.send(b),
        sendUnrecorded: (b) => this.client.write(b),
        recordRedacted: (dir, b) => {
          this.recorder.begin(dir);
          this.recorder.frameBytes(b);
          this.recorder.end();
        },
        deadline,
        maxMessageSize: this.ctx.limits.maxMessageSize,
      },
      user,
      identity,
      this.ctx.verifiers,
      this.info.tls ? this.ctx.tls!.certDer : null,
    );
  }

  /**
   * An `oidc` identity: the password is a JWT from the identity provider. Only over TLS (the token
   * is a bearer secret), asked for with AuthenticationCleartextPassword; recorded redacted.
   */
  private async tokenAuthenticate(
    reader: SocketReader,
    user: string,
    identity: IdentityConfig,
    deadline: number,
  ): Promise<VerifiedToken> {
    if (!this.info.tls) {
      throw new GatewayError(
        SqlState.InvalidAuthorization,
        `identity "${user}" logs in with an OIDC token, which is accepted only over TLS`,
        undefined,
        'connect with sslmode=require (or stricter)',
      );
    }
    this.send(msg.authenticationCleartext());
    const m = await reader.readMessage(
      Math.min(MAX_TOKEN_LENGTH + 5, this.ctx.limits.maxMessageSize),
      deadline,
    );
    this.recorder.begin('client');
    this.recorder.frameBytes(redactedClient('PasswordMessage (OIDC token)'));
    this.recorder.end();
    if (m.type !== Frontend.Password) {
      throw new GatewayError(SqlState.ProtocolViolation, 'expected a password message');
    }
    let token: string;
    try {
      token = passwordText(m.body).trim();
    } catch (e) {
      if (e instanceof FieldError) throw new GatewayError(SqlState.ProtocolViolation, e.message);
      throw e;
    }
    try {
      return await this.ctx.oidc.verify(token, identity.oidc!);
    } catch (e) {
      const why = e instanceof TokenError ? e : new TokenError((e as Error).message, true);
      this.ctx.log.warn(`session ${this.id}: OIDC login as "${user}" refused: ${why.reason}`);
      if (why.unavailable) {
        throw new GatewayError(
          SqlState.InvalidAuthorization,
          `token authentication failed for user "${user}": the token could not be checked now`,
          'the identity provider could not be reached; see the gateway log',
        );
      }
      throw new GatewayError(
        SqlState.InvalidPassword,
        `token authentication failed for user "${user}": ${why.reason}`,
      );
    }
  }

  /**
   * Ends the session when the identity's access window closes: at `valid_until`, or at once when
   * the identity is changed (e.g. by an operator) so that it is no longer inside its window.
   */
  private watchAccessWindow(): void {
    const grant = this.grant!;
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      clearTimeout(timer);
      if (this.step === Step.Closed) return;
      // An identity removed from the config keeps its open sessions, under the settings they began with.
      const entry = this.ctx.identities.get(grant.entry.name) ?? grant.entry;
      const why = outsideWindow(entry, grant.identity, Date.now());
      if (why !== null) {
        this.endAccess(why);
        return;
      }
      if (entry.validUntil === undefined) return;
      timer = setTimeout(check, Math.min(entry.validUntil - Date.now(), 0x7fffffff));
      timer.unref();
    };
    const unwatch = this.ctx.access.watch(grant.entry.name, check);
    this.done.then(() => {
      clearTimeout(timer);
      unwatch();
    });
    check();
  }

  private endAccess(why: string): void {
    if (this.step === Step.Closed) return;
    const reason = `access window closed: ${why}`;
    this.endReason ??= reason;
    this.fatal(
      new GatewayError(
        SqlState.AdminShutdown,
        `terminating connection: ${why}`,
        undefined,
        'log in again once access is granted',
      ),
    );
    this.upstream?.end(msg.terminate());
    this.close(reason);
  }

  /** Records a startup-phase packet as a type-0 frame (see FrameChunk). */
  private recordStartup(body: Buffer): void {
    const b = Buffer.allocUnsafe(5 + body.length);
    b[0] = 0;
    b.writeInt32BE(4 + body.length, 1);
    body.copy(b, 5);
    this.recorder.begin('client');
    this.recorder.frameBytes(b);
    this.recorder.end();
  }

  /** Sends a message the gateway made (outside the relay of upstream frames), and records it. */
  private send(b: Buffer): void {
    this.recorder.begin('server');
    this.recorder.frameBytes(b);
    this.recorder.end();
    this.client.write(b);
  }

  private failStartup(e: unknown): void {
    if (e instanceof SocketClosedError || this.step === Step.Closed) {
      this.close('client disconnected during startup');
      return;
    }
    let err: GatewayError;
    if (e instanceof GatewayError) err = e;
    else if (e instanceof StartupParseError) err = new GatewayError(SqlState.ProtocolViolation, e.message);
    else {
      this.ctx.log.error(`session ${this.id}: startup failed: ${(e as Error).stack ?? e}`);
      err = new GatewayError(SqlState.InternalError, 'internal error in the gateway');
    }
    if (err.code === SqlState.UnableToConnect) {
      this.ctx.log.warn(
        `session ${this.id}: upstream of "${this.ctx.connection.name}": ${err.detail ?? err.message}`,
      );
    }
    this.fatal(err);
    this.close(`refused: ${err.code} ${err.message}`);
  }

  private fatal(err: GatewayError): void {
    if (this.client.destroyed || !this.client.writable) return;
    const b = msg.errorResponse({
      severity: 'FATAL',
      code: err.code,
      message: err.message,
      detail: err.detail,
      hint: err.hint,
    });
    this.recorder.begin('server');
    this.recorder.frameBytes(b);
    this.recorder.end();
    this.client.end(b);
  }

  // ---- relay ---------------------------------------------------------------------------------

  private beginRelay(link: UpstreamLink, minor: number, clientLeftover: Buffer): void {
    this.upstream = link.socket;
    // A cancel while a statement is held ends the hold instead of reaching the (idle) upstream.
    const onCancel = () => {
      if (this.held === null) return false;
      this.ctx.approvals.cancel(this.held.approvalId);
      return true;
    };
    const issued = this.ctx.cancels.issue(
      this.ctx.connection.upstream,
      link.pid,
      link.key,
      minor >= 2 ? 32 : 4,
      onCancel,
    );
    this.cancelPid = issued.pid;
    this.tracker = new StatementTracker(this.id, this.ctx.limits.captureLimit, this.recorder, (s) =>
      this.onStatement(s),
    );
    const hello = [msg.authenticationOk()];
    for (const [k, v] of link.parameters) hello.push(msg.parameterStatus(k, v));
    hello.push(msg.backendKeyData(issued.pid, issued.key));
    hello.push(msg.readyForQuery(link.status));
    this.recorder.begin('server');
    for (const b of hello) {
      // The cancel key is a live secret of this session: the store gets it zeroed.
      this.recorder.frameBytes(
        b[0] === Backend.BackendKeyData ? msg.backendKeyData(issued.pid, Buffer.alloc(issued.key.length)) : b,
      );
    }
    this.recorder.end();
    this.client.write(Buffer.concat(hello));
    this.step = Step.Ready;

    const client = this.client;
    const upstream = link.socket;
    client.on('data', (d: Buffer) => this.onClientData(d));
    upstream.on('data', (d: Buffer) => this.onServerData(d));
    client.on('close', () => this.close(this.endReason ?? 'client disconnected'));
    upstream.on('close', () => this.onUpstreamClosed());
    upstream.on('error', (e) => this.ctx.log.warn(`session ${this.id}: upstream socket: ${e.message}`));
    client.on('drain', () => {
      if (!this.holdingAcks) upstream.resume();
    });
    upstream.on('drain', () => {
      if (this.held === null) client.resume();
    });
    if (link.leftover.length > 0) this.onServerData(link.leftover);
    if (clientLeftover.length > 0) this.onClientData(clientLeftover);
  }

  private onClientData(chunk: Buffer): void {
    if (this.step !== Step.Ready) return;
    this.clientFramer.push(chunk);
    this.pumpClient();
  }

  /** Relays complete client messages, deciding statements on the way; stops at a held one. */
  private pumpClient(): void {
    if (this.held !== null || this.waitingCatalog || this.step !== Step.Ready) return;
    if (this.masker !== null && this.refreshCatalog()) return;
    const framer = this.clientFramer;
    const rec = this.recorder;
    rec.begin('client');
    try {
      const d = this.deferred;
      if (d !== null) {
        this.deferred = null;
        if (!this.clientMessage(d.type, d.message, 0, d.message.length, d.seq)) {
          rec.end();
          return;
        }
        this.client.resume();
      }
      while (framer.next()) {
        const { type, buf, start, end } = framer;
        const seq = rec.frame(buf, start, end);
        if (!this.clientMessage(type, buf, start, end, seq)) break;
        if (type === Frontend.Terminate) {
          this.endReason = 'client terminated';
          break;
        }
      }
    } catch (e) {
      rec.end();
      this.protocolViolation(e);
      return;
    }
    rec.end();
    if (!this.toUpstream.writeTo(this.upstream!)) this.client.pause();
    if (this.endReason === 'client terminated') this.upstream!.end();
  }

  /**
   * One client message (recorded as frame `seq`): decided, then forwarded, refused or held.
   * Returns false when reading must stop: the message is held for approval, or deferred until
   * the server has answered what it depends on.
   */
  private clientMessage(type: number, buf: Buffer, start: number, end: number, seq: number): boolean {
    try {
      let verdict: Verdict | undefined;
      let d: GuardDecision | undefined;
      if (type === Frontend.Query || type === Frontend.Parse || type === Frontend.FunctionCall) {
        if (!this.recorder.healthy) {
          this.refuse(
            type,
            buf,
            start,
            end,
            seq,
            { decision: 'block', rule: null, approvalId: null },
            {
              code: SqlState.IoError,
              message: 'the gateway cannot record this session right now, so it refuses new statements',
              hint: 'retry when the gateway has recovered; see its log',
            },
          );
          return true;
        }
        d = this.decide(type, buf, start, end);
        if (d.action === 'block') {
          this.refuse(
            type,
            buf,
            start,
            end,
            seq,
            { decision: 'block', rule: d.rule, approvalId: null },
            blockedError(d),
          );
          return true;
        }
        if (d.action === 'review') {
          this.recorder.end();
          this.hold(type, Buffer.from(buf.subarray(start, end)), seq, d);
          this.recorder.begin('client');
          return false;
        }
        verdict = { decision: d.action, rule: d.rule, approvalId: null };
      }
      this.forward(type, buf, start, end, seq, verdict, d);
      return true;
    } catch (e) {
      if (!(e instanceof MustWaitForServer)) throw e;
      // Nothing of it was sent or queued: it is read again once the server has answered.
      this.deferred = { type, message: Buffer.from(buf.subarray(start, end)), seq };
      this.client.pause();
      this.toUpstream.writeTo(this.upstream!);
      return false;
    }
  }

  /** The guardrail decision for a Query, Parse or FunctionCall. */
  private decide(type: number, buf: Buffer, start: number, end: number): GuardDecision {
    const guard = this.guard!;
    if (type === Frontend.Query) return guard.query(querySql(buf, start, end));
    if (type === Frontend.Parse) {
      const p = parseMessage(buf, start, end);
      return guard.parse(p.name, p.sql);
    }
    return guard.functionCall(functionOid(buf, start, end));
  }

  /**
   * Holds a statement for a human: the client is told at once (a NoticeResponse with the request
   * id), reading from it stops so later pipelined messages keep their order, and the statement
   * runs or is refused when the approval ends.
   */
  private hold(type: number, message: Buffer, seq: number, d: GuardDecision): void {
    const approvals = this.ctx.approvals;
    const policy = this.guard!.policy;
    const { approval, outcome } = approvals.request({
      sessionId: this.id,
      identity: this.info.identity,
      connection: this.info.connection,
      sql:
        type === Frontend.FunctionCall
          ? `/* FunctionCall oid=${functionOid(message, 0, message.length)} */`
          : d.statements.map((x) => x.sql).join(';\n') || '',
      rule: d.rule,
      reason: d.reason,
      clientReason: d.clientReason,
      recent: [...this.recent],
      timeoutMs: policy.approvalTimeoutMs,
    });
    this.held = { approvalId: approval.id };
    this.client.pause();
    this.toUpstream.writeTo(this.upstream!);
    this.send(
      msg.noticeResponse({
        code: '00000',
        message: `Bastion: this statement is held for approval (request ${approval.id}): ${d.reason}`,
        hint: `an operator can approve it in the Bastion app or with: bastion approvals approve ${approval.id}`,
      }),
    );
    outcome.then((done) => {
      if (this.step !== Step.Ready) return;
      const verdict: Verdict = { decision: 'review', rule: d.rule, approvalId: done.id };
      this.recorder.begin('client');
      if (done.state === 'approved') {
        this.forward(type, message, 0, message.length, seq, verdict, d);
      } else {
        this.refuse(type, message, 0, message.length, seq, verdict, approvalError(done));
      }
      this.recorder.end();
      this.held = null;
      this.client.resume();
      this.pumpClient();
    });
  }

  /** Sends the upstream a message that fails in place of the refused one (see NEVER_RUNS). */
  private refuse(
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    seq: number,
    verdict: Verdict,
    error: msg.ErrorFields,
  ): void {
    let stand: Buffer;
    if (type === Frontend.Parse) {
      const { name } = parseMessage(buf, start, end);
      stand = msg.typed(Frontend.Parse, [msg.cstr(name), msg.cstr(NEVER_RUNS), msg.int16(0)]);
    } else stand = msg.query(NEVER_RUNS);
    const op = this.protocol.client(stand[0], stand, 0, stand.length, seq, []);
    this.tracker!.refuse(type, buf, start, end, seq, verdict, msg.errorResponse(error), op);
    this.pass(stand, 0, stand.length, op);
  }

  private onServerData(chunk: Buffer): void {
    if (this.step !== Step.Ready) return;
    const framer = this.serverFramer;
    const masker = this.masker;
    framer.push(chunk);
    noteRelayed(chunk.length);
    this.recorder.begin('server');
    try {
      while (framer.next()) {
        const { type, buf, start, end } = framer;
        if (type === Backend.ParameterStatus) checkEncodingStatus(buf, start, end);
        // Masked values are counted per statement: a run of DataRows adds its counts once, before
        // the next other message (which may end the statement) or at the end of the chunk.
        if (masker !== null && type !== Backend.DataRow) this.flushMaskCounts(this.protocol.head);
        const reply = this.protocol.server(type, buf, start, end);
        if (masker === null) {
          this.relayServerMessage(reply, type, buf, start, end);
          continue;
        }
        const masked = masker.server(reply, type, buf, start, end, this.maskCounts);
        if (type !== Backend.DataRow) this.flushMaskCounts(reply.op);
        if (masked === null) this.relayServerMessage(reply, type, buf, start, end);
        else {
          // Empty = the answer to a Describe the gateway injected; several messages = a COPY row
          // held back from the previous CopyData, in front of this message (which alone ends
          // requests).
          for (let o = 0; o < masked.length; ) {
            const next = o + 1 + masked.readInt32BE(o + 1);
            this.relayServerMessage(
              next < masked.length ? { ...reply, ended: [] } : reply,
              masked[o],
              masked,
              o,
              next,
            );
            o = next;
          }
        }
      }
      this.flushMaskCounts(this.protocol.head);
    } catch (e) {
      this.flushMaskCounts(this.protocol.head);
      this.recorder.end();
      this.toClient.writeTo(this.client);
      this.upstreamViolation(e);
      return;
    }
    this.recorder.end();
    if (this.sawAck) {
      this.sawAck = false;
      this.ackMark = this.ctx.writer.enqueued;
    }
    this.releaseToClient();
    // A message waiting for an answer that may now be in.
    if (this.deferred !== null) this.pumpClient();
  }

  private flushMaskCounts(op: Op | null): void {
    if (this.maskCounts.size === 0) return;
    this.tracker!.addMasked(op, this.maskCounts);
    this.maskCounts.clear();
  }

  /** Sends what the client is due once its acknowledgements are recorded durably. */
  private releaseToClient(): void {
    if (this.holdingAcks || this.step === Step.Closed) return;
    const writer = this.ctx.writer;
    if (writer.durable < this.ackMark && writer.makeDurable() < this.ackMark) {
      this.holdingAcks = true;
      this.upstream!.pause();
      writer.whenDurable(this.ackMark, (ok) => {
        this.holdingAcks = false;
        if (this.step === Step.Closed) return;
        if (!ok) {
          // The statement ran but its outcome cannot be recorded: the client does not get it.
          this.endReason = 'recording failed before the result could be delivered';
          this.upstream?.destroy();
          this.fatal(
            new GatewayError(
              SqlState.IoError,
              'the gateway could not record the result of the last statement, so it does not deliver it',
              'the statement may have run on the database',
              'check the gateway log; retry once recording works again',
            ),
          );
          this.close(this.endReason);
          return;
        }
        // Checks the mark again: data for a later one may have arrived meanwhile.
        this.releaseToClient();
        if (this.holdingAcks) return;
        if (this.afterHold !== null) {
          const next = this.afterHold;
          this.afterHold = null;
          next();
        } else if (!this.client.writableNeedDrain) this.upstream!.resume();
      });
      return;
    }
    if (!this.toClient.writeTo(this.client)) this.upstream!.pause();
  }

  /** One server message as the client gets it: statement tracking, recording, relay. */
  private relayServerMessage(reply: Reply, type: number, buf: Buffer, start: number, end: number): void {
    const tracker = this.tracker!;
    const rec = this.recorder;
    const capture = tracker.onServer(reply, type, buf, start, end, rec.nextSeq);
    if (tracker.replacement !== null) {
      const r = tracker.replacement;
      tracker.replacement = null;
      rec.frameBytes(r);
      this.toClient.add(r);
      return;
    }
    if (capture) rec.frame(buf, start, end);
    this.toClient.pass(buf, start, end);
    // A statement done (its changes may be committed): on record before the client learns it.
    // Errors and ReadyForQuery need no wait: they acknowledge nothing done, and refusals must
    // reach the client even while the store fails.
    if (type === Backend.CommandComplete) this.sawAck = true;
    if (type === Backend.ErrorResponse && isFatal(buf, start, end)) this.upstreamSentFatal = true;
  }

  /**
   * Sends a client message upstream: the protocol model queues its request (throwing
   * MustWaitForServer, with nothing sent, when what it names is not known yet), then the
   * guardrails, the tracker and the masker learn it.
   */
  private forward(
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    seq: number,
    verdict: Verdict | undefined,
    d: GuardDecision | undefined,
  ): void {
    const op = this.protocol.client(type, buf, start, end, seq, d?.effects);
    if (op?.kind === 'parse' && d?.entry !== undefined) this.guard!.remember(op.statement, d.entry);
    this.tracker!.onClient(op, verdict);
    this.pass(buf, start, end, op);
  }

  /** Queues bytes for the upstream, after the Describe the masker may inject in front of them. */
  private pass(buf: Buffer, start: number, end: number, op: Op | null): void {
    if (this.masker !== null) {
      const injected = this.masker.client(op, buf, start, end);
      if (injected !== null) this.toUpstream.add(injected);
    }
    this.toUpstream.pass(buf, start, end);
  }

  /**
   * Masking needs the upstream's catalog (table OIDs, view definitions): no statement may run
   * with it unknown, so a session that cannot load it is refused (fail closed).
   */
  private async startMasking(upstream: net.Socket): Promise<void> {
    const masking = this.ctx.masking(this.guard!.policy);
    if (masking.inactive) return;
    const catalog = this.ctx.catalog(this.ctx.connection.name);
    try {
      await catalog.ensureLoaded();
    } catch (e) {
      upstream.destroy();
      this.ctx.log.error(`session ${this.id}: masking catalog: ${(e as Error).message}`);
      throw new GatewayError(
        SqlState.UnableToConnect,
        'the gateway cannot read the database catalog it needs to mask results',
        'see the gateway log',
      );
    }
    this.catalog = catalog;
    this.masker = new MaskingStream({ masking, catalog, protocol: this.protocol });
  }

  /** After DDL (or when old) the catalog reloads before the next statement is relayed. */
  private refreshCatalog(): boolean {
    const catalog = this.catalog!;
    if (catalog.fresh) return false;
    this.waitingCatalog = true;
    this.client.pause();
    catalog.ensureLoaded().then(
      () => {
        this.waitingCatalog = false;
        this.client.resume();
        this.pumpClient();
      },
      (e: Error) => {
        this.ctx.log.error(`session ${this.id}: masking catalog: ${e.message}`);
        this.endReason = 'masking catalog unavailable';
        this.upstream?.end(msg.terminate());
        this.fatal(
          new GatewayError(
            SqlState.UnableToConnect,
            'the gateway cannot reload the catalog it needs to mask results',
          ),
        );
        this.close(this.endReason);
      },
    );
    return true;
  }

  private onStatement(s: StatementRecord): void {
    this.info.statements++;
    this.recent.push({ sql: s.sql, decision: s.decision, at: s.startedAt });
    if (this.recent.length > 10) this.recent.shift();
    this.recorder.statement(s);
    this.ctx.events.statement?.(s);
  }

  private protocolViolation(e: unknown): void {
    let message: string;
    if (e instanceof MessageTooLargeError || e instanceof BadLengthError || e instanceof FieldError)
      message = e.message;
    else {
      this.ctx.log.error(`session ${this.id}: ${(e as Error).stack ?? e}`);
      message = 'invalid message';
    }
    this.endReason = `protocol violation: ${message}`;
    this.upstream?.end(msg.terminate());
    this.fatal(new GatewayError(SqlState.ProtocolViolation, message));
  }

  private upstreamViolation(e: unknown): void {
    if (e instanceof UnguardableSession) {
      // The session changed state in a way the gateway cannot guard (see checkEncodingStatus).
      this.ctx.log.warn(`session ${this.id}: ${e.message}`);
      this.endReason = e.message;
      this.upstream?.destroy();
      this.fatal(e);
      return;
    }
    if (e instanceof ProtocolStateError) {
      // The replies no longer match the requests: nothing after this can be attributed, masked or
      // guarded with certainty.
      this.ctx.log.error(`session ${this.id}: protocol state: ${e.message}`);
      this.endReason = 'protocol state lost';
      this.upstream?.destroy();
      this.fatal(
        new GatewayError(SqlState.ProtocolViolation, `the gateway lost track of the session: ${e.message}`),
      );
      return;
    }
    if (e instanceof MaskError) {
      // A row the masker cannot rewrite safely must not reach the client raw: end the session.
      this.ctx.log.error(`session ${this.id}: masking: ${e.message}`);
      this.endReason = 'masking refused a row';
      this.upstream?.destroy();
      this.fatal(
        new GatewayError(SqlState.InternalError, `the gateway cannot mask this result safely: ${e.message}`),
      );
      return;
    }
    this.ctx.log.error(`session ${this.id}: invalid data from upstream: ${(e as Error).message}`);
    this.endReason = 'upstream protocol violation';
    this.upstream?.destroy();
    this.fatal(
      new GatewayError(SqlState.ProtocolViolation, `invalid data from the database: ${(e as Error).message}`),
    );
  }

  private onUpstreamClosed(): void {
    if (this.step === Step.Closed) return;
    if (this.holdingAcks) {
      // Its last words (an error, a final result) go out first, once recorded.
      this.afterHold = () => this.onUpstreamClosed();
      return;
    }
    if (this.endReason === null && !this.client.destroyed) {
      this.endReason = 'upstream lost';
      if (!this.upstreamSentFatal) {
        this.fatal(new GatewayError(SqlState.ConnectionFailure, 'the connection to the database was lost'));
      }
    }
    this.client.end();
    this.close(this.endReason ?? 'upstream lost');
  }

  /** Ends the session for a gateway stop. */
  shutdown(reason = 'gateway stopped'): void {
    if (this.step === Step.Closed) return;
    this.endReason ??= reason;
    this.fatal(
      new GatewayError(
        SqlState.AdminShutdown,
        'terminating connection: the gateway is stopping',
        undefined,
        undefined,
      ),
    );
    this.upstream?.end(msg.terminate());
    this.close(reason);
  }

  private close(reason: string): void {
    if (this.step === Step.Closed) return;
    this.step = Step.Closed;
    if (this.held !== null) this.ctx.approvals.cancel(this.held.approvalId);
    this.tracker?.abandon(`session ended: ${reason}`, this.recorder.nextSeq - 1);
    if (this.cancelPid) this.ctx.cancels.release(this.cancelPid);
    this.upstream?.destroy();
    if (!this.client.destroyed) {
      // Flush what is queued (a final ErrorResponse), then close without waiting for the client's
      // FIN (an idle psql would not send one); a client that never reads is cut after 5 s.
      this.client.destroySoon();
      setTimeout(() => this.client.destroy(), 5000).unref();
    }
    this.info.endedAt = this.recorder.epochNow();
    this.info.endReason = reason;
    this.recorder.close(reason, { ...this.info });
    this.ctx.events.closed?.({ ...this.info });
    this.resolveDone();
  }
}

/** A startup packet's client_encoding, if any, must be one the gateway reads as the server does. */
function checkClientEncoding(params: Record<string, string>): void {
  for (const [k, v] of Object.entries(params)) {
    if (k.toLowerCase() === 'client_encoding' && !isGuardableEncoding(v))
      throw new GatewayError(SqlState.FeatureNotSupported, unguardableEncodingReason(v));
  }
}

/**
 * The server reports every change of client_encoding. The guardrails refuse the statements that
 * would change it to an encoding the gateway cannot read; this is the backstop for any way they
 * did not foresee: the session ends before another statement is read in that encoding.
 */
function checkEncodingStatus(buf: Buffer, start: number, end: number): void {
  const { name, value } = parameterStatus(buf, start, end);
  if (name !== 'client_encoding') return;
  if (!isGuardableEncoding(value)) throw new UnguardableSession(unguardableEncodingReason(value));
}

/** The session can no longer be guarded: it ends with this FATAL error. */
class UnguardableSession extends GatewayError {
  constructor(message: string) {
    super(SqlState.FeatureNotSupported, message);
  }
}
