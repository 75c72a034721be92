// Value detectors: what column rules miss. Each detector is a cheap byte-level pre-filter plus
// an exact check:
//   email        local@domain.tld
//   credit_card  13-19 digits (optionally grouped by one kind of space or dash), IIN 2-6, Luhn
//   ssn          ddd-dd-dddd (any area, 9xx included: masked whatever was issued)
//   phone        NANP with separators ((555) 123-4567, 555.123.4567, +1-555-123-4567) and E.164
//                with a leading + (8-15 digits); bare digit runs are not phones (order numbers)
//   iban         CCdd + up to 30 alphanumerics (spaces every 4 allowed), mod-97 = 1
//   jwt          xxx.yyy.zzz in base64url whose header decodes to a JSON object
//   api_key      well-known key prefixes (sk-, sk_live_, ghp_, github_pat_, AKIA..., xox?-, AIza,
//                glpat-, SG., npm_), PEM private keys, and long high-entropy tokens
//
// The pre-filter rules out most fields without decoding them: no '@', fewer digits than the
// shortest digit detector needs, no "eyJ", no IBAN shape, no 20-character token run, no run of
// base64 / hex long enough to hide a value (see encoded.ts: ENCODED in the candidate mask). Exact
// checks run on a latin1 view of the bytes, so spans are byte offsets, and the patterns are
// ASCII: a match never splits a UTF-8 sequence. The patterns use only characters that never
// need escaping in COPY text/CSV, array/record literals or JSON strings, except where noted, so a
// span can be replaced inside any of those encodings without breaking them.

import { MIN_RUN } from './encoded.js';
import type { DetectorName } from './rules.js';
import { DETECTORS } from './rules.js';

export interface Span {
  /** Offsets into the text that was searched (bytes, for a buffer). */
  start: number;
  end: number;
  detector: DetectorName;
}

/** Priority when matches overlap: the first detector listed wins. */
const PRIORITY: readonly DetectorName[] = ['jwt', 'api_key', 'iban', 'email', 'credit_card', 'ssn', 'phone'];

/** In a candidate mask: the field has a base64 / hex run worth decoding (not a detector). */
export const ENCODED = 128;

const BIT: Record<DetectorName, number> = {
  email: 1,
  credit_card: 2,
  ssn: 4,
  phone: 8,
  iban: 16,
  jwt: 32,
  api_key: 64,
};

// ---------------------------------------------------------------------------------------------
// Exact checks

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

/** IBAN lengths by country (ISO 13616 registry). */
const IBAN_LENGTH: Record<string, number> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BR: 29,
  BY: 28,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IQ: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LC: 32,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MR: 27,
  MT: 31,
  MU: 30,
  NL: 18,
  NO: 15,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  SA: 24,
  SC: 31,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  ST: 25,
  SV: 28,
  TL: 23,
  TN: 24,
  TR: 26,
  UA: 29,
  VA: 22,
  VG: 24,
  XK: 20,
};

export function ibanValid(text: string): boolean {
  const s = text.replace(/ /g, '');
  if (s.length < 15 || s.length > 34) return false;
  const want = IBAN_LENGTH[s.slice(0, 2)];
  if (want !== undefined && want !== s.length) return false;
  const r = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < r.length; i++) {
    const c = r.charCodeAt(i);
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    else return false;
  }
  return rem === 1;
}

function base64UrlJson(seg: string): unknown {
  try {
    const s = Buffer.from(seg, 'base64url').toString('utf8');
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

export function jwtValid(text: string): boolean {
  const dot = text.indexOf('.');
  if (dot < 0) return false;
  const h = base64UrlJson(text.slice(0, dot));
  return h !== null && typeof h === 'object' && !Array.isArray(h) && ('alg' in h || 'typ' in h);
}

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** A long token that looks random: upper, lower and digits, and high entropy. */
function highEntropyToken(s: string): boolean {
  if (!/[a-z]/.test(s) || !/[A-Z]/.test(s) || !/[0-9]/.test(s)) return false;
  // Identifiers_in_snake_or-kebab case are words, not keys.
  if (/^[A-Za-z]+(?:[_-][A-Za-z0-9]+)+$/.test(s) && !/[0-9].*[0-9].*[0-9]/.test(s)) return false;
  return entropy(s) >= 4.0;
}

// ---------------------------------------------------------------------------------------------
// Patterns (global; `lastIndex` reset before each use)

const EMAIL =
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9_%+-](?:[A-Za-z0-9._%+-]{0,63})@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9@-]|\.[A-Za-z0-9])/g;
const CARD = /(?<![\w.+-])(?<!\d[ -])[2-6](?:[ -]?\d){12,18}(?![\w]|[ -]\d)/g;
/** A card as float8 / JSON prints a large integer: 4.539148803436467e+15 (see numbers.ts). */
const CARD_EXP = /(?<![\w.+-])[2-6]\.\d{11,18}[eE]\+1[2-8](?![\w.])/g;
const SSN = /(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w]|-\d)/g;
const PHONE_NANP = /(?<![\w+.-])(?:\+?1[-. ]?)?(?:\(\d{3}\)[-. ]?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w]|[-.]\d)/g;
const PHONE_E164 = /(?<![\w+])\+\d(?:[-. ]?\(?\d\)?){7,14}(?![\w]|[-.]\d)/g;
const IBAN = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])/g;
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?![A-Za-z0-9_-])/g;
const API_KEY_PREFIXED =
  /(?<![A-Za-z0-9_-])(?:sk-[A-Za-z0-9][A-Za-z0-9_-]{19,}|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}|npm_[A-Za-z0-9]{36})(?![A-Za-z0-9_-])/g;
const PEM = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----/g;
const LONG_TOKEN = /(?<![A-Za-z0-9_+/=-])[A-Za-z0-9_+/-]{32,}={0,2}(?![A-Za-z0-9_+/=-])/g;

// Anchored forms for a value that is one detected thing and nothing else (most PII columns):
// checked before the global searches, which they would agree with.
const WHOLE_EMAIL =
  /^[A-Za-z0-9_%+-][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}$/;
const WHOLE_SSN = /^\d{3}-\d{2}-\d{4}$/;
const WHOLE_NANP = /^(?:\+?1[-. ]?)?(?:\(\d{3}\)[-. ]?|\d{3}[-. ])\d{3}[-. ]\d{4}$/;
const WHOLE_CARD =
  /^[2-6](?:(?:\d{12,18})|(?:\d{4}(?: \d{4}){2,3}(?: \d{1,3})?)|(?:\d{4}(?:-\d{4}){2,3}(?:-\d{1,3})?)|(?:\d{4}[ -]\d{6}[ -]\d{5}))$/;

function cardDigits(s: string): string | null {
  const d = s.replace(/\D/g, '');
  return d.length >= 13 && d.length <= 19 && !/^(\d)\1+$/.test(d) && luhnValid(d) ? d : null;
}

/**
 * The detector (of those in `mask`) that recognises the whole of `s` as one value, by anchored
 * checks only: email, SSN, NANP phone, card. null when `s` is anything else (search it then).
 */
export function wholeValue(s: string, mask: number = 0x7f): DetectorName | null {
  const n = s.length;
  if (n < 6 || n > 254) return null;
  if (mask & BIT.email && s.indexOf('@') > 0) return WHOLE_EMAIL.test(s) ? 'email' : null;
  const c = s.charCodeAt(0);
  if (mask & BIT.ssn && n === 11 && WHOLE_SSN.test(s)) return 'ssn';
  if (mask & BIT.phone && n <= 17 && (c === 43 || c === 40 || (c >= 48 && c <= 57)) && WHOLE_NANP.test(s))
    return 'phone';
  if (
    mask & BIT.credit_card &&
    n >= 13 &&
    n <= 23 &&
    c >= 50 &&
    c <= 54 &&
    WHOLE_CARD.test(s) &&
    cardDigits(s)
  )
    return 'credit_card';
  return null;
}

const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
const isPhoneSep = (b: number) => b === 0x2d || b === 0x2e || b === 0x20;

/** `count` digits at p: the position after them, or -1. */
function digitsAt(buf: Uint8Array, p: number, end: number, count: number): number {
  if (p + count > end) return -1;
  for (let i = 0; i < count; i++) if (!isDigit(buf[p + i])) return -1;
  return p + count;
}

/** WHOLE_NANP's part after the country code, from p to exactly end. */
function nanpRest(buf: Uint8Array, p: number, end: number): boolean {
  if (buf[p] === 0x28) {
    p = digitsAt(buf, p + 1, end, 3);
    if (p < 0 || buf[p] !== 0x29) return false;
    p++;
    if (p < end && isPhoneSep(buf[p])) p++;
  } else {
    p = digitsAt(buf, p, end, 3);
    if (p < 0 || p >= end || !isPhoneSep(buf[p])) return false;
    p++;
  }
  p = digitsAt(buf, p, end, 3);
  if (p < 0 || p >= end || !isPhoneSep(buf[p])) return false;
  return digitsAt(buf, p + 1, end, 4) === end;
}

/**
 * wholeValue for a field of digits and separators, on its bytes: 'ssn', 'phone' (NANP) or
 * 'credit_card' (an ungrouped number), of those in `mask`; null = anything else (search it).
 */
export function wholeDigitValue(
  buf: Uint8Array,
  start: number,
  end: number,
  mask: number,
): DetectorName | null {
  const n = end - start;
  if (n < 6 || n > 254) return null;
  const c = buf[start];
  if (
    mask & BIT.ssn &&
    n === 11 &&
    digitsAt(buf, start, end, 3) === start + 3 &&
    buf[start + 3] === 0x2d &&
    digitsAt(buf, start + 4, end, 2) === start + 6 &&
    buf[start + 6] === 0x2d &&
    digitsAt(buf, start + 7, end, 4) === end
  )
    return 'ssn';
  if (mask & BIT.phone && n <= 17 && (c === 0x2b || c === 0x28 || isDigit(c))) {
    let ok = false;
    if (c === 0x2b || c === 0x31) {
      // (?:\+?1[-. ]?)? then the rest; without the prefix when it does not fit.
      let p = start + (c === 0x2b ? 1 : 0);
      if (buf[p] === 0x31) {
        p++;
        if (p < end && isPhoneSep(buf[p])) p++;
        ok = nanpRest(buf, p, end);
      }
    }
    if (!ok && c !== 0x2b) ok = nanpRest(buf, start, end);
    if (ok) return 'phone';
  }
  if (mask & BIT.credit_card && n >= 13 && n <= 19 && c >= 0x32 && c <= 0x36) {
    if (digitsAt(buf, start, end, n) !== end) return null;
    let sum = 0;
    let dbl = false;
    let same = true;
    for (let i = end - 1; i >= start; i--) {
      let d = buf[i] - 48;
      if (buf[i] !== c) same = false;
      if (dbl) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
      dbl = !dbl;
    }
    if (!same && sum % 10 === 0) return 'credit_card';
  }
  return null;
}

type Finder = (text: string, out: Span[]) => void;

function each(re: RegExp, text: string, fn: (m: RegExpExecArray) => void): void {
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) fn(m);
}

const FINDERS: Record<DetectorName, Finder> = {
  email(text, out) {
    if (text.indexOf('@') < 0) return;
    each(EMAIL, text, (m) => out.push({ start: m.index, end: m.index + m[0].length, detector: 'email' }));
  },
  credit_card(text, out) {
    each(CARD, text, (m) => {
      const s = m[0];
      const seps = s.replace(/\d/g, '');
      if (seps.length > 0 && !/^( +|-+)$/.test(seps)) return; // mixed separators
      if (cardDigits(s) === null) return;
      out.push({ start: m.index, end: m.index + s.length, detector: 'credit_card' });
    });
    if (text.indexOf('e+') < 0 && text.indexOf('E+') < 0) return;
    each(CARD_EXP, text, (m) => {
      const s = m[0];
      const e = s.search(/[eE]/);
      const exp = Number(s.slice(e + 2));
      const digits = s[0] + s.slice(2, e);
      if (digits.length > exp + 1) return; // not an integer
      if (cardDigits(digits.padEnd(exp + 1, '0')) === null) return;
      out.push({ start: m.index, end: m.index + s.length, detector: 'credit_card' });
    });
  },
  ssn(text, out) {
    each(SSN, text, (m) => out.push({ start: m.index, end: m.index + m[0].length, detector: 'ssn' }));
  },
  phone(text, out) {
    each(PHONE_NANP, text, (m) =>
      out.push({ start: m.index, end: m.index + m[0].length, detector: 'phone' }),
    );
    if (text.indexOf('+') < 0) return;
    each(PHONE_E164, text, (m) => {
      const s = m[0];
      let digits = 0;
      let open = 0;
      let close = 0;
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 48 && c <= 57) digits++;
        else if (c === 40) open++;
        else if (c === 41) close++;
      }
      if (digits < 8 || digits > 15 || open !== close || open > 1) return;
      out.push({ start: m.index, end: m.index + s.length, detector: 'phone' });
    });
  },
  iban(text, out) {
    each(IBAN, text, (m) => {
      if (ibanValid(m[0])) out.push({ start: m.index, end: m.index + m[0].length, detector: 'iban' });
    });
  },
  jwt(text, out) {
    if (text.indexOf('eyJ') < 0) return;
    each(JWT, text, (m) => {
      if (jwtValid(m[0])) out.push({ start: m.index, end: m.index + m[0].length, detector: 'jwt' });
    });
  },
  api_key(text, out) {
    if (text.indexOf('PRIVATE KEY-----') >= 0)
      each(PEM, text, (m) => out.push({ start: m.index, end: m.index + m[0].length, detector: 'api_key' }));
    each(API_KEY_PREFIXED, text, (m) =>
      out.push({ start: m.index, end: m.index + m[0].length, detector: 'api_key' }),
    );
    each(LONG_TOKEN, text, (m) => {
      if (highEntropyToken(m[0]))
        out.push({ start: m.index, end: m.index + m[0].length, detector: 'api_key' });
    });
  },
};

// ---------------------------------------------------------------------------------------------
// Pre-filter

/** Byte classes: 1 digit, 2 token char [A-Za-z0-9_-], 4 upper-case letter. */
const CLASS = new Uint8Array(256);
for (let b = 0x30; b <= 0x39; b++) CLASS[b] = 1 | 2;
for (let b = 0x41; b <= 0x5a; b++) CLASS[b] = 2 | 4;
for (let b = 0x61; b <= 0x7a; b++) CLASS[b] = 2;
CLASS[0x5f] = 2;
CLASS[0x2d] = 2;

/** For the simple scan: 1 digit, 2 '@', 4 '-', 8 '+', 16 base64 alphabet [A-Za-z0-9+/]. */
const SIMPLE = new Uint8Array(256);
for (let b = 0x30; b <= 0x39; b++) SIMPLE[b] = 1 | 16;
for (let b = 0x41; b <= 0x5a; b++) SIMPLE[b] = 16;
for (let b = 0x61; b <= 0x7a; b++) SIMPLE[b] = 16;
SIMPLE[0x40] = 2;
SIMPLE[0x2d] = 4;
SIMPLE[0x2b] = 8 | 16;
SIMPLE[0x2f] = 16;

/** The shortest token run worth handing to the api_key detector. */
const KEY_RUN = 20;

/** A set of enabled detectors with its pre-filter. Immutable; share it. */
export class DetectorSet {
  readonly names: readonly DetectorName[];
  readonly bits: number;
  /** Only email and the digit detectors: the tight loop. */
  private readonly simple: boolean;
  private readonly order: readonly DetectorName[];

  constructor(names: Iterable<DetectorName>) {
    let bits = 0;
    for (const n of names) bits |= BIT[n];
    this.bits = bits;
    this.names = DETECTORS.filter((n) => bits & BIT[n]);
    this.order = PRIORITY.filter((n) => bits & BIT[n]);
    this.simple = (bits & (BIT.iban | BIT.jwt | BIT.api_key)) === 0;
  }

  get empty(): boolean {
    return this.bits === 0;
  }

  has(name: DetectorName): boolean {
    return (this.bits & BIT[name]) !== 0;
  }

  /** Cheap byte scan: false = no enabled detector can match anything in buf[start, end). */
  mayMatch(buf: Uint8Array, start: number, end: number): boolean {
    return this.candidates(buf, start, end) !== 0;
  }

  /**
   * Cheap byte scan: the enabled detectors that may match something in buf[start, end) (a bit
   * mask; 0 = none), plus ENCODED when a base64 / hex run is long enough to hide a value. Fields
   * without '@', with fewer than 9 digits (8 after a '+'), without "eyJ", an IBAN shape, a
   * 20-character token run or a 12-character base64 run are ruled out here, without decoding.
   */
  candidates(buf: Uint8Array, start: number, end: number): number {
    if (this.bits === 0) return 0;
    let digits = 0;
    let at = false;
    let dash = false;
    let plus = false;
    let b64 = 0;
    let maxB64 = 0;
    if (this.simple) {
      let seen = 0;
      if (end - start < MIN_RUN) {
        // Too short to hide an encoded value: the classes only.
        for (let i = start; i < end; i++) {
          const c = SIMPLE[buf[i]];
          seen |= c;
          digits += c & 1;
        }
      } else {
        for (let i = start; i < end; i++) {
          const c = SIMPLE[buf[i]];
          seen |= c;
          digits += c & 1;
          b64 = c & 16 ? b64 + 1 : 0;
          if (b64 > maxB64) maxB64 = b64;
        }
      }
      const m = this.digitMask(digits, (seen & 2) !== 0, (seen & 4) !== 0, (seen & 8) !== 0);
      return maxB64 >= MIN_RUN ? m | ENCODED : m;
    }
    const bits = this.bits;
    const wantIban = (bits & BIT.iban) !== 0;
    const wantJwt = (bits & BIT.jwt) !== 0;
    let run = 0;
    let maxRun = 0;
    let iban = false;
    let jwt = false;
    // IBAN shape: two upper-case letters then two digits. ib = how many of those seen.
    let ib = 0;
    for (let i = start; i < end; i++) {
      const b = buf[i];
      const c = CLASS[b];
      if (c & 1) digits++;
      else if (b === 0x40) at = true;
      else if (b === 0x2b) plus = true;
      if (b === 0x2d) dash = true;
      if (c & 2) {
        if (++run > maxRun) maxRun = run;
      } else run = 0;
      b64 = SIMPLE[b] & 16 ? b64 + 1 : 0;
      if (b64 > maxB64) maxB64 = b64;
      if (wantIban) {
        if (c & 4) ib = ib === 1 || ib === 2 ? 2 : 1;
        else if (c & 1 && ib >= 2) {
          if (++ib === 4) iban = true;
        } else ib = 0;
      }
      if (wantJwt && b === 0x4a /* J */ && i >= start + 2 && buf[i - 1] === 0x79 && buf[i - 2] === 0x65)
        jwt = true;
    }
    let m = this.digitMask(digits, at, dash, plus);
    if (iban) m |= BIT.iban;
    if (jwt) m |= BIT.jwt;
    if (maxRun >= KEY_RUN) m |= BIT.api_key;
    return (m & bits) | (maxB64 >= MIN_RUN ? ENCODED : 0);
  }

  private digitMask(digits: number, at: boolean, dash: boolean, plus: boolean): number {
    let m = 0;
    if (at) m |= BIT.email;
    if (digits >= 13) m |= BIT.credit_card;
    if (digits >= 9 && dash) m |= BIT.ssn;
    if (digits >= 10 || (plus && digits >= 8)) m |= BIT.phone;
    return m & this.bits;
  }

  /** Every match in `text` (of the detectors in `mask`), overlaps resolved by priority, sorted by start. */
  findIn(text: string, mask = this.bits): Span[] {
    const accepted: Span[] = [];
    const found: Span[] = [];
    for (const name of this.order) {
      if ((mask & BIT[name]) === 0) continue;
      found.length = 0;
      FINDERS[name](text, found);
      for (const s of found) {
        if (!accepted.some((a) => s.start < a.end && a.start < s.end)) accepted.push(s);
      }
    }
    if (accepted.length > 1) accepted.sort((a, b) => a.start - b.start);
    return accepted;
  }

  /** Pre-filter, then exact checks on buf[start, end) read as latin1: byte offsets relative to start. */
  scan(buf: Buffer, start: number, end: number): Span[] | null {
    const mask = this.candidates(buf, start, end) & this.bits;
    if (mask === 0) return null;
    const spans = this.findIn(buf.toString('latin1', start, end), mask);
    return spans.length > 0 ? spans : null;
  }
}

export const ALL_DETECTORS = new DetectorSet(DETECTORS);

/** Sensitive values in a string (all detectors unless a set is given). */
export function findSensitive(text: string, detectors: DetectorSet = ALL_DETECTORS): Span[] {
  return detectors.findIn(text);
}
