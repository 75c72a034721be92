// Rewriting backend messages under a plan: DataRow, ErrorResponse / NoticeResponse,
// NotificationResponse. Every function takes a framed message as (buf, start, end) with the type
// byte at `start`, and returns the whole new message, or null when nothing changed (pass the
// original bytes on: nothing is allocated for an unchanged row). Rows are rewritten one at a
// time as they pass; nothing is buffered.

import { BodyReader } from '../wire/reader.js';
import { bump, type Detection } from './compile.js';
import { MaskError, type MaskPlan } from './plan.js';
import type { MaskRule } from './rules.js';
import { rowBuffer, scratch } from './scratch.js';
import { type Hasher, maskFreeText } from './strategies.js';

export type Counts = Map<string, number>;

// Per-row bookkeeping, reused from row to row (no allocation per row but the new row itself):
// for each changed field, where its old bytes start and end, and its new value (kind 0: bytes in
// NEW_BUF, 1: NULL, 2: bytes at NEW_AT in the scratch buffer).
let CH_AT = new Int32Array(64);
let CH_END = new Int32Array(64);
let CH_KIND = new Uint8Array(64);
let CH_SCRATCH = new Int32Array(64);
let CH_LEN = new Int32Array(64);
const NEW_BUF: (Buffer | undefined)[] = [];
/** The DataRow being rewritten: one reader, reset per row. */
const ROW = new BodyReader();

/** src[s, e) -> dst at o; returns e - s. A loop for the short copies of a row (Buffer#copy's call costs more). */
function copyBytes(src: Buffer, s: number, e: number, dst: Buffer, o: number): number {
  const n = e - s;
  if (n > 48) return src.copy(dst, o, s, e);
  for (let i = 0; i < n; i++) dst[o + i] = src[s + i];
  return n;
}

function growChanges(n: number): void {
  if (n <= CH_AT.length) return;
  const size = Math.max(n, CH_AT.length * 2);
  const grow = <T extends Int32Array | Uint8Array>(a: T, b: T): T => {
    b.set(a);
    return b;
  };
  CH_AT = grow(CH_AT, new Int32Array(size));
  CH_END = grow(CH_END, new Int32Array(size));
  CH_KIND = grow(CH_KIND, new Uint8Array(size));
  CH_SCRATCH = grow(CH_SCRATCH, new Int32Array(size));
  CH_LEN = grow(CH_LEN, new Int32Array(size));
}

/**
 * DataRow ('D'): masks the fields the plan names. null = unchanged (also for a passthrough plan).
 * Throws MaskError when the row does not match the plan, FieldError when it is malformed (both
 * protocol violations: fail closed).
 */
export function maskDataRow(
  plan: MaskPlan,
  buf: Buffer,
  start: number,
  end: number,
  counts: Counts | null,
): Buffer | null {
  if (plan.passthrough) return null;
  const r = ROW.reset(buf, start + 5, end, 'DataRow');
  const n = r.uint16();
  if (n !== plan.fields.length)
    throw new MaskError(`DataRow has ${n} fields but its RowDescription had ${plan.fields.length}`);
  const ops = plan.ops;
  const last = plan.last;
  growChanges(last + 1);
  scratch.pos = 0;
  let changes = 0;
  let size = end - start;
  for (let i = 0; i < n; i++) {
    const p = r.pos;
    const len = r.value();
    if (i > last) continue; // walked only to check the row is exactly its fields (below)
    const vs = r.valueStart;
    const ve = r.pos;
    const op = ops[i];
    if (op !== null && len >= 0) {
      const r = op(buf, vs, ve, counts);
      if (r !== undefined) {
        const k = changes++;
        CH_AT[k] = p;
        CH_END[k] = ve;
        if (typeof r === 'number') {
          CH_KIND[k] = 2;
          CH_SCRATCH[k] = scratch.pos;
          CH_LEN[k] = r;
          scratch.pos += r;
          size += r - len;
        } else if (r === null) {
          CH_KIND[k] = 1;
          size -= len;
        } else {
          CH_KIND[k] = 0;
          NEW_BUF[k] = r;
          size += r.length - len;
        }
      }
    }
  }
  r.expectEnd();
  if (changes === 0) return null;
  const out = rowBuffer(size);
  const sb = scratch.buf;
  let o = 0;
  let from = start;
  for (let k = 0; k < changes; k++) {
    const at = CH_AT[k];
    o += copyBytes(buf, from, at, out, o);
    const kind = CH_KIND[k];
    let l = -1;
    if (kind === 2) l = CH_LEN[k];
    else if (kind === 0) l = (NEW_BUF[k] as Buffer).length;
    out[o] = l >>> 24;
    out[o + 1] = (l >>> 16) & 0xff;
    out[o + 2] = (l >>> 8) & 0xff;
    out[o + 3] = l & 0xff;
    o += 4;
    if (kind === 2) o += copyBytes(sb, CH_SCRATCH[k], CH_SCRATCH[k] + l, out, o);
    else if (kind === 0) {
      o += copyBytes(NEW_BUF[k] as Buffer, 0, l, out, o);
      NEW_BUF[k] = undefined;
    }
    from = CH_END[k];
  }
  o += copyBytes(buf, from, end, out, o);
  const total = size - 1;
  out[1] = total >>> 24;
  out[2] = (total >>> 16) & 0xff;
  out[3] = (total >>> 8) & 0xff;
  out[4] = total & 0xff;
  scratch.pos = 0;
  return out;
}

// ---------------------------------------------------------------------------------------------
// ErrorResponse / NoticeResponse

/** Fields that carry text which may echo data: message, detail, hint, context, internal query. */
const TEXT_FIELDS = new Set(['M', 'D', 'H', 'W', 'q']);

export interface ErrorMaskOptions {
  /** The detectors (null: none). */
  detection: Detection | null;
  /**
   * The strictest rule of any masked column the statement reads (lineage `reads`, the plan's
   * `strictest`), or null. When set, the values PostgreSQL echoes in data errors (class 22 and
   * 23: `invalid input syntax for type integer: "..."`, `Key (email)=(...)`, `Failing row
   * contains (...)`) are masked with it, whatever they look like.
   */
  strict?: MaskRule | null;
  hasher: Hasher;
}

function maskEchoes(
  code: string,
  field: string,
  text: string,
  rule: MaskRule,
  hasher: Hasher,
  counts: Counts | null,
): string {
  if (!/^2[23]/.test(code)) return text;
  const m = (v: string) => {
    bump(counts, rule.name);
    return maskFreeText(v, rule.strategy, hasher);
  };
  let out = text;
  if (field === 'D') {
    out = out.replace(
      /^(Key \(.*?\)=\()(.*)(\) (?:already exists|is (?:not present|still referenced)|conflicts)[\s\S]*)$/,
      (_a, p, v, s) => p + m(v) + s,
    );
    out = out.replace(/^(Failing row contains \()(.*)(\)\.?)$/s, (_a, p, v, s) => p + m(v) + s);
  }
  if (field === 'M' || field === 'D') {
    out = out.replace(/"((?:[^"]|"")*)"/g, (all, v: string, offset: number, whole: string) => {
      // Keep quoted identifiers in the well-known templates naming them.
      const before = whole.slice(Math.max(0, offset - 24), offset);
      if (/(?:column|relation|constraint|table|type|index|function|schema|of relation|domain) $/.test(before))
        return all;
      return `"${m(v)}"`;
    });
  }
  return out;
}

/**
 * ErrorResponse ('E') / NoticeResponse ('N'): masks data in the text fields (detectors, and the
 * echoed values of data errors under `strict`). null = unchanged.
 */
export function maskErrorOrNotice(
  buf: Buffer,
  start: number,
  end: number,
  opts: ErrorMaskOptions,
  counts: Counts | null,
): Buffer | null {
  const det = opts.detection;
  if (det === null && !opts.strict) return null;
  const fields: [number, string][] = [];
  const r = ROW.reset(buf, start + 5, end, buf[start] === 0x4e ? 'NoticeResponse' : 'ErrorResponse');
  let code = '';
  for (let c = r.uint8(); c !== 0; c = r.uint8()) {
    const v = r.cstring();
    if (c === 0x43) code = v;
    fields.push([c, v]);
  }
  r.expectEnd();
  let changed = false;
  for (const f of fields) {
    const k = String.fromCharCode(f[0]);
    if (!TEXT_FIELDS.has(k)) continue;
    let v = f[1];
    if (opts.strict) v = maskEchoes(code, k, v, opts.strict, opts.hasher, counts);
    if (det) {
      const d = det.maskString(v, counts, false, false);
      if (typeof d === 'string') v = d;
    }
    if (v !== f[1]) {
      f[1] = v;
      changed = true;
    }
  }
  if (!changed) return null;
  const parts: Buffer[] = [Buffer.from([buf[start], 0, 0, 0, 0])];
  for (const [c, v] of fields) parts.push(Buffer.from([c]), Buffer.from(v, 'utf8'), Buffer.from([0]));
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  out.writeInt32BE(out.length - 1, 1);
  return out;
}

/** NotificationResponse ('A'): masks detected values in the payload. null = unchanged. */
export function maskNotification(
  buf: Buffer,
  start: number,
  end: number,
  detection: Detection | null,
  counts: Counts | null,
): Buffer | null {
  if (detection === null) return null;
  const rd = ROW.reset(buf, start + 5, end, 'NotificationResponse');
  rd.int32(); // the notifying backend's pid
  rd.cstringEnd(); // the channel
  const pl = rd.pos;
  const plEnd = rd.cstringEnd();
  rd.expectEnd();
  if (!detection.set.mayMatch(buf, pl, plEnd)) return null;
  const text = buf.toString('latin1', pl, plEnd);
  const json = /^\s*[[{]/.test(text);
  const r = detection.maskString(text, counts, json, false);
  if (typeof r !== 'string') return null;
  const body = Buffer.from(r, 'latin1');
  const out = Buffer.allocUnsafe(pl - start + body.length + 1);
  buf.copy(out, 0, start, pl);
  body.copy(out, pl - start);
  out[pl - start + body.length] = 0;
  out.writeInt32BE(out.length - 1, 1);
  return out;
}
