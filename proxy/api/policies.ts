// The policies section as text, for the policy editor: read YAML into policies with every problem
// located (line and column), render policies as YAML, and describe a change (a unified diff and
// a one-line summary) for the policy_change record.

import { LineCounter, type Node, parseDocument, stringify } from 'yaml';
import type { PolicyProblem } from '../../shared/api.js';
import { locateKeyPath } from '../../shared/yaml-key-path.js';
import type { IdentityConfig } from '../config/types.js';
import { compilePolicies, type Policy, PolicyError, parsePolicy } from '../policy/policy.js';

const POLICY_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

/** What the editor starts from when no policy is configured: the built-in default, spelled out. */
export const DEFAULT_POLICIES_YAML = `# Policies by name. An identity uses \`default\` unless it names another.
# Guardrails are tried in order; each statement takes the action of the first that matches
# (allow | warn | block | review). \`- default\` stands for the built-in guardrails or detectors.
default:
  guardrails:
    - default
  masking:
    - default
  approval_timeout: 120s
`;

export interface ReadPolicies {
  /** The section as plain data (policy name -> policy as written); null when it has errors. */
  value: Record<string, unknown> | null;
  /** Compiled, when there are no errors. */
  compiled: Map<string, Policy> | null;
  problems: PolicyProblem[];
}

/**
 * Reads the policies section from YAML: syntax, then every policy with the policy validator
 * (which stops at a policy's first problem), then the identities' references to policies.
 */
export function readPolicies(text: string, identities: readonly IdentityConfig[] = []): ReadPolicies {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const problems: PolicyProblem[] = [];
  for (const e of doc.errors) {
    const [from, to] = e.linePos ?? [
      { line: 1, col: 1 },
      { line: 1, col: 2 },
    ];
    problems.push({
      message: firstLine(e.message),
      keyPath: null,
      line: from.line,
      column: from.col,
      endLine: to?.line ?? from.line,
      endColumn: to?.col ?? from.col + 1,
      severity: 'error',
      source: 'yaml',
    });
  }
  if (problems.length > 0) return { value: null, compiled: null, problems };
  const js = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const at = (keyPath: string, message: string): PolicyProblem => ({
    message,
    keyPath,
    ...locateKeyPath(doc.contents as Node | null, lc, keyPath, text, /^unknown key|duplicate/.test(message)),
    severity: 'error',
    source: 'policy',
  });
  if (js !== null && js !== undefined && (typeof js !== 'object' || Array.isArray(js))) {
    return {
      value: null,
      compiled: null,
      problems: [at('', 'must be a mapping of policy names to policies')],
    };
  }
  const value = (js ?? {}) as Record<string, unknown>;
  for (const [name, raw] of Object.entries(value)) {
    if (!POLICY_NAME.test(name)) {
      problems.push(at(name, `"${name}" is not a policy name (letters, digits, _ . -)`));
      continue;
    }
    try {
      parsePolicy(name, raw, name);
    } catch (e) {
      if (!(e instanceof PolicyError)) throw e;
      problems.push(at(e.keyPath, e.problem));
    }
  }
  for (const i of identities) {
    const uses = [i.policy, ...(i.oidc?.groups ?? []).map((g) => g.policy)];
    for (const p of uses) {
      if (p === undefined || p === 'default' || Object.hasOwn(value, p)) continue;
      problems.push({
        ...at('', `identity "${i.name}" uses policy "${p}", which this text does not define`),
        keyPath: null,
      });
    }
  }
  if (problems.length > 0) return { value: null, compiled: null, problems };
  return { value, compiled: compilePolicies(value), problems };
}

/** Where a key path ("default.masking[0].columns[1]") is in a policies text. */
export function keyPathLocator(
  text: string,
): (keyPath: string) => Pick<PolicyProblem, 'line' | 'column' | 'endLine' | 'endColumn'> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  return (keyPath) => locateKeyPath(doc.contents as Node | null, lc, keyPath, text);
}

/** The policies as YAML (no comments: what the config holds). */
export function policiesToYaml(value: Record<string, unknown>): string {
  if (Object.keys(value).length === 0) return DEFAULT_POLICIES_YAML;
  return stringify(value, { lineWidth: 0 });
}

/** The message without the context lines and position that `yaml` adds (the editor shows where). */
function firstLine(s: string): string {
  return s
    .split('\n')[0]
    .trim()
    .replace(/ at line \d+, column \d+:?$/, '');
}

/** A unified diff (3 lines of context) of two texts, or '' when they are the same. */
export function unifiedDiff(before: string, after: string, names = ['before', 'after']): string {
  if (before === after) return '';
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = diffLines(a, b);
  const out = [`--- ${names[0]}`, `+++ ${names[1]}`];
  const CONTEXT = 3;
  let i = 0;
  while (i < ops.length) {
    if (ops[i].op === ' ') {
      i++;
      continue;
    }
    // A hunk: from CONTEXT lines before the change to CONTEXT lines after the last nearby change.
    let start = i;
    while (start > 0 && i - start < CONTEXT && ops[start - 1].op === ' ') start--;
    // Changes closer than twice the context share a hunk.
    let end = i;
    let lastChange = i;
    while (end < ops.length) {
      if (ops[end].op !== ' ') lastChange = end;
      else if (end - lastChange > CONTEXT * 2) break;
      end++;
    }
    end = Math.min(ops.length, lastChange + 1 + CONTEXT);
    const hunk = ops.slice(start, end);
    const aStart = hunk[0].a;
    const bStart = hunk[0].b;
    const aLen = hunk.filter((o) => o.op !== '+').length;
    const bLen = hunk.filter((o) => o.op !== '-').length;
    out.push(`@@ -${aLen ? aStart + 1 : aStart},${aLen} +${bLen ? bStart + 1 : bStart},${bLen} @@`);
    for (const o of hunk) out.push(`${o.op}${o.text}`);
    i = end;
  }
  return `${out.join('\n')}\n`;
}

function splitLines(s: string): string[] {
  const lines = s.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

interface DiffOp {
  op: ' ' | '-' | '+';
  text: string;
  /** Index of the line in the old (a) and new (b) text where this op stands. */
  a: number;
  b: number;
}

/** Line diff by longest common subsequence (policies are short; large inputs degrade to replace-all). */
function diffLines(a: string[], b: string[]): DiffOp[] {
  // Common head and tail first: most edits touch a few lines.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const ops: DiffOp[] = [];
  for (let k = 0; k < head; k++) ops.push({ op: ' ', text: a[k], a: k, b: k });
  if (am.length * bm.length > 4_000_000) {
    for (let k = 0; k < am.length; k++) ops.push({ op: '-', text: am[k], a: head + k, b: head });
    for (let k = 0; k < bm.length; k++) ops.push({ op: '+', text: bm[k], a: head + am.length, b: head + k });
  } else {
    const n = am.length;
    const m = bm.length;
    const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let x = n - 1; x >= 0; x--) {
      for (let y = m - 1; y >= 0; y--) {
        lcs[x][y] = am[x] === bm[y] ? lcs[x + 1][y + 1] + 1 : Math.max(lcs[x + 1][y], lcs[x][y + 1]);
      }
    }
    let x = 0;
    let y = 0;
    while (x < n || y < m) {
      if (x < n && y < m && am[x] === bm[y]) {
        ops.push({ op: ' ', text: am[x], a: head + x, b: head + y });
        x++;
        y++;
      } else if (x < n && (y === m || lcs[x + 1][y] >= lcs[x][y + 1])) {
        // Deletions before additions, as diff(1) prints them.
        ops.push({ op: '-', text: am[x], a: head + x, b: head + y });
        x++;
      } else {
        ops.push({ op: '+', text: bm[y], a: head + x, b: head + y });
        y++;
      }
    }
  }
  for (let k = 0; k < tail; k++) {
    const ai = a.length - tail + k;
    const bi = b.length - tail + k;
    ops.push({ op: ' ', text: a[ai], a: ai, b: bi });
  }
  return ops;
}

/** "added strict; changed default; removed legacy" (or "no change to the policies"). */
export function changeSummary(before: Record<string, unknown>, after: Record<string, unknown>): string {
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  const added = Object.keys(after).filter((k) => !Object.hasOwn(before, k));
  const removed = Object.keys(before).filter((k) => !Object.hasOwn(after, k));
  const changed = Object.keys(after).filter((k) => Object.hasOwn(before, k) && !same(before[k], after[k]));
  const parts: string[] = [];
  if (changed.length) parts.push(`changed ${changed.join(', ')}`);
  if (added.length) parts.push(`added ${added.join(', ')}`);
  if (removed.length) parts.push(`removed ${removed.join(', ')}`);
  return parts.length ? parts.join('; ') : 'no change to the policies (text only)';
}
