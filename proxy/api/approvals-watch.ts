// Approvals of a shared store the app opened, as events: statements any gateway holds (and their
// outcomes) reach the Approvals screen and the tray while the store is open, not only on reload.
// The shipper NOTIFYs `bastion_records` after every batch; this wakes on it (and looks every few
// seconds anyway) and hands on each approval whose state it has not handed on yet. Its own async
// connection: the host's event loop never blocks on it.

import type pg from 'pg';
import type { Approval } from '../../shared/api.js';
import type { StoreTarget } from '../store/pg/target.js';

const RECORDS_CHANNEL = 'bastion_records';
/** The newest approvals looked at per round: far more than are ever pending at once. */
const WINDOW = 500;

export class ApprovalsWatch {
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** Per approval id: the state last handed on. */
  private readonly seen = new Map<string, string>();

  constructor(
    private readonly target: StoreTarget,
    private readonly changed: (a: Approval) => void,
    private readonly pollMs = 2000,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    const { connectStore } = await import('../store/pg/target.js');
    const { rowToApproval } = await import('../store/pg/rows.js');
    let client: pg.Client | null = null;
    let first = true;
    let backoff = 250;
    while (this.running) {
      try {
        if (!client) {
          const c = await connectStore(this.target, 'bastion-app-approvals');
          c.on('notification', () => this.wake?.());
          c.on('error', () => {});
          await c.query(`LISTEN ${RECORDS_CHANNEL}`);
          client = c;
        }
        const r = await client.query(
          'SELECT * FROM bastion.approvals ORDER BY requested_at DESC, id DESC LIMIT $1',
          [WINDOW],
        );
        const ids = new Set<string>();
        for (const row of r.rows.reverse()) {
          const a = rowToApproval(row);
          ids.add(a.id);
          if (this.seen.get(a.id) === a.state) continue;
          this.seen.set(a.id, a.state);
          // What the store held when it was opened was listed then; only changes from now on.
          if (!first) this.changed(a);
        }
        for (const id of this.seen.keys()) if (!ids.has(id)) this.seen.delete(id);
        first = false;
        backoff = 250;
        await this.pause(this.pollMs);
      } catch {
        await client?.end().catch(() => {});
        client = null;
        if (!this.running) break;
        await this.pause(backoff);
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
    await client?.end().catch(() => {});
  }
}
