// Writes the recording of every session into the SQLite store on a worker thread, so the SQLite
// transactions, the chain's SHA-256 and the full-text index never block the event loop that
// relays traffic. Entries are handed over once per event-loop turn; the worker writes whatever
// has arrived in one transaction (group commit), reports progress, and on failure keeps the
// entries and retries, while `healthy` turns false so sessions refuse new statements (fail
// closed) until a write succeeds again.
//
// The rare calls that must be synchronous (flush before a report, a policy change recorded before
// it takes effect, retention, shutdown) post a request and block on an Atomics.wait until the
// worker answers: the worker is the only writer of the chain, whatever asks.

import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { PruneResult, StoreEntry } from './types.js';
import { ACK_TIMEOUT_MS, DurabilityWaiters, type RecordWriter } from './writer.js';
import type { PackedEntry, WorkerReply, WorkerRequest } from './writer-protocol.js';

export interface WorkerStoreWriterOptions {
  /** Bytes handed to the worker and not yet written past which enqueue waits (bounded memory). */
  highWaterBytes?: number;
  /** How often the worker retries a failed store. */
  retryMs?: number;
  /** How long acknowledgements wait for a failed store to recover (see whenDurable). */
  ackTimeoutMs?: number;
  /** Longest wait for a synchronous call (flush, prune, close). */
  callTimeoutMs?: number;
  onError?: (e: Error) => void;
  onRecovered?: () => void;
  /** The chain head after each write (the reading connection keeps its idea of the head current). */
  onHead?: (id: number, digest: Buffer) => void;
}

/** Size of a pooled blob: what one event-loop turn typically hands over. */
const BLOB_SIZE = 256 * 1024;
const POOL_MAX = 16;
const POST_DELAY_MS = 2;

function entryBytes(e: StoreEntry): number {
  return e.kind === 'frames' ? e.data.length + 64 : 256;
}

/**
 * One message for many entries: the frames' bytes copied into one fresh ArrayBuffer that is
 * transferred, not cloned (structured clone would copy each Buffer's whole backing store, often
 * a shared pool, and leave the copies to two garbage collectors).
 */
function packEntries(entries: StoreEntry[], pool: ArrayBuffer[]): WorkerRequest & { op: 'entries' } {
  let total = 0;
  for (const e of entries) if (e.kind === 'frames') total += e.data.length;
  // Blobs come back once written: reuse one that fits rather than leave it to the collector.
  const blob =
    total === 0
      ? new ArrayBuffer(0)
      : total <= BLOB_SIZE
        ? (pool.pop() ?? new ArrayBuffer(BLOB_SIZE))
        : new ArrayBuffer(total);
  const bytes = new Uint8Array(blob);
  let at = 0;
  const packed: PackedEntry[] = entries.map((e) => {
    if (e.kind !== 'frames') return e;
    bytes.set(e.data, at);
    const { data, ...rest } = e;
    const p: PackedEntry = { ...rest, data: null, at, length: data.length };
    at += data.length;
    return p;
  });
  return { op: 'entries', entries: packed, blob };
}

export class WorkerStoreWriter implements RecordWriter {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  /** [0]: bumped by the worker after every message it posts (Atomics.wait wakes on it). */
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private unposted: StoreEntry[] = [];
  private unpostedBytes = 0;
  private postScheduled = false;
  private inflight = 0;
  private inflightBytes = 0;
  private failure: Error | null = null;
  private closed = false;
  /** The thread is gone: synchronous calls fail at once instead of waiting for an answer. */
  private dead = false;
  private nextCallId = 1;
  private readonly replies = new Map<number, WorkerReply & { t: 'reply' }>();
  private readonly highWaterBytes: number;
  private readonly blobPool: ArrayBuffer[] = [];
  private readonly callTimeoutMs: number;
  written = 0;
  enqueued = 0;
  private readonly waiters: DurabilityWaiters;

  constructor(
    storePath: string,
    private readonly opts: WorkerStoreWriterOptions = {},
  ) {
    this.highWaterBytes = opts.highWaterBytes ?? 4 * 1024 * 1024;
    this.callTimeoutMs = opts.callTimeoutMs ?? 30_000;
    this.waiters = new DurabilityWaiters(opts.ackTimeoutMs ?? ACK_TIMEOUT_MS);
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.worker = new Worker(new URL('./writer-worker.js', import.meta.url), {
      workerData: {
        path: storePath,
        signal: this.signal,
        port: channel.port2,
        retryMs: opts.retryMs ?? 1000,
      },
      transferList: [channel.port2],
    });
    this.worker.unref();
    this.port.on('message', (m: WorkerReply) => this.handle(m));
    this.port.unref();
    this.worker.on('error', (e) => this.fail(new Error(`store writer thread failed: ${e.message}`)));
    this.worker.on('exit', (code) => {
      this.dead = true;
      if (!this.closed) this.fail(new Error(`store writer thread exited (code ${code})`));
    });
  }

  get healthy(): boolean {
    return this.failure === null;
  }

  get lastError(): Error | null {
    return this.failure;
  }

  get backlog(): number {
    return this.unposted.length + this.inflight;
  }

  get durable(): number {
    return this.written;
  }

  whenDurable(position: number, done: (ok: boolean) => void): void {
    this.waiters.add(position, done, this.written, this.failure !== null);
    // Someone waits: hand over now rather than after the gathering delay.
    if (this.written < position && this.unposted.length > 0) this.post();
  }

  enqueue(entry: StoreEntry): void {
    if (this.closed) throw new Error('store writer is closed');
    this.enqueued++;
    this.unposted.push(entry);
    this.unpostedBytes += entryBytes(entry);
    if (this.unpostedBytes >= BLOB_SIZE) this.post();
    else if (!this.postScheduled) {
      // A short wait gathers many sessions' entries into one message (a postMessage costs
      // about as much as a few hundred small entries).
      this.postScheduled = true;
      setTimeout(() => this.post(), POST_DELAY_MS);
    }
  }

  /** Hands what is enqueued to the worker; waits first while too much is in flight. */
  private post(): void {
    this.postScheduled = false;
    if (this.unposted.length === 0 || this.closed) return;
    // Bounded memory: a result streamed faster than the disk takes it waits here, as the
    // in-thread writer would. Not while the store is failing: then nothing drains, and the
    // sessions are already refusing new statements.
    while (this.inflightBytes > this.highWaterBytes && this.failure === null) {
      if (!this.waitForMessage(this.callTimeoutMs)) break;
    }
    const entries = this.unposted;
    this.inflight += entries.length;
    this.inflightBytes += this.unpostedBytes;
    this.unposted = [];
    this.unpostedBytes = 0;
    const req = packEntries(entries, this.blobPool);
    this.port.postMessage(req, [req.blob]);
  }

  private handle(m: WorkerReply): void {
    switch (m.t) {
      case 'written':
        this.inflight -= m.entries;
        this.inflightBytes = Math.max(0, this.inflightBytes - m.bytes);
        this.written += m.entries;
        // Never synchronously: this may run inside another session's synchronous call.
        this.waiters.release(this.written);
        this.opts.onHead?.(m.headId, Buffer.from(m.headDigest));
        for (const b of m.blobs)
          if (this.blobPool.length < POOL_MAX && b.byteLength === BLOB_SIZE) this.blobPool.push(b);
        if (this.failure !== null) {
          this.failure = null;
          this.waiters.recovered();
          this.opts.onRecovered?.();
        }
        break;
      case 'failed':
        this.fail(new Error(m.message));
        break;
      case 'fatal':
        this.dead = true;
        this.fail(new Error(m.message));
        break;
      case 'reply':
        this.replies.set(m.id, m);
        break;
    }
  }

  private fail(e: Error): void {
    const first = this.failure === null;
    this.failure = e;
    this.waiters.failing();
    if (first) this.opts.onError?.(e);
  }

  /** Blocks until the worker posts something (handled here) or `ms` pass; false on timeout. */
  private waitForMessage(ms: number): boolean {
    const seen = Atomics.load(this.signal, 0);
    if (this.drain()) return true;
    if (Atomics.wait(this.signal, 0, seen, ms) === 'timed-out') return this.drain();
    this.drain();
    return true;
  }

  private drain(): boolean {
    let any = false;
    for (let m = receiveMessageOnPort(this.port); m !== undefined; m = receiveMessageOnPort(this.port)) {
      this.handle(m.message as WorkerReply);
      any = true;
    }
    return any;
  }

  /** A synchronous request: posts what is enqueued, then the request, and waits for its answer. */
  private call(req: Exclude<WorkerRequest, { op: 'entries' }>): WorkerReply & { t: 'reply' } {
    if (this.closed) throw new Error('store writer is closed');
    if (this.dead)
      throw new Error(`the store writer thread is gone: ${this.failure?.message ?? 'unknown cause'}`);
    this.post();
    this.port.postMessage(req);
    const deadline = Date.now() + this.callTimeoutMs;
    for (;;) {
      const r = this.replies.get(req.id);
      if (r) {
        this.replies.delete(req.id);
        return r;
      }
      if (this.dead)
        throw new Error(`the store writer thread is gone: ${this.failure?.message ?? 'unknown cause'}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the store writer did not answer within ${this.callTimeoutMs} ms`);
      this.waitForMessage(left);
    }
  }

  flush(): boolean {
    if (this.closed) return this.backlog === 0;
    try {
      return this.call({ op: 'flush', id: this.nextCallId++ }).ok;
    } catch (e) {
      this.fail(e as Error);
      return false;
    }
  }

  commit(entries: readonly StoreEntry[]): void {
    const r = this.call({ op: 'commit', id: this.nextCallId++, entries: [...entries] });
    if (!r.ok) throw new Error(r.error ?? 'the store cannot be written');
  }

  prune(before: number, connection?: string): PruneResult {
    const r = this.call({ op: 'prune', id: this.nextCallId++, before, connection: connection ?? null });
    if (!r.ok) throw new Error(r.error ?? 'the store cannot be written');
    return r.value as PruneResult;
  }

  /** Runs a PRAGMA on the writing connection (tests use it to make the store fail). */
  pragma(sql: string): unknown {
    const r = this.call({ op: 'pragma', id: this.nextCallId++, sql });
    if (!r.ok) throw new Error(r.error ?? 'pragma failed');
    return r.value;
  }

  close(): boolean {
    if (this.closed) return this.backlog === 0;
    let ok = false;
    try {
      ok = this.call({ op: 'close', id: this.nextCallId++ }).ok;
    } catch (e) {
      this.fail(e as Error);
    }
    this.closed = true;
    void this.worker.terminate();
    this.port.close();
    return ok;
  }
}
