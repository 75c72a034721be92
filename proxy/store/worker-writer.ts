// Writes the recording of every session into the SQLite store on a worker thread, so the SQLite
// transactions, the chain's SHA-256 and the full-text index never block the event loop that
// relays traffic. Entries are gathered for a moment (or until someone waits on them), appended
// to the recording journal with one write (journal.ts: from then on they survive the gateway
// being killed, so acknowledgements need not wait for SQLite), and handed to the worker, which
// applies whatever has arrived in one transaction. On failure entries are kept and retried, and
// `healthy` turns false so sessions refuse new statements (fail closed) until writes succeed.
//
// The rare calls that must be synchronous (a policy change recorded before it takes effect,
// shutdown) post a request and block on an Atomics.wait until the worker answers: the worker is
// the only writer of the chain, whatever asks. What runs while sessions relay (the flush before a
// report, retention's prunes) uses the asynchronous form instead: the same request, its answer a
// Promise, so the event loop never waits on SQLite.

import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { BatchSerializer, type JournalPlace, RecordJournal } from './journal.js';
import type { PruneResult, StoreEntry } from './types.js';
import { ACK_TIMEOUT_MS, DurabilityWaiters, type RecordWriter } from './writer.js';
import type { WorkerReply, WorkerRequest } from './writer-protocol.js';

export interface WorkerStoreWriterOptions {
  /** Bytes handed to the worker and not yet written past which enqueue waits (how far the store may fall behind). */
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
  /** The journal position the store has applied (SqliteSessionStore.journalApplied, after replayJournal). */
  journalBase?: number;
}

/** The recording journal of a store file. */
export function journalPath(storePath: string): string {
  return `${storePath}.journal`;
}

/** The segment taking appends is emptied once everything in it is applied and it is this big. */
const JOURNAL_TRUNCATE_BYTES = 8 * 1024 * 1024;

/**
 * Unposted bytes that are handed over at once rather than after the gathering delay. The delay
 * costs clients nothing (they wait for the journal, not for the thread) and only makes what the
 * API reads from the store a few milliseconds older; each SQLite transaction costs about as much
 * as a hundred small entries (its pages go to the WAL whole), so fewer, larger ones take a
 * third less of the writer thread's time under a pgbench load (bench/recorder.ts).
 */
const POST_BYTES = 1024 * 1024;
const POST_DELAY_MS = 10;

function entryBytes(e: StoreEntry): number {
  return e.kind === 'frames' ? e.data.length + 64 : 256;
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
  /** The store (writer thread) and the journal fail independently; either makes the writer unhealthy. */
  private storeFailure: Error | null = null;
  private journalFailure: Error | null = null;
  private journalRetry: NodeJS.Timeout | null = null;
  private readonly journal: RecordJournal;
  private readonly base: number;
  /** Entries in the journal (durable) and the journal position the store has applied. */
  private journaled = 0;
  private journalScheduled = false;
  /** The last shared journal write released several sessions (see makeDurable). */
  private sharing = false;
  /** Journaled batches not yet handed to the writer thread (it reads them from the journal). */
  private readonly unsent: (JournalPlace & { length: number; end: number; count: number })[] = [];
  private readonly serializer = new BatchSerializer();
  private appliedEnd: number;
  private closed = false;
  /** The thread is gone: synchronous calls fail at once instead of waiting for an answer. */
  private dead = false;
  private nextCallId = 1;
  private readonly replies = new Map<number, WorkerReply & { t: 'reply' }>();
  /** Asynchronous calls waiting for their reply, by request id. */
  private readonly awaited = new Map<
    number,
    { resolve: (r: WorkerReply & { t: 'reply' }) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private readonly highWaterBytes: number;
  private readonly callTimeoutMs: number;
  written = 0;
  enqueued = 0;
  private readonly waiters: DurabilityWaiters;

  constructor(
    storePath: string,
    private readonly opts: WorkerStoreWriterOptions = {},
  ) {
    // What is in flight waits in the journal (the page cache), not in this process's memory: the
    // bound only keeps the store from falling far behind, so a captured result streams on
    // instead of waiting for SQLite at every few megabytes.
    this.highWaterBytes = opts.highWaterBytes ?? 32 * 1024 * 1024;
    this.callTimeoutMs = opts.callTimeoutMs ?? 30_000;
    this.waiters = new DurabilityWaiters(opts.ackTimeoutMs ?? ACK_TIMEOUT_MS);
    this.base = opts.journalBase ?? 0;
    this.appliedEnd = this.base;
    this.journal = new RecordJournal(journalPath(storePath));
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.worker = new Worker(new URL('./writer-worker.js', import.meta.url), {
      workerData: {
        path: storePath,
        journal: this.journal.path,
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
      this.rejectAwaited();
    });
  }

  get healthy(): boolean {
    return this.storeFailure === null && this.journalFailure === null;
  }

  get lastError(): Error | null {
    return this.journalFailure ?? this.storeFailure;
  }

  /** For messages that name the cause. */
  private get failure(): Error | null {
    return this.lastError;
  }

  get backlog(): number {
    let unsent = 0;
    for (const b of this.unsent) unsent += b.count;
    return this.unposted.length + unsent + this.inflight;
  }

  /** Entries in the journal: they survive the gateway being killed. */
  get durable(): number {
    return this.journaled;
  }

  /**
   * Journals now, unless sessions have been sharing journal writes: with few clients a session
   * rarely has company in its poll phase, and waiting for the phase's end (whenDurable) costs it
   * a turn of the event loop for nothing; with many, one write for all of them is cheaper.
   */
  makeDurable(): number {
    if (this.sharing || this.unposted.length === 0 || !this.healthy) return this.journaled;
    if (!this.journalPending()) return this.journaled;
    this.schedulePost();
    // Several journal writes in one poll phase: share them from the next phase on.
    if (this.phaseWrites++ === 0) setImmediate(this.endPhase);
    return this.journaled;
  }

  private phaseWrites = 0;
  private readonly endPhase = () => {
    this.sharing = this.phaseWrites > 1;
    this.phaseWrites = 0;
  };

  whenDurable(position: number, done: (ok: boolean) => void): void {
    // Someone waits: journal now rather than after the gathering delay.
    if (this.journaled < position && this.unposted.length > 0 && !this.journalScheduled) {
      // After this poll phase's other callbacks: the sessions that got data in the same turn
      // share one journal write.
      this.journalScheduled = true;
      setImmediate(() => {
        this.journalScheduled = false;
        this.sharing = this.waiters.size > 1;
        this.journalPending();
        this.schedulePost();
      });
    }
    this.waiters.add(position, done, this.journaled, !this.healthy);
  }

  enqueue(entry: StoreEntry): void {
    if (this.closed) throw new Error('store writer is closed');
    this.enqueued++;
    this.unposted.push(entry);
    this.unpostedBytes += entryBytes(entry);
    if (this.unpostedBytes >= POST_BYTES) this.post();
    else this.schedulePost();
  }

  /**
   * A short wait gathers many sessions' entries into one journal write and one message to the
   * thread (each costs about as much as a few hundred small entries).
   */
  private schedulePost(): void {
    if (this.postScheduled) return;
    this.postScheduled = true;
    setTimeout(() => this.post(), POST_DELAY_MS);
  }

  /** Journals what is enqueued and hands it to the worker; waits first while too much is in flight. */
  private post(): void {
    this.postScheduled = false;
    if (this.closed) return;
    if (this.unposted.length > 0) {
      // Bounded memory: a result streamed faster than the disk takes it waits here, as an
      // in-thread writer would. Not while the store is failing: then nothing drains, and the
      // sessions are already refusing new statements.
      while (this.inflightBytes > this.highWaterBytes && this.storeFailure === null) {
        if (!this.waitForMessage(this.callTimeoutMs)) break;
      }
      if (!this.journalPending()) return;
    }
    this.send();
  }

  /**
   * Appends what is enqueued to the journal: from then on it is durable. The writer thread gets
   * it with the next hand-over (an acknowledgement waits for this, not for the thread).
   */
  private journalPending(): boolean {
    const entries = this.unposted;
    if (entries.length === 0) return true;
    const payload = this.serializer.serialize(entries);
    const end = this.base + this.journaled + entries.length;
    let place: JournalPlace;
    try {
      place = this.journal.append(end, payload);
    } catch (e) {
      // Kept for the retry; sessions refuse new statements and acknowledgements wait.
      this.setJournalFailure(e as Error);
      this.journalRetry ??= setTimeout(() => {
        this.journalRetry = null;
        this.post();
      }, this.opts.retryMs ?? 1000);
      this.journalRetry.unref();
      return false;
    }
    if (this.journalFailure !== null) this.setJournalFailure(null);
    this.unposted = [];
    this.unpostedBytes = 0;
    this.journaled += entries.length;
    this.unsent.push({ ...place, length: payload.length, end, count: entries.length });
    this.waiters.release(this.journaled);
    return true;
  }

  /** Hands the journaled batches to the writer thread: where to read them in the journal. */
  private send(): void {
    for (const { segment, offset, length, end, count } of this.unsent) {
      this.inflight += count;
      this.inflightBytes += length;
      const req: WorkerRequest = { op: 'entries', segment, offset, length, entries: count, end };
      this.port.postMessage(req);
    }
    this.unsent.length = 0;
  }

  private setJournalFailure(e: Error | null): void {
    const was = this.healthy;
    this.journalFailure = e;
    this.changedHealth(was);
  }

  private changedHealth(was: boolean): void {
    const now = this.healthy;
    if (was && !now) {
      this.waiters.failing();
      this.opts.onError?.(this.lastError!);
    } else if (!was && now) {
      this.waiters.recovered();
      this.opts.onRecovered?.();
    } else if (!now) this.waiters.failing();
  }

  private handle(m: WorkerReply): void {
    switch (m.t) {
      case 'written': {
        this.inflight -= m.entries;
        this.inflightBytes = Math.max(0, this.inflightBytes - m.bytes);
        this.written += m.entries;
        this.appliedEnd = m.end;
        this.opts.onHead?.(m.headId, Buffer.from(m.headDigest));
        if (this.storeFailure !== null) {
          const was = this.healthy;
          this.storeFailure = null;
          this.changedHealth(was);
        }
        // What the store holds need not stay in the journal (see RecordJournal.applied).
        if (this.journalFailure === null) this.journal.applied(this.appliedEnd, JOURNAL_TRUNCATE_BYTES);
        break;
      }
      case 'failed':
        this.fail(new Error(m.message));
        break;
      case 'fatal':
        this.dead = true;
        this.fail(new Error(m.message));
        this.rejectAwaited();
        break;
      case 'reply': {
        const waiting = this.awaited.get(m.id);
        if (waiting) {
          this.awaited.delete(m.id);
          clearTimeout(waiting.timer);
          waiting.resolve(m);
        } else this.replies.set(m.id, m);
        break;
      }
    }
  }

  private fail(e: Error): void {
    const was = this.healthy;
    this.storeFailure = e;
    this.changedHealth(was);
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

  /** `call` without blocking: the reply resolves the Promise when the port delivers it. */
  private callAsync(req: Exclude<WorkerRequest, { op: 'entries' }>): Promise<WorkerReply & { t: 'reply' }> {
    if (this.closed) return Promise.reject(new Error('store writer is closed'));
    if (this.dead)
      return Promise.reject(
        new Error(`the store writer thread is gone: ${this.failure?.message ?? 'unknown cause'}`),
      );
    this.post();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.awaited.delete(req.id);
        reject(new Error(`the store writer did not answer within ${this.callTimeoutMs} ms`));
      }, this.callTimeoutMs);
      this.awaited.set(req.id, { resolve, reject, timer });
      this.port.postMessage(req);
    });
  }

  private rejectAwaited(): void {
    const e = new Error(`the store writer thread is gone: ${this.failure?.message ?? 'unknown cause'}`);
    for (const w of this.awaited.values()) {
      clearTimeout(w.timer);
      w.reject(e);
    }
    this.awaited.clear();
  }

  async flushAsync(): Promise<boolean> {
    if (this.closed) return this.backlog === 0;
    try {
      return (await this.callAsync({ op: 'flush', id: this.nextCallId++ })).ok;
    } catch (e) {
      this.fail(e as Error);
      return false;
    }
  }

  async pruneAsync(before: number, connection?: string): Promise<PruneResult> {
    const r = await this.callAsync({
      op: 'prune',
      id: this.nextCallId++,
      before,
      connection: connection ?? null,
    });
    if (!r.ok) throw new Error(r.error ?? 'the store cannot be written');
    return r.value as PruneResult;
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
    this.rejectAwaited();
    void this.worker.terminate();
    this.port.close();
    // Everything is in the store: the journal has nothing to replay. Otherwise it stays, and the
    // next start replays what the store lacks.
    if (ok && this.unposted.length === 0 && this.journalFailure === null) this.journal.truncate();
    this.journal.close();
    return ok && this.unposted.length === 0;
  }
}
