// Value detectors on numbers and ranges: a card number stored as int8 / numeric / float8 /
// money, or as a bound of an int8range / numrange, is the same card as the text `4111...`.
//
// What counts as PII in a number (decided here, on purpose narrow):
//   - a card: the integer part (or all the digits, for a card shifted by a power of ten) has
//     13-19 digits, starts with an issuer digit 2-6, is not one digit repeated, and passes Luhn:
//     the same rule as the text detector's, so a card typed as text or as a number is masked
//     alike (and, like it, about one in ten 13-19 digit numbers starting 2-6: sequence ids stay
//     far below 13 digits, snowflake-style ids start with 1).
//   - NOT an SSN: a bare 9-digit integer is indistinguishable from an id, an amount or an order
//     number (every integer in 001000000..899999999 would match), so one value says nothing.
//     SSNs stored as numbers are a column-level fact: column rules and the automatic column
//     classification (most sampled values of the column look like SSNs) cover them.
//   - NOT a phone: bare digit runs are not phones in text either (order numbers).
// int2, int4 and float4 cannot hold 13 exact digits: they are never scanned.

import { FieldError } from '../wire/reader.js';
import { luhnValid } from './detectors.js';
import { numericBinaryToText } from './strategies.js';

function cardRun(d: string): boolean {
  const n = d.length;
  if (n < 13 || n > 19) return false;
  const c = d.charCodeAt(0);
  if (c < 50 || c > 54) return false;
  let same = true;
  for (let i = 1; i < n; i++)
    if (d.charCodeAt(i) !== c) {
      same = false;
      break;
    }
  return !same && luhnValid(d);
}

/**
 * The text of a number (int8, numeric, float8 in any output form, money with its currency
 * sign and group separators) holds a card number. Cheap for short values (ids, amounts).
 */
export function numberIsCard(text: string): boolean {
  if (text.length < 13) return false;
  let s = text.trim();
  if (/[eE]/.test(s)) {
    // float8 output of a large integer: 4.111111111111111e+15.
    const n = Math.abs(Number(s));
    if (!Number.isFinite(n) || n < 1e12 || n >= 1e19) return false;
    s = BigInt(Math.trunc(n)).toString();
  }
  // money: "$4,111,111,111,111,111.00" (any currency symbol, group separators).
  s = s.replace(/[^0-9.]/g, '');
  const dot = s.indexOf('.');
  const int = dot < 0 ? s : s.slice(0, dot);
  if (cardRun(int.replace(/^0+/, ''))) return true;
  if (dot < 0) return false;
  // A card shifted by a power of ten (card / 1e16, card / 1e8): every digit, without the
  // leading zeros, and without the trailing zeros of the scale (one at a time: a card may end
  // in 0).
  let all = (int + s.slice(dot + 1)).replace(/^0+/, '');
  for (;;) {
    if (all.length < 13) return false;
    if (all.length <= 19 && cardRun(all)) return true;
    if (!all.endsWith('0')) return false;
    all = all.slice(0, -1);
  }
}

/** Binary int8 / numeric / float8 / money -> the text numberIsCard reads; null if malformed. */
export function binaryNumberText(kind: string, buf: Buffer, start: number, end: number): string | null {
  const n = end - start;
  try {
    switch (kind) {
      case 'int8':
        return n === 8 ? buf.readBigInt64BE(start).toString() : null;
      case 'money': {
        if (n !== 8) return null;
        const cents = buf.readBigInt64BE(start);
        const a = cents < 0n ? -cents : cents;
        return `${a / 100n}.${String(a % 100n).padStart(2, '0')}`;
      }
      case 'float8':
        return n === 8 ? String(buf.readDoubleBE(start)) : null;
      case 'numeric':
        return numericBinaryToText(buf, start, end);
      default:
        return null;
    }
  } catch (e) {
    if (e instanceof FieldError || e instanceof RangeError) return null;
    throw e;
  }
}

const RANGE_EMPTY = 0x01;
const RANGE_LB_INF = 0x08;
const RANGE_UB_INF = 0x10;

/**
 * Calls `fn` on each bound of a binary range value (flags byte, then each finite bound as
 * length + bytes). Returns true when fn said so for a bound. Throws FieldError when malformed.
 */
export function someRangeBound(
  buf: Buffer,
  start: number,
  end: number,
  fn: (b: Buffer, s: number, e: number) => boolean,
): boolean {
  if (end - start < 1) throw new FieldError('binary range: no flags');
  const flags = buf[start];
  let p = start + 1;
  if (flags & RANGE_EMPTY) {
    if (p !== end) throw new FieldError('binary range: bytes after an empty range');
    return false;
  }
  let hit = false;
  for (const inf of [RANGE_LB_INF, RANGE_UB_INF]) {
    if (flags & inf) continue;
    if (p + 4 > end) throw new FieldError('binary range: truncated bound');
    const len = buf.readInt32BE(p);
    p += 4;
    if (len < 0 || p + len > end) throw new FieldError('binary range: bad bound length');
    if (fn(buf, p, p + len)) hit = true;
    p += len;
  }
  if (p !== end) throw new FieldError('binary range: trailing bytes');
  return hit;
}

/** Same over a binary multirange (count, then each range as length + bytes). */
export function someMultirangeBound(
  buf: Buffer,
  start: number,
  end: number,
  fn: (b: Buffer, s: number, e: number) => boolean,
): boolean {
  if (end - start < 4) throw new FieldError('binary multirange: no count');
  const count = buf.readInt32BE(start);
  let p = start + 4;
  let hit = false;
  for (let i = 0; i < count; i++) {
    if (p + 4 > end) throw new FieldError('binary multirange: truncated range');
    const len = buf.readInt32BE(p);
    p += 4;
    if (len < 0 || p + len > end) throw new FieldError('binary multirange: bad range length');
    if (someRangeBound(buf, p, p + len, fn)) hit = true;
    p += len;
  }
  if (p !== end) throw new FieldError('binary multirange: trailing bytes');
  return hit;
}
