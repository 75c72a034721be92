// The reader thread: opens one store read-only and answers the operator's reads (read-ops.ts) one
// at a time, so that verifying, searching, replaying and reporting never run on the event loop
// that relays every session. It is given the store's location and nothing else (see
// reader-thread.ts); it never writes.

import { parentPort, workerData } from 'node:worker_threads';
import { type ReadOps, readOps } from './read-ops.js';
import type { ReaderWorkerData, ReadReply, ReadRequest } from './reader-protocol.js';
import { openSqliteStore } from './sqlite-store.js';
import type { SessionStore } from './types.js';

const port = parentPort!;
const { location } = workerData as ReaderWorkerData;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function reply(r: ReadReply): void {
  port.postMessage(r);
}

async function open(): Promise<SessionStore> {
  if (location.kind === 'sqlite') return openSqliteStore(location.path, { readonly: true });
  // Loaded only for a shared store (it brings the PostgreSQL client).
  const { PgSessionStore } = await import('./pg/pg-store.js');
  return new PgSessionStore(location.target);
}

let ops: ReadOps | null = null;
let openError: string | null = null;
const opened = open().then(
  (store) => {
    ops = readOps(store);
    reply({ id: 0, ok: true, value: 'ready' });
  },
  (e) => {
    openError = message(e);
    reply({ id: 0, ok: false, message: openError });
  },
);

// One read at a time, in arrival order: the store's connection is not shared between reads.
let queue: Promise<void> = opened;
port.on('message', (req: ReadRequest) => {
  queue = queue.then(async () => {
    try {
      if (!ops) throw new Error(openError ?? 'the store is not open');
      if (!Object.hasOwn(ops, req.method)) throw new Error(`no such read: ${String(req.method)}`);
      const run = ops[req.method] as (...a: unknown[]) => unknown;
      reply({ id: req.id, ok: true, value: await run(...req.args) });
    } catch (e) {
      reply({ id: req.id, ok: false, message: message(e) });
    }
  });
});
