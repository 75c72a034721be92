// Array and record (composite) values, text and binary formats: element-wise rewriting, so a
// masked element keeps the container valid. Text formats as array_out / record_out write them;
// binary formats as array_send / record_send, read through the bounded value reader
// (wire/values.ts): a malformed binary value throws FieldError.

import { closeValue, openValue } from '../wire/values.js';

// ---------------------------------------------------------------------------------------------
// Text: arrays  {a,"b c",NULL,{d,e}}  (optionally [1:2]={...})

/** An element rewriter: new element text, null for NULL, undefined for unchanged. */
export type TextElementFn = (text: string, index: number) => string | null | undefined;

function arrayQuote(s: string): string {
  if (s === '' || /^null$/i.test(s) || /[{}",\\\s]/.test(s)) return `"${s.replace(/(["\\])/g, '\\$1')}"`;
  return s;
}

/** Rewrites every non-NULL element (at any depth) of an array literal; null if it is malformed. */
export function rewriteArrayText(text: string, fn: TextElementFn): string | null {
  let i = 0;
  let out = '';
  let index = 0;
  let changed = false;
  if (text[0] === '[') {
    const eq = text.indexOf('=');
    if (eq < 0) return null;
    out = text.slice(0, eq + 1);
    i = eq + 1;
  }
  let depth = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '{') {
      depth++;
      out += c;
      i++;
      continue;
    }
    if (c === '}') {
      depth--;
      out += c;
      i++;
      if (depth === 0) break;
      continue;
    }
    if (c === ',' || c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      out += c;
      i++;
      continue;
    }
    if (depth === 0) return null;
    // An element.
    let value = '';
    let quoted = false;
    const startPos = i;
    if (c === '"') {
      quoted = true;
      i++;
      for (;;) {
        if (i >= n) return null;
        const d = text[i];
        if (d === '\\') {
          value += text[i + 1] ?? '';
          i += 2;
        } else if (d === '"') {
          i++;
          break;
        } else {
          value += d;
          i++;
        }
      }
    } else {
      while (i < n) {
        const d = text[i];
        if (d === ',' || d === '}' || d === '{') break;
        if (d === '\\') {
          value += text[i + 1] ?? '';
          i += 2;
        } else {
          value += d;
          i++;
        }
      }
      value = value.replace(/\s+$/, '');
    }
    const raw = text.slice(startPos, i);
    if (!quoted && /^null$/i.test(value)) {
      out += raw;
    } else {
      const r = fn(value, index);
      if (r === undefined) out += raw;
      else {
        changed = true;
        out += r === null ? 'NULL' : arrayQuote(r);
      }
    }
    index++;
  }
  if (depth !== 0) return null;
  out += text.slice(i);
  return changed ? out : text;
}

// ---------------------------------------------------------------------------------------------
// Text: records  (1,"a b",,"x""y")

function recordQuote(s: string): string {
  if (s === '' || /[()",\\\s]/.test(s)) return `"${s.replace(/(["\\])/g, '$1$1')}"`;
  return s;
}

/** Rewrites record fields by position (NULL fields are offered as null); null if malformed. */
export function rewriteRecordText(
  text: string,
  fn: (value: string | null, index: number) => string | null | undefined,
): string | null {
  if (text[0] !== '(' || text[text.length - 1] !== ')') return null;
  let i = 1;
  const n = text.length - 1;
  let out = '(';
  let index = 0;
  let changed = false;
  for (;;) {
    const startPos = i;
    let value: string | null = null;
    if (i < n && text[i] !== ',') {
      value = '';
      while (i < n && text[i] !== ',') {
        const c = text[i];
        if (c === '"') {
          i++;
          for (;;) {
            if (i >= n) return null;
            const d = text[i];
            if (d === '"' && text[i + 1] === '"') {
              value += '"';
              i += 2;
            } else if (d === '\\') {
              value += text[i + 1] ?? '';
              i += 2;
            } else if (d === '"') {
              i++;
              break;
            } else {
              value += d;
              i++;
            }
          }
        } else if (c === '\\') {
          value += text[i + 1] ?? '';
          i += 2;
        } else {
          value += c;
          i++;
        }
      }
    }
    const raw = text.slice(startPos, i);
    const r = fn(value, index);
    if (r === undefined) out += raw;
    else {
      changed = true;
      out += r === null ? '' : recordQuote(r);
    }
    index++;
    if (i >= n) break;
    out += ',';
    i++;
  }
  out += ')';
  return changed ? out : text;
}

// ---------------------------------------------------------------------------------------------
// Binary

/** A binary element rewriter: new bytes, null for NULL, undefined for unchanged. */
export type BinaryElementFn = (
  elemOid: number,
  buf: Buffer,
  start: number,
  end: number,
  index: number,
) => Buffer | null | undefined;

/** Where an element's bytes were replaced: the new length header, then the new bytes. */
function replaced(parts: Buffer[], r: Buffer | null): void {
  const h = Buffer.allocUnsafe(4);
  if (r === null) {
    h.writeInt32BE(-1);
    parts.push(h);
  } else {
    h.writeInt32BE(r.length);
    parts.push(h, r);
  }
}

/**
 * array_send layout: ndim, flags, element type, (size, lower bound) * ndim, (len, bytes) * n.
 * Read as array_recv reads it (see wire/values.ts); throws FieldError when malformed. undefined
 * when no element changed.
 */
export function rewriteArrayBinary(
  buf: Buffer,
  start: number,
  end: number,
  fn: BinaryElementFn,
): Buffer | undefined {
  const r = openValue(buf, start, end, 'binary array');
  try {
    const n = r.arrayHeader();
    const elemOid = r.elemOid;
    let parts: Buffer[] | null = null;
    let hasNull = false;
    let last = start;
    for (let k = 0; k < n; k++) {
      const p = r.pos;
      const len = r.value();
      if (len < 0) {
        hasNull = true;
        continue;
      }
      const ve = r.pos;
      const out = fn(elemOid, buf, r.valueStart, ve, k);
      if (out === undefined) continue;
      if (out === null) hasNull = true;
      if (parts === null) parts = [];
      parts.push(buf.subarray(last, p));
      replaced(parts, out);
      last = ve;
    }
    r.expectEnd();
    if (parts === null) return undefined;
    parts.push(buf.subarray(last, end));
    const out = Buffer.concat(parts);
    out.writeInt32BE(hasNull ? 1 : 0, 4);
    return out;
  } finally {
    closeValue();
  }
}

/**
 * record_send layout: nfields, (type, len, bytes) * n. Read as record_recv reads it; throws
 * FieldError when malformed. undefined when no field changed.
 */
export function rewriteRecordBinary(
  buf: Buffer,
  start: number,
  end: number,
  fn: BinaryElementFn,
): Buffer | undefined {
  const r = openValue(buf, start, end, 'binary record');
  try {
    const n = r.recordHeader();
    let parts: Buffer[] | null = null;
    let last = start;
    for (let k = 0; k < n; k++) {
      const len = r.field();
      if (len < 0) continue;
      const p = r.valueStart - 4;
      const ve = r.pos;
      const out = fn(r.fieldOid, buf, r.valueStart, ve, k);
      if (out === undefined) continue;
      if (parts === null) parts = [];
      parts.push(buf.subarray(last, p));
      replaced(parts, out);
      last = ve;
    }
    r.expectEnd();
    if (parts === null) return undefined;
    parts.push(buf.subarray(last, end));
    return Buffer.concat(parts);
  } finally {
    closeValue();
  }
}
