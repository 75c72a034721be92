// MessageFramer: whatever way a byte stream of messages is cut into reads, the framer yields
// exactly the messages that were sent, in order, and refuses bad lengths at the header.
// Split cases follow node-postgres' pg-protocol tests (split at the front, middle and end of a
// buffer), then fast-check tries arbitrary cuts, including inside the 5-byte header.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BadLengthError, MessageFramer, MessageTooLargeError } from '../../proxy/wire/framer.js';

const MAX = 64 * 1024;

function msg(type: string | number, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const out = Buffer.alloc(5 + b.length);
  out[0] = typeof type === 'number' ? type : type.charCodeAt(0);
  out.writeInt32BE(4 + b.length, 1);
  b.copy(out, 5);
  return out;
}

function header(type: number, length: number): Buffer {
  const h = Buffer.alloc(5);
  h[0] = type;
  h.writeInt32BE(length, 1);
  return h;
}

/** Drains the framer, checking each message's own framing, and returns copies of the messages. */
function drain(f: MessageFramer, out: Buffer[] = []): Buffer[] {
  while (f.next()) {
    assert.ok(f.start >= 0 && f.end <= f.buf.length && f.start + 5 <= f.end, 'message within its buffer');
    assert.equal(f.buf[f.start], f.type, 'type byte');
    assert.equal(f.buf.readInt32BE(f.start + 1) + 1, f.end - f.start, 'length matches the range');
    out.push(Buffer.from(f.buf.subarray(f.start, f.end)));
  }
  return out;
}

/** Pushes `stream` cut at `cuts` (sorted offsets), draining after each push. */
function frameAt(stream: Buffer, cuts: readonly number[], max = MAX): Buffer[] {
  const f = new MessageFramer(max);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, stream.length]) {
    f.push(stream.subarray(prev, c));
    drain(f, out);
    prev = c;
  }
  assert.equal(f.buffered, 0, 'nothing left over');
  return out;
}

// A DataRow and a CommandComplete, like pg-protocol's two-message split tests.
const dataRow = msg(
  'D',
  Buffer.concat([Buffer.from([0, 2, 0, 0, 0, 3]), Buffer.from('abc'), Buffer.from([0xff, 0xff, 0xff, 0xff])]),
);
const complete = msg('C', 'SELECT 1\0');
const two = Buffer.concat([dataRow, complete]);

describe('MessageFramer: fixed splits', () => {
  test('whole messages in one chunk are returned as views of that chunk (no copy)', () => {
    const chunk = Buffer.concat([msg('S'), dataRow, complete, msg('Z', 'I')]);
    const f = new MessageFramer(MAX);
    f.push(chunk);
    const seen: [number, number, number][] = [];
    while (f.next()) {
      assert.equal(f.buf, chunk, 'same buffer object');
      seen.push([f.type, f.start, f.end]);
    }
    assert.deepEqual(seen, [
      [0x53, 0, 5],
      [0x44, 5, 5 + dataRow.length],
      [0x43, 5 + dataRow.length, 5 + dataRow.length + complete.length],
      [0x5a, chunk.length - 6, chunk.length],
    ]);
    assert.equal(f.next(), false);
    assert.equal(f.buffered, 0);
  });

  test('an empty push and next() on an empty framer yield nothing', () => {
    const f = new MessageFramer(MAX);
    assert.equal(f.next(), false);
    f.push(Buffer.alloc(0));
    assert.equal(f.next(), false);
    f.push(msg('S'));
    assert.equal(f.next(), true);
    assert.equal(f.type, 0x53);
    assert.equal(f.next(), false);
  });

  test('one message split at every point: beginning, inside the header, middle, end', () => {
    for (let at = 0; at <= dataRow.length; at++) {
      assert.deepEqual(frameAt(dataRow, [at]), [dataRow], `split at ${at}`);
    }
  });

  test('two messages split at every point (pg-protocol: front 1/4/6/8, middle 11, end)', () => {
    for (let at = 0; at <= two.length; at++) {
      assert.deepEqual(frameAt(two, [at]), [dataRow, complete], `split at ${at}`);
    }
  });

  test('two messages cut at every pair of points', () => {
    for (let a = 0; a <= two.length; a++) {
      for (let b = a; b <= two.length; b++) {
        assert.deepEqual(frameAt(two, [a, b]), [dataRow, complete], `cuts ${a}, ${b}`);
      }
    }
  });

  test('one byte at a time', () => {
    const stream = Buffer.concat([msg('S'), dataRow, msg('Z', 'I'), complete, msg('X')]);
    const cuts = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(frameAt(stream, cuts), [msg('S'), dataRow, msg('Z', 'I'), complete, msg('X')]);
  });

  test('a message that arrives over several reads is copied once into a buffer of its size', () => {
    const big = msg('D', Buffer.alloc(1000, 7));
    const f = new MessageFramer(MAX);
    f.push(big.subarray(0, 3));
    assert.equal(f.next(), false);
    assert.equal(f.buffered, 3);
    f.push(big.subarray(3, 500));
    assert.equal(f.next(), false);
    assert.equal(f.buffered, 500);
    f.push(Buffer.concat([big.subarray(500), msg('S')]));
    assert.equal(f.next(), true);
    assert.equal(f.start, 0);
    assert.equal(f.end, big.length);
    assert.equal(f.buf.length, big.length);
    assert.deepEqual(f.buf, big);
    assert.equal(f.buffered, 5);
    assert.equal(f.next(), true);
    assert.equal(f.type, 0x53);
    assert.equal(f.next(), false);
  });

  test('a split message holds memory for the bytes that arrived, not for its length field', () => {
    // A header claiming 256 MiB followed by a few bytes: what is held stays near what was sent.
    const f = new MessageFramer(1 << 30);
    const header = Buffer.alloc(5);
    header[0] = 0x51;
    header.writeInt32BE(256 * 1024 * 1024, 1);
    const before = process.memoryUsage().arrayBuffers;
    f.push(Buffer.concat([header, Buffer.alloc(100, 1)]));
    assert.equal(f.next(), false);
    assert.equal(f.pending, 105);
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024, 'no 256 MiB buffer');
    // A big message arriving in pieces comes out whole and exact, whatever the growth steps.
    const body = Buffer.alloc(300_000);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const big = msg('D', body);
    const g = new MessageFramer(1 << 20);
    for (let at = 0; at < big.length; at += 7_001) {
      g.push(big.subarray(at, Math.min(big.length, at + 7_001)));
      if (at + 7_001 < big.length) assert.equal(g.next(), false);
    }
    assert.equal(g.next(), true);
    assert.equal(g.end - g.start, big.length);
    assert.deepEqual(g.buf.subarray(g.start, g.end), big);
  });

  test('stopping mid-chunk and pushing more resumes at the first unread message', () => {
    const a = msg('Q', 'SELECT 1\0');
    const b = msg('Q', 'SELECT 2\0');
    const c = msg('Q', 'SELECT 3\0');
    const f = new MessageFramer(MAX);
    f.push(Buffer.concat([a, b, c.subarray(0, 7)]));
    assert.equal(f.next(), true);
    assert.deepEqual(Buffer.from(f.buf.subarray(f.start, f.end)), a);
    // Stop here (a held statement), then more bytes arrive.
    assert.equal(f.buffered, b.length + 7);
    f.push(c.subarray(7));
    assert.deepEqual(drain(f), [b, c]);
    assert.equal(f.buffered, 0);
  });

  test('a message completed from a split header, then iteration stopped, then more pushed', () => {
    const a = msg('D', 'x'.repeat(20));
    const b = msg('C', 'SELECT 2\0');
    const f = new MessageFramer(MAX);
    f.push(a.subarray(0, 2));
    assert.equal(f.next(), false);
    f.push(Buffer.concat([a.subarray(2), b]));
    assert.equal(f.next(), true);
    assert.deepEqual(Buffer.from(f.buf.subarray(f.start, f.end)), a);
    // Stop: b stays unread, then the next message starts in the following push.
    const z = msg('Z', 'I');
    f.push(z);
    assert.deepEqual(drain(f), [b, z]);
  });

  test('empty-body messages (length 4) and a message of exactly the limit pass', () => {
    const atLimit = msg('d', Buffer.alloc(100 - 4, 1)); // length field 100
    assert.equal(atLimit.readInt32BE(1), 100);
    for (let at = 0; at <= atLimit.length + 5; at++) {
      const stream = Buffer.concat([msg('S'), atLimit]);
      assert.deepEqual(frameAt(stream, [Math.min(at, stream.length)], 100), [msg('S'), atLimit]);
    }
  });
});

describe('MessageFramer: bad lengths', () => {
  const cases: [string, number][] = [
    ['zero', 0],
    ['three', 3],
    ['negative', -1],
    ['most negative', -(2 ** 31)],
  ];
  for (const [name, length] of cases) {
    test(`length ${name} (${length}) -> BadLengthError, whole header or split`, () => {
      for (let at = 0; at <= 5; at++) {
        const f = new MessageFramer(MAX);
        f.push(msg('S'));
        assert.equal(f.next(), true);
        const h = header(0x51, length);
        f.push(h.subarray(0, at));
        if (at < 5) {
          assert.equal(f.next(), false, `incomplete header (${at} bytes) is not judged yet`);
          f.push(h.subarray(at));
        }
        assert.throws(
          () => f.next(),
          (e: unknown) => e instanceof BadLengthError && e.type === 0x51 && e.length === length,
          `split at ${at}`,
        );
      }
    });
  }

  test('length over the limit -> MessageTooLargeError at the header, before the body arrives', () => {
    const max = 1024 * 1024;
    for (let at = 0; at <= 5; at++) {
      const f = new MessageFramer(max);
      const h = header(0x51, 2 * 1024 * 1024);
      f.push(h.subarray(0, at));
      if (at < 5) {
        assert.equal(f.next(), false);
        f.push(h.subarray(at));
      }
      assert.throws(
        () => f.next(),
        (e: unknown) =>
          e instanceof MessageTooLargeError &&
          e.type === 0x51 &&
          e.length === 2 * 1024 * 1024 &&
          e.max === max,
      );
    }
    // One over the limit also fails; exactly the limit does not.
    const over = new MessageFramer(100);
    over.push(header(0x44, 101));
    assert.throws(() => over.next(), MessageTooLargeError);
    const exact = new MessageFramer(100);
    exact.push(header(0x44, 100));
    assert.equal(exact.next(), false);
    assert.equal(exact.buffered, 5);
  });

  test('a bad length after good messages in the same chunk: the good ones come first', () => {
    const f = new MessageFramer(MAX);
    f.push(Buffer.concat([msg('S'), msg('Z', 'I'), header(0x44, 2)]));
    assert.equal(f.next(), true);
    assert.equal(f.next(), true);
    assert.throws(() => f.next(), BadLengthError);
  });

  test('property: any length field is either accepted or refused with the right error', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.integer({ min: 4, max: 1 << 20 }),
        (length, max) => {
          const f = new MessageFramer(max);
          f.push(header(0x44, length));
          if (length < 4) assert.throws(() => f.next(), BadLengthError);
          else if (length > max) assert.throws(() => f.next(), MessageTooLargeError);
          else if (length === 4) assert.equal(f.next(), true);
          else assert.equal(f.next(), false);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

// ---- properties ------------------------------------------------------------------------------

const arbMessage = fc
  .record({
    type: fc.integer({ min: 0, max: 255 }),
    body: fc.oneof(
      { weight: 6, arbitrary: fc.uint8Array({ maxLength: 40 }) },
      { weight: 3, arbitrary: fc.uint8Array({ minLength: 41, maxLength: 600 }) },
      {
        weight: 1,
        arbitrary: fc.integer({ min: 600, max: 20_000 }).map((n) => new Uint8Array(n).fill(n & 0xff)),
      },
    ),
  })
  .map(({ type, body }) => msg(type, Buffer.from(body)));

const arbStream = fc.array(arbMessage, { minLength: 0, maxLength: 30 });

/** Sorted cut offsets into a stream of `n` bytes, biased towards small pieces. */
const arbCuts = (n: number) =>
  fc
    .oneof(
      fc.uniqueArray(fc.integer({ min: 0, max: n }), { maxLength: 40 }),
      // Cuts close together: many splits inside headers.
      fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 200 }).map((steps) => {
        const cuts: number[] = [];
        let at = 0;
        for (const s of steps) {
          at += s;
          if (at < n) cuts.push(at);
        }
        return cuts;
      }),
    )
    .map((cuts) => [...new Set(cuts)].sort((a, b) => a - b));

describe('MessageFramer: properties', () => {
  test('random messages, concatenated and cut anywhere, come out the same and in order', () => {
    fc.assert(
      fc.property(
        arbStream.chain((msgs) => {
          const stream = Buffer.concat(msgs);
          return fc.tuple(fc.constant(msgs), fc.constant(stream), arbCuts(stream.length));
        }),
        ([msgs, stream, cuts]) => {
          assert.deepEqual(frameAt(stream, cuts), msgs);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('stopping iteration at any point and pushing more later loses and repeats nothing', () => {
    fc.assert(
      fc.property(
        arbStream.chain((msgs) => {
          const stream = Buffer.concat(msgs);
          return fc.tuple(
            fc.constant(msgs),
            fc.constant(stream),
            arbCuts(stream.length),
            // How many messages to take after each push (0 = stop at once); beyond what is there = drain.
            fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 50, maxLength: 50 }),
          );
        }),
        ([msgs, stream, cuts, takes]) => {
          const f = new MessageFramer(MAX);
          const out: Buffer[] = [];
          let pushed = 0;
          let returned = 0;
          let prev = 0;
          [...cuts, stream.length].forEach((c, i) => {
            f.push(stream.subarray(prev, c));
            pushed += c - prev;
            prev = c;
            for (let k = 0; k < takes[i % takes.length] && f.next(); k++) {
              out.push(Buffer.from(f.buf.subarray(f.start, f.end)));
              returned += f.end - f.start;
            }
            assert.equal(f.buffered, pushed - returned, 'buffered = pushed - returned');
          });
          drain(f, out);
          assert.deepEqual(out, msgs);
          assert.equal(f.buffered, 0);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('one byte at a time, for random streams', () => {
    fc.assert(
      fc.property(
        fc.array(
          arbMessage.filter((m) => m.length < 2000),
          { maxLength: 10 },
        ),
        (msgs) => {
          const stream = Buffer.concat(msgs);
          const f = new MessageFramer(MAX);
          const out: Buffer[] = [];
          for (let i = 0; i < stream.length; i++) {
            f.push(stream.subarray(i, i + 1));
            drain(f, out);
          }
          assert.deepEqual(out, msgs);
        },
      ),
      { numRuns: 100 },
    );
  });

  test('a bad header anywhere in a random stream is reported after exactly the messages before it', () => {
    fc.assert(
      fc.property(
        arbStream,
        fc.oneof(fc.integer({ min: -(2 ** 31), max: 3 }), fc.integer({ min: MAX + 1, max: 2 ** 31 - 1 })),
        fc.nat(),
        (msgs, badLength, seed) => {
          const stream = Buffer.concat([...msgs, header(0x51, badLength), Buffer.alloc(10)]);
          const cutAt = seed % (stream.length + 1);
          const f = new MessageFramer(MAX);
          const out: Buffer[] = [];
          let err: unknown = null;
          try {
            f.push(stream.subarray(0, cutAt));
            drain(f, out);
            f.push(stream.subarray(cutAt));
            drain(f, out);
          } catch (e) {
            err = e;
          }
          assert.deepEqual(out, msgs);
          assert.ok(
            badLength < 4 ? err instanceof BadLengthError : err instanceof MessageTooLargeError,
            String(err),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
