// Live traffic of the other gateways of a fleet, for the live inspector: LISTENs on
// `bastion_records` (each shipper NOTIFYs its gateway's name after a batch), reads what that
// gateway's batches added to the shared store's projections since last time (statements, sessions
// opened and closed) and hands it on. It starts from what the store holds at start (no history
// replay) and, after an outage, catches up from where it was. Nothing here is on the data path.

import type pg from 'pg';
import type { LiveStatement } from '../../../shared/api.js';
import type { SessionInfo } from '../../../shared/types.js';
import type { Logger } from '../../session/session.js';
import { rowToSession, rowToStatement } from '../rows.js';
import { RECORDS_CHANNEL } from './shipper.js';
import { connectStore, describeStore, type StoreTarget } from './target.js';
import { WakeableSleep } from './wakeable-sleep.js';

export interface FleetFeedEvents {
  statement(s: LiveStatement): void;
  sessionOpened(s: SessionInfo): void;
  sessionClosed(s: SessionInfo): void;
}

/** Rows per gateway and kind read per wake-up; more are read on the next. */
const PAGE = 500;

export class FleetFeed {
  private client: pg.Client | null = null;
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly pause = new WakeableSleep();
  /** Per gateway: the highest record id handed on (statements, session opens and closes). */
  private readonly seen = new Map<string, number>();
  private started = false;

  constructor(
    private readonly target: StoreTarget,
    /** This gateway: its own traffic reaches the inspector directly. */
    private readonly gateway: string,
    private readonly on: FleetFeedEvents,
    private readonly log: Logger,
    private readonly pollMs = 2000,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.pause.wakeUp();
    await this.loop;
    await this.client?.end().catch(() => {});
    this.client = null;
  }

  private async run(): Promise<void> {
    let backoff = 250;
    while (this.running) {
      try {
        if (this.client === null) {
          const c = await connectStore(this.target, `bastion fleet feed (${this.gateway})`);
          c.on('error', () => {});
          c.on('end', () => {
            if (this.client === c) this.client = null;
          });
          c.on('notification', (n) => {
            if (n.channel === RECORDS_CHANNEL && n.payload !== this.gateway) this.pause.wakeUp();
          });
          await c.query(`LISTEN ${RECORDS_CHANNEL}`);
          this.client = c;
          if (!this.started) await this.startFromNow(c);
          backoff = 250;
        }
        // The poll also catches what was shipped while the connection was down.
        await this.readNew(this.client);
        await this.pause.sleep(this.pollMs);
      } catch (e) {
        const c = this.client;
        this.client = null;
        await c?.end().catch(() => {});
        if (!this.running) break;
        this.log.warn(`fleet feed: ${describeStore(this.target)}: ${(e as Error).message}; retrying`);
        await this.pause.sleep(backoff);
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  /** Live means from now on: the watermarks start at what the store already holds. */
  private async startFromNow(c: pg.Client): Promise<void> {
    const r = await c.query<{ name: string; head_id: number | string }>(
      'SELECT name, head_id FROM bastion.gateways',
    );
    for (const row of r.rows) this.seen.set(row.name, Number(row.head_id));
    this.started = true;
  }

  private async readNew(c: pg.Client | null): Promise<void> {
    if (c === null) return;
    const gateways = await c.query<{ name: string }>('SELECT name FROM bastion.gateways WHERE name <> $1', [
      this.gateway,
    ]);
    for (const { name: gateway } of gateways.rows) {
      const from = this.seen.get(gateway) ?? 0;
      const args = [gateway, from];
      // One snapshot for the three reads: a batch committing between them would otherwise show its
      // close but not its statements, and the watermark would then pass the statements by. One
      // query after another: a pg client runs one at a time (queueing them is deprecated).
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      let opened: pg.QueryResult;
      let statements: pg.QueryResult;
      let closed: pg.QueryResult;
      try {
        opened = await c.query(
          `SELECT *, open_record_id AS at FROM bastion.sessions
          WHERE gateway = $1 AND open_record_id > $2 ORDER BY open_record_id LIMIT ${PAGE}`,
          args,
        );
        statements = await c.query(
          `SELECT s.*, s.record_id AS at, se.identity, se.connection FROM bastion.statements s
           JOIN bastion.sessions se ON se.id = s.session_id
          WHERE s.gateway = $1 AND s.record_id > $2 ORDER BY s.record_id LIMIT ${PAGE}`,
          args,
        );
        closed = await c.query(
          `SELECT *, close_record_id AS at FROM bastion.sessions
          WHERE gateway = $1 AND close_record_id > $2 ORDER BY close_record_id LIMIT ${PAGE}`,
          args,
        );
      } finally {
        await c.query('COMMIT');
      }
      // A kind cut at PAGE rows caps what is handed on now, so nothing is skipped next time.
      let cap = Number.POSITIVE_INFINITY;
      for (const r of [opened, statements, closed]) {
        if (r.rows.length === PAGE) cap = Math.min(cap, Number(r.rows[PAGE - 1].at));
      }
      type Item = { at: number; emit: () => void };
      const items: Item[] = [
        ...opened.rows.map((row) => ({
          at: Number(row.at),
          emit: () => this.on.sessionOpened(rowToSession(row)),
        })),
        ...statements.rows.map((row) => ({
          at: Number(row.at),
          emit: () =>
            this.on.statement({
              ...rowToStatement(row),
              identity: row.identity as string,
              connection: row.connection as string,
            }),
        })),
        ...closed.rows.map((row) => ({
          at: Number(row.at),
          emit: () => this.on.sessionClosed(rowToSession(row)),
        })),
      ]
        .filter((i) => i.at <= cap)
        .sort((a, b) => a.at - b.at);
      for (const i of items) i.emit();
      const head = Number.isFinite(cap) ? cap : Math.max(from, ...items.map((i) => i.at));
      this.seen.set(gateway, head);
    }
  }
}
