// Messages between WorkerStoreWriter (the event loop) and writer-worker (the thread that owns
// the store's writing connection). Requests go to the worker in order; replies come back on a
// MessagePort, and every reply bumps a shared counter so a blocked caller wakes up.

import type { StoreEntry } from './types.js';

export type WorkerRequest =
  /**
   * A journaled batch: where its payload (journal.ts serialization) is in the journal file, and
   * the journal position of its last entry.
   */
  | { op: 'entries'; segment: 0 | 1; offset: number; length: number; entries: number; end: number }
  | { op: 'flush'; id: number }
  | { op: 'commit'; id: number; entries: StoreEntry[] }
  | { op: 'prune'; id: number; before: number; connection: string | null }
  | { op: 'pragma'; id: number; sql: string }
  | { op: 'close'; id: number };

export type WorkerReply =
  /** Batches were applied: how many entries and payload bytes, up to which journal position, the head. */
  | { t: 'written'; entries: number; bytes: number; end: number; headId: number; headDigest: Uint8Array }
  /** The thread is ending on an unexpected error: nothing more will be written. */
  | { t: 'fatal'; message: string }
  /** A write failed (entries are kept and retried). */
  | { t: 'failed'; message: string }
  | { t: 'reply'; id: number; ok: boolean; error?: string; value?: unknown };

export interface WriterWorkerData {
  path: string;
  /** The recording journal, where batches are read from. */
  journal: string;
  signal: Int32Array;
  port: import('node:worker_threads').MessagePort;
  retryMs: number;
}
