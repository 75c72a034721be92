// A write that SQLite refuses must throw, leave nothing behind and keep the chain head, so the
// next append continues a valid chain.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import { chunk, frame, session, statement, tempStorePath } from './fixtures.js';

const A = 'aaaa0000-0000-4000-8000-000000000001';
const B = 'bbbb0000-0000-4000-8000-000000000002';

function started() {
  const store = openSqliteStore(tempStorePath());
  store.append([
    { kind: 'session_open', session: session(A) },
    chunk(A, 0, 'client', 0, [frame(0x51, 'SELECT 1\0')]),
    { kind: 'statement', statement: statement(A, 1) },
  ]);
  return store;
}

/** The batch a failing write tries: a new session, a big chunk, a statement. */
const batch = () => [
  { kind: 'session_open' as const, session: session(B) },
  chunk(B, 0, 'server', 5, [frame(0x44, Buffer.alloc(256 * 1024, 7))]),
  { kind: 'statement' as const, statement: statement(B, 1) },
];

test('a read-only connection (query_only): append throws, nothing written, head kept', () => {
  const store = started();
  const head = store.chainHead;
  store.pragma('query_only = 1');
  assert.throws(() => store.append(batch()), /append failed.*readonly/);
  assert.deepEqual(store.chainHead, head);
  store.pragma('query_only = 0');
  assert.equal(store.getSession(B), undefined);
  store.append(batch());
  assert.deepEqual(store.verify(), { ok: true, records: 6, head: store.chainHead.digest });
  store.close();
});

test('a full disk (max_page_count): append throws mid-batch, rolls back, head kept', () => {
  const store = started();
  const head = store.chainHead;
  const pages = store.pragma('page_count') as [{ page_count: number }];
  store.pragma(`max_page_count = ${pages[0].page_count}`);
  assert.throws(() => store.append(batch()), /append failed.*full/);
  assert.deepEqual(store.chainHead, head);
  assert.equal(store.getSession(B), undefined);
  assert.deepEqual(store.readFrames(B), []);
  assert.deepEqual(store.verify(), { ok: true, records: 3, head: head.digest });
  store.pragma('max_page_count = 1073741823');
  store.append(batch());
  assert.equal(store.readFrames(B)[0].body.length, 256 * 1024);
  assert.deepEqual(store.verify(), { ok: true, records: 6, head: store.chainHead.digest });
  store.close();
});

test('another writer appending to the same file is refused rather than forking the chain', () => {
  const path = tempStorePath();
  const one = openSqliteStore(path);
  one.append([{ kind: 'session_open', session: session(A) }]);
  const two = openSqliteStore(path);
  two.append([{ kind: 'session_open', session: session(B) }]);
  assert.throws(() => one.append([{ kind: 'statement', statement: statement(A, 1) }]), /another writer/);
  assert.equal(one.verify().ok, true);
  one.close();
  two.close();
});
