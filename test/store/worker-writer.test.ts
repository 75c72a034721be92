// The writer thread: entries land in order in one chain that verifies, synchronous calls
// (flush, commit, prune) wait for it, a failing store turns the writer unhealthy and it recovers
// on its own, memory in flight stays bounded, and a closed writer refuses more.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { replayJournal } from '../../proxy/store/journal.js';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import { journalPath, WorkerStoreWriter } from '../../proxy/store/worker-writer.js';
import { chunk, frame, session, statement, tempStorePath } from './fixtures.js';

const A = 'aaaa0000-0000-4000-8000-00000000000a';
const B = 'bbbb0000-0000-4000-8000-00000000000b';

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('entries from the event loop are written in order by the thread, and the chain verifies', () => {
  const path = tempStorePath();
  const reader = openSqliteStore(path);
  const heads: number[] = [];
  const w = new WorkerStoreWriter(path, {
    onHead: (id, digest) => {
      heads.push(id);
      reader.observeHead(id, digest);
    },
  });
  w.enqueue({ kind: 'session_open', session: session(A) });
  let seq = 1;
  for (let i = 0; i < 500; i++) {
    w.enqueue(
      chunk(A, seq, i % 2 ? 'server' : 'client', i, [frame(0x44, Buffer.alloc(100 + (i % 50), i % 256))]),
    );
    seq++;
  }
  w.enqueue({ kind: 'statement', statement: statement(A, 1) });
  assert.equal(w.flush(), true);
  assert.equal(w.backlog, 0);
  assert.equal(w.written, 502);
  const frames = reader.readFrames(A, 1, 1000);
  assert.equal(frames.length, 500);
  assert.deepEqual(
    frames.map((f) => f.seq),
    Array.from({ length: 500 }, (_, i) => i + 1),
  );
  assert.equal(frames[7].body.length, 107);
  assert.equal(frames[7].body[0], 7);
  // Each frame keeps its read's direction and time, also where reads were joined into one record.
  assert.deepEqual(
    frames.map((f) => `${f.dir} ${f.tUs}`),
    Array.from({ length: 500 }, (_, i) => `${i % 2 ? 'server' : 'client'} ${i}`),
  );
  assert.equal(reader.verify().ok, true);
  // The thread joins the chunks one transaction writes (chunk-join.ts): fewer records than entries.
  const records = [...reader.sessionRecords(A)].length;
  assert.ok(records >= 3 && records < 502, `${records} records`);
  assert.equal(reader.chainHead.id, records, 'the reading connection follows the head the thread wrote');
  assert.ok(heads.length >= 1);
  assert.equal(w.close(), true);
  assert.throws(() => w.enqueue({ kind: 'session_open', session: session(B) }), /closed/);
  reader.close();
});

test('commit and prune go through the thread, after what was enqueued', () => {
  const path = tempStorePath();
  const reader = openSqliteStore(path);
  const w = new WorkerStoreWriter(path, { onHead: (id, d) => reader.observeHead(id, d) });
  w.enqueue({ kind: 'session_open', session: session(A) });
  w.enqueue({ kind: 'session_close', sessionId: A, endedAt: 1_000_000, endReason: 'client closed' });
  w.commit([
    {
      kind: 'policy_change',
      change: {
        at: 2_000_000,
        by: 'dana',
        summary: 'default changed',
        diff: '-a\n+b\n',
        yaml: 'default: {}\n',
      },
    },
  ]);
  assert.equal(reader.policyChanges(1)[0].by, 'dana');
  assert.ok(reader.getSession(A), 'the session enqueued before the commit is written before it');
  const pruned = w.prune(Date.now() * 1000);
  assert.equal(pruned.sessions, 1);
  assert.equal(reader.getSession(A), undefined);
  assert.equal(reader.verify().ok, true);
  assert.equal(w.close(), true);
  reader.close();
});

test('a store that refuses writes makes the writer unhealthy; it retries and recovers', async () => {
  const path = tempStorePath();
  const reader = openSqliteStore(path);
  const events: string[] = [];
  const w = new WorkerStoreWriter(path, {
    retryMs: 50,
    onError: () => events.push('failed'),
    onRecovered: () => events.push('recovered'),
  });
  w.enqueue({ kind: 'session_open', session: session(A) });
  assert.equal(w.flush(), true);
  w.pragma('query_only = 1');
  w.enqueue(chunk(A, 1, 'client', 5, [frame(0x51, 'SELECT 1\0')]));
  assert.equal(w.flush(), false);
  assert.equal(w.healthy, false);
  assert.throws(
    () => w.commit([{ kind: 'session_close', sessionId: A, endedAt: 1, endReason: 'x' }]),
    /readonly|cannot be written/,
  );
  assert.equal(reader.readFrames(A).length, 0, 'nothing half-written');
  w.pragma('query_only = 0');
  await until(() => w.healthy, 5000, 'the writer to recover');
  assert.deepEqual(events, ['failed', 'recovered']);
  assert.equal(w.backlog, 0);
  assert.equal(reader.readFrames(A).length, 1, 'the kept entry was written on retry');
  assert.equal(reader.verify().ok, true);
  assert.equal(w.close(), true);
  reader.close();
});

test('a result bigger than the in-flight bound is written whole, the event loop waiting its turn', () => {
  const path = tempStorePath();
  const reader = openSqliteStore(path);
  const w = new WorkerStoreWriter(path, { highWaterBytes: 512 * 1024 });
  w.enqueue({ kind: 'session_open', session: session(B) });
  const big = Buffer.alloc(64 * 1024, 3);
  let maxBacklog = 0;
  for (let i = 0; i < 400; i++) {
    w.enqueue(chunk(B, i + 1, 'server', i, [frame(0x44, big)]));
    maxBacklog = Math.max(maxBacklog, w.backlog);
  }
  assert.equal(w.flush(), true);
  assert.equal(reader.readFrames(B, 1, 1000).length, 400);
  assert.ok(maxBacklog < 40, `entries in flight stayed bounded (max ${maxBacklog})`);
  assert.equal(w.close(), true);
  reader.close();
});

test('a store that cannot be opened fails the writer at once, and calls do not hang', () => {
  // A folder where the store file should be: SQLite cannot open it (the journal beside it can be).
  const folder = tempStorePath();
  fs.mkdirSync(folder, { recursive: true });
  const w = new WorkerStoreWriter(folder);
  assert.equal(w.flush(), false);
  assert.equal(w.healthy, false);
  // The thread answered (a timeout would say "did not answer"), naming the cause.
  assert.match(w.lastError?.message ?? '', /cannot open store/);
  assert.equal(w.close(), false);
});

test('what was journaled but not applied is replayed at the next start, once', async () => {
  const path = tempStorePath();
  const w = new WorkerStoreWriter(path);
  w.enqueue({ kind: 'session_open', session: session(A) });
  w.enqueue(chunk(A, 1, 'client', 0, [frame(0x51, 'SELECT 1\0')]));
  assert.equal(w.flush(), true);
  // Entries that reach the journal while the store refuses them (as if the gateway were killed
  // before the writer thread applied them).
  w.pragma('query_only = 1');
  let durable = false;
  w.enqueue(chunk(A, 2, 'server', 1, [frame(0x43, 'SELECT 1\0')]));
  w.whenDurable(w.enqueued, (ok) => {
    durable = ok;
  });
  assert.equal(durable, false, 'never called back synchronously');
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(w.durable, 3, 'journaled within the turn');
  assert.equal(durable, true, 'durable once journaled, although the store refuses it');
  assert.equal(w.flush(), false, 'not in the store');
  w.close();
  const journal = journalPath(path);
  assert.ok(fs.statSync(journal).size > 0, 'the journal keeps what the store lacks');

  const store = openSqliteStore(path);
  assert.equal(store.readFrames(A).length, 1);
  assert.equal(replayJournal(store, journal), 1);
  assert.equal(store.readFrames(A).length, 2);
  assert.equal(fs.statSync(journal).size, 0);
  assert.equal(replayJournal(store, journal), 0, 'nothing twice');
  assert.equal(store.verify().ok, true);
  // A new writer continues the positions: its batches are not mistaken for applied ones.
  const w2 = new WorkerStoreWriter(path, { journalBase: store.journalApplied() });
  w2.enqueue(chunk(A, 3, 'client', 2, [frame(0x58, '')]));
  assert.equal(w2.flush(), true);
  assert.equal(w2.close(), true);
  assert.equal(store.readFrames(A).length, 3);
  assert.equal(store.journalApplied(), 4);
  store.close();
});
