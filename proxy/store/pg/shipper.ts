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

import { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { Logger } from '../../session/session.js';
import { applyRecords } from './project.js';
import { ensurePgSchema } from './schema.js';
import { SpoolReader } from './spool.js';
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
}

export type ShipperState = 'connecting' | 'shipping' | 'down' | 'diverged' | 'stopped';

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

  constructor(private readonly opts: ShipperOptions) {
    super();
    this.pollMs = opts.pollMs ?? 50;
    this.batchRecords = opts.batchRecords ?? 2000;
    this.batchBytes = opts.batchBytes ?? 8 * 1024 * 1024;
    this.maxBackoffMs = opts.maxBackoffMs ?? 5000;
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
        if (n === 0) await this.sleep(this.pollMs);
      } catch (e) {
        const err = e as Error;
        this.lastError = err;
        await this.dropClient();
        if (err instanceof DivergedError) {
          log.error(err.message);
          this.setState('diverged');
          // Nothing more is shipped until an operator looks; the spool keeps recording.
          while (this.running) await this.sleep(60_000);
          break;
        }
        if (!outage) {
          log.warn(
            `shared store ${describeStore(target)} unavailable (${err.message}); gateway "${gateway}" keeps recording to its spool and retries`,
          );
          outage = true;
        }
        this.setState('down');
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.maxBackoffMs);
      }
    }
    await this.dropClient();
    this.spool?.close();
    this.spool = null;
  }

  private async connect(): Promise<void> {
    const client = await connectStore(this.opts.target, `bastion-shipper:${this.opts.gateway}`);
    try {
      await ensurePgSchema(client);
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
    const records = this.spool!.read(this.shipped, this.batchRecords, this.batchBytes);
    if (records.length === 0) return 0;
    const client = this.client!;
    const gateway = this.opts.gateway;
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
      const last = records[records.length - 1];
      await client.query(
        'UPDATE bastion.gateways SET head_id = $2, head_digest = $3, shipped_at = $4 WHERE name = $1',
        [gateway, last.id, last.digest, Date.now() * 1000],
      );
      await client.query('SELECT pg_notify($1, $2)', [RECORDS_CHANNEL, gateway]);
      await client.query('COMMIT');
      this.shipped = last.id;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    }
    this.emit('shipped', this.shipped);
    return records.length;
  }

  private async dropClient(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => {});
  }
}

class DivergedError extends Error {}
