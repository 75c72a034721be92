// Which store the app reads: its own (or its team-mode config's), or a shared PostgreSQL store the
// operator opened from the Store screen with their own role and password. The opened store is
// read through PgSessionStore (read-only) on a reader thread (proxy/store/reader-thread.ts) by
// every reading call (AppCore.readFrom); an approver's decisions go into the store's
// `bastion.decisions`, where the holding gateway picks them up.
//
// The password lives only in this object's memory and the store's reader thread (the target
// handed to it): it is never saved, never part of a view or an event, and scrubbed from every
// message.

import path from 'node:path';
import type { Approval, ShippingView, StoreRole, StoreSourceView } from '../../shared/api.js';
import type { AppCore } from '../core.js';
import type { Logger } from '../session/session.js';
import type { FleetFeed, FleetFeedEvents } from '../store/pg/fleet-feed.js';
import type { StoreTarget } from '../store/pg/target.js';
import { StoreReaderThread } from '../store/reader-thread.js';
import { ApprovalsWatch } from './approvals-watch.js';
import { InputError, str } from './validate.js';

/** A call the opened store's role does not allow (a reader deciding an approval). */
export class StoreRoleError extends Error {
  readonly code = 'refused';
}

/** The shared store failed or refused; `code` is the SQLSTATE it answered with, else `failed`. */
export class SharedStoreError extends Error {
  readonly code: string;

  constructor(message: string, cause: unknown) {
    super(message);
    const sqlstate = (cause as { code?: unknown } | null)?.code;
    this.code = typeof sqlstate === 'string' && /^[0-9A-Z]{5}$/.test(sqlstate) ? sqlstate : 'failed';
  }
}

const ROLES: readonly StoreRole[] = ['reader', 'approver'];

export interface CheckedStoreInput {
  url: string;
  password: string | null;
  role: StoreRole;
  as: string | null;
}

/** What the renderer sent, checked: the URL's shape and the password are looked at in `open`. */
export function checkSharedStoreInput(input: unknown): CheckedStoreInput {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw new InputError('the shared store must be given as an object');
  const i = input as Record<string, unknown>;
  const url = str(i.url, 'store URL', 2000).trim();
  if (!/^postgres(?:ql)?:\/\//i.test(url))
    throw new InputError(
      'the store URL must start with postgres:// (e.g. postgres://auditor@audit-db:5432/audit?sslmode=verify-full)',
    );
  // Expanding ${NAME} would let whoever drives the UI read the host's environment into the URL.
  if (url.includes('${'))
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's ${NAME} syntax, named as such
    throw new InputError('the store URL cannot refer to ${NAME} here: type the password in its field');
  const password = i.password === undefined || i.password === null ? '' : str(i.password, 'password', 1024);
  if (!ROLES.includes(i.role as StoreRole)) throw new InputError('role must be reader or approver');
  const as = i.as === undefined || i.as === null ? '' : str(i.as, 'decider name', 100).trim();
  return { url, password: password === '' ? null : password, role: i.role as StoreRole, as: as || null };
}

interface Opened {
  target: StoreTarget;
  described: string;
  label: string;
  role: StoreRole;
  as: string;
  store: StoreReaderThread;
  feed: FleetFeed | null;
  watch: ApprovalsWatch;
  openedAt: number;
}

/** "auditor@audit-db/audit" (the port only when it is not 5432). */
function shortLabel(t: StoreTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `${t.user}@${host}${t.port === 5432 ? '' : `:${t.port}`}/${t.database}`;
}

/** A message with every occurrence of the password taken out (belt and braces: pg never echoes it). */
function scrub(message: string, password: string | null): string {
  return password ? message.split(password).join('***') : message;
}

const SQLSTATES: Record<string, string> = {
  '28P01': 'the store refused the user name or password',
  '28000': 'the store does not let this user connect from here (pg_hba.conf)',
  '3D000': 'the database does not exist',
  '42501': 'the role lacks a privilege it needs',
  '53300': 'the store has too many connections',
  '57P03': 'the store is starting up or shutting down',
};

/** A connection failure as the operator should read it. */
function explain(e: unknown, password: string | null): string {
  const err = e as Error & { code?: string };
  const known = err.code ? SQLSTATES[err.code] : undefined;
  const raw = err?.message ?? String(e);
  let text: string;
  if (known) text = `${known} (SQLSTATE ${err.code}: ${raw})`;
  else if (err.code === 'ECONNREFUSED') text = 'nothing accepts connections at that host and port';
  else if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') text = 'the host name is not known';
  else text = raw;
  return scrub(text, password);
}

export class StoreSource {
  private opened: Opened | null = null;

  constructor(
    private readonly core: AppCore,
    /** Who decides when neither the call nor the opened store names anyone. */
    private readonly operator: string,
    /** Where the opened store's live traffic goes (the inspector). */
    private readonly live: FleetFeedEvents,
    private readonly log: Logger,
    /** Where approvals held or decided anywhere in the fleet go while a store is open. */
    private readonly approvalChanged: (a: Approval) => void = () => {},
  ) {}

  /** The opened shared store, if any. */
  get current(): { store: StoreReaderThread; role: StoreRole; described: string } | null {
    return this.opened;
  }

  /**
   * Connects (async: a wrong host or password never blocks the host), checks that it is a Bastion
   * store the role can read (and, for an approver, record decisions in), then switches the
   * core's reading to it. On any failure nothing changes.
   */
  async open(input: CheckedStoreInput): Promise<void> {
    const { parseStoreUrl } = await import('../store/pg/url.js');
    const { connectStore, describeStore } = await import('../store/pg/target.js');
    let target: StoreTarget;
    try {
      // No environment: ${NAME} was refused above, and PGPASSWORD must not be sent to a typed host.
      target = parseStoreUrl(input.url, {});
    } catch (e) {
      throw new InputError(
        scrub((e as Error).message.replace(/^--store: /, 'store URL: '), input.password ?? null),
      );
    }
    const urlPassword = target.password;
    target.password = input.password ?? target.password;
    if (target.password === null || target.password === '')
      throw new InputError(
        "the shared store needs a password (its role's own): the app does not read PGPASSWORD or ~/.pgpass",
      );
    const described = describeStore(target);
    const secret = target.password;
    const fail = (why: string, cause?: unknown) =>
      new SharedStoreError(`shared store ${described}: ${scrub(scrub(why, secret), urlPassword)}`, cause);

    let client: Awaited<ReturnType<typeof connectStore>>;
    try {
      client = await connectStore(target, 'bastion-app');
    } catch (e) {
      throw fail(explain(e, secret), e);
    }
    try {
      const [meta] = (await client.query("SELECT to_regclass('bastion.meta') IS NOT NULL AS ok")).rows;
      if (!meta.ok)
        throw fail('not a Bastion store (no bastion schema; the first gateway to ship to it creates it)');
      const [may] = (
        await client.query(
          `SELECT has_table_privilege('bastion.sessions', 'SELECT') AS read,
                  has_table_privilege('bastion.decisions', 'INSERT') AS decide`,
        )
      ).rows;
      if (!may.read)
        throw fail(`role "${target.user}" may not read the store (GRANT bastion_reader TO "${target.user}")`);
      if (input.role === 'approver' && !may.decide)
        throw fail(
          `role "${target.user}" may not record decisions (no INSERT on bastion.decisions): open it as reader, or GRANT bastion_approver TO "${target.user}"`,
        );
    } catch (e) {
      if (e instanceof SharedStoreError) throw e;
      throw fail(explain(e, secret), e);
    } finally {
      await client.end().catch(() => {});
    }

    const store = new StoreReaderThread({ kind: 'pg', target }, `shared store ${described}`);
    try {
      await store.open();
    } catch (e) {
      store.close();
      throw fail(explain(e, secret).replace(`shared store ${described}: `, ''), e);
    }
    const next: Opened = {
      target,
      described,
      label: shortLabel(target),
      role: input.role,
      as: input.as ?? this.operator,
      store,
      feed: await this.startFeed(target),
      watch: new ApprovalsWatch(target, (a) => {
        if (this.opened === next) this.approvalChanged(a);
      }),
      openedAt: Date.now(),
    };
    next.watch.start();
    const before = this.opened;
    this.opened = next;
    this.core.readFrom(store);
    if (before) await this.release(before);
    this.log.info(`reading the shared store ${described} as ${input.role}`);
  }

  /** Back to the configured store; the shared store's connections close and its password is dropped. */
  async close(): Promise<void> {
    const o = this.opened;
    if (!o) return;
    this.opened = null;
    this.core.readFrom(null);
    await this.release(o);
    this.log.info(`stopped reading the shared store ${o.described}`);
  }

  /** Stops at once (the host is going away). */
  dispose(): void {
    const o = this.opened;
    this.opened = null;
    if (!o) return;
    this.core.readFrom(null);
    void this.release(o);
  }

  /**
   * A decision through the opened shared store: refused for a reader; for an approver recorded
   * in `bastion.decisions` for the holding gateway, which releases (or fails) the client.
   */
  async decide(id: string, decision: 'approve' | 'deny', by: string | null): Promise<Approval> {
    const o = this.opened;
    if (!o) throw new Error('no shared store is open');
    if (o.role !== 'approver')
      throw new StoreRoleError(
        `the shared store ${o.label} is open read-only (as reader): open it as approver to decide approvals`,
      );
    const { connectStore } = await import('../store/pg/target.js');
    const { decideInSharedStore } = await import('../store/pg/decisions.js');
    const { ApprovalError } = await import('../approvals/queue.js');
    let client: Awaited<ReturnType<typeof connectStore>>;
    try {
      client = await connectStore(o.target, 'bastion-app-decide');
    } catch (e) {
      throw new SharedStoreError(`shared store ${o.described}: ${explain(e, o.target.password)}`, e);
    }
    try {
      return await decideInSharedStore(client, id, decision, by || o.as);
    } catch (e) {
      if (e instanceof ApprovalError) throw e;
      throw new SharedStoreError(`shared store ${o.described}: ${explain(e, o.target.password)}`, e);
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** Which store is read, and whether it answers now (a shared store is asked). */
  async view(): Promise<StoreSourceView> {
    const o = this.opened;
    if (o) {
      let gateways: string[] = [];
      let error: string | null = null;
      try {
        gateways = await o.store.gateways();
      } catch (e) {
        error = scrub((e as Error).message, o.target.password);
      }
      return {
        kind: 'shared',
        store: o.described,
        label: o.label,
        role: o.role,
        decideAs: o.role === 'approver' ? o.as : null,
        connected: error === null,
        error,
        gateways,
        openedAt: o.openedAt,
        shipping: this.shipping(),
      };
    }
    const team = this.core.team;
    if (team) {
      const reads = await this.core.reads();
      const shared = this.core.readsFleet;
      let gateways: string[] = [];
      let error: string | null = shared
        ? null
        : "the shared store cannot be read now: showing this gateway's own recordings";
      if (shared) {
        try {
          gateways = await reads.gateways();
        } catch (e) {
          error = (e as Error).message;
        }
      }
      return {
        kind: 'team',
        store: team.storeName,
        label: shortLabel(team.config.target),
        role: 'approver',
        decideAs: this.operator,
        connected: error === null,
        error,
        gateways,
        openedAt: null,
        shipping: this.shipping(),
      };
    }
    return {
      kind: 'local',
      store: this.core.config.store,
      label: path.basename(this.core.config.store),
      role: null,
      decideAs: this.operator,
      connected: true,
      error: null,
      gateways: [],
      openedAt: null,
      shipping: null,
    };
  }

  /** This gateway's shipper in team mode (its status carries no credentials). */
  private shipping(): ShippingView | null {
    const team = this.core.team;
    if (!team) return null;
    const s = team.status;
    const r = s.rejected;
    return {
      state: s.state,
      behind: Math.max(0, s.spoolHead - s.shippedId),
      rejected: r && {
        firstId: r.firstId,
        lastId: r.lastId,
        sqlstate: r.sqlstate,
        message: r.message,
        since: r.since,
      },
      error: s.error,
    };
  }

  /**
   * The opened store's live traffic for the inspector, unless this host's team-mode config
   * already follows the same store (its own feed shows the other gateways).
   */
  private async startFeed(target: StoreTarget): Promise<FleetFeed | null> {
    const team = this.core.config.team;
    const same =
      team &&
      team.target.host === target.host &&
      team.target.port === target.port &&
      team.target.database === target.database;
    if (same) return null;
    const { FleetFeed } = await import('../store/pg/fleet-feed.js');
    // '' is no gateway's name: every gateway's traffic is shown.
    const feed = new FleetFeed(target, team?.gateway ?? '', this.live, this.log);
    feed.start();
    return feed;
  }

  private async release(o: Opened): Promise<void> {
    o.store.close();
    await Promise.all([o.feed?.stop(), o.watch.stop()]);
    // What held the password goes with it.
    o.target.password = null;
  }
}
