// Values hidden in base64 or hex text (encode(email::bytea, 'base64'), bytea's `\x...` output):
// runs of the encoding's alphabet long enough to hold a detected value are decoded and the
// decoded bytes searched; a finding is masked there and the run encoded again, so the value keeps
// its encoding (and a bytea its type). The byte scan of the detectors' pre-filter flags a field
// only when it has such a run, so plain text never comes here.
//
// A run: at least MIN_RUN characters of [A-Za-z0-9+/] (hex is a subset), `=` padding included;
// PostgreSQL's base64 breaks lines every 76 characters, so runs whose length is a multiple of 4
// joined by a line break ("\n", "\r\n", or the escaped "\\n" of COPY text and JSON) are one.

/** The shortest run worth decoding: 9 bytes of base64, 6 of hex. */
export const MIN_RUN = 12;

const B64_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++)
  B64_VALUE['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(i)] = i;
}

export interface EncodedRun {
  /** Offsets of the run in the text, line breaks inside it included. */
  start: number;
  end: number;
  /** The run's characters without line breaks. */
  chars: string;
}

function isB64(c: number): boolean {
  return c < 256 && B64_VALUE[c] >= 0;
}

/** The length of a line break at `i` ("\n", "\r\n", "\\n", "\\r\\n"), 0 if none. */
function lineBreak(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x0a) return 1;
  if (c === 0x0d && text.charCodeAt(i + 1) === 0x0a) return 2;
  if (c === 0x5c) {
    const d = text.charCodeAt(i + 1);
    if (d === 0x6e) return 2;
    if (d === 0x72 && text.charCodeAt(i + 2) === 0x5c && text.charCodeAt(i + 3) === 0x6e) return 4;
  }
  return 0;
}

/** Runs of base64 / hex characters long enough to hold a detected value. */
export function encodedRuns(text: string): EncodedRun[] {
  const out: EncodedRun[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    if (!isB64(text.charCodeAt(i))) {
      i++;
      continue;
    }
    // bytea's `\x` and a `0x` prefix are not part of the hex that follows them.
    if (
      (text.charCodeAt(i) === 0x78 && i > 0 && text.charCodeAt(i - 1) === 0x5c) ||
      (text.charCodeAt(i) === 0x30 && (text.charCodeAt(i + 1) | 0x20) === 0x78)
    )
      i += text.charCodeAt(i) === 0x78 ? 1 : 2;
    if (i >= n || !isB64(text.charCodeAt(i))) continue;
    const start = i;
    let chars = '';
    let seg = i;
    for (;;) {
      while (i < n && isB64(text.charCodeAt(i))) i++;
      while (i < n && text.charCodeAt(i) === 0x3d) i++; // '=' padding
      const len = i - seg;
      chars += text.slice(seg, i);
      // A full base64 line followed by a line break and more of the same: one run.
      const br = len % 4 === 0 && text.charCodeAt(i - 1) !== 0x3d ? lineBreak(text, i) : 0;
      if (br > 0 && i + br < n && isB64(text.charCodeAt(i + br))) {
        i += br;
        seg = i;
        continue;
      }
      break;
    }
    if (chars.length >= MIN_RUN) out.push({ start, end: i, chars });
  }
  return out;
}

/** Hex digits (even count) -> bytes; null if not hex. */
export function decodeHex(chars: string): Buffer | null {
  if (chars.length % 2 !== 0) return null;
  const out = Buffer.allocUnsafe(chars.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = HEX_VALUE[chars.charCodeAt(2 * i) & 0xff];
    const lo = HEX_VALUE[chars.charCodeAt(2 * i + 1) & 0xff];
    if (hi < 0 || lo < 0 || chars.charCodeAt(2 * i) > 0xff || chars.charCodeAt(2 * i + 1) > 0xff) return null;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Padded (or unpadded, length % 4 !== 1) base64 -> bytes; null if not base64. */
export function decodeBase64(chars: string): Buffer | null {
  let n = chars.length;
  while (n > 0 && chars.charCodeAt(n - 1) === 0x3d) n--;
  if (chars.length - n > 2 || n % 4 === 1) return null;
  if (chars.length !== n && chars.length % 4 !== 0) return null;
  for (let i = 0; i < n; i++) if (!isB64(chars.charCodeAt(i))) return null;
  return Buffer.from(chars.slice(0, n), 'base64');
}

export type Encoding = 'hex' | 'HEX' | 'base64';

/**
 * The shortest run of printable ASCII any detected value needs (an e-mail address `a@b.co`; an
 * SSN, a card, a phone number, an IBAN or a key are longer).
 */
const MIN_TEXT_RUN = 6;

/**
 * Whether decoded bytes hold text a detector could match. Hashes, UUIDs and other binary data
 * in hex or base64 (md5(), digest(), a bytea of an image) decode to bytes without such a run, and
 * are not searched: that keeps tables of hashes from costing a full scan per field.
 */
function mayHoldText(bytes: Buffer): boolean {
  let run = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b >= 0x20 && b <= 0x7e) {
      if (++run >= MIN_TEXT_RUN) return true;
    } else run = 0;
  }
  return false;
}

/** mayHoldText of the hex digits' bytes, without decoding them into a buffer. */
function hexMayHoldText(chars: string): boolean {
  let run = 0;
  for (let i = 0; i + 1 < chars.length; i += 2) {
    const b = (HEX_VALUE[chars.charCodeAt(i) & 0xff] << 4) | HEX_VALUE[chars.charCodeAt(i + 1) & 0xff];
    if (b >= 0x20 && b <= 0x7e) {
      if (++run >= MIN_TEXT_RUN) return true;
    } else run = 0;
  }
  return false;
}

/** mayHoldText of the base64 characters' bytes, without decoding them into a buffer. */
function base64MayHoldText(chars: string): boolean {
  let run = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < chars.length; i++) {
    const v = B64_VALUE[chars.charCodeAt(i) & 0xff];
    if (v < 0) break; // padding
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      const b = (acc >> bits) & 0xff;
      if (b >= 0x20 && b <= 0x7e) {
        if (++run >= MIN_TEXT_RUN) return true;
      } else run = 0;
    }
  }
  return false;
}

/** The ways a run can be read: hex first (a hex run is base64 too); only readings that may hold text. */
export function decodings(run: EncodedRun): [Encoding, Buffer][] {
  const out: [Encoding, Buffer][] = [];
  const chars = run.chars;
  if (chars.length % 2 === 0 && hexMayHoldText(chars)) {
    const hex = decodeHex(chars);
    if (hex && mayHoldText(hex)) out.push([/[A-F]/.test(chars) ? 'HEX' : 'hex', hex]);
  }
  const padded = chars.endsWith('=') || chars.length % 4 === 0;
  if (padded && base64MayHoldText(chars)) {
    const b64 = decodeBase64(chars);
    if (b64 && mayHoldText(b64)) out.push(['base64', b64]);
  }
  return out;
}

export function encode(bytes: Buffer, how: Encoding): string {
  if (how === 'base64') return bytes.toString('base64');
  const h = bytes.toString('hex');
  return how === 'HEX' ? h.toUpperCase() : h;
}
