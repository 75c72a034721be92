// The thread that owns the store's writing connection (see worker-writer.ts). Entries that arrive
// while a transaction runs are written together in the next one: group commit, with no timer.

import { workerData } from 'node:worker_threads';
import { noteRelayed } from '../wire/read-garbage.js';
import { deserializeEntries, JournalReader } from './journal.js';
import { openSqliteStore, type SqliteSessionStore } from './sqlite-store.js';
import type { StoreEntry } from './types.js';
import type { WorkerReply, WorkerRequest, WriterWorkerData } from './writer-protocol.js';

const data = workerData as WriterWorkerData;
const { port, signal } = data;

function post(m: WorkerReply): void {
  port.postMessage(m);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// A bug here must not leave the event loop waiting on a thread that is gone.
process.on('uncaughtException', (e) => {
  post({ t: 'fatal', message: `store writer thread failed: ${message(e)}` });
  process.exit(1);
});

let store: SqliteSessionStore | null = null;
let openError: string | null = null;
try {
  store = openSqliteStore(data.path);
} catch (e) {
  openError = message(e);
  post({ t: 'failed', message: openError });
}

const journal = new JournalReader(data.journal);
/** Journaled batches not yet in the store: where they are in the journal, and their size. */
let pending: { offset: number; length: number; entries: number }[] = [];
/** Payload bytes of the pending batches, and the journal position of the last pending entry. */
let pendingBytes = 0;
let pendingEnd = 0;
let failing = false;
let writeScheduled = false;
let retryTimer: NodeJS.Timeout | null = null;

/** Structured clone turns Buffers into Uint8Arrays; the store wants Buffers back. */
function revive(e: StoreEntry): StoreEntry {
  if (e.kind === 'frames' && !Buffer.isBuffer(e.data)) {
    const u = e.data as Uint8Array;
    return { ...e, data: Buffer.from(u.buffer, u.byteOffset, u.byteLength) };
  }
  return e;
}

function writePending(): boolean {
  if (store === null) return false;
  if (pending.length === 0) return !failing;
  const batches = pending;
  let count = 0;
  try {
    // Read back on every attempt (a retry after a failure too): the memory is reused.
    const bytes = journal.read(batches);
    const entries: StoreEntry[] = [];
    let at = 0;
    for (const b of batches) {
      for (const e of deserializeEntries(bytes.subarray(at, at + b.length))) entries.push(e);
      at += b.length;
    }
    count = entries.length;
    store.append(entries, pendingEnd);
  } catch (e) {
    if (!failing) post({ t: 'failed', message: message(e) });
    failing = true;
    scheduleRetry();
    return false;
  }
  const bytes = pendingBytes;
  noteRelayed(bytes);
  pending = [];
  pendingBytes = 0;
  failing = false;
  const head = store.chainHead;
  post({
    t: 'written',
    entries: count,
    bytes,
    end: pendingEnd,
    headId: head.id,
    headDigest: head.digest ? Buffer.from(head.digest, 'hex') : new Uint8Array(0),
  });
  return true;
}

function scheduleRetry(): void {
  if (retryTimer !== null) return;
  retryTimer = setTimeout(() => {
    retryTimer = null;
    if (!writePending() && pending.length > 0) scheduleRetry();
  }, data.retryMs);
}

function scheduleWrite(): void {
  if (writeScheduled || failing) return;
  writeScheduled = true;
  setImmediate(() => {
    writeScheduled = false;
    writePending();
  });
}

function reply(id: number, ok: boolean, extra: { error?: string; value?: unknown } = {}): void {
  post({ t: 'reply', id, ok, ...extra });
}

function failure(): string {
  return openError ?? 'the store cannot be written (see the log for the cause)';
}

port.on('message', (req: WorkerRequest) => {
  switch (req.op) {
    case 'entries': {
      pending.push({ offset: req.offset, length: req.length, entries: req.entries });
      pendingBytes += req.length;
      pendingEnd = req.end;
      scheduleWrite();
      break;
    }
    case 'flush':
      reply(req.id, writePending());
      break;
    case 'commit': {
      if (!writePending()) {
        reply(req.id, false, { error: failure() });
        break;
      }
      try {
        store!.append(req.entries.map(revive));
        reply(req.id, true);
      } catch (e) {
        reply(req.id, false, { error: message(e) });
      }
      break;
    }
    case 'prune': {
      if (!writePending()) {
        reply(req.id, false, { error: failure() });
        break;
      }
      try {
        reply(req.id, true, { value: store!.prune(req.before, req.connection ?? undefined) });
      } catch (e) {
        reply(req.id, false, { error: message(e) });
      }
      break;
    }
    case 'pragma':
      try {
        if (store === null) throw new Error(failure());
        reply(req.id, true, { value: store.pragma(req.sql) });
      } catch (e) {
        reply(req.id, false, { error: message(e) });
      }
      break;
    case 'close': {
      const ok = writePending();
      if (retryTimer) clearTimeout(retryTimer);
      try {
        journal.close();
        store?.close();
      } catch {
        // closing a failed connection: what matters is whether everything was written
      }
      reply(req.id, ok && pending.length === 0);
      port.close();
      break;
    }
  }
});
