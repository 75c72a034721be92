// Approvals across gateways. A statement is held in the ApprovalQueue of the gateway it arrived
// on; anyone connected to the shared store (another gateway's API, the CLI, the app) may decide it:
// the decision goes into `bastion.decisions` and a NOTIFY on `bastion_decisions` (payload: the
// holding gateway). The holder LISTENs (reconnecting, and catching up on what it missed), applies
// the decision to its queue (which records it in its own chain, so it ships back like any record),
// and notes the outcome on the decision row, which the decider waits for.

import type pg from 'pg';
import type { Approval } from '../../../shared/api.js';
import { ApprovalError, type ApprovalQueue } from '../../approvals/queue.js';
import type { Logger } from '../../session/session.js';
import { rowToApproval } from './rows.js';
import { connectStore, describeStore, type StoreTarget } from './target.js';
import { WakeableSleep } from './wakeable-sleep.js';

export const DECISIONS_CHANNEL = 'bastion_decisions';

/**
 * Records a decision on an approval held anywhere in the fleet and waits (up to `waitMs`) for the
 * holding gateway to apply it. Throws an ApprovalError like the queue's own decide: unknown id, not
 * pending, or an identity approving its own statement.
 */
export async function decideInSharedStore(
  client: pg.Client,
  id: string,
  decision: 'approve' | 'deny',
  by: string,
  waitMs = 3000,
): Promise<Approval> {
  let approval: Approval;
  let gateway: string;
  await client.query('BEGIN');
  try {
    const r = await client.query('SELECT * FROM bastion.approvals WHERE id = $1', [id]);
    if (r.rows.length === 0) throw new ApprovalError('not-found', `no approval ${id}`);
    approval = rowToApproval(r.rows[0]);
    gateway = r.rows[0].gateway as string;
    if (approval.state !== 'pending')
      throw new ApprovalError('not-pending', `approval ${id} is already ${approval.state}`);
    if (decision === 'approve' && by === approval.identity) {
      throw new ApprovalError('self-approval', `"${by}" cannot approve its own statement`);
    }
    const ins = await client.query(
      `INSERT INTO bastion.decisions (approval_id, gateway, decision, decided_by, decided_at)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (approval_id) DO NOTHING RETURNING approval_id`,
      [id, gateway, decision, by, Date.now() * 1000],
    );
    if (ins.rows.length === 0) {
      const d = await client.query(
        'SELECT decision, decided_by FROM bastion.decisions WHERE approval_id = $1',
        [id],
      );
      throw new ApprovalError(
        'not-pending',
        `approval ${id} was already decided (${d.rows[0]?.decision} by ${d.rows[0]?.decided_by})`,
      );
    }
    await client.query('SELECT pg_notify($1, $2)', [DECISIONS_CHANNEL, gateway]);
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  }
  const deadline = Date.now() + waitMs;
  for (;;) {
    const d = await client.query(
      'SELECT applied_at, outcome, error FROM bastion.decisions WHERE approval_id = $1',
      [id],
    );
    const row = d.rows[0];
    if (row?.applied_at != null) {
      if (row.error)
        throw new ApprovalError('not-pending', `gateway "${gateway}" could not apply it: ${row.error}`);
      return { ...approval, state: row.outcome, decidedBy: by, decidedAt: row.applied_at };
    }
    if (Date.now() > deadline) {
      // Recorded; the holder applies it when it sees it (its client is released then).
      return {
        ...approval,
        state: decision === 'approve' ? 'approved' : 'denied',
        decidedBy: by,
        decidedAt: Date.now() * 1000,
      };
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A gateway's side: LISTENs for decisions on the statements it holds and applies them to its
 * queue; and decides, through the shared store, approvals its own queue does not hold.
 */
export class ApprovalsBridge {
  private client: pg.Client | null = null;
  /** Set when the listening connection fails or ends: the loop then reconnects. */
  private lost = false;
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly pause = new WakeableSleep();
  private applying: Promise<void> = Promise.resolve();

  constructor(
    private readonly target: StoreTarget,
    private readonly gateway: string,
    private readonly queue: ApprovalQueue,
    private readonly log: Logger,
    /** A safety net beside NOTIFY: how often unapplied decisions are looked for anyway. */
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
  }

  /** A decision on an approval another gateway holds (the local queue said not-found). */
  async decide(id: string, decision: 'approve' | 'deny', by: string): Promise<Approval> {
    const client = await connectStore(this.target, `bastion-decide:${this.gateway}`);
    try {
      return await decideInSharedStore(client, id, decision, by);
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** Pending approvals held by every gateway (as far as they have shipped). */
  async pending(): Promise<Approval[]> {
    const client = await connectStore(this.target, `bastion-decide:${this.gateway}`);
    try {
      const r = await client.query(
        "SELECT * FROM bastion.approvals WHERE state = 'pending' ORDER BY requested_at DESC LIMIT 1000",
      );
      return r.rows.map(rowToApproval);
    } finally {
      await client.end().catch(() => {});
    }
  }

  private sleep(ms: number): Promise<void> {
    return this.pause.sleep(ms);
  }

  private async run(): Promise<void> {
    let backoff = 250;
    let outage = false;
    while (this.running) {
      try {
        if (!this.client) {
          const c = await connectStore(this.target, `bastion-approvals:${this.gateway}`);
          this.lost = false;
          const onLost = () => {
            this.lost = true;
            this.pause.wakeUp();
          };
          c.on('error', onLost);
          c.on('end', onLost);
          c.on('notification', (n) => {
            if (n.channel === DECISIONS_CHANNEL && n.payload === this.gateway) this.kick();
          });
          await c.query(`LISTEN ${DECISIONS_CHANNEL}`);
          this.client = c;
          if (outage) this.log.info(`approvals: listening on ${describeStore(this.target)} again`);
          outage = false;
          backoff = 250;
        }
        this.kick(); // catch up on anything decided while not listening
        await this.applying;
        await this.sleep(this.pollMs);
        if (this.lost) throw new Error('connection lost');
      } catch (e) {
        const c = this.client;
        this.client = null;
        if (c) await c.end().catch(() => {});
        if (!this.running) break;
        if (!outage) {
          this.log.warn(
            `approvals: cannot listen on ${describeStore(this.target)} (${(e as Error).message}); decisions made elsewhere wait until it is back`,
          );
          outage = true;
        }
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => {});
  }

  private kick(): void {
    this.applying = this.applying.then(() => this.apply()).catch(() => {});
  }

  private async apply(): Promise<void> {
    const c = this.client;
    if (!c) return;
    const r = await c.query(
      'SELECT approval_id, decision, decided_by FROM bastion.decisions WHERE gateway = $1 AND applied_at IS NULL',
      [this.gateway],
    );
    for (const d of r.rows) {
      let outcome: string | null = null;
      let error: string | null = null;
      try {
        outcome = this.queue.decide(d.approval_id, d.decision, d.decided_by).state;
      } catch (e) {
        error = e instanceof ApprovalError ? e.message : `failed: ${(e as Error).message}`;
      }
      await c.query(
        'UPDATE bastion.decisions SET applied_at = $2, outcome = $3, error = $4 WHERE approval_id = $1',
        [d.approval_id, Date.now() * 1000, outcome, error],
      );
    }
  }
}
