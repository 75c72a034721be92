// Batches store entries from every session and writes them in one transaction per batch, off
// the data path (sessions only enqueue). If the store fails, entries are kept and retried, and
// `healthy` turns false so sessions refuse new statements (fail closed) until a write succeeds.

import type { PruneResult, SessionStore, StoreEntry } from './types.js';

/**
 * Where sessions, approvals and policy changes send their records: the in-thread StoreWriter
 * below, or WorkerStoreWriter (worker-writer.ts), which writes a SQLite file on its own thread.
 * Both write in enqueue order and fail closed the same way.
 */
export interface RecordWriter {
  /** False while the store cannot be written: sessions must refuse new statements. */
  readonly healthy: boolean;
  readonly lastError: Error | null;
  /** Entries enqueued and not yet written. */
  readonly backlog: number;
  /** Entries written since start. */
  readonly written: number;
  /** Entries enqueued since start: a position in the record stream. */
  readonly enqueued: number;
  /** Entries durably written since start, in enqueue order (the first `durable` are safe). */
  readonly durable: number;
  /**
   * Calls `done(true)` (never synchronously) once the first `position` entries are durable. What
   * a client is told happened must be on record first; if the store fails and does not recover
   * within the writer's ack timeout, `done(false)`.
   */
  whenDurable(position: number, done: (ok: boolean) => void): void;
  /**
   * Makes what is enqueued durable now if that is cheap (a journal append); returns `durable`.
   * Writers without a journal return `durable` unchanged (their callers wait with whenDurable).
   */
  makeDurable(): number;
  enqueue(entry: StoreEntry): void;
  /** Writes everything enqueued so far before returning. False if the store failed (entries are kept). */
  flush(): boolean;
  /** Appends `entries` after everything enqueued, durably before returning; throws if that fails. */
  commit(entries: readonly StoreEntry[]): void;
  /** Retention, run by the writer so the chain has one writer. */
  prune(before: number, connection?: string): PruneResult;
  /** As flush, for the event loop: resolves once written, without blocking it while the store catches up. */
  flushAsync(): Promise<boolean>;
  /** As prune, for the event loop (the periodic retention job): never blocks it. */
  pruneAsync(before: number, connection?: string): Promise<PruneResult>;
  /** Flushes and stops. The store stays open (its owner closes it). */
  close(): boolean;
}

export interface StoreWriterOptions {
  /** Longest time an entry waits before it is written. */
  flushIntervalMs?: number;
  /** Pending bytes that trigger an immediate flush. */
  flushBytes?: number;
  /** How often a failed store is retried. */
  retryMs?: number;
  /** How long acknowledgements wait for a failed store to recover (see whenDurable). */
  ackTimeoutMs?: number;
  onError?: (e: Error) => void;
  onRecovered?: () => void;
}

/** Sessions waiting for their acknowledgements to be durable (see RecordWriter.whenDurable). */
/** Default of `ackTimeoutMs`: a few retries of a failed store. */
export const ACK_TIMEOUT_MS = 5000;

export class DurabilityWaiters {
  private waiters: { position: number; done: (ok: boolean) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly timeoutMs: number) {}

  /** How many are waiting. */
  get size(): number {
    return this.waiters.length;
  }

  add(position: number, done: (ok: boolean) => void, durable: number, failing: boolean): void {
    if (durable >= position) {
      queueMicrotask(() => done(true));
      return;
    }
    this.waiters.push({ position, done });
    if (failing) this.failing();
  }

  /** Never calls back synchronously: this may run inside another session's synchronous call. */
  release(durable: number): void {
    if (this.waiters.length === 0) return;
    let kept = 0;
    for (const w of this.waiters) {
      if (w.position <= durable) queueMicrotask(() => w.done(true));
      else this.waiters[kept++] = w;
    }
    this.waiters.length = kept;
  }

  /** The store fails: waiters still waiting when the timeout passes are told it failed. */
  failing(): void {
    if (this.timer !== null || this.waiters.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const failed = this.waiters;
      this.waiters = [];
      for (const w of failed) w.done(false);
    }, this.timeoutMs);
    this.timer.unref();
  }

  recovered(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

export class StoreWriter implements RecordWriter {
  private pending: StoreEntry[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private failure: Error | null = null;
  private closed = false;
  private readonly flushIntervalMs: number;
  private readonly flushBytes: number;
  private readonly retryMs: number;
  /** Entries written since start (for tests, metrics). */
  written = 0;
  private enqueuedCount = 0;
  private readonly waiters: DurabilityWaiters;

  constructor(
    readonly store: SessionStore,
    private readonly opts: StoreWriterOptions = {},
  ) {
    this.flushIntervalMs = opts.flushIntervalMs ?? 15;
    this.flushBytes = opts.flushBytes ?? 4 * 1024 * 1024;
    this.retryMs = opts.retryMs ?? 1000;
    this.waiters = new DurabilityWaiters(opts.ackTimeoutMs ?? ACK_TIMEOUT_MS);
  }

  /** False while the store cannot be written: sessions must refuse new statements. */
  get healthy(): boolean {
    return this.failure === null;
  }

  get lastError(): Error | null {
    return this.failure;
  }

  get backlog(): number {
    return this.pending.length;
  }

  get enqueued(): number {
    return this.enqueuedCount;
  }

  get durable(): number {
    return this.written;
  }

  makeDurable(): number {
    return this.written;
  }

  whenDurable(position: number, done: (ok: boolean) => void): void {
    this.waiters.add(position, done, this.written, this.failure !== null);
    if (this.written < position && this.failure === null) {
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        this.flush();
      });
    }
  }

  enqueue(entry: StoreEntry): void {
    if (this.closed) throw new Error('store writer is closed');
    this.enqueuedCount++;
    this.pending.push(entry);
    if (entry.kind === 'frames') this.pendingBytes += entry.data.length;
    if (this.failure !== null) return; // the retry timer is running
    if (this.pendingBytes >= this.flushBytes) {
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        this.flush();
      });
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = null;
        this.flush();
      }, this.flushIntervalMs);
    }
  }

  /** Writes everything pending now. Returns false if the store failed (entries are kept). */
  flush(): boolean {
    if (this.pending.length === 0) return true;
    const batch = this.pending;
    try {
      this.store.append(batch);
    } catch (e) {
      const first = this.failure === null;
      this.failure = e as Error;
      if (first) this.opts.onError?.(this.failure);
      this.waiters.failing();
      this.scheduleRetry();
      return false;
    }
    this.written += batch.length;
    this.pending = [];
    this.pendingBytes = 0;
    this.waiters.release(this.written);
    if (this.failure !== null) {
      this.failure = null;
      this.waiters.recovered();
      this.opts.onRecovered?.();
    }
    return true;
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.retryMs);
    this.timer.unref();
  }

  commit(entries: readonly StoreEntry[]): void {
    if (!this.flush()) throw this.failure ?? new Error('the store cannot be written');
    this.store.append(entries);
    this.written += entries.length;
  }

  prune(before: number, connection?: string): PruneResult {
    if (!this.flush()) throw this.failure ?? new Error('the store cannot be written');
    return this.store.prune(before, connection);
  }

  // This writer writes on the caller's thread: there is nothing to wait for but the work itself.
  async flushAsync(): Promise<boolean> {
    return this.flush();
  }

  async pruneAsync(before: number, connection?: string): Promise<PruneResult> {
    return this.prune(before, connection);
  }

  /** Flushes and stops timers. The store stays open (its owner closes it). */
  close(): boolean {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    const ok = this.flush();
    this.closed = true;
    return ok;
  }
}
