// A policy's masking rules compiled for the data path: column rules by name, the detector set
// with the rule each detector answers to, and the keyed hasher. One per (policy, install key);
// immutable and shared by every session under that policy.

import { DetectorSet, wholeValue } from './detectors.js';
import { numberTokenBounds, spansInJsonStrings } from './json.js';
import {
  type ColumnName,
  type DetectorName,
  type MaskingRule,
  type MaskRule,
  STRICTNESS,
  stricter,
} from './rules.js';
import { bytesAreEmail, Hasher, partialBytes, REDACTED, spanReplacement } from './strategies.js';

const EMAIL_ONLY = 1; // DetectorSet bits: email 1, credit_card 2, ssn 4, phone 8
const DIGIT_SHAPED = 2 | 4 | 8;

/** Only digits and the separators SSNs, phones and cards are written with. */
function digitShaped(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (
      !(
        (b >= 0x30 && b <= 0x39) ||
        b === 0x20 ||
        b === 0x28 ||
        b === 0x29 ||
        b === 0x2b ||
        b === 0x2d ||
        b === 0x2e
      )
    )
      return false;
  }
  return true;
}
const REDACTED_BYTES = Buffer.from(REDACTED);

export function bump(counts: Map<string, number> | null | undefined, rule: string): void {
  if (counts) counts.set(rule, (counts.get(rule) ?? 0) + 1);
}

/** The enabled detectors and the rule (strategy, name) each one answers to. */
export class Detection {
  readonly set: DetectorSet;
  private readonly rules = new Map<DetectorName, MaskRule>();

  constructor(
    rules: Iterable<readonly [DetectorName, MaskRule]>,
    readonly hasher: Hasher,
  ) {
    for (const [d, r] of rules) this.rules.set(d, stricter(this.rules.get(d) ?? null, r) as MaskRule);
    this.set = new DetectorSet(this.rules.keys());
  }

  ruleOf(d: DetectorName): MaskRule {
    return this.rules.get(d) as MaskRule;
  }

  /**
   * Masks detected values in a string. Returns the new string, null when a `null`-strategy rule
   * fired and `allowNull` (the whole value becomes NULL), or undefined when nothing was found.
   * `json`: the text is JSON; a value found outside a string (a number) is replaced by a string.
   * Counts one masked value per rule that fired.
   */
  maskString(
    text: string,
    counts: Map<string, number> | null,
    json = false,
    allowNull = true,
    mask?: number,
  ): string | null | undefined {
    if (!json) {
      // Fast path: the value is one detected thing (an email column, a phone column).
      const d = wholeValue(text, mask ?? this.set.bits);
      if (d !== null) {
        const rule = this.ruleOf(d);
        bump(counts, rule.name);
        if (allowNull && rule.strategy === 'null') return null;
        return spanReplacement(d, rule.strategy, text, this.hasher);
      }
    }
    const spans = this.set.findIn(text, mask);
    if (spans.length === 0) return undefined;
    const fired = new Set<MaskRule>();
    for (const s of spans) fired.add(this.ruleOf(s.detector));
    for (const r of fired) bump(counts, r.name);
    if (allowNull) for (const r of fired) if (r.strategy === 'null') return null;
    const inString = json ? spansInJsonStrings(text, spans) : null;
    let out = '';
    let last = 0;
    spans.forEach((s, i) => {
      const rule = this.ruleOf(s.detector);
      let rep = spanReplacement(s.detector, rule.strategy, text.slice(s.start, s.end), this.hasher);
      let a = s.start;
      let b = s.end;
      if (inString && !inString[i]) {
        [a, b] = numberTokenBounds(text, s.start, s.end);
        if (a < last) a = last;
        rep = JSON.stringify(rep);
      }
      out += text.slice(last, a) + rep;
      last = b;
    });
    return out + text.slice(last);
  }

  /**
   * Masks detected values in buf[start, end) (bytes of UTF-8 text): the pre-filter first, then the
   * exact checks on a latin1 view. New bytes, null (NULL), or undefined (unchanged).
   */
  maskBytes(
    buf: Buffer,
    start: number,
    end: number,
    counts: Map<string, number> | null,
    json = false,
    allowNull = true,
  ): Buffer | null | undefined {
    const mask = this.set.candidates(buf, start, end);
    if (mask === 0) return undefined;
    if (mask === EMAIL_ONLY && !json) {
      // One email and nothing else (an email column): no decoding.
      const at = buf.indexOf(0x40, start);
      if (at < end && bytesAreEmail(buf, start, end, at)) {
        const rule = this.ruleOf('email');
        const out =
          rule.strategy === 'redact'
            ? REDACTED_BYTES
            : rule.strategy === 'partial'
              ? partialBytes(buf, start, end)
              : null;
        if (out !== null) {
          bump(counts, rule.name);
          return out;
        }
      }
    } else if ((mask & ~DIGIT_SHAPED) === 0 && !json && end - start <= 24 && digitShaped(buf, start, end)) {
      // One SSN / phone / card and nothing else (such a column): star the digits in place.
      const d = wholeValue(buf.toString('latin1', start, end), mask);
      if (d !== null) {
        const rule = this.ruleOf(d);
        const out =
          rule.strategy === 'redact'
            ? REDACTED_BYTES
            : rule.strategy === 'partial'
              ? partialBytes(buf, start, end)
              : null;
        if (out !== null) {
          bump(counts, rule.name);
          return out;
        }
      }
    }
    const r = this.maskString(buf.toString('latin1', start, end), counts, json, allowNull, mask);
    if (r === undefined || r === null) return r;
    return Buffer.from(r, 'latin1');
  }
}

export interface MaskingOptions {
  /** The install's key for the `hash` strategy (>= 16 bytes; see generateMaskKey()). */
  hashKey: Buffer | string;
}

export class CompiledMasking {
  readonly hasher: Hasher;
  /** null when no rule detects anything. */
  readonly detection: Detection | null;
  /** Every configured column (for the catalog queries). */
  readonly columns: readonly ColumnName[];
  /** `schema.table.column` -> rule; `*.table.column` for rules written without a schema. */
  private readonly byColumn = new Map<string, MaskRule>();
  private readonly tables = new Set<string>();

  constructor(
    readonly rules: readonly MaskingRule[],
    opts: MaskingOptions,
  ) {
    this.hasher = new Hasher(opts.hashKey);
    const detectors: [DetectorName, MaskRule][] = [];
    const columns: ColumnName[] = [];
    for (const r of rules) {
      const rule: MaskRule = { name: r.name, strategy: r.strategy };
      if (r.kind === 'detect') for (const d of r.detect) detectors.push([d, rule]);
      else {
        for (const c of r.parsed) {
          columns.push(c);
          const k = `${c.schema ?? '*'}.${c.table}.${c.column}`;
          this.byColumn.set(k, stricter(this.byColumn.get(k) ?? null, rule) as MaskRule);
          this.tables.add(`${c.schema ?? '*'}.${c.table}`);
        }
      }
    }
    this.columns = columns;
    this.detection = detectors.length > 0 ? new Detection(detectors, this.hasher) : null;
  }

  /** True when the policy masks nothing at all (no columns, no detectors). */
  get inactive(): boolean {
    return this.byColumn.size === 0 && this.detection === null;
  }

  /** The rule of a column by its real (catalog) schema, table and column names. */
  columnRule(schema: string, table: string, column: string): MaskRule | null {
    const a = this.byColumn.get(`${schema}.${table}.${column}`) ?? null;
    const b = this.byColumn.get(`*.${table}.${column}`) ?? null;
    return stricter(a, b);
  }

  /** True when some rule names a column of this table. */
  masksTable(schema: string, table: string): boolean {
    return this.tables.has(`${schema}.${table}`) || this.tables.has(`*.${table}`);
  }
}

export function compileMasking(rules: readonly MaskingRule[], opts: MaskingOptions): CompiledMasking {
  return new CompiledMasking(rules, opts);
}

/** The strictest of several rules (null when none). */
export function strictest(rules: Iterable<MaskRule | null>): MaskRule | null {
  let best: MaskRule | null = null;
  for (const r of rules)
    if (r && (best === null || STRICTNESS[r.strategy] > STRICTNESS[best.strategy])) best = r;
  return best;
}
