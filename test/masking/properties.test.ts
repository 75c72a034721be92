// Property tests: random rows and values never crash the rewriters; what comes out frames
// correctly; a masked value holds nothing a detector would find; the byte fast paths agree with
// the string paths; JSON stays JSON.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { compileMasking } from '../../proxy/masking/compile.js';
import { CopyMasker, defaultCopyOptions } from '../../proxy/masking/copy.js';
import { ALL_DETECTORS } from '../../proxy/masking/detectors.js';
import { buildMaskPlan, MaskError, parseRowDescription } from '../../proxy/masking/plan.js';
import { maskDataRow, maskErrorOrNotice } from '../../proxy/masking/rewrite.js';
import { DETECTORS, parseMaskingRules, STRATEGIES } from '../../proxy/masking/rules.js';
import { partialBytes, partialText, textMasker } from '../../proxy/masking/strategies.js';
import {
  copyData,
  copyPayload,
  dataRow,
  errorFieldsOf,
  errorResponse,
  rowDescription,
  rowValues,
} from './wire.js';

const KEY = 'property-key-0123456789';
const SAMPLES = [
  'ada.lovelace@example.com',
  '4242 4242 4242 4242',
  '5555555555554444',
  '912-34-5678',
  '+1-555-123-4567',
  '(555) 123-4567',
  'DE89370400440532013000',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ',
  'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t',
  'AKIAIOSFODNN7EXAMPLE',
];
/** Text with sensitive values embedded in random noise. */
const textArb = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc
    .tuple(
      fc.string({ maxLength: 10 }),
      fc.constantFrom(...SAMPLES),
      fc.constantFrom('', ' ', ', ', '\t', '"'),
      fc.string({ maxLength: 10 }),
    )
    .map((p) => p.join('')),
  fc.array(fc.constantFrom(...'0123456789-+(). @abcXYZ'.split('')), { maxLength: 30 }).map((a) => a.join('')),
);

describe('properties', () => {
  for (const strategy of ['partial', 'redact', 'hash'] as const) {
    test(`detectors with ${strategy}: masked text holds nothing detectable`, () => {
      const m = compileMasking(parseMaskingRules([{ name: 'd', detect: [...DETECTORS], strategy }], 'm'), {
        hashKey: KEY,
      });
      fc.assert(
        fc.property(textArb, (s) => {
          const r = m.detection?.maskString(s, null);
          const out = r === undefined ? s : r;
          if (out === null) return true;
          return ALL_DETECTORS.findIn(out).length === 0;
        }),
        { numRuns: 2000 },
      );
    });
  }
  test('partial is stable: masking a masked value changes nothing detectable', () => {
    fc.assert(
      fc.property(textArb, (s) => {
        const p = partialText(s);
        return ALL_DETECTORS.findIn(p).length === 0 || ALL_DETECTORS.findIn(s).length === 0;
      }),
      { numRuns: 2000 },
    );
  });
  test('the byte fast path of partial agrees with partialText', () => {
    const arb = fc.oneof(
      textArb,
      fc.emailAddress(),
      fc.constantFrom(...SAMPLES),
      fc.stringMatching(/^[0-9 ()+.-]{0,20}$/),
    );
    fc.assert(
      fc.property(arb, (s) => {
        const b = Buffer.from(s, 'utf8');
        const fast = partialBytes(b, 0, b.length);
        return fast === null || fast.toString('utf8') === partialText(s);
      }),
      { numRuns: 5000 },
    );
  });
  test('random rows under random plans: never crash, frame exactly, NULLs stay NULL', () => {
    const m = compileMasking(
      parseMaskingRules(['default', { name: 'c', columns: ['t.a'], strategy: 'hash' }], 'm'),
      { hashKey: KEY },
    );
    const types = [25, 1043, 114, 3802, 23, 20, 1700, 2950, 1082, 1184, 1009, 16500];
    const valueArb = fc.oneof(
      fc.constant(null),
      textArb,
      fc.uint8Array({ maxLength: 24 }).map((u) => Buffer.from(u)),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...types), fc.constantFrom(0, 1), fc.boolean(), valueArb), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.constantFrom(...STRATEGIES),
        (cols, strategy) => {
          const rd = rowDescription(
            cols.map(([t, f, masked], i) => ({
              name: `c${i}`,
              tableOid: masked ? 1 : 0,
              attnum: i + 1,
              typeOid: t,
              format: f,
            })),
          );
          const plan = buildMaskPlan(parseRowDescription(rd, 0, rd.length), {
            env: { hasher: m.hasher },
            detection: m.detection,
            columnRule: (oid) => (oid === 1 ? { name: 'c', strategy } : null),
          });
          const row = dataRow(cols.map((c) => c[3]));
          let out: Buffer | null;
          try {
            out = maskDataRow(plan, row, 0, row.length, new Map());
          } catch (e) {
            // Only a binary container that is not one may be refused, clearly.
            if (e instanceof MaskError) return true;
            throw e;
          }
          const vals = rowValues(out ?? row);
          return vals.length === cols.length && cols.every((c, i) => c[3] !== null || vals[i] === null);
        },
      ),
      { numRuns: 1500 },
    );
  });
  test('JSON stays valid JSON under detectors and partial', () => {
    const m = compileMasking(
      parseMaskingRules([{ name: 'd', detect: [...DETECTORS], strategy: 'partial' }], 'm'),
      { hashKey: KEY },
    );
    const jsonArb = fc.jsonValue().map((v) => JSON.stringify(v));
    const withSecrets = fc
      .tuple(jsonArb, fc.constantFrom(...SAMPLES))
      .map(([j, s]) => JSON.stringify({ a: JSON.parse(j), s, n: 4242424242424242 }));
    const tm = textMasker('partial', 3802, -1, { hasher: m.hasher });
    fc.assert(
      fc.property(fc.oneof(jsonArb, withSecrets), (j) => {
        const r = m.detection?.maskString(j, null, true, false);
        if (typeof r === 'string') JSON.parse(r);
        JSON.parse(tm(j) ?? 'null');
        return true;
      }),
      { numRuns: 1500 },
    );
  });
  test('COPY text rows of random fields: always framed, field count kept', () => {
    const m = compileMasking(parseMaskingRules(['default'], 'm'), { hashKey: KEY });
    const fieldArb = fc.oneof(
      fc.constant('\\N'),
      textArb.map((s) => s.replace(/[\\\t\n\r]/g, ' ')),
    );
    fc.assert(
      fc.property(
        fc.array(fc.array(fieldArb, { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 40 }),
        (rows, cut) => {
          const masker = new CopyMasker(defaultCopyOptions('text'), null, 3, {
            env: { hasher: m.hasher },
            detection: m.detection,
          });
          const text = Buffer.from(rows.map((r) => `${r.join('\t')}\n`).join(''));
          const parts = [
            text.subarray(0, Math.min(cut, text.length)),
            text.subarray(Math.min(cut, text.length)),
          ];
          const out: Buffer[] = [];
          for (const p of parts) {
            const msg = copyData(p);
            const r = masker.push(msg, 0, msg.length, null);
            out.push(r === null ? msg : r);
          }
          const tail = masker.flush(null);
          if (tail) out.push(tail);
          const lines = copyPayload(Buffer.concat(out)).toString().split('\n');
          assert.equal(lines.pop(), '');
          return lines.length === rows.length && lines.every((l) => l.split('\t').length === 3);
        },
      ),
      { numRuns: 800 },
    );
  });
  test('errors and notices: any field text, still a valid message', () => {
    const m = compileMasking(parseMaskingRules(['default'], 'm'), { hashKey: KEY });
    fc.assert(
      fc.property(
        textArb,
        textArb,
        fc.constantFrom('22P02', '23505', '42601', 'P0001'),
        (msg, detail, code) => {
          const e = errorResponse('E', {
            S: 'ERROR',
            C: code,
            M: msg.replace(/\0/g, ''),
            D: detail.replace(/\0/g, ''),
          });
          const out = maskErrorOrNotice(
            e,
            0,
            e.length,
            { detection: m.detection, hasher: m.hasher, strict: { name: 's', strategy: 'redact' } },
            null,
          );
          const f = errorFieldsOf(out ?? e);
          return f.C === code && (m.detection?.set.findIn(f.M).length ?? 0) === 0;
        },
      ),
      { numRuns: 1500 },
    );
  });
});
