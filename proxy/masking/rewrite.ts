// Rewriting backend messages under a plan: DataRow, ErrorResponse / NoticeResponse,
// NotificationResponse. Every function takes a framed message as (buf, start, end) with the type
// byte at `start`, and returns the whole new message, or null when nothing changed (pass the
// original bytes on: nothing is allocated for an unchanged row). Rows are rewritten one at a
// time as they pass; nothing is buffered.

import { BodyReader } from '../wire/reader.js';
import { bump, type Detection } from './compile.js';
import { KEEP_FIELDS, maskStrictField, NAME_FIELDS, REDACTED_FIELD, userRaised } from './errors.js';
import { MaskError, type MaskPlan } from './plan.js';
import type { MaskRule } from './rules.js';
import { rowBuffer, scratch } from './scratch.js';
import type { Hasher } from './strategies.js';

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

export interface ErrorMaskOptions {
  /** The detectors (null: none). */
  detection: Detection | null;
  /**
   * The strictest rule of any masked column the statement reads (lineage `reads`, the plan's
   * `strictest`), or null. When set, the statement's errors and notices fail closed (errors.ts):
   * the server's known templates keep their text with the echoed values masked by this rule,
   * anything else is redacted whole.
   */
  strict?: MaskRule | null;
  /** The statement's text (quoted text the client wrote there is not data): with `strict`. */
  sql?: string;
  /** The Bind's parameter values (the client's own), with `strict`. */
  params?: readonly string[];
  hasher: Hasher;
}

/**
 * ErrorResponse ('E') / NoticeResponse ('N'): masks data in the text fields (detectors always;
 * under `strict`, see errors.ts). SQLSTATE, severity and positions are kept. null = unchanged.
 */
export function maskErrorOrNotice(
  buf: Buffer,
  start: number,
  end: number,
  opts: ErrorMaskOptions,
  counts: Counts | null,
): Buffer | null {
  const det = opts.detection;
  const strict = opts.strict ?? null;
  if (det === null && strict === null) return null;
  const fields: [number, string][] = [];
  const r = ROW.reset(buf, start + 5, end, buf[start] === 0x4e ? 'NoticeResponse' : 'ErrorResponse');
  const byCode = new Map<string, string>();
  for (let c = r.uint8(); c !== 0; c = r.uint8()) {
    const v = r.cstring();
    byCode.set(String.fromCharCode(c), v);
    fields.push([c, v]);
  }
  r.expectEnd();
  const raised = strict !== null && userRaised(byCode);
  // Only an error raised while the text was parsed (it has a cursor position) echoes the text.
  const client = { sql: byCode.has('P') ? (opts.sql ?? '') : '', params: new Set(opts.params ?? []) };
  const names = new Set<string>();
  if (strict !== null && !raised)
    for (const k of NAME_FIELDS) if (byCode.has(k)) names.add(byCode.get(k) as string);
  let changed = false;
  for (const f of fields) {
    const k = String.fromCharCode(f[0]);
    if (KEEP_FIELDS.has(k)) continue;
    let v = f[1];
    if (strict !== null && (raised || !NAME_FIELDS.has(k))) {
      // A RAISE may put a value in any field, names included.
      v = raised ? REDACTED_FIELD : maskStrictField(k, v, strict, opts.hasher, client, counts, names);
      if (raised) bump(counts, strict.name);
    }
    if (det && v !== REDACTED_FIELD) {
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

/** What a payload or a parameter value tainted by a statement reading masked columns becomes. */
export const REDACTED_VALUE = '[redacted by Bastion: set while a statement read masked columns]';

/**
 * NotificationResponse ('A'): masks detected values in the payload; `strict` (a statement of
 * this session that reads masked columns ran since the session was last idle, see stream.ts):
 * the payload is replaced whole, as it may be built from them (pg_notify(..., email)) in a way
 * no detector recognises. Channel and pid are kept. null = unchanged.
 */
export function maskNotification(
  buf: Buffer,
  start: number,
  end: number,
  detection: Detection | null,
  counts: Counts | null,
  strict: MaskRule | null = null,
): Buffer | null {
  if (detection === null && strict === null) return null;
  const rd = ROW.reset(buf, start + 5, end, 'NotificationResponse');
  rd.int32(); // the notifying backend's pid
  rd.cstringEnd(); // the channel
  const pl = rd.pos;
  const plEnd = rd.cstringEnd();
  rd.expectEnd();
  let r: string | null | undefined;
  if (strict !== null) {
    if (plEnd === pl) return null;
    bump(counts, strict.name);
    r = REDACTED_VALUE;
  } else {
    if (detection === null || !detection.set.mayMatch(buf, pl, plEnd)) return null;
    const text = buf.toString('latin1', pl, plEnd);
    const json = /^\s*[[{]/.test(text);
    r = detection.maskString(text, counts, json, false);
  }
  if (typeof r !== 'string') return null;
  const body = Buffer.from(r, 'latin1');
  const out = Buffer.allocUnsafe(pl - start + body.length + 1);
  buf.copy(out, 0, start, pl);
  body.copy(out, pl - start);
  out[pl - start + body.length] = 0;
  out.writeInt32BE(out.length - 1, 1);
  return out;
}

/** GUC_REPORT parameters drivers parse, and the values they may take: anything else is free text. */
const PARAMETER_SHAPES: ReadonlyMap<string, RegExp> = new Map([
  ['client_encoding', /^[A-Za-z0-9_]{1,20}$/],
  ['server_encoding', /^[A-Za-z0-9_]{1,20}$/],
  ['DateStyle', /^(?:ISO|SQL|Postgres|German), (?:DMY|MDY|YMD)$/],
  ['IntervalStyle', /^(?:postgres|postgres_verbose|sql_standard|iso_8601)$/],
  ['integer_datetimes', /^(?:on|off)$/],
  ['standard_conforming_strings', /^(?:on|off)$/],
  ['default_transaction_read_only', /^(?:on|off)$/],
  ['in_hot_standby', /^(?:on|off)$/],
  ['is_superuser', /^(?:on|off)$/],
  ['scram_iterations', /^\d{1,6}$/],
  ['TimeZone', /^[A-Za-z_]+(?:\/[A-Za-z_]+)*(?:[+-]\d{1,2})?$/],
]);

/**
 * ParameterStatus ('S'): detectors on the value always; `strict` (see maskNotification): a
 * value the statement may have set from masked columns (set_config('application_name', email,
 * false)) is replaced, unless it is one of the fixed-shape values drivers rely on. null = unchanged.
 */
export function maskParameterStatus(
  buf: Buffer,
  start: number,
  end: number,
  detection: Detection | null,
  counts: Counts | null,
  strict: MaskRule | null,
): Buffer | null {
  if (detection === null && strict === null) return null;
  const rd = ROW.reset(buf, start + 5, end, 'ParameterStatus');
  const name = rd.cstring();
  const value = rd.cstring();
  rd.expectEnd();
  let v = value;
  const shape = PARAMETER_SHAPES.get(name);
  if (strict !== null && v !== '' && !shape?.test(v)) {
    bump(counts, strict.name);
    v = REDACTED_VALUE;
  } else if (detection !== null) {
    const d = detection.maskString(v, counts, false, false);
    if (typeof d === 'string') v = d;
  }
  if (v === value) return null;
  const out = Buffer.concat([Buffer.from([buf[start], 0, 0, 0, 0]), Buffer.from(`${name}\0${v}\0`, 'utf8')]);
  out.writeInt32BE(out.length - 1, 1);
  return out;
}
