// Automatic PII column classification (issue 18 item 5). A policy of detectors only masks a value
// the detectors recognise in the output; reverse(email) or replace(ssn, '-', '') is not
// recognised and passed in clear. Classifying the stored columns turns them into column rules, and
// lineage then masks every transformation of them (taint, not recognition).
//
// Two parts: classifyColumns (pure: sampled values -> detector and share per column) and
// sampleUpstream (bounded queries over the gateway's own upstream connection, through an injected
// QueryRunner: this module opens no sockets). Sampled values never leave this module: only the
// detector, the share and the counts do, and nothing here logs.

import { findSensitive, wholeValue } from './detectors.js';
import { type DetectorName, type MaskingRule, type Strategy, splitIdentifiers } from './rules.js';

/** A column is PII of a detector when at least this share of its sampled non-null values match. */
export const DEFAULT_THRESHOLD = 0.6;
/** Rows sampled per table. */
export const SAMPLE_ROWS = 200;
/** Each value is cut to this many characters before the detectors see it. */
export const VALUE_CHARS = 4096;
/** Each sampling query's statement_timeout. */
export const SAMPLE_TIMEOUT_MS = 5000;

export interface SampledColumn {
  schema: string;
  table: string;
  column: string;
  /** The sampled values as text (null for NULL). */
  values: readonly (string | null)[];
}

export interface ColumnClass {
  schema: string;
  table: string;
  column: string;
  detector: DetectorName;
  /** matched / nonNull, 0..1. */
  share: number;
  matched: number;
  /** Non-null values sampled. */
  sampled: number;
}

/** The detectors that find something in a value (whole, or inside it). */
export function detectorsIn(value: string): Set<DetectorName> {
  const out = new Set<DetectorName>();
  const whole = wholeValue(value);
  if (whole !== null) out.add(whole);
  else for (const s of findSensitive(value)) out.add(s.detector);
  return out;
}

/**
 * Column names that say a bare 9-digit number is a US SSN. The SSN detector does not take bare
 * digit runs for SSNs (order numbers and amounts would match), so a numeric SSN column
 * (`ssn bigint`, `social_security_no`, `tax_id`) is found by its name and the shape of its values
 * together: a name alone proves nothing, and the shape alone is any 9-digit id.
 */
const SSN_NAME = /(^|_)(ssn|ssns|social_?sec(urity)?(_?(no|num|number))?|tax_?id|tin|itin|sin)(_|$)/i;
const BARE_SSN = /^(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}$/;

function bareSsns(c: SampledColumn): number {
  if (!SSN_NAME.test(c.column)) return 0;
  let n = 0;
  for (const v of c.values) if (v !== null && BARE_SSN.test(v.trim())) n++;
  return n;
}

/**
 * Classifies columns from their samples: each column gets the detector that matches the largest
 * share of its non-null values, when that share reaches `threshold`. Columns with no non-null
 * value sampled are not classified (nothing to prove either way; the detectors still run on
 * their output).
 */
export function classifyColumns(
  columns: readonly SampledColumn[],
  threshold = DEFAULT_THRESHOLD,
): ColumnClass[] {
  const out: ColumnClass[] = [];
  for (const c of columns) {
    const counts = new Map<DetectorName, number>();
    let sampled = 0;
    for (const v of c.values) {
      if (v === null) continue;
      sampled++;
      for (const d of detectorsIn(v.length > VALUE_CHARS ? v.slice(0, VALUE_CHARS) : v))
        counts.set(d, (counts.get(d) ?? 0) + 1);
    }
    if (sampled === 0) continue;
    let best: DetectorName | null = null;
    let n = 0;
    for (const [d, k] of counts) if (k > n) [best, n] = [d, k];
    const bare = bareSsns(c);
    if (bare > n) [best, n] = ['ssn', bare];
    if (best === null || n / sampled < threshold) continue;
    out.push({
      schema: c.schema,
      table: c.table,
      column: c.column,
      detector: best,
      share: n / sampled,
      matched: n,
      sampled,
    });
  }
  return out;
}

/** What the operator decided about a classified column. */
export type ClassState = 'auto' | 'accepted' | 'excluded' | 'changed';

export interface ClassDecision {
  state: ClassState;
  /** With 'changed': the strategy the operator chose. */
  strategy: Strategy | null;
}

/** A column's qualified name as a rule writes it (each part quoted, so any name round-trips). */
export function columnKey(c: { schema: string; table: string; column: string }): string {
  return [c.schema, c.table, c.column].map((p) => `"${p.replace(/"/g, '""')}"`).join('.');
}

/**
 * The column rules classification adds to a policy: one `auto-<detector>` rule per detector and
 * strategy, naming the classified columns the operator did not exclude. The strategy is the
 * operator's when changed, else the one the policy's detectors use for that detector, else
 * `fallback` (partial: the built-in default's).
 */
export function autoRules(
  classes: readonly ColumnClass[],
  decisions: ReadonlyMap<string, ClassDecision>,
  policyRules: readonly MaskingRule[],
  fallback: Strategy = 'partial',
): MaskingRule[] {
  const byDetector = new Map<DetectorName, Strategy>();
  for (const r of policyRules)
    if (r.kind === 'detect') for (const d of r.detect) if (!byDetector.has(d)) byDetector.set(d, r.strategy);
  const groups = new Map<string, { detector: DetectorName; strategy: Strategy; columns: string[] }>();
  for (const c of classes) {
    const key = columnKey(c);
    const dec = decisions.get(key);
    if (dec?.state === 'excluded') continue;
    const strategy =
      dec?.state === 'changed' && dec.strategy ? dec.strategy : (byDetector.get(c.detector) ?? fallback);
    const g = `${c.detector}\0${strategy}`;
    let group = groups.get(g);
    if (group === undefined) {
      group = { detector: c.detector, strategy, columns: [] };
      groups.set(g, group);
    }
    group.columns.push(key);
  }
  const out: MaskingRule[] = [];
  for (const g of groups.values()) {
    const parsed = g.columns.map((k) => {
      const [schema, table, column] = splitIdentifiers(k) as string[];
      return { schema, table, column };
    });
    out.push({
      kind: 'columns',
      name: `auto-${g.detector}`,
      strategy: g.strategy,
      columns: g.columns,
      parsed,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sampling

/** Runs one query (simple protocol) and returns its rows as text (null for NULL). */
export type SampleRunner = (sql: string) => Promise<(string | null)[][]>;

/** A SQL identifier, always quoted. */
export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * The columns worth sampling: of user tables, partitioned tables and materialized views, those
 * whose (base) type is textual (S), numeric (N), JSON / other user-facing (U) or an array (A):
 * where the detectors' values can live. Partitions are sampled through their parent (a rule on
 * the parent covers them: see catalog.ts). Not foreign tables: scanning one runs its wrapper
 * (a remote query, or file_fdw's `program`), which the gateway must not do on its own initiative.
 */
export const COLUMNS_QUERY = `SELECT n.nspname, c.relname, a.attname
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype
WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND pg_catalog.left(n.nspname, 3) <> 'pg_'
  AND coalesce(b.typcategory, t.typcategory) IN ('S', 'N', 'U', 'A')
  AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
ORDER BY n.nspname, c.relname, a.attnum`;

/** The bounded query that samples one table's columns (each value cut to VALUE_CHARS). */
export function sampleQuery(
  schema: string,
  table: string,
  columns: readonly string[],
  rows = SAMPLE_ROWS,
): string {
  const cols = columns.map((c) => `pg_catalog.left(${quoteIdent(c)}::text, ${VALUE_CHARS})`).join(', ');
  return `SELECT ${cols} FROM ${quoteIdent(schema)}.${quoteIdent(table)} LIMIT ${rows}`;
}

/**
 * The sampling connection's settings, before every query. Read-only, bounded in time, and
 * row_security off: a table whose row-level security policies would apply errors (and is
 * skipped) instead of running them, since a policy can call any function its owner wrote, and a
 * client must not get the gateway to run code for it outside the guardrails.
 */
export function samplingSettings(timeoutMs: number): string {
  return `SET statement_timeout = ${timeoutMs}; SET lock_timeout = ${timeoutMs}; SET default_transaction_read_only = on; SET row_security = off; `;
}

export interface SampleOptions {
  rows?: number;
  timeoutMs?: number;
  /** Called for a table that could not be sampled (never with values). */
  onTableError?: (schema: string, table: string, e: Error) => void;
}

/**
 * Samples every eligible column of every user table on the upstream. The session settings make
 * the connection read-only and bound each query's time; a table that fails (a lock, a timeout, a
 * privilege) is skipped and reported through onTableError.
 */
export async function sampleUpstream(run: SampleRunner, opts: SampleOptions = {}): Promise<SampledColumn[]> {
  const timeout = Math.max(1, Math.floor(opts.timeoutMs ?? SAMPLE_TIMEOUT_MS));
  const settings = samplingSettings(timeout);
  const cols = await run(`${settings}${COLUMNS_QUERY}`);
  const tables = new Map<string, { schema: string; table: string; columns: string[] }>();
  for (const [schema, table, column] of cols) {
    if (schema === null || table === null || column === null) continue;
    const k = `${schema}\0${table}`;
    let t = tables.get(k);
    if (t === undefined) {
      t = { schema, table, columns: [] };
      tables.set(k, t);
    }
    t.columns.push(column);
  }
  const out: SampledColumn[] = [];
  for (const t of tables.values()) {
    let rows: (string | null)[][];
    try {
      // The settings again: the runner may have reconnected since.
      rows = await run(`${settings}${sampleQuery(t.schema, t.table, t.columns, opts.rows)}`);
    } catch (e) {
      opts.onTableError?.(t.schema, t.table, e as Error);
      continue;
    }
    t.columns.forEach((column, i) => {
      out.push({ schema: t.schema, table: t.table, column, values: rows.map((r) => r[i] ?? null) });
    });
  }
  return out;
}
