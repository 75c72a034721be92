// Values the client types in a form the detectors cannot read in the SQL text, but the server
// reads as plain PII: escape strings (E'zoe\x40example.com'), Unicode escapes (U&'\0040'),
// concatenations of literals ('zoe' || '@' || 'example.com', chr(64)). The parser decodes them
// as the server does; the decoded value is what the detectors check, and the literal tokens
// that make it up are what the store masks (client-values.ts). Only text that could hold such a
// form (a backslash, `||`, chr, U&) is parsed: plain SQL costs one regular expression.

import type { DetectorSet } from '../masking/detectors.js';
import type { DetectorName } from '../masking/rules.js';
import {
  isObj,
  type Json,
  type JsonObject,
  list,
  parseSql,
  scanSql,
  sval,
  wrapper,
} from '../policy/parser.js';

/** A literal token's byte range (inside its quotes) and the detector its decoded value matched. */
export interface HiddenLiteral {
  start: number;
  end: number;
  detector: DetectorName;
}

const MAY_HIDE = /\\|\|\||\bchr\s*\(|\bu&'/i;

/** The literals of `sql` whose decoded value (alone or concatenated) holds a detected value. */
export function hiddenLiterals(sql: string, set: DetectorSet): HiddenLiteral[] {
  if (!MAY_HIDE.test(sql)) return [];
  let stmts: ReturnType<typeof parseSql>;
  try {
    stmts = parseSql(sql);
  } catch {
    return [];
  }
  const found: { at: number; detector: DetectorName }[] = [];
  for (const s of stmts) walk(s.stmt, set, found);
  if (found.length === 0) return [];
  let tokens: ReturnType<typeof scanSql>;
  try {
    tokens = scanSql(sql);
  } catch {
    return [];
  }
  const byStart = new Map(tokens.map((t) => [t.start, t]));
  const out: HiddenLiteral[] = [];
  for (const f of found) {
    const t = byStart.get(f.at);
    if (t === undefined) continue;
    const q = t.text.indexOf("'");
    const quoted = q >= 0 && t.text.endsWith("'") && t.text.length > q + 1;
    const s = quoted ? t.start + Buffer.byteLength(t.text.slice(0, q + 1)) : t.start;
    const e = quoted ? t.end - 1 : t.end;
    if (e > s) out.push({ start: s, end: e, detector: f.detector });
  }
  return out;
}

/** An A_Const's string, or its integer as text; null for anything else (NULL, floats, bits). */
function constText(body: JsonObject): string | null {
  if (isObj(body.sval) && typeof body.sval.sval === 'string') return body.sval.sval;
  if (isObj(body.ival)) return String(typeof body.ival.ival === 'number' ? body.ival.ival : 0);
  return null;
}

/** A piece of a concatenation: a constant, or chr(n) of an integer constant. */
function piece(v: Json | undefined): { text: string; at: number } | null {
  const w = wrapper(v);
  if (w === null) return null;
  if (w[0] === 'A_Const' && typeof w[1].location === 'number') {
    const t = constText(w[1]);
    return t === null ? null : { text: t, at: w[1].location };
  }
  if (w[0] === 'TypeCast') return piece(w[1].arg);
  if (w[0] === 'FuncCall') {
    const name = list(w[1].funcname).map(sval);
    const args = list(w[1].args);
    const a = args.length === 1 ? wrapper(args[0]) : null;
    if (name[name.length - 1] === 'chr' && a !== null && a[0] === 'A_Const' && isObj(a[1].ival)) {
      const n = typeof a[1].ival.ival === 'number' ? a[1].ival.ival : 0;
      if (typeof a[1].location === 'number' && n > 0 && n <= 0x10ffff)
        return { text: String.fromCodePoint(n), at: a[1].location };
    }
  }
  return null;
}

/** The operands of a chain of `||`, in order; null when it is not one. */
function concatenation(v: Json | undefined): Json[] | null {
  const w = wrapper(v);
  if (w === null || w[0] !== 'A_Expr' || list(w[1].name).map(sval).join('.') !== '||') return null;
  const side = (x: Json | undefined): Json[] => concatenation(x) ?? (x === undefined ? [] : [x]);
  return [...side(w[1].lexpr), ...side(w[1].rexpr)];
}

function walk(v: Json | undefined, set: DetectorSet, found: { at: number; detector: DetectorName }[]): void {
  if (Array.isArray(v)) {
    for (const x of v) walk(x, set, found);
    return;
  }
  if (v === null || typeof v !== 'object') return;
  const parts = concatenation(v);
  if (parts !== null) {
    // The pieces that are constants, joined as the server joins them (a non-constant piece
    // splits the chain: what is on either side is checked on its own).
    let run: { text: string; at: number }[] = [];
    const flush = () => {
      const d = detect(run.map((p) => p.text).join(''), set);
      if (d !== null) for (const p of run) found.push({ at: p.at, detector: d });
      run = [];
    };
    for (const p of parts) {
      const c = piece(p);
      if (c === null) {
        flush();
        walk(p, set, found);
      } else run.push(c);
    }
    flush();
    return;
  }
  const w = wrapper(v);
  if (w !== null && w[0] === 'A_Const' && typeof w[1].location === 'number') {
    const s = constText(w[1]);
    const d = s === null ? null : detect(s, set);
    if (d !== null) found.push({ at: w[1].location, detector: d });
  }
  for (const k of Object.keys(v)) walk((v as Record<string, Json>)[k], set, found);
}

function detect(text: string, set: DetectorSet): DetectorName | null {
  if (text.length === 0) return null;
  const spans = set.findIn(text);
  return spans.length > 0 ? spans[0].detector : null;
}
