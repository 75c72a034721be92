// What a session is given by the gateway (SessionContext), and what its phases (startup, relay)
// share of it while it runs (SessionParts).

import type net from 'node:net';
import type { SessionInfo, StatementRecord } from '../../shared/types.js';
import type { ApprovalQueue } from '../approvals/queue.js';
import type { OidcVerifier } from '../auth/oidc.js';
import type { ConnectionConfig, IdentityConfig, LimitsConfig } from '../config/types.js';
import type { GatewayError } from '../errors.js';
import type { CompiledMasking, MaskCatalog } from '../masking/index.js';
import type { Policy } from '../policy/index.js';
import type { FrameRecorder } from '../store/recorder.js';
import type { RecordWriter } from '../store/writer.js';
import type { ServerTls } from '../tls/server-tls.js';
import * as msg from '../wire/messages.js';
import type { IdentityRegistry } from './access.js';
import type { CancelRegistry } from './cancel.js';
import type { VerifierCache } from './client-auth.js';

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

/**
 * The client's end of a session, in every phase: what the gateway itself says to the client is
 * recorded, then sent. Startup replaces the socket once, when the client switches to TLS.
 */
export class ClientLink {
  constructor(
    public socket: net.Socket,
    private readonly recorder: FrameRecorder,
  ) {}

  /** Sends a message the gateway made (outside the relay of upstream frames), and records it. */
  send(b: Buffer): void {
    this.recorder.begin('server');
    this.recorder.frameBytes(b);
    this.recorder.end();
    this.socket.write(b);
  }

  /** Sends a FATAL error (recorded) and ends the client's socket after it. */
  fatal(err: GatewayError): void {
    if (this.socket.destroyed || !this.socket.writable) return;
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
    this.socket.end(b);
  }
}

/** What every phase of one session works with. */
export interface SessionParts {
  readonly id: string;
  readonly ctx: SessionContext;
  readonly recorder: FrameRecorder;
  /** What the live inspector and the store show of the session; the phases fill it in. */
  readonly info: SessionInfo;
  readonly client: ClientLink;
  /** Resolves when the session has ended and its close is queued for the store. */
  readonly finished: Promise<void>;
  /** The session has closed: nothing more is relayed or sent. */
  readonly closed: boolean;
  /** Closes the session (once): records its end, tells the core, lets go of the sockets. */
  close(reason: string): void;
}
