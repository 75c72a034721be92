// PII the client itself types (SQL text, Bind parameters, COPY FROM STDIN data, FunctionCall
// arguments, statement and portal names) kept out of the audit store (issue 18 item 6). Values
// masked for the client are already masked before they are recorded; this is the other direction.
//
// - Recorded client frames: every detected value is overwritten IN PLACE by a keyed digest of the
//   same length ("#" then hex of HMAC-SHA256(install mask key, value), chained for long values).
//   Same length, so every length field of the message stays true and replay still decodes it;
//   keyed, so an auditor who holds a value (and the gateway's key) can prove it was sent, while
//   nobody can enumerate SSNs or cards against the digest without the key. Only the text fields
//   of known messages are searched (never a length or an OID, whose bytes could look like digits).
// - Statement records (SQL, parameters, error message), and through them the search index and
//   the reports: each value takes the session policy's own strategy for its detector (`null`
//   redacts: a statement text has no NULL).
// Beyond the detectors' shapes: literals and parameters that meet a column a rule masks
// (client-columns.ts), and literals whose decoded value hides one (escapes, concatenation, chr:
// client-literals.ts); COPY rows cut across CopyData messages are digested at the cut.
// The detectors are the session policy's; a policy without any (only column rules, or none) uses
// the built-in default detectors, so that no policy makes the store a leak by omission. A
// connection with `record_client_values: clear` skips all of this (policy requires the clear text).
//
// Cost when nothing matches: one byte scan per text field (DetectorSet.candidates), no copy.

import type { StatementRecord } from '../../shared/types.js';
import { type CompiledMasking, Detection } from '../masking/compile.js';
import { ENCODED } from '../masking/detectors.js';
import { decodings, encodedRuns } from '../masking/encoded.js';
import { DEFAULT_DETECTOR_RULE, type MaskRule, type Strategy } from '../masking/rules.js';
import { type Hasher, maskFreeText } from '../masking/strategies.js';
import { Frontend } from '../wire/codes.js';
import { MaskedColumnNames } from './client-columns.js';
import { hiddenLiterals } from './client-literals.js';

export type ClientValuesMode = 'masked' | 'clear';

/**
 * Cheap byte check before parsing for hidden literals: a backslash (escape strings), `||`, `chr`
 * or `&'` (U&'...'). Plain SQL is one pass over its bytes.
 */
function mayHide(buf: Buffer, a: number, b: number): boolean {
  for (let i = a; i < b; i++) {
    const c = buf[i];
    if (c === 0x5c) return true;
    if (c === 0x7c && buf[i + 1] === 0x7c) return true;
    if (c === 0x26 && buf[i + 1] === 0x27) return true;
    if ((c | 0x20) === 0x63 && (buf[i + 1] | 0x20) === 0x68 && (buf[i + 2] | 0x20) === 0x72) return true;
  }
  return false;
}

/** Byte ranges [a, b) of a frame's text fields; null when the frame is not what its type says. */
type Ranges = number[];

const DIGEST_MARK = 0x23; // '#'

export class ClientValues {
  private source: CompiledMasking | null = null;
  private detection: Detection | null = null;
  private hasher: Hasher | null = null;
  /** The policy's masked column names (null: it has no column rules). */
  private names: MaskedColumnNames | null = null;
  /** Prepared statements whose parameters meet a masked column: name -> $n -> rule. */
  private readonly tiedParams = new Map<string, Map<number, MaskRule>>();
  private scratch = Buffer.allocUnsafe(1024);
  /** The last CopyData ended inside a row: the next one starts with the rest of it. */
  private copyCut = false;

  /** `current`: the session's compiled masking now (it changes when the policy is replaced). */
  constructor(private readonly current: () => CompiledMasking) {}

  private get d(): Detection {
    return this.refresh();
  }

  /** Follows a replaced policy: its detectors, hasher and masked column names. */
  private refresh(): Detection {
    const m = this.current();
    if (m !== this.source || this.detection === null) {
      this.source = m;
      this.hasher = m.hasher;
      this.names = MaskedColumnNames.of(m);
      this.detection =
        m.detection ??
        new Detection(
          DEFAULT_DETECTOR_RULE.detect.map((n) => [n, DEFAULT_DETECTOR_RULE as MaskRule] as const),
          m.hasher,
        );
    }
    return this.detection;
  }

  /**
   * The client frame buf[start, end) as it is to be stored: a copy with every detected value
   * replaced by its digest, or null when nothing was found (the frame is stored as is).
   */
  frame(type: number, buf: Buffer, start: number, end: number): Buffer | null {
    const set = this.d.set;
    const ranges = textRanges(type, buf, start, end);
    let out: Buffer | null = null;
    if (type === Frontend.CopyData) out = this.copyEdges(buf, start, end);
    else this.copyCut = false;
    if (this.names !== null) out = this.tiedInFrame(type, buf, start, end, ranges, out);
    if (
      (type === Frontend.Query && ranges.length === 2) ||
      (type === Frontend.Parse && ranges.length === 4)
    ) {
      const a = ranges[ranges.length - 2];
      const b = ranges[ranges.length - 1];
      if (mayHide(buf, a, b)) {
        for (const h of hiddenLiterals(buf.toString('utf8', a, b), set)) {
          out ??= Buffer.from(buf.subarray(start, end));
          this.digestInto(out, a - start + h.start, a - start + h.end);
        }
      }
    }
    for (let i = 0; i < ranges.length; i += 2) {
      const a = ranges[i];
      const b = ranges[i + 1];
      const mask = set.candidates(buf, a, b);
      if (mask === 0) continue;
      const text = buf.toString('latin1', a, b);
      const hits: [number, number][] = [];
      if ((mask & set.bits) !== 0)
        for (const s of set.findIn(text, mask & set.bits)) hits.push([s.start, s.end]);
      if ((mask & ENCODED) !== 0) {
        // A value written in base64 or hex: the whole run is replaced.
        for (const run of encodedRuns(text)) {
          for (const [, bytes] of decodings(run)) {
            const m = set.candidates(bytes, 0, bytes.length) & set.bits;
            if (m !== 0 && set.findIn(bytes.toString('latin1'), m).length > 0) {
              hits.push([run.start, run.end]);
              break;
            }
          }
        }
      }
      if (hits.length === 0) continue;
      out ??= Buffer.from(buf.subarray(start, end));
      for (const [s, e] of hits) this.digestInto(out, a - start + s, a - start + e);
    }
    return out;
  }

  /**
   * Literals and Bind parameters that meet a masked column (client-columns.ts) are digested too:
   * a Query's or Parse's literals by where they are in its SQL, a Bind's parameters by the ties
   * its statement's Parse recorded.
   */
  private tiedInFrame(
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    ranges: Ranges,
    out: Buffer | null,
  ): Buffer | null {
    const names = this.names as MaskedColumnNames;
    let digest: [number, number][] = [];
    if (
      (type === Frontend.Query && ranges.length === 2) ||
      (type === Frontend.Parse && ranges.length === 4)
    ) {
      const at = type === Frontend.Query ? 0 : 2;
      const a = ranges[at];
      const tied = names.tied(buf.toString('utf8', a, ranges[at + 1]));
      if (type === Frontend.Parse) {
        const name = buf.toString('utf8', ranges[0], ranges[1]);
        if (tied !== null && tied.params.size > 0) this.tiedParams.set(name, tied.params);
        else this.tiedParams.delete(name);
      }
      if (tied !== null) digest = tied.literals.map((l) => [a + l.start, a + l.end]);
    } else if (type === Frontend.Bind && ranges.length >= 4) {
      const tied = this.tiedParams.get(buf.toString('utf8', ranges[2], ranges[3]));
      if (tied !== undefined) {
        for (const n of tied.keys()) {
          const i = 2 * (n + 1);
          if (i + 1 < ranges.length) digest.push([ranges[i], ranges[i + 1]]);
        }
      }
    }
    digest = digest.filter(([s, e]) => e > s);
    if (digest.length === 0) return out;
    const o = out ?? Buffer.from(buf.subarray(start, end));
    for (const [s, e] of digest) this.digestInto(o, s - start, e - start);
    return o;
  }

  /**
   * A client may cut COPY data anywhere (drivers send fixed-size chunks), so a value can start in
   * one CopyData and end in the next, where neither half is recognisable and the first is already
   * recorded. Failing closed, the pieces of a row cut by a message boundary (the partial line at
   * either end) are digested whole, whatever they hold; whole lines are searched as usual.
   */
  private copyEdges(buf: Buffer, start: number, end: number): Buffer | null {
    const body = start + 5;
    if (body === end) return null;
    let out: Buffer | null = null;
    if (this.copyCut) {
      const nl = buf.indexOf(0x0a, body);
      const e = nl < 0 || nl >= end ? end : nl;
      if (e > body) {
        out = Buffer.from(buf.subarray(start, end));
        this.digestInto(out, 5, e - start);
      }
    }
    this.copyCut = buf[end - 1] !== 0x0a;
    if (this.copyCut) {
      const nl = buf.lastIndexOf(0x0a, end - 1);
      const s = nl < body ? body : nl + 1;
      out ??= Buffer.from(buf.subarray(start, end));
      this.digestInto(out, s - start, end - start);
    }
    return out;
  }

  /** The SQL with each of these literals (byte ranges inside their quotes) replaced by its strategy's form. */
  private literalsMasked(
    sql: string,
    literals: readonly { start: number; end: number; strategy: Strategy }[],
  ): string {
    if (literals.length === 0) return sql;
    const b = Buffer.from(sql, 'utf8');
    let out = '';
    let last = 0;
    for (const l of [...literals].sort((x, y) => x.start - y.start)) {
      if (l.start < last) continue;
      const v = b.toString('utf8', l.start, l.end);
      out += b.toString('utf8', last, l.start) + maskFreeText(v, l.strategy, this.hasher as Hasher);
      last = l.end;
    }
    return out + b.toString('utf8', last);
  }

  /** Overwrites out[s, e) with '#' and the keyed digest of what was there, as hex. */
  private digestInto(out: Buffer, s: number, e: number): void {
    const hasher = this.hasher as Hasher;
    let hex = hasher.digest(out.toString('latin1', s, e)).toString('hex');
    while (hex.length < e - s - 1) hex += hasher.digest(hex).toString('hex');
    out[s] = DIGEST_MARK;
    out.write(hex.slice(0, e - s - 1), s + 1, 'latin1');
  }

  /** A text as it is to be stored: detected values take the policy's strategy. */
  text(s: string): string {
    if (s.length === 0) return s;
    const d = this.d;
    // The byte pre-filter on a latin1 image: detector patterns are ASCII, which latin1 keeps.
    if (this.scratch.length < s.length) this.scratch = Buffer.allocUnsafe(s.length * 2);
    const n = this.scratch.write(s, 0, 'latin1');
    const mask = d.set.candidates(this.scratch, 0, n);
    if (mask === 0) return s;
    return d.maskString(s, null, false, false, mask) ?? s;
  }

  /** The statement record as it is to be stored (the same object when nothing was found). */
  statement(r: StatementRecord): StatementRecord {
    this.refresh();
    const tied = this.names === null ? null : this.names.tied(r.sql);
    // Byte ranges of whole literals first (they index the original text), then the detectors.
    const literals: { start: number; end: number; strategy: Strategy }[] = (tied?.literals ?? []).map(
      (l) => ({
        start: l.start,
        end: l.end,
        strategy: l.rule.strategy,
      }),
    );
    const d = this.d;
    for (const h of hiddenLiterals(r.sql, d.set))
      literals.push({ start: h.start, end: h.end, strategy: d.ruleOf(h.detector).strategy });
    const sql = this.text(this.literalsMasked(r.sql, literals));
    let params = r.params;
    if (params !== null) {
      const masked = params.map((p, i) => {
        if (p === null) return null;
        const rule = tied?.params.get(i + 1);
        return rule === undefined ? this.text(p) : maskFreeText(p, rule.strategy, this.hasher as Hasher);
      });
      if (masked.some((p, i) => p !== (params as (string | null)[])[i])) params = masked;
    }
    const errorMessage = r.errorMessage === null ? null : this.text(r.errorMessage);
    if (sql === r.sql && params === r.params && errorMessage === r.errorMessage) return r;
    return { ...r, sql, params, errorMessage };
  }
}

/**
 * The text fields of a client message (type byte at `start`): where a value the client typed can
 * be. A message that does not parse as its type (the relay refuses it after it is recorded) is
 * searched whole.
 */
export function textRanges(type: number, buf: Buffer, start: number, end: number): Ranges {
  const body = start + 5;
  const whole = [body, end];
  try {
    switch (type) {
      case Frontend.Query:
      case Frontend.CopyFail:
        return [body, cstrEnd(buf, body, end)];
      case Frontend.CopyData:
        return whole;
      case Frontend.Parse: {
        const nameEnd = cstrEnd(buf, body, end);
        return [body, nameEnd, nameEnd + 1, cstrEnd(buf, nameEnd + 1, end)];
      }
      case Frontend.Execute:
        return [body, cstrEnd(buf, body, end)];
      case Frontend.Describe:
      case Frontend.Close:
        return [body + 1, cstrEnd(buf, body + 1, end)];
      case Frontend.Bind: {
        const portalEnd = cstrEnd(buf, body, end);
        const stmtEnd = cstrEnd(buf, portalEnd + 1, end);
        const out = [body, portalEnd, portalEnd + 1, stmtEnd];
        let o = stmtEnd + 1;
        o += 2 + 2 * u16(buf, o, end);
        values(buf, o, end, out);
        return out;
      }
      case Frontend.FunctionCall: {
        let o = body + 4;
        o += 2 + 2 * u16(buf, o, end);
        const out: number[] = [];
        values(buf, o, end, out);
        return out;
      }
      case Frontend.Sync:
      case Frontend.Flush:
      case Frontend.Terminate:
      case Frontend.CopyDone:
        return [];
      default:
        return whole;
    }
  } catch {
    return whole;
  }
}

function cstrEnd(buf: Buffer, from: number, end: number): number {
  const z = buf.indexOf(0, from);
  if (z < 0 || z >= end) throw new RangeError('unterminated string');
  return z;
}

function u16(buf: Buffer, o: number, end: number): number {
  if (o + 2 > end) throw new RangeError('truncated');
  return buf.readUInt16BE(o);
}

/** A uint16 count then (int32 length, bytes) values: their ranges appended to `out`. */
function values(buf: Buffer, o: number, end: number, out: number[]): void {
  const n = u16(buf, o, end);
  o += 2;
  for (let i = 0; i < n; i++) {
    if (o + 4 > end) throw new RangeError('truncated');
    const len = buf.readInt32BE(o);
    o += 4;
    if (len < 0) {
      out.push(o, o); // NULL: an empty range keeps the parameters' places
      continue;
    }
    if (o + len > end) throw new RangeError('truncated');
    out.push(o, o + len);
    o += len;
  }
}
