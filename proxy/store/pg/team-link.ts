// What a gateway in team mode runs beside its local recording: the shipper (spool -> shared store)
// and the approvals bridge (decisions made elsewhere -> its ApprovalQueue). AppCore starts and
// stops it; nothing here is on the data path.

import type { Approval } from '../../../shared/api.js';
import type { ApprovalQueue } from '../../approvals/queue.js';
import { DEFAULT_SPOOL_KEEP_MS } from '../../config/team.js';
import type { TeamConfig } from '../../config/types.js';
import type { Logger } from '../../session/session.js';
import { ApprovalsBridge } from './decisions.js';
import { FleetFeed, type FleetFeedEvents } from './fleet-feed.js';
import { type ShipperStatus, StoreShipper } from './shipper.js';
import { describeStore } from './target.js';

export class TeamLink {
  readonly shipper: StoreShipper;
  readonly bridge: ApprovalsBridge;
  /** The other gateways' live traffic, for this gateway's API (null: nobody listens). */
  readonly feed: FleetFeed | null;

  constructor(
    readonly config: TeamConfig,
    spoolPath: string,
    queue: ApprovalQueue,
    private readonly log: Logger,
    fleetEvents: FleetFeedEvents | null = null,
  ) {
    this.shipper = new StoreShipper({
      spoolPath,
      target: config.target,
      gateway: config.gateway,
      log,
      retentionMs: config.storeRetentionMs ?? null,
      spoolKeepMs: config.spoolKeepMs === undefined ? DEFAULT_SPOOL_KEEP_MS : config.spoolKeepMs,
    });
    this.bridge = new ApprovalsBridge(config.target, config.gateway, queue, log);
    this.feed = fleetEvents ? new FleetFeed(config.target, config.gateway, fleetEvents, log) : null;
  }

  /** The shared store, as it may be shown (no password). */
  get storeName(): string {
    return describeStore(this.config.target);
  }

  /** Shipping as the API may show it: state, how far, and a batch the store refuses, if any. */
  get status(): ShipperStatus & { store: string } {
    return { ...this.shipper.status(), store: this.storeName };
  }

  start(): void {
    this.log.info(`team mode: gateway "${this.config.gateway}" ships its recordings to ${this.storeName}`);
    this.shipper.start();
    this.bridge.start();
    this.feed?.start();
  }

  /** Decides an approval held by another gateway of the fleet. */
  decide(id: string, decision: 'approve' | 'deny', by: string): Promise<Approval> {
    return this.bridge.decide(id, decision, by);
  }

  /** After the last recording reached the spool: ships what it can, then stops. */
  async stop(): Promise<void> {
    await this.feed?.stop();
    await this.bridge.stop();
    await this.shipper.stop();
    const left = this.shipper.state === 'stopped' ? null : this.shipper.error;
    if (left) this.log.warn(`shared store: ${left.message}; the spool keeps the rest for the next start`);
  }
}
