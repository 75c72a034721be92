// The bounded body reader: reads stop at the message's end even when the buffer goes on, counts
// are unsigned (pq_getmsgint(msg, 2)), lengths are signed with -1 = NULL and anything below
// refused (pq_getmsgbytes), and a message reads the same wherever it sits in a buffer.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bindMessage, dataRowText, FieldError as FieldsError } from '../../proxy/wire/fields.js';
import { BodyReader, FieldError } from '../../proxy/wire/reader.js';

const bytes = (...b: number[]) => Buffer.from(b);
const refused = (f: () => unknown) => assert.throws(f, FieldError);

describe('BodyReader', () => {
  test('FieldError of fields.ts is the reader error (session code catching it keeps working)', () => {
    assert.equal(FieldsError, FieldError);
  });

  test('a read past `end` throws even when the buffer continues past it', () => {
    const buf = bytes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    const r = new BodyReader(buf, 2, 5);
    assert.equal(r.uint16(), 0x0203);
    assert.equal(r.remaining, 1);
    refused(() => r.uint16());
    refused(() => new BodyReader(buf, 2, 5).int32());
    refused(() => new BodyReader(buf, 0, 0).uint8());
    refused(() => new BodyReader(buf, 2, 5).bytes(4));
    // A string whose NUL lies beyond `end` is unterminated inside the message.
    refused(() => new BodyReader(Buffer.from('abc\0'), 0, 3).cstring());
    assert.equal(new BodyReader(Buffer.from('abc\0'), 0, 4).cstring(), 'abc');
    // `end` past the buffer, start after end: not a message view at all.
    refused(() => new BodyReader(buf, 0, 11));
    refused(() => new BodyReader(buf, 6, 5));
  });

  test('counts are unsigned: 0x8000 and 0xFFFF, never negative', () => {
    const r = new BodyReader(bytes(0x80, 0x00, 0xff, 0xff, 0x7f, 0xff));
    assert.equal(r.uint16(), 0x8000);
    assert.equal(r.uint16(), 0xffff);
    assert.equal(r.uint16(), 0x7fff);
    // The same bytes as format codes and lengths are signed.
    const s = new BodyReader(bytes(0x80, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x80, 0, 0, 0));
    assert.equal(s.int16(), -32768);
    assert.equal(s.int16(), -1);
    assert.equal(s.int32(), -2);
    assert.equal(new BodyReader(bytes(0x80, 0, 0, 0)).uint32(), 0x80000000);
  });

  test('values: -1 is NULL, lengths below -1 are refused, a length past the end is refused', () => {
    const r = new BodyReader(bytes(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0x61, 0x62, 0, 0, 0, 0, 0x99));
    assert.equal(r.value(), -1);
    assert.equal(r.valueBytes()?.toString(), 'ab');
    assert.equal(r.value(), 0);
    assert.equal(r.valueStart, r.position);
    assert.equal(r.remaining, 1);
    refused(() => r.expectEnd());
    for (const len of [-2, -0x80000000])
      refused(() =>
        new BodyReader(Buffer.concat([Buffer.from(Int32Array.of(len).buffer).reverse()])).value(),
      );
    refused(() => new BodyReader(bytes(0, 0, 0, 3, 0x61, 0x62)).value());
    // ...even when the buffer has the bytes past the message's end.
    refused(() => new BodyReader(bytes(0, 0, 0, 3, 0x61, 0x62, 0x63), 0, 6).value());
    refused(() => new BodyReader(bytes(1, 2)).bytes(-1));
    refused(() => new BodyReader(bytes(1, 2)).skip(-1));
  });

  test('reset reuses one reader; position, remaining and expectEnd follow it', () => {
    const r = new BodyReader();
    assert.equal(r.remaining, 0);
    r.expectEnd();
    const buf = Buffer.from('\0\0hello\0world\0');
    r.reset(buf, 2, buf.length, 'Thing');
    assert.equal(r.cstring(), 'hello');
    assert.equal(r.position, 8);
    assert.equal(r.cstringLatin1(), 'world');
    r.expectEnd();
    r.reset(buf, 2, 4, 'Thing');
    assert.throws(() => r.cstring(), /Thing has an unterminated string/);
    assert.equal(
      Buffer.from([0xe9, 0]).toString('latin1', 0, 1),
      new BodyReader(bytes(0xe9, 0)).cstringLatin1(),
    );
  });

  test('a message split at the front, middle and end of a buffer reads the same', () => {
    // A DataRow body: 2 values, NULL and "hi".
    const body = bytes(0, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0x68, 0x69);
    const read = (buf: Buffer, s: number, e: number) => {
      const r = new BodyReader(buf, s, e);
      const n = r.uint16();
      const out: (string | null)[] = [];
      for (let i = 0; i < n; i++) out.push(r.valueBytes()?.toString() ?? null);
      r.expectEnd();
      return out;
    };
    const junk = bytes(0, 0, 0, 9, 0xff);
    const expected = [null, 'hi'];
    assert.deepEqual(read(body, 0, body.length), expected);
    assert.deepEqual(read(Buffer.concat([body, junk]), 0, body.length), expected);
    assert.deepEqual(read(Buffer.concat([junk, body]), junk.length, junk.length + body.length), expected);
    assert.deepEqual(
      read(Buffer.concat([junk, body, junk]), junk.length, junk.length + body.length),
      expected,
    );
    // Cut anywhere short of its end: refused, whatever follows in the buffer.
    for (let cut = 0; cut < body.length; cut++) {
      const b = Buffer.concat([junk, body.subarray(0, cut), junk]);
      refused(() => read(b, junk.length, junk.length + cut));
    }
  });

  test('fields.ts on the reader: Bind with 0x8000 and 0xFFFF parameters, DataRow with 0xFFFF values', () => {
    const frame = (type: string, body: Buffer) => {
      const h = Buffer.alloc(5);
      h[0] = type.charCodeAt(0);
      h.writeInt32BE(4 + body.length, 1);
      return Buffer.concat([h, body]);
    };
    for (const n of [0x8000, 0xffff]) {
      const params = Buffer.concat(
        Array.from({ length: n }, (_, i) =>
          i === 0 ? bytes(0, 0, 0, 1, 0x41) : bytes(0xff, 0xff, 0xff, 0xff),
        ),
      );
      const count = Buffer.alloc(2);
      count.writeUInt16BE(n);
      const b = frame('B', Buffer.concat([bytes(0, 0, 0, 0), count, params, bytes(0, 0)]));
      const m = bindMessage(b, 0, b.length);
      assert.equal(m.params.length, n);
      assert.equal(m.params[0], 'A');
      assert.equal(m.params[n - 1], null);
      const row = Buffer.concat([count, Buffer.alloc(4 * n, 0xff)]);
      assert.equal(dataRowText(row).length, n);
      refused(() => dataRowText(row.subarray(0, row.length - 1)));
    }
  });
});

describe('fields.ts helpers for the session', () => {
  test('noticeSeverity prefers the never-localized V field; parameterStatus and readyStatus are exact', async () => {
    const { noticeSeverity, parameterStatus, readyStatus } = await import('../../proxy/wire/fields.js');
    const msg = (type: string, body: string) => {
      const b = Buffer.from(body, 'latin1');
      const h = Buffer.alloc(5);
      h[0] = type.charCodeAt(0);
      h.writeInt32BE(4 + b.length, 1);
      return Buffer.concat([h, b]);
    };
    const e = msg('E', 'SSCHWERWIEGEND\0VFATAL\0C57P01\0\0');
    assert.equal(noticeSeverity(e, 0, e.length), 'FATAL');
    const old = msg('E', 'SPANIC\0\0');
    assert.equal(noticeSeverity(old, 0, old.length), 'PANIC');
    const s = msg('S', 'client_encoding\0UTF8\0');
    assert.deepEqual(parameterStatus(s, 0, s.length), { name: 'client_encoding', value: 'UTF8' });
    assert.throws(() => parameterStatus(s, 0, s.length - 1), FieldError);
    const z = msg('Z', 'I');
    assert.equal(readyStatus(z, 0, z.length), 0x49);
    const z2 = msg('Z', 'II');
    assert.throws(() => readyStatus(z2, 0, z2.length), FieldError);
  });
});
