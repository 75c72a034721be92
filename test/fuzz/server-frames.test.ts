// Fuzzing what servers send: the replay decoder on every backend type (recorded data may come from
// a misbehaving peer), and the field readers the session and the catalog link use on server
// messages (command tags, error fields, DataRows). Refusals only with FieldError; never a read
// outside the message.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { compileMasking } from '../../proxy/masking/compile.js';
import { parseCopyOutResponse } from '../../proxy/masking/copy.js';
import { buildMaskPlan, MaskError, parseRowDescription } from '../../proxy/masking/plan.js';
import { maskDataRow, maskErrorOrNotice, maskNotification } from '../../proxy/masking/rewrite.js';
import { DEFAULT_MASKING_RULES } from '../../proxy/masking/rules.js';
import { decodeFrame, decodeFrameStrict } from '../../proxy/wire/decode.js';
import {
  commandTag,
  dataRowText,
  FieldError,
  noticeFields,
  parameterStatus,
  readyStatus,
} from '../../proxy/wire/fields.js';
import { rowDescription } from '../masking/wire.js';
import { bytesOf, corpus, fuzz, int16, int32, lyingInt32, nastyBytes, typed } from './harness.js';

const BACKEND_TYPES = [...'RKSZTDCIEN123nstGHWAVvdc'].map((c) => c.charCodeAt(0));

function onlyFieldError<T>(f: () => T): { ok: T } | { error: true } {
  try {
    return { ok: f() };
  } catch (e) {
    assert.ok(e instanceof FieldError, `threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    return { error: true };
  }
}

// The masking decoders of backend messages, under the built-in default masking (detectors on
// every text field: the plan reads every value of a row).
const MASKING = compileMasking(DEFAULT_MASKING_RULES, { hashKey: 'k'.repeat(32) });
const RD = rowDescription([{ name: 'a' }, { name: 'b', typeOid: 3802 /* jsonb */, format: 1 }]);
const PLAN = buildMaskPlan(parseRowDescription(RD, 0, RD.length), {
  env: { hasher: MASKING.hasher },
  detection: MASKING.detection,
  columnRule: () => null,
});

type Decoder = (buf: Buffer, start: number, end: number) => unknown;
/** Every decoder of a backend message body, by type byte; each reads through the bounded reader. */
const DECODERS: Record<number, [string, Decoder][]> = {
  84: [['parseRowDescription', parseRowDescription]],
  68: [['maskDataRow', (b, s, e) => maskDataRow(PLAN, b, s, e, null)]],
  69: [
    ['noticeFields', (b, s, e) => [...noticeFields(b, s, e)]],
    [
      'maskErrorOrNotice',
      (b, s, e) => maskErrorOrNotice(b, s, e, { detection: MASKING.detection, hasher: MASKING.hasher }, null),
    ],
  ],
  78: [['noticeFields', (b, s, e) => [...noticeFields(b, s, e)]]],
  67: [['commandTag', commandTag]],
  83: [['parameterStatus', parameterStatus]],
  90: [['readyStatus', readyStatus]],
  65: [['maskNotification', (b, s, e) => maskNotification(b, s, e, MASKING.detection, null)]],
  72: [['parseCopyOutResponse', parseCopyOutResponse]],
};

/** Refusals only with FieldError (and MaskError for a row whose width is not its plan's). */
function onlyReaderError<T>(name: string, f: () => T): { ok: T } | { error: true } {
  try {
    return { ok: f() };
  } catch (e) {
    if (name === 'maskDataRow' && e instanceof MaskError && /^DataRow has \d+ fields/.test(e.message))
      return { error: true };
    assert.ok(
      e instanceof FieldError,
      `${name} threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`,
    );
    return { error: true };
  }
}

/** Same answer for the message alone and amid other bytes (noticeFields/commandTag take views). */
function checkServerReaders(type: number, body: Buffer, before: Buffer, after: Buffer): void {
  const msg = typed(type, body);
  const amid = Buffer.concat([before, msg, after]);
  const s = before.length;
  const e = s + msg.length;
  if (type === 0x45 || type === 0x4e) {
    const a = onlyFieldError(() => [...noticeFields(msg, 0, msg.length)]);
    assert.deepEqual(
      onlyFieldError(() => [...noticeFields(amid, s, e)]),
      a,
      'noticeFields read outside',
    );
  }
  if (type === 0x43) {
    const a = onlyFieldError(() => commandTag(msg, 0, msg.length));
    assert.deepEqual(
      onlyFieldError(() => commandTag(amid, s, e)),
      a,
      'commandTag read outside',
    );
  }
  if (type === 0x44) onlyFieldError(() => dataRowText(body));
  for (const [name, decode] of DECODERS[type] ?? []) {
    const a = onlyReaderError(name, () => decode(msg, 0, msg.length));
    assert.deepEqual(
      onlyReaderError(name, () => decode(amid, s, e)),
      a,
      `${name} read outside`,
    );
  }
  onlyReaderError('decodeFrameStrict', () => decodeFrameStrict('server', type, body));
  const d = decodeFrame('server', type, body);
  assert.equal(typeof d.type, 'string');
  JSON.parse(JSON.stringify(d));
}

/** DataRows with counts and value lengths that lie. */
const dataRowBody = fc
  .tuple(
    fc.oneof(fc.nat({ max: 4 }), fc.constantFrom(0xffff, 0x8000)),
    fc.array(fc.tuple(fc.oneof(fc.constant(-1), lyingInt32()), nastyBytes(12)), { maxLength: 4 }),
  )
  .map(([n, values]) =>
    Buffer.concat([int16(n), ...values.flatMap(([len, v]) => [int32(len), len < 0 ? Buffer.alloc(0) : v])]),
  );

/** Error/Notice bodies: field letters and strings with and without terminators. */
const fieldsBody = fc
  .array(fc.tuple(fc.constantFrom(...'SVCMDHPWF\0x'), fc.string({ maxLength: 8 }), fc.boolean()), {
    maxLength: 6,
  })
  .map((fields) =>
    Buffer.concat(fields.map(([code, v, term]) => Buffer.from(`${code}${v}${term ? '\0' : ''}`, 'utf8'))),
  );

describe('server frames', () => {
  test('corpus replay', () => {
    for (const e of corpus('server-frames')) {
      const b = bytesOf(e);
      checkServerReaders(b[0], b.subarray(5), Buffer.from([0x44, 0, 0, 0, 4]), Buffer.from([0, 0xff]));
      if (e.decoded !== undefined)
        assert.deepEqual(decodeFrame('server', b[0], b.subarray(5)).decoded, e.decoded, e.note);
      if (e.rows !== undefined)
        assert.deepEqual(
          onlyFieldError(() => dataRowText(b.subarray(5))),
          e.rows === null ? { error: true } : { ok: e.rows },
          e.note,
        );
    }
  });

  test('every backend type with random and lying bodies: only FieldError, nothing outside the message', (t) => {
    fuzz(
      t,
      fc.property(
        fc.oneof(fc.constantFrom(...BACKEND_TYPES), fc.integer({ min: 0, max: 255 })),
        fc.oneof(nastyBytes(80), dataRowBody, fieldsBody),
        nastyBytes(12),
        nastyBytes(12),
        (type, body, before, after) => checkServerReaders(type, body, before, after),
      ),
    );
  });

  test('well-formed DataRows read back exactly', (t) => {
    fuzz(
      t,
      fc.property(
        fc.array(fc.oneof(fc.constant(null), fc.string({ maxLength: 20 })), { maxLength: 8 }),
        (values) => {
          const body = Buffer.concat([
            int16(values.length),
            ...values.flatMap((v) =>
              v === null ? [int32(-1)] : [int32(Buffer.byteLength(v)), Buffer.from(v)],
            ),
          ]);
          assert.deepEqual(dataRowText(body), values);
        },
      ),
    );
  });
});
