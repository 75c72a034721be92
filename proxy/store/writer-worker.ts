// The thread that owns the store's writing connection (see worker-writer.ts). Entries that arrive
// while a transaction runs are written together in the next one: group commit, with no timer.

import { workerData } from 'node:worker_threads';
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
  store = openSqliteStore(data.path, { joinFrameChunks: true });
} catch (e) {
  openError = message(e);
  post({ t: 'failed', message: openError });
}

/** Journaled batches not yet in the store: where each is in the journal, and its last position. */
let pending: { segment: 0 | 1; offset: number; length: number; entries: number; end: number }[] = [];
let failing = false;
let writeScheduled = false;
let retryTimer: NodeJS.Timeout | null = null;

/**
 * Batches read back and applied together, in one transaction, up to this many bytes: the memory
 * they are read into stays this small however far behind the thread is.
 */
const GROUP_BYTES = 2 * 1024 * 1024;
const journal = new JournalReader(data.journal, GROUP_BYTES);

/** Structured clone turns Buffers into Uint8Arrays; the store wants Buffers back. */
function revive(e: StoreEntry): StoreEntry {
  if (e.kind === 'frames' && !Buffer.isBuffer(e.data)) {
    const u = e.data as Uint8Array;
    return { ...e, data: Buffer.from(u.buffer, u.byteOffset, u.byteLength) };
  }
  return e;
}

/** Applies the pending batches, a group at a time; reports what was applied, or the failure. */
function writePending(): boolean {
  if (store === null) return false;
  if (pending.length === 0) return !failing;
  let done = 0;
  let entries = 0;
  let bytes = 0;
  let error: unknown = null;
  while (done < pending.length) {
    let next = done + 1;
    let groupBytes = pending[done].length;
    while (next < pending.length && groupBytes + pending[next].length <= GROUP_BYTES)
      groupBytes += pending[next++].length;
    const group = pending.slice(done, next);
    try {
      // Read back on every attempt (a retry after a failure too): the memory is reused.
      const payload = journal.read(group);
      const batch: StoreEntry[] = [];
      let at = 0;
      for (const b of group) {
        for (const e of deserializeEntries(payload.subarray(at, at + b.length))) batch.push(e);
        at += b.length;
      }
      store.append(batch, group[group.length - 1].end);
      entries += batch.length;
    } catch (e) {
      error = e;
      break;
    }
    bytes += groupBytes;
    done = next;
  }
  if (done > 0) {
    const end = pending[done - 1].end;
    pending = pending.slice(done);
    const head = store.chainHead;
    post({
      t: 'written',
      entries,
      bytes,
      end,
      headId: head.id,
      headDigest: head.digest ? Buffer.from(head.digest, 'hex') : new Uint8Array(0),
    });
  }
  if (error !== null) {
    if (!failing) post({ t: 'failed', message: message(error) });
    failing = true;
    scheduleRetry();
    return false;
  }
  failing = false;
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
      pending.push({
        segment: req.segment,
        offset: req.offset,
        length: req.length,
        entries: req.entries,
        end: req.end,
      });
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
