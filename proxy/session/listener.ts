// One TCP listener per configured connection; each accepted socket becomes a ClientSession.

import net from 'node:net';
import { ClientSession, type SessionContext } from './session.js';

export type ListenerState = 'stopped' | 'starting' | 'listening' | 'failed';

export class ConnectionListener {
  private server: net.Server | null = null;
  private readonly sessions = new Set<ClientSession>();
  state: ListenerState = 'stopped';
  lastError: string | null = null;
  /** The port actually bound (differs from the config when it says 0). */
  port = 0;

  constructor(readonly ctx: SessionContext) {}

  get name(): string {
    return this.ctx.connection.name;
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  /**
   * The policies were replaced: how many open sessions will run their next statement under a
   * policy other than their current one (each switches itself at that statement).
   */
  policiesReplaced(): number {
    let n = 0;
    for (const s of this.sessions) if (s.policyOutdated()) n++;
    return n;
  }

  start(): Promise<void> {
    const { host, port } = this.ctx.connection.listen;
    this.state = 'starting';
    return new Promise((resolve, reject) => {
      const server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
      server.once('error', (e) => {
        this.state = 'failed';
        this.lastError = e.message;
        reject(new Error(`connection "${this.name}": cannot listen on ${host}:${port}: ${e.message}`));
      });
      server.listen({ host, port, backlog: 1024 }, () => {
        this.server = server;
        this.port = (server.address() as net.AddressInfo).port;
        this.state = 'listening';
        this.lastError = null;
        resolve();
      });
    });
  }

  private accept(socket: net.Socket): void {
    const session = new ClientSession(socket, this.ctx);
    this.sessions.add(session);
    session.finished.then(() => this.sessions.delete(session));
    session.run().catch((e) => this.ctx.log.error(`session ${session.id}: ${(e as Error).stack ?? e}`));
  }

  /** Stops accepting, ends every session (recording each end) and waits for them. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    // close() stops accepting at once, but its callback waits for every accepted socket to end:
    // end the sessions first, then wait for it.
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    const all = [...this.sessions];
    for (const s of all) s.shutdown();
    await Promise.all(all.map((s) => s.finished));
    await closed;
    this.state = 'stopped';
  }
}
