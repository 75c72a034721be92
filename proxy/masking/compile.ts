// A policy's masking rules compiled for the data path: column rules by name, the detector set
// with the rule each detector answers to, and the keyed hasher. One per (policy, install key);
// immutable and shared by every session under that policy.

import { DetectorSet, ENCODED, wholeDigitValue, wholeValue } from './detectors.js';
import { decodings, encode, encodedRuns, MIN_RUN } from './encoded.js';
import { numberTokenBounds, spansInJsonStrings } from './json.js';
import {
  type ColumnName,
  type DetectorName,
  type MaskingRule,
  type MaskRule,
  STRICTNESS,
  stricter,
} from './rules.js';
import { reserve, scratch, takeScratch } from './scratch.js';
import { bytesAreEmail, Hasher, REDACTED, spanReplacement } from './strategies.js';

const EMAIL_ONLY = 1; // DetectorSet bits: email 1, credit_card 2, ssn 4, phone 8
const DIGIT_SHAPED = 2 | 4 | 8;
const STAR = 0x2a;
const REDACTED_BYTES = Buffer.from(REDACTED);

/** Only digits and the separators SSNs, phones and cards are written with; and how many digits. */
function digitShapedDigits(buf: Buffer, start: number, end: number): number {
  let digits = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b >= 0x30 && b <= 0x39) digits++;
    else if (!(b === 0x20 || b === 0x28 || b === 0x29 || b === 0x2b || b === 0x2d || b === 0x2e)) return -1;
  }
  return digits;
}

export function bump(counts: Map<string, number> | null | undefined, rule: string): void {
  if (counts) counts.set(rule, (counts.get(rule) ?? 0) + 1);
}

/** A quick look for base64 / hex runs in text that did not come through the byte pre-filter. */
const ENCODED_RUN = new RegExp(`[A-Za-z0-9+/]{${MIN_RUN},}`);

/** The enabled detectors and the rule (strategy, name) each one answers to. */
export class Detection {
  readonly set: DetectorSet;
  private readonly rules = new Map<DetectorName, MaskRule>();
  /** The rules of the email / digit detectors, looked up once (the row path). */
  private readonly emailRule: MaskRule | null;

  constructor(
    rules: Iterable<readonly [DetectorName, MaskRule]>,
    readonly hasher: Hasher,
  ) {
    for (const [d, r] of rules) this.rules.set(d, stricter(this.rules.get(d) ?? null, r) as MaskRule);
    this.set = new DetectorSet(this.rules.keys());
    this.emailRule = this.rules.get('email') ?? null;
  }

  ruleOf(d: DetectorName): MaskRule {
    return this.rules.get(d) as MaskRule;
  }

  /** The strictest rule of any detector (what a value nobody can look into is masked with). */
  strictest(): MaskRule | null {
    let r: MaskRule | null = null;
    for (const x of this.rules.values()) r = stricter(r, x);
    return r;
  }

  /**
   * Masks detected values in a string. Returns the new string, null when a `null`-strategy rule
   * fired and `allowNull` (the whole value becomes NULL), or undefined when nothing was found.
   * `json`: the text is JSON; a value found outside a string (a number) is replaced by a string.
   * `mask`: the candidates of the byte pre-filter (ENCODED included), when it ran.
   * Counts one masked value per rule that fired.
   */
  maskString(
    text: string,
    counts: Map<string, number> | null,
    json = false,
    allowNull = true,
    mask?: number,
  ): string | null | undefined {
    const plain = mask === undefined ? this.set.bits : mask & this.set.bits;
    const encoded = mask === undefined ? ENCODED_RUN.test(text) : (mask & ENCODED) !== 0;
    let r = plain === 0 ? undefined : this.maskPlain(text, counts, json, allowNull, plain);
    if (r === null || !encoded) return r;
    const e = this.maskEncoded(r ?? text, counts, allowNull);
    if (e !== undefined) r = e;
    return r;
  }

  private maskPlain(
    text: string,
    counts: Map<string, number> | null,
    json: boolean,
    allowNull: boolean,
    mask: number,
  ): string | null | undefined {
    if (!json) {
      // Fast path: the value is one detected thing (an email column, a phone column).
      const d = wholeValue(text, mask);
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
   * Base64 / hex runs in a (latin1) text: each is decoded, the decoded bytes are searched, and a
   * run that holds a detected value is replaced by the masked bytes encoded the same way.
   */
  private maskEncoded(
    text: string,
    counts: Map<string, number> | null,
    allowNull: boolean,
  ): string | null | undefined {
    let out = '';
    let last = 0;
    for (const run of encodedRuns(text)) {
      for (const [how, bytes] of decodings(run)) {
        const m = this.set.candidates(bytes, 0, bytes.length);
        if (m === 0) continue;
        const r = this.maskString(bytes.toString('latin1'), counts, false, allowNull, m);
        if (r === undefined) continue;
        if (r === null) return null;
        out += text.slice(last, run.start) + encode(Buffer.from(r, 'latin1'), how);
        last = run.end;
        break;
      }
    }
    return last === 0 ? undefined : out + text.slice(last);
  }

  /**
   * Masks detected values in buf[start, end) (bytes of UTF-8 text): the pre-filter first, then the
   * exact checks on a latin1 view. Returns a number n when the new bytes were written at
   * scratch.pos (n bytes: see scratch.ts), new bytes, null (NULL), or undefined (unchanged).
   */
  maskBytesInto(
    buf: Buffer,
    start: number,
    end: number,
    counts: Map<string, number> | null,
    json = false,
    allowNull = true,
  ): number | Buffer | null | undefined {
    const mask = this.set.candidates(buf, start, end);
    if (mask === 0) return undefined;
    if (!json) {
      if (mask === EMAIL_ONLY) {
        // One email and nothing else (an email column): no decoding.
        const rule = this.emailRule as MaskRule;
        let at = start;
        while (at < end && buf[at] !== 0x40) at++;
        if (
          at < end &&
          (rule.strategy === 'partial' || rule.strategy === 'redact') &&
          bytesAreEmail(buf, start, end, at)
        ) {
          bump(counts, rule.name);
          if (rule.strategy === 'redact') return REDACTED_BYTES;
          // partial: the first character, ***, and the domain.
          const n = 4 + end - at;
          const out = reserve(n);
          const o = scratch.pos;
          out[o] = buf[start];
          out[o + 1] = STAR;
          out[o + 2] = STAR;
          out[o + 3] = STAR;
          for (let i = at; i < end; i++) out[o + 4 + i - at] = buf[i];
          return n;
        }
      } else if ((mask & ~DIGIT_SHAPED) === 0 && end - start <= 24) {
        // One SSN / phone / card and nothing else (such a column): star the digits in place.
        const digits = digitShapedDigits(buf, start, end);
        const d = digits >= 6 ? wholeDigitValue(buf, start, end, mask) : null;
        if (d !== null) {
          const rule = this.ruleOf(d);
          if (rule.strategy === 'redact' || rule.strategy === 'partial') {
            bump(counts, rule.name);
            if (rule.strategy === 'redact') return REDACTED_BYTES;
            const n = end - start;
            const out = reserve(n);
            const o = scratch.pos;
            let left = digits - 4;
            for (let i = 0; i < n; i++) {
              const b = buf[start + i];
              if (left > 0 && b >= 0x30 && b <= 0x39) {
                out[o + i] = STAR;
                left--;
              } else out[o + i] = b;
            }
            return n;
          }
        }
      }
    }
    const r = this.maskString(buf.toString('latin1', start, end), counts, json, allowNull, mask);
    if (r === undefined || r === null) return r;
    return Buffer.from(r, 'latin1');
  }

  /** maskBytesInto with the result as a Buffer of its own: new bytes, null (NULL) or undefined. */
  maskBytes(
    buf: Buffer,
    start: number,
    end: number,
    counts: Map<string, number> | null,
    json = false,
    allowNull = true,
  ): Buffer | null | undefined {
    const r = this.maskBytesInto(buf, start, end, counts, json, allowNull);
    return typeof r === 'number' ? takeScratch(r) : r;
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
