// Strategies: what a masked value becomes. Every result fits the value's type (text and binary
// formats), and SQL NULL is the fallback that fits everything.
//
//            text-like (text, varchar(n), bpchar(n), name, citext, xml)   json / jsonb
//   redact   [REDACTED] (cut / padded to n; '*' x n when n < 10)          "[REDACTED]"
//   partial  detected value: j***@example.org, ************4242,           every leaf partial
//            ***-**-6789, +*-***-***-4567, DE****...3000; else J***
//   hash     16 hex digits of HMAC-SHA-256 (cut to n)                      "<16 hex>"
//   null     NULL                                                          NULL
//
//   int2/4/8           redact NULL, partial one significant digit (12345 -> 10000), hash: a
//                      non-negative integer of the same width from the HMAC
//   numeric(p,s)       same; hash fits p and s
//   float4/8           redact NULL, partial one significant digit, hash an integer value
//   uuid               redact 00000000-0000-0000-0000-000000000000, partial keeps the last 4 hex
//                      digits, hash a version-8 UUID from the HMAC
//   date, timestamp(tz) redact NULL, partial January 1st of the same year (midnight), hash a
//                      date/time in 1970..2069 from the HMAC
//   bytea              redact/partial NULL, hash the 32 HMAC bytes
//   arrays             element by element, by the element type
//   bool, enums and everything else: NULL (a 1-bit or labelled value cannot be hashed or
//                      partially shown without revealing it)
//
// `hash` is HMAC-SHA-256 under the install's key over a canonical text of the value (the same in
// text and binary formats, digits-only for detected cards/phones/SSNs, lower-case for emails), so
// equal values hash equally across columns, tables, formats and sessions: joins still work.

import { createHmac, randomBytes } from 'node:crypto';
import { BodyReader, FieldError } from '../wire/reader.js';
import { rewriteArrayBinary, rewriteArrayText } from './containers.js';
import { DetectorSet, type Span, wholeValue } from './detectors.js';
import { maskJsonLeaves } from './json.js';
import {
  ARRAY_ELEMENT,
  charLimit,
  numericPrecision,
  OID,
  type TypeKind,
  typeKind,
  type UserTypes,
} from './pgtypes.js';
import type { DetectorName, MaskRule, Strategy } from './rules.js';

export const REDACTED = '[REDACTED]';
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

// ---------------------------------------------------------------------------------------------
// Keyed hash

/** A fresh install key (32 random bytes). The core persists one per install. */
export function generateMaskKey(): Buffer {
  return randomBytes(32);
}

/** HMAC-SHA-256 under the install key, with a small cache (repeated values are common). */
export class Hasher {
  private readonly key: Buffer;
  private cache = new Map<string, Buffer>();

  constructor(key: Buffer | string) {
    this.key = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
    if (this.key.length < 16) throw new Error('the masking hash key must be at least 16 bytes');
  }

  digest(input: string): Buffer {
    let d = this.cache.get(input);
    if (d === undefined) {
      d = createHmac('sha256', this.key).update(input, 'utf8').digest();
      if (this.cache.size >= 8192) this.cache = new Map();
      this.cache.set(input, d);
    }
    return d;
  }

  hex(input: string, chars = 16): string {
    return this.digest(input)
      .toString('hex', 0, Math.ceil(chars / 2))
      .slice(0, chars);
  }
}

// ---------------------------------------------------------------------------------------------
// Text helpers

/** Keeps the last `keep` characters of the class; every other one of it becomes '*'. */
function starAllBut(s: string, cls: (c: number) => boolean, keep: number): string {
  let total = 0;
  for (let i = 0; i < s.length; i++) if (cls(s.charCodeAt(i))) total++;
  let seen = 0;
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    if (cls(s.charCodeAt(i)) && ++seen <= total - keep) {
      out += `${s.slice(from, i)}*`;
      from = i + 1;
    }
  }
  return out + s.slice(from);
}

const DIGIT = (c: number) => c >= 48 && c <= 57;
const ALNUM = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** The partial form of a detected value. */
export function partialSpan(detector: DetectorName, s: string): string {
  switch (detector) {
    case 'email': {
      const at = s.lastIndexOf('@');
      return `${s[0]}***${s.slice(at)}`;
    }
    case 'credit_card':
    case 'ssn':
    case 'phone':
      return starAllBut(s, DIGIT, 4);
    case 'iban':
      return s.slice(0, 2) + starAllBut(s.slice(2), ALNUM, 4);
    case 'jwt':
      return 'eyJ***';
    case 'api_key': {
      if (s.startsWith('-----')) return REDACTED;
      const m =
        /^(?:sk-(?:ant-|proj-)?|(?:sk|pk|rk)_(?:live|test)_|gh[pousr]_|github_pat_|xox[abposr]-|glpat-|SG\.|npm_|AIza|A[KS]IA)/.exec(
          s,
        );
      return `${m ? m[0] : ''}***${s.slice(-4)}`;
    }
  }
}

/** The canonical text hashed for a detected value (formatting does not matter). */
function spanCanonical(detector: DetectorName, s: string): string {
  switch (detector) {
    case 'credit_card':
    case 'ssn':
    case 'phone':
      return s.replace(/\D/g, '');
    case 'iban':
      return s.replace(/ /g, '');
    case 'email':
      return s.toLowerCase();
    default:
      return s;
  }
}

/** What a detected span becomes (strategy `null` is handled by the caller; here it redacts). */
export function spanReplacement(
  detector: DetectorName,
  strategy: Strategy,
  s: string,
  hasher: Hasher,
): string {
  switch (strategy) {
    case 'partial':
      return partialSpan(detector, s);
    case 'hash':
      // Bracketed: never part of a longer token (which could look like a key).
      return `[${detector}:${hasher.hex(spanCanonical(detector, s))}]`;
    default:
      return REDACTED;
  }
}

const DIGIT_DETECTORS = new DetectorSet(['credit_card', 'ssn', 'phone', 'iban']);
const KEY_DETECTORS = new DetectorSet(['jwt', 'api_key', 'iban']);

/** The detector that recognises the whole of `s`, if any (anchored checks first: cheap). */
function wholeValueDetector(s: string): DetectorName | null {
  const w = wholeValue(s);
  if (w !== null || s.indexOf('@') > 0) return w;
  let digits = 0;
  for (let i = 0; i < s.length; i++) if (DIGIT(s.charCodeAt(i))) digits++;
  let spans: Span[];
  if (digits >= 8) spans = DIGIT_DETECTORS.findIn(s);
  else if (s.length >= 20 && !/\s/.test(s)) spans = KEY_DETECTORS.findIn(s);
  else return null;
  return spans.length === 1 && spans[0].start === 0 && spans[0].end === s.length ? spans[0].detector : null;
}

/** Partial form of a whole text value: a detected value keeps its hint, anything else its first character. */
export function partialText(value: string): string {
  const s = value.trim();
  if (s === '') return value;
  const d = wholeValueDetector(s);
  if (d !== null) return partialSpan(d, s);
  if (/^[\d\s().+-]+$/.test(s) && s.replace(/\D/g, '').length >= 6) return starAllBut(s, DIGIT, 4);
  const cp = s.codePointAt(0) ?? 42;
  const first = String.fromCodePoint(cp);
  const len = s.length - first.length + 1;
  if (len <= 2 && [...s].length <= 2) return '*'.repeat([...s].length);
  return `${first}***`;
}

const STAR = 0x2a;
/** Bytes of an email local part / domain label. */
const LOCAL = new Uint8Array(256);
const LABEL = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  const alnum = (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122);
  LABEL[b] = alnum || b === 0x2d ? 1 : 0;
  LOCAL[b] = alnum || b === 0x2e || b === 0x5f || b === 0x25 || b === 0x2b || b === 0x2d ? 1 : 0;
}

/** True when buf[start, end) is exactly one email address (same as the email detector's anchored form). */
export function bytesAreEmail(buf: Buffer, start: number, end: number, at: number): boolean {
  if (at === start || at - start > 64 || buf[start] === 0x2e) return false;
  for (let i = start; i < at; i++) if (LOCAL[buf[i]] === 0) return false;
  // domain: labels of [A-Za-z0-9-] (not starting or ending with '-'), then a TLD of 2-24 letters
  let labelStart = at + 1;
  let labels = 0;
  for (let i = at + 1; i <= end; i++) {
    const b = i < end ? buf[i] : 0x2e;
    if (b === 0x2e) {
      const len = i - labelStart;
      if (len === 0 || len > 63 || buf[labelStart] === 0x2d || buf[i - 1] === 0x2d) return false;
      labels++;
      if (i === end) {
        if (labels < 2 || len < 2 || len > 24) return false;
        for (let k = labelStart; k < i; k++) {
          const c = buf[k] | 0x20;
          if (c < 0x61 || c > 0x7a) return false;
        }
        return true;
      }
      labelStart = i + 1;
    } else if (LABEL[b] === 0) return false;
  }
  return false;
}

/**
 * partialText on bytes, for the common shapes (one email; digits with separators, as SSNs,
 * phones and cards are written; short ASCII text), without decoding; null = use partialText.
 * Gives exactly what partialText gives.
 */
export function partialBytes(buf: Buffer, start: number, end: number): Buffer | null {
  const n = end - start;
  if (n === 0 || n > 254) return null;
  const b0 = buf[start];
  const bl = buf[end - 1];
  if (b0 <= 0x20 || bl <= 0x20 || b0 >= 0x80) return null;
  const at = buf.indexOf(0x40, start);
  if (at >= 0 && at < end) {
    if (!bytesAreEmail(buf, start, end, at)) return null;
    const out = Buffer.allocUnsafe(4 + end - at);
    out[0] = b0;
    out[1] = STAR;
    out[2] = STAR;
    out[3] = STAR;
    buf.copy(out, 4, at, end);
    return out;
  }
  let digits = 0;
  let other = false;
  let ascii = true;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b >= 0x30 && b <= 0x39) digits++;
    else if (!(b === 0x20 || b === 0x28 || b === 0x29 || b === 0x2b || b === 0x2d || b === 0x2e)) {
      other = true;
      if (b >= 0x80) ascii = false;
    }
  }
  if (!other) {
    if (digits < 6) return null;
    // ssn, phone, card or any digit string: every digit but the last four becomes '*'.
    const out = Buffer.from(buf.subarray(start, end));
    let left = digits - 4;
    for (let i = 0; i < n && left > 0; i++) {
      const b = out[i];
      if (b >= 0x30 && b <= 0x39) {
        out[i] = STAR;
        left--;
      }
    }
    return out;
  }
  // Short text with few digits: no detector can recognise it as a whole.
  if (!ascii || digits >= 8 || n >= 20 || n <= 2) return null;
  const out = Buffer.allocUnsafe(4);
  out[0] = b0;
  out[1] = STAR;
  out[2] = STAR;
  out[3] = STAR;
  return out;
}

/** A strategy applied to free text (error fields, notification payloads): never NULL. */
export function maskFreeText(s: string, strategy: Strategy, hasher: Hasher): string {
  switch (strategy) {
    case 'partial':
      return partialText(s);
    case 'hash':
      return hasher.hex(s);
    default:
      return REDACTED;
  }
}

/** Fits text to varchar(n) / bpchar(n). */
function fitText(s: string, typeOid: number, typmod: number, placeholder: boolean): string {
  const n = charLimit(typeOid, typmod);
  if (n === null) return s;
  const chars = [...s];
  let out = s;
  if (chars.length > n) out = placeholder && s === REDACTED ? '*'.repeat(n) : chars.slice(0, n).join('');
  if (typeOid === OID.bpchar) {
    const len = [...out].length;
    if (len < n) out += ' '.repeat(n - len);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Numbers, dates, uuids

/** One significant digit kept, the rest zero: "-12345.67" -> "-10000.00". */
export function partialDecimal(s: string): string {
  const m = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(s);
  if (!m) return s; // NaN, Infinity
  const [, sign, int = '', frac = '', exp] = m;
  let kept = false;
  const z = (d: string) =>
    d.replace(/\d/g, (c) => {
      if (kept) return '0';
      if (c !== '0') kept = true;
      return c;
    });
  const i2 = z(int);
  const f2 = z(frac);
  return `${sign}${i2}${frac !== '' || s.includes('.') ? `.${f2}` : ''}${exp !== undefined ? `e${exp}` : ''}`;
}

const PG_EPOCH_DAYS = 10957; // 2000-01-01 - 1970-01-01
const PG_EPOCH_MS = PG_EPOCH_DAYS * 86400000;
const INT64_MAX = 0x7fffffffffffffffn;
const INT64_MIN = -0x8000000000000000n;

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

function isoDate(d: Date): string {
  const y = d.getUTCFullYear();
  const ys = y <= 0 ? `${pad(1 - y, 4)}` : pad(y, 4);
  return `${ys}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}${y <= 0 ? ' BC' : ''}`;
}

function isoTimestamp(ms: number, micros: number, tz: boolean): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const ys = y <= 0 ? pad(1 - y, 4) : pad(y, 4);
  let s = `${ys}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)} ${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
  const frac = (d.getUTCMilliseconds() * 1000 + micros) % 1000000;
  if (frac) s += `.${pad(frac, 6).replace(/0+$/, '')}`;
  if (tz) s += '+00';
  if (y <= 0) s += ' BC';
  return s;
}

const TS_TEXT =
  /^(\d{4,})-(\d\d)-(\d\d)(?:[ T](\d\d):(\d\d):(\d\d)(\.\d+)?)?([+-]\d\d(?::?\d\d){0,2})?( BC)?$/;

/** Microseconds since 2000-01-01 UTC of an ISO date / timestamp text; null if not ISO. */
function parseIsoMicros(s: string): bigint | null {
  const m = TS_TEXT.exec(s.trim());
  if (!m) return null;
  let y = Number(m[1]);
  if (m[9]) y = 1 - y;
  const base = Date.UTC(
    0,
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4] ?? 0),
    Number(m[5] ?? 0),
    Number(m[6] ?? 0),
  );
  const d = new Date(base);
  d.setUTCFullYear(y);
  let ms = d.getTime();
  if (Number.isNaN(ms)) return null;
  if (m[8]) {
    const parts = m[8].slice(1).split(':');
    const sign = m[8][0] === '-' ? -1 : 1;
    const hh = Number(parts[0].slice(0, 2));
    const mm = Number(parts[1] ?? m[8].slice(3, 5) ?? 0) || 0;
    ms -= sign * (hh * 3600000 + mm * 60000);
  }
  const frac = m[7] ? BigInt(m[7].slice(1).padEnd(6, '0').slice(0, 6)) : 0n;
  return BigInt(ms - PG_EPOCH_MS) * 1000n + frac;
}

/** Year start (as days since 2000-01-01) of a day count; null out of JS range. */
function yearStartDays(days: number): number | null {
  const d = new Date((days + PG_EPOCH_DAYS) * 86400000);
  if (Number.isNaN(d.getTime())) return null;
  const start = new Date(0);
  start.setUTCFullYear(d.getUTCFullYear(), 0, 1);
  return Math.round(start.getTime() / 86400000) - PG_EPOCH_DAYS;
}

function hashInt(h: Buffer, bits: 16 | 32 | 64): bigint {
  if (bits === 16) return BigInt(h.readUInt16BE(0) & 0x7fff);
  if (bits === 32) return BigInt(h.readUInt32BE(0) & 0x7fffffff);
  return h.readBigUInt64BE(0) & INT64_MAX;
}

function hashUuid(h: Buffer): Buffer {
  const u = Buffer.from(h.subarray(0, 16));
  u[6] = (u[6] & 0x0f) | 0x80; // version 8 (custom)
  u[8] = (u[8] & 0x3f) | 0x80; // RFC 4122 variant
  return u;
}

function uuidText(b: Buffer): string {
  const x = b.toString('hex', 0, 16);
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function uuidFromText(s: string): Buffer | null {
  const x = s.replace(/[-{}]/g, '').toLowerCase();
  return /^[0-9a-f]{32}$/.test(x) ? Buffer.from(x, 'hex') : null;
}

// numeric binary (numeric_send): ndigits, weight, sign, dscale, base-10000 digits. Read as
// numeric_recv reads it: ndigits and dscale unsigned, the sign one of five, dscale at most
// NUMERIC_DSCALE_MASK, every digit 0..9999, nothing left over. Throws FieldError otherwise.

const NUMERIC_POS = 0x0000;
const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;
const NUMERIC_DSCALE_MASK = 0x3fff;
const NBASE = 10000;

/** The reader of numeric and fixed-width values (they do not nest: one is enough). */
const SCALAR = new BodyReader();

export function numericBinaryToText(buf: Buffer, start: number, end: number): string {
  const r = SCALAR.reset(buf, start, end, 'binary numeric');
  const ndigits = r.uint16();
  const weight = r.int16();
  const sign = r.uint16();
  const dscale = r.uint16();
  if (
    sign !== NUMERIC_POS &&
    sign !== NUMERIC_NEG &&
    sign !== NUMERIC_NAN &&
    sign !== NUMERIC_PINF &&
    sign !== NUMERIC_NINF
  )
    throw new FieldError(`binary numeric has an invalid sign 0x${sign.toString(16)}`);
  if (dscale > NUMERIC_DSCALE_MASK) throw new FieldError(`binary numeric has an invalid scale ${dscale}`);
  const at = r.pos;
  for (let i = 0; i < ndigits; i++) {
    const d = r.int16();
    if (d < 0 || d >= NBASE) throw new FieldError(`binary numeric has an invalid digit ${d}`);
  }
  r.expectEnd();
  if (sign === NUMERIC_NAN) return 'NaN';
  if (sign === NUMERIC_PINF) return 'Infinity';
  if (sign === NUMERIC_NINF) return '-Infinity';
  // Digits checked above: read in place.
  const digit = (i: number) => (i >= 0 && i < ndigits ? buf.readInt16BE(at + i * 2) : 0);
  let int = '';
  if (weight < 0) int = '0';
  else for (let i = 0; i <= weight; i++) int += i === 0 ? String(digit(i)) : pad(digit(i), 4);
  let s = (sign === NUMERIC_NEG ? '-' : '') + int;
  if (dscale > 0) {
    let frac = '';
    for (let i = weight + 1; frac.length < dscale; i++) frac += pad(digit(i), 4);
    s += `.${frac.slice(0, dscale)}`;
  }
  return s;
}

export function numericTextToBinary(s: string): Buffer {
  const t = s.trim();
  const special: Record<string, number> = { NaN: 0xc000, Infinity: 0xd000, '-Infinity': 0xf000 };
  if (t in special) {
    const b = Buffer.alloc(8);
    b.writeUInt16BE(special[t], 4);
    return b;
  }
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(t);
  if (!m) throw new RangeError(`not a numeric: ${s}`);
  const neg = m[1] === '-';
  const intPart = (m[2] || '0').replace(/^0+(?=\d)/, '');
  const frac = m[3] ?? '';
  const dscale = frac.length;
  const intPadded = intPart.padStart(Math.ceil(intPart.length / 4) * 4, '0');
  const groups: number[] = [];
  for (let i = 0; i < intPadded.length; i += 4) groups.push(Number(intPadded.slice(i, i + 4)));
  let weight = groups.length - 1;
  const fracPadded = frac.padEnd(Math.ceil(frac.length / 4) * 4, '0');
  for (let i = 0; i < fracPadded.length; i += 4) groups.push(Number(fracPadded.slice(i, i + 4)));
  while (groups.length > 0 && groups[0] === 0) {
    groups.shift();
    weight--;
  }
  while (groups.length > 0 && groups[groups.length - 1] === 0) groups.pop();
  if (groups.length === 0) weight = 0;
  const b = Buffer.alloc(8 + groups.length * 2);
  b.writeInt16BE(groups.length, 0);
  b.writeInt16BE(weight, 2);
  b.writeUInt16BE(neg && groups.length > 0 ? 0x4000 : 0, 4);
  b.writeInt16BE(dscale, 6);
  for (let i = 0; i < groups.length; i++) b.writeInt16BE(groups[i], 8 + i * 2);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Typed maskers

/** A masked value: new bytes, or null for SQL NULL. */
export type Masked = Buffer | null;
/** Masks one value in its wire format. Never returns the input unchanged by identity. */
export type ValueMasker = (buf: Buffer, start: number, end: number) => Masked;
/** Masks one value in text form: new text or null (NULL). */
export type TextMasker = (s: string) => string | null;

export interface MaskEnv {
  hasher: Hasher;
  userTypes?: UserTypes | null;
}

export const NULL_MASKER: ValueMasker = () => null;
const NULL_TEXT: TextMasker = () => null;

/** How a JSON leaf under a masked key is rewritten, per strategy. */
export function jsonLeafFn(hasher: Hasher) {
  return (rule: MaskRule, kind: 'string' | 'number' | 'bool', v: string): string => {
    switch (rule.strategy) {
      case 'null':
        return 'null';
      case 'redact':
        return kind === 'string' ? JSON.stringify(REDACTED) : 'null';
      case 'hash':
        if (kind === 'number') return String(hashInt(hasher.digest(String(Number(v))), 32));
        if (kind === 'bool') return 'null';
        return JSON.stringify(hasher.hex(v));
      case 'partial':
        if (kind === 'number') return partialDecimal(v);
        if (kind === 'bool') return 'null';
        return JSON.stringify(partialText(v));
    }
  };
}

/** Masks the leaves of a JSON text under the given keys (`*` = all); a non-JSON text -> the rule's whole-value form. */
export function maskJsonText(text: string, keys: ReadonlyMap<string, MaskRule>, hasher: Hasher): string {
  const r = maskJsonLeaves(text, keys, jsonLeafFn(hasher));
  if (r !== null) return r;
  let strictest: MaskRule | null = null;
  for (const rule of keys.values()) if (strictest === null || rule.strategy === 'null') strictest = rule;
  return strictest?.strategy === 'null' ? 'null' : JSON.stringify(REDACTED);
}

/** The text-form masker of a strategy for a type (also used for array elements and COPY text). */
export function textMasker(strategy: Strategy, typeOid: number, typmod: number, env: MaskEnv): TextMasker {
  if (strategy === 'null') return NULL_TEXT;
  const kind = typeKind(typeOid, env.userTypes);
  const h = env.hasher;
  switch (kind) {
    case 'text': {
      if (strategy === 'redact') {
        const c = fitText(REDACTED, typeOid, typmod, true);
        return () => c;
      }
      if (strategy === 'partial') return (s) => fitText(partialText(s), typeOid, typmod, false);
      return (s) => fitText(h.hex(typeOid === OID.bpchar ? s.replace(/ +$/, '') : s), typeOid, typmod, false);
    }
    case 'json':
    case 'jsonb': {
      if (strategy === 'redact') return () => JSON.stringify(REDACTED);
      if (strategy === 'hash') return (s) => JSON.stringify(h.hex(s.trim()));
      const all = new Map([['*', { name: '', strategy } as MaskRule]]);
      return (s) => maskJsonText(s, all, h);
    }
    case 'int2':
    case 'int4':
    case 'int8': {
      const bits = kind === 'int2' ? 16 : kind === 'int4' ? 32 : 64;
      if (strategy === 'partial') return (s) => partialDecimal(s);
      if (strategy === 'hash') return (s) => String(hashInt(h.digest(s.trim()), bits));
      return NULL_TEXT;
    }
    case 'numeric': {
      if (strategy === 'partial') return (s) => partialDecimal(s);
      if (strategy === 'hash') {
        const ps = numericPrecision(typmod);
        const scale = ps ? Math.max(ps[1], 0) : 0;
        const intDigits = ps ? Math.min(ps[0] - ps[1], 15) : 15;
        return (s) => {
          const canon = numericCanonical(s);
          const v = intDigits > 0 ? hashInt(h.digest(canon), 64) % 10n ** BigInt(intDigits) : 0n;
          return scale > 0 ? `${v}.${'0'.repeat(scale)}` : String(v);
        };
      }
      return NULL_TEXT;
    }
    case 'float4':
    case 'float8': {
      if (strategy === 'partial') return (s) => floatPartial(Number(s));
      if (strategy === 'hash') {
        const mask = kind === 'float4' ? 0xffffffn : 0x1fffffffffffffn;
        return (s) => String(hashInt(h.digest(String(Number(s))), 64) & mask);
      }
      return NULL_TEXT;
    }
    case 'uuid': {
      if (strategy === 'redact') return () => NIL_UUID;
      if (strategy === 'partial') return (s) => `${NIL_UUID.slice(0, 32)}${s.trim().slice(-4).toLowerCase()}`;
      return (s) => uuidText(hashUuid(h.digest(uuidFromText(s)?.toString('hex') ?? s)));
    }
    case 'date': {
      if (strategy === 'partial')
        return (s) => {
          const m = /^(\d{4,})-\d\d-\d\d( BC)?$/.exec(s.trim());
          return m ? `${m[1]}-01-01${m[2] ?? ''}` : null;
        };
      if (strategy === 'hash')
        return (s) => {
          const days = Number(hashInt(h.digest(s.trim()), 32) % 36525n) - PG_EPOCH_DAYS;
          return isoDate(new Date((days + PG_EPOCH_DAYS) * 86400000));
        };
      return NULL_TEXT;
    }
    case 'timestamp':
    case 'timestamptz': {
      const tz = kind === 'timestamptz';
      if (strategy === 'partial')
        return (s) => {
          const m = /^(\d{4,})-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?([+-]\d\d(?::?\d\d){0,2})?( BC)?$/.exec(
            s.trim(),
          );
          return m ? `${m[1]}-01-01 00:00:00${m[2] ?? ''}${m[3] ?? ''}` : null;
        };
      if (strategy === 'hash')
        return (s) => {
          const us = parseIsoMicros(s);
          const canon = us === null ? s.trim() : String(us);
          const secs = Number(hashInt(h.digest(canon), 64) % 3155760000n);
          return isoTimestamp(secs * 1000, 0, tz);
        };
      return NULL_TEXT;
    }
    case 'bytea': {
      if (strategy === 'hash') return (s) => `\\x${h.digest(s.trim()).toString('hex')}`;
      return NULL_TEXT;
    }
    case 'array': {
      const elem = ARRAY_ELEMENT.get(typeOid) ?? env.userTypes?.element?.(typeOid) ?? null;
      if (elem === null) return NULL_TEXT;
      const inner = textMasker(strategy, elem, -1, env);
      return (s) => {
        const r = rewriteArrayText(s, (v) => inner(v));
        return r;
      };
    }
    default:
      return NULL_TEXT;
  }
}

function numericCanonical(s: string): string {
  const t = s.trim();
  if (!/^[+-]?\d*\.?\d*$/.test(t)) return t;
  let [i, f = ''] = t.replace(/^\+/, '').split('.');
  const neg = i.startsWith('-');
  i = i.replace('-', '').replace(/^0+/, '') || '0';
  f = f.replace(/0+$/, '');
  const r = f ? `${i}.${f}` : i;
  return neg && r !== '0' ? `-${r}` : r;
}

function floatPartial(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return String(Number(n.toPrecision(1)));
}

/** A fixed-width binary value over its own bytes: exactly its width, or FieldError. */
function fixed(buf: Buffer, start: number, end: number, what: string): BodyReader {
  return SCALAR.reset(buf, start, end, what);
}

/**
 * Binary-format value -> the canonical text hashed and partially shown (same as the text format).
 * null when the value is malformed (the masker then gives NULL: a value it cannot read is never
 * passed on) or has no text form here.
 */
function binaryToText(kind: TypeKind, buf: Buffer, start: number, end: number): string | null {
  try {
    switch (kind) {
      case 'text':
      case 'json':
        return buf.toString('utf8', start, end);
      case 'jsonb':
        return end - start >= 1 && buf[start] === 1 ? buf.toString('utf8', start + 1, end) : null;
      case 'int2': {
        const r = fixed(buf, start, end, 'binary int2');
        const v = r.int16();
        r.expectEnd();
        return String(v);
      }
      case 'int4': {
        const r = fixed(buf, start, end, 'binary int4');
        const v = r.int32();
        r.expectEnd();
        return String(v);
      }
      case 'int8': {
        const r = fixed(buf, start, end, 'binary int8');
        const v = r.int64();
        r.expectEnd();
        return String(v);
      }
      case 'float4': {
        const r = fixed(buf, start, end, 'binary float4');
        const v = r.float32();
        r.expectEnd();
        return String(v);
      }
      case 'float8': {
        const r = fixed(buf, start, end, 'binary float8');
        const v = r.float64();
        r.expectEnd();
        return String(v);
      }
      case 'numeric':
        return numericBinaryToText(buf, start, end);
      case 'uuid': {
        const r = fixed(buf, start, end, 'binary uuid');
        const v = r.bytes(16);
        r.expectEnd();
        return uuidText(v);
      }
      case 'date': {
        const days = binaryDate(buf, start, end);
        if (days === 0x7fffffff || days === -0x80000000) return null;
        return isoDate(new Date((days + PG_EPOCH_DAYS) * 86400000));
      }
      default:
        return null;
    }
  } catch (e) {
    if (e instanceof FieldError) return null;
    throw e;
  }
}

/** A binary date: days since 2000-01-01. Throws FieldError unless exactly 4 bytes. */
function binaryDate(buf: Buffer, start: number, end: number): number {
  const r = fixed(buf, start, end, 'binary date');
  const v = r.int32();
  r.expectEnd();
  return v;
}

/** A binary timestamp(tz): microseconds since 2000-01-01. Throws FieldError unless exactly 8 bytes. */
function binaryTimestamp(buf: Buffer, start: number, end: number): bigint {
  const r = fixed(buf, start, end, 'binary timestamp');
  const v = r.int64();
  r.expectEnd();
  return v;
}

/** The masker of a strategy for a field of a type in a wire format (0 text, 1 binary). */
export function valueMasker(
  strategy: Strategy,
  typeOid: number,
  typmod: number,
  format: number,
  env: MaskEnv,
): ValueMasker {
  if (strategy === 'null') return NULL_MASKER;
  const kind = typeKind(typeOid, env.userTypes);
  if (format === 0) {
    const tm = textMasker(strategy, typeOid, typmod, env);
    if (tm === NULL_TEXT) return NULL_MASKER;
    // Constant results (redact of text, uuid, json): encode once.
    if (
      strategy === 'redact' &&
      (kind === 'text' || kind === 'json' || kind === 'jsonb' || kind === 'uuid')
    ) {
      const c = tm('');
      if (c === null) return NULL_MASKER;
      const b = Buffer.from(c, 'utf8');
      return () => b;
    }
    const viaBytes =
      strategy === 'partial' &&
      kind === 'text' &&
      charLimit(typeOid, typmod) === null &&
      typeOid !== OID.bpchar;
    return (buf, start, end) => {
      if (viaBytes) {
        const b = partialBytes(buf, start, end);
        if (b !== null) return b;
      }
      const r = tm(buf.toString('utf8', start, end));
      return r === null ? null : Buffer.from(r, 'utf8');
    };
  }
  return binaryMasker(strategy, kind, typeOid, typmod, env);
}

function binaryMasker(
  strategy: Strategy,
  kind: TypeKind,
  typeOid: number,
  typmod: number,
  env: MaskEnv,
): ValueMasker {
  const h = env.hasher;
  const viaText = (encode: (s: string) => Buffer | null): ValueMasker => {
    const tm = textMasker(strategy, typeOid, typmod, env);
    return (buf, start, end) => {
      const t = binaryToText(kind, buf, start, end);
      if (t === null) return null;
      const r = tm(t);
      return r === null ? null : encode(r);
    };
  };
  switch (kind) {
    case 'text': {
      const t = viaText((s) => Buffer.from(s, 'utf8'));
      if (strategy !== 'partial' || charLimit(typeOid, typmod) !== null || typeOid === OID.bpchar) return t;
      return (buf, start, end) => partialBytes(buf, start, end) ?? t(buf, start, end);
    }
    case 'json':
      return viaText((s) => Buffer.from(s, 'utf8'));
    case 'jsonb':
      return viaText((s) => Buffer.concat([Buffer.from([1]), Buffer.from(s, 'utf8')]));
    case 'int2':
    case 'int4':
    case 'int8':
      if (strategy === 'redact') return NULL_MASKER;
      return viaText((s) => {
        const b = Buffer.allocUnsafe(kind === 'int2' ? 2 : kind === 'int4' ? 4 : 8);
        if (kind === 'int2') b.writeInt16BE(Number(s));
        else if (kind === 'int4') b.writeInt32BE(Number(s));
        else b.writeBigInt64BE(BigInt(s));
        return b;
      });
    case 'float4':
    case 'float8':
      if (strategy === 'redact') return NULL_MASKER;
      return viaText((s) => {
        const b = Buffer.allocUnsafe(kind === 'float4' ? 4 : 8);
        if (kind === 'float4') b.writeFloatBE(Number(s));
        else b.writeDoubleBE(Number(s));
        return b;
      });
    case 'numeric':
      if (strategy === 'redact') return NULL_MASKER;
      return viaText((s) => numericTextToBinary(s));
    case 'uuid':
      return viaText((s) => uuidFromText(s));
    case 'date':
      if (strategy === 'redact') return NULL_MASKER;
      return (buf, start, end) => {
        if (end - start !== 4) return null; // binaryDate would refuse it: a malformed value is NULL
        const days = binaryDate(buf, start, end);
        if (days === 0x7fffffff || days === -0x80000000) return Buffer.from(buf.subarray(start, end));
        let out: number | null;
        if (strategy === 'partial') out = yearStartDays(days);
        else
          out =
            Number(hashInt(h.digest(isoDate(new Date((days + PG_EPOCH_DAYS) * 86400000))), 32) % 36525n) -
            PG_EPOCH_DAYS;
        if (out === null) return null;
        const b = Buffer.allocUnsafe(4);
        b.writeInt32BE(out);
        return b;
      };
    case 'timestamp':
    case 'timestamptz':
      if (strategy === 'redact') return NULL_MASKER;
      return (buf, start, end) => {
        if (end - start !== 8) return null; // binaryTimestamp would refuse it: a malformed value is NULL
        const us = binaryTimestamp(buf, start, end);
        if (us === INT64_MAX || us === INT64_MIN) return Buffer.from(buf.subarray(start, end));
        let out: bigint;
        if (strategy === 'partial') {
          const days = Number((us - (((us % 86400000000n) + 86400000000n) % 86400000000n)) / 86400000000n);
          const ys = yearStartDays(days);
          if (ys === null) return null;
          out = BigInt(ys) * 86400000000n;
        } else {
          const secs = hashInt(h.digest(String(us)), 64) % 3155760000n;
          out = (secs - BigInt(PG_EPOCH_DAYS) * 86400n) * 1000000n;
        }
        const b = Buffer.allocUnsafe(8);
        b.writeBigInt64BE(out);
        return b;
      };
    case 'bytea':
      if (strategy !== 'hash') return NULL_MASKER;
      return (buf, start, end) => Buffer.from(h.digest(`\\x${buf.toString('hex', start, end)}`));
    case 'array': {
      const elemMaskers = new Map<number, ValueMasker>();
      const masker = (oid: number) => {
        let m = elemMaskers.get(oid);
        if (m === undefined) {
          m = valueMasker(strategy, oid, -1, 1, env);
          elemMaskers.set(oid, m);
        }
        return m;
      };
      const element = (oid: number, b: Buffer, s: number, e: number) => masker(oid)(b, s, e);
      return (buf, start, end) => {
        try {
          // Unchanged (every element NULL): the value was read whole, so it is what it says.
          const r = rewriteArrayBinary(buf, start, end, element);
          return r ?? Buffer.from(buf.subarray(start, end));
        } catch {
          // A malformed array (FieldError), or an element no masker could rewrite: NULL, never
          // the value as it came.
          return null;
        }
      };
    }
    default:
      return NULL_MASKER;
  }
}
