// Acknowledgement gating: what the server sends reaches the client only once the records of the
// statements it reports done are durable, so a gateway killed at any moment has recorded whatever
// a client saw finish.

import type net from 'node:net';
import type { RecordWriter } from '../store/writer.js';
import { SegmentList } from '../wire/segments.js';

export interface AckGateHooks {
  /** The session has closed: nothing more is sent. */
  closed(): boolean;
  /** The writer could not make the acknowledged records durable. */
  failed(): void;
}

export class AckGate {
  /** Bytes due to the client, in order. */
  readonly toClient = new SegmentList();
  /**
   * Writer position (entries enqueued) that must be durable before the bytes in `toClient` may
   * reach the client: set when they hold a CommandComplete, so a gateway killed at any moment
   * has recorded whatever a client saw finish.
   */
  private ackMark = 0;
  private sawAck = false;
  /** Waiting for the writer to reach `ackMark`; the upstream is paused meanwhile. */
  private holdingAcks = false;
  /** What to do once the held bytes are sent (the upstream closed meanwhile). */
  private afterHold: (() => void) | null = null;

  constructor(
    private readonly writer: RecordWriter,
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
    private readonly hooks: AckGateHooks,
  ) {}

  /** Waiting for records to become durable (the upstream is paused). */
  get holding(): boolean {
    return this.holdingAcks;
  }

  /** `toClient` now holds a CommandComplete. */
  sawCommandComplete(): void {
    this.sawAck = true;
  }

  /**
   * A chunk from the server is recorded (its entries enqueued): the acknowledgements in it may
   * not reach the client before the writer has made them durable.
   */
  chunkRecorded(): void {
    if (this.sawAck) {
      this.sawAck = false;
      this.ackMark = this.writer.enqueued;
    }
  }

  /** While holding: runs `next` once the held bytes are sent, instead of resuming the upstream. */
  afterRelease(next: () => void): void {
    this.afterHold = next;
  }

  /** Sends what the client is due once its acknowledgements are recorded durably. */
  release(): void {
    if (this.holdingAcks || this.hooks.closed()) return;
    const writer = this.writer;
    if (writer.durable < this.ackMark && writer.makeDurable() < this.ackMark) {
      this.holdingAcks = true;
      this.upstream.pause();
      writer.whenDurable(this.ackMark, (ok) => {
        this.holdingAcks = false;
        if (this.hooks.closed()) return;
        if (!ok) {
          this.hooks.failed();
          return;
        }
        // Checks the mark again: data for a later one may have arrived meanwhile.
        this.release();
        if (this.holdingAcks) return;
        if (this.afterHold !== null) {
          const next = this.afterHold;
          this.afterHold = null;
          next();
        } else if (!this.client.writableNeedDrain) this.upstream.resume();
      });
      return;
    }
    if (!this.toClient.writeTo(this.client)) this.upstream.pause();
  }
}
