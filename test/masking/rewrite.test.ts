// DataRow, ErrorResponse / NoticeResponse and NotificationResponse rewriting: byte-exact
// framing, unchanged rows return null, plans from the wire (table OID + column) and lineage.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileMasking } from '../../proxy/masking/compile.js';
import {
  buildMaskPlan,
  type ColumnLineage,
  MaskError,
  type PlanContext,
  parseBindResultFormats,
  parseRowDescription,
} from '../../proxy/masking/plan.js';
import { maskDataRow, maskErrorOrNotice, maskNotification } from '../../proxy/masking/rewrite.js';
import { DEFAULT_MASKING_RULES, type MaskRule, parseMaskingRules } from '../../proxy/masking/rules.js';
import { REDACTED } from '../../proxy/masking/strategies.js';
import { FieldError } from '../../proxy/wire/reader.js';
import {
  cstr,
  dataRow,
  errorFieldsOf,
  errorResponse,
  type FieldSpec,
  i16,
  i32,
  message,
  notification,
  rowDescription,
  rowText,
  rowValues,
} from './wire.js';

const KEY = 'k'.repeat(32);
const withDetectors = compileMasking(DEFAULT_MASKING_RULES, { hashKey: KEY });
const columnsOnly = compileMasking(
  parseMaskingRules(
    [{ name: 'pii', columns: ['public.customers.email', 'public.customers.ssn'], strategy: 'redact' }],
    'm',
  ),
  { hashKey: KEY },
);
const PII: MaskRule = { name: 'pii', strategy: 'redact' };
const CUSTOMERS = 16400;

function ctx(m = withDetectors, extra: Partial<PlanContext> = {}): PlanContext {
  return {
    env: { hasher: m.hasher },
    detection: m.detection,
    columnRule: (oid, att) => (oid === CUSTOMERS && (att === 3 || att === 4) ? PII : null),
    ...extra,
  };
}

function planOf(fields: FieldSpec[], c: PlanContext) {
  const rd = rowDescription(fields);
  return buildMaskPlan(parseRowDescription(rd, 0, rd.length), c);
}

const CUST: FieldSpec[] = [
  { name: 'id', tableOid: CUSTOMERS, attnum: 1, typeOid: 23 },
  { name: 'full_name', tableOid: CUSTOMERS, attnum: 2 },
  { name: 'email', tableOid: CUSTOMERS, attnum: 3 },
  { name: 'ssn', tableOid: CUSTOMERS, attnum: 4 },
  { name: 'city', tableOid: CUSTOMERS, attnum: 5 },
];

describe('RowDescription and Bind parsing', () => {
  test('fields', () => {
    const rd = rowDescription([{ name: 'é', tableOid: 7, attnum: 2, typeOid: 1043, typmod: 14, format: 1 }]);
    assert.deepEqual(parseRowDescription(rd, 0, rd.length), [
      { name: 'é', tableOid: 7, columnAttr: 2, typeOid: 1043, typeSize: -1, typeMod: 14, format: 1 },
    ]);
  });
  test('Bind result formats', () => {
    const bind = message(
      'B',
      cstr('p'),
      cstr('s'),
      i16(1),
      i16(1),
      i16(2),
      i32(3),
      Buffer.from('abc'),
      i32(-1),
      i16(2),
      i16(0),
      i16(1),
    );
    assert.deepEqual(parseBindResultFormats(bind, 0, bind.length), [0, 1]);
  });
});

describe('DataRow', () => {
  test('no rules, no detectors: passthrough plan, null', () => {
    const none = compileMasking([], { hashKey: KEY });
    const plan = planOf(CUST, ctx(none, { columnRule: () => null }));
    assert.equal(plan.passthrough, true);
    assert.equal(maskDataRow(plan, dataRow(['1', 'a', 'b', 'c', 'd']), 0, 10, null), null);
  });
  test('unchanged rows return null (no allocation)', () => {
    const plan = planOf(
      CUST.map((f) => ({ ...f, tableOid: 0 })),
      ctx(),
    );
    assert.equal(plan.passthrough, false);
    const row = dataRow(['1', 'Ada Lovelace', 'nothing here', null, 'Springfield']);
    assert.equal(maskDataRow(plan, row, 0, row.length, new Map()), null);
  });
  test('wire column rules mask whole values; lengths are re-encoded', () => {
    const plan = planOf(CUST, ctx(columnsOnly));
    assert.equal(plan.last, 3);
    const counts = new Map<string, number>();
    const row = dataRow(['1', 'Ada', 'ada@example.com', '912-34-5678', 'Salem']);
    const out = maskDataRow(plan, row, 0, row.length, counts) as Buffer;
    assert.deepEqual(rowText(out), ['1', 'Ada', REDACTED, REDACTED, 'Salem']);
    assert.deepEqual(Object.fromEntries(counts), { pii: 2 });
    assert.equal(out.readInt32BE(1), out.length - 1);
  });
  test('byte-exact output, inside a larger buffer, NULLs kept, detectors on other text fields', () => {
    const plan = planOf(CUST, ctx());
    const row = dataRow(['7', 'call 555-123-4567', null, '912-34-5678', 'x']);
    const big = Buffer.concat([Buffer.from('junk'), row, Buffer.from('more')]);
    const counts = new Map<string, number>();
    const out = maskDataRow(plan, big, 4, 4 + row.length, counts) as Buffer;
    const expected = dataRow(['7', 'call ***-***-4567', null, REDACTED, 'x']);
    assert.deepEqual(out, expected);
    assert.deepEqual(Object.fromEntries(counts), { pii: 1, detectors: 1 });
  });
  test('types that cannot hold a match are not scanned; int8 is (a card stored as a number)', () => {
    assert.equal(planOf([{ name: 'n', typeOid: 23 }], ctx()).passthrough, true);
    assert.equal(planOf([{ name: 't', typeOid: 1184 }], ctx()).passthrough, true);
    const plan = planOf([{ name: 'n', typeOid: 20 }], ctx());
    assert.equal(plan.passthrough, false);
    const ids = dataRow(['1234567890123']);
    assert.equal(maskDataRow(plan, ids, 0, ids.length, null), null);
    const card = dataRow(['4111111111111111']);
    const out = maskDataRow(plan, card, 0, card.length, null) as Buffer;
    // Still a valid int8: partial keeps one digit (see strategies.ts partialDecimal).
    assert.deepEqual(rowText(out), ['4000000000000000']);
  });
  test('binary formats via withFormats', () => {
    const plan = planOf(CUST, ctx(columnsOnly)).withFormats([1]);
    assert.equal(plan.fields[0].format, 1);
    const id = Buffer.alloc(4);
    id.writeInt32BE(1);
    const row = dataRow([id, 'Ada', 'ada@example.com', '912', 'x']);
    const out = maskDataRow(plan, row, 0, row.length, null) as Buffer;
    const v = rowValues(out);
    assert.deepEqual(v[0], id);
    assert.equal(v[2]?.toString(), REDACTED);
    const base = planOf(CUST, ctx(columnsOnly));
    assert.equal(base.withFormats([0]), base);
    assert.equal(base.withFormats([]), base);
    assert.equal(base.withFormats([1]), base.withFormats([1]));
  });
  test('a row that does not match its RowDescription fails closed', () => {
    const plan = planOf(CUST, ctx());
    const row = dataRow(['1', '2']);
    assert.throws(() => maskDataRow(plan, row, 0, row.length, null), MaskError);
    // A malformed row (a length past its end, bytes after its values, a length below -1) is the
    // bounded reader's FieldError.
    const bad = dataRow(['1', 'a', 'b', 'c', 'd']);
    bad.writeInt32BE(1000, 7);
    assert.throws(() => maskDataRow(plan, bad, 0, bad.length, null), FieldError);
    const trailing = Buffer.concat([dataRow(['1', 'a', 'b', 'c', 'd']), Buffer.from([0x41])]);
    trailing.writeInt32BE(trailing.length - 1, 1);
    assert.throws(() => maskDataRow(plan, trailing, 0, trailing.length, null), FieldError);
    const negative = dataRow(['1', 'a', 'b', 'c', null]);
    negative.writeInt32BE(-2, negative.length - 4);
    assert.throws(() => maskDataRow(plan, negative, 0, negative.length, null), FieldError);
  });
  test('lineage masks what the wire cannot see (views, expressions)', () => {
    const lineage: ColumnLineage[] = [
      { name: 'id', rule: null },
      { name: 'contact', rule: { name: 'pii', strategy: 'partial' }, exact: true },
    ];
    const plan = planOf([{ name: 'id', typeOid: 23 }, { name: 'contact' }], ctx(columnsOnly, { lineage }));
    const row = dataRow(['1', 'ADA@EXAMPLE.COM!']);
    assert.deepEqual(rowText(maskDataRow(plan, row, 0, row.length, null) as Buffer), ['1', 'A***']);
  });
  test('a value computed from a masked column is redacted whole, whatever partial or hash would keep', () => {
    // reverse(email) looks like an email whose "domain" is the reversed local part; a hash of a
    // UNION with literals would hash the attacker's guesses with the column's key.
    for (const strategy of ['partial', 'hash'] as const) {
      const lineage: ColumnLineage[] = [{ name: 'r', rule: { name: 'pii', strategy } }];
      const plan = planOf([{ name: 'r' }], ctx(columnsOnly, { lineage }));
      const row = dataRow(['tset.yranac@4281tsiuq.eoz']);
      assert.deepEqual(rowText(maskDataRow(plan, row, 0, row.length, null) as Buffer), [REDACTED], strategy);
    }
  });
  test('lineage with a star of unknown width aligns prefix and suffix', () => {
    const lineage: ColumnLineage[] = [
      { name: null, rule: null, star: true },
      { name: 'email', rule: PII },
    ];
    const plan = planOf([{ name: 'a' }, { name: 'b' }, { name: 'email' }], ctx(columnsOnly, { lineage }));
    const row = dataRow(['x', 'y', 'z@example.com']);
    assert.deepEqual(rowText(maskDataRow(plan, row, 0, row.length, null) as Buffer), ['x', 'y', REDACTED]);
  });
  test('JSON lineage masks only the masked keys, and keeps JSON valid', () => {
    const lineage: ColumnLineage[] = [
      {
        name: 'j',
        rule: PII,
        json: new Map([
          ['email', PII],
          ['ssn', PII],
        ]),
      },
    ];
    const plan = planOf([{ name: 'j', typeOid: 114 }], ctx(withDetectors, { lineage }));
    const doc =
      '{"id": 1, "email": "ada@example.com", "nested": {"ssn": "912-34-5678"}, "notes": "mail bob@example.com"}';
    const row = dataRow([doc]);
    const out = JSON.parse(rowText(maskDataRow(plan, row, 0, row.length, null) as Buffer)[0] ?? '');
    assert.deepEqual(out, {
      id: 1,
      email: REDACTED,
      nested: { ssn: REDACTED },
      notes: 'mail b***@example.com',
    });
    // ->> 'notes' (a scalar, not JSON) passes to the detectors.
    const row2 = dataRow(['Springfield']);
    assert.equal(maskDataRow(plan, row2, 0, row2.length, null), null);
  });
  test('jsonb binary with JSON lineage keeps the version byte', () => {
    const lineage: ColumnLineage[] = [{ name: 'j', rule: PII, json: new Map([['email', PII]]) }];
    const plan = planOf([{ name: 'j', typeOid: 3802, format: 1 }], ctx(columnsOnly, { lineage }));
    const row = dataRow([Buffer.concat([Buffer.from([1]), Buffer.from('{"email": "a@b.io", "id": 2}')])]);
    const v = rowValues(maskDataRow(plan, row, 0, row.length, null) as Buffer)[0] as Buffer;
    assert.equal(v[0], 1);
    assert.deepEqual(JSON.parse(v.subarray(1).toString()), { email: REDACTED, id: 2 });
  });
  test('detectors inside JSON numbers quote the replacement', () => {
    const plan = planOf([{ name: 'j', typeOid: 3802 }], ctx());
    const row = dataRow(['{"card": 4242424242424242, "ok": 1}']);
    const out = JSON.parse(rowText(maskDataRow(plan, row, 0, row.length, null) as Buffer)[0] ?? '');
    assert.deepEqual(out, { card: '************4242', ok: 1 });
  });
  test('whole-row records (text) mask their masked fields', () => {
    const lineage: ColumnLineage[] = [
      { name: 'c', rule: PII, record: { rules: [null, null, PII, PII, null], types: [23, 25, 25, 25, 25] } },
    ];
    const plan = planOf([{ name: 'c', typeOid: 16402 }], ctx(columnsOnly, { lineage }));
    const row = dataRow(['(1,"Ada Lovelace",ada@example.com,912-34-5678,Salem)']);
    assert.deepEqual(rowText(maskDataRow(plan, row, 0, row.length, null) as Buffer), [
      `(1,"Ada Lovelace",${REDACTED},${REDACTED},Salem)`,
    ]);
  });
  test('a null strategy gives SQL NULL', () => {
    const m = compileMasking(
      parseMaskingRules([{ name: 'gone', detect: ['email'], strategy: 'null' }], 'm'),
      { hashKey: KEY },
    );
    const plan = planOf([{ name: 'a' }], ctx(m, { columnRule: null }));
    const row = dataRow(['x a@b.io']);
    assert.deepEqual(rowValues(maskDataRow(plan, row, 0, row.length, null) as Buffer), [null]);
  });
});

describe('ErrorResponse / NoticeResponse', () => {
  const opts = { detection: withDetectors.detection, hasher: withDetectors.hasher };
  test('a failed cast echoing a masked value (strict rule of the statement)', () => {
    const e = errorResponse('E', {
      S: 'ERROR',
      V: 'ERROR',
      C: '22P02',
      M: 'invalid input syntax for type integer: "Ada Lovelace"',
      P: '8',
      F: 'numutils.c',
      R: 'pg_strtoint32_safe',
    });
    const out = maskErrorOrNotice(e, 0, e.length, { ...opts, strict: PII }, new Map()) as Buffer;
    assert.equal(errorFieldsOf(out).M, `invalid input syntax for type integer: "${REDACTED}"`);
    assert.equal(errorFieldsOf(out).P, '8');
    // Without a strict rule the detectors still see detectable values.
    const e2 = errorResponse('E', {
      S: 'ERROR',
      C: '22P02',
      M: 'invalid input syntax for type integer: "912-34-5678"',
    });
    assert.equal(
      errorFieldsOf(maskErrorOrNotice(e2, 0, e2.length, opts, null) as Buffer).M,
      'invalid input syntax for type integer: "***-**-5678"',
    );
  });
  test('unique violation detail and failing row', () => {
    const e = errorResponse('E', {
      S: 'ERROR',
      C: '23505',
      M: 'duplicate key value violates unique constraint "customers_email_key"',
      D: 'Key (email)=(Ada Lovelace) already exists.',
      n: 'customers_email_key',
      F: 'nbtinsert.c',
      R: '_bt_check_unique',
    });
    const counts = new Map<string, number>();
    const f = errorFieldsOf(maskErrorOrNotice(e, 0, e.length, { ...opts, strict: PII }, counts) as Buffer);
    assert.equal(f.D, `Key (email)=(${REDACTED}) already exists.`);
    assert.equal(f.M, 'duplicate key value violates unique constraint "customers_email_key"');
    assert.equal(f.n, 'customers_email_key');
    assert.equal(counts.get('pii'), 1);
    const e2 = errorResponse('E', {
      C: '23502',
      M: 'null value in column "x" of relation "t" violates not-null constraint',
      D: 'Failing row contains (1, Ada, null).',
      F: 'execMain.c',
    });
    assert.equal(
      errorFieldsOf(maskErrorOrNotice(e2, 0, e2.length, { ...opts, strict: PII }, null) as Buffer).D,
      `Failing row contains (${REDACTED}).`,
    );
  });
  test('notices, hints and context from functions', () => {
    const n = errorResponse('N', {
      S: 'NOTICE',
      C: '00000',
      M: 'customer ada@example.com updated',
      W: 'PL/pgSQL function f() line 3 at RAISE',
    });
    assert.equal(
      errorFieldsOf(maskErrorOrNotice(n, 0, n.length, opts, null) as Buffer).M,
      'customer a***@example.com updated',
    );
  });
  test('unchanged -> null; without a strict rule the server text is kept', () => {
    const e = errorResponse('E', {
      S: 'ERROR',
      C: '42P01',
      M: 'relation "nope" does not exist',
      P: '19',
      F: 'namespace.c',
    });
    assert.equal(maskErrorOrNotice(e, 0, e.length, opts, null), null);
    // Strict, and the client wrote the name (an error of the parser: it has a position): not data.
    assert.equal(
      maskErrorOrNotice(e, 0, e.length, { ...opts, strict: PII, sql: 'SELECT email FROM nope' }, null),
      null,
    );
  });
});

describe('NotificationResponse', () => {
  test('payload masked, JSON kept valid, channel and pid kept', () => {
    const m = notification(42, 'events', '{"who": "ada@example.com", "card": 4242424242424242}');
    const out = maskNotification(m, 0, m.length, withDetectors.detection, null) as Buffer;
    assert.equal(out.readInt32BE(1), out.length - 1);
    assert.equal(out.readInt32BE(5), 42);
    const ch = out.indexOf(0, 9);
    assert.equal(out.toString('utf8', 9, ch), 'events');
    assert.deepEqual(JSON.parse(out.toString('utf8', ch + 1, out.length - 1)), {
      who: 'a***@example.com',
      card: '************4242',
    });
    const clean = notification(1, 'c', 'hello');
    assert.equal(maskNotification(clean, 0, clean.length, withDetectors.detection, null), null);
  });
});
