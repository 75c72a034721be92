// The worker behind SyncPgClient: runs one PostgreSQL connection and answers each query on the
// port, then wakes the blocked caller through the shared flag (see sync-client.ts).

import { type MessagePort, workerData } from 'node:worker_threads';
import type pg from 'pg';
import { connectStore, type StoreTarget } from './target.js';

interface Init {
  target: StoreTarget;
  port: MessagePort;
  flag: SharedArrayBuffer;
  applicationName: string;
}

const { target, port, flag, applicationName } = workerData as Init;
const signal = new Int32Array(flag);
let client: pg.Client | null = null;

function reply(message: unknown): void {
  port.postMessage(message);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

port.on('message', async (req: { sql: string; params: unknown[] }) => {
  try {
    client ??= await connectStore(target, applicationName);
    const r = await client.query({ text: req.sql, values: req.params });
    reply({ ok: true, rows: r.rows });
  } catch (e) {
    const err = e as Error & { code?: string };
    // A broken connection is dropped so the next query connects again.
    if (client && !err.code) {
      await client.end().catch(() => {});
      client = null;
    }
    reply({ ok: false, message: err.message, code: err.code ?? null });
  }
});
