// COPY TO STDOUT: text, csv and binary CopyData rewriting, rows split across messages, NULLs,
// headers and escapes.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileMasking } from '../../proxy/masking/compile.js';
import {
  CopyMasker,
  copyTextDecode,
  copyTextEncode,
  defaultCopyOptions,
  parseCopyOutResponse,
} from '../../proxy/masking/copy.js';
import type { ColumnLineage } from '../../proxy/masking/plan.js';
import { DEFAULT_MASKING_RULES, type MaskRule } from '../../proxy/masking/rules.js';
import { REDACTED } from '../../proxy/masking/strategies.js';
import { copyData, copyOut, copyPayload, i16, i32 } from './wire.js';

const m = compileMasking(DEFAULT_MASKING_RULES, { hashKey: 'k'.repeat(32) });
const ctx = { env: { hasher: m.hasher }, detection: m.detection };
const PII: MaskRule = { name: 'pii', strategy: 'redact' };
const cols: ColumnLineage[] = [
  { name: 'id', rule: null, typeOid: 23 },
  { name: 'email', rule: PII, typeOid: 25 },
  { name: 'notes', rule: null, typeOid: 25 },
];

function run(
  masker: CopyMasker,
  chunks: string[] | Buffer[],
  counts: Map<string, number> | null = null,
): Buffer {
  const out: Buffer[] = [];
  for (const c of chunks) {
    const msg = copyData(c);
    const r = masker.push(msg, 0, msg.length, counts);
    out.push(r === null ? msg : r);
  }
  const tail = masker.flush(counts);
  if (tail) out.push(tail);
  return copyPayload(Buffer.concat(out));
}

describe('COPY text', () => {
  test('codec', () => {
    assert.equal(copyTextDecode('a\\tb\\\\c\\nd\\101\\x41'), 'a\tb\\c\ndAA');
    assert.equal(copyTextEncode('a\tb\\c\nd', '\t'), 'a\\tb\\\\c\\nd');
    assert.equal(copyTextEncode('a|b', '|'), 'a\\|b');
  });
  test('CopyOutResponse', () => {
    const h = copyOut(1, [1, 1]);
    assert.deepEqual(parseCopyOutResponse(h, 0, h.length), { format: 1, columns: [1, 1] });
  });
  test('column rule and detectors, NULL kept, unchanged rows pass', () => {
    const masker = new CopyMasker(defaultCopyOptions('text'), cols, 3, ctx);
    const counts = new Map<string, number>();
    const clean = copyData('2\t\\N\tnothing\n');
    assert.equal(masker.push(clean, 0, clean.length, counts), null);
    const out = run(masker, ['1\tada@example.com\tcall 555-123-4567\\tnow\n'], counts).toString();
    assert.equal(out, `1\t${REDACTED}\tcall ***-***-4567\\tnow\n`);
    assert.deepEqual(Object.fromEntries(counts), { pii: 1, detectors: 1 });
  });
  test('a row split across CopyData messages', () => {
    const masker = new CopyMasker(defaultCopyOptions('text'), cols, 3, ctx);
    const out = run(masker, ['1\tada@exa', 'mple.com\tx\n2\tb', 'ob@example.com\ty\n']).toString();
    assert.equal(out, `1\t${REDACTED}\tx\n2\t${REDACTED}\ty\n`);
  });
  test('header line and unknown columns: detectors on everything', () => {
    const masker = new CopyMasker({ ...defaultCopyOptions('text'), header: true }, null, 2, ctx);
    const out = run(masker, ['id\temail\n', '1\tada@example.com\n']).toString();
    assert.equal(out, 'id\temail\n1\ta***@example.com\n');
  });
  test('no rules, no detectors: passthrough', () => {
    const none = new CopyMasker(defaultCopyOptions('text'), null, 2, { env: ctx.env, detection: null });
    assert.equal(none.passthrough, true);
  });
});

describe('COPY csv', () => {
  test('quotes, embedded newlines and delimiters, NULL vs empty string', () => {
    const masker = new CopyMasker({ ...defaultCopyOptions('csv'), header: true }, cols, 3, ctx);
    const out = run(masker, [
      'id,email,notes\n',
      '1,ada@example.com,"line1\nmail bob@example.com, ok"\n',
      '2,,""\n',
    ]).toString();
    assert.equal(out, `id,email,notes\n1,${REDACTED},"line1\nmail b***@example.com, ok"\n2,,""\n`);
  });
  test('a quoted masked value that needs no quotes any more', () => {
    const masker = new CopyMasker(defaultCopyOptions('csv'), cols, 3, ctx);
    assert.equal(run(masker, ['1,"a,b@example.com",x\n']).toString(), `1,${REDACTED},x\n`);
  });
  test('custom delimiter, quote and null', () => {
    const masker = new CopyMasker(
      { ...defaultCopyOptions('csv'), delimiter: ';', null: 'NULL', quote: "'", escape: "'" },
      cols,
      3,
      ctx,
    );
    assert.equal(
      run(masker, ["1;'x@y.io';'it''s 912-34-5678'\n"]).toString(),
      `1;${REDACTED};'it''s ***-**-5678'\n`,
    );
  });
});

describe('COPY binary', () => {
  const header = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), i32(0), i32(0)]);
  const field = (v: Buffer | string | null) =>
    v === null ? i32(-1) : Buffer.concat([i32(Buffer.byteLength(v)), Buffer.from(v)]);
  const tuple = (...vs: (Buffer | string | null)[]) => Buffer.concat([i16(vs.length), ...vs.map(field)]);
  const trailer = i16(-1);
  const id = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
  };

  function parse(payload: Buffer): (Buffer | null)[][] {
    assert.equal(payload.toString('latin1', 0, 11), 'PGCOPY\n\xff\r\n\0');
    let p = 19 + payload.readInt32BE(15);
    const rows: (Buffer | null)[][] = [];
    for (;;) {
      const n = payload.readInt16BE(p);
      p += 2;
      if (n === -1) break;
      const row: (Buffer | null)[] = [];
      for (let i = 0; i < n; i++) {
        const len = payload.readInt32BE(p);
        p += 4;
        row.push(len < 0 ? null : payload.subarray(p, p + len));
        if (len > 0) p += len;
      }
      rows.push(row);
    }
    assert.equal(p, payload.length);
    return rows;
  }

  test('header, tuples, trailer; masked fields re-encoded', () => {
    const masker = new CopyMasker(defaultCopyOptions('binary'), cols, 3, ctx);
    const payload = run(masker, [
      Buffer.concat([header, tuple(id(1), 'ada@example.com', 'x 912-34-5678')]),
      tuple(id(2), null, 'nothing'),
      trailer,
    ] as unknown as Buffer[]);
    const rows = parse(payload);
    assert.deepEqual(rows[0][0], id(1));
    assert.equal(rows[0][1]?.toString(), REDACTED);
    assert.equal(rows[0][2]?.toString(), 'x ***-**-5678');
    assert.equal(rows[1][1], null);
    assert.equal(rows[1][2]?.toString(), 'nothing');
  });
  test('split anywhere, even inside the header', () => {
    const whole = Buffer.concat([
      header,
      tuple(id(1), 'ada@example.com', 'y'),
      tuple(id(2), 'bob@example.com', 'z'),
      trailer,
    ]);
    for (const cut of [3, 15, 21, 30, whole.length - 1]) {
      const masker = new CopyMasker(defaultCopyOptions('binary'), cols, 3, ctx);
      const rows = parse(run(masker, [whole.subarray(0, cut), whole.subarray(cut)] as unknown as Buffer[]));
      assert.deepEqual(
        rows.map((r) => r[1]?.toString()),
        [REDACTED, REDACTED],
        `cut at ${cut}`,
      );
    }
  });
  test('unknown column types: text-looking fields are scanned, binary ones left alone', () => {
    const masker = new CopyMasker(defaultCopyOptions('binary'), null, 2, ctx);
    const rows = parse(
      run(masker, [
        Buffer.concat([header, tuple(Buffer.from([0, 0, 0, 64]), 'ada@example.com'), trailer]),
      ] as unknown as Buffer[]),
    );
    assert.deepEqual(rows[0][0], Buffer.from([0, 0, 0, 64]));
    assert.equal(rows[0][1]?.toString(), 'a***@example.com');
  });
  test('a card stored as a number (issue 18): typed, mistyped by lineage, or of unknown type', () => {
    const card8 = Buffer.alloc(8);
    card8.writeBigInt64BE(4539148803436467n);
    const small = Buffer.alloc(8);
    small.writeBigInt64BE(42n);
    const typed: ColumnLineage[] = [
      { name: 'a', rule: null, typeOid: 20 },
      { name: 'b', rule: null, typeOid: 1700 }, // lineage says numeric, the bytes are an int8
      { name: 'c', rule: null },
    ];
    const masker = new CopyMasker(defaultCopyOptions('binary'), typed, 3, ctx);
    const rows = parse(
      run(masker, [
        Buffer.concat([header, tuple(card8, card8, card8), tuple(small, small, small), trailer]),
      ] as unknown as Buffer[]),
    );
    assert.equal(rows[0][0]?.readBigInt64BE(0), 4000000000000000n); // partial: still an int8
    assert.deepEqual(rows[0].slice(1), [null, null]);
    assert.deepEqual(rows[1], [small, small, small]);
    const text = new CopyMasker(defaultCopyOptions('text'), typed, 3, ctx);
    assert.equal(
      run(text, ['4539148803436467\t$4,539,148,803,436,467.00\t42\n']).toString(),
      '4000000000000000\t\\N\t42\n',
    );
  });
});
