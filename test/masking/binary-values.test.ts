// Binary values (array_send, record_send, numeric_send and the fixed-width types) read as
// PostgreSQL's receive functions read them: every count and length checked against the value's
// own end, negative lengths other than -1 refused, at most MAXDIM = 6 dimensions and
// MaxArraySize elements, nothing left over after the value. A malformed value never reaches the
// client: the codecs refuse it with FieldError; under the detectors (and inside whole-row records)
// masking refuses the row with MaskError and the session ends; under a whole-value rule the value
// becomes NULL.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileMasking } from '../../proxy/masking/compile.js';
import { rewriteArrayBinary, rewriteRecordBinary } from '../../proxy/masking/containers.js';
import { buildMaskPlan, MaskError, parseRowDescription } from '../../proxy/masking/plan.js';
import { maskDataRow } from '../../proxy/masking/rewrite.js';
import { DEFAULT_MASKING_RULES, type MaskRule, type Strategy } from '../../proxy/masking/rules.js';
import {
  numericBinaryToText,
  numericTextToBinary,
  REDACTED,
  valueMasker,
} from '../../proxy/masking/strategies.js';
import { FieldError } from '../../proxy/wire/reader.js';
import {
  ARRAY,
  array1,
  BAD_ARRAYS,
  BAD_NUMERICS,
  BAD_RECORDS,
  binArray,
  binNumeric,
  binRecord,
  decodeBinary,
  type Elem,
  i32,
  leaves,
  RECORD,
  SECRET,
} from './binary.js';
import { dataRow, rowDescription, rowValues } from './wire.js';

const KEY = 'k'.repeat(32);
const DETECT = compileMasking(DEFAULT_MASKING_RULES, { hashKey: KEY });
const NONE = compileMasking([], { hashKey: KEY });
const TABLE = 16400;

/** The one binary field of a row through masking: its new bytes, NULL, or 'refused' (MaskError). */
function through(typeOid: number, value: Buffer, rule: MaskRule | null): Buffer | null | 'refused' {
  const rd = rowDescription([{ name: 'v', tableOid: TABLE, attnum: 1, typeOid, format: 1 }]);
  const m = rule === null ? DETECT : NONE;
  const plan = buildMaskPlan(parseRowDescription(rd, 0, rd.length), {
    env: { hasher: m.hasher },
    detection: m.detection,
    columnRule: () => rule,
  });
  // The value amid other bytes: reads must stop at the value's own end, not the row's.
  const row = dataRow([value]);
  const buf = Buffer.concat([Buffer.from('xx'), row, i32(64), Buffer.from(SECRET)]);
  let out: Buffer | null;
  try {
    out = maskDataRow(plan, buf, 2, 2 + row.length, null);
  } catch (e) {
    if (e instanceof MaskError) return 'refused';
    throw e;
  }
  return rowValues(out ?? row)[0];
}

const detectors = (typeOid: number, v: Buffer) => through(typeOid, v, null);
const rule = (strategy: Strategy, typeOid: number, v: Buffer) => through(typeOid, v, { name: 'r', strategy });

const noop = () => undefined;
const mask = () => Buffer.from('x');

/** Nested values are read by whoever reads the element (the masking ops), not by the codec. */
const nested = (name: string) => name.startsWith('a nested');

/** The codec refuses the value, changing nothing or everything, alone or amid other bytes. */
function codecRefuses(rewrite: typeof rewriteArrayBinary, v: Buffer): void {
  assert.throws(() => rewrite(v, 0, v.length, noop), FieldError, 'the codec, nothing to change');
  assert.throws(() => rewrite(v, 0, v.length, mask), FieldError, 'the codec, every element changed');
  // Amid other bytes that would complete it: the value's own end bounds every read.
  const amid = Buffer.concat([Buffer.from('..'), v, i32(1), i32(64), Buffer.alloc(64)]);
  assert.throws(() => rewrite(amid, 2, 2 + v.length, noop), FieldError, 'amid other bytes');
}

describe('binary arrays: malformed values are refused', () => {
  for (const [name, v] of BAD_ARRAYS) {
    test(name, () => {
      if (!nested(name)) codecRefuses(rewriteArrayBinary, v);
      assert.equal(detectors(ARRAY, v), 'refused', 'under the detectors the row is refused');
      for (const s of ['redact', 'partial', 'hash'] as const) {
        // NULL; or, when only a nested container was wrong and a rule replaced it whole, a
        // well-formed value without the secret.
        const r = rule(s, ARRAY, v);
        if (!nested(name)) {
          assert.equal(r, null, `under a ${s} rule the value becomes NULL`);
          continue;
        }
        assert.ok(r !== 'refused' && (r === null || !r.includes(SECRET)), `under a ${s} rule`);
        if (r !== null) decodeBinary('array', r);
      }
    });
  }
});

describe('binary records: malformed values are refused', () => {
  for (const [name, v] of BAD_RECORDS) {
    test(name, () => {
      if (!nested(name)) codecRefuses(rewriteRecordBinary, v);
      assert.equal(detectors(RECORD, v), 'refused', 'under the detectors the row is refused');
    });
  }
  test('nesting is bounded: 32 levels of records are read, 33 refused', () => {
    const nest = (depth: number) => {
      let v = binRecord([[25, SECRET]]);
      for (let i = 1; i < depth; i++) v = binRecord([[RECORD, v]]);
      return v;
    };
    const ok = detectors(RECORD, nest(32));
    assert.ok(Buffer.isBuffer(ok) && !ok.includes(SECRET));
    decodeBinary('record', ok);
    assert.equal(detectors(RECORD, nest(33)), 'refused');
    assert.equal(detectors(RECORD, nest(100_000)), 'refused', 'no stack overflow');
  });
  test('array of records with a record of the wrong field count, under the detectors', () => {
    const v = array1(RECORD, [
      binRecord([[25, 'a']]),
      binRecord(
        [
          [25, 'ok'],
          [25, SECRET],
        ],
        { count: 1 },
      ),
    ]);
    assert.equal(detectors(2287, v), 'refused');
  });
});

describe('binary numeric: malformed values are refused', () => {
  for (const [name, v] of BAD_NUMERICS) {
    test(name, () => {
      assert.throws(() => numericBinaryToText(v, 0, v.length), FieldError);
      const amid = Buffer.concat([v, Buffer.from([0, 1, 0, 2, 0, 3, 0, 4])]);
      assert.throws(() => numericBinaryToText(amid, 0, v.length), FieldError, 'amid other bytes');
      for (const s of ['partial', 'hash'] as const)
        assert.equal(valueMasker(s, 1700, -1, 1, { hasher: NONE.hasher })(v, 0, v.length), null, s);
    });
  }
  test('well-formed values read back', () => {
    for (const s of ['0', '1234.5600', '-0.001', '10000', '99999999.99', 'NaN', 'Infinity', '-Infinity']) {
      const b = numericTextToBinary(s);
      assert.equal(numericBinaryToText(b, 0, b.length), s);
    }
    assert.equal(numericBinaryToText(binNumeric([1, 2], 1, 0x4000, 2), 0, 12), '-10002.00');
    assert.equal(numericBinaryToText(binNumeric([], 0, 0xd000, 0), 0, 8), 'Infinity');
  });
});

describe('fixed-width binary values of the wrong length become NULL', () => {
  const cases: [string, number, Buffer][] = [
    ['int2', 21, Buffer.alloc(3)],
    ['int4', 23, Buffer.alloc(5)],
    ['int8', 20, Buffer.alloc(7)],
    ['float4', 700, Buffer.alloc(8)],
    ['float8', 701, Buffer.alloc(4)],
    ['date', 1082, Buffer.alloc(3)],
    ['timestamptz', 1184, Buffer.alloc(9)],
    ['uuid', 2950, Buffer.alloc(15)],
  ];
  for (const [name, oid, v] of cases)
    test(name, () => {
      for (const s of ['partial', 'hash'] as const)
        assert.equal(valueMasker(s, oid, -1, 1, { hasher: NONE.hasher })(v, 0, v.length), null, s);
    });
});

describe('well-formed binary containers stay well-formed', () => {
  test('NULL elements, 2-D arrays, lower bounds: masked element by element, flags and dimensions kept', () => {
    const v = binArray({
      dims: [
        [2, 0],
        [2, -3],
      ],
      elems: [SECRET, null, 'plain', null],
    });
    const out = detectors(ARRAY, v);
    assert.ok(Buffer.isBuffer(out));
    assert.ok(!out.includes(SECRET));
    const d = decodeBinary('array', out);
    assert.ok('array' in d);
    assert.deepEqual(d.array.dims, [
      [2, 0],
      [2, -3],
    ]);
    assert.deepEqual(leaves(d), ['h***@example.org', null, 'plain', null]);
    assert.equal(out.readInt32BE(4), 1, 'has-null flag');
    // A rule NULLs nothing but elements: every element redacted, NULLs kept.
    const r = rule('redact', ARRAY, v);
    assert.ok(Buffer.isBuffer(r));
    assert.deepEqual(leaves(decodeBinary('array', r)), [REDACTED, null, REDACTED, null]);
  });
  test('empty arrays and zero-size dimensions pass', () => {
    for (const v of [binArray({ dims: [], elems: [] }), binArray({ dims: [[0, 1]], elems: [] })]) {
      assert.equal(rewriteArrayBinary(v, 0, v.length, mask), undefined);
      assert.deepEqual(detectors(ARRAY, v), v);
    }
  });
  test('records with NULL fields and nested arrays and records', () => {
    const inner = array1(25, ['x', SECRET, null]);
    const v = binRecord([
      [23, i32(7)],
      [25, null],
      [ARRAY, inner],
      [RECORD, binRecord([[25, `mail ${SECRET}`]])],
    ]);
    const out = detectors(RECORD, v);
    assert.ok(Buffer.isBuffer(out));
    assert.ok(!out.includes(SECRET));
    assert.deepEqual(leaves(decodeBinary('record', out)).slice(1), [
      null,
      'x',
      'h***@example.org',
      null,
      'mail h***@example.org',
    ]);
  });
  test('an element changed in place keeps the others byte for byte', () => {
    const elems: Elem[] = ['a', SECRET, 'b'];
    const v = array1(25, elems);
    const out = rewriteArrayBinary(v, 0, v.length, (_o, b, s, e) =>
      b.toString('utf8', s, e) === SECRET ? Buffer.from('X') : undefined,
    );
    assert.deepEqual(out, array1(25, ['a', 'X', 'b']));
  });
});
