// Value detectors: what they find, what they must not find, the exact checks, and that the
// byte-level pre-filter never rules out a field a detector would match.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  ALL_DETECTORS,
  DetectorSet,
  entropy,
  findSensitive,
  ibanValid,
  jwtValid,
  luhnValid,
} from '../../proxy/masking/detectors.js';
import { binaryNumberText, numberIsCard, someRangeBound } from '../../proxy/masking/numbers.js';
import { DETECTORS, type DetectorName } from '../../proxy/masking/rules.js';

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

const POSITIVE: [string, DetectorName, string][] = [
  ['contact john.doe@example.org today', 'email', 'john.doe@example.org'],
  ['ada.lovelace7@example.com', 'email', 'ada.lovelace7@example.com'],
  ['x+tag@sub.mail.co.uk,', 'email', 'x+tag@sub.mail.co.uk'],
  ['card 4242 4242 4242 4242 exp', 'credit_card', '4242 4242 4242 4242'],
  ['4111-1111-1111-1111', 'credit_card', '4111-1111-1111-1111'],
  ['5555555555554444', 'credit_card', '5555555555554444'],
  ['amex 378282246310005.', 'credit_card', '378282246310005'],
  ['6011111111111117', 'credit_card', '6011111111111117'],
  ['ssn 123-45-6789', 'ssn', '123-45-6789'],
  ['912-34-5678', 'ssn', '912-34-5678'],
  ['call +1-555-123-4567', 'phone', '+1-555-123-4567'],
  ['(555) 123-4567', 'phone', '(555) 123-4567'],
  ['555.123.4567', 'phone', '555.123.4567'],
  ['555-123-4567 ext', 'phone', '555-123-4567'],
  ['+44 20 7946 0958', 'phone', '+44 20 7946 0958'],
  ['+15551234567', 'phone', '+15551234567'],
  ['DE89370400440532013000', 'iban', 'DE89370400440532013000'],
  ['iban: GB82 WEST 1234 5698 7654 32', 'iban', 'GB82 WEST 1234 5698 7654 32'],
  [`Bearer ${JWT}`, 'jwt', JWT],
  ['key=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t', 'api_key', 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t'],
  ['ghp_16C7e42F292c6912E7710c838347Ae178B4a', 'api_key', 'ghp_16C7e42F292c6912E7710c838347Ae178B4a'],
  ['AKIAIOSFODNN7EXAMPLE', 'api_key', 'AKIAIOSFODNN7EXAMPLE'],
  ['xoxb-123456789012-abcdefABCDEF', 'api_key', 'xoxb-123456789012-abcdefABCDEF'],
  ['sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'api_key', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'],
  ['AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY', 'api_key', 'AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY'],
  ['token Zq8Xv2Lm9Pw4Rt7Yb3Nc6Hd1Kf5Gs0Ja', 'api_key', 'Zq8Xv2Lm9Pw4Rt7Yb3Nc6Hd1Kf5Gs0Ja'],
];

const NEGATIVE: [string, DetectorName | null][] = [
  ['2024-01-15 10:23:45.123456+00', null],
  ['2024-01-15', null],
  ['Mon Jan 15 10:23:45 2024', null],
  ['123e4567-e89b-12d3-a456-426614174000', null],
  ['order ORD-1234567890', null],
  ['invoice 2024-000123-77', null],
  ['5551234567', null],
  ['192.168.100.200', null],
  ['version 1.2.3-rc.4', null],
  ['total 1,234,567.89', null],
  ['4242424242424241', 'credit_card'],
  ['0000000000000000', 'credit_card'],
  ['ID 12345678901234567', 'credit_card'],
  ['user@localhost', 'email'],
  ['pkg@1.2.3', 'email'],
  ['a@b', 'email'],
  ['DE89370400440532013001', 'iban'],
  ['eyJub3Rqc29u.eyJhIjoxfQ.sig', 'jwt'],
  ['internationalization_configuration_settings', 'api_key'],
  ['e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'api_key'],
  ['the quick brown fox jumps over the lazy dog', null],
  ['12-345-6789', 'ssn'],
  ['1234-56-7890', 'ssn'],
  ['phone 555-1234', 'phone'],
];

describe('detectors find what they should', () => {
  for (const [text, detector, match] of POSITIVE) {
    test(`${detector}: ${text}`, () => {
      const spans = findSensitive(text);
      const s = spans.find((x) => x.detector === detector);
      assert.ok(s, `no ${detector} in ${JSON.stringify(text)}: ${JSON.stringify(spans)}`);
      assert.equal(text.slice(s.start, s.end), match);
    });
  }
});

describe('detectors leave alone what they should', () => {
  for (const [text, detector] of NEGATIVE) {
    test(`${detector ?? 'none'}: ${text}`, () => {
      const spans = findSensitive(text);
      if (detector === null) assert.deepEqual(spans, []);
      else
        assert.ok(
          !spans.some((s) => s.detector === detector),
          `${detector} found in ${JSON.stringify(text)}: ${JSON.stringify(spans)}`,
        );
    });
  }
});

describe('exact checks', () => {
  test('Luhn', () => {
    assert.ok(luhnValid('4242424242424242'));
    assert.ok(luhnValid('378282246310005'));
    assert.ok(!luhnValid('4242424242424241'));
    assert.ok(!luhnValid('42a2'));
  });
  test('IBAN mod 97 and lengths', () => {
    assert.ok(ibanValid('DE89370400440532013000'));
    assert.ok(ibanValid('GB82 WEST 1234 5698 7654 32'));
    assert.ok(ibanValid('FR1420041010050500013M02606'));
    assert.ok(!ibanValid('DE8937040044053201300'));
    assert.ok(!ibanValid('GB82WEST12345698765433'));
  });
  test('JWT header must decode to a JSON object with alg or typ', () => {
    assert.ok(jwtValid(JWT));
    assert.ok(!jwtValid('eyJhIjoxfQ.eyJhIjoxfQ.x'));
    assert.ok(!jwtValid('nodot'));
  });
  test('entropy', () => {
    assert.equal(entropy('aaaa'), 0);
    assert.ok(entropy('Zq8Xv2Lm9Pw4Rt7Yb3Nc6Hd1Kf5Gs0Ja') > 4.5);
  });
});

describe('overlaps and sets', () => {
  test('a card is not also a phone; spans are sorted and disjoint', () => {
    const spans = findSensitive('pay 4111 1111 1111 1111 or call 555-123-4567, mail a@b.io');
    assert.deepEqual(
      spans.map((s) => s.detector),
      ['credit_card', 'phone', 'email'],
    );
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i].start >= spans[i - 1].end);
  });
  test('a set finds only its detectors', () => {
    const only = new DetectorSet(['email']);
    assert.deepEqual(
      only.findIn('a@b.io 123-45-6789').map((s) => s.detector),
      ['email'],
    );
    assert.ok(new DetectorSet([]).empty);
  });
  test('inside JSON and COPY/record/array text', () => {
    for (const text of [
      '{"email":"ada@example.com","ssn":"912-34-5678"}',
      '(1,ada@example.com,912-34-5678)',
      '{ada@example.com,"912-34-5678"}',
      '1\tada@example.com\t912-34-5678',
    ]) {
      assert.deepEqual(
        findSensitive(text).map((s) => s.detector),
        ['email', 'ssn'],
        text,
      );
    }
  });
});

describe('pre-filter', () => {
  const bytes = (s: string) => Buffer.from(s, 'utf8');
  test('rules out short and digit-poor text, keeps candidates', () => {
    const d = ALL_DETECTORS;
    const def = new DetectorSet(['email', 'credit_card', 'ssn', 'phone']);
    for (const s of ['Springfield', 'Ada Lovelace', '12345678', 'paid', '']) {
      assert.equal(def.mayMatch(bytes(s), 0, bytes(s).length), false, s);
    }
    for (const [text] of POSITIVE) assert.equal(d.mayMatch(bytes(text), 0, bytes(text).length), true, text);
  });
  test('scan returns byte offsets relative to start', () => {
    const buf = Buffer.from('xxxxmail é a@b.io', 'utf8');
    const spans = ALL_DETECTORS.scan(buf, 4, buf.length);
    assert.ok(spans);
    assert.equal(buf.toString('utf8', 4 + spans[0].start, 4 + spans[0].end), 'a@b.io');
  });
  test('property: whenever a detector matches, the pre-filter lets the text through', () => {
    const alphabet = fc.constantFrom(...'0123456789@.-+ ()abcXYZeyJ_/=:'.split(''));
    const arb = fc.oneof(
      fc.array(alphabet, { maxLength: 60 }).map((a) => a.join('')),
      fc.constantFrom(...POSITIVE.map((p) => p[0])),
      fc
        .tuple(fc.string(), fc.constantFrom(...POSITIVE.map((p) => p[2])), fc.string())
        .map(([a, b, c]) => a + b + c),
    );
    for (const names of [
      DETECTORS,
      ['email', 'credit_card', 'ssn', 'phone'] as const,
      ['iban'] as const,
      ['jwt', 'api_key'] as const,
    ]) {
      const set = new DetectorSet(names);
      fc.assert(
        fc.property(arb, (s) => {
          const b = Buffer.from(s, 'latin1');
          if (set.findIn(b.toString('latin1')).length > 0) return set.mayMatch(b, 0, b.length);
          return true;
        }),
        { numRuns: 3000 },
      );
    }
  });
});

describe('numbers (issue 18: a card stored as a number)', () => {
  test('int8 / numeric / float8 / money output forms of a card', () => {
    for (const t of [
      '4539148803436467',
      '-4539148803436467',
      '4539148803436467.00',
      '4.539148803436467e+15',
      '$4,539,148,803,436,467.00',
      '0.4539148803436467', // card / 1e16
      '45391488.03436467', // card / 1e8
      '0.0371449635398431', // a 15-digit card / 1e16
      '371449635398431',
    ])
      assert.ok(numberIsCard(t), t);
  });
  test('ids, amounts, SSN-like and phone-like integers are not cards', () => {
    for (const t of [
      '42',
      '1234567890123', // starts with 1
      '4539148803436468', // Luhn fails
      '4444444444444444', // one digit repeated
      '523714829', // an SSN as a number: never (see numbers.ts)
      '4155550134', // a phone as a number: never
      '1812345678901234567', // a snowflake-style id
      '$1,234.56',
      '12345.678901',
      'NaN',
    ])
      assert.ok(!numberIsCard(t), t);
  });
  test('the text detector finds a card in float8 exponent form (float8::text, JSON, points, arrays)', () => {
    const set = new DetectorSet(['credit_card']);
    for (const t of ['4.539148803436467e+15', '(4.539148803436467e+15,0)', '{"a": 3.71449635398431e+14}'])
      assert.deepEqual(
        set.findIn(t).map((x) => x.detector),
        ['credit_card'],
        t,
      );
    for (const t of ['1.5e+15', '4.539148803436468e+15', '4.5391488034364671e+15', '4.539148803436467e+25'])
      assert.deepEqual(set.findIn(t), [], t);
  });
  test('binary forms decode to the text read above', () => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(4539148803436467n);
    assert.equal(binaryNumberText('int8', b, 0, 8), '4539148803436467');
    b.writeBigInt64BE(453914880343646700n);
    assert.equal(binaryNumberText('money', b, 0, 8), '4539148803436467.00');
    b.writeDoubleBE(4539148803436467);
    assert.equal(binaryNumberText('float8', b, 0, 8), '4539148803436467');
    assert.equal(binaryNumberText('int8', b, 0, 7), null);
  });
  test('range bounds: each finite bound, infinite and empty ranges, malformed ranges refused', () => {
    const bound = (n: bigint) => {
      const v = Buffer.alloc(12);
      v.writeInt32BE(8);
      v.writeBigInt64BE(n, 4);
      return v;
    };
    const seen: bigint[] = [];
    const r = Buffer.concat([Buffer.from([0x02]), bound(1n), bound(4539148803436467n)]);
    assert.ok(someRangeBound(r, 0, r.length, (b, s) => seen.push(b.readBigInt64BE(s)) === 2));
    assert.deepEqual(seen, [1n, 4539148803436467n]);
    const upperInf = Buffer.concat([Buffer.from([0x02 | 0x10]), bound(5n)]);
    assert.equal(
      someRangeBound(upperInf, 0, upperInf.length, () => false),
      false,
    );
    assert.equal(
      someRangeBound(Buffer.from([0x01]), 0, 1, () => true),
      false,
    );
    assert.throws(() => someRangeBound(r, 0, r.length - 1, () => false), /range/);
  });
});
