import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { RunDigest } from '../../proxy/session/run-digest.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('ranges of one buffer, views of one memory and separate buffers hash as their concatenation', () => {
  const read = randomBytes(4096);
  const arena = Buffer.from(randomBytes(1024));
  const rows = [arena.subarray(0, 100), arena.subarray(100, 350), arena.subarray(350, 351)];
  const other = randomBytes(77);
  const d = new RunDigest();
  // A run in one read, a gap (a captured message not hashed), then the rest of the read.
  d.add(read, 0, 10);
  d.add(read, 10, 500);
  d.add(read, 600, 4096);
  // Rows rewritten into one arena, each its own Buffer object.
  for (const r of rows) d.add(r, 0, r.length);
  d.add(other, 5, 77);
  // The same memory again, but not where the run ended: a new run, not a merge.
  d.add(arena, 0, 3);
  const expected = Buffer.concat([
    read.subarray(0, 500),
    read.subarray(600),
    arena.subarray(0, 351),
    other.subarray(5),
    arena.subarray(0, 3),
  ]);
  assert.equal(d.hex(), sha(expected));
});

test('nothing but empty ranges: the digest of nothing', () => {
  const d = new RunDigest();
  const b = randomBytes(8);
  d.add(b, 3, 3);
  assert.equal(d.hex(), sha(Buffer.alloc(0)));
});
