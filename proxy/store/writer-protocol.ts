// Messages between WorkerStoreWriter (the event loop) and writer-worker (the thread that owns
// the store's writing connection). Requests go to the worker in order; replies come back on a
// MessagePort, and every reply bumps a shared counter so a blocked caller wakes up.

import type { StoreEntry } from './types.js';

/** A frames entry whose bytes are in the message's blob at [at, at + length). */
export type PackedFrames = Omit<Extract<StoreEntry, { kind: 'frames' }>, 'data'> & {
  data: null;
  at: number;
  length: number;
};

export type PackedEntry = Exclude<StoreEntry, { kind: 'frames' }> | PackedFrames;

export type WorkerRequest =
  | { op: 'entries'; entries: PackedEntry[]; blob: ArrayBuffer }
  | { op: 'flush'; id: number }
  | { op: 'commit'; id: number; entries: StoreEntry[] }
  | { op: 'prune'; id: number; before: number; connection: string | null }
  | { op: 'pragma'; id: number; sql: string }
  | { op: 'close'; id: number };

export type WorkerReply =
  /** A batch was written: how many entries and frame bytes, and the chain head after it. */
  | {
      t: 'written';
      entries: number;
      bytes: number;
      headId: number;
      headDigest: Uint8Array;
      /** The batch's blobs, transferred back for reuse (their bytes are in SQLite now). */
      blobs: ArrayBuffer[];
    }
  /** The thread is ending on an unexpected error: nothing more will be written. */
  | { t: 'fatal'; message: string }
  /** A write failed (entries are kept and retried). */
  | { t: 'failed'; message: string }
  | { t: 'reply'; id: number; ok: boolean; error?: string; value?: unknown };

export interface WriterWorkerData {
  path: string;
  signal: Int32Array;
  port: import('node:worker_threads').MessagePort;
  retryMs: number;
}
