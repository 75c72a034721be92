// The event loop's side of the reader thread (reader-worker.ts): every read is a message to the
// thread and a Promise of its answer, so an operator verifying a store of millions of records, or
// exporting a report over it, costs the sessions being relayed nothing but a message.
//
// Robust by construction: a read that fails in the thread rejects with the thread's message; a
// thread that crashes, exits or cannot open its store rejects every read waiting on it with why
// (the next read starts a new thread); a read that takes longer than `timeoutMs` ends the thread
// (it is stuck in one synchronous query) and rejects, rather than hang; at most `maxWaiting` reads
// wait at once, the rest are refused at once. close() ends the thread.
//
// The thread is given the store's location only: it gets an empty environment and none of the
// gateway's configuration (identities, upstream passwords, the masking key). A shared store's
// location includes the password of the role it is read as: it cannot be read without it.

import { Worker } from 'node:worker_threads';
import type {
  ReaderWorkerData,
  ReadMethod,
  ReadReply,
  StoreLocation,
  StoreReads,
} from './reader-protocol.js';

/** A read the store, or its thread, could not answer; the message says why, for the operator. */
export class StoreReadError extends Error {}

export interface StoreReaderOptions {
  /** Longest a read may take before the thread is ended and the read rejected (default 10 min). */
  timeoutMs?: number;
  /** Reads that may wait at once (default 32); more are refused. */
  maxWaiting?: number;
}

interface Waiting {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  method: ReadMethod;
}

interface Running {
  worker: Worker;
  /** Settles once the thread has opened its store (or could not). */
  ready: Promise<void>;
  settleReady: (error: string | null) => void;
}

export class StoreReaderThread implements StoreReads {
  private running: Running | null = null;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private closed = false;
  private readonly timeoutMs: number;
  private readonly maxWaiting: number;

  constructor(
    private readonly location: StoreLocation,
    /** How messages name the store ("store /var/lib/bastion/bastion.db"). */
    private readonly name: string,
    opts: StoreReaderOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 600_000;
    this.maxWaiting = opts.maxWaiting ?? 32;
  }

  /** The running thread, if any (tests end it to see reads fail cleanly). */
  get thread(): Worker | null {
    return this.running?.worker ?? null;
  }

  /** Starts the thread if needed; resolves once its store is open, rejects with why it cannot be. */
  async open(): Promise<void> {
    if (this.closed) throw new StoreReadError(`${this.name}: the store reader is closed`);
    await (this.running ?? this.start()).ready;
  }

  /** Ends the thread; reads waiting on it are rejected. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.end(`${this.name}: the store reader is closed`);
  }

  listSessions(...a: Parameters<StoreReads['listSessions']>) {
    return this.call<Awaited<ReturnType<StoreReads['listSessions']>>>('listSessions', a);
  }
  getSession(...a: Parameters<StoreReads['getSession']>) {
    return this.call<Awaited<ReturnType<StoreReads['getSession']>>>('getSession', a);
  }
  listStatements(...a: Parameters<StoreReads['listStatements']>) {
    return this.call<Awaited<ReturnType<StoreReads['listStatements']>>>('listStatements', a);
  }
  frameViews(...a: Parameters<StoreReads['frameViews']>) {
    return this.call<Awaited<ReturnType<StoreReads['frameViews']>>>('frameViews', a);
  }
  frameBytes(...a: Parameters<StoreReads['frameBytes']>) {
    return this.call<Awaited<ReturnType<StoreReads['frameBytes']>>>('frameBytes', a);
  }
  recentStatements(...a: Parameters<StoreReads['recentStatements']>) {
    return this.call<Awaited<ReturnType<StoreReads['recentStatements']>>>('recentStatements', a);
  }
  approvals(...a: Parameters<StoreReads['approvals']>) {
    return this.call<Awaited<ReturnType<StoreReads['approvals']>>>('approvals', a);
  }
  verify(...a: Parameters<StoreReads['verify']>) {
    return this.call<Awaited<ReturnType<StoreReads['verify']>>>('verify', a);
  }
  searchSessions(...a: Parameters<StoreReads['searchSessions']>) {
    return this.call<Awaited<ReturnType<StoreReads['searchSessions']>>>('searchSessions', a);
  }
  searchStatements(...a: Parameters<StoreReads['searchStatements']>) {
    return this.call<Awaited<ReturnType<StoreReads['searchStatements']>>>('searchStatements', a);
  }
  openReplay(...a: Parameters<StoreReads['openReplay']>) {
    return this.call<Awaited<ReturnType<StoreReads['openReplay']>>>('openReplay', a);
  }
  statementsPage(...a: Parameters<StoreReads['statementsPage']>) {
    return this.call<Awaited<ReturnType<StoreReads['statementsPage']>>>('statementsPage', a);
  }
  exportReport(...a: Parameters<StoreReads['exportReport']>) {
    return this.call<Awaited<ReturnType<StoreReads['exportReport']>>>('exportReport', a);
  }
  gateways(...a: Parameters<StoreReads['gateways']>) {
    return this.call<Awaited<ReturnType<StoreReads['gateways']>>>('gateways', a);
  }

  /** Sends one read to the thread (started if needed) and waits for its answer. */
  private call<T>(method: ReadMethod, args: unknown[]): Promise<T> {
    if (this.closed) return Promise.reject(new StoreReadError(`${this.name}: the store reader is closed`));
    if (this.waiting.size >= this.maxWaiting)
      return Promise.reject(
        new StoreReadError(
          `${this.name}: the store reader is busy (${this.waiting.size} reads waiting); try again shortly`,
        ),
      );
    const run = this.running ?? this.start();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => this.timedOut(run, id), this.timeoutMs);
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, method });
      // Queued by the thread until its store is open; answered in order.
      run.worker.postMessage({ id, method, args });
    });
  }

  private start(): Running {
    let settleReady!: (error: string | null) => void;
    const ready = new Promise<void>((resolve, reject) => {
      settleReady = (error) => (error === null ? resolve() : reject(new StoreReadError(error)));
    });
    ready.catch(() => {}); // also reported to every read waiting (see answer)
    const data: ReaderWorkerData = { location: this.location };
    const worker = new Worker(new URL('./reader-worker.js', import.meta.url), {
      workerData: data,
      env: {},
    });
    // An idle reader does not keep the process alive (each waiting read's timer does).
    worker.unref();
    const run: Running = { worker, ready, settleReady };
    worker.on('message', (m: ReadReply) => this.answer(run, m));
    worker.on('error', (e) => this.lost(run, `${this.name}: the store reader thread failed: ${e.message}`));
    worker.on('exit', (code) =>
      this.lost(run, `${this.name}: the store reader thread exited (code ${code})`),
    );
    this.running = run;
    return run;
  }

  private answer(run: Running, m: ReadReply): void {
    if (m.id === 0) {
      if (m.ok) {
        run.settleReady(null);
        return;
      }
      // The store cannot be opened: every read waiting fails with why; the next read tries again.
      const why = `${this.name}: ${m.message}`;
      run.settleReady(why);
      if (this.running === run) this.end(why);
      return;
    }
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    clearTimeout(w.timer);
    if (m.ok) w.resolve(m.value);
    else w.reject(new StoreReadError(`${this.name}: ${m.message}`));
  }

  private lost(run: Running, why: string): void {
    run.settleReady(why);
    if (this.running === run) this.end(why);
  }

  private timedOut(run: Running, id: number): void {
    const w = this.waiting.get(id);
    if (!w || this.running !== run) return;
    // The thread is inside one synchronous query and answers nothing else until it returns.
    this.waiting.delete(id);
    w.reject(
      new StoreReadError(
        `${this.name}: ${w.method} did not finish within ${Math.round(this.timeoutMs / 1000)} s; the store reader was restarted`,
      ),
    );
    this.end(`${this.name}: the store reader was restarted (a read before this one took too long)`);
  }

  /** Ends the running thread and rejects every read waiting on it. */
  private end(why: string): void {
    const run = this.running;
    this.running = null;
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new StoreReadError(why));
    }
    this.waiting.clear();
    if (run) void run.worker.terminate();
  }
}
