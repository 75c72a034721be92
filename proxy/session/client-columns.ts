// Values the client types that are PII because of the column they meet, not their shape
// (`WHERE secret = 'abc'`, `INSERT INTO customers (secret) VALUES ($1)`, `UPDATE ... SET secret =
// 'abc'`): the literals and parameters a statement compares with, inserts into or assigns to a
// column some column rule masks. Used only for what the store keeps (client-values.ts).
//
// A column is known by its name alone (in any expression on the other side of a comparison): any table's `secret` counts when a rule names some
// table's `secret` column. That over-masks what the store keeps (never what runs) and needs no
// catalog: aliases, search_path and renames cannot hide a value from it. Every literal and
// parameter anywhere inside the expression on the other side counts (`secret = 'ab' || 'c'`).

import type { CompiledMasking } from '../masking/compile.js';
import { type MaskRule, stricter } from '../masking/rules.js';
import { type Json, list, parseSql, scanSql, wrapper } from '../policy/parser.js';

/** Where a statement's column-tied values are: literal byte ranges (inside the quotes) and $n. */
export interface TiedValues {
  literals: { start: number; end: number; rule: MaskRule }[];
  params: Map<number, MaskRule>;
}

/** The masked column names of a policy with the strictest rule naming each; null when none. */
export class MaskedColumnNames {
  private readonly rules = new Map<string, MaskRule>();
  private readonly mention: RegExp;

  private constructor(masking: CompiledMasking) {
    for (const r of masking.rules) {
      if (r.kind !== 'columns') continue;
      for (const c of r.parsed)
        this.rules.set(c.column, stricter(this.rules.get(c.column) ?? null, r as MaskRule) as MaskRule);
    }
    const esc = [...this.rules.keys()].map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.mention = new RegExp(esc.join('|'), 'i');
  }

  static of(masking: CompiledMasking): MaskedColumnNames | null {
    return masking.rules.some((r) => r.kind === 'columns') ? new MaskedColumnNames(masking) : null;
  }

  /**
   * The values of `sql` tied to a masked column; null when the text names none of them (the
   * cheap check that keeps the parser off the relay's path) or does not parse.
   */
  tied(sql: string): TiedValues | null {
    if (!this.mention.test(sql)) return null;
    let stmts: ReturnType<typeof parseSql>;
    try {
      stmts = parseSql(sql);
    } catch {
      return null;
    }
    const found: { at: number; rule: MaskRule }[] = [];
    const params = new Map<number, MaskRule>();
    const take = (v: Json | undefined, rule: MaskRule) => collect(v, rule, found, params);
    for (const s of stmts) walk(s.stmt, this.rules, take);
    if (found.length === 0 && params.size === 0) return { literals: [], params };
    return { literals: literalRanges(sql, found), params };
  }
}

/**
 * The strictest rule of a masked column referenced anywhere in an expression (`secret`,
 * `c.secret::text`, `lower(secret)`, `substr(secret, 1, 3)`: a value compared with any function
 * of the column can reveal it), else null.
 */
function columnRule(v: Json | undefined, rules: ReadonlyMap<string, MaskRule>): MaskRule | null {
  if (Array.isArray(v)) {
    let best: MaskRule | null = null;
    for (const x of v) best = stricter(best, columnRule(x, rules));
    return best;
  }
  if (v === null || typeof v !== 'object') return null;
  const w = wrapper(v);
  let best: MaskRule | null = null;
  if (w !== null && w[0] === 'ColumnRef') {
    const fields = list(w[1].fields);
    const last = wrapper(fields[fields.length - 1]);
    if (last !== null && last[0] === 'String' && typeof last[1].sval === 'string')
      best = rules.get(last[1].sval) ?? null;
  }
  for (const k of Object.keys(v)) best = stricter(best, columnRule((v as Record<string, Json>)[k], rules));
  return best;
}

/** Every node of the tree: comparisons, INSERT column lists and SET targets tie their values. */
function walk(
  v: Json | undefined,
  rules: ReadonlyMap<string, MaskRule>,
  take: (v: Json | undefined, rule: MaskRule) => void,
): void {
  if (Array.isArray(v)) {
    for (const x of v) walk(x, rules, take);
    return;
  }
  if (v === null || typeof v !== 'object') return;
  const w = wrapper(v);
  if (w !== null) {
    const [type, body] = w;
    if (type === 'A_Expr') {
      const l = columnRule(body.lexpr, rules);
      if (l !== null) take(body.rexpr, l);
      const r = columnRule(body.rexpr, rules);
      if (r !== null) take(body.lexpr, r);
    } else if (type === 'InsertStmt') {
      const cols = list(body.cols).map((c) => {
        const t = wrapper(c);
        return t !== null && typeof t[1].name === 'string' ? (rules.get(t[1].name) ?? null) : null;
      });
      const sel = wrapper(body.selectStmt);
      if (sel !== null && cols.some((c) => c !== null)) {
        for (const row of list(sel[1].valuesLists)) {
          list(row).forEach((item, i) => {
            const rule = cols[i];
            if (rule) take(item, rule);
          });
        }
      }
    } else if (type === 'ResTarget' && typeof body.name === 'string') {
      // UPDATE ... SET col = value (and ON CONFLICT DO UPDATE, MERGE ... UPDATE SET).
      const rule = rules.get(body.name);
      if (rule !== undefined && body.val !== undefined) take(body.val, rule);
    }
  }
  for (const k of Object.keys(v)) walk((v as Record<string, Json>)[k], rules, take);
}

/** Every literal and parameter inside an expression. */
function collect(
  v: Json | undefined,
  rule: MaskRule,
  found: { at: number; rule: MaskRule }[],
  params: Map<number, MaskRule>,
): void {
  if (Array.isArray(v)) {
    for (const x of v) collect(x, rule, found, params);
    return;
  }
  if (v === null || typeof v !== 'object') return;
  const w = wrapper(v);
  if (w !== null && w[0] === 'A_Const' && typeof w[1].location === 'number' && w[1].isnull !== true)
    found.push({ at: w[1].location, rule });
  else if (w !== null && w[0] === 'ParamRef' && typeof w[1].number === 'number')
    params.set(w[1].number, stricter(params.get(w[1].number) ?? null, rule) as MaskRule);
  for (const k of Object.keys(v)) collect((v as Record<string, Json>)[k], rule, found, params);
}

/** The byte ranges of the literal tokens at `found` (inside the quotes for a string constant). */
function literalRanges(sql: string, found: { at: number; rule: MaskRule }[]): TiedValues['literals'] {
  let tokens: ReturnType<typeof scanSql>;
  try {
    tokens = scanSql(sql);
  } catch {
    return [];
  }
  const byStart = new Map(tokens.map((t) => [t.start, t]));
  const out: TiedValues['literals'] = [];
  for (const f of found) {
    const t = byStart.get(f.at);
    if (t === undefined) continue;
    let s = t.start;
    let e = t.end;
    const q = t.text.indexOf("'");
    if (q >= 0 && t.text.endsWith("'") && t.text.length > q + 1) {
      s += Buffer.byteLength(t.text.slice(0, q + 1));
      e -= 1;
    }
    if (e > s) out.push({ start: s, end: e, rule: f.rule });
  }
  return out;
}
