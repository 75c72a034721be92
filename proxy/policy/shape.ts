// The numeric shape of a statement: its text with every numeric literal replaced by a marker.
// Agents and drivers that inline values (pgbench, ORMs without parameters) send the same
// statement with a different number each time; texts of one shape parse to the same tree except
// for those constants' values, so whatever was derived from the tree without looking at a number's
// value (checked by the caller) holds for every text of that shape.
//
// Exactness rests on two checks, so this lexer may be simple and must only be conservative:
//   - it gives up (null) on anything it does not follow for sure: non-ASCII text, backslashes
//     (escape strings, standard_conforming_strings off), hex/octal/binary literals, junk after a
//     number;
//   - `shapeMatchesTree` compares the spans it found with the numeric constants the real parser
//     reported (location and integer/non-integer class). A span the parser saw differently (a
//     digit inside what the parser read as a string, `FETCH 5`, `-5` folded into one constant)
//     fails the check, and the caller keeps that text's analysis to itself.
// https://www.postgresql.org/docs/current/sql-syntax-lexical.html#SQL-SYNTAX-CONSTANTS-NUMERIC

import { isObj, type Json } from './parser.js';

export interface NumericShape {
  /** The text with each numeric literal replaced by NUL + 'i' (int4 range) or NUL + 'f'. */
  readonly key: string;
  /** Offset of each literal (char = byte offsets: the text is ASCII), and its class. */
  readonly starts: readonly number[];
  readonly ints: readonly boolean[];
}

const enum Ch {
  Tab = 9,
  Nl = 10,
  Cr = 13,
  Space = 32,
  Dquote = 34,
  Dollar = 36,
  Quote = 39,
  Star = 42,
  Plus = 43,
  Minus = 45,
  Dot = 46,
  Slash = 47,
  Zero = 48,
  Nine = 57,
  Under = 95,
}

const INT4_MAX = 2147483647;
const ASCII = /^[\x00-\x7f]*$/;

function isDigit(c: number): boolean {
  return c >= Ch.Zero && c <= Ch.Nine;
}

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === Ch.Under;
}

function isIdentChar(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === Ch.Dollar;
}

/** The numeric shape of `sql`, or null when it has no numeric literal or the lexer is unsure. */
export function numericShape(sql: string): NumericShape | null {
  // A statement is shaped twice on its way in, by the guardrails' cache and by the masking
  // lineage's parse cache: the second asks about the same text (the result is never mutated).
  if (sql === lastSql) return lastShape;
  lastShape = lexShape(sql);
  lastSql = sql;
  return lastShape;
}

let lastSql: string | null = null;
let lastShape: NumericShape | null = null;

function lexShape(sql: string): NumericShape | null {
  // Backslashes escape quotes in E'' strings (and in every string with standard_conforming_strings off).
  if (sql.includes('\\')) return null;
  // Locations are byte offsets; with ASCII text they are char offsets too.
  if (!ASCII.test(sql)) return null;
  const n = sql.length;
  const starts: number[] = [];
  const ints: boolean[] = [];
  let key = '';
  let copied = 0;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c === Ch.Minus && sql.charCodeAt(i + 1) === Ch.Minus) {
      const nl = sql.indexOf('\n', i);
      if (nl < 0) break;
      i = nl + 1;
      continue;
    }
    if (c === Ch.Slash && sql.charCodeAt(i + 1) === Ch.Star) {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql.charCodeAt(i) === Ch.Slash && sql.charCodeAt(i + 1) === Ch.Star) {
          depth++;
          i += 2;
        } else if (sql.charCodeAt(i) === Ch.Star && sql.charCodeAt(i + 1) === Ch.Slash) {
          depth--;
          i += 2;
        } else i++;
      }
      if (depth > 0) return null;
      continue;
    }
    if (c === Ch.Quote || c === Ch.Dquote) {
      // '' and "" are escaped quotes: the literal goes on.
      let j = i + 1;
      for (;;) {
        const q = sql.indexOf(c === Ch.Quote ? "'" : '"', j);
        if (q < 0) return null;
        if (sql.charCodeAt(q + 1) === c) j = q + 2;
        else {
          j = q + 1;
          break;
        }
      }
      i = j;
      continue;
    }
    if (c === Ch.Dollar) {
      // $n is a parameter (kept as it is); $tag$ ... $tag$ a dollar-quoted string.
      let j = i + 1;
      if (isDigit(sql.charCodeAt(j))) {
        while (isDigit(sql.charCodeAt(j))) j++;
        i = j;
        continue;
      }
      while (j < n && (isIdentStart(sql.charCodeAt(j)) || isDigit(sql.charCodeAt(j)))) j++;
      if (sql.charCodeAt(j) !== Ch.Dollar) return null;
      const tag = sql.slice(i, j + 1);
      const close = sql.indexOf(tag, j + 1);
      if (close < 0) return null;
      i = close + tag.length;
      continue;
    }
    if (isIdentStart(c)) {
      i++;
      while (i < n && isIdentChar(sql.charCodeAt(i))) i++;
      continue;
    }
    const dotNumber = c === Ch.Dot && isDigit(sql.charCodeAt(i + 1));
    if (isDigit(c) || dotNumber) {
      const start = i;
      let integer = true;
      if (c === Ch.Zero && /[xXoObB]/.test(sql[i + 1] ?? '')) return null;
      while (i < n && (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === Ch.Under)) i++;
      if (sql.charCodeAt(i) === Ch.Dot && sql.charCodeAt(i + 1) !== Ch.Dot) {
        integer = false;
        i++;
        while (i < n && (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === Ch.Under)) i++;
      }
      const e = sql.charCodeAt(i);
      if (e === 101 || e === 69) {
        let j = i + 1;
        if (sql.charCodeAt(j) === Ch.Plus || sql.charCodeAt(j) === Ch.Minus) j++;
        if (!isDigit(sql.charCodeAt(j))) return null;
        while (isDigit(sql.charCodeAt(j))) j++;
        integer = false;
        i = j;
      }
      if (i < n && isIdentChar(sql.charCodeAt(i))) return null; // trailing junk: the parser refuses it
      const digits = sql.slice(start, i);
      if (digits.includes('_') && (digits.startsWith('_') || digits.endsWith('_') || digits.includes('__')))
        return null;
      if (integer && Number(digits.replaceAll('_', '')) > INT4_MAX) integer = false;
      key += `${sql.slice(copied, start)}\u0000${integer ? 'i' : 'f'}`;
      copied = i;
      starts.push(start);
      ints.push(integer);
      continue;
    }
    i++;
  }
  if (starts.length === 0) return null;
  return { key: key + sql.slice(copied), starts, ints };
}

/** Every numeric constant in parse trees: where it starts and whether it is an integer. */
function numericConstants(v: Json | undefined, out: Map<number, boolean>, depth = 0): boolean {
  if (depth > 2000) return false;
  if (Array.isArray(v)) {
    for (const x of v) if (!numericConstants(x, out, depth + 1)) return false;
    return true;
  }
  if (!isObj(v)) return true;
  const c = v.A_Const;
  if (isObj(c) && (isObj(c.ival) || isObj(c.fval))) {
    if (typeof c.location !== 'number') return false;
    out.set(c.location, isObj(c.ival));
  }
  for (const k in v) if (!numericConstants(v[k], out, depth + 1)) return false;
  return true;
}

/**
 * Whether the parser saw exactly the lexer's numeric literals, as constants of the same class:
 * then texts of this shape differ from each other only in those constants' values.
 */
export function shapeMatchesTree(shape: NumericShape, trees: Json): boolean {
  const found = new Map<number, boolean>();
  if (!numericConstants(trees, found)) return false;
  if (found.size !== shape.starts.length) return false;
  for (let k = 0; k < shape.starts.length; k++) {
    if (found.get(shape.starts[k]) !== shape.ints[k]) return false;
  }
  return true;
}

/** Counts reads of numeric constants' values by the analysis (see AnalysisCache). */
export const numericReads = { count: 0 };
