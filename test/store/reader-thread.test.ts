// The store's reader thread (proxy/store/reader-thread.ts) fails cleanly: a read the store
// refuses, a store that cannot be opened, a thread that dies mid-read, a read that takes too long,
// too many reads at once and a closed reader each end in a clear StoreReadError rather than a
// hang, and the next read after a failure works again on a new thread. Real SQLite stores.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StoreReadError, StoreReaderThread } from '../../proxy/store/reader-thread.js';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import { session, statement, tempStorePath } from './fixtures.js';

/** A store with `n` sessions of two statements each (a third session's statements mention "needle"). */
function storeWith(n: number): string {
  const file = tempStorePath();
  const store = openSqliteStore(file);
  for (let i = 0; i < n; i++) {
    const id = `s-${i}`;
    const at = 1_750_000_000_000_000 + i * 1000;
    store.append([
      { kind: 'session_open', session: session(id, { startedAt: at }) },
      { kind: 'statement', statement: statement(id, 1, { startedAt: at + 1 }) },
      {
        kind: 'statement',
        statement: statement(id, 2, { startedAt: at + 2, sql: i % 3 === 0 ? 'SELECT needle' : 'SELECT 2' }),
      },
    ]);
  }
  store.close();
  return file;
}

describe('StoreReaderThread', () => {
  test('answers reads as the store does, off the event loop', async () => {
    const file = storeWith(30);
    const reader = new StoreReaderThread({ kind: 'sqlite', path: file }, `store ${file}`);
    try {
      const v = await reader.verify(null);
      assert.equal(v.ok, true);
      assert.equal(v.records, 90);
      assert.equal((await reader.listSessions({ limit: 5 })).length, 5);
      assert.equal((await reader.searchSessions({ text: 'needle' })).total, 10);
      const recent = await reader.recentStatements(4);
      assert.deepEqual(
        recent.map((s) => `${s.sessionId}:${s.seq}`),
        ['s-29:2', 's-29:1', 's-28:2', 's-28:1'],
      );
      assert.equal(recent[0].identity, 'agent-1');
      assert.equal(await reader.getSession('nope'), null);
    } finally {
      reader.close();
    }
  });

  test('a read the store refuses rejects with its message; the thread goes on', async () => {
    const file = storeWith(3);
    const reader = new StoreReaderThread({ kind: 'sqlite', path: file }, `store ${file}`);
    try {
      // An ambiguous prefix: the store throws, naming two candidates.
      await assert.rejects(reader.getSession('s-'), (e: Error) => {
        assert.ok(e instanceof StoreReadError);
        assert.match(e.message, /ambiguous/);
        return true;
      });
      assert.equal((await reader.getSession('s-1'))?.id, 's-1');
    } finally {
      reader.close();
    }
  });

  test('a store that cannot be opened: every read says why, and a later read tries again', async () => {
    const file = tempStorePath();
    const reader = new StoreReaderThread({ kind: 'sqlite', path: file }, `store ${file}`);
    try {
      await assert.rejects(reader.verify(null), /store .*not found/);
      await assert.rejects(reader.open(), /not found/);
      const made = openSqliteStore(file);
      made.close();
      assert.equal((await reader.verify(null)).ok, true);
    } finally {
      reader.close();
    }
  });

  test('a thread that dies mid-read: the reads waiting fail with why; the next read starts a new thread', async () => {
    const file = storeWith(3);
    const reader = new StoreReaderThread({ kind: 'sqlite', path: file }, `store ${file}`);
    try {
      await reader.open();
      const first = reader.thread!;
      const reads = [reader.verify(null), reader.listSessions({})];
      await first.terminate();
      for (const r of reads) await assert.rejects(r, /the store reader thread exited/);
      assert.equal((await reader.listSessions({})).length, 3);
      assert.notEqual(reader.thread, first);
    } finally {
      reader.close();
    }
  });

  test('a read that takes too long is rejected and its thread replaced', async () => {
    const file = storeWith(400);
    // Every read takes longer than 1 ms: the first times out.
    const reader = new StoreReaderThread({ kind: 'sqlite', path: file }, `store ${file}`, { timeoutMs: 1 });
    try {
      await assert.rejects(
        reader.verify(null),
        /verify did not finish within .* the store reader was restarted/,
      );
      assert.equal(reader.thread, null);
    } finally {
      reader.close();
    }
  });

  test('reads beyond the bound are refused at once', async () => {
    const file = storeWith(3);
    const reader = new StoreReaderThread({ kind: 'sqlite', path: file }, `store ${file}`, { maxWaiting: 2 });
    try {
      const a = reader.verify(null);
      const b = reader.verify(null);
      await assert.rejects(reader.verify(null), /busy \(2 reads waiting\)/);
      assert.equal((await a).ok, true);
      assert.equal((await b).ok, true);
    } finally {
      reader.close();
    }
  });

  test('close ends the thread and rejects what waits; reads after it are refused', async () => {
    const file = storeWith(3);
    const reader = new StoreReaderThread({ kind: 'sqlite', path: file }, `store ${file}`);
    const waiting = reader.verify(null);
    reader.close();
    await assert.rejects(waiting, /closed/);
    await assert.rejects(reader.listSessions({}), /closed/);
    assert.equal(reader.thread, null);
  });
});
