import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import { chunk, frame, session, statement, tempStorePath } from './fixtures.js';

const A = 'aaaa1111-0000-4000-8000-000000000001';
const A2 = 'aaaa2222-0000-4000-8000-000000000002';
const B = 'bbbb1111-0000-4000-8000-000000000003';

describe('sqlite store: append and read back', () => {
  const path = tempStorePath();
  const store = openSqliteStore(path);
  after(() => store.close());

  const startup = frame(0, Buffer.from('\x00\x03\x00\x00user\x00agent-1\x00\x00', 'latin1'));
  const q1 = frame(0x51, 'SELECT 1\0');
  store.append([
    { kind: 'session_open', session: session(A, { startedAt: 100 }) },
    chunk(A, 0, 'client', 0, [startup]),
    chunk(A, 1, 'server', 10, [frame(0x52, '\0\0\0\0'), frame(0x5a, 'I')]),
    chunk(A, 3, 'client', 20, [q1]),
    chunk(A, 4, 'server', 30, [
      frame(0x54, 'rd'),
      frame(0x44, 'r1'),
      frame(0x44, 'r2'),
      frame(0x43, 'SELECT 2\0'),
    ]),
    { kind: 'statement', statement: statement(A, 1, { params: ['x', null], masked: { email: 2 } }) },
  ]);
  store.append([
    { kind: 'session_open', session: session(B, { startedAt: 300, identity: 'agent-2', tls: false }) },
    {
      kind: 'session_open',
      session: session(A2, { startedAt: 200, connection: 'other', applicationName: null }),
    },
    { kind: 'statement', statement: statement(A, 2, { truncated: true, uncapturedDigest: 'ab'.repeat(32) }) },
    { kind: 'session_close', sessionId: A, endedAt: 900, endReason: 'client terminated' },
  ]);

  test('sessions are projected with their statement count and close', () => {
    const a = store.getSession(A);
    assert.deepEqual(a, {
      ...session(A, { startedAt: 100 }),
      statements: 2,
      endedAt: 900,
      endReason: 'client terminated',
    });
    assert.equal(store.getSession(B)?.tls, false);
    assert.equal(store.getSession(A2)?.applicationName, null);
  });

  test('statements come back in seq order, params and masked intact', () => {
    const sts = store.listStatements(A);
    assert.deepEqual(
      sts.map((s) => s.seq),
      [1, 2],
    );
    assert.deepEqual(sts[0], statement(A, 1, { params: ['x', null], masked: { email: 2 } }));
    assert.deepEqual(sts[1], statement(A, 2, { truncated: true, uncapturedDigest: 'ab'.repeat(32) }));
    assert.deepEqual(store.listStatements('nope'), []);
  });

  test('frames are split out of chunks, in seq order, startup packets as type 0', () => {
    const all = store.readFrames(A);
    assert.deepEqual(
      all.map((f) => [f.seq, f.dir, f.tUs, f.type]),
      [
        [0, 'client', 0, 0],
        [1, 'server', 10, 0x52],
        [2, 'server', 10, 0x5a],
        [3, 'client', 20, 0x51],
        [4, 'server', 30, 0x54],
        [5, 'server', 30, 0x44],
        [6, 'server', 30, 0x44],
        [7, 'server', 30, 0x43],
      ],
    );
    assert.deepEqual(all[0].body, startup.subarray(5));
    assert.equal(all[3].body.toString(), 'SELECT 1\0');
    assert.equal(all[6].body.toString(), 'r2');
  });

  test('readFrames honours fromSeq and limit across chunk boundaries', () => {
    const seqs = (from?: number, limit?: number) => store.readFrames(A, from, limit).map((f) => f.seq);
    assert.deepEqual(seqs(2, 3), [2, 3, 4]);
    assert.deepEqual(seqs(5), [5, 6, 7]);
    assert.deepEqual(seqs(0, 1), [0]);
    assert.deepEqual(seqs(1, 2), [1, 2]);
    assert.deepEqual(seqs(7, 10), [7]);
    assert.deepEqual(seqs(8), []);
    assert.deepEqual(seqs(0, 0), []);
    assert.deepEqual(store.readFrames(B), []);
  });

  test('listSessions: newest first, filters, limit and offset', () => {
    const ids = (q?: Parameters<typeof store.listSessions>[0]) => store.listSessions(q).map((s) => s.id);
    assert.deepEqual(ids(), [B, A2, A]);
    assert.deepEqual(ids({ identity: 'agent-1' }), [A2, A]);
    assert.deepEqual(ids({ connection: 'other' }), [A2]);
    assert.deepEqual(ids({ since: 200 }), [B, A2]);
    assert.deepEqual(ids({ until: 200 }), [A2, A]);
    assert.deepEqual(ids({ since: 150, until: 250, identity: 'agent-1' }), [A2]);
    assert.deepEqual(ids({ limit: 2 }), [B, A2]);
    assert.deepEqual(ids({ limit: 2, offset: 2 }), [A]);
    assert.deepEqual(ids({ identity: 'nobody' }), []);
  });

  test('getSession by full id, unique prefix; ambiguous prefix throws; unknown is undefined', () => {
    assert.equal(store.getSession(A)?.id, A);
    assert.equal(store.getSession('aaaa1')?.id, A);
    assert.equal(store.getSession('b')?.id, B);
    assert.throws(() => store.getSession('aaaa'), /ambiguous/);
    assert.equal(store.getSession('c'), undefined);
    assert.equal(store.getSession(''), undefined);
  });

  test('verify is ok on a clean store and reports the head', () => {
    const v = store.verify();
    assert.deepEqual(v, { ok: true, records: 10, head: store.chainHead.digest });
    assert.match(v.head ?? '', /^[0-9a-f]{64}$/);
  });
});

describe('sqlite store: lifecycle', () => {
  test('an empty store verifies with no head', () => {
    const store = openSqliteStore(tempStorePath());
    assert.deepEqual(store.verify(), { ok: true, records: 0, head: null });
    store.close();
  });

  test('append after reopen continues the chain', () => {
    const path = tempStorePath();
    let store = openSqliteStore(path);
    store.append([
      { kind: 'session_open', session: session(A) },
      chunk(A, 0, 'client', 0, [frame(0x51, 'x')]),
    ]);
    const head = store.chainHead;
    store.close();
    store = openSqliteStore(path);
    assert.deepEqual(store.chainHead, head);
    store.append([
      chunk(A, 1, 'server', 5, [frame(0x5a, 'I')]),
      { kind: 'statement', statement: statement(A, 1) },
    ]);
    const v = store.verify();
    assert.equal(v.ok, true);
    assert.equal(v.records, 4);
    assert.equal(store.getSession(A)?.statements, 1);
    store.close();
  });

  test('closeInterrupted closes only open sessions, with chained records', () => {
    const path = tempStorePath();
    let store = openSqliteStore(path);
    store.append([
      { kind: 'session_open', session: session(A) },
      { kind: 'session_open', session: session(B) },
      { kind: 'session_open', session: session(A2) },
      { kind: 'session_close', sessionId: B, endedAt: 5, endReason: 'client terminated' },
    ]);
    store.close(); // a crash, as far as the store can tell
    store = openSqliteStore(path);
    assert.equal(store.closeInterrupted(777), 2);
    for (const id of [A, A2]) {
      const s = store.getSession(id);
      assert.equal(s?.endedAt, 777);
      assert.equal(s?.endReason, 'interrupted');
    }
    assert.equal(store.getSession(B)?.endReason, 'client terminated');
    assert.equal(store.closeInterrupted(778), 0);
    assert.deepEqual(store.verify(), { ok: true, records: 6, head: store.chainHead.digest });
    store.close();
  });

  test('read-only: a missing file is a clear error naming the path', () => {
    const path = tempStorePath('missing.db');
    assert.throws(
      () => openSqliteStore(path, { readonly: true }),
      (e: Error) => e.message.includes(path),
    );
  });

  test('read-only: reads and verifies an existing store, refuses writes', () => {
    const path = tempStorePath();
    const writer = openSqliteStore(path);
    writer.append([
      { kind: 'session_open', session: session(A) },
      chunk(A, 0, 'client', 0, [frame(0x51, 'x')]),
    ]);
    writer.close();
    const reader = openSqliteStore(path, { readonly: true });
    assert.equal(reader.getSession(A)?.id, A);
    assert.equal(reader.readFrames(A).length, 1);
    assert.equal(reader.verify().ok, true);
    assert.throws(() => reader.append([{ kind: 'session_open', session: session(B) }]), /read-only/);
    reader.close();
  });

  test('read-only while a writer is open (CLI next to a running gateway)', () => {
    const path = tempStorePath();
    const writer = openSqliteStore(path);
    writer.append([{ kind: 'session_open', session: session(A) }]);
    const reader = openSqliteStore(path, { readonly: true });
    writer.append([{ kind: 'session_open', session: session(B) }]);
    assert.equal(reader.listSessions().length, 2);
    assert.equal(reader.verify().ok, true);
    reader.close();
    writer.close();
  });
});

describe('sqlite store: refusing bad entries', () => {
  const path = tempStorePath();
  const store = openSqliteStore(path);
  after(() => store.close());
  store.append([{ kind: 'session_open', session: session(A) }]);

  const refused = (entries: Parameters<typeof store.append>[0], message: RegExp) => {
    const head = store.chainHead;
    assert.throws(() => store.append(entries), message);
    assert.deepEqual(store.chainHead, head);
    assert.equal(store.verify().ok, true);
  };

  test('a chunk whose count does not match its data', () => {
    const bad = { ...chunk(A, 0, 'client', 0, [frame(0x51, 'x'), frame(0x51, 'y')]), count: 3 };
    refused([{ kind: 'session_open', session: session(B) }, bad], /count is 3 but data holds 2/);
    assert.equal(store.getSession(B), undefined, 'the whole batch rolled back');
  });

  test('a chunk with a cut-off frame', () => {
    const data = frame(0x51, 'hello').subarray(0, 7);
    refused(
      [{ kind: 'frames', sessionId: A, seq: 0, count: 1, dir: 'client', tUs: 0, data }],
      /truncated|invalid/,
    );
  });

  test('a statement or close for an unknown session, a second close, a duplicate open', () => {
    refused([{ kind: 'statement', statement: statement(B, 1) }], /unknown session/);
    refused([{ kind: 'session_close', sessionId: B, endedAt: 1, endReason: 'x' }], /unknown session/);
    store.append([{ kind: 'session_close', sessionId: A, endedAt: 1, endReason: 'x' }]);
    refused([{ kind: 'session_close', sessionId: A, endedAt: 2, endReason: 'y' }], /already closed/);
    refused([{ kind: 'session_open', session: session(A) }], /UNIQUE|PRIMARY KEY/);
  });

  test('a field of the wrong type', () => {
    refused(
      [{ kind: 'session_open', session: { ...session(B), startedAt: 1.5 } }],
      /startedAt must be an integer/,
    );
  });
});
