// Where a canary can hide in bytes: searched as the bytes are (UTF-8 text), plus what a client would
// decode from them: binary-format numbers (an int8 or numeric SSN is no text on the wire) and
// bytea's hex output (`\x7a6f65...` is the canary to anyone who decodes it).

import { canaries, defaultForms } from './data.js';
import type { Identity, MaskCase } from './types.js';

const NUMERIC_OIDS = new Set([20, 21, 23, 26, 700, 701, 1700]);

/** One binary-format value of a numeric type as its text form; null when it is not one. */
export function decodeBinaryNumber(oid: number, v: Buffer): string | null {
  try {
    switch (oid) {
      case 20:
        return v.readBigInt64BE(0).toString();
      case 21:
        return String(v.readInt16BE(0));
      case 23:
        return String(v.readInt32BE(0));
      case 26:
        return String(v.readUInt32BE(0));
      case 700:
        return String(v.readFloatBE(0));
      case 701:
        return String(v.readDoubleBE(0));
      case 1700:
        return decodeNumeric(v);
    }
  } catch {}
  return null;
}

/** numeric's binary form: ndigits, weight, sign, dscale, then base-10000 digits. */
function decodeNumeric(v: Buffer): string {
  const n = v.readInt16BE(0);
  const weight = v.readInt16BE(2);
  const sign = v.readUInt16BE(4);
  if (sign === 0xc000) return 'NaN';
  let int = '';
  let frac = '';
  for (let i = 0; i < n; i++) {
    const d = String(v.readInt16BE(8 + 2 * i)).padStart(4, '0');
    if (i <= weight) int += d;
    else frac += d;
  }
  for (let i = n; i <= weight; i++) int += '0000';
  const out = `${int.replace(/^0+(?=\d)/, '') || '0'}${frac ? `.${frac}` : ''}`;
  return sign === 0x4000 ? `-${out}` : out;
}

/**
 * Text a client would read out of a stream of protocol messages beyond their raw bytes: binary
 * numbers of each DataRow, decoded with the column types of the RowDescription before it.
 */
export function decodeMessages(raws: Buffer[]): string[] {
  const out: string[] = [];
  let types: number[] = [];
  for (const m of raws) {
    if (m.length < 5) continue;
    const t = String.fromCharCode(m[0]);
    const body = m.subarray(5);
    try {
      if (t === 'T') {
        types = [];
        const n = body.readInt16BE(0);
        let p = 2;
        for (let i = 0; i < n; i++) {
          p = body.indexOf(0, p) + 1;
          types.push(body.readInt32BE(p + 6));
          p += 18;
        }
      } else if (t === 'D') {
        const n = body.readInt16BE(0);
        let p = 2;
        for (let i = 0; i < n; i++) {
          const len = body.readInt32BE(p);
          p += 4;
          if (len < 0) continue;
          const v = body.subarray(p, p + len);
          p += len;
          if (NUMERIC_OIDS.has(types[i] ?? 0) && len >= 2) {
            const s = decodeBinaryNumber(types[i], v);
            if (s !== null) out.push(s);
          }
        }
      }
    } catch {
      // A malformed message is still searched as bytes; nothing more to decode from it.
    }
  }
  return out;
}

/** The bytes as text, plus every `\x...` hex run decoded (bytea output). */
export function haystack(bytes: Buffer, extra: string[] = []): string {
  const text = bytes.toString('latin1');
  const parts = [bytes.toString('utf8'), ...extra];
  for (const m of text.matchAll(/\\x((?:[0-9a-fA-F]{2}){4,})/g))
    parts.push(Buffer.from(m[1], 'hex').toString('utf8'));
  return parts.join('\n');
}

/** Every form of every canary `identity` protects, each with the canary it comes from. */
export function formsOf(c: MaskCase, identity: Identity): { canary: string; form: string }[] {
  const reveal = c.reveal ?? defaultForms;
  const out: { canary: string; form: string }[] = [];
  // A reveal that strips a canary down to almost nothing (the digits of a word) names no value.
  for (const canary of canaries(identity))
    for (const form of new Set([...reveal(canary), ...defaultForms(canary)]))
      if (form.length >= 6) out.push({ canary, form });
  return out;
}

/** The canaries found in `hay`, as "form (of canary)". */
export function findCanaries(hay: string, forms: { canary: string; form: string }[]): string[] {
  const hits: string[] = [];
  for (const f of forms)
    if (hay.includes(f.form)) hits.push(f.form === f.canary ? f.form : `${f.form} (of ${f.canary})`);
  return hits;
}
