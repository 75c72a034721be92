// StoreShipper: copies a gateway's chained records from its local spool (the SQLite store the
// recorder writes, synchronously and locally) to the shared PostgreSQL store, in record order, in
// batches, one transaction each, resuming from the shared store's high-water mark for this gateway.
//
// The data path never waits for it: when the shared store is down the shipper retries with backoff
// and the spool grows; statements are refused only when the spool itself cannot be written (the
// StoreWriter's fail-closed path). After every batch it NOTIFYs `bastion_records` (payload: the
// gateway), so live views elsewhere learn of new records at once.
//
// A spool that is not the chain this gateway name shipped before (a replaced file, or two gateways
// under one name) is never mixed in: the shipper stops and says so.
//
// A batch the store refuses for its content (a constraint, a trigger, an invalid byte sequence:
// see store-errors.ts) is not an outage: the shipper halves the batch until the refused record is
// alone (the records before it ship), says which record and which SQLSTATE, shows state
// 'rejected', and retries that record slowly until the store takes it. Nothing is skipped.
//
// Now and then (maintenanceMs) it also drops the shared store's months older than `retentionMs`
// (partitions.ts) and compacts its spool (spool-compact.ts).

import { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { ShippingView } from '../../../shared/api.js';
import type { Logger } from '../../session/session.js';
import { dropMonthsBefore, ensureMonths, monthOf, type RetentionOutcome } from './partitions.js';
import { applyRecords } from './project.js';
import { ensurePgSchema } from './schema.js';
import { SpoolReader } from './spool.js';
import { compactSpool, type SpoolCompaction } from './spool-compact.js';
import { classifyStoreError } from './store-errors.js';
import { connectStore, describeStore, type StoreTarget } from './target.js';
import { WakeableSleep } from './wakeable-sleep.js';

export const RECORDS_CHANNEL = 'bastion_records';

export interface ShipperOptions {
  spoolPath: string;
  target: StoreTarget;
  gateway: string;
  log: Logger;
  /** How often the spool is checked for new records. */
  pollMs?: number;
  batchRecords?: number;
  batchBytes?: number;
  /** Longest wait between reconnection attempts. */
  maxBackoffMs?: number;
  /** How often a batch the store refused for its content is tried again (default 30 s). */
  rejectedRetryMs?: number;
  /** Drop the shared store's months whose sessions all started longer ago than this (null: never). */
  retentionMs?: number | null;
  /** Compact the spool's shipped sessions that ended longer ago than this (null: never). */
  spoolKeepMs?: number | null;
  /** How often retention and compaction run (default hourly; also once when first connected). */
  maintenanceMs?: number;
  /** Epoch milliseconds now (tests). */
  now?: () => number;
}

/** As the app shows it (shared/api.ts): one list of states. */
export type ShipperState = ShippingView['state'];

/** What one round of maintenance did (null: not configured, or it failed and was logged). */
export interface Maintenance {
  retention: RetentionOutcome | null;
  compaction: SpoolCompaction | null;
}

/** A batch the store refuses for its content. */
export interface RejectedBatch {
  firstId: number;
  lastId: number;
  sqlstate: string;
  message: string;
  /** Epoch milliseconds of the first refusal. */
  since: number;
  attempts: number;
}

/** What a team gateway shows of its shipping. */
export interface ShipperStatus {
  gateway: string;
  state: ShipperState;
  /** The last record the shared store has. */
  shippedId: number;
  /** The last record in the spool. */
  spoolHead: number;
  /** Set while the store refuses a batch for its content. */
  rejected: RejectedBatch | null;
  /** The last error (an outage's, a refusal's), without credentials. */
  error: string | null;
  /** Whether the shared store is partitioned by month (null until connected). */
  partitioned: boolean | null;
}

export class StoreShipper extends EventEmitter<{ state: [ShipperState]; shipped: [number] }> {
  private client: pg.Client | null = null;
  private spool: SpoolReader | null = null;
  /** The last record id the shared store has for this gateway. */
  private shipped = 0;
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly pause = new WakeableSleep();
  private current: ShipperState = 'connecting';
  private lastError: Error | null = null;
  private readonly pollMs: number;
  private readonly batchRecords: number;
  private readonly batchBytes: number;
  private readonly maxBackoffMs: number;
  private readonly rejectedRetryMs: number;
  private readonly maintenanceMs: number;
  private readonly now: () => number;
  private rejectedBatch: RejectedBatch | null = null;
  private partitioned: boolean | null = null;
  /** Months known to have partitions in the store (cleared when a batch finds one missing). */
  private readonly months = new Set<number>();
  private nextMaintenance = 0;
  /** Records per batch: batchRecords, fewer while a refused record is being isolated. */
  private batchLimit: number;
  private readonly maintenanceWaiters: ((m: Maintenance) => void)[] = [];

  constructor(private readonly opts: ShipperOptions) {
    super();
    this.pollMs = opts.pollMs ?? 50;
    this.batchRecords = opts.batchRecords ?? 2000;
    this.batchLimit = this.batchRecords;
    this.batchBytes = opts.batchBytes ?? 8 * 1024 * 1024;
    this.maxBackoffMs = opts.maxBackoffMs ?? 5000;
    this.rejectedRetryMs = opts.rejectedRetryMs ?? 30_000;
    this.maintenanceMs = opts.maintenanceMs ?? 3_600_000;
    this.now = opts.now ?? Date.now;
  }

  status(): ShipperStatus {
    return {
      gateway: this.opts.gateway,
      state: this.current,
      shippedId: this.shipped,
      spoolHead: this.spoolHead(),
      rejected: this.rejectedBatch ? { ...this.rejectedBatch } : null,
      error: this.lastError?.message ?? null,
      partitioned: this.partitioned,
    };
  }

  get state(): ShipperState {
    return this.current;
  }

  /** The last record id known to be in the shared store. */
  get shippedId(): number {
    return this.shipped;
  }

  get error(): Error | null {
    return this.lastError;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Ships what it can within `drainMs` (so a clean stop leaves nothing behind when the store is up), then stops. */
  async stop(drainMs = 5000): Promise<void> {
    if (!this.running) return;
    const deadline = Date.now() + drainMs;
    while (this.current === 'shipping' && Date.now() < deadline && this.pendingLocal() > 0) {
      await this.poke();
    }
    this.running = false;
    this.pause.wakeUp();
    await this.loop;
    this.setState('stopped');
  }

  /** Resolves once everything in the spool now has reached the shared store (tests, shutdown). */
  async drained(timeoutMs = 30_000): Promise<void> {
    const target = this.spoolHead();
    const deadline = Date.now() + timeoutMs;
    while (this.shipped < target) {
      if (Date.now() > deadline || !this.running) {
        throw new Error(
          `shipper: record ${target} not shipped after ${timeoutMs} ms (shipped ${this.shipped}; ${this.current}${this.lastError ? `: ${this.lastError.message}` : ''})`,
        );
      }
      await this.poke();
    }
  }

  private pendingLocal(): number {
    return this.spoolHead() - this.shipped;
  }

  private spoolHead(): number {
    try {
      this.spool ??= new SpoolReader(this.opts.spoolPath);
      return this.spool.head();
    } catch {
      return this.shipped;
    }
  }

  private poke(): Promise<void> {
    this.pause.wakeUp();
    return new Promise((r) => setTimeout(r, 10));
  }

  private setState(s: ShipperState): void {
    if (s === this.current) return;
    this.current = s;
    this.emit('state', s);
  }

  private sleep(ms: number): Promise<void> {
    return this.pause.sleep(ms);
  }

  private async run(): Promise<void> {
    const { log, target, gateway } = this.opts;
    let backoff = 250;
    let outage = false;
    let partitionRetried = false;
    while (this.running) {
      try {
        if (!this.client) {
          this.setState('connecting');
          await this.connect();
          if (outage) log.info(`shared store ${describeStore(target)} is back: replaying the spool`);
          outage = false;
          backoff = 250;
          this.setState('shipping');
        }
        const n = await this.shipBatch();
        partitionRetried = false;
        if (this.rejectedBatch && this.shipped >= this.rejectedBatch.firstId) {
          log.info(
            `shared store accepted ${span(this.rejectedBatch)} of gateway "${gateway}" now; shipping goes on`,
          );
          this.rejectedBatch = null;
          this.batchLimit = this.batchRecords;
        } else if (n > 0 && this.batchLimit < this.batchRecords) {
          // Isolating a refused record that the store took after all meanwhile: back to full batches.
          this.batchLimit = Math.min(this.batchRecords, this.batchLimit * 2);
        }
        if (this.current === 'rejected') this.setState('shipping');
        await this.maintainIfDue();
        if (n === 0) await this.sleep(this.pollMs);
      } catch (e) {
        const err = e as Error;
        this.lastError = err;
        if (err instanceof DivergedError) {
          await this.dropClient();
          log.error(err.message);
          this.setState('diverged');
          // Nothing more is shipped (or compacted) until an operator looks; the spool keeps recording.
          while (this.running) {
            this.answerMaintenance(NO_MAINTENANCE);
            await this.sleep(60_000);
          }
          break;
        }
        const failure = classifyStoreError(err);
        if (failure.kind === 'no-partition' && this.client && !partitionRetried) {
          // Retention dropped a month this batch needs since it was last seen: make it again.
          partitionRetried = true;
          this.months.clear();
          continue;
        }
        if (failure.kind !== 'outage' && this.client && err instanceof BatchError) {
          if (err.lastId > err.firstId) {
            // Halve the batch until the refused record is alone: what comes before it ships.
            this.batchLimit = Math.ceil((err.lastId - err.firstId + 1) / 2);
            continue;
          }
          this.noteRejected(err, failure.sqlstate);
          this.setState('rejected');
          // Slowly, and not sooner when someone waits for the spool to drain.
          await this.waitServing(this.rejectedRetryMs);
          continue;
        }
        await this.dropClient();
        if (!outage) {
          log.warn(
            `shared store ${describeStore(target)} unavailable (${err.message}); gateway "${gateway}" keeps recording to its spool and retries`,
          );
          outage = true;
        }
        this.setState('down');
        await this.sleep(backoff);
        if (this.maintenanceWaiters.length > 0) await this.maintainIfDue();
        backoff = Math.min(backoff * 2, this.maxBackoffMs);
      }
    }
    await this.dropClient();
    // Requests made while the store was away: compaction needs no connection.
    if (this.current === 'diverged') this.answerMaintenance(NO_MAINTENANCE);
    else await this.maintainIfDue().catch(() => this.answerMaintenance(NO_MAINTENANCE));
    this.spool?.close();
    this.spool = null;
  }

  private async connect(): Promise<void> {
    const client = await connectStore(this.opts.target, `bastion-shipper:${this.opts.gateway}`);
    try {
      const { partitioned, monthsError } = await ensurePgSchema(client, this.now() * 1000);
      if (monthsError !== null) {
        this.opts.log.warn(
          `shared store ${describeStore(this.opts.target)}: cannot make the coming months' partitions (${monthsError}); batches for a month without one are refused until the store's owner makes it or grants EXECUTE on bastion.ensure_months`,
        );
      }
      if (!partitioned && this.partitioned === null) {
        this.opts.log.info(
          `shared store ${describeStore(this.opts.target)} was made unpartitioned by an older Bastion: it keeps working as it is; retention by month (store_retention) is off there, prune records still apply`,
        );
      }
      this.partitioned = partitioned;
      this.months.clear();
      await client.query('INSERT INTO bastion.gateways (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [
        this.opts.gateway,
      ]);
      const r = await client.query('SELECT head_id, head_digest FROM bastion.gateways WHERE name = $1', [
        this.opts.gateway,
      ]);
      this.spool ??= new SpoolReader(this.opts.spoolPath);
      this.checkContinuity(r.rows[0].head_id as number, r.rows[0].head_digest as Buffer | null);
      this.shipped = r.rows[0].head_id as number;
    } catch (e) {
      await client.end().catch(() => {});
      throw e;
    }
    this.client = client;
  }

  /** The shared store's head for this gateway must be a record of this spool, digest and all. */
  private checkContinuity(headId: number, headDigest: Buffer | null): void {
    if (headId === 0) return;
    const spool = this.spool!;
    const where = `gateway "${this.opts.gateway}": the shared store has its chain up to record ${headId}`;
    if (spool.head() < headId) {
      throw new DivergedError(
        `${where}, but the spool ${spool.path} ends at record ${spool.head()}: it is not this gateway's spool (a new file, or another gateway with this name). Nothing is shipped; give this gateway its own name or its old spool.`,
      );
    }
    const local = spool.digestOf(headId);
    // A record pruned locally since it was shipped cannot be compared; the next ones still chain to it.
    if (local && headDigest && !local.equals(headDigest)) {
      throw new DivergedError(
        `${where}, whose digest differs from record ${headId} of the spool ${spool.path}: it is another chain (another gateway with this name?). Nothing is shipped.`,
      );
    }
  }

  /** Ships one batch; returns how many records it shipped. */
  private async shipBatch(): Promise<number> {
    const records = this.spool!.read(this.shipped, this.batchLimit, this.batchBytes);
    if (records.length === 0) return 0;
    const client = this.client!;
    const gateway = this.opts.gateway;
    const first = records[0].id;
    const last = records[records.length - 1];
    try {
      if (this.partitioned) {
        const missing = [...new Set(records.map((r) => monthOf(r.partUs)))].filter(
          (m) => !this.months.has(m),
        );
        if (missing.length > 0) {
          await ensureMonths(client, missing);
          for (const m of missing) this.months.add(m);
        }
      }
    } catch (e) {
      throw new BatchError(first, last.id, e);
    }
    await client.query('BEGIN');
    try {
      const r = await client.query('SELECT head_id FROM bastion.gateways WHERE name = $1 FOR UPDATE', [
        gateway,
      ]);
      const head = r.rows[0]?.head_id as number | undefined;
      if (head !== this.shipped) {
        throw new DivergedError(
          `gateway "${gateway}": another shipper moved its chain in the shared store to record ${head} (this one had ${this.shipped}); two gateways run under one name. Nothing more is shipped from ${this.opts.spoolPath}.`,
        );
      }
      await applyRecords(client, gateway, records);
      await client.query(
        'UPDATE bastion.gateways SET head_id = $2, head_digest = $3, shipped_at = $4 WHERE name = $1',
        [gateway, last.id, last.digest, Date.now() * 1000],
      );
      await client.query('SELECT pg_notify($1, $2)', [RECORDS_CHANNEL, gateway]);
      await client.query('COMMIT');
      this.shipped = last.id;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e instanceof DivergedError ? e : new BatchError(first, last.id, e);
    }
    this.emit('shipped', this.shipped);
    return records.length;
  }

  private async dropClient(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => {});
  }

  /** Logs a refused record once per record and SQLSTATE; counts the attempts. */
  private noteRejected(err: BatchError, sqlstate: string): void {
    const known = this.rejectedBatch;
    if (known && known.firstId === err.firstId && known.sqlstate === sqlstate) {
      known.attempts++;
      known.lastId = err.lastId;
      return;
    }
    this.rejectedBatch = {
      firstId: err.firstId,
      lastId: err.lastId,
      sqlstate,
      message: err.message,
      since: this.now(),
      attempts: 1,
    };
    const every =
      this.rejectedRetryMs < 1000
        ? `${this.rejectedRetryMs} ms`
        : `${Math.round(this.rejectedRetryMs / 1000)} s`;
    this.opts.log.error(
      `shared store ${describeStore(this.opts.target)} refuses ${span(this.rejectedBatch)} of gateway "${this.opts.gateway}" (SQLSTATE ${sqlstate}: ${err.message}); nothing is skipped: it is tried again every ${every} until the store takes it, and the spool keeps recording`,
    );
  }

  /**
   * Runs retention and compaction now (tests, an operator's request): between two batches, on the
   * shipping connection, which never runs two transactions at once.
   */
  maintain(): Promise<Maintenance> {
    if (!this.running) return this.runMaintenance();
    return new Promise((resolve) => {
      this.maintenanceWaiters.push(resolve);
      this.pause.wakeUp();
    });
  }

  /**
   * Waits `ms` while nothing ships (an outage, a refused batch), not cut short by pokes, but
   * serving maintenance requests meanwhile: compaction of what was shipped needs no shipping.
   */
  private async waitServing(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (this.running && Date.now() < until) {
      await this.sleep(until - Date.now());
      if (this.maintenanceWaiters.length > 0) await this.maintainIfDue();
    }
  }

  private answerMaintenance(m: Maintenance): void {
    for (const w of this.maintenanceWaiters.splice(0)) w(m);
  }

  /** Runs due or requested maintenance from the shipping loop. */
  private async maintainIfDue(): Promise<void> {
    if (this.maintenanceWaiters.length === 0 && this.now() < this.nextMaintenance) return;
    const waiters = this.maintenanceWaiters.splice(0);
    const done = await this.runMaintenance();
    for (const w of waiters) w(done);
  }

  /**
   * Retention of the shared store and compaction of the spool, when configured. A failure is
   * logged and tried again next time; shipping goes on.
   */
  private async runMaintenance(): Promise<Maintenance> {
    this.nextMaintenance = this.now() + this.maintenanceMs;
    const { retentionMs, spoolKeepMs, log, gateway } = this.opts;
    const nowUs = this.now() * 1000;
    let retention: RetentionOutcome | null = null;
    let compaction: SpoolCompaction | null = null;
    if (retentionMs && this.client) {
      try {
        retention = await dropMonthsBefore(this.client, nowUs - retentionMs * 1000, log, nowUs);
        if (retention.dropped.length > 0) this.months.clear();
      } catch (e) {
        log.warn(`shared store retention failed (tried again later): ${(e as Error).message}`);
      }
    }
    if (spoolKeepMs && this.shipped > 0) {
      try {
        compaction = compactSpool(this.opts.spoolPath, this.shipped, nowUs - spoolKeepMs * 1000);
        if (compaction.sessions > 0) {
          log.info(
            `spool of gateway "${gateway}" compacted: ${compaction.sessions} shipped sessions (${compaction.records} records) removed`,
          );
        }
      } catch (e) {
        log.warn(`spool compaction failed (tried again later): ${(e as Error).message}`);
      }
    }
    return { retention, compaction };
  }
}

/** "record 12" or "records 12..40". */
function span(b: { firstId: number; lastId: number }): string {
  return b.firstId === b.lastId ? `record ${b.firstId}` : `records ${b.firstId}..${b.lastId}`;
}

const NO_MAINTENANCE: Maintenance = { retention: null, compaction: null };

class DivergedError extends Error {}

/** A batch's records failed to apply: which ones, with the store's error (and its SQLSTATE). */
class BatchError extends Error {
  readonly code: string | undefined;
  constructor(
    readonly firstId: number,
    readonly lastId: number,
    cause: unknown,
  ) {
    super((cause as Error)?.message ?? String(cause), { cause });
    this.code = (cause as { code?: string })?.code;
  }
}
