// Errors, notices, notifications and parameter statuses of statements that read masked columns
// fail closed (issue 18, part "values"); the same messages of statements reading nothing masked
// keep their text. Unit level: the frames as PostgreSQL 18 sends them (F / R included); the
// gateway test (values-gateway.test.ts) checks the bytes a real client receives.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileMasking } from '../../proxy/masking/compile.js';
import { REDACTED_FIELD } from '../../proxy/masking/errors.js';
import {
  maskErrorOrNotice,
  maskNotification,
  maskParameterStatus,
  REDACTED_VALUE,
} from '../../proxy/masking/rewrite.js';
import { DEFAULT_MASKING_RULES, type MaskRule } from '../../proxy/masking/rules.js';
import { REDACTED } from '../../proxy/masking/strategies.js';
import { errorFieldsOf, errorResponse, notification } from './wire.js';

const m = compileMasking(DEFAULT_MASKING_RULES, { hashKey: 'k'.repeat(32) });
const PII: MaskRule = { name: 'pii', strategy: 'redact' };
const opts = { detection: m.detection, hasher: m.hasher };
const strict = (sql: string) => ({ ...opts, strict: PII, sql });

function masked(
  fields: Record<string, string>,
  o: Parameters<typeof maskErrorOrNotice>[3],
  type: 'E' | 'N' = 'E',
) {
  const e = errorResponse(type, fields);
  const out = maskErrorOrNotice(e, 0, e.length, o, new Map());
  return errorFieldsOf(out ?? e);
}

describe('errors of a statement reading masked columns', () => {
  test('a value cast to regclass / used as a setting name: the quoted value is masked, the template kept', () => {
    const f = masked(
      {
        S: 'ERROR',
        C: '42P01',
        M: 'relation "Ada Lovelace" does not exist',
        F: 'namespace.c',
        R: 'RangeVarGetRelidExtended',
      },
      strict('SELECT full_name::regclass FROM pii.people'),
    );
    assert.equal(f.M, `relation "${REDACTED}" does not exist`);
    assert.equal(f.C, '42P01');
    const g = masked(
      { S: 'ERROR', C: '42704', M: 'unrecognized configuration parameter "Ada Lovelace"', F: 'guc.c' },
      strict('SELECT current_setting(full_name) FROM pii.people'),
    );
    assert.equal(g.M, `unrecognized configuration parameter "${REDACTED}"`);
  });
  test('PL/pgSQL RAISE: every text field and the name fields it can set are redacted, SQLSTATE kept', () => {
    const f = masked(
      {
        S: 'ERROR',
        V: 'ERROR',
        C: '22P02',
        M: 'invalid input syntax for type integer: "Ada Lovelace"',
        D: 'who: Ada Lovelace',
        H: 'try Ada',
        W: 'PL/pgSQL function leak(text) line 3 at RAISE',
        t: 'Ada Lovelace',
        c: 'Ada',
        P: '12',
        F: 'pl_exec.c',
        L: '3911',
        R: 'exec_stmt_raise',
      },
      strict('SELECT leak(full_name) FROM pii.people'),
    );
    for (const k of ['M', 'D', 'H', 'W', 't', 'c']) assert.equal(f[k], REDACTED_FIELD, k);
    assert.equal(f.C, '22P02');
    assert.equal(f.P, '12');
    assert.equal(f.R, 'exec_stmt_raise');
  });
  test('a notice with any text from a RAISE NOTICE', () => {
    const f = masked(
      { S: 'NOTICE', C: '00000', M: 'row: Ada Lovelace, 4111', F: 'pl_exec.c', R: 'exec_stmt_raise' },
      strict('DO ...'),
      'N',
    );
    assert.equal(f.M, REDACTED_FIELD);
  });
  test('JSON / XML parse errors: detail and context quoting the document are redacted', () => {
    const f = masked(
      {
        S: 'ERROR',
        C: '22P02',
        M: 'invalid input syntax for type json',
        D: 'Token "Ada" is invalid.',
        W: 'JSON data, line 1: Ada...',
        F: 'jsonfuncs.c',
      },
      strict('SELECT full_name::json FROM pii.people'),
    );
    assert.equal(f.M, 'invalid input syntax for type json');
    assert.equal(f.D, `Token "${REDACTED}" is invalid.`);
    assert.equal(f.W, REDACTED_FIELD);
    const x = masked(
      {
        S: 'ERROR',
        C: '2200N',
        M: 'invalid XML content',
        D: "line 1: Start tag expected, '<' not found\nAda Lovelace\n^",
        F: 'xml.c',
      },
      strict('SELECT full_name::xml FROM pii.people'),
    );
    assert.equal(x.D, REDACTED_FIELD);
  });
  test('a message of no known template, the internal query, unknown fields: redacted whole', () => {
    const f = masked(
      {
        S: 'ERROR',
        C: 'XX000',
        M: 'something Ada Lovelace happened',
        q: "SELECT 'Ada Lovelace'",
        Z: 'Ada',
        F: 'foo.c',
      },
      strict('SELECT f(full_name) FROM pii.people'),
    );
    assert.equal(f.M, REDACTED_FIELD);
    assert.equal(f.q, REDACTED_FIELD);
    assert.equal(f.Z, REDACTED_FIELD);
  });
  test('constraint violations: identifiers the client wrote kept, key and row values masked', () => {
    const f = masked(
      {
        S: 'ERROR',
        C: '23505',
        M: 'duplicate key value violates unique constraint "people_name_key"',
        D: 'Key (full_name)=(Ada (the "first") Lovelace) already exists.',
        s: 'pii',
        t: 'people',
        n: 'people_name_key',
        F: 'nbtinsert.c',
        R: '_bt_check_unique',
      },
      strict('INSERT INTO pii.people2 SELECT full_name FROM pii.people'),
    );
    assert.equal(f.D, `Key (full_name)=(${REDACTED}) already exists.`);
    // The constraint's name is in the n field anyway.
    assert.equal(f.M, 'duplicate key value violates unique constraint "people_name_key"');
    assert.equal(f.n, 'people_name_key');
    assert.equal(f.t, 'people');
  });
  test('controls: the same errors of a statement reading nothing masked keep their text', () => {
    const e = { S: 'ERROR', C: '42601', M: 'syntax error at or near "SELEC"', P: '1', F: 'scan.l' };
    assert.deepEqual(masked(e, opts), e);
    const n = { S: 'NOTICE', C: '00000', M: 'hello from a function', F: 'pl_exec.c', R: 'exec_stmt_raise' };
    assert.deepEqual(masked(n, opts, 'N'), n);
    // A syntax error in a statement reading masked columns: the client wrote the token.
    assert.deepEqual(masked(e, strict('SELEC email FROM pii.people')), e);
    // Detectors still apply without a strict rule.
    assert.equal(
      masked({ S: 'NOTICE', C: '00000', M: 'mail ada@example.com', F: 'pl_exec.c' }, opts, 'N').M,
      'mail a***@example.com',
    );
  });
});

describe('notifications and parameter statuses', () => {
  test('a payload while a statement reading masked columns is unfinished: redacted whole; else detectors', () => {
    const n = notification(7, 'leak', 'Ada Lovelace');
    const out = maskNotification(n, 0, n.length, m.detection, null, PII) as Buffer;
    assert.equal(out.readInt32BE(1), out.length - 1);
    assert.equal(out.readInt32BE(5), 7);
    const ch = out.indexOf(0, 9);
    assert.equal(out.toString('utf8', 9, ch), 'leak');
    assert.equal(out.toString('utf8', ch + 1, out.length - 1), REDACTED_VALUE);
    assert.equal(maskNotification(n, 0, n.length, m.detection, null, null), null);
  });
  test('application_name set from a masked column; driver parameters keep their shapes', () => {
    const ps = (name: string, value: string) => {
      const body = Buffer.from(`${name}\0${value}\0`);
      const b = Buffer.alloc(5 + body.length);
      b[0] = 0x53;
      b.writeInt32BE(4 + body.length, 1);
      body.copy(b, 5);
      return b;
    };
    const value = (b: Buffer | null) =>
      b === null ? null : b.toString('utf8', 5, b.length - 1).split('\0')[1];
    const a = ps('application_name', 'Ada Lovelace');
    assert.equal(value(maskParameterStatus(a, 0, a.length, m.detection, null, PII)), REDACTED_VALUE);
    assert.equal(maskParameterStatus(a, 0, a.length, m.detection, null, null), null);
    const e = ps('application_name', 'ada@example.com');
    assert.equal(value(maskParameterStatus(e, 0, e.length, m.detection, null, null)), 'a***@example.com');
    const d = ps('DateStyle', 'ISO, MDY');
    assert.equal(maskParameterStatus(d, 0, d.length, m.detection, null, PII), null);
    const tz = ps('TimeZone', '<+0412>-04:12');
    assert.equal(value(maskParameterStatus(tz, 0, tz.length, m.detection, null, PII)), REDACTED_VALUE);
  });
});
