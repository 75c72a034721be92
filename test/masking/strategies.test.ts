// Strategies per type: results fit the type (text and binary), binary results decode as the same
// type, partial keeps its hint, hash is stable per key, equal across formats and widths fit.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { OID } from '../../proxy/masking/pgtypes.js';
import type { Strategy } from '../../proxy/masking/rules.js';
import {
  Hasher,
  type MaskEnv,
  maskFreeText,
  numericBinaryToText,
  numericTextToBinary,
  partialDecimal,
  partialSpan,
  partialText,
  REDACTED,
  spanReplacement,
  textMasker,
  valueMasker,
} from '../../proxy/masking/strategies.js';

const env: MaskEnv = { hasher: new Hasher('0123456789abcdef0123456789abcdef') };
const other: MaskEnv = { hasher: new Hasher('another key, another install...') };
const T = (s: Strategy, oid: number, v: string, typmod = -1, e = env) => textMasker(s, oid, typmod, e)(v);
const B = (s: Strategy, oid: number, v: Buffer, typmod = -1, e = env) =>
  valueMasker(s, oid, typmod, 1, e)(v, 0, v.length);
const varchar = (n: number) => n + 4;

function be(bits: 16 | 32 | 64, n: number | bigint): Buffer {
  const b = Buffer.alloc(bits / 8);
  if (bits === 16) b.writeInt16BE(Number(n));
  else if (bits === 32) b.writeInt32BE(Number(n));
  else b.writeBigInt64BE(BigInt(n));
  return b;
}

describe('partial', () => {
  test('detected values keep their hint', () => {
    assert.equal(partialText('john.doe@example.org'), 'j***@example.org');
    assert.equal(partialText('4242424242424242'), '************4242');
    assert.equal(partialText('4242 4242 4242 4242'), '**** **** **** 4242');
    assert.equal(partialText('912-34-5678'), '***-**-5678');
    assert.equal(partialText('+1-555-123-4567'), '+*-***-***-4567');
    assert.equal(partialText('DE89370400440532013000'), 'DE****************3000');
  });
  test('other text keeps its first character', () => {
    assert.equal(partialText('Ada Lovelace'), 'A***');
    assert.equal(partialText('Émile'), 'É***');
    assert.equal(partialText('ab'), '**');
    assert.equal(partialText(''), '');
    assert.equal(partialText('0044 1234 5678'), '**** **** 5678');
  });
  test('spans', () => {
    assert.equal(partialSpan('api_key', 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t'), 'sk-proj-***Rs8t');
    assert.equal(partialSpan('api_key', 'AKIAIOSFODNN7EXAMPLE'), 'AKIA***MPLE');
    assert.equal(partialSpan('jwt', 'eyJhbGciOi.eyJzdWIi.x'), 'eyJ***');
    assert.equal(spanReplacement('email', 'redact', 'a@b.io', env.hasher), REDACTED);
    assert.match(spanReplacement('email', 'hash', 'A@B.io', env.hasher), /^\[email:[0-9a-f]{16}\]$/);
    assert.equal(
      spanReplacement('email', 'hash', 'A@B.io', env.hasher),
      spanReplacement('email', 'hash', 'a@b.io', env.hasher),
    );
    assert.equal(
      spanReplacement('phone', 'hash', '555-123-4567', env.hasher),
      spanReplacement('phone', 'hash', '(555) 123 4567', env.hasher),
    );
  });
  test('numbers keep one significant digit', () => {
    assert.equal(partialDecimal('12345'), '10000');
    assert.equal(partialDecimal('-567.89'), '-500.00');
    assert.equal(partialDecimal('0.00123'), '0.00100');
    assert.equal(partialDecimal('NaN'), 'NaN');
  });
});

describe('text-like types', () => {
  test('redact fits varchar(n) / bpchar(n)', () => {
    assert.equal(T('redact', OID.text, 'secret'), REDACTED);
    assert.equal(T('redact', OID.varchar, 'secret', varchar(5)), '*****');
    assert.equal(T('redact', OID.varchar, 'secret', varchar(40)), REDACTED);
    assert.equal(T('redact', OID.bpchar, 'secret', varchar(12)), `${REDACTED}  `);
    assert.equal(T('null', OID.text, 'x'), null);
  });
  test('partial fits too', () => {
    assert.equal(T('partial', OID.varchar, 'john.doe@example.org', varchar(6)), 'j***@e');
    assert.equal(T('partial', OID.bpchar, 'Ada         ', varchar(12)), 'A***        ');
  });
  test('hash: 16 hex digits, stable per key, different across keys, cut to n', () => {
    const a = T('hash', OID.text, 'ada@example.com');
    assert.match(a ?? '', /^[0-9a-f]{16}$/);
    assert.equal(T('hash', OID.text, 'ada@example.com'), a);
    assert.notEqual(T('hash', OID.text, 'ada@example.com', -1, other), a);
    assert.equal(T('hash', OID.varchar, 'ada@example.com', varchar(8)), a?.slice(0, 8));
    // bpchar padding does not change the hash: joins with text still work.
    assert.equal(T('hash', OID.bpchar, 'ada@example.com   '), a);
  });
  test('binary text is the same bytes', () => {
    assert.equal(B('partial', OID.text, Buffer.from('john@example.org'))?.toString(), 'j***@example.org');
  });
});

describe('json / jsonb', () => {
  test('redact / hash give JSON strings; partial masks every leaf', () => {
    assert.equal(T('redact', OID.json, '{"a":1}'), JSON.stringify(REDACTED));
    assert.match(T('hash', OID.jsonb, '{"a": 1}') ?? '', /^"[0-9a-f]{16}"$/);
    const p = T('partial', OID.jsonb, '{"email": "ada@example.com", "n": 12345, "ok": true, "x": null}');
    assert.deepEqual(JSON.parse(p ?? ''), { email: 'a***@example.com', n: 10000, ok: null, x: null });
  });
  test('jsonb binary keeps its version byte', () => {
    const r = B('redact', OID.jsonb, Buffer.concat([Buffer.from([1]), Buffer.from('{"a":1}')]));
    assert.equal(r?.[0], 1);
    assert.equal(JSON.parse(r?.subarray(1).toString() ?? ''), REDACTED);
  });
});

describe('integers', () => {
  test('redact is NULL, partial rounds, hash fits the width', () => {
    assert.equal(T('redact', OID.int4, '42'), null);
    assert.equal(T('partial', OID.int8, '-98765'), '-90000');
    for (const [oid, max] of [
      [OID.int2, 32767n],
      [OID.int4, 2147483647n],
      [OID.int8, 9223372036854775807n],
    ] as const) {
      const h = BigInt(T('hash', oid, '12345') ?? 'x');
      assert.ok(h >= 0n && h <= max);
    }
  });
  test('binary round trips: same width, same value as the text form', () => {
    for (const [oid, bits] of [
      [OID.int2, 16],
      [OID.int4, 32],
      [OID.int8, 64],
    ] as const) {
      const bin = B('hash', oid, be(bits, 12345));
      assert.equal(bin?.length, bits / 8);
      const v = bits === 16 ? bin?.readInt16BE() : bits === 32 ? bin?.readInt32BE() : bin?.readBigInt64BE();
      assert.equal(String(v), T('hash', oid, '12345'));
      const part = B('partial', oid, be(bits, -4321));
      assert.equal(
        String(
          bits === 64 ? part?.readBigInt64BE() : bits === 32 ? part?.readInt32BE() : part?.readInt16BE(),
        ),
        '-4000',
      );
    }
  });
  test('text and binary forms of a value hash alike (a client in either format joins)', () => {
    assert.equal(B('hash', OID.int4, be(32, 777))?.readInt32BE(), Number(T('hash', OID.int4, '777')));
    assert.equal(
      B('hash', OID.int8, be(64, 777))?.readBigInt64BE(),
      BigInt(T('hash', OID.int8, '777') ?? '0'),
    );
  });
});

describe('numeric', () => {
  test('binary codec round trips', () => {
    for (const s of [
      '0',
      '1',
      '-1',
      '12345.6789',
      '0.0001',
      '100000000',
      '-0.50',
      '123456789012345678901234567890.123',
      'NaN',
      'Infinity',
      '-Infinity',
    ]) {
      const b = numericTextToBinary(s);
      assert.equal(numericBinaryToText(b, 0, b.length), s === '-0.50' ? '-0.50' : s);
    }
  });
  test('property: codec round trips any decimal', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.stringMatching(/^[1-9][0-9]{0,30}$/),
        fc.stringMatching(/^[0-9]{0,12}$/),
        (neg, i, f) => {
          const s = `${neg ? '-' : ''}${i}${f ? `.${f}` : ''}`;
          const b = numericTextToBinary(s);
          return numericBinaryToText(b, 0, b.length) === s;
        },
      ),
      { numRuns: 500 },
    );
  });
  test('hash fits numeric(p, s)', () => {
    const typmod = ((10 << 16) | 2) + 4;
    const h = T('hash', OID.numeric, '123.45', typmod) ?? '';
    assert.match(h, /^\d{1,8}\.00$/);
    const bin = B('hash', OID.numeric, numericTextToBinary('123.45'), typmod);
    assert.equal(numericBinaryToText(bin as Buffer, 0, (bin as Buffer).length), h);
    const p = B('partial', OID.numeric, numericTextToBinary('987.65'));
    assert.equal(numericBinaryToText(p as Buffer, 0, (p as Buffer).length), '900.00');
  });
});

describe('floats, uuid, dates, bytea, bool', () => {
  test('floats', () => {
    assert.equal(T('partial', OID.float8, '1234.5'), '1000');
    const f = Buffer.alloc(8);
    f.writeDoubleBE(1234.5);
    assert.equal(B('partial', OID.float8, f)?.readDoubleBE(), 1000);
    assert.equal(B('hash', OID.float4, Buffer.from([0x44, 0x9a, 0x50, 0x00]))?.length, 4);
  });
  test('uuid', () => {
    const u = '123e4567-e89b-12d3-a456-426614174000';
    assert.equal(T('redact', OID.uuid, u), '00000000-0000-0000-0000-000000000000');
    assert.equal(T('partial', OID.uuid, u), '00000000-0000-0000-0000-000000004000');
    const h = T('hash', OID.uuid, u) ?? '';
    assert.match(h, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const bin = B('hash', OID.uuid, Buffer.from(u.replace(/-/g, ''), 'hex'));
    assert.equal(bin?.length, 16);
    assert.equal(bin?.toString('hex'), h.replace(/-/g, ''));
  });
  test('date: partial = January 1st, text and binary agree', () => {
    assert.equal(T('partial', OID.date, '1987-06-05'), '1987-01-01');
    assert.equal(T('redact', OID.date, '1987-06-05'), null);
    const days = Buffer.alloc(4);
    days.writeInt32BE(Math.round((Date.UTC(1987, 5, 5) - Date.UTC(2000, 0, 1)) / 86400000));
    const p = B('partial', OID.date, days);
    assert.equal(p?.readInt32BE(), Math.round((Date.UTC(1987, 0, 1) - Date.UTC(2000, 0, 1)) / 86400000));
    const h = T('hash', OID.date, '1987-06-05') ?? '';
    const hb = B('hash', OID.date, days);
    const fromBin = new Date(Date.UTC(2000, 0, 1) + (hb?.readInt32BE() ?? 0) * 86400000)
      .toISOString()
      .slice(0, 10);
    assert.equal(fromBin, h);
  });
  test('timestamps: partial = start of the year, hash agrees across formats', () => {
    assert.equal(T('partial', OID.timestamptz, '2024-03-05 10:11:12.5+01'), '2024-01-01 00:00:00+01');
    assert.equal(T('partial', OID.timestamp, '2024-03-05 10:11:12'), '2024-01-01 00:00:00');
    const us = BigInt(Date.UTC(2024, 2, 5, 10, 11, 12) - Date.UTC(2000, 0, 1)) * 1000n;
    const p = B('partial', OID.timestamp, be(64, us));
    assert.equal(p?.readBigInt64BE(), BigInt(Date.UTC(2024, 0, 1) - Date.UTC(2000, 0, 1)) * 1000n);
    const ht = T('hash', OID.timestamp, '2024-03-05 10:11:12') ?? '';
    const hb = B('hash', OID.timestamp, be(64, us));
    const ms = Number((hb?.readBigInt64BE() ?? 0n) / 1000n) + Date.UTC(2000, 0, 1);
    assert.equal(new Date(ms).toISOString().replace('T', ' ').slice(0, 19), ht);
    assert.equal(T('partial', OID.timestamp, 'Tue Mar 05 10:11:12 2024'), null);
  });
  test('bytea and bool', () => {
    assert.match(T('hash', OID.bytea, '\\xdeadbeef') ?? '', /^\\x[0-9a-f]{64}$/);
    assert.equal(B('hash', OID.bytea, Buffer.from('deadbeef', 'hex'))?.length, 32);
    assert.equal(
      B('hash', OID.bytea, Buffer.from('deadbeef', 'hex'))?.toString('hex'),
      T('hash', OID.bytea, '\\xdeadbeef')?.slice(2),
    );
    for (const s of ['redact', 'partial', 'hash', 'null'] as const) assert.equal(T(s, OID.bool, 't'), null);
  });
});

describe('arrays', () => {
  test('text arrays are masked element by element', () => {
    assert.equal(T('partial', 1009, '{ada@example.com,NULL,"x y"}'), '{a***@example.com,NULL,x***}');
    assert.equal(T('redact', 1009, '{a,b}'), `{${REDACTED},${REDACTED}}`);
    assert.equal(T('redact', 1007, '{1,2}'), '{NULL,NULL}');
  });
  test('binary text[]', () => {
    const el = (s: string) => {
      const b = Buffer.from(s);
      const h = Buffer.alloc(4);
      h.writeInt32BE(b.length);
      return Buffer.concat([h, b]);
    };
    const header = Buffer.alloc(20);
    header.writeInt32BE(1, 0);
    header.writeInt32BE(0, 4);
    header.writeInt32BE(25, 8);
    header.writeInt32BE(2, 12);
    header.writeInt32BE(1, 16);
    const arr = Buffer.concat([header, el('ada@example.com'), el('bob@example.com')]);
    const out = B('partial', 1009, arr) as Buffer;
    assert.equal(out.readInt32BE(12), 2);
    let p = 20;
    const vals: string[] = [];
    for (let i = 0; i < 2; i++) {
      const len = out.readInt32BE(p);
      vals.push(out.toString('utf8', p + 4, p + 4 + len));
      p += 4 + len;
    }
    assert.equal(p, out.length);
    assert.deepEqual(vals, ['a***@example.com', 'b***@example.com']);
  });
});

describe('free text', () => {
  test('never NULL', () => {
    assert.equal(maskFreeText('x', 'null', env.hasher), REDACTED);
    assert.equal(maskFreeText('ada@example.com', 'partial', env.hasher), 'a***@example.com');
  });
});
