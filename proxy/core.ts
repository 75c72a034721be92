// AppCore: config -> store + listeners. The hosts (CLI, Electron) own one and talk to it only
// through its methods and events, never to the parts behind it.

import { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Approval, LiveStatement } from '../shared/api.js';
import type { SessionInfo, StatementRecord } from '../shared/types.js';
import type { RuleTargetSource } from './api/rule-targets.js';
import { ApprovalQueue } from './approvals/queue.js';
import { OidcVerifier } from './auth/oidc.js';
import { Classifier } from './classification.js';
import type { ConnectionConfig, GatewayConfig, IdentityConfig } from './config/types.js';
import { CATALOG_FINGERPRINT } from './masking/catalog.js';
import { type CompiledMasking, compileMasking, generateMaskKey, MaskCatalog } from './masking/index.js';
import { compilePolicies, initPolicyEngine, type Policy } from './policy/index.js';
import { IdentityRegistry } from './session/access.js';
import { CancelRegistry } from './session/cancel.js';
import { CatalogLink } from './session/catalog-link.js';
import { VerifierCache } from './session/client-auth.js';
import { ConnectionListener } from './session/listener.js';
import type { Logger } from './session/session.js';
import { superuserWarning, upstreamIsSuperuser } from './session/superuser-probe.js';
import { replayJournal } from './store/journal.js';
import type { TeamLink } from './store/pg/team-link.js';
import type { KnownHead, StoreReads } from './store/reader-protocol.js';
import { StoreReaderThread } from './store/reader-thread.js';
import { RetentionJob } from './store/retention.js';
import { openSqliteStore } from './store/sqlite-store.js';
import type { SessionStore } from './store/types.js';
import { journalPath, WorkerStoreWriter } from './store/worker-writer.js';
import type { RecordWriter } from './store/writer.js';
import { serverTls } from './tls/server-tls.js';

export interface CoreEvents {
  'session-opened': [SessionInfo];
  'session-closed': [SessionInfo];
  statement: [StatementRecord];
  'store-failed': [Error];
  /** Team mode: what the other gateways of the fleet recorded (see FleetFeed). */
  'fleet-statement': [LiveStatement];
  'fleet-session-opened': [SessionInfo];
  'fleet-session-closed': [SessionInfo];
  'store-recovered': [];
  /** A listener was added, removed, started, stopped or failed (by connection name). */
  'listener-changed': [string];
  /** A statement was held, or its approval ended. */
  'approval-changed': [Approval];
}

export interface StartOptions {
  /**
   * Keep going when a listener cannot start (the desktop app and the UI host show its error and
   * let the operator fix it); by default any failure stops everything and rejects.
   */
  tolerateListenerErrors?: boolean;
}

export const consoleLogger: Logger = {
  info: (m) => console.error(`bastion: ${m}`),
  warn: (m) => console.error(`bastion: warning: ${m}`),
  error: (m) => console.error(`bastion: error: ${m}`),
};

export class AppCore extends EventEmitter<CoreEvents> {
  readonly store: SessionStore;
  readonly writer: RecordWriter;
  readonly gateways: ConnectionListener[] = [];
  private readonly cancels = new CancelRegistry();
  private readonly verifiers = new VerifierCache();
  private readonly oidc = new OidcVerifier();
  /** Active sessions per verified identity (connection limits), across every listener. */
  readonly access = new IdentityRegistry();
  /** Shared by every listener, so identity changes apply to the next login on any of them. */
  private readonly identities = new Map<string, IdentityConfig>();
  /** Compiled guardrail policies by name (always has the built-in `default`). */
  readonly policies: Map<string, Policy>;
  readonly approvals: ApprovalQueue;
  /** The install's key for the `hash` masking strategy: stable, so hashed values still join. */
  private readonly maskKey: Buffer;
  private readonly compiledMasking = new WeakMap<Policy, CompiledMasking>();
  /**
   * Per connection, for policies that classify: the policy's rules plus the connection's
   * `auto-<detector>` rules, compiled once per classification change (the map is dropped then).
   */
  private readonly classifiedMasking = new Map<string, WeakMap<Policy, CompiledMasking>>();
  /** Automatic PII column classification of each connection's upstream. */
  readonly classifier: Classifier;
  /** One masking catalog (and the connection that reads it) per connection's upstream. */
  private readonly catalogs = new Map<string, { catalog: MaskCatalog; link: CatalogLink }>();
  /** Links of catalogs replaced by a classification change (see classificationChanged). */
  private readonly retiredLinks = new Set<CatalogLink>();
  private retention: RetentionJob | null = null;
  /** Whether each connection's upstream user is a superuser, once asked (see probeUpstreams). */
  private readonly superusers = new Map<string, boolean>();
  /** Team mode (config.team): the shipper to the shared store and the approvals bridge. */
  team: TeamLink | null = null;
  /**
   * The local store read on its own thread (started on the first read): the operator's reads
   * (verify, search, reports, replay) never run on the event loop that relays sessions.
   */
  private localReader: StoreReaderThread | null = null;
  /** Team mode: the shared store, read for the fleet view (null: the local store is read). */
  private fleet: StoreReaderThread | null = null;
  private fleetOpening: Promise<void> | null = null;
  private fleetRetryAt = 0;
  /** A store the operator opened from the app (its Store screen): read instead of the above. */
  private chosen: StoreReaderThread | null = null;
  private started = false;

  constructor(
    readonly config: GatewayConfig,
    private readonly log: Logger = consoleLogger,
  ) {
    super();
    // Recording joins frame chunks, as the writer thread does (replayed journal batches included).
    const store = openSqliteStore(config.store, { joinFrameChunks: true });
    this.store = store;
    // What a killed gateway had journaled (and acknowledged) but not yet applied comes first.
    const replayed = replayJournal(store, journalPath(config.store));
    if (replayed > 0) log.warn(`replayed ${replayed} recording entries the last run had not stored yet`);
    const interrupted = this.store.closeInterrupted(Date.now() * 1000);
    if (interrupted > 0)
      log.warn(`${interrupted} session(s) from an earlier run were not closed; marked as interrupted`);
    if (this.store.cancelledApprovals > 0) {
      log.warn(`${this.store.cancelledApprovals} approval(s) pending at the last stop were cancelled`);
    }
    // Throws a PolicyError naming the key at fault; the config loader validates the same way.
    this.policies = compilePolicies(config.policies as Record<string, unknown>);
    this.maskKey = loadMaskKey(path.join(path.dirname(config.store), 'bastion-mask.key'));
    // Through the writer (not store.append): ordered after session_open, and retried fail-closed.
    this.approvals = new ApprovalQueue({
      recordApproval: (a) => this.writer.enqueue({ kind: 'approval', approval: a }),
    });
    this.approvals.on('changed', (a) => this.emit('approval-changed', a));
    this.classifier = new Classifier(
      config.store,
      (name) => {
        const c = this.config.connections.find((x) => x.name === name);
        if (!c) throw new Error(`no connection "${name}"`);
        return c.upstream;
      },
      log,
      (name) => this.classificationChanged(name),
    );
    // Team mode: the store above is the local spool; this ships it and carries remote decisions.
    // Recording is written on its own thread (the event loop only relays); the store opened
    // above stays for reading and keeps its idea of the chain head current.
    this.writer = new WorkerStoreWriter(config.store, {
      journalBase: store.journalApplied(),
      onHead: (id, digest) => this.store.observeHead?.(id, digest),
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
  async start(opts: StartOptions = {}): Promise<void> {
    if (this.started) return;
    this.started = true;
    // The parser (WASM) loads once; after this every decision is synchronous.
    await initPolicyEngine();
    // The first pass before clients are accepted, as config says ("pruned at start"); it waits
    // on the writer thread, not on the event loop.
    await this.startRetention();
    if (this.config.team) {
      // Loaded in team mode only (it brings the PostgreSQL client).
      const { TeamLink } = await import('./store/pg/team-link.js');
      this.team = new TeamLink(this.config.team, this.config.store, this.approvals, this.log, {
        statement: (st) => this.emit('fleet-statement', st),
        sessionOpened: (si) => this.emit('fleet-session-opened', si),
        sessionClosed: (si) => this.emit('fleet-session-closed', si),
      });
      this.team.start();
      // The API (app, CLI through the control socket) shows the whole fleet once the shared
      // store can be read (see `reads`).
    }
    for (const i of this.config.identities) this.identities.set(i.name, i);
    // Derive SCRAM verifiers now: a first login must not be slower than an unknown user's.
    for (const identity of this.config.identities) this.verifiers.get(identity);
    for (const connection of this.config.connections) {
      this.gateways.push(await this.makeListener(connection));
    }
    this.probeUpstreams();
    this.classifyUpstreams();
    if (opts.tolerateListenerErrors) {
      await Promise.all(
        this.gateways.map((l) =>
          l.start().then(
            () => this.emit('listener-changed', l.name),
            (e: Error) => {
              this.log.error(e.message);
              this.emit('listener-changed', l.name);
            },
          ),
        ),
      );
      return;
    }
    try {
      await Promise.all(this.gateways.map((l) => l.start()));
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /**
   * Asks each connection's upstream whether its user is a superuser, without holding start-up up
   * (an upstream that is down now is not an error of the gateway's): one warning line each.
   */
  /**
   * Classifies each connection's upstream at start, in the background, when some policy
   * classifies: PII columns are known before the first client asks (its session waits for this
   * run, bounded: see catalogFor). A failure is logged by the classifier and retried at the next
   * connect's "Classify now" or catalog change.
   */
  private classifyUpstreams(): void {
    if (![...this.policies.values()].some((p) => p.classify)) return;
    for (const c of this.config.connections) void this.classifier.firstRun(c.name);
  }

  private probeUpstreams(): void {
    for (const c of this.config.connections) {
      upstreamIsSuperuser(c.upstream).then(
        (su) => {
          this.superusers.set(c.name, su);
          if (su) this.log.warn(superuserWarning(c.name, c.upstream.user));
          this.emit('listener-changed', c.name);
        },
        (e: Error) =>
          this.log.info(
            `connection "${c.name}": could not ask whether the upstream user is a superuser: ${e.message}`,
          ),
      );
    }
  }

  /** Every connection's database, for checking a policy's column rules against it (api/rule-targets.ts). */
  ruleTargetSources(): RuleTargetSource[] {
    return this.config.connections.map((c) => {
      const catalog = this.catalogFor(c.name);
      const link = this.catalogs.get(c.name)?.link;
      return {
        connection: c.name,
        run: (sql: string) => (link ? link.run(sql) : Promise.reject(new Error('no catalog link'))),
        boundTo: (col) => catalog.boundTo(col),
      };
    });
  }

  /** Masking rule columns that name no column of a connection's upstream (empty until loaded). */
  unboundMaskingColumns(name: string): string[] {
    return [...(this.catalogs.get(name)?.catalog.unbound ?? [])];
  }

  /** Whether a connection's upstream user is a superuser; null until known. */
  upstreamSuperuser(name: string): boolean | null {
    return this.superusers.get(name) ?? null;
  }

  private async makeListener(connection: ConnectionConfig): Promise<ConnectionListener> {
    const tls = await serverTls(connection.tls, this.config.tlsDir);
    return new ConnectionListener({
      connection,
      identities: this.identities,
      verifiers: this.verifiers,
      tls,
      writer: this.writer,
      cancels: this.cancels,
      limits: this.config.limits,
      log: this.log,
      policies: this.policies,
      approvals: this.approvals,
      masking: (p) => this.maskingFor(p, connection.name),
      catalog: (name) => this.catalogFor(name),
      oidc: this.oidc,
      access: this.access,
      events: {
        opened: (s) => this.emit('session-opened', s),
        closed: (s) => this.emit('session-closed', s),
        statement: (s) => this.emit('statement', s),
      },
    });
  }

  /** Prunes each connection's sessions past its `retention`, now and hourly; each prune is a chained record. */
  private async startRetention(): Promise<void> {
    const periods = new Map<string, number>();
    for (const c of this.config.connections) if (c.retentionMs) periods.set(c.name, c.retentionMs);
    if (periods.size === 0) return;
    // Asynchronous: the writer thread prunes while the event loop goes on relaying.
    const writer = this.writer;
    this.retention = new RetentionJob({ prune: (before, c) => writer.pruneAsync(before, c) }, periods, {
      onPrune: (r) => this.log.info(`retention: pruned ${JSON.stringify(r)}`),
      onError: (e, connection) => this.log.error(`retention of "${connection}": ${e.message}`),
    });
    await this.retention.start();
  }

  /**
   * A policy's masking rules, compiled once; on a connection, a policy that classifies also gets
   * the `auto-<detector>` column rules of that connection's classification.
   */
  maskingFor(policy: Policy, connection?: string): CompiledMasking {
    if (connection !== undefined && policy.classify) {
      const auto = this.classifier.rulesFor(policy, connection);
      if (auto.length > 0) {
        let byPolicy = this.classifiedMasking.get(connection);
        if (byPolicy === undefined) {
          byPolicy = new WeakMap();
          this.classifiedMasking.set(connection, byPolicy);
        }
        let c = byPolicy.get(policy);
        if (c === undefined) {
          c = compileMasking([...policy.masking, ...auto], { hashKey: this.maskKey });
          byPolicy.set(policy, c);
        }
        return c;
      }
    }
    let m = this.compiledMasking.get(policy);
    if (m === undefined) {
      m = compileMasking(policy.masking, { hashKey: this.maskKey });
      this.compiledMasking.set(policy, m);
    }
    return m;
  }

  /** The masking catalog of a connection's upstream, covering the columns of every policy. */
  catalogFor(connection: string): MaskCatalog {
    let c = this.catalogs.get(connection);
    if (c === undefined) {
      const config = this.config.connections.find((x) => x.name === connection);
      if (!config) throw new Error(`no connection "${connection}"`);
      const link = new CatalogLink(config.upstream);
      const maskings = [...this.policies.values()].map((p) => this.maskingFor(p, connection));
      // The first session of an upstream waits (bounded) for its first classification before
      // its catalog loads: its first statement is then masked with the auto rules, not the
      // detectors alone. When classification changes the rules, this catalog is dropped and
      // open sessions move to the next one at their next statement (Relay.adoptPolicy).
      const classified = [...this.policies.values()].some((p) => p.classify)
        ? this.classifier.firstRun(connection)
        : Promise.resolve();
      let seen: string | null = null;
      const run = async (sql: string) => {
        await classified;
        const rows = await link.run(sql);
        // The catalog's digest moved (tables made or changed): classify the new ones too.
        if (sql === CATALOG_FINGERPRINT) {
          const now = rows[0]?.[0] ?? null;
          if (seen !== null && now !== seen) this.classifier.catalogChanged(connection);
          seen = now;
        }
        return rows;
      };
      const log = (m: string) => this.log.warn(`connection "${connection}": ${m}`);
      c = { catalog: MaskCatalog.forPolicies(maskings, { run, log }), link };
      this.catalogs.set(connection, c);
    }
    return c.catalog;
  }

  /** A connection's auto rules changed: recompile its masking and reload its catalog. */
  private classificationChanged(connection: string): void {
    this.classifiedMasking.delete(connection);
    const c = this.catalogs.get(connection);
    if (c) {
      this.catalogs.delete(connection);
      // Sessions still hold the old catalog until their next statement, and a load in flight
      // would reopen a link closed now: close it once they have moved on (and at stop).
      this.retiredLinks.add(c.link);
      setTimeout(() => {
        c.link.close();
        this.retiredLinks.delete(c.link);
      }, 60_000).unref();
    }
  }

  private dropCatalogs(): void {
    for (const c of this.catalogs.values()) c.link.close();
    for (const l of this.retiredLinks) l.close();
    this.retiredLinks.clear();
    this.catalogs.clear();
  }

  /** The listener of a connection (once start() ran). */
  listener(name: string): ConnectionListener | undefined {
    return this.gateways.find((l) => l.name === name);
  }

  /**
   * Adds a connection at runtime. Its listener is created stopped (start it with startListener);
   * before start() the connection is only added to the config.
   */
  async addConnection(connection: ConnectionConfig): Promise<void> {
    if (this.config.connections.some((c) => c.name === connection.name)) {
      throw new Error(`connection "${connection.name}" already exists`);
    }
    const listener = this.started ? await this.makeListener(connection) : null;
    this.config.connections.push(connection);
    if (listener) this.gateways.push(listener);
    this.emit('listener-changed', connection.name);
  }

  /**
   * Replaces a connection's settings (same name). A listener that was listening is restarted with
   * the new settings (its sessions end); a stopped one stays stopped.
   */
  async updateConnection(connection: ConnectionConfig): Promise<void> {
    const i = this.config.connections.findIndex((c) => c.name === connection.name);
    if (i < 0) throw new Error(`no connection "${connection.name}"`);
    const old = this.listener(connection.name);
    const wasListening = old?.state === 'listening';
    if (old) await old.stop();
    this.config.connections[i] = connection;
    if (old) {
      const fresh = await this.makeListener(connection);
      this.gateways[this.gateways.indexOf(old)] = fresh;
      if (wasListening) await this.startListener(connection.name).catch(() => {});
    }
    this.emit('listener-changed', connection.name);
  }

  /** Stops a connection's listener (ending its sessions) and forgets the connection. */
  async removeConnection(name: string): Promise<void> {
    const i = this.config.connections.findIndex((c) => c.name === name);
    if (i < 0) throw new Error(`no connection "${name}"`);
    const l = this.listener(name);
    if (l) {
      await l.stop();
      this.gateways.splice(this.gateways.indexOf(l), 1);
    }
    this.config.connections.splice(i, 1);
    for (const identity of this.config.identities) {
      if (identity.connections.includes(name)) {
        this.setIdentity({ ...identity, connections: identity.connections.filter((c) => c !== name) });
      }
    }
    this.emit('listener-changed', name);
  }

  /** Starts a stopped or failed listener; rejects (and leaves it 'failed') if it cannot listen. */
  async startListener(name: string): Promise<void> {
    const l = this.listener(name);
    if (!l) throw new Error(this.started ? `no connection "${name}"` : 'the gateway is not started');
    if (l.state === 'listening' || l.state === 'starting') return;
    try {
      await l.start();
    } finally {
      this.emit('listener-changed', name);
    }
  }

  /** Stops a listener, ending its sessions (each end recorded). */
  async stopListener(name: string): Promise<void> {
    const l = this.listener(name);
    if (!l) throw new Error(`no connection "${name}"`);
    await l.stop();
    this.emit('listener-changed', name);
  }

  /**
   * Adds or replaces an identity; the next login uses it (sessions already open keep theirs, but
   * end at once if the change puts them outside the identity's access window). Access settings
   * the given object does not have (upstream role or user, limits, window: hosts that edit only
   * connections, policy and password) are kept from the identity it replaces, so such an edit
   * never widens what the identity may do; a key present with the value undefined removes one.
   */
  setIdentity(identity: IdentityConfig): void {
    const i = this.config.identities.findIndex((x) => x.name === identity.name);
    if (i >= 0) identity = keepAccessSettings(this.config.identities[i], identity);
    if (i < 0) this.config.identities.push(identity);
    else this.config.identities[i] = identity;
    this.verifiers.get(identity);
    if (this.started) this.identities.set(identity.name, identity);
    this.access.changed(identity.name);
  }

  /** Forgets an identity: it can no longer log in (open sessions continue). */
  removeIdentity(name: string): void {
    const i = this.config.identities.findIndex((x) => x.name === name);
    if (i < 0) throw new Error(`no identity "${name}"`);
    this.config.identities.splice(i, 1);
    this.identities.delete(name);
  }

  /**
   * Replaces the policies (the config's `policies` section as written; throws a PolicyError
   * naming the key at fault, changing nothing). Every session from now on, on every listener,
   * gets the new ones, and every open session switches to its policy's new version at its next
   * statement (guardrails and masking; see Relay.adoptPolicy), so a pool's long-lived
   * connections do not keep the old rules. A policy whose text did not change keeps its compiled
   * object, and its sessions stay as they are. Returns how many open sessions will switch.
   */
  setPolicies(raw: Record<string, unknown>): number {
    const compiled = compilePolicies(raw);
    const before = (this.config.policies ?? {}) as Record<string, unknown>;
    this.config.policies = raw;
    for (const name of compiled.keys()) {
      const old = this.policies.get(name);
      if (
        old !== undefined &&
        name in raw &&
        name in before &&
        JSON.stringify(raw[name]) === JSON.stringify(before[name])
      )
        compiled.set(name, old);
    }
    // The listeners share this map: replacing its entries is what they see.
    this.policies.clear();
    for (const [name, p] of compiled) this.policies.set(name, p);
    // New rules may name other columns: the next session loads a catalog that covers them (and
    // an open session that masks moves to it at its next statement).
    this.dropCatalogs();
    let switched = 0;
    for (const l of this.gateways) switched += l.policiesReplaced();
    return switched;
  }

  /** Where each connection listens (the bound port, when the config said 0). */
  addresses(): { name: string; host: string; port: number }[] {
    return this.gateways.map((l) => ({ name: l.name, host: l.ctx.connection.listen.host, port: l.port }));
  }

  /** This gateway's own store, as the API reads it (on the reader thread). */
  get localReads(): StoreReads {
    this.localReader ??= new StoreReaderThread(
      { kind: 'sqlite', path: this.config.store },
      `store ${this.config.store}`,
    );
    return this.localReader;
  }

  /** The chain head the writer thread last reported: verify of the local store checks up to it. */
  get knownHead(): KnownHead | null {
    const h = this.store.chainHead;
    return h.digest === null ? null : { id: h.id, digest: h.digest };
  }

  /**
   * Where the API reads recordings: a store the operator opened; in team mode the shared store
   * (every gateway's sessions) once it can be read; else the local store. Writes always go
   * through the writer to the local store.
   */
  async reads(): Promise<StoreReads> {
    if (this.chosen) return this.chosen;
    if (this.config.team && this.started && this.fleet === null && Date.now() >= this.fleetRetryAt) {
      this.fleetOpening ??= this.openFleet().finally(() => {
        this.fleetOpening = null;
      });
      await this.fleetOpening;
      if (this.chosen) return this.chosen;
    }
    return this.fleet ?? this.localReads;
  }

  /** Whether `reads` answers from the team's shared store now (false: this gateway's own recordings). */
  get readsFleet(): boolean {
    return this.fleet !== null;
  }

  /**
   * Opened on first use, not at start: the first gateway's shipper creates its schema. Opening
   * waits on its own thread; the data path never does (recording goes to the spool).
   */
  private async openFleet(): Promise<void> {
    const team = this.config.team!;
    const { describeStore } = await import('./store/pg/target.js');
    const reader = new StoreReaderThread(
      { kind: 'pg', target: team.target },
      `shared store ${describeStore(team.target)}`,
    );
    try {
      await reader.open();
      if (this.started) this.fleet = reader;
      else reader.close();
    } catch (e) {
      reader.close();
      this.fleetRetryAt = Date.now() + 5000;
      this.log.warn(
        `the shared store cannot be read now (${(e as Error).message}); the API shows this gateway's own recordings`,
      );
    }
  }

  /**
   * Makes the API read `reads` (a shared store the operator opened) instead of the configured
   * one; null goes back. Returns what it replaces, for the caller (its owner) to close.
   */
  readFrom(reads: StoreReaderThread | null): StoreReaderThread | null {
    const before = this.chosen;
    this.chosen = reads;
    return before;
  }

  /** Stops listeners, ends sessions, flushes every recording, closes the store. */
  async stop(): Promise<void> {
    await Promise.all(this.gateways.map((l) => l.stop()));
    this.retention?.stop();
    this.approvals.close();
    this.dropCatalogs();
    this.classifier.close();
    const ok = this.writer.close();
    if (!ok)
      this.log.error(
        `could not flush ${this.writer.backlog} recording entries: ${this.writer.lastError?.message}`,
      );
    await this.team?.stop();
    // The reader threads end with the core.
    this.started = false;
    this.fleet?.close();
    this.chosen?.close();
    this.localReader?.close();
    this.chosen = null;
    this.fleet = null;
    this.localReader = null;
    this.store.close();
  }
}

const ACCESS_KEYS = [
  'upstreamRole',
  'upstreamUser',
  'upstreamPassword',
  'maxConnections',
  'validFrom',
  'validUntil',
] as const;

function keepAccessSettings(old: IdentityConfig, next: IdentityConfig): IdentityConfig {
  const out: IdentityConfig = { ...next };
  const o = out as unknown as Record<string, unknown>;
  for (const k of ACCESS_KEYS) {
    if (!Object.hasOwn(next, k) && old[k] !== undefined) o[k] = old[k];
    if (o[k] === undefined) delete o[k];
  }
  // OIDC groups and claims live in the oidc block, which such hosts pass on unchanged.
  return out;
}

/** Reads the install's masking key, making it (mode 0600) on first run. */
function loadMaskKey(file: string): Buffer {
  try {
    const k = readFileSync(file);
    if (k.length >= 32) return k;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const key = generateMaskKey();
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, key, { mode: 0o600 });
  return key;
}
