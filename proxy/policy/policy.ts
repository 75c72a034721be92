// Policies (CONTRACT.md "Config file" -> policies) and decisions. A policy is an ordered list of
// guardrails; each unit of a statement takes the action of the first guardrail that matches it,
// a statement the strictest action of its units, a simple Query the strictest of its statements
// (block > review > warn > allow). `read_only: true` blocks every write before any guardrail is
// consulted. Units that cannot be analysed (`unknown`, `unparseable`) are blocked unless a
// guardrail matches them explicitly: fail closed.

import {
  DEFAULT_MASKING_RULES,
  MaskingConfigError,
  type MaskingRule,
  parseMaskingRules,
} from '../masking/rules.js';
import {
  GlobList,
  mayWrite,
  NamePatterns,
  SERVER_FILE_RELATIONS,
  SERVER_FUNCTION_PATTERNS,
} from './functions.js';
import type { PreparedLookup } from './prepared.js';
import { readOnlyRefusal, readOnlyTextRefusal } from './read-only.js';
import type { CallSnapshot } from './resolution.js';
import {
  type Action,
  type Analysis,
  type CopyTarget,
  type QueryDecision,
  STATEMENT_KINDS,
  type StatementAnalysis,
  type StatementDecision,
  type StatementKind,
  type Unit,
  type Verdict,
} from './types.js';

export const ACTIONS: readonly Action[] = ['allow', 'warn', 'block', 'review'];
const RANK: Record<Action, number> = { allow: 0, warn: 1, review: 2, block: 3 };
const COPY_TARGETS: readonly CopyTarget[] = ['client', 'file', 'program'];

export interface RuleMatch {
  kind?: StatementKind[];
  /** Relation name globs ("public.customers", "audit_*", "customers"). */
  relation?: string[];
  where?: 'absent' | 'present';
  /** Function name globs ("pg_read_file", "pg_catalog.pg_ls_*", "dblink*"). */
  function?: string[];
  /** Identity name globs. */
  identity?: string[];
  copy?: CopyTarget[];
  writes?: boolean;
}

export interface Rule {
  name: string;
  match: RuleMatch;
  action: Action;
  /** Shown to the client and approvers after what the statement does. */
  reason: string | null;
}

export interface Policy {
  name: string;
  readOnly: boolean;
  /** With `readOnly`: functions (globs) known not to write besides the built-ins. */
  readOnlyFunctions: string[];
  guardrails: Rule[];
  /** How long a held statement waits for a decision. */
  approvalTimeoutMs: number;
  /** The validated `masking` rules (omitted = the built-in detectors; an empty list = none). */
  masking: readonly MaskingRule[];
  /**
   * Automatic column classification (masking/classify.ts) adds `auto-<detector>` column rules for
   * the columns found to hold PII. Default: on when `masking` is omitted (the built-in
   * detectors), off for a policy with its own `masking` list unless it says `classify: true`.
   */
  classify: boolean;
  /** True for the built-in default policy. */
  builtin: boolean;
}

/** A policy error, with the config key path at fault ("policies.default.guardrails[1].action"). */
export class PolicyError extends Error {
  constructor(
    readonly keyPath: string,
    readonly problem: string,
  ) {
    super(`${keyPath}: ${problem}`);
  }
}

export const DEFAULT_APPROVAL_TIMEOUT_MS = 120_000;

/** The built-in guardrails (CONTRACT.md "Built-in default policy"), strictest first. */
export const DEFAULT_GUARDRAILS: readonly Rule[] = Object.freeze([
  {
    name: 'unparseable',
    match: { kind: ['unparseable'] },
    action: 'block',
    reason: 'the statement cannot be parsed (fail closed)',
  },
  {
    name: 'no-drop',
    match: { kind: ['drop', 'truncate'] },
    action: 'block',
    reason: 'DROP and TRUNCATE are not allowed',
  },
  {
    name: 'no-alter-system',
    match: { kind: ['alter_system'] },
    action: 'block',
    reason: 'ALTER SYSTEM is not allowed',
  },
  {
    name: 'no-role-changes',
    match: { kind: ['role', 'grant', 'revoke', 'privilege', 'set_role', 'set_session_authorization'] },
    action: 'block',
    reason: 'role and privilege changes are not allowed',
  },
  {
    // UPDATE pg_settings is set_config() in disguise (e.g. name = 'role'): the same as SET ROLE.
    name: 'no-settings-writes',
    match: { kind: ['update', 'insert', 'delete', 'merge'], relation: ['pg_catalog.pg_settings'] },
    action: 'block',
    reason: 'writing pg_settings changes session settings such as role',
  },
  {
    name: 'no-server-programs-or-files',
    match: { copy: ['program', 'file'] },
    action: 'block',
    reason: 'running server programs and reading or writing server files is not allowed',
  },
  {
    name: 'no-load',
    match: { kind: ['load'] },
    action: 'block',
    reason: 'loading server libraries is not allowed',
  },
  {
    name: 'no-server-functions',
    match: { function: [...SERVER_FUNCTION_PATTERNS] },
    action: 'block',
    reason: 'server file and process functions are not allowed',
  },
  {
    // The views over pg_hba.conf, pg_ident.conf and postgresql.conf (and pg_config's build paths):
    // the same server files the functions above read.
    name: 'no-server-file-views',
    match: { relation: [...SERVER_FILE_RELATIONS] },
    action: 'block',
    reason: "views of the server's configuration files are not allowed",
  },
  {
    name: 'no-safeguard-settings',
    match: { kind: ['safeguard_setting'] },
    action: 'block',
    reason:
      "switching off the server's safeguards or its logging (session_replication_role, log_*, ...) is not allowed",
  },
  {
    name: 'no-builtin-overrides',
    match: { kind: ['builtin_override'] },
    action: 'block',
    reason:
      'renaming, replacing, moving or shadowing built-ins, or writing the system catalogs, is not allowed',
  },
  {
    name: 'no-dynamic-sql',
    match: { kind: ['unknown'] },
    action: 'block',
    reason: 'what it runs cannot be known in advance (fail closed)',
  },
  {
    name: 'unbounded-writes',
    match: { kind: ['delete', 'update'], where: 'absent' },
    action: 'review',
    reason: 'DELETE and UPDATE without a real WHERE clause need approval',
  },
  {
    name: 'review-extensions',
    match: { kind: ['create_extension'] },
    action: 'review',
    reason: 'installing an extension needs approval',
  },
] satisfies Rule[]);

export const DEFAULT_POLICY: Policy = Object.freeze({
  name: 'default',
  readOnly: false,
  readOnlyFunctions: [],
  guardrails: [...DEFAULT_GUARDRAILS],
  approvalTimeoutMs: DEFAULT_APPROVAL_TIMEOUT_MS,
  masking: DEFAULT_MASKING_RULES,
  classify: true,
  builtin: true,
});

// ---------------------------------------------------------------------------------------------
// Validation

type Raw = Record<string, unknown>;

function isMap(v: unknown): v is Raw {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function onlyKeys(obj: Raw, allowed: readonly string[], kp: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k))
      throw new PolicyError(`${kp}.${k}`, `unknown key (expected one of: ${allowed.join(', ')})`);
  }
}

/** A string or a list of strings -> list. */
function stringList(v: unknown, kp: string): string[] {
  const items = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(items) || items.length === 0)
    throw new PolicyError(kp, 'must be a name or a non-empty list of names');
  return items.map((x, i) => {
    if (typeof x !== 'string' || x.trim() === '')
      throw new PolicyError(`${kp}[${i}]`, 'must be a non-empty string');
    return x.trim();
  });
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], kp: string, what: string): T {
  if (typeof v !== 'string' || !allowed.includes(v as T)) {
    throw new PolicyError(kp, `${JSON.stringify(v)} is not ${what} (expected one of: ${allowed.join(', ')})`);
  }
  return v as T;
}

/** "120s", "5m", "500ms", "1h", or a number of seconds -> milliseconds. */
export function parseDurationMs(v: unknown, kp: string): number {
  let ms: number | null = null;
  if (typeof v === 'number' && Number.isFinite(v)) ms = v * 1000;
  else if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
    const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
    if (m) ms = Number(m[1]) * units[m[2] ?? 's'];
  }
  if (ms === null) throw new PolicyError(kp, `expected a duration such as 120s, got ${JSON.stringify(v)}`);
  if (ms <= 0) throw new PolicyError(kp, 'must be longer than 0');
  return Math.round(ms);
}

function parseMatch(raw: unknown, kp: string): RuleMatch {
  if (!isMap(raw)) throw new PolicyError(kp, 'must be a mapping');
  onlyKeys(raw, ['kind', 'relation', 'where', 'function', 'identity', 'copy', 'writes'], kp);
  const m: RuleMatch = {};
  if (raw.kind !== undefined) {
    m.kind = stringList(raw.kind, `${kp}.kind`).map((k, i) =>
      oneOf(k.toLowerCase(), STATEMENT_KINDS, `${kp}.kind[${i}]`, 'a statement kind'),
    );
  }
  if (raw.relation !== undefined) m.relation = stringList(raw.relation, `${kp}.relation`);
  if (raw.function !== undefined) m.function = stringList(raw.function, `${kp}.function`);
  if (raw.identity !== undefined) m.identity = stringList(raw.identity, `${kp}.identity`);
  if (raw.where !== undefined)
    m.where = oneOf(raw.where, ['absent', 'present'] as const, `${kp}.where`, 'a where condition');
  if (raw.copy !== undefined) {
    m.copy = stringList(raw.copy, `${kp}.copy`).map((c, i) =>
      oneOf(c, COPY_TARGETS, `${kp}.copy[${i}]`, 'a COPY target'),
    );
  }
  if (raw.writes !== undefined) {
    if (typeof raw.writes !== 'boolean') throw new PolicyError(`${kp}.writes`, 'must be true or false');
    m.writes = raw.writes;
  }
  return m;
}

const RULE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

function parseGuardrails(raw: unknown, kp: string): Rule[] {
  if (!Array.isArray(raw)) throw new PolicyError(kp, 'must be a list of guardrails');
  const rules: Rule[] = [];
  const seen = new Map<string, string>();
  const add = (r: Rule, at: string) => {
    const prev = seen.get(r.name);
    if (prev !== undefined)
      throw new PolicyError(`${at}`, `duplicate guardrail name "${r.name}" (also ${prev})`);
    seen.set(r.name, at);
    rules.push(r);
  };
  raw.forEach((item, i) => {
    const ikp = `${kp}[${i}]`;
    // `- default` splices in the built-in guardrails at this place.
    if (item === 'default') {
      for (const r of DEFAULT_GUARDRAILS) add(r, ikp);
      return;
    }
    if (!isMap(item))
      throw new PolicyError(ikp, 'must be a mapping with name, match and action (or the word default)');
    onlyKeys(item, ['name', 'match', 'action', 'reason'], ikp);
    if (typeof item.name !== 'string' || !RULE_NAME.test(item.name)) {
      throw new PolicyError(
        `${ikp}.name`,
        item.name === undefined ? 'is required' : 'must be a name (letters, digits, _ . -)',
      );
    }
    if (item.match === undefined) throw new PolicyError(`${ikp}.match`, 'is required');
    const match = parseMatch(item.match, `${ikp}.match`);
    if (item.action === undefined) throw new PolicyError(`${ikp}.action`, 'is required');
    const action = oneOf(item.action, ACTIONS, `${ikp}.action`, 'an action');
    if (item.reason !== undefined && typeof item.reason !== 'string')
      throw new PolicyError(`${ikp}.reason`, 'must be a string');
    add(
      { name: item.name, match, action, reason: typeof item.reason === 'string' ? item.reason : null },
      ikp,
    );
  });
  return rules;
}

function parseMasking(raw: unknown, kp: string): MaskingRule[] {
  try {
    return parseMaskingRules(raw, kp);
  } catch (e) {
    if (e instanceof MaskingConfigError) throw new PolicyError(e.keyPath, e.problem);
    throw e;
  }
}

/**
 * Validates one policy as written under `policies.<name>`. null / undefined = the built-in
 * default policy (under that name). Throws PolicyError naming the key path.
 */
export function parsePolicy(name: string, raw: unknown, keyPath = `policies.${name}`): Policy {
  if (raw === undefined || raw === null)
    return { ...DEFAULT_POLICY, name, guardrails: [...DEFAULT_GUARDRAILS], builtin: true };
  if (!isMap(raw)) throw new PolicyError(keyPath, 'must be a mapping');
  onlyKeys(
    raw,
    ['read_only', 'guardrails', 'masking', 'approval_timeout', 'read_only_functions', 'classify'],
    keyPath,
  );
  if (raw.read_only !== undefined && typeof raw.read_only !== 'boolean') {
    throw new PolicyError(`${keyPath}.read_only`, 'must be true or false');
  }
  if (raw.classify !== undefined && typeof raw.classify !== 'boolean') {
    throw new PolicyError(`${keyPath}.classify`, 'must be true or false');
  }
  return {
    name,
    readOnly: raw.read_only === true,
    readOnlyFunctions:
      raw.read_only_functions === undefined
        ? []
        : stringList(raw.read_only_functions, `${keyPath}.read_only_functions`),
    guardrails:
      raw.guardrails === undefined || raw.guardrails === null
        ? [...DEFAULT_GUARDRAILS]
        : parseGuardrails(raw.guardrails, `${keyPath}.guardrails`),
    approvalTimeoutMs:
      raw.approval_timeout === undefined
        ? DEFAULT_APPROVAL_TIMEOUT_MS
        : parseDurationMs(raw.approval_timeout, `${keyPath}.approval_timeout`),
    masking: parseMasking(raw.masking, `${keyPath}.masking`),
    classify: raw.classify === undefined ? raw.masking === undefined || raw.masking === null : raw.classify,
    builtin: false,
  };
}

/** Every policy of a config (`GatewayConfig.policies`), plus the built-in `default` when not configured. */
export function compilePolicies(raw: Record<string, unknown> | null | undefined): Map<string, Policy> {
  const out = new Map<string, Policy>();
  for (const [name, p] of Object.entries(raw ?? {})) out.set(name, parsePolicy(name, p));
  if (!out.has('default')) out.set('default', DEFAULT_POLICY);
  return out;
}

/** The policy called `name`; the built-in default for "default" or an unknown name. */
export function policyFor(policies: ReadonlyMap<string, Policy>, name: string): Policy {
  return policies.get(name) ?? policies.get('default') ?? DEFAULT_POLICY;
}

// ---------------------------------------------------------------------------------------------
// Decisions

export interface DecideContext {
  identity: string;
  /**
   * A session-level refusal checked on every unit (after prepared statements and the catalog are
   * resolved) before the policy: the role lock, which must hold whatever the policy says.
   */
  refuse?: (u: Unit) => Verdict | null;
  /**
   * The session's prepared statements: `EXECUTE name` is decided on what was prepared. Deciding
   * also records PREPARE / DEALLOCATE / DISCARD ALL in it, in statement order.
   */
  prepared?: PreparedLookup;
  /**
   * The live catalog's view of what names run (policy/resolution.ts). Undefined: none to consult
   * (`bastion check`); null: a live session whose catalog is not loaded (fail closed).
   */
  calls?: CallSnapshot | null;
}

interface CompiledMatch {
  identity: GlobList | null;
  relation: NamePatterns | null;
  function: NamePatterns | null;
}

const compiled = new WeakMap<RuleMatch, CompiledMatch>();

function compile(m: RuleMatch): CompiledMatch {
  let c = compiled.get(m);
  if (c === undefined) {
    c = {
      identity: m.identity ? new GlobList(m.identity) : null,
      relation: m.relation ? new NamePatterns(m.relation) : null,
      function: m.function ? new NamePatterns(m.function) : null,
    };
    compiled.set(m, c);
  }
  return c;
}

/** What in `u` matched, for the reason text; null if the rule does not match. */
function ruleMatches(m: RuleMatch, u: Unit, identity: string): string[] | null {
  if (m.kind && !m.kind.includes(u.kind)) return null;
  if (m.writes !== undefined && u.writes !== m.writes) return null;
  if (m.copy && (u.copy === null || !m.copy.includes(u.copy))) return null;
  if (m.where && u.where !== m.where) return null;
  const c = compile(m);
  if (c.identity && !c.identity.test(identity)) return null;
  let relations: string[] | null = null;
  if (c.relation) {
    relations = u.relations.filter((r) => c.relation?.test(r));
    if (relations.length === 0) return null;
  }
  let functions: string[] | null = null;
  if (c.function) {
    if (u.functions.length === 0) return null;
    functions = u.functions.filter((f) => c.function?.test(f));
    if (functions.length === 0) return null;
  }
  const why: string[] = [];
  if (m.where === 'absent') why.push('without a real WHERE clause');
  if (relations) why.push(`on ${relations.join(', ')}`);
  if (functions) why.push(`calls ${functions.join(', ')}`);
  return why;
}

function describe(u: Unit, extra: string[] = []): string {
  let s = (u.kind === 'unknown' || u.kind === 'unparseable') && u.detail ? u.detail : u.command;
  if (u.kind === 'copy' && u.detail) s += ` (${u.detail})`;
  const on = u.targets.length > 0 ? u.targets : u.kind === 'select' ? [] : u.relations;
  const parts = [...extra];
  if (on.length > 0 && !parts.some((p) => p.startsWith('on '))) parts.unshift(`on ${on.join(', ')}`);
  if (parts.length) s += ` ${parts.join(' ')}`;
  if (u.via.length > 0) s += ` (inside ${u.via.join(' > ')})`;
  return s;
}

const readOnlyCache = new WeakMap<Policy, NamePatterns>();
function readOnlyFunctions(policy: Policy): NamePatterns {
  let p = readOnlyCache.get(policy);
  if (p === undefined) {
    p = new NamePatterns(policy.readOnlyFunctions);
    readOnlyCache.set(policy, p);
  }
  return p;
}

function unitVerdict(u: Unit, policy: Policy, identity: string): Verdict {
  if (u.unguardable !== undefined) return { action: 'block', rule: 'unguardable', reason: u.unguardable };
  if (policy.readOnly) {
    if (u.writes)
      return { action: 'block', rule: 'read_only', reason: `${describe(u)}: the policy is read-only` };
    const off = readOnlyRefusal(u);
    if (off !== null)
      return { action: 'block', rule: 'read_only', reason: `${off}: the policy is read-only` };
    const writer = u.functions.find((f) => mayWrite(f) && !readOnlyFunctions(policy).test(f));
    if (writer !== undefined) {
      return {
        action: 'block',
        rule: 'read_only',
        reason: `${describe(u)} calls ${writer}, which may write (not a known read-only function): the policy is read-only`,
      };
    }
  }
  for (const r of policy.guardrails) {
    const why = ruleMatches(r.match, u, identity);
    if (why === null) continue;
    const what = describe(u, why);
    return { action: r.action, rule: r.name, reason: r.reason ? `${what}: ${r.reason}` : what };
  }
  if (u.kind === 'unknown' || u.kind === 'unparseable') {
    return { action: 'block', rule: null, reason: `${describe(u)} (fail closed)` };
  }
  return { action: 'allow', rule: null, reason: 'no guardrail matched' };
}

/** EXECUTE units replaced by (followed by) what the prepared statement does. */
function resolveUnits(units: readonly Unit[], prepared: PreparedLookup | undefined): Unit[] {
  if (!units.some((u) => u.prepared !== null)) return units as Unit[];
  const out: Unit[] = [];
  for (const u of units) {
    out.push(u);
    if (u.prepared === null) continue;
    const entry = prepared?.get(u.prepared);
    const via = [...u.via, `prepared statement ${u.prepared}`];
    if (entry === undefined) {
      out.push({
        ...u,
        kind: 'unknown',
        command: u.command,
        writes: true,
        prepared: null,
        via: u.via,
        detail: `prepared statement "${u.prepared}" was not seen by the gateway`,
      });
    } else {
      for (const p of entry.units) out.push({ ...p, via: [...via, ...p.via], prepared: null });
    }
  }
  return out;
}

/**
 * Units with the functions the live catalog says their names, operators and casts run, each
 * followed by what the bodies of the user functions it calls run ("inside function s.f").
 */
function resolveCalls(units: Unit[], calls: CallSnapshot | null | undefined): Unit[] {
  if (calls === undefined) return units;
  if (calls === null) {
    const u = units[0];
    if (u === undefined) return units;
    const detail = 'the database catalog is not loaded: what the names in it run is unknown';
    return [...units, { ...u, kind: 'unknown', writes: true, prepared: null, detail }];
  }
  if (calls.empty) return units;
  return units.flatMap((u) => calls.expand(u));
}

function strictest<T extends Verdict>(verdicts: readonly T[]): T | null {
  let best: T | null = null;
  for (const v of verdicts) if (best === null || RANK[v.action] > RANK[best.action]) best = v;
  return best;
}

/** Decides one statement; records PREPARE / DEALLOCATE in `ctx.prepared`. */
export function decideStatement(
  st: StatementAnalysis,
  policy: Policy,
  ctx: DecideContext,
): StatementDecision {
  const units = resolveCalls(resolveUnits(st.units, ctx.prepared), ctx.calls);
  const verdict = strictest(units.map((u) => ctx.refuse?.(u) ?? unitVerdict(u, policy, ctx.identity))) ?? {
    action: 'allow' as const,
    rule: null,
    reason: 'no guardrail matched',
  };
  if (ctx.prepared) {
    if (st.prepares !== undefined) {
      const label = `PREPARE ${st.prepares}`;
      const inner = units.slice(1).map((u) => (u.via[0] === label ? { ...u, via: u.via.slice(1) } : u));
      ctx.prepared.set(st.prepares, { sql: st.sql, units: inner });
    }
    if (st.deallocates !== undefined) {
      if (st.deallocates === null) ctx.prepared.clear();
      else ctx.prepared.delete(st.deallocates);
    }
  }
  return {
    action: verdict.action,
    rule: verdict.rule,
    reason: verdict.reason,
    sql: st.sql,
    kind: st.kind,
    command: st.command,
    writes: units.some((u) => u.writes),
  };
}

/**
 * Decides a whole text (one simple Query, or one Parse): every statement, then the strictest of
 * them for the text (PostgreSQL runs a multi-statement Query as one implicit transaction).
 * `statedReason` comes from the caller (see `statedReason()` in analyze.ts).
 */
export function decide(
  analysis: Analysis,
  policy: Policy,
  ctx: DecideContext,
  statedReason: string | null = null,
): QueryDecision {
  const statements = analysis.statements.map((s) => decideStatement(s, policy, ctx));
  const split = policy.readOnly ? readOnlyTextRefusal(analysis.statements) : null;
  if (split !== null) {
    const reason = `${split}: the policy is read-only`;
    for (const s of statements) Object.assign(s, { action: 'block', rule: 'read_only', reason });
  }
  const top = strictest(statements);
  const d: QueryDecision = {
    action: top?.action ?? 'allow',
    rule: top?.rule ?? null,
    reason: top?.reason ?? 'empty query',
    statements,
    statedReason,
  };
  for (const s of analysis.statements) if (s.setReason !== undefined) d.setReason = s.setReason;
  return d;
}
