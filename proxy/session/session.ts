// One client connection end to end: its startup (TLS, protocol negotiation, authentication as an
// identity, the upstream login with the gateway's credentials: startup.ts), then the relay of
// frames in both directions with recording, statement tracking and backpressure (relay.ts).
// A ClientSession runs the two in turn, watches the identity's access window, and closes once.
// https://www.postgresql.org/docs/current/protocol-flow.html

import { randomUUID } from 'node:crypto';
import type net from 'node:net';
import type { SessionInfo } from '../../shared/types.js';
import { GatewayError, SqlState } from '../errors.js';
import { FrameRecorder } from '../store/recorder.js';
import { type AccessGrant, outsideWindow } from './access.js';
import { ClientLink, type SessionContext, type SessionParts } from './context.js';
import { Relay } from './relay.js';
import { runStartup, type StartupStep } from './startup.js';

export type { Logger, SessionContext, SessionEvents } from './context.js';

const Step = {
  Startup: 'startup',
  Auth: 'auth',
  Connecting: 'connecting',
  Ready: 'ready',
  Closed: 'closed',
} as const;
type Step = (typeof Step)[keyof typeof Step];

/** Where a session is: a step of its startup, relaying, or closed. */
type Phase =
  | { step: typeof Step.Startup | StartupStep }
  | { step: typeof Step.Ready; relay: Relay }
  | { step: typeof Step.Closed };

export class ClientSession {
  readonly id = randomUUID();
  private phase: Phase = { step: Step.Startup };
  private readonly client: ClientLink;
  private readonly recorder: FrameRecorder;
  private readonly info: SessionInfo;
  /** What the phases share of this session. */
  private readonly parts: SessionParts;
  private readonly done: Promise<void>;
  private readonly resolveDone: () => void;

  constructor(
    socket: net.Socket,
    private readonly ctx: SessionContext,
  ) {
    socket.setNoDelay(true);
    // A reset can come at any time; without a listener it would crash the gateway.
    socket.on('error', (e) => this.ctx.log.warn(`session ${this.id}: client socket: ${e.message}`));
    this.recorder = new FrameRecorder(ctx.writer, this.id);
    this.client = new ClientLink(socket, this.recorder);
    let resolveDone = () => {};
    this.done = new Promise((r) => {
      resolveDone = r;
    });
    this.resolveDone = resolveDone;
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
    const isClosed = () => this.phase.step === Step.Closed;
    this.parts = {
      id: this.id,
      ctx,
      recorder: this.recorder,
      info: this.info,
      client: this.client,
      finished: this.done,
      get closed() {
        return isClosed();
      },
      close: (reason) => this.close(reason),
    };
  }

  get state(): Step {
    return this.phase.step;
  }

  /** Resolves when the session has ended and its close is queued for the store. */
  get finished(): Promise<void> {
    return this.done;
  }

  async run(): Promise<void> {
    const outcome = await runStartup(this.parts, (step) => {
      if (this.phase.step !== Step.Closed) this.phase = { step };
    });
    if (outcome.kind === 'ended') return;
    if (outcome.kind === 'cancel') {
      await this.forwardCancel(outcome.pid, outcome.key);
      return;
    }
    const context = outcome.context;
    if (this.phase.step === Step.Closed) {
      // Stopped while it was starting (a gateway stop): the upstream it logged in to goes unused.
      context.upstream.socket.destroy();
      return;
    }
    const relay = new Relay(this.parts, context);
    this.phase = { step: Step.Ready, relay };
    relay.start();
    this.watchAccessWindow(context.grant, relay);
  }

  /** The connection only carried a CancelRequest: it is passed on, and nothing is recorded. */
  private async forwardCancel(pid: number, key: Buffer): Promise<void> {
    this.phase = { step: Step.Closed };
    await this.ctx.cancels.cancel(pid, key).catch((e) => {
      this.ctx.log.warn(`cancel forwarding failed: ${(e as Error).message}`);
    });
    this.client.socket.destroy();
    this.resolveDone();
  }

  /**
   * Ends the session when the identity's access window closes: at `valid_until`, or at once when
   * the identity is changed (e.g. by an operator) so that it is no longer inside its window.
   */
  private watchAccessWindow(grant: AccessGrant, relay: Relay): void {
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      clearTimeout(timer);
      if (this.phase.step === Step.Closed) return;
      // An identity removed from the config keeps its open sessions, under the settings they began with.
      const entry = this.ctx.identities.get(grant.entry.name) ?? grant.entry;
      const why = outsideWindow(entry, grant.identity, Date.now());
      if (why !== null) {
        relay.end(
          `access window closed: ${why}`,
          new GatewayError(
            SqlState.AdminShutdown,
            `terminating connection: ${why}`,
            undefined,
            'log in again once access is granted',
          ),
        );
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

  /** Relaying under a policy that is no longer the one its identity's policy name names. */
  policyOutdated(): boolean {
    return this.phase.step === Step.Ready && this.phase.relay.policyOutdated();
  }

  /** Ends the session for a gateway stop. */
  shutdown(reason = 'gateway stopped'): void {
    const phase = this.phase;
    if (phase.step === Step.Closed) return;
    const err = new GatewayError(
      SqlState.AdminShutdown,
      'terminating connection: the gateway is stopping',
      undefined,
      undefined,
    );
    if (phase.step === Step.Ready) {
      phase.relay.end(reason, err);
      return;
    }
    this.client.fatal(err);
    this.close(reason);
  }

  private close(reason: string): void {
    const phase = this.phase;
    if (phase.step === Step.Closed) return;
    this.phase = { step: Step.Closed };
    if (phase.step === Step.Ready) phase.relay.teardown(reason);
    const client = this.client.socket;
    if (!client.destroyed) {
      // Flush what is queued (a final ErrorResponse), then close without waiting for the client's
      // FIN (an idle psql would not send one); a client that never reads is cut after 5 s.
      client.destroySoon();
      setTimeout(() => client.destroy(), 5000).unref();
    }
    this.info.endedAt = this.recorder.epochNow();
    this.info.endReason = reason;
    this.recorder.close(reason, { ...this.info });
    this.ctx.events.closed?.({ ...this.info });
    this.resolveDone();
  }
}
