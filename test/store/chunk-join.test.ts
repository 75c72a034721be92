// Frame chunks joined into one record (chunk-join.ts, format 2 in frames.ts): which entries are
// joined, that every frame reads back with its own direction and time from any seq, that a joined
// store holds what a store of one record per entry holds, and that tampering with a part is caught.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { JOIN_BYTES, joinFrameChunks } from '../../proxy/store/chunk-join.js';
import { decodeChunkHeader, encodePartsBody, splitChunk } from '../../proxy/store/frames.js';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import type { FrameChunk, StoredFrame, StoreEntry } from '../../proxy/store/types.js';
import { chunk, frame, session, statement, tempStorePath } from './fixtures.js';

const A = 'aaaa0000-0000-4000-8000-000000000001';
const B = 'bbbb0000-0000-4000-8000-000000000002';

/** A name per write item, to compare orders: "A1-3" = chunks of A from seq 1 to 3 joined. */
function shape(items: ReturnType<typeof joinFrameChunks>): string[] {
  return items.map((it) => {
    if (Array.isArray(it)) return `${it[0].sessionId[0].toUpperCase()}${it[0].seq}-${it.at(-1)!.seq}`;
    if (it.kind === 'frames') return `${it.sessionId[0].toUpperCase()}${it.seq}`;
    if (it.kind === 'statement') return `st ${it.statement.sessionId[0].toUpperCase()}${it.statement.seq}`;
    return it.kind;
  });
}

const q = (s: string) => frame(0x51, `${s}\0`);

test('a session’s chunks that follow each other are joined; its statements come after them', () => {
  const entries: StoreEntry[] = [
    { kind: 'session_open', session: session(A) },
    chunk(A, 1, 'client', 0, [q('SELECT 1')]),
    chunk(B, 1, 'client', 0, [q('SELECT 2')]),
    chunk(A, 2, 'server', 5, [frame(0x43, 'SELECT 1\0'), frame(0x5a, 'I')]),
    { kind: 'statement', statement: statement(A, 1) },
    chunk(A, 4, 'client', 9, [q('SELECT 3')]),
    // A gap in A's seqs: a new run.
    chunk(A, 9, 'client', 12, [q('SELECT 4')]),
    chunk(B, 2, 'server', 3, [frame(0x5a, 'I')]),
    { kind: 'statement', statement: statement(B, 1) },
    // Anything else ends every run first.
    { kind: 'session_close', sessionId: B, endedAt: 99, endReason: 'client terminated' },
    chunk(A, 10, 'server', 20, [frame(0x5a, 'I')]),
    { kind: 'statement', statement: statement(A, 2) },
  ];
  assert.deepEqual(shape(joinFrameChunks(entries)), [
    'session_open',
    'A1-4',
    'st A1',
    'B1-2',
    'st B1',
    'A9',
    'session_close',
    'A10',
    'st A2',
  ]);
});

test('a run ends before it passes JOIN_BYTES', () => {
  const big = Buffer.alloc(JOIN_BYTES / 2 - 100, 7);
  const entries = [1, 2, 3].map((seq) => chunk(A, seq, 'server', seq, [frame(0x44, big)]));
  assert.deepEqual(shape(joinFrameChunks(entries)), ['A1-2', 'A3']);
});

/** Format 2 body of chunks of A: c client frames at t=0, s server frames at t=1, c client at t=2. */
function mixedBody(c: number, s: number): { parts: FrameChunk[]; body: Buffer } {
  const parts = [
    chunk(
      A,
      5,
      'client',
      100,
      Array.from({ length: c }, (_, i) => q(`c${i}`)),
    ),
    chunk(
      A,
      5 + c,
      'server',
      110,
      Array.from({ length: s }, (_, i) => frame(0x44, `s${i}`)),
    ),
    chunk(A, 5 + c + s, 'client', 120, [q('last')]),
  ];
  return { parts, body: encodePartsBody(parts) };
}

test('format 2: the header, and every frame from any seq with its own direction and time', () => {
  const { body } = mixedBody(3, 4);
  assert.deepEqual(decodeChunkHeader(body), { seq: 5, count: 8, dir: 'mixed', tUs: 100 });
  const all: StoredFrame[] = [];
  splitChunk(body, 0, Number.POSITIVE_INFINITY, all);
  assert.deepEqual(
    all.map((f) => `${f.seq} ${f.dir} ${f.tUs} ${f.body.toString('utf8').replace('\0', '')}`),
    [
      '5 client 100 c0',
      '6 client 100 c1',
      '7 client 100 c2',
      '8 server 110 s0',
      '9 server 110 s1',
      '10 server 110 s2',
      '11 server 110 s3',
      '12 client 120 last',
    ],
  );
  for (let from = 5; from <= 12; from++) {
    for (const limit of [1, 2, 5, 100]) {
      const out: StoredFrame[] = [];
      splitChunk(body, from, limit, out);
      assert.deepEqual(
        out.map((f) => f.seq),
        all
          .filter((f) => f.seq >= from)
          .slice(0, limit)
          .map((f) => f.seq),
        `from ${from}, limit ${limit}`,
      );
    }
  }
  const oneWay = encodePartsBody([chunk(A, 1, 'server', 0, [q('a')]), chunk(A, 2, 'server', 1, [q('b')])]);
  assert.equal(decodeChunkHeader(oneWay).dir, 'server');
});

test('format 2: chunks that do not follow each other are refused, a damaged body is refused on reading', () => {
  assert.throws(
    () => encodePartsBody([chunk(A, 1, 'client', 0, [q('a')]), chunk(A, 3, 'client', 1, [q('b')])]),
    /do not follow each other at seq 3/,
  );
  assert.throws(
    () => encodePartsBody([chunk(A, 1, 'client', 0, [q('a')]), chunk(B, 2, 'client', 1, [q('b')])]),
    /do not follow each other/,
  );
  const { body } = mixedBody(2, 2);
  const read = (b: Buffer) => splitChunk(b, 0, Number.POSITIVE_INFINITY, []);
  assert.throws(() => read(body.subarray(0, body.length - 3)), /truncated|malformed/);
  const extra = Buffer.concat([body, Buffer.from([0])]);
  assert.throws(() => read(extra), /malformed/);
  const badDir = Buffer.from(body);
  badDir[22] = 5; // the first part's direction
  assert.throws(() => read(badDir), /malformed/);
  const badCount = Buffer.from(body);
  badCount.writeUInt32BE(99, 23); // the first part claims more frames than the record
  assert.throws(() => read(badCount), /malformed|truncated/);
});

/** Two sessions' traffic, interleaved as sessions on one event loop produce it. */
function traffic(): StoreEntry[][] {
  const batches: StoreEntry[][] = [
    [
      { kind: 'session_open', session: session(A) },
      { kind: 'session_open', session: session(B) },
    ],
  ];
  const seq = { [A]: 1, [B]: 1 } as Record<string, number>;
  let t = 0;
  for (let batch = 0; batch < 4; batch++) {
    const entries: StoreEntry[] = [];
    for (let i = 0; i < 6; i++) {
      for (const id of [A, B]) {
        const first = seq[id];
        entries.push(chunk(id, first, 'client', t++, [q(`SELECT ${first}`)]));
        entries.push(chunk(id, first + 1, 'server', t++, [frame(0x44, `row ${first}`), frame(0x5a, 'I')]));
        seq[id] += 3;
        entries.push({
          kind: 'statement',
          statement: statement(id, first, { firstFrame: first, lastFrame: first + 2 }),
        });
      }
    }
    batches.push(entries);
  }
  batches.push([
    { kind: 'session_close', sessionId: A, endedAt: 1, endReason: 'client terminated' },
    { kind: 'session_close', sessionId: B, endedAt: 2, endReason: 'client terminated' },
  ]);
  return batches;
}

test('a store that joins chunks holds what a store of one record per entry holds, in fewer records', () => {
  const stores = [false, true].map((join) => {
    const path = tempStorePath();
    const store = openSqliteStore(path, { joinFrameChunks: join });
    for (const batch of traffic()) store.append(batch);
    return { store, path };
  });
  const [plain, joined] = stores.map((s) => s.store);
  for (const id of [A, B]) {
    assert.deepEqual(joined.readFrames(id), plain.readFrames(id));
    for (const from of [1, 2, 7, 17])
      assert.deepEqual(joined.readFrames(id, from, 5), plain.readFrames(id, from, 5));
    assert.deepEqual(joined.listStatements(id), plain.listStatements(id));
    assert.equal(joined.frameCount(id), plain.frameCount(id));
  }
  assert.equal(plain.verify().ok, true);
  assert.equal(joined.verify().ok, true);
  // 2 opens, 2 closes, 48 statements; frames: 96 chunks, or one record per session per batch.
  assert.equal(plain.chainHead.id, 2 + 96 + 48 + 2);
  assert.equal(joined.chainHead.id, 2 + 8 + 48 + 2);
  for (const s of stores) s.store.close();

  // A byte changed inside the second part of a joined record is caught at that record.
  const db = new Database(stores[1].path);
  const row = db.prepare("SELECT id, body FROM records WHERE kind = 'frames' ORDER BY id LIMIT 1").get() as {
    id: number;
    body: Buffer;
  };
  assert.equal(decodeChunkHeader(row.body).dir, 'mixed');
  const at = row.body.indexOf('row 1');
  assert.ok(at > 0);
  row.body[at + 4] ^= 0x01;
  db.exec('DROP TRIGGER records_no_update');
  db.prepare('UPDATE records SET body = ? WHERE id = ?').run(row.body, row.id);
  db.close();
  const reopened = openSqliteStore(stores[1].path, { readonly: true });
  const v = reopened.verify();
  reopened.close();
  assert.equal(v.ok, false);
  assert.equal(v.firstBad?.id, row.id);
  assert.match(v.firstBad?.reason ?? '', /digest mismatch/);
});
