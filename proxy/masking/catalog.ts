// The masking catalog of one upstream database: which (table OID, column number) pairs are
// configured columns (inheritance children and partitions included), the column lists of those
// relations, the definitions of every view and materialized view that depends on them (directly
// or through other views), the user-defined types that carry text, and the functions (return
// types; SQL and PL/pgSQL definitions, analysed like views; the built-ins that run a query or
// dump relations given as arguments). Loaded with four queries the session runs on a separate upstream connection (the runner is injected: this
// module opens no sockets), shared by every session of that upstream, invalidated on DDL (and
// after maxAgeMs), and bound per policy (CatalogBinding) for the data path.

import { BUILTIN_FUNCTION_NAMES, FIRST_NORMAL_OBJECT_ID } from '../policy/builtins.js';
import { CALLS_QUERY, CallSnapshot } from '../policy/resolution.js';
import { type BoundColumn, RuleBinder } from './binding.js';
import type { CompiledMasking } from './compile.js';
import { DATA_DUMPING_BUILTINS } from './dumping.js';
import {
  type FunctionLineage,
  functionLineage,
  type LineageResolver,
  outputLineage,
  type ResolvedFunction,
  type ResolvedRelation,
} from './lineage.js';
import type { UserTypes } from './pgtypes.js';
import type { ColumnLineage, PlanContext } from './plan.js';
import { type ColumnName, columnKey, type MaskRule, stricter } from './rules.js';
import { STATISTICS_QUERY, STATISTICS_RELATIONS, statisticsValueColumn } from './statistics.js';
import type { MaskEnv } from './strategies.js';

/** Runs one query (simple protocol) and returns its rows as text (null for NULL). */
export type QueryRunner = (sql: string) => Promise<(string | null)[][]>;

/** A SQL string literal that means the same whatever standard_conforming_strings is. */
export function sqlLiteral(s: string): string {
  return `E'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

function cfgValues(columns: readonly ColumnName[]): string | null {
  const seen = new Set<string>();
  const rows: string[] = [];
  for (const c of columns) {
    const k = `${c.schema ?? ''}\0${c.table}`;
    if (seen.has(k)) continue;
    seen.add(k);
    rows.push(`(${c.schema === null ? 'NULL::text' : sqlLiteral(c.schema)}, ${sqlLiteral(c.table)})`);
  }
  return rows.length ? rows.join(', ') : null;
}

// The configured relations: by the names the rules give, and by the OIDs they were bound to at an
// earlier load (binding.ts: a renamed table is still asked for).
const TREE = (values: string, oids: readonly number[]) => `cfg(s, t) AS (VALUES ${values}),
roots AS (
  SELECT c.oid FROM cfg
  JOIN pg_catalog.pg_class c ON c.relname = cfg.t
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND (cfg.s IS NULL OR n.nspname = cfg.s)
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  UNION
  SELECT c.oid FROM pg_catalog.pg_class c
  WHERE c.oid = ANY ('{${oids.map((o) => Math.trunc(o)).join(',')}}'::pg_catalog.oid[])
    AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
),
tree(oid, root) AS (
  SELECT oid, oid FROM roots
  UNION
  SELECT i.inhrelid, tree.root FROM tree JOIN pg_catalog.pg_inherits i ON i.inhparent = tree.oid
)`;

export interface CatalogQueries {
  /** oid, schema, name, relkind, root schema, root name, attnum, attname, type oid, typmod, root oid */
  relations: string | null;
  /** statistics.ts STATISTICS_QUERY */
  statistics: string | null;
  /** oid, schema, name, pg_get_viewdef */
  views: string | null;
  /** oid, typtype, typcategory, typelem */
  types: string;
  /** oid, schema, name, return type, returns a set, kind, language, security definer, definition, extension member */
  functions: string;
}

export { DATA_DUMPING_BUILTINS };

/**
 * Functions: every user function (its return type, for FunctionCall), with the definition of
 * those whose body can be analysed (LANGUAGE sql / plpgsql, not part of an extension) and whether
 * it is an extension member, and the data-dumping built-ins. Definitions are always loaded: the
 * guardrails count a call of a user function as what its body does (policy/bodies.ts).
 */
function functionsQuery(): string {
  const member = `EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
      WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid AND d.deptype = 'e')`;
  const dumping = DATA_DUMPING_BUILTINS.map((f) => `'${f}'`).join(', ');
  return `SELECT p.oid, n.nspname, p.proname, p.prorettype, p.proretset, p.prokind, l.lanname, p.prosecdef,
  CASE WHEN p.prokind IN ('f', 'p') AND l.lanname IN ('sql', 'plpgsql')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND NOT ${member}
  THEN pg_catalog.pg_get_functiondef(p.oid) END,
  ${member}
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE p.prokind IN ('f', 'p') AND (p.oid >= 16384 OR (n.nspname = 'pg_catalog' AND p.proname IN (${dumping})))`;
}

/** Views and materialized views over the configured relations and the statistics relations. */
function viewsQuery(values: string, boundOids: readonly number[]): string {
  return `WITH RECURSIVE ${TREE(values, boundOids)},
dep(oid) AS (
  SELECT oid FROM tree
  UNION
  SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'pg_catalog' AND c.relname IN (${STATISTICS_RELATIONS.map((r) => `'${r}'`).join(', ')})
  UNION
  SELECT r.ev_class FROM dep
  JOIN pg_catalog.pg_depend d ON d.refobjid = dep.oid
    AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
    AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
  JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
  WHERE r.ev_class <> dep.oid
)
SELECT c.oid, n.nspname, c.relname, pg_catalog.pg_get_viewdef(c.oid)
FROM dep
JOIN pg_catalog.pg_class c ON c.oid = dep.oid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm')`;
}

/**
 * The catalog queries for a set of configured columns (null: nothing to ask) and the table OIDs
 * they were bound to before.
 */
export function catalogQueries(
  columns: readonly ColumnName[],
  boundOids: readonly number[] = [],
): CatalogQueries {
  const values = cfgValues(columns);
  const types = `SELECT t.oid, t.typtype, t.typcategory, t.typelem FROM pg_catalog.pg_type t
WHERE t.oid >= 16384 AND (t.typtype IN ('c', 'e') OR t.typcategory IN ('S', 'A'))`;
  // Without column rules: no configured relation (a VALUES row that matches no name), but the
  // statistics relations and the views over them are still masked (by the detectors' rule).
  if (values === null)
    return {
      relations: null,
      views: viewsQuery('(NULL::text, NULL::text)', boundOids),
      types,
      functions: functionsQuery(),
      statistics: STATISTICS_QUERY,
    };
  return {
    functions: functionsQuery(),
    statistics: STATISTICS_QUERY,
    relations: `WITH RECURSIVE ${TREE(values, boundOids)}
SELECT tree.oid, n.nspname, c.relname, c.relkind, rn.nspname, rc.relname, a.attnum, a.attname,
  CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
  CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
  tree.root
FROM tree
JOIN pg_catalog.pg_class c ON c.oid = tree.oid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_class rc ON rc.oid = tree.root
JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = tree.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
ORDER BY tree.oid, a.attnum`,
    views: viewsQuery(values, boundOids),
    types,
  };
}

export interface CatalogColumn {
  attnum: number;
  name: string;
  typeOid: number;
  typmod: number;
}

export interface CatalogRelation {
  oid: number;
  schema: string;
  name: string;
  relkind: string;
  /**
   * The configured relations it descends from (itself for a configured one); oid null when the
   * rows did not say (then only the names count).
   */
  roots: { schema: string; name: string; oid: number | null }[];
  columns: CatalogColumn[];
}

export interface CatalogView {
  oid: number;
  schema: string;
  name: string;
  definition: string;
}

export interface CatalogFunction {
  oid: number;
  schema: string;
  name: string;
  returnType: number;
  returnsSet: boolean;
  /** f function, p procedure */
  kind: string;
  language: string;
  securityDefiner: boolean;
  /**
   * pg_get_functiondef (CREATE OR REPLACE FUNCTION ...) when the body can be analysed and some
   * rule names columns (masking's use of it).
   */
  definition: string | null;
  /** pg_get_functiondef when the body can be analysed (the guardrails' use of it). */
  body: string | null;
  /** A member of an extension. */
  extension: boolean;
}

export interface CatalogRows {
  relations: (string | null)[][];
  views: (string | null)[][];
  types: (string | null)[][];
  /** Rows of STATISTICS_QUERY (statistics.ts). Absent: the statistics views are not masked. */
  statistics?: (string | null)[][];
  /** Absent: no function is known (every function's output is left to the detectors). */
  functions?: (string | null)[][];
  /** Rows of CALLS_QUERY (policy/resolution.ts). Absent: what names run is not known. */
  calls?: (string | null)[][];
  /**
   * Masking analyses function bodies (some rule names columns). Default true; false keeps the
   * definitions to the guardrails, as masking had none to find before they were always loaded.
   */
  maskBodies?: boolean;
}

class Snapshot implements UserTypes {
  readonly byOid = new Map<number, CatalogRelation>();
  readonly byName = new Map<string, CatalogRelation[]>();
  readonly views = new Map<number, CatalogView>();
  readonly viewsByName = new Map<string, CatalogView[]>();
  readonly types = new Map<number, { typtype: string; category: string; elem: number }>();
  readonly functions = new Map<number, CatalogFunction>();
  readonly functionsByName = new Map<string, CatalogFunction[]>();
  /** What names, operators and casts run on this database (guardrails); null without the rows. */
  readonly calls: CallSnapshot | null;
  /** The statistics relations (statistics.ts), by OID and by name. */
  readonly statistics = new Map<number, CatalogRelation>();
  readonly statisticsByName = new Map<string, CatalogRelation>();
  /** columnKey -> the columns a configured column is bound to (binding.ts); set by MaskCatalog. */
  bound = new Map<string, BoundColumn[]>();

  constructor(rows: CatalogRows) {
    for (const r of rows.relations) {
      const oid = Number(r[0]);
      let rel = this.byOid.get(oid);
      if (rel === undefined) {
        rel = { oid, schema: r[1] ?? '', name: r[2] ?? '', relkind: r[3] ?? 'r', roots: [], columns: [] };
        this.byOid.set(oid, rel);
        const list = this.byName.get(rel.name) ?? [];
        list.push(rel);
        this.byName.set(rel.name, list);
      }
      const root = { schema: r[4] ?? '', name: r[5] ?? '', oid: r[10] == null ? null : Number(r[10]) };
      if (!rel.roots.some((x) => x.schema === root.schema && x.name === root.name && x.oid === root.oid))
        rel.roots.push(root);
      const attnum = Number(r[6]);
      if (!rel.columns.some((c) => c.attnum === attnum))
        rel.columns.push({ attnum, name: r[7] ?? '', typeOid: Number(r[8]), typmod: Number(r[9] ?? -1) });
    }
    for (const rel of this.byOid.values()) rel.columns.sort((a, b) => a.attnum - b.attnum);
    for (const r of rows.statistics ?? []) {
      const oid = Number(r[0]);
      let rel = this.statistics.get(oid);
      if (rel === undefined) {
        rel = { oid, schema: r[1] ?? '', name: r[2] ?? '', relkind: r[3] ?? 'v', roots: [], columns: [] };
        this.statistics.set(oid, rel);
        this.statisticsByName.set(rel.name, rel);
      }
      rel.columns.push({
        attnum: Number(r[4]),
        name: r[5] ?? '',
        typeOid: Number(r[6]),
        typmod: Number(r[7] ?? -1),
      });
    }
    for (const r of rows.views) {
      const v: CatalogView = {
        oid: Number(r[0]),
        schema: r[1] ?? '',
        name: r[2] ?? '',
        definition: r[3] ?? '',
      };
      this.views.set(v.oid, v);
      const list = this.viewsByName.get(v.name) ?? [];
      list.push(v);
      this.viewsByName.set(v.name, list);
    }
    for (const r of rows.types)
      this.types.set(Number(r[0]), { typtype: r[1] ?? '', category: r[2] ?? '', elem: Number(r[3] ?? 0) });
    for (const r of rows.functions ?? []) {
      const f: CatalogFunction = {
        oid: Number(r[0]),
        schema: r[1] ?? '',
        name: r[2] ?? '',
        returnType: Number(r[3] ?? 0),
        returnsSet: r[4] === 't',
        kind: r[5] ?? 'f',
        language: r[6] ?? '',
        securityDefiner: r[7] === 't',
        definition: rows.maskBodies === false ? null : (r[8] ?? null),
        body: r[8] ?? null,
        extension: r[9] === 't',
      };
      this.functions.set(f.oid, f);
      const list = this.functionsByName.get(f.name) ?? [];
      list.push(f);
      this.functionsByName.set(f.name, list);
    }
    const users = [...this.functions.values()]
      .filter((f) => f.oid >= FIRST_NORMAL_OBJECT_ID)
      .map((f) => ({
        schema: f.schema,
        name: f.name,
        language: f.language,
        definition: f.body,
        extension: f.extension,
      }));
    this.calls = rows.calls === undefined ? null : new CallSnapshot(users, rows.calls);
  }

  kind(oid: number): 'string' | 'enum' | 'composite' | 'array' | null {
    const t = this.types.get(oid);
    if (!t) return null;
    if (t.typtype === 'c') return 'composite';
    if (t.typtype === 'e') return 'enum';
    if (t.category === 'A') return 'array';
    if (t.category === 'S') return 'string';
    return null;
  }

  element(oid: number): number | null {
    const t = this.types.get(oid);
    return t && t.category === 'A' && t.elem ? t.elem : null;
  }
}

/**
 * A cheap digest of the catalogs whose rows decide what a statement runs or reads: any insert,
 * update (a rename, CREATE OR REPLACE, a new body) or delete changes a count or a sum of xmin.
 * Objects created, replaced or renamed directly on the server (not through the gateway, whose DDL
 * marks the catalog stale at once) are seen when the digest changes.
 */
export const CATALOG_FINGERPRINT = `SELECT concat_ws('/', ${[
  'pg_proc',
  'pg_operator',
  'pg_cast',
  'pg_aggregate',
  'pg_namespace',
  'pg_type',
  'pg_class',
  'pg_attribute',
  'pg_rewrite',
  'pg_depend',
  'pg_language',
]
  .map((t) => `(SELECT count(*) || '.' || coalesce(sum(xmin::text::bigint), 0) FROM pg_catalog.${t})`)
  .join(', ')})`;

export interface MaskCatalogOptions {
  /** Every configured column of every policy used with this upstream. */
  columns: readonly ColumnName[];
  /** Runs the catalog queries (on a connection of its own). */
  run?: QueryRunner;
  /** Reload after this long even without DDL (default 5 minutes; 0 = never). */
  maxAgeMs?: number;
  /**
   * Ask the server whether the catalog changed (CATALOG_FINGERPRINT) when the last answer is older
   * than this (default 10 s; 0 = only at load): objects created outside the gateway are seen at a
   * session's start and within this long in open sessions.
   */
  recheckMs?: number;
  now?: () => number;
  /**
   * Where the binding of rules to columns is reported (binding.ts: a renamed column followed, a
   * configured column that no longer exists); each situation once. Names only, never values.
   */
  log?: (message: string) => void;
}

/** The masking catalog of one upstream. */
export class MaskCatalog {
  private snap: Snapshot | null = null;
  private loadedAt = 0;
  private invalid = true;
  private loading: Promise<void> | null = null;
  /** The digest read with the loaded snapshot, when it was last confirmed, and a check running. */
  private fingerprint: string | null = null;
  private checkedAt = 0;
  private checking: Promise<void> | null = null;
  private bindings = new WeakMap<CompiledMasking, CatalogBinding>();
  /** Bumped on every (re)load. */
  version = 0;
  lastError: Error | null = null;
  private readonly binder: RuleBinder;

  constructor(private readonly opts: MaskCatalogOptions) {
    this.binder = new RuleBinder(opts.columns, opts.log);
  }

  /** The catalog queries of the next load (the configured names and the OIDs bound so far). */
  get queries(): CatalogQueries {
    return catalogQueries(this.opts.columns, this.binder.oids());
  }

  /**
   * Configured columns (`schema.table.column` as written) that name no column of the database at
   * the last load: reported in the app (the connection's status) and logged once.
   */
  get unbound(): readonly string[] {
    return this.binder.unbound;
  }

  /** Builds the catalog for the policies used with an upstream. */
  static forPolicies(
    maskings: readonly CompiledMasking[],
    opts: Omit<MaskCatalogOptions, 'columns'> = {},
  ): MaskCatalog {
    return new MaskCatalog({ ...opts, columns: maskings.flatMap((m) => m.columns) });
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /** Loaded, not invalidated nor older than maxAgeMs, and confirmed unchanged within recheckMs. */
  get fresh(): boolean {
    if (!this.loadedFresh) return false;
    const recheck = this.opts.recheckMs ?? 10_000;
    return recheck <= 0 || this.fingerprint === null || this.now() - this.checkedAt < recheck;
  }

  private get loadedFresh(): boolean {
    if (this.snap === null || this.invalid) return false;
    const max = this.opts.maxAgeMs ?? 300_000;
    return max <= 0 || this.now() - this.loadedAt < max;
  }

  /**
   * Makes the catalog current: loads it when stale, else asks the server for the digest (one
   * small query, shared by concurrent callers) and reloads when it changed. `force`: ask even
   * when the last answer is recent (a session's start: objects may have been made since).
   */
  verify(opts: { force?: boolean } = {}): Promise<void> {
    if (!opts.force && this.fresh) return Promise.resolve();
    if (!this.loadedFresh || this.fingerprint === null || !this.opts.run) return this.ensureLoaded();
    if (this.checking) return this.checking;
    const run = this.opts.run;
    this.checking = (async () => {
      try {
        const now = (await run(CATALOG_FINGERPRINT))[0]?.[0] ?? null;
        if (now !== this.fingerprint) {
          this.invalid = true;
          await this.ensureLoaded();
        } else this.checkedAt = this.now();
      } finally {
        this.checking = null;
      }
    })();
    return this.checking;
  }

  get loaded(): boolean {
    return this.snap !== null;
  }

  /**
   * Something may have changed the catalog unseen (a user function ran, which may run DDL): the
   * next verify() asks for the digest (one small query) and reloads only if it changed.
   */
  suspect(): void {
    if ((this.opts.recheckMs ?? 10_000) > 0 && this.fingerprint !== null)
      this.checkedAt = Number.NEGATIVE_INFINITY;
    else this.invalid = true;
  }

  /** Marks the catalog stale (DDL seen): the next ensureLoaded() reloads it. */
  invalidate(): void {
    this.invalid = true;
  }

  /**
   * Loads (or reloads, when stale) the catalog. Concurrent callers share one load. Rejects when
   * the queries fail (the caller fails closed: no statement should run with an unknown catalog).
   */
  ensureLoaded(): Promise<void> {
    if (this.loadedFresh) return Promise.resolve();
    if (this.loading) return this.loading;
    const run = this.opts.run;
    if (!run) return Promise.reject(new Error('the masking catalog has no query runner'));
    this.invalid = false;
    const q = this.queries;
    this.loading = (async () => {
      try {
        // First: a change while the rest is read shows as a different digest at the next check.
        const fingerprint = (await run(CATALOG_FINGERPRINT))[0]?.[0] ?? null;
        // One after the other: the runner may be a single connection.
        const relations = q.relations ? await run(q.relations) : [];
        const views = q.views ? await run(q.views) : [];
        const statistics = q.statistics ? await run(q.statistics) : [];
        const types = await run(q.types);
        const functions = await run(q.functions);
        const calls = await run(CALLS_QUERY);
        this.apply({
          relations,
          views,
          statistics,
          types,
          functions,
          calls,
          maskBodies: q.relations !== null,
        });
        this.fingerprint = fingerprint;
        this.checkedAt = this.now();
        this.lastError = null;
      } catch (e) {
        this.invalid = true;
        this.lastError = e as Error;
        throw e;
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  /**
   * Where a configured column is bound now (`schema.table.column` by current names; empty when
   * unbound, unknown, or not loaded): a renamed column shows its new name.
   */
  boundTo(c: ColumnName): string[] {
    const snap = this.snap;
    if (!snap) return [];
    const out: string[] = [];
    for (const b of snap.bound.get(columnKey(c)) ?? []) {
      const rel = snap.byOid.get(b.oid);
      const col = rel?.columns.find((x) => x.attnum === b.attnum);
      if (rel && col) out.push(`${rel.schema}.${rel.name}.${col.name}`);
    }
    return out;
  }

  /** Installs query results directly (what ensureLoaded does after running the queries). */
  apply(rows: CatalogRows): void {
    const snap = new Snapshot(rows);
    snap.bound = this.binder.bind(
      [...snap.byOid.values()].map((r) => ({
        ...r,
        configured: r.roots.some((x) =>
          x.oid === null ? x.schema === r.schema && x.name === r.name : x.oid === r.oid,
        ),
      })),
    );
    this.snap = snap;
    this.loadedAt = this.now();
    this.invalid = false;
    this.version++;
    this.bindings = new WeakMap();
  }

  get snapshot(): {
    relations: ReadonlyMap<number, CatalogRelation>;
    views: ReadonlyMap<number, CatalogView>;
    functions: ReadonlyMap<number, CatalogFunction>;
  } {
    const s = this.snap ?? new Snapshot({ relations: [], views: [], types: [] });
    return { relations: s.byOid, views: s.views, functions: s.functions };
  }

  /** What names run on this database, for guardrail decisions (null until loaded). */
  get calls(): CallSnapshot | null {
    return this.snap?.calls ?? null;
  }

  /** The catalog seen through one policy's rules. */
  bind(masking: CompiledMasking): CatalogBinding {
    let b = this.bindings.get(masking);
    if (b === undefined) {
      b = new CatalogBinding(this.snap ?? new Snapshot({ relations: [], views: [], types: [] }), masking);
      this.bindings.set(masking, b);
    }
    return b;
  }
}

/** What a call may do to the catalog unseen (CatalogBinding.callRisk). */
export type CallRisk = 'none' | 'suspect' | 'behind';

/** Words of a function body that may change the catalog (DDL, or SQL built at run time). */
const MAY_RUN_DDL = /\b(alter|create|drop|execute|rename|import|comment|security|do)\b/i;

/** pg_get_functiondef without its CREATE ... AS header (whose words are not the body's). */
function bodyOf(def: string): string {
  const at = def.search(/\n(AS|BEGIN ATOMIC)\b/);
  return at < 0 ? def : def.slice(at + 3);
}

/** A catalog snapshot seen through one policy: column rules, the lineage resolver, plan contexts. */
export class CatalogBinding {
  readonly resolver: LineageResolver;
  /**
   * The resolver while this session's own DDL is not visible to the catalog's connection (later
   * statements of the same Query message, or an open transaction after DDL): a relation the
   * catalog does not know may be a configured one under a new name, so it carries every rule.
   */
  readonly behind: LineageResolver;
  readonly env: MaskEnv;
  private readonly rules = new Map<string, MaskRule | null>();
  private readonly viewRules = new Map<number, ColumnLineage[] | null>();
  /** Function OID -> its output lineage; null = cannot be analysed (or being analysed: recursion). */
  private readonly functionRules = new Map<number, FunctionLineage | null>();
  private anyRuleCache: MaskRule | null | undefined;
  /** `oid:attnum` -> the rule of the configured column bound there (binding.ts). */
  private readonly boundRules = new Map<string, MaskRule>();

  constructor(
    private readonly snap: Snapshot,
    readonly masking: CompiledMasking,
  ) {
    this.env = { hasher: masking.hasher, userTypes: snap };
    for (const c of masking.columns) {
      const rule = masking.columnRule(c.schema ?? '*', c.table, c.column);
      if (rule === null) continue;
      for (const b of snap.bound.get(columnKey(c)) ?? []) {
        const k = `${b.oid}:${b.attnum}`;
        this.boundRules.set(k, stricter(this.boundRules.get(k) ?? null, rule) as MaskRule);
      }
    }
    this.resolver = {
      relation: (schema, name) => this.relation(schema, name),
      function: (schema, name) => this.function(schema, name),
      anyRule: () => this.anyRule(),
    };
    this.behind = {
      ...this.resolver,
      relation: (schema, name) => {
        const r = this.relation(schema, name);
        if (r !== null) return r;
        const all = this.anyRule();
        return all === null ? null : { kind: 'opaque', rule: all };
      },
    };
  }

  /** The strictest rule of any configured column (what a dump of everything must be masked with). */
  anyRule(): MaskRule | null {
    if (this.anyRuleCache === undefined) {
      let r: MaskRule | null = null;
      for (const rel of this.snap.byOid.values())
        for (const c of rel.columns) r = stricter(r, this.configured(rel, c.name));
      this.anyRuleCache = r;
    }
    return this.anyRuleCache;
  }

  /** A function by OID (FunctionCall): its return type and what its output carries. */
  functionByOid(oid: number): { fn: CatalogFunction; lineage: FunctionLineage | null } | null {
    const fn = this.snap.functions.get(oid);
    if (!fn) return null;
    return { fn, lineage: this.functionOutput(fn) };
  }

  /**
   * What a function returns, from its body (analysed once per snapshot; recursion = unknown). A
   * body that cannot be analysed (dynamic SQL, another language) fails closed: its output carries
   * the strictest configured rule, since it may read any masked column (`RETURN QUERY EXECUTE
   * 'SELECT token FROM customers'`) and only the detectors would otherwise stand in the way.
   */
  private functionOutput(fn: CatalogFunction): FunctionLineage | null {
    if (fn.definition === null) return null;
    if (this.functionRules.has(fn.oid)) return this.functionRules.get(fn.oid) ?? null;
    this.functionRules.set(fn.oid, null);
    const l =
      functionLineage(fn.definition, fn.language, this.resolver) ??
      ({
        composite: false,
        columns: [{ name: fn.name, typeOid: null, rule: this.anyRule() }],
        unknownShape: true,
      } satisfies FunctionLineage);
    this.functionRules.set(fn.oid, l);
    return l;
  }

  /**
   * What calling a function of that name may do to the catalog unseen: 'behind' when it may
   * run DDL (a name that is no built-in's and that the catalog does not know: made since it was
   * read; a body that cannot be analysed; a body that runs DDL or dynamic SQL), 'suspect' for
   * other user functions (their callees might), 'none' for built-ins.
   */
  callRisk(schema: string | null, name: string, seen = new Set<number>()): CallRisk {
    if (schema === 'pg_catalog') return 'none';
    const user = (this.snap.functionsByName.get(name) ?? []).filter(
      (f) => f.oid >= FIRST_NORMAL_OBJECT_ID && (schema === null || f.schema === schema),
    );
    if (user.length === 0) return schema === null && BUILTIN_FUNCTION_NAMES.has(name) ? 'none' : 'behind';
    let risk: CallRisk = 'none';
    for (const f of user) {
      if (seen.has(f.oid)) continue;
      seen.add(f.oid);
      // Extension members are trusted not to change the catalog, except the ones that run SQL
      // on another connection (dblink_exec('ALTER TABLE ...') commits at once).
      if (f.extension) {
        if (f.name.startsWith('dblink')) return 'behind';
        continue;
      }
      if (f.body === null) return 'behind';
      const body = bodyOf(f.body);
      if (MAY_RUN_DDL.test(body)) return 'behind';
      // What it calls: any name written like a call that is a user function's (or unknown).
      for (const m of body.matchAll(/([a-z_][a-z0-9_$]*)\s*\(/gi)) {
        const callee = m[1].toLowerCase();
        if (BUILTIN_FUNCTION_NAMES.has(callee) && !this.snap.functionsByName.has(callee)) continue;
        if (!this.snap.functionsByName.has(callee)) continue; // a keyword or a type: (decimal(10, 2))
        const r = this.callRisk(null, callee, seen);
        if (r === 'behind') return r;
        if (r === 'suspect') risk = r;
      }
    }
    return risk;
  }

  /** LineageResolver.function: every overload of the name (strictest wins), null if none is analysable. */
  function(schema: string | null, name: string): ResolvedFunction | null {
    const fns = (this.snap.functionsByName.get(name) ?? []).filter(
      (f) => (schema === null || f.schema === schema) && f.schema !== 'pg_catalog',
    );
    const outs: FunctionLineage[] = [];
    for (const f of fns) {
      const l = this.functionOutput(f);
      if (l) outs.push(l);
    }
    if (outs.length === 0) return null;
    if (outs.length === 1) return outs[0];
    // What any overload stores (lineage's refusals of masked writes) holds for the name.
    const effects = {
      writes: outs.flatMap((o) => o.writes ?? []),
      writesState: outs.some((o) => o.writesState === true),
    };
    // Overloads: one shape if they agree, else every column carries the strictest rule.
    const same = outs.every(
      (o) => o.composite === outs[0].composite && o.columns.length === outs[0].columns.length,
    );
    if (same)
      return {
        composite: outs[0].composite,
        columns: outs[0].columns.map((c, i) => {
          let rule: MaskRule | null = null;
          for (const o of outs) rule = stricter(rule, o.columns[i].rule);
          return { ...c, rule };
        }),
        ...effects,
      };
    let rule: MaskRule | null = null;
    for (const o of outs) for (const c of o.columns) rule = stricter(rule, c.rule);
    return { composite: false, columns: [{ name, typeOid: null, rule }], unknownShape: true, ...effects };
  }

  get userTypes(): UserTypes {
    return this.snap;
  }

  /**
   * The rule of a column of a configured relation (or of a child of one): what the column it is
   * (or, in a child, the parent's column of the same name) is bound to, and what its current
   * names match (a new object taking a configured name is masked too).
   */
  private configured(rel: CatalogRelation, column: string): MaskRule | null {
    let r = this.masking.columnRule(rel.schema, rel.name, column);
    for (const root of rel.roots) {
      r = stricter(r, this.masking.columnRule(root.schema, root.name, column));
      const rootRel = root.oid === null ? undefined : this.snap.byOid.get(root.oid);
      const col = rootRel?.columns.find((c) => c.name === column);
      if (col) r = stricter(r, this.boundRules.get(`${root.oid}:${col.attnum}`) ?? null);
    }
    return r;
  }

  /**
   * A statistics relation's column (statistics.ts): its value columns carry every column rule;
   * under a policy of detectors only (the built-in default) the strictest detector rule, since
   * the values there are whatever the detected columns hold, in forms the detectors may not
   * recognise (SSNs and cards stored as numbers, arrays of them).
   */
  private statisticsRule(c: CatalogColumn): MaskRule | null {
    if (!statisticsValueColumn(c.name, c.typeOid)) return null;
    return this.anyRule() ?? this.masking.detection?.strictest() ?? null;
  }

  private viewLineage(oid: number): ColumnLineage[] | null {
    if (this.viewRules.has(oid)) return this.viewRules.get(oid) ?? null;
    this.viewRules.set(oid, null); // cycle guard
    const v = this.snap.views.get(oid);
    const l = v ? outputLineage(v.definition, this.resolver) : null;
    this.viewRules.set(oid, l);
    return l;
  }

  /** The rule of a column by the wire's table OID and column number (views through their definition). */
  columnRule(tableOid: number, attnum: number): MaskRule | null {
    const key = `${tableOid}:${attnum}`;
    const hit = this.rules.get(key);
    if (hit !== undefined) return hit;
    let r: MaskRule | null = null;
    const stats = this.snap.statistics.get(tableOid);
    if (stats) {
      const c = stats.columns.find((x) => x.attnum === attnum);
      if (c) r = this.statisticsRule(c);
    }
    const rel = this.snap.byOid.get(tableOid);
    if (rel) {
      const c = rel.columns.find((x) => x.attnum === attnum);
      if (c) r = this.configured(rel, c.name);
    }
    if (this.snap.views.has(tableOid)) {
      const l = this.viewLineage(tableOid);
      if (l) {
        if (l.some((e) => e.star)) for (const e of l) r = stricter(r, e.rule);
        else r = stricter(r, l[attnum - 1]?.rule ?? null);
      }
    }
    this.rules.set(key, r);
    return r;
  }

  /** LineageResolver.relation over the snapshot. */
  relation(schema: string | null, name: string): ResolvedRelation | null {
    const stats = this.statistics(schema, name);
    if (stats) return stats;
    const rels = (this.snap.byName.get(name) ?? []).filter((r) => schema === null || r.schema === schema);
    const views = (this.snap.viewsByName.get(name) ?? []).filter(
      (v) => schema === null || v.schema === schema,
    );
    // A configured view: its own column rules merged with what its definition reads.
    const pick = rels.find((r) => r.schema === 'public') ?? rels[0];
    if (pick) {
      const view = views.find((v) => v.oid === pick.oid);
      const l = view ? this.viewLineage(view.oid) : null;
      return {
        kind: 'table',
        columns: pick.columns.map((c, i) => {
          let rule: MaskRule | null = null;
          for (const r of rels) rule = stricter(rule, this.configured(r, c.name));
          if (l && !l.some((e) => e.star)) rule = stricter(rule, l[i]?.rule ?? null);
          return { name: c.name, typeOid: c.typeOid, rule };
        }),
      };
    }
    const v = views.find((x) => x.schema === 'public') ?? views[0];
    if (v) return { kind: 'view', definition: v.definition };
    return null;
  }

  /**
   * pg_stats and the other statistics relations, unqualified or in pg_catalog (searched first
   * unless the search path names it later: then a user relation of the same name may be meant,
   * and every column of that one carries every rule too).
   */
  private statistics(schema: string | null, name: string): ResolvedRelation | null {
    if (schema !== null && schema !== 'pg_catalog') return null;
    const stats = this.snap.statisticsByName.get(name);
    if (!stats) return null;
    const user = schema === null ? (this.snap.byName.get(name) ?? []) : [];
    if (user.length > 0) {
      const all = this.anyRule();
      return {
        kind: 'table',
        columns: user[0].columns.map((c) => ({ name: c.name, typeOid: c.typeOid, rule: all })),
      };
    }
    return {
      kind: 'table',
      columns: stats.columns.map((c) => ({ name: c.name, typeOid: c.typeOid, rule: this.statisticsRule(c) })),
    };
  }

  /** The context buildMaskPlan needs, with the statement's lineage (or none). */
  planContext(lineage: readonly ColumnLineage[] | null = null): PlanContext {
    return {
      env: this.env,
      detection: this.masking.detection,
      columnRule: (oid, attnum) => this.columnRule(oid, attnum),
      lineage,
    };
  }
}
