// COPY ... TO STDOUT: masking CopyData in text, csv and binary formats. CopyOutResponse says only
// text or binary; csv and its options come from the COPY statement (lineage.ts copyOptions).
// PostgreSQL sends one row per CopyData, but a row split across messages is handled: complete
// rows are rewritten and sent on, the unfinished tail (at most one row) waits for the next
// CopyData. Nothing else is buffered.

import { formatCodes } from '../wire/fields.js';
import { BodyReader, FieldError } from '../wire/reader.js';
import { bump, type Detection } from './compile.js';
import { binaryNumberText, numberIsCard } from './numbers.js';
import { detectable, OID, typeKind } from './pgtypes.js';
import { type ColumnLineage, detectOp, type FieldOp, MaskError } from './plan.js';
import type { MaskRule } from './rules.js';
import {
  type MaskEnv,
  maskJsonText,
  type TextMasker,
  textMasker,
  type ValueMasker,
  valueMasker,
} from './strategies.js';

/** Reads the tuples of one binary CopyData at a time (reset per message). */
const COPY_READER = new BodyReader();

export interface CopyOptions {
  format: 'text' | 'csv' | 'binary';
  /** One byte (default tab for text, comma for csv). */
  delimiter: string;
  /** The NULL marker (default \N for text, the empty string for csv). */
  null: string;
  quote: string;
  escape: string;
  header: boolean;
}

export function defaultCopyOptions(format: CopyOptions['format'] = 'text'): CopyOptions {
  return {
    format,
    delimiter: format === 'csv' ? ',' : '\t',
    null: format === 'csv' ? '' : '\\N',
    quote: '"',
    escape: '"',
    header: false,
  };
}

/** CopyOutResponse ('H'): overall format (0 text / 1 binary) and per-column formats. */
export function parseCopyOutResponse(
  buf: Buffer,
  start: number,
  end: number,
): { format: number; columns: number[] } {
  const r = new BodyReader(buf, start + 5, end, 'CopyOutResponse');
  const format = r.uint8();
  const columns = formatCodes(r);
  r.expectEnd();
  return { format, columns };
}

// ---------------------------------------------------------------------------------------------
// Text format codec (copyto.c CopyAttributeOutText / copyfrom CopyReadAttributesText)

export function copyTextDecode(s: string): string {
  if (s.indexOf('\\') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\' || i + 1 >= s.length) {
      out += c;
      continue;
    }
    const d = s[++i];
    const simple: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
    if (d in simple) out += simple[d];
    else if (d >= '0' && d <= '7') {
      let v = d;
      while (v.length < 3 && s[i + 1] >= '0' && s[i + 1] <= '7') v += s[++i];
      out += String.fromCharCode(Number.parseInt(v, 8));
    } else if (d === 'x' && /[0-9a-fA-F]/.test(s[i + 1] ?? '')) {
      let v = s[++i];
      if (/[0-9a-fA-F]/.test(s[i + 1] ?? '')) v += s[++i];
      out += String.fromCharCode(Number.parseInt(v, 16));
    } else out += d;
  }
  return out;
}

export function copyTextEncode(s: string, delimiter: string): string {
  let out = '';
  for (const c of s) {
    switch (c) {
      case '\\':
        out += '\\\\';
        break;
      case '\b':
        out += '\\b';
        break;
      case '\f':
        out += '\\f';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += delimiter === '\t' ? '\\t' : '\t';
        break;
      case '\v':
        out += '\\v';
        break;
      default:
        out += c === delimiter ? `\\${c}` : c;
    }
  }
  return out;
}

function csvEncode(s: string, o: CopyOptions): string {
  const needs =
    s === o.null ||
    s.includes(o.delimiter) ||
    s.includes(o.quote) ||
    s.includes('\n') ||
    s.includes('\r') ||
    (s === '' && o.null === '');
  if (!needs) return s;
  let body = '';
  for (const c of s) body += c === o.quote || c === o.escape ? o.escape + c : c;
  return o.quote + body + o.quote;
}

// ---------------------------------------------------------------------------------------------
// Column ops

/** One COPY column: what to do with its value in text form (text/csv) and in binary. */
interface CopyColumn {
  rule: MaskRule | null;
  json: ReadonlyMap<string, MaskRule> | null;
  text: TextMasker | null;
  binary: ValueMasker | null;
  /** Detectors apply (text-like or unknown type). */
  detect: boolean;
  jsonType: boolean;
  /** Type unknown: binary values are scanned only when they look like text. */
  unknownType: boolean;
  /**
   * A known type that is not free text (a card stored as numeric or bigint, a name in a range):
   * the detectors over the whole value, masked whole (plan.ts detectOp), per format.
   */
  whole: { text: FieldOp | null; binary: FieldOp | null } | null;
}

export interface CopyContext {
  env: MaskEnv;
  detection: Detection | null;
}

function columnOf(l: ColumnLineage | null, ctx: CopyContext): CopyColumn {
  const typeOid = l?.typeOid ?? null;
  const t = typeOid ?? OID.text;
  const kind = typeKind(t, ctx.env.userTypes);
  const rule = l?.rule ?? null;
  return {
    rule,
    json: rule && l?.json ? l.json : null,
    text: rule ? textMasker(rule.strategy, t, -1, ctx.env) : null,
    binary: rule ? (typeOid === null ? () => null : valueMasker(rule.strategy, t, -1, 1, ctx.env)) : null,
    detect: ctx.detection !== null && (typeOid === null || detectable(kind, 0)),
    jsonType: kind === 'json' || kind === 'jsonb',
    unknownType: typeOid === null,
    whole:
      ctx.detection !== null && typeOid !== null && !detectable(kind, 0)
        ? {
            text: detectOp(kind, 0, ctx.detection, ctx.env.userTypes, false, typeOid),
            binary: detectOp(kind, 1, ctx.detection, ctx.env.userTypes, false, typeOid),
          }
        : null,
  };
}

/** Binary bytes of an unknown type that read as a card stored as int8, float8 or numeric. */
function binaryNumberIsCard(buf: Buffer, start: number, end: number): boolean {
  const kinds = end - start === 8 ? ['int8', 'float8'] : ['numeric'];
  for (const k of kinds) {
    const t = binaryNumberText(k, buf, start, end);
    if (t !== null && numberIsCard(t)) return true;
  }
  return false;
}

function looksLikeText(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return false;
  }
  return true;
}

const EMPTY = Buffer.alloc(0);

/**
 * Masks the CopyData of one COPY TO STDOUT. `columns`: per column the lineage (rule, type) from
 * the COPY statement, null entries (or null) when unknown: detectors still apply.
 */
export class CopyMasker {
  readonly passthrough: boolean;
  private readonly cols: CopyColumn[];
  private carry: Buffer = EMPTY;
  private headerPending: boolean;
  /** binary: the file header has been passed. */
  private binaryHeaderDone = false;
  private finished = false;

  constructor(
    readonly options: CopyOptions,
    columns: readonly (ColumnLineage | null)[] | null,
    readonly columnCount: number,
    private readonly ctx: CopyContext,
  ) {
    this.cols = Array.from({ length: columnCount }, (_, i) => columnOf(columns?.[i] ?? null, ctx));
    this.passthrough = this.cols.every(
      (c) => c.rule === null && !c.detect && !c.whole?.text && !c.whole?.binary,
    );
    this.headerPending = options.header && options.format !== 'binary';
  }

  /**
   * One CopyData ('d') message. Returns null when it passes unchanged, else the bytes to send in
   * its place: zero or more CopyData messages (empty = send nothing now).
   */
  push(buf: Buffer, start: number, end: number, counts: Map<string, number> | null): Buffer | null {
    if (this.passthrough || this.finished) return null;
    const hadCarry = this.carry.length > 0;
    const data = hadCarry
      ? Buffer.concat([this.carry, buf.subarray(start + 5, end)])
      : buf.subarray(start + 5, end);
    const r = this.options.format === 'binary' ? this.binary(data, counts) : this.textual(data, counts);
    if (r === null && !hadCarry && this.carry.length === 0) return null;
    const body = r ?? data.subarray(0, data.length - this.carry.length);
    if (body.length === 0) return EMPTY;
    return copyData(body);
  }

  /** At CopyDone: whatever tail is left (a last row without its newline), masked; null if none. */
  flush(counts: Map<string, number> | null): Buffer | null {
    if (this.carry.length === 0) return null;
    const tail = this.carry;
    this.carry = EMPTY;
    if (this.options.format === 'binary') return copyData(tail);
    const row = this.maskRow(tail.toString('utf8'), counts);
    return copyData(Buffer.from(row, 'utf8'));
  }

  // -- text / csv

  /** Complete rows of `data` rewritten (null when none changed); the tail goes to carry. */
  private textual(data: Buffer, counts: Map<string, number> | null): Buffer | null {
    const csv = this.options.format === 'csv';
    const q = this.options.quote.charCodeAt(0);
    const esc = this.options.escape.charCodeAt(0);
    let rowStart = 0;
    let inQuotes = false;
    const parts: Buffer[] = [];
    let changed = false;
    for (let i = 0; i < data.length; i++) {
      const b = data[i];
      if (csv && inQuotes && b === esc && esc !== q && i + 1 < data.length) i++;
      else if (csv && b === q) inQuotes = !inQuotes;
      else if (b === 0x0a && !inQuotes) {
        const line = data.subarray(rowStart, i);
        if (this.headerPending) {
          this.headerPending = false;
          parts.push(data.subarray(rowStart, i + 1));
        } else {
          const text = line.toString('utf8');
          const out = this.maskRow(text, counts);
          if (out !== text) {
            changed = true;
            parts.push(Buffer.from(`${out}\n`, 'utf8'));
          } else parts.push(data.subarray(rowStart, i + 1));
        }
        rowStart = i + 1;
      }
    }
    this.carry = rowStart < data.length ? Buffer.from(data.subarray(rowStart)) : EMPTY;
    if (!changed) return null;
    return Buffer.concat(parts);
  }

  /** One row (without its newline): masked text (the same string when unchanged). */
  private maskRow(line: string, counts: Map<string, number> | null): string {
    const o = this.options;
    const csv = o.format === 'csv';
    const raw = csv ? splitCsv(line, o) : splitText(line, o.delimiter);
    let changed = false;
    const out = raw.map((f, i) => {
      const col = this.cols[i];
      if (col === undefined) return f.raw;
      const isNull = csv ? !f.quoted && f.raw === o.null : f.raw === o.null;
      if (isNull) return f.raw;
      if (col.rule === null && !col.detect && !col.whole?.text) return f.raw;
      const value = csv ? f.value : copyTextDecode(f.raw);
      if (col.rule === null && col.whole?.text) {
        const b = Buffer.from(value, 'utf8');
        const w = col.whole.text(b, 0, b.length, counts);
        if (w === undefined) return f.raw;
        changed = true;
        if (w === null) return o.null;
        const t = w.toString('utf8');
        return csv ? csvEncode(t, o) : copyTextEncode(t, o.delimiter);
      }
      /** undefined = unchanged, null = NULL */
      let result: string | null | undefined;
      if (col.rule !== null) {
        bump(counts, col.rule.name);
        if (col.json) result = maskJsonText(value, col.json, this.ctx.env.hasher);
        else result = col.text ? col.text(value) : null;
      }
      if (col.detect && this.ctx.detection && (col.rule === null || col.json)) {
        const base = result === undefined ? value : result;
        if (base !== null) {
          const r = this.ctx.detection.maskString(base, counts, col.jsonType, col.rule === null);
          if (r !== undefined) result = r;
        }
      }
      if (result === undefined) return f.raw;
      changed = true;
      if (result === null) return o.null;
      return csv ? csvEncode(result, o) : copyTextEncode(result, o.delimiter);
    });
    return changed ? out.join(o.delimiter) : line;
  }

  // -- binary

  private binary(data: Buffer, counts: Map<string, number> | null): Buffer | null {
    let p = 0;
    const parts: Buffer[] = [];
    let changed = false;
    let from = 0;
    if (!this.binaryHeaderDone) {
      if (data.length < 19) {
        this.carry = Buffer.from(data);
        return EMPTY;
      }
      if (data.toString('latin1', 0, 11) !== 'PGCOPY\n\xff\r\n\0')
        throw new MaskError('COPY binary: bad signature');
      // The signature, int32 flags, then an int32 header-extension length (negative refused, as
      // ReceiveCopyBinaryHeader does) and that many bytes.
      const head = COPY_READER.reset(data, 15, data.length, 'COPY binary header');
      const ext = head.int32();
      if (ext < 0) throw new FieldError(`COPY binary: invalid header extension length ${ext}`);
      if (ext > head.remaining) {
        this.carry = Buffer.from(data);
        return EMPTY;
      }
      p = 19 + ext;
      this.binaryHeaderDone = true;
    }
    // The binary COPY format (copyfromparse.c CopyReadBinaryTuple): an int16 field count (-1
    // ends the data), then per field an int32 length (-1 NULL, below that refused) and the bytes.
    // A tuple may be cut at the end of this CopyData: reading stops there and it waits.
    const rd = COPY_READER.reset(data, p, data.length, 'COPY binary data');
    for (;;) {
      if (rd.remaining < 2) break;
      const n = rd.int16();
      if (n === -1) {
        p = rd.pos;
        this.finished = true;
        break;
      }
      if (n !== this.cols.length)
        throw new MaskError(`COPY binary: a tuple of ${n} fields, the COPY has ${this.cols.length} columns`);
      // Find the tuple's end first (it may be incomplete).
      let complete = true;
      const fields: [number, number][] = [];
      for (let i = 0; i < n; i++) {
        if (rd.remaining < 4) {
          complete = false;
          break;
        }
        const hp = rd.pos;
        const len = rd.int32();
        if (len < -1) throw new FieldError(`COPY binary: invalid field length ${len}`);
        if (len > rd.remaining) {
          complete = false;
          break;
        }
        fields.push([hp, len < 0 ? -1 : rd.pos]);
        if (len > 0) rd.skip(len);
      }
      const q = rd.pos;
      if (!complete) break;
      for (let i = 0; i < n; i++) {
        const col = this.cols[i];
        const [hp, vs] = fields[i];
        if (col === undefined || vs < 0) continue;
        const ve = i + 1 < n ? fields[i + 1][0] : q;
        let r: Buffer | null | undefined;
        if (col.rule !== null) {
          bump(counts, col.rule.name);
          r = col.binary ? col.binary(data, vs, ve) : null;
        } else if (col.whole?.binary) {
          r = col.whole.binary(data, vs, ve, counts);
          // The type is lineage's reading (a cast of a clean column may keep the column's type):
          // bytes that read as a card in another number layout are NULL too.
          if (
            r === undefined &&
            this.ctx.detection?.set.has('credit_card') &&
            binaryNumberIsCard(data, vs, ve)
          ) {
            bump(counts, this.ctx.detection.ruleOf('credit_card').name);
            r = null;
          }
        } else if (col.detect && this.ctx.detection) {
          if (!col.unknownType || looksLikeText(data, vs, ve))
            r = this.ctx.detection.maskBytes(data, vs, ve, counts, col.jsonType);
          else if (binaryNumberIsCard(data, vs, ve) && this.ctx.detection.set.has('credit_card')) {
            // A value of unknown type that reads as a card stored as a number: NULL.
            bump(counts, this.ctx.detection.ruleOf('credit_card').name);
            r = null;
          }
        }
        if (r === undefined) continue;
        changed = true;
        parts.push(data.subarray(from, hp));
        const h = Buffer.allocUnsafe(4);
        h.writeInt32BE(r === null ? -1 : r.length);
        parts.push(h);
        if (r !== null) parts.push(r);
        from = ve;
      }
      p = q;
    }
    this.carry = p < data.length ? Buffer.from(data.subarray(p)) : EMPTY;
    if (!changed) return null;
    parts.push(data.subarray(from, p));
    return Buffer.concat(parts);
  }
}

function copyData(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(body.length + 5);
  out[0] = 0x64;
  out.writeInt32BE(body.length + 4, 1);
  body.copy(out, 5);
  return out;
}

interface RawField {
  raw: string;
  value: string;
  quoted: boolean;
}

function splitText(line: string, delim: string): RawField[] {
  const out: RawField[] = [];
  let start = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\') i++;
    else if (c === delim) {
      const raw = line.slice(start, i);
      out.push({ raw, value: raw, quoted: false });
      start = i + 1;
    }
  }
  const raw = line.slice(start);
  out.push({ raw, value: raw, quoted: false });
  return out;
}

function splitCsv(line: string, o: CopyOptions): RawField[] {
  const out: RawField[] = [];
  let i = 0;
  for (;;) {
    const start = i;
    let value = '';
    let quoted = false;
    while (i < line.length && line[i] !== o.delimiter) {
      if (line[i] === o.quote) {
        quoted = true;
        i++;
        while (i < line.length) {
          const c = line[i];
          const next = line[i + 1];
          if (c === o.escape && (next === o.quote || (o.escape !== o.quote && next === o.escape))) {
            value += next;
            i += 2;
            continue;
          }
          if (c === o.quote) break;
          value += c;
          i++;
        }
        i++;
      } else value += line[i++];
    }
    out.push({ raw: line.slice(start, i), value, quoted });
    if (i >= line.length) break;
    i++;
  }
  return out;
}
