// JSON values: masking the leaves under given keys (lineage of row_to_json, json_build_object,
// json_agg...) and keeping JSON valid when a detector span is replaced inside a JSON text.

import type { MaskRule } from './rules.js';

export type JsonLeafKind = 'string' | 'number' | 'bool';

/**
 * Replaces a leaf: gets the rule in force, the leaf kind and its decoded value (string content,
 * number text, "true"/"false"); returns the JSON token text to write.
 */
export type JsonLeafFn = (rule: MaskRule, kind: JsonLeafKind, value: string) => string;

const MAX_DEPTH = 1000;

class Bad extends Error {}

/**
 * Masks the scalar leaves of a JSON text that sit (at any depth) under a member whose key is in
 * `keys`; the key `*` covers the whole document. Returns the new text (the same string when
 * nothing changed), or null if the text is not JSON.
 */
export function maskJsonLeaves(
  text: string,
  keys: ReadonlyMap<string, MaskRule>,
  leaf: JsonLeafFn,
): string | null {
  let i = 0;
  const n = text.length;
  let out = '';
  let last = 0;
  let changed = false;

  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const replace = (from: number, to: number, s: string) => {
    out += text.slice(last, from) + s;
    last = to;
    changed = true;
  };
  const str = (): string => {
    // at '"'
    i++;
    let v = '';
    let seg = i;
    for (;;) {
      if (i >= n) throw new Bad();
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        v += text.slice(seg, i);
        i++;
        return v;
      }
      if (c === 0x5c) {
        v += text.slice(seg, i);
        const e = text[i + 1];
        if (e === 'u') {
          const h = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(h)) throw new Bad();
          v += String.fromCharCode(Number.parseInt(h, 16));
          i += 6;
        } else {
          const m: Record<string, string> = {
            '"': '"',
            '\\': '\\',
            '/': '/',
            b: '\b',
            f: '\f',
            n: '\n',
            r: '\r',
            t: '\t',
          };
          if (e === undefined || !(e in m)) throw new Bad();
          v += m[e];
          i += 2;
        }
        seg = i;
        continue;
      }
      if (c < 0x20) throw new Bad();
      i++;
    }
  };
  const value = (rule: MaskRule | null, depth: number): void => {
    if (depth > MAX_DEPTH) throw new Bad();
    ws();
    if (i >= n) throw new Bad();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') throw new Bad();
        const key = str();
        ws();
        if (text[i] !== ':') throw new Bad();
        i++;
        value(rule ?? keys.get(key) ?? null, depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        throw new Bad();
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(rule, depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        throw new Bad();
      }
    }
    const from = i;
    if (c === '"') {
      const v = str();
      if (rule) replace(from, i, leaf(rule, 'string', v));
      return;
    }
    if (text.startsWith('true', i) || text.startsWith('false', i)) {
      const v = c === 't' ? 'true' : 'false';
      i += v.length;
      if (rule) replace(from, i, leaf(rule, 'bool', v));
      return;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return;
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) throw new Bad();
    i += m[0].length;
    if (rule) replace(from, i, leaf(rule, 'number', m[0]));
  };

  try {
    value(keys.get('*') ?? null, 0);
    ws();
    if (i !== n) return null;
  } catch (e) {
    if (e instanceof Bad) return null;
    throw e;
  }
  if (!changed) return text;
  return out + text.slice(last);
}

/**
 * For spans (sorted, non-overlapping) found in a JSON text: whether each lies inside a string
 * token. Works on any string view in which '"' and '\\' are single units (latin1 views of UTF-8
 * included).
 */
export function spansInJsonStrings(
  text: string,
  spans: readonly { start: number; end: number }[],
): boolean[] {
  const out: boolean[] = [];
  let i = 0;
  let inString = false;
  for (const s of spans) {
    while (i < s.start) {
      const c = text.charCodeAt(i);
      if (inString) {
        if (c === 0x5c) i++;
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) inString = true;
      i++;
    }
    out.push(inString);
  }
  return out;
}

/** The bounds of the JSON number token around [start, end). */
export function numberTokenBounds(text: string, start: number, end: number): [number, number] {
  const isNum = (c: string | undefined) => c !== undefined && /[-+0-9.eE]/.test(c);
  let a = start;
  let b = end;
  while (a > 0 && isNum(text[a - 1])) a--;
  while (b < text.length && isNum(text[b])) b++;
  return [a, b];
}

/** A JSON string token for `s` (ASCII-safe: non-ASCII escaped is not needed, JSON allows UTF-8). */
export function jsonString(s: string): string {
  return JSON.stringify(s);
}
