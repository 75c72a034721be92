// Fuzzing what clients send once logged in: the framer that cuts the byte stream into messages
// (lying length fields, 1 GB claims, any cut), the field readers the session decides statements
// with, and the replay decoder. Each may refuse input only with its own error, never another
// exception, never a hang, never a read outside the message it was given.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseFunctionCall } from '../../proxy/masking/fcall.js';
import { parseBindResultFormats } from '../../proxy/masking/plan.js';
import { decodeFrame, decodeFrameStrict } from '../../proxy/wire/decode.js';
import {
  bindMessage,
  closeTarget,
  executePortal,
  FieldError,
  functionOid,
  parseMessage,
  passwordText,
  querySql,
  saslInitialResponse,
} from '../../proxy/wire/fields.js';
import { BadLengthError, MessageFramer, MessageTooLargeError } from '../../proxy/wire/framer.js';
import { bytesOf, corpus, fuzz, int16, int32, lyingInt32, nastyBytes, typed } from './harness.js';

const MAX = 64 * 1024;
const CLIENT_TYPES = [...'QPBDECSHdcfFXp'].map((c) => c.charCodeAt(0));

/** Feeds `stream` cut at `cuts`; checks every message yielded; returns what happened. */
function frame(stream: Buffer, cuts: number[]): { messages: number; error: Error | null } {
  const f = new MessageFramer(MAX);
  let messages = 0;
  let prev = 0;
  try {
    for (const c of [...cuts.filter((x) => x < stream.length).sort((a, b) => a - b), stream.length]) {
      f.push(stream.subarray(prev, c));
      prev = c;
      // Each next() either yields a message or consumes input: a stream of n bytes ends in n steps.
      for (let guard = 0; f.next(); guard++) {
        assert.ok(guard <= stream.length, 'the framer loops');
        assert.ok(f.start >= 0 && f.end <= f.buf.length && f.start + 5 <= f.end, 'message within its buffer');
        assert.equal(f.buf.readInt32BE(f.start + 1) + 1, f.end - f.start, 'length matches the range');
        assert.ok(f.end - f.start <= MAX + 1, 'no message past the limit');
        messages++;
      }
      assert.ok(f.buffered <= stream.length, 'buffers no more than it was given');
    }
  } catch (e) {
    if (e instanceof BadLengthError || e instanceof MessageTooLargeError) return { messages, error: e };
    throw e;
  }
  return { messages, error: null };
}

/** Pieces of a client stream: well-formed messages, and headers whose length lies. */
const piece = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.tuple(fc.constantFrom(...CLIENT_TYPES), nastyBytes(64)).map(([t, b]) => typed(t, b)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...CLIENT_TYPES), lyingInt32(), nastyBytes(32))
      .map(([t, len, b]) => Buffer.concat([Buffer.from([t]), int32(len), b])),
  },
);
const stream = fc.array(piece, { maxLength: 12 }).map((p) => Buffer.concat(p));
const cuts = fc.array(fc.nat({ max: 2000 }), { maxLength: 12 });

type FieldReader = (buf: Buffer, start: number, end: number) => unknown;
const READERS: [number, string, FieldReader][] = [
  [0x51, 'querySql', querySql],
  [0x50, 'parseMessage', parseMessage],
  [0x42, 'bindMessage', bindMessage],
  [0x45, 'executePortal', executePortal],
  [0x43, 'closeTarget', closeTarget],
  [0x46, 'functionOid', functionOid],
  // Masking's readers of client messages, and the gateway-as-server's of login messages.
  [0x42, 'parseBindResultFormats', parseBindResultFormats],
  [0x46, 'parseFunctionCall', parseFunctionCall],
  [0x70, 'passwordText', (b, s, e) => passwordText(b.subarray(s + 5, e))],
  [0x70, 'saslInitialResponse', (b, s, e) => saslInitialResponse(b.subarray(s + 5, e))],
  // The replay decoder, strict (decodeFrame reports what this refuses as malformed).
  ...[...'QPBDECSHdcfFXp'].map((c): [number, string, FieldReader] => [
    c.charCodeAt(0),
    `decodeFrameStrict ${c}`,
    (b, s, e) => decodeFrameStrict('client', b[s], b.subarray(s + 5, e)),
  ]),
];

function read(reader: FieldReader, buf: Buffer, start: number, end: number): unknown {
  try {
    return { ok: reader(buf, start, end) };
  } catch (e) {
    assert.ok(e instanceof FieldError, `threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    return { error: true };
  }
}

/** A reader must see only its message: the same answer alone and amid other bytes. */
function checkReaders(type: number, body: Buffer, before: Buffer, after: Buffer): void {
  const msg = typed(type, body);
  const amid = Buffer.concat([before, msg, after]);
  for (const [t, name, reader] of READERS) {
    if (t !== type) continue;
    const alone = read(reader, msg, 0, msg.length);
    const inside = read(reader, amid, before.length, before.length + msg.length);
    assert.deepEqual(inside, alone, `${name} read outside its message`);
  }
}

/** Bind bodies built field by field, with counts that lie (negative when signed, past the end). */
const bindBody = fc
  .tuple(
    fc.string({ maxLength: 4 }),
    fc.string({ maxLength: 4 }),
    fc.oneof(fc.nat({ max: 3 }), fc.constantFrom(0xffff, 0x8000, 0xfffe)),
    fc.array(fc.integer({ min: 0, max: 1 }), { maxLength: 3 }),
    fc.oneof(fc.nat({ max: 3 }), fc.constantFrom(0xffff, 0x8000)),
    fc.array(fc.oneof(fc.constant(null), nastyBytes(8)), { maxLength: 3 }),
    nastyBytes(8),
  )
  .map(([portal, stmt, nf, formats, np, params, tail]) =>
    Buffer.concat([
      Buffer.from(`${portal.replaceAll('\0', '')}\0${stmt.replaceAll('\0', '')}\0`),
      int16(nf),
      ...formats.map(int16),
      int16(np),
      ...params.map((p) => (p === null ? int32(-1) : Buffer.concat([int32(p.length), p]))),
      tail,
    ]),
  );

describe('client frames', () => {
  test('corpus replay', () => {
    for (const e of corpus('client-frames')) {
      const b = bytesOf(e);
      if (e.kind === 'stream') {
        const r = frame(b, []);
        if (typeof e.messages === 'number') assert.equal(r.messages, e.messages, e.note);
        if (typeof e.error === 'string') assert.equal(r.error?.constructor.name ?? null, e.error, e.note);
        for (let cut = 0; cut <= b.length; cut++)
          assert.deepEqual(frame(b, [cut]), r, `${e.note}, cut at ${cut}`);
      } else {
        const type = b[0];
        const body = b.subarray(5);
        checkReaders(type, body, Buffer.from([0x51, 0, 0, 0, 9, 0xff]), Buffer.from([0, 0, 0, 0xff, 0xff]));
        JSON.stringify(decodeFrame('client', type, body));
        if (e.decoded !== undefined)
          assert.deepEqual(decodeFrame('client', type, body).decoded, e.decoded, e.note);
      }
    }
  });

  test('framer: random streams with lying lengths, cut anywhere, give the same messages and the same error', (t) => {
    fuzz(
      t,
      fc.property(stream, cuts, (s, c) => {
        const whole = frame(s, []);
        assert.deepEqual(frame(s, c), whole, 'the cuts changed the outcome');
      }),
    );
  });

  test('field readers: only FieldError, and never a byte outside the message', (t) => {
    fuzz(
      t,
      fc.property(
        fc.constantFrom(...READERS.map(([type]) => type)),
        fc.oneof(nastyBytes(64), bindBody),
        nastyBytes(16),
        nastyBytes(16),
        (type, body, before, after) => checkReaders(type, body, before, after),
      ),
    );
  });

  test('replay decoder: never throws, always JSON, on any type byte and body', (t) => {
    fuzz(
      t,
      fc.property(fc.integer({ min: 0, max: 255 }), fc.oneof(nastyBytes(80), bindBody), (type, body) => {
        const d = decodeFrame('client', type, body);
        assert.equal(typeof d.type, 'string');
        JSON.parse(JSON.stringify(d));
      }),
    );
  });
});
