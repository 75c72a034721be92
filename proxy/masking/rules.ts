// The `masking` section of a policy (CONTRACT.md "Config file" -> policies.<name>.masking):
// an ordered list of rules, each either a set of columns or a set of value detectors, and the
// strategy that rewrites what they cover. Validation lives here (policy.ts calls it) so that the
// masking engine and the config agree on one shape. Pure; no dependencies.

export const STRATEGIES = ['redact', 'partial', 'hash', 'null'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export const DETECTORS = ['email', 'credit_card', 'ssn', 'phone', 'iban', 'jwt', 'api_key'] as const;
export type DetectorName = (typeof DETECTORS)[number];

/** What applies to a value: the rule's name (for the per-statement counts) and its strategy. */
export interface MaskRule {
  readonly name: string;
  readonly strategy: Strategy;
}

/** A column a rule names: `schema.table.column`, or `table.column` = that table in any schema. */
export interface ColumnName {
  schema: string | null;
  table: string;
  column: string;
}

export interface ColumnMaskingRule extends MaskRule {
  readonly kind: 'columns';
  /** As written (`public.customers.email`). */
  readonly columns: readonly string[];
  readonly parsed: readonly ColumnName[];
}

export interface DetectMaskingRule extends MaskRule {
  readonly kind: 'detect';
  readonly detect: readonly DetectorName[];
}

export type MaskingRule = ColumnMaskingRule | DetectMaskingRule;

/** The built-in detectors (CONTRACT.md "Built-in default policy"): used when `masking` is omitted. */
export const DEFAULT_DETECTOR_RULE: DetectMaskingRule = Object.freeze({
  kind: 'detect',
  name: 'detectors',
  detect: Object.freeze(['email', 'credit_card', 'ssn', 'phone'] as DetectorName[]),
  strategy: 'partial',
}) as DetectMaskingRule;

export const DEFAULT_MASKING_RULES: readonly MaskingRule[] = Object.freeze([DEFAULT_DETECTOR_RULE]);

/** How much a strategy hides: null > redact > hash > partial. */
export const STRICTNESS: Readonly<Record<Strategy, number>> = Object.freeze({
  partial: 0,
  hash: 1,
  redact: 2,
  null: 3,
});

/** The stricter of two rules (the first on a tie); null = no rule. */
export function stricter<T extends MaskRule | null>(a: T, b: T): T {
  if (a === null) return b;
  if (b === null) return a;
  return STRICTNESS[b.strategy] > STRICTNESS[a.strategy] ? b : a;
}

/** A config error at a key path ("policies.default.masking[0].strategy"). */
export class MaskingConfigError extends Error {
  constructor(
    readonly keyPath: string,
    readonly problem: string,
  ) {
    super(`${keyPath}: ${problem}`);
  }
}

/**
 * Splits a dotted SQL name into identifiers: unquoted parts fold to lower case (as PostgreSQL
 * folds them), "double-quoted" parts are taken as written ("" is a quote). null if malformed.
 */
export function splitIdentifiers(text: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  const s = text.trim();
  if (s === '') return null;
  for (;;) {
    let part = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) return null;
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += s[i++];
      }
      if (part === '') return null;
    } else {
      const start = i;
      while (i < s.length && s[i] !== '.' && s[i] !== '"') i++;
      part = s.slice(start, i).trim().toLowerCase();
      if (part === '' || /\s/.test(part)) return null;
    }
    out.push(part);
    if (i >= s.length) return out;
    if (s[i] !== '.') return null;
    i++;
  }
}

/** `schema.table.column` or `table.column` -> ColumnName; null if malformed. */
export function parseColumnName(text: string): ColumnName | null {
  const parts = splitIdentifiers(text);
  if (parts === null) return null;
  if (parts.length === 3) return { schema: parts[0], table: parts[1], column: parts[2] };
  if (parts.length === 2) return { schema: null, table: parts[0], column: parts[1] };
  return null;
}

type Raw = Record<string, unknown>;
const isMap = (v: unknown): v is Raw => v !== null && typeof v === 'object' && !Array.isArray(v);
const RULE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

function listOf(v: unknown, kp: string): string[] {
  const items = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(items) || items.length === 0)
    throw new MaskingConfigError(kp, 'must be a name or a non-empty list of names');
  return items.map((x, i) => {
    if (typeof x !== 'string' || x.trim() === '')
      throw new MaskingConfigError(`${kp}[${i}]`, 'must be a non-empty string');
    return x.trim();
  });
}

/**
 * Validates a policy's `masking` section. undefined / null = the built-in detectors; an empty
 * list = no masking. A list item may be the word `default` (the built-in detector rule, spliced
 * in at that place). Each rule: `{name, columns: [...], strategy}` or `{name, detect: [...],
 * strategy}`; strategy defaults to `redact` for columns and `partial` for detectors.
 * Throws MaskingConfigError naming the key path.
 */
export function parseMaskingRules(raw: unknown, keyPath: string): MaskingRule[] {
  if (raw === undefined || raw === null) return [...DEFAULT_MASKING_RULES];
  if (!Array.isArray(raw)) throw new MaskingConfigError(keyPath, 'must be a list of masking rules');
  const out: MaskingRule[] = [];
  const seen = new Map<string, string>();
  const add = (r: MaskingRule, at: string) => {
    const prev = seen.get(r.name);
    if (prev !== undefined)
      throw new MaskingConfigError(`${at}.name`, `duplicate masking rule name "${r.name}" (also ${prev})`);
    seen.set(r.name, at);
    out.push(r);
  };
  raw.forEach((item, i) => {
    const ikp = `${keyPath}[${i}]`;
    if (item === 'default') {
      add(DEFAULT_DETECTOR_RULE, ikp);
      return;
    }
    if (!isMap(item))
      throw new MaskingConfigError(ikp, 'must be a mapping with name, columns or detect, and strategy');
    for (const k of Object.keys(item)) {
      if (!['name', 'columns', 'detect', 'strategy'].includes(k))
        throw new MaskingConfigError(
          `${ikp}.${k}`,
          'unknown key (expected one of: name, columns, detect, strategy)',
        );
    }
    if (typeof item.name !== 'string' || !RULE_NAME.test(item.name)) {
      throw new MaskingConfigError(
        `${ikp}.name`,
        item.name === undefined ? 'is required' : 'must be a name (letters, digits, _ . -)',
      );
    }
    const hasColumns = item.columns !== undefined;
    const hasDetect = item.detect !== undefined;
    if (hasColumns === hasDetect)
      throw new MaskingConfigError(
        ikp,
        'needs exactly one of columns (a list of schema.table.column) or detect',
      );
    let strategy: Strategy = hasColumns ? 'redact' : 'partial';
    if (item.strategy !== undefined) {
      if (typeof item.strategy !== 'string' || !(STRATEGIES as readonly string[]).includes(item.strategy)) {
        throw new MaskingConfigError(
          `${ikp}.strategy`,
          `${JSON.stringify(item.strategy)} is not a strategy (expected one of: ${STRATEGIES.join(', ')})`,
        );
      }
      strategy = item.strategy as Strategy;
    }
    if (hasColumns) {
      const columns = listOf(item.columns, `${ikp}.columns`);
      const parsed = columns.map((c, j) => {
        const p = parseColumnName(c);
        if (p === null)
          throw new MaskingConfigError(
            `${ikp}.columns[${j}]`,
            `${JSON.stringify(c)} is not a column name (expected schema.table.column)`,
          );
        return p;
      });
      add({ kind: 'columns', name: item.name, columns, parsed, strategy }, ikp);
    } else {
      const detect = listOf(item.detect, `${ikp}.detect`).map((d, j) => {
        const n = d.toLowerCase();
        if (!(DETECTORS as readonly string[]).includes(n))
          throw new MaskingConfigError(
            `${ikp}.detect[${j}]`,
            `${JSON.stringify(d)} is not a detector (expected one of: ${DETECTORS.join(', ')})`,
          );
        return n as DetectorName;
      });
      add({ kind: 'detect', name: item.name, detect: [...new Set(detect)], strategy }, ikp);
    }
  });
  return out;
}

/** `schema.table.column` (no quoting) of a parsed column name; `*.table.column` without schema. */
export function columnKey(c: ColumnName): string {
  return `${c.schema ?? '*'}.${c.table}.${c.column}`;
}
