// Synchronous queries on PostgreSQL, for the synchronous SessionStore interface: the pg client runs
// in a worker thread and the caller blocks with Atomics.wait until the worker has put the answer on
// a MessagePort, which it then takes with receiveMessageOnPort (the synckit technique).
//
// Blocking is fine for the CLI and for the operator's app reading the shared store; a gateway's
// data path never waits on it (recording goes to the local spool; the shipper is asynchronous).

import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { describeStore, type StoreTarget } from './target.js';

export class StoreQueryError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
  ) {
    super(message);
  }
}

type Reply =
  | { ok: true; rows: Record<string, unknown>[] }
  | { ok: false; message: string; code: string | null };

export class SyncPgClient {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private closed = false;

  constructor(
    readonly target: StoreTarget,
    private readonly timeoutMs = 60_000,
    applicationName = 'bastion-reader',
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(new URL('./sync-worker.js', import.meta.url), {
      workerData: { target, port: port2, flag: this.flag.buffer, applicationName },
      transferList: [port2],
    });
    this.worker.unref();
    this.port.unref();
  }

  query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): T[] {
    if (this.closed) throw new Error('the shared store connection is closed');
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ sql, params });
    const woke = Atomics.wait(this.flag, 0, 0, this.timeoutMs);
    const msg = receiveMessageOnPort(this.port);
    if (!msg) {
      // A late answer would be taken for the next query's: this connection is done.
      this.close();
      throw new Error(
        woke === 'timed-out'
          ? `shared store ${describeStore(this.target)} did not answer within ${this.timeoutMs / 1000} s`
          : `shared store ${describeStore(this.target)}: no answer from its reader thread`,
      );
    }
    const r = msg.message as Reply;
    if (!r.ok) throw new StoreQueryError(`shared store ${describeStore(this.target)}: ${r.message}`, r.code);
    for (const row of r.rows) {
      // Structured cloning turns Buffers into Uint8Arrays.
      for (const [k, v] of Object.entries(row)) {
        if (v instanceof Uint8Array && !Buffer.isBuffer(v))
          row[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      }
    }
    return r.rows as T[];
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.port.close();
    void this.worker.terminate();
  }
}
