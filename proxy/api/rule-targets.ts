// The policy editor checks each masking rule's columns against the live catalog of every
// connection (issue 18): a misspelled `public.cusomers.emial` used to save as valid and mask
// nothing. A column that exists in none of the databases is a warning at its place in the YAML
// (the Monaco editor shows it as a marker); a column the gateway follows under a new name (bound
// by OID, catalog.ts) says so. Warnings, not errors: a rule may be written before its table
// exists, and a database that cannot be reached right now is not a reason to refuse a save.

import type { PolicyProblem } from '../../shared/api.js';
import { type QueryRunner, sqlLiteral } from '../masking/catalog.js';
import { type ColumnName, columnKey } from '../masking/rules.js';
import type { Policy } from '../policy/policy.js';

/** One connection's database, as the check sees it. */
export interface RuleTargetSource {
  connection: string;
  run: QueryRunner;
  /** Where the live masking catalog binds a configured column now (its current names). */
  boundTo(c: ColumnName): string[];
}

/** A column rule's column, where it is in the policies text. */
interface Target {
  keyPath: string;
  column: ColumnName;
  written: string;
}

const TIMEOUT_MS = 3000;

function existsQuery(cols: readonly ColumnName[]): string {
  const rows = cols.map(
    (c, i) =>
      `(${i}, ${c.schema === null ? 'NULL::text' : sqlLiteral(c.schema)}, ${sqlLiteral(c.table)}, ${sqlLiteral(c.column)})`,
  );
  return `SELECT v.i, EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relname = v.t AND (v.s IS NULL OR n.nspname = v.s) AND a.attname = v.c
    AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))
FROM (VALUES ${rows.join(', ')}) v(i, s, t, c)`;
}

function withTimeout<T>(p: Promise<T>): Promise<T | null> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), TIMEOUT_MS);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      () => {
        clearTimeout(t);
        resolve(null);
      },
    );
  });
}

function targets(policies: ReadonlyMap<string, Policy>): Target[] {
  const out: Target[] = [];
  for (const [name, p] of policies) {
    if (p.builtin) continue;
    p.masking.forEach((r, i) => {
      if (r.kind !== 'columns') return;
      r.parsed.forEach((column, j) => {
        out.push({ keyPath: `${name}.masking[${i}].columns[${j}]`, column, written: r.columns[j] ?? '' });
      });
    });
  }
  return out;
}

/**
 * Warnings for the column rules that name no column of any connection's database (checked on
 * those that answer within a few seconds), located by `locate(keyPath)`.
 */
export async function ruleTargetWarnings(
  policies: ReadonlyMap<string, Policy>,
  sources: readonly RuleTargetSource[],
  locate: (keyPath: string) => Pick<PolicyProblem, 'line' | 'column' | 'endLine' | 'endColumn'>,
): Promise<PolicyProblem[]> {
  const all = targets(policies);
  if (all.length === 0 || sources.length === 0) return [];
  const unique = new Map<string, ColumnName>();
  for (const t of all) unique.set(columnKey(t.column), t.column);
  const cols = [...unique.values()];
  const found = new Set<string>();
  const checked: string[] = [];
  const renamed = new Map<string, string[]>();
  await Promise.all(
    sources.map(async (s) => {
      const rows = await withTimeout(s.run(existsQuery(cols)));
      if (rows === null) return;
      checked.push(s.connection);
      for (const r of rows) if (r[1] === 't') found.add(columnKey(cols[Number(r[0])]));
      for (const c of cols) {
        const now = s.boundTo(c).filter((x) => x !== `${c.schema}.${c.table}.${c.column}`);
        if (now.length > 0) renamed.set(columnKey(c), [...(renamed.get(columnKey(c)) ?? []), ...now]);
      }
    }),
  );
  if (checked.length === 0) return [];
  checked.sort();
  const where = checked.length === 1 ? `connection "${checked[0]}"` : `connections ${checked.join(', ')}`;
  const out: PolicyProblem[] = [];
  for (const t of all) {
    const k = columnKey(t.column);
    if (found.has(k)) continue;
    const now = renamed.get(k);
    const message = now
      ? `column ${t.written} was renamed to ${[...new Set(now)].join(', ')}: still masked (the rule follows the column), but write the new name here`
      : `no column ${t.written} in the database of ${where}: this rule masks nothing there (misspelled, dropped, or not created yet?)`;
    out.push({ message, keyPath: t.keyPath, ...locate(t.keyPath), severity: 'warning', source: 'policy' });
  }
  return out;
}
