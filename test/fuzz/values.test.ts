// Fuzzing the binary value codecs with what a server could send: random bytes and values whose
// counts, lengths and dimensions lie, as arrays (array_send), records (record_send) and numerics
// (numeric_send). The codecs refuse only with FieldError and never read outside the value; they
// accept exactly what PostgreSQL's receive functions accept (checked against an independent
// reader); through masking a malformed value is refused (MaskError) or NULLed, never passed on.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { compileMasking } from '../../proxy/masking/compile.js';
import { rewriteArrayBinary, rewriteRecordBinary } from '../../proxy/masking/containers.js';
import { buildMaskPlan, MaskError, parseRowDescription } from '../../proxy/masking/plan.js';
import { maskDataRow } from '../../proxy/masking/rewrite.js';
import { DEFAULT_MASKING_RULES, type MaskRule } from '../../proxy/masking/rules.js';
import { numericBinaryToText, valueMasker } from '../../proxy/masking/strategies.js';
import { FieldError } from '../../proxy/wire/reader.js';
import {
  BAD_ARRAYS,
  BAD_NUMERICS,
  BAD_RECORDS,
  binArray,
  binNumeric,
  binRecord,
  decodeBinary,
  type Elem,
  leaves,
  SECRET,
} from '../masking/binary.js';
import { dataRow, rowDescription, rowValues } from '../masking/wire.js';
import { fuzz, lyingInt32, nastyBytes } from './harness.js';

const KEY = 'k'.repeat(32);
const DETECT = compileMasking(DEFAULT_MASKING_RULES, { hashKey: KEY });
const NONE = compileMasking([], { hashKey: KEY });

/** The result of f, or 'refused' when it throws `cls`; any other error fails the property. */
function only<T>(cls: new (...a: never[]) => Error, f: () => T): T | 'refused' {
  try {
    return f();
  } catch (e) {
    assert.ok(e instanceof cls, `threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    return 'refused';
  }
}

/** Does the independent reader accept it (one level, NULL flag as array_recv: not checked)? */
function accepted(kind: 'array' | 'record', v: Buffer): boolean {
  try {
    decodeBinary(kind, v, 0, v.length, { deep: false, nullFlag: false });
    return true;
  } catch {
    return false;
  }
}

const TEXT_OIDS = [25, 1043, 2249, 1009];

/** An element: NULL, its bytes (some with the secret), or a length that lies. */
const element: fc.Arbitrary<Elem> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 4, arbitrary: fc.oneof(fc.constant(SECRET), fc.string({ maxLength: 8 })) },
  { weight: 1, arbitrary: fc.oneof(lyingInt32(), fc.integer({ min: -3, max: 40 })).map((len) => ({ len })) },
);

/** A dimension count, a size, a lower bound: mostly plausible, sometimes lies. */
const smallLie = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: -2, max: 8 }) },
  { weight: 1, arbitrary: lyingInt32() },
);

/** Arrays whose shape lies anywhere: dimension count, flags, sizes, bounds, lengths, bytes after. */
const lyingShape = fc
  .record({
    ndim: fc.option(smallLie, { nil: undefined }),
    flags: fc.option(fc.constantFrom(0, 1, 2, -1), { nil: undefined }),
    elemOid: fc.constantFrom(...TEXT_OIDS),
    dims: fc.array(fc.tuple(smallLie, fc.oneof(fc.constant(1), lyingInt32())), { maxLength: 7 }),
    elems: fc.array(element, { maxLength: 6 }),
    trailing: fc.option(nastyBytes(8), { nil: undefined, freq: 4 }),
  })
  .map((s) => binArray(s));

/** Arrays whose dimensions match their elements (the elements' lengths may still lie). */
const honestShape = fc
  .record({
    elemOid: fc.constantFrom(25, 25, 1043, 2249),
    lb: fc.oneof(fc.constant(1), fc.integer({ min: -5, max: 5 })),
    elems: fc.array(element, { maxLength: 6 }),
  })
  .map((s) =>
    binArray({ elemOid: s.elemOid, dims: s.elems.length ? [[s.elems.length, s.lb]] : [], elems: s.elems }),
  );

const lyingArray = fc.oneof(honestShape, lyingShape);

const lyingRecord = fc
  .record({
    fields: fc.array(fc.tuple(fc.constantFrom(...TEXT_OIDS), element), { maxLength: 5 }),
    count: fc.option(smallLie, { nil: undefined, freq: 1 }),
    trailing: fc.option(nastyBytes(8), { nil: undefined, freq: 4 }),
  })
  .map((s) => binRecord(s.fields, s));

const lyingNumeric = fc
  .record({
    digits: fc.array(fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 0xffff })), {
      maxLength: 6,
    }),
    weight: fc.integer({ min: -0x8000, max: 0x7fff }).map((w) => (Math.abs(w) > 40 ? w % 40 : w)),
    sign: fc.oneof(fc.constantFrom(0, 0x4000, 0xc000, 0xd000, 0xf000), fc.integer({ min: 0, max: 0xffff })),
    dscale: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 0xffff })),
    ndigits: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined, freq: 4 }),
    trailing: fc.option(nastyBytes(4), { nil: undefined, freq: 4 }),
  })
  .map((s) => binNumeric(s.digits, s.weight, s.sign, Math.min(s.dscale, 0xffff), s));

/** How many generated values were well-formed (reported: the generators must reach both sides). */
const seen = { total: 0, wellFormed: 0 };
const report = (t: { diagnostic(m: string): void }) => {
  t.diagnostic(`${seen.wellFormed} of ${seen.total} values well-formed`);
  seen.total = 0;
  seen.wellFormed = 0;
};

const mask = () => Buffer.from('x');
const noop = () => undefined;

/** The codec on the value alone and amid bytes that could complete it: same answer, only FieldError. */
function checkContainer(kind: 'array' | 'record', v: Buffer, after: Buffer): void {
  const rewrite = kind === 'array' ? rewriteArrayBinary : rewriteRecordBinary;
  const alone = only(FieldError, () => rewrite(v, 0, v.length, noop));
  const amid = Buffer.concat([Buffer.from([0xff, 0xff]), v, after]);
  assert.deepEqual(
    only(FieldError, () => rewrite(amid, 2, 2 + v.length, noop)),
    alone,
    'read outside',
  );
  assert.equal(alone === 'refused', !accepted(kind, v), 'accepts what the receive function accepts');
  seen.total++;
  if (alone !== 'refused') seen.wellFormed++;
  const all = only(FieldError, () => rewrite(v, 0, v.length, mask));
  assert.equal(all === 'refused', alone === 'refused');
  if (all !== 'refused' && all !== undefined) {
    decodeBinary(kind, all, 0, all.length, { deep: false });
    assert.ok(!all.includes(SECRET));
  }
}

function plan(typeOid: number, rule: MaskRule | null) {
  const rd = rowDescription([{ name: 'v', tableOid: 1, attnum: 1, typeOid, format: 1 }]);
  const m = rule === null ? DETECT : NONE;
  return buildMaskPlan(parseRowDescription(rd, 0, rd.length), {
    env: { hasher: m.hasher },
    detection: m.detection,
    columnRule: () => rule,
  });
}
const PLANS = {
  detectArray: plan(1009, null),
  detectRecord: plan(2249, null),
  detectRecords: plan(2287, null),
  ruleArray: plan(1009, { name: 'r', strategy: 'partial' }),
};

/** Through masking: refused (MaskError) or a well-formed value without the secret. */
function checkMasked(p: keyof typeof PLANS, kind: 'array' | 'record', v: Buffer): void {
  const row = dataRow([v]);
  const out = only(MaskError, () => maskDataRow(PLANS[p], row, 0, row.length, null));
  if (out === 'refused') return;
  const value = rowValues(out ?? row)[0];
  if (value === null) return;
  assert.ok(!value.includes(SECRET), 'the secret passed');
  // Well-formed as array_recv reads it (which does not check the has-null flag against the NULLs).
  decodeBinary(kind, value, 0, value.length, { nullFlag: false });
}

describe('binary values', () => {
  test('the malformed cases replay: refused by the codec or through masking', () => {
    for (const [, v] of BAD_ARRAYS) checkMasked('detectArray', 'array', v);
    for (const [, v] of BAD_RECORDS) checkMasked('detectRecord', 'record', v);
    for (const [, v] of BAD_NUMERICS)
      assert.equal(
        only(FieldError, () => numericBinaryToText(v, 0, v.length)),
        'refused',
      );
  });

  test('arrays: random and lying bytes, only FieldError, nothing outside the value', (t) => {
    fuzz(
      t,
      fc.property(fc.oneof(lyingArray, nastyBytes(48)), nastyBytes(12), (v, after) => {
        checkContainer('array', v, after);
        checkMasked('detectArray', 'array', v);
        checkMasked('ruleArray', 'array', v);
        checkMasked('detectRecords', 'array', v);
      }),
    );
    report(t);
  });

  test('records: random and lying bytes, only FieldError, nothing outside the value', (t) => {
    fuzz(
      t,
      fc.property(fc.oneof(lyingRecord, nastyBytes(48)), nastyBytes(12), (v, after) => {
        checkContainer('record', v, after);
        checkMasked('detectRecord', 'record', v);
      }),
    );
    report(t);
  });

  test('numerics: random and lying bytes, only FieldError; masked to a numeric or NULL', (t) => {
    const partial = valueMasker('partial', 1700, -1, 1, { hasher: NONE.hasher });
    fuzz(
      t,
      fc.property(fc.oneof(lyingNumeric, nastyBytes(24)), nastyBytes(8), (v, after) => {
        const alone = only(FieldError, () => numericBinaryToText(v, 0, v.length));
        const amid = Buffer.concat([v, after]);
        assert.equal(
          only(FieldError, () => numericBinaryToText(amid, 0, v.length)),
          alone,
          'read outside',
        );
        if (alone !== 'refused') assert.match(alone, /^(-?\d+(\.\d+)?|NaN|-?Infinity)$/);
        const m = partial(v, 0, v.length);
        assert.equal(m === null, alone === 'refused', 'NULL exactly when malformed');
        if (m !== null) numericBinaryToText(m, 0, m.length);
      }),
    );
  });

  test('well-formed arrays of any shape stay well-formed: dimensions, NULLs and element count kept', (t) => {
    fuzz(
      t,
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: -5, max: 5 })), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.array(fc.oneof(fc.constant(null), fc.constant(SECRET), fc.string({ maxLength: 6 })), {
          minLength: 27,
          maxLength: 27,
        }),
        (dims, pool) => {
          const n = dims.reduce((a, [d]) => a * d, 1);
          const elems = pool.slice(0, n);
          const v = binArray({ dims, elems });
          for (const p of ['detectArray', 'ruleArray'] as const) {
            const row = dataRow([v]);
            const out = maskDataRow(PLANS[p], row, 0, row.length, null);
            const value = rowValues(out ?? row)[0] as Buffer;
            assert.ok(!value.includes(SECRET));
            const d = decodeBinary('array', value);
            assert.ok('array' in d);
            assert.deepEqual(d.array.dims, dims);
            assert.deepEqual(
              leaves(d).map((x) => x === null),
              elems.map((x) => x === null),
            );
          }
        },
      ),
    );
  });
});
