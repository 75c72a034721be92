// The recording journal's two segments: appends move to the other file once one is large and the
// other is free, a segment is emptied only when the store has applied all of it, and a replay
// after a kill applies both files' batches in position order, whichever file is older.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { BatchSerializer, RecordJournal, replayJournal, segmentPaths } from '../../proxy/store/journal.js';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import type { StoreEntry } from '../../proxy/store/types.js';
import { chunk, frame, session, tempStorePath } from './fixtures.js';

const A = 'aaaa0000-0000-4000-8000-00000000000a';
const serializer = new BatchSerializer();

/** One batch of one frame of session A at `seq` (its payload is about 300 bytes). */
function batch(seq: number): StoreEntry[] {
  return [chunk(A, seq, seq % 2 ? 'client' : 'server', seq, [frame(0x44, Buffer.alloc(150, seq))])];
}

const sizes = (path: string) => segmentPaths(path).map((p) => fs.statSync(p).size);

test('appends move to the other segment once one is large and the other is empty', () => {
  const path = `${tempStorePath()}.journal`;
  const j = new RecordJournal(path, 1000);
  const segmentsUsed: number[] = [];
  for (let end = 1; end <= 5; end++)
    segmentsUsed.push(j.append(end, serializer.serialize(batch(end))).segment);
  assert.deepEqual(segmentsUsed, [0, 0, 0, 0, 1], 'the fifth batch finds the first segment past 1000 bytes');
  const [first] = sizes(path);
  assert.ok(first >= 1000);

  // Applied up to 3: the first segment still holds 4, so it stays.
  j.applied(3, 0);
  assert.equal(sizes(path)[0], first);
  // Applied up to 4: everything in the first segment is in the store; it is emptied. The second
  // holds 5 and takes appends: it stays.
  j.applied(4, 0);
  assert.deepEqual(
    sizes(path).map((s) => s > 0),
    [false, true],
  );

  // The second segment fills up and hands appends back to the (empty) first one.
  for (let end = 6; end <= 9; end++)
    segmentsUsed.push(j.append(end, serializer.serialize(batch(end))).segment);
  assert.deepEqual(segmentsUsed.slice(5), [1, 1, 1, 0]);
  // It cannot hand them over while the other still holds what the store lacks.
  for (let end = 10; end <= 14; end++)
    segmentsUsed.push(j.append(end, serializer.serialize(batch(end))).segment);
  assert.deepEqual(segmentsUsed.slice(9), [0, 0, 0, 0, 0]);
  // The segment taking appends is emptied only once it is `keepBytes` large, here never.
  j.applied(14, Number.POSITIVE_INFINITY);
  assert.deepEqual(
    sizes(path).map((s) => s > 0),
    [true, false],
  );
  j.applied(14, 0);
  assert.deepEqual(sizes(path), [0, 0]);
  j.close();
});

test('a replay applies both segments in position order, once, whichever file is older', () => {
  const storePath = tempStorePath();
  const path = `${storePath}.journal`;
  const store = openSqliteStore(storePath);
  store.append([{ kind: 'session_open', session: session(A) }], 1);
  const j = new RecordJournal(path, 700);
  const places: number[] = [];
  for (let end = 2; end <= 13; end++) {
    places.push(j.append(end, serializer.serialize(batch(end - 1))).segment);
    if (end === 5) {
      // The writer thread has applied 2..4 (the whole first segment): it is emptied.
      for (let e = 2; e <= 4; e++) store.append(batch(e - 1), e);
      j.applied(4, 0);
    }
  }
  j.close();
  // 2..4 in the first file (emptied), 5..7 in the second, 8..13 in the first again: the second
  // file now holds the older batches, and a kill leaves both.
  assert.deepEqual(places, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
  const before = sizes(path);
  assert.ok(before[0] > 0 && before[1] > 0, 'both segments hold batches');
  // A torn record at the end of one file (a kill mid-write) was never acknowledged: ignored.
  fs.appendFileSync(segmentPaths(path)[0], Buffer.from([0xb4, 0x57, 0x10, 0x4e, 0, 0, 9, 0]));

  assert.equal(replayJournal(store, path), 9);
  assert.deepEqual(
    store.readFrames(A).map((f) => f.seq),
    Array.from({ length: 12 }, (_, i) => i + 1),
  );
  assert.equal(store.journalApplied(), 13);
  assert.equal(store.verify().ok, true);
  assert.deepEqual(sizes(path), [0, 0], 'both segments emptied');
  assert.equal(replayJournal(store, path), 0, 'nothing twice');
  store.close();
});

test('a segment left by a run that was not replayed is never taken for applied', () => {
  const path = `${tempStorePath()}.journal`;
  const first = new RecordJournal(path, 1000);
  first.append(7, serializer.serialize(batch(7)));
  first.close();
  const left = sizes(path)[0];
  const j = new RecordJournal(path, 1000);
  j.append(8, serializer.serialize(batch(8)));
  j.applied(1_000_000, 0);
  assert.ok(sizes(path)[0] > left, 'kept, with the new batch after it');
  j.truncate();
  assert.deepEqual(sizes(path), [0, 0]);
  j.close();
});
