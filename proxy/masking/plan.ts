// Mask plans: for one result shape (a RowDescription, or a COPY's columns), what happens to each
// field. Built once per RowDescription (and per Bind's result formats), then applied to every
// row without looking at it again. A field is masked whole by a column rule (the wire's table OID
// + column number, or the statement's lineage), masked inside (JSON keys, record fields) by
// lineage, or scanned by the value detectors when its type can carry free text.

import { bindResultFormats, type RowField, rowDescriptionFields } from '../wire/fields.js';
import { BodyReader, FieldError } from '../wire/reader.js';
import { bump, type Detection } from './compile.js';
import { rewriteArrayBinary, rewriteRecordBinary, rewriteRecordText } from './containers.js';
import { decodeHex } from './encoded.js';
import { maskJsonLeaves } from './json.js';
import { binaryNumberText, numberIsCard, someMultirangeBound, someRangeBound } from './numbers.js';
import {
  ARRAY_ELEMENT,
  detectable,
  MULTIRANGE_RANGE,
  OID,
  RANGE_ELEMENT,
  type TypeKind,
  typeKind,
  type UserTypes,
} from './pgtypes.js';
import { type MaskRule, stricter } from './rules.js';
import { jsonLeafFn, type MaskEnv, textMasker, valueMasker } from './strategies.js';

export class MaskError extends Error {}

export type { RowField } from '../wire/fields.js';

/** What the SQL analysis knows about one output column (see lineage.ts). */
export interface ColumnLineage {
  /** Output column name as the parser sees it (alias, column or function name); null if none. */
  name: string | null;
  /** The strictest rule of any masked column the expression reads; null = reads none. */
  rule: MaskRule | null;
  /** The output is JSON in which only the values under these keys are masked (`*` = every leaf). */
  json?: ReadonlyMap<string, MaskRule> | null;
  /** The output is a whole-row record: rule per field position, with the field types when known. */
  record?: { rules: readonly (MaskRule | null)[]; types: readonly (number | null)[] } | null;
  /** The output's type when the analysis knows it (a plain column reference, a cast). */
  typeOid?: number | null;
  /** Stands for an unknown number of columns (`*` over a relation whose columns are unknown). */
  star?: boolean;
  /**
   * The output is a masked column's stored value itself (a plain reference, through views and
   * subqueries), not something computed from it: only then do `partial` and `hash` apply.
   */
  exact?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Wire parsing

/** RowDescription (buf[start] = 'T'). Throws FieldError on a malformed message. */
export function parseRowDescription(buf: Buffer, start: number, end: number): RowField[] {
  return rowDescriptionFields(new BodyReader(buf, start + 5, end, 'RowDescription'));
}

/**
 * Bind (buf[start] = 'B'): the result-column format codes as sent (0, 1 or n codes). Counts are
 * unsigned (see fields.ts bindResultFormats): masking decides text or binary from these codes.
 */
export const parseBindResultFormats = bindResultFormats;

/** Format codes as sent (none = all text, one = all that, else one per column) -> one per column. */
export function resolveFormats(codes: readonly number[], n: number): number[] {
  if (codes.length === 0) return new Array(n).fill(0);
  if (codes.length === 1) return new Array(n).fill(codes[0]);
  return Array.from({ length: n }, (_, i) => codes[i] ?? 0);
}

// ---------------------------------------------------------------------------------------------
// Lineage alignment

/**
 * Lines the statement's lineage up with the fields actually returned. Without `*` of unknown
 * width the lineage is positional; with one, entries before it align from the start and entries
 * after it from the end, and the star's rule covers the middle. Anything that cannot be placed
 * (more lineage than fields, masked entries between two unknown stars that no field name
 * matches) fails closed: its rule covers every field it could be.
 */
export function alignLineage(
  lineage: readonly ColumnLineage[],
  names: readonly string[],
): (ColumnLineage | null)[] {
  const n = names.length;
  const out: (ColumnLineage | null)[] = new Array(n).fill(null);
  const firstStar = lineage.findIndex((l) => l.star);
  if (firstStar < 0 && lineage.length === n) return lineage.slice();
  const covering = (entries: readonly ColumnLineage[], from: number, to: number) => {
    // Place masked entries by name where possible, else over the whole range.
    for (const e of entries) {
      if (e.rule === null && !e.star) continue;
      if (e.star) {
        if (e.rule === null) continue;
      } else {
        const at = names.findIndex((nm, i) => i >= from && i < to && nm === e.name);
        if (at >= 0) {
          out[at] = merge(out[at], e);
          continue;
        }
      }
      for (let i = from; i < to; i++) out[i] = merge(out[i], { name: names[i], rule: e.rule });
    }
  };
  if (firstStar < 0) {
    // Same shape expected but the counts differ: name matching, else fail closed.
    covering(lineage, 0, n);
    return out;
  }
  let lastStar = -1;
  for (let i = lineage.length - 1; i >= 0; i--)
    if (lineage[i].star) {
      lastStar = i;
      break;
    }
  const prefix = lineage.slice(0, firstStar);
  const suffix = lineage.slice(lastStar + 1);
  if (prefix.length + suffix.length > n) {
    covering(lineage, 0, n);
    return out;
  }
  prefix.forEach((e, i) => {
    out[i] = e;
  });
  suffix.forEach((e, i) => {
    out[n - suffix.length + i] = e;
  });
  const middle = lineage.slice(firstStar, lastStar + 1);
  covering(middle, prefix.length, n - suffix.length);
  return out;
}

function merge(a: ColumnLineage | null, b: ColumnLineage): ColumnLineage {
  if (a === null) return b;
  return { name: a.name, rule: stricter(a.rule, b.rule) };
}

// ---------------------------------------------------------------------------------------------
// Plans

/**
 * Rewrites one field: new bytes, null for SQL NULL, undefined for unchanged. Counts one masked
 * value per rule that changed it.
 */
export type FieldOp = (
  buf: Buffer,
  start: number,
  end: number,
  counts: Map<string, number> | null,
) => Buffer | null | undefined;

/** A FieldOp of a row's top level, which may also return n: n new bytes at scratch.pos. */
export type RowFieldOp = (
  buf: Buffer,
  start: number,
  end: number,
  counts: Map<string, number> | null,
) => number | Buffer | null | undefined;

export interface PlanContext {
  env: MaskEnv;
  /** The value detectors; null = none. */
  detection: Detection | null;
  /** A column's rule from the wire's table OID and column number (catalog). */
  columnRule?: ((tableOid: number, attnum: number) => MaskRule | null) | null;
  /** The statement's lineage (unaligned: see alignLineage), null when unknown. */
  lineage?: readonly ColumnLineage[] | null;
}

/** Per field: the whole-value rule and the structure-aware parts, decided once. */
interface FieldDecision {
  rule: MaskRule | null;
  json: ReadonlyMap<string, MaskRule> | null;
  record: ColumnLineage['record'] | null;
}

export class MaskPlan {
  /** Per field: what to do, or null to pass it through. */
  readonly ops: readonly (RowFieldOp | null)[];
  /** Index of the last field with an op (-1 if none). */
  readonly last: number;
  /** True when no row can ever change: rows pass through untouched. */
  readonly passthrough: boolean;
  /** The rules that may mask something in this result (for errors/notices of the statement). */
  readonly strictest: MaskRule | null;
  private readonly byFormats = new Map<string, MaskPlan>();

  constructor(
    readonly fields: readonly RowField[],
    private readonly decisions: readonly FieldDecision[],
    private readonly ctx: PlanContext,
  ) {
    const ops = fields.map((f, i) => fieldOp(f, decisions[i], ctx));
    this.ops = ops;
    let last = -1;
    for (let i = 0; i < ops.length; i++) if (ops[i] !== null) last = i;
    this.last = last;
    this.passthrough = last < 0;
    let s: MaskRule | null = null;
    for (const d of decisions) s = stricter(s, d.rule);
    this.strictest = s;
  }

  /**
   * The same plan for the result formats a Bind asked for (codes as sent: none, one, or one per
   * column). Describe of a statement reports text for every column; the rows of a portal come in
   * the formats of its Bind.
   */
  withFormats(codes: readonly number[]): MaskPlan {
    const formats = resolveFormats(codes, this.fields.length);
    if (formats.every((f, i) => f === this.fields[i].format)) return this;
    const key = formats.join(',');
    let p = this.byFormats.get(key);
    if (p === undefined) {
      p = new MaskPlan(
        this.fields.map((f, i) => ({ ...f, format: formats[i] })),
        this.decisions,
        this.ctx,
      );
      this.byFormats.set(key, p);
    }
    return p;
  }
}

/** A plan that never changes anything. */
export const PASSTHROUGH_PLAN = new MaskPlan([], [], { env: null as unknown as MaskEnv, detection: null });

/**
 * Builds the plan of a result: per field the strictest of the wire column rule and the lineage
 * rule (whole value), JSON / record structure from lineage, and the detectors on every field
 * whose type can carry free text.
 */
export function buildMaskPlan(fields: readonly RowField[], ctx: PlanContext): MaskPlan {
  const aligned = ctx.lineage
    ? alignLineage(
        ctx.lineage,
        fields.map((f) => f.name),
      )
    : null;
  const decisions: FieldDecision[] = fields.map((f, i) => {
    const wire =
      ctx.columnRule && f.tableOid !== 0 && f.columnAttr > 0
        ? ctx.columnRule(f.tableOid, f.columnAttr)
        : null;
    const l = aligned?.[i] ?? null;
    // A wire rule masks the whole value; lineage structure only refines a lineage-only rule.
    if (wire !== null) return { rule: stricter(wire, l?.rule ?? null), json: null, record: null };
    if (l === null || l.rule === null) return { rule: null, json: null, record: null };
    const structured = (l.json ?? null) !== null || (l.record ?? null) !== null;
    return {
      rule: structured || l.exact ? l.rule : computedRule(l.rule),
      json: l.json ?? null,
      record: l.record ?? null,
    };
  });
  return new MaskPlan(fields, decisions, ctx);
}

/**
 * The rule for a value computed from masked columns (reverse(email), a UNION of a column with
 * literals, COALESCE(salary, 0)): `partial` would keep the part of a transformed value that looks
 * like the column's visible part (the "domain" of a reversed email is its reversed local part), and
 * `hash` would hash the attacker's own literals with the column's key, a dictionary oracle. Both
 * become `redact`; `null` and `redact` stay.
 */
function computedRule(rule: MaskRule): MaskRule {
  if (rule.strategy !== 'partial' && rule.strategy !== 'hash') return rule;
  return { ...rule, strategy: 'redact' };
}

function wholeOp(rule: MaskRule, f: RowField, env: MaskEnv): FieldOp {
  const masker = valueMasker(rule.strategy, f.typeOid, f.typeMod, f.format, env);
  const name = rule.name;
  return (buf, start, end, counts) => {
    bump(counts, name);
    return masker(buf, start, end);
  };
}

/** bytea as text: `\x` and hex (its bytes are searched, and written back in hex), or escaped text. */
function byteaTextOp(det: Detection): FieldOp {
  return (buf, start, end, counts) => {
    if (end - start < 2 || buf[start] !== 0x5c || buf[start + 1] !== 0x78)
      return det.maskBytes(buf, start, end, counts, false, true);
    if (det.set.candidates(buf, start + 2, end) === 0) return undefined;
    const bytes = decodeHex(buf.toString('latin1', start + 2, end));
    if (bytes === null) return undefined;
    const r = det.maskBytes(bytes, 0, bytes.length, counts, false, true);
    if (r === undefined || r === null) return r;
    return Buffer.from(`\\x${r.toString('hex')}`, 'latin1');
  };
}

/**
 * Detectors over one value of a type in a format (null: nothing to look at). `into`: the op may
 * write its result at scratch.pos (a row's top-level field, see RowFieldOp). `oid`: the type,
 * when known (an array's or range's element type decides how a match is masked).
 *
 * Every value of every type is looked at, except types whose values cannot hold a match (see
 * pgtypes.ts FIXED, and int2 / int4 / float4 / bool / uuid / dates and times). Free text has
 * the matched spans replaced; any other value is masked WHOLE on a match, so that it stays a
 * valid value of its type (numbers by the detector rule's strategy, everything else NULL).
 */
export function detectOp(
  kind: TypeKind,
  format: number,
  det: Detection,
  user: UserTypes | null | undefined,
  into: true,
  oid?: number,
): RowFieldOp | null;
export function detectOp(
  kind: TypeKind,
  format: number,
  det: Detection,
  user: UserTypes | null | undefined,
  into?: false,
  oid?: number,
): FieldOp | null;
export function detectOp(
  kind: TypeKind,
  format: number,
  det: Detection,
  user: UserTypes | null | undefined,
  into = false,
  oid?: number,
): RowFieldOp | null {
  if (!detectable(kind, format)) return wholeDetectOp(kind, format, det, user, oid);
  if (kind === 'array' && format === 0 && oid !== undefined) {
    // A text array of numbers (or ranges...): starring digits inside would make an invalid
    // literal; a match masks the whole array (NULL).
    const elem = ARRAY_ELEMENT.get(oid) ?? user?.element?.(oid) ?? null;
    const ek = elem === null ? null : typeKind(elem, user);
    if (ek !== null && !detectable(ek, 0)) {
      if (wholeDetectOp(ek, 0, det, user, elem ?? undefined) === null) return null;
      return (buf, start, end, counts) =>
        det.maskBytes(buf, start, end, counts, false, false) === undefined ? undefined : null;
    }
  }
  if (kind === 'bytea')
    return format === 0
      ? byteaTextOp(det)
      : (buf, start, end, counts) => det.maskBytes(buf, start, end, counts);
  if (format === 0) {
    const json = kind === 'json' || kind === 'jsonb';
    // Inside arrays and records a `null` rule cannot null one element: it redacts there.
    const allowNull = kind !== 'array' && kind !== 'record';
    return into
      ? (buf, start, end, counts) => det.maskBytesInto(buf, start, end, counts, json, allowNull)
      : (buf, start, end, counts) => det.maskBytes(buf, start, end, counts, json, allowNull);
  }
  switch (kind) {
    case 'text':
    case 'json':
    case 'enum':
      return into
        ? (buf, start, end, counts) =>
            det.maskBytesInto(buf, start, end, counts, kind === 'json', kind !== 'enum')
        : (buf, start, end, counts) =>
            det.maskBytes(buf, start, end, counts, kind === 'json', kind !== 'enum');
    case 'jsonb':
      return (buf, start, end, counts) => {
        if (end - start < 1 || buf[start] !== 1) return undefined;
        const r = det.maskBytes(buf, start + 1, end, counts, true);
        if (r === undefined || r === null) return r;
        return Buffer.concat([buf.subarray(start, start + 1), r]);
      };
    case 'array':
    case 'record': {
      const inner = new Map<number, FieldOp | null>();
      const elem = (oid: number) => {
        let op = inner.get(oid);
        if (op === undefined) {
          const k = typeKind(oid, user);
          op = detectOp(k, 1, det, user, false, oid);
          inner.set(oid, op);
        }
        return op;
      };
      const rewrite = kind === 'array' ? rewriteArrayBinary : rewriteRecordBinary;
      return (buf, start, end, counts) => {
        try {
          return rewrite(buf, start, end, (oid, b, s, e) => {
            const op = elem(oid);
            const r = op ? op(b, s, e, counts) : undefined;
            // NULL inside a container: allowed for binary elements (length -1).
            return r;
          });
        } catch (e) {
          // A malformed value (wire/values.ts) is never passed on: the row is refused.
          if (e instanceof FieldError)
            throw new MaskError(`cannot mask a binary ${kind} value: ${e.message}`);
          throw e;
        }
      };
    }
    default:
      return null;
  }
}

const NUMBER_OID: Partial<Record<TypeKind, number>> = {
  int8: OID.int8,
  numeric: OID.numeric,
  float8: OID.float8,
  money: OID.money,
};

/** A match anywhere in the value (its text, or its raw bytes in binary): the value becomes NULL. */
function nullOnMatch(det: Detection): FieldOp {
  return (buf, start, end, counts) =>
    det.maskBytes(buf, start, end, counts, false, false) === undefined ? undefined : null;
}

/** Detectors over a value that is not free text: a match masks it whole (see detectOp). */
function wholeDetectOp(
  kind: TypeKind,
  format: number,
  det: Detection,
  user: UserTypes | null | undefined,
  oid: number | undefined,
): FieldOp | null {
  switch (kind) {
    case 'int8':
    case 'numeric':
    case 'float8':
    case 'money': {
      // See numbers.ts: a card stored as a number; never an SSN or phone.
      if (!det.set.has('credit_card')) return null;
      const rule = det.ruleOf('credit_card');
      const masker = valueMasker(rule.strategy, NUMBER_OID[kind] as number, -1, format, {
        hasher: det.hasher,
        userTypes: user,
      });
      return (buf, start, end, counts) => {
        const text =
          format === 0
            ? end - start < 13
              ? null
              : buf.toString('latin1', start, end)
            : binaryNumberText(kind, buf, start, end);
        if (text === null || !numberIsCard(text)) return undefined;
        bump(counts, rule.name);
        const r = masker(buf, start, end);
        // A value not in the form the type's masker reads (a type known wrongly: money text
        // under a numeric type) comes back as it was: NULL instead.
        return r?.equals(buf.subarray(start, end)) ? null : r;
      };
    }
    case 'range':
    case 'multirange': {
      if (format === 0) return nullOnMatch(det);
      const range = kind === 'range' ? oid : oid === undefined ? undefined : MULTIRANGE_RANGE.get(oid);
      const elem = range === undefined ? undefined : RANGE_ELEMENT.get(range);
      // A range type the gateway does not know: its raw bytes, like any undecodable value.
      if (elem === undefined) return nullOnMatch(det);
      const op = detectOp(typeKind(elem, user), 1, det, user, false, elem);
      if (op === null) return null;
      const some = kind === 'range' ? someRangeBound : someMultirangeBound;
      return (buf, start, end, counts) => {
        try {
          return some(buf, start, end, (b, s, e) => op(b, s, e, counts) !== undefined) ? null : undefined;
        } catch (e) {
          if (e instanceof FieldError)
            throw new MaskError(`cannot mask a binary ${kind} value: ${e.message}`);
          throw e;
        }
      };
    }
    case 'oidref':
      // An object name in text (`email::regclass` of a table so named); an OID in binary.
      return format === 0 ? nullOnMatch(det) : null;
    case 'other':
    case 'opaque-text':
      // Text: whatever the type's output is. Binary of a type the gateway cannot decode (a
      // tsvector's lexemes, an extension's type): its raw bytes, where text is usually stored
      // as it is. A match masks the whole value: a span cannot be rewritten in a layout we do
      // not know.
      return nullOnMatch(det);
    default:
      // int2, int4, float4 (cannot hold 13 exact digits), bool, uuid, date and time types,
      // FIXED: nothing a detector can match.
      return null;
  }
}

function jsonOp(
  rule: MaskRule,
  keys: ReadonlyMap<string, MaskRule>,
  f: RowField,
  kind: TypeKind,
  ctx: PlanContext,
): FieldOp {
  const h = ctx.env.hasher;
  const det = ctx.detection;
  void rule;
  const jsonb = kind === 'jsonb' && f.format === 1;
  const fallback = valueMasker(rule.strategy, f.typeOid, f.typeMod, f.format, ctx.env);
  const names = new Set<string>();
  for (const r of keys.values()) names.add(r.name);
  const leaf = jsonLeafFn(h);
  return (buf, start, end, counts) => {
    const off = jsonb ? 1 : 0;
    if (jsonb && (end - start < 1 || buf[start] !== 1)) {
      bump(counts, rule.name);
      return fallback(buf, start, end);
    }
    const text = buf.toString('utf8', start + off, end);
    // Not JSON: a scalar taken out of a document (->> 'unmasked key'); masked keys give whole rules.
    let r = maskJsonLeaves(text, keys, leaf) ?? text;
    if (r !== text) for (const n of names) bump(counts, n);
    if (det) {
      const d = det.maskString(r, counts, true, false);
      if (typeof d === 'string') r = d;
    }
    if (r === text) return undefined;
    const body = Buffer.from(r, 'utf8');
    return jsonb ? Buffer.concat([Buffer.from([1]), body]) : body;
  };
}

function recordOp(
  rec: NonNullable<ColumnLineage['record']>,
  rule: MaskRule,
  f: RowField,
  ctx: PlanContext,
): FieldOp {
  const env = ctx.env;
  const det = ctx.detection;
  if (f.format === 1) {
    const cache = new Map<string, ReturnType<typeof valueMasker>>();
    return (buf, start, end, counts) => {
      try {
        const r = rewriteRecordBinary(buf, start, end, (oid, b, s, e, i) => {
          const rr = i < rec.rules.length ? rec.rules[i] : rule;
          if (rr === null) {
            if (!det) return undefined;
            const k = typeKind(oid, env.userTypes);
            const op = detectOp(k, 1, det, env.userTypes, false, oid);
            return op ? op(b, s, e, counts) : undefined;
          }
          const key = `${rr.strategy}:${oid}`;
          let m = cache.get(key);
          if (m === undefined) {
            m = valueMasker(rr.strategy, oid, -1, 1, env);
            cache.set(key, m);
          }
          bump(counts, rr.name);
          return m(b, s, e);
        });
        return r;
      } catch (e) {
        if (e instanceof FieldError) throw new MaskError(`cannot mask a binary record value: ${e.message}`);
        throw e;
      }
    };
  }
  const maskers = rec.rules.map((r, i) => {
    if (r === null) return null;
    const t = rec.types[i];
    // Without the field's type a placeholder might not parse as it: NULL fits every type.
    return t === null || t === undefined ? () => null : textMasker(r.strategy, t, -1, env);
  });
  return (buf, start, end, counts) => {
    const text = buf.toString('utf8', start, end);
    let r = rewriteRecordText(text, (v, i) => {
      const rr = i < rec.rules.length ? rec.rules[i] : rule;
      if (rr === null || v === null) return undefined;
      bump(counts, rr.name);
      const m = maskers[i];
      return m ? m(v) : null;
    });
    if (r === null) {
      bump(counts, rule.name);
      return null;
    }
    if (det) {
      const d = det.maskString(r, counts, false, false);
      if (typeof d === 'string') r = d;
    }
    return r === text ? undefined : Buffer.from(r, 'utf8');
  };
}

function fieldOp(f: RowField, d: FieldDecision, ctx: PlanContext): RowFieldOp | null {
  const kind = typeKind(f.typeOid, ctx.env?.userTypes);
  if (d.rule !== null) {
    if (d.json && (kind === 'json' || kind === 'jsonb' || kind === 'text'))
      return jsonOp(d.rule, d.json, f, kind, ctx);
    // A whole-row reference: the value is a record (of the relation's composite type).
    if (d.record && (kind === 'record' || kind === 'opaque-text' || (kind === 'text' && f.format === 0)))
      return recordOp(d.record, d.rule, f, ctx);
    return wholeOp(d.rule, f, ctx.env);
  }
  if (ctx.detection === null) return null;
  return detectOp(kind, f.format, ctx.detection, ctx.env.userTypes, true, f.typeOid);
}
