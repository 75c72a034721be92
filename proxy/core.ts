// AppCore: config -> store + listeners. The hosts (CLI, Electron) own one and talk to it only
// through its methods and events, never to the parts behind it.

import { EventEmitter } from 'node:events';
import type { SessionInfo, StatementRecord } from '../shared/types.js';
import type { GatewayConfig, IdentityConfig } from './config/types.js';
import { CancelRegistry } from './session/cancel.js';
import { VerifierCache } from './session/client-auth.js';
import { ConnectionListener } from './session/listener.js';
import type { Logger } from './session/session.js';
import { openSqliteStore } from './store/sqlite-store.js';
import type { SessionStore } from './store/types.js';
import { StoreWriter } from './store/writer.js';
import { serverTls } from './tls/server-tls.js';

export interface CoreEvents {
  'session-opened': [SessionInfo];
  'session-closed': [SessionInfo];
  statement: [StatementRecord];
  'store-failed': [Error];
  'store-recovered': [];
}

export const consoleLogger: Logger = {
  info: (m) => console.error(`bastion: ${m}`),
  warn: (m) => console.error(`bastion: warning: ${m}`),
  error: (m) => console.error(`bastion: error: ${m}`),
};

export class AppCore extends EventEmitter<CoreEvents> {
  readonly store: SessionStore;
  readonly writer: StoreWriter;
  readonly gateways: ConnectionListener[] = [];
  private readonly cancels = new CancelRegistry();
  private readonly verifiers = new VerifierCache();
  private started = false;

  constructor(
    readonly config: GatewayConfig,
    private readonly log: Logger = consoleLogger,
  ) {
    super();
    this.store = openSqliteStore(config.store);
    const interrupted = this.store.closeInterrupted(Date.now() * 1000);
    if (interrupted > 0) log.warn(`${interrupted} session(s) from an earlier run were not closed; marked as interrupted`);
    this.writer = new StoreWriter(this.store, {
      onError: (e) => {
        log.error(`recording failed, refusing new statements until the store works again: ${e.message}`);
        this.emit('store-failed', e);
      },
      onRecovered: () => {
        log.info('recording works again');
        this.emit('store-recovered');
      },
    });
  }

  /** Starts every listener; resolves once all accept connections. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const identities = new Map<string, IdentityConfig>(this.config.identities.map((i) => [i.name, i]));
    // Derive SCRAM verifiers now: a first login must not be slower than an unknown user's.
    for (const identity of this.config.identities) this.verifiers.get(identity);
    for (const connection of this.config.connections) {
      const tls = await serverTls(connection.tls, this.config.tlsDir);
      const listener = new ConnectionListener({
        connection,
        identities,
        verifiers: this.verifiers,
        tls,
        writer: this.writer,
        cancels: this.cancels,
        limits: this.config.limits,
        log: this.log,
        events: {
          opened: (s) => this.emit('session-opened', s),
          closed: (s) => this.emit('session-closed', s),
          statement: (s) => this.emit('statement', s),
        },
      });
      this.gateways.push(listener);
    }
    try {
      await Promise.all(this.gateways.map((l) => l.start()));
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Where each connection listens (the bound port, when the config said 0). */
  addresses(): { name: string; host: string; port: number }[] {
    return this.gateways.map((l) => ({ name: l.name, host: l.ctx.connection.listen.host, port: l.port }));
  }

  /** Stops listeners, ends sessions, flushes every recording, closes the store. */
  async stop(): Promise<void> {
    await Promise.all(this.gateways.map((l) => l.stop()));
    const ok = this.writer.close();
    if (!ok) this.log.error(`could not flush ${this.writer.backlog} recording entries: ${this.writer.lastError?.message}`);
    this.store.close();
  }
}
