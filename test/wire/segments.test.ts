// SegmentList keeps the bytes and their order exactly, whatever mix of ranges it is given, and
// merges ranges that follow each other in memory: the same buffer, or views of one ArrayBuffer
// (the rows the masker cuts from its arena), so a run of them is written as one slice.

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import { SegmentList } from '../../proxy/wire/segments.js';

function collect(list: SegmentList): { bytes: Buffer; writes: number } {
  const parts: Buffer[] = [];
  let writes = 0;
  const out = new Writable({
    write(chunk: Buffer, _e, cb) {
      parts.push(chunk);
      writes++;
      cb();
    },
    writev(chunks, cb) {
      for (const c of chunks) parts.push(c.chunk as Buffer);
      writes += chunks.length;
      cb();
    },
  });
  list.writeTo(out);
  return { bytes: Buffer.concat(parts), writes };
}

test('views cut back to back from one ArrayBuffer become one segment', () => {
  const arena = Buffer.allocUnsafeSlow(1024);
  for (let i = 0; i < 1024; i++) arena[i] = i & 0xff;
  const list = new SegmentList();
  let at = 0;
  for (const n of [10, 7, 100, 1, 300]) {
    const view = arena.subarray(at, at + n);
    list.pass(view, 0, view.length);
    at += n;
  }
  const { bytes, writes } = collect(list);
  assert.equal(writes, 1, 'one write for the whole run');
  assert.deepEqual(bytes, arena.subarray(0, at));
});

test('a gap, another buffer or an added buffer starts a new segment', () => {
  const arena = Buffer.from('abcdefghij');
  const other = Buffer.from('XYZ');
  const list = new SegmentList();
  list.pass(arena.subarray(0, 3), 0, 3); // abc
  list.pass(arena.subarray(4, 6), 0, 2); // ef (gap: d skipped)
  list.pass(other, 1, 3); // YZ
  list.add(Buffer.from('!'));
  list.pass(arena, 6, 8); // gh
  const { bytes, writes } = collect(list);
  assert.equal(bytes.toString(), 'abcefYZ!gh');
  assert.equal(writes, 5);
});

test('any sequence of ranges comes out as their concatenation (property)', () => {
  const pool = Buffer.allocUnsafeSlow(4096);
  for (let i = 0; i < pool.length; i++) pool[i] = (i * 7) & 0xff;
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          view: fc.nat(4000),
          len: fc.nat(90),
          from: fc.nat(10),
          kind: fc.constantFrom('view', 'same', 'add'),
        }),
        { maxLength: 40 },
      ),
      (ops) => {
        const list = new SegmentList();
        const want: Buffer[] = [];
        for (const o of ops) {
          const start = Math.min(o.view, pool.length - 1);
          const end = Math.min(start + o.len + o.from, pool.length);
          const from = Math.min(o.from, end - start);
          if (o.kind === 'add') {
            const b = Buffer.from(pool.subarray(start, end));
            list.add(b);
            want.push(b);
          } else {
            const buf = o.kind === 'same' ? pool : pool.subarray(start, end);
            const s = o.kind === 'same' ? start + from : from;
            const e = o.kind === 'same' ? end : end - start;
            list.pass(buf, s, e);
            want.push(buf.subarray(s, e));
          }
        }
        assert.equal(list.bytes, Buffer.concat(want).length);
        assert.deepEqual(collect(list).bytes, Buffer.concat(want));
      },
    ),
    { numRuns: 500 },
  );
});
