// Events to a host's client in batches: statements come at thousands per second, and one message
// per event would cost the client a wake-up each. Every event within one frame's time (16 ms) goes
// in one batch, in order. Used by every host that forwards events (Electron IPC, the UI's WebSocket).

import type { BastionEvent } from '../../shared/api.js';

/** One display frame: a client cannot show anything sooner. */
export const BATCH_INTERVAL_MS = 16;

export class EventBatcher {
  private batch: BastionEvent[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly send: (events: BastionEvent[]) => void,
    private readonly intervalMs = BATCH_INTERVAL_MS,
  ) {}

  push(e: BastionEvent): void {
    this.batch.push(e);
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  /** Sends what is waiting now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.batch.length === 0) return;
    const events = this.batch;
    this.batch = [];
    this.send(events);
  }

  /** Drops what is waiting (the client is gone). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.batch = [];
  }
}
