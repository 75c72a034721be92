// SQL text -> what it does, on PostgreSQL's own parser. Every statement becomes a list of units:
// one for the statement and one for every statement nested in it (CTEs, subqueries, the query of
// EXPLAIN ANALYZE / PREPARE / COPY / CREATE TABLE AS / DECLARE / rules, and the SQL inside DO
// blocks and function bodies, PL/pgSQL included). Dynamic SQL (EXECUTE of a computed string)
// and bodies in other languages become `unknown` units; text the parser refuses, `unparseable`.
// Pure and synchronous once `initPolicyEngine()` has resolved.

import { boundFunctions } from './bindings.js';
import { BUILTIN_FUNCTION_NAMES } from './builtins.js';
import {
  argumentSensitive,
  RELATION_DUMPING,
  SCHEMA_DUMPING,
  SQL_BUILDING,
  SQL_TEXT_ARGUMENT,
  splitName,
} from './functions.js';
import { isTrueSetting, LEXING_SETTINGS, unguardableSetting } from './lexing.js';
import { builtinOverride } from './overrides.js';
import {
  isObj,
  type Json,
  type JsonObject,
  list,
  parsePlpgsql,
  parseSql,
  type RawStatement,
  SqlSyntaxError,
  scanSql,
  sval,
  Utf8Text,
  withoutCatalog,
  wrapper,
} from './parser.js';
import { reachUnits } from './reach.js';
import { constSetting, READ_ONLY_SETTINGS, readWriteByOptions, readWriteBySet } from './read-only.js';
import { rebinds } from './rebinds.js';
import { isSafeguardSetting } from './safeguards.js';
import { parseSearchPath, unsafeSearchPath } from './search-path.js';
import { readsNoTargetColumn, relOf, selectsItself } from './self-join.js';
import { numericReads } from './shape.js';
import type { Analysis, CopyTarget, StatementAnalysis, StatementKind, Unit } from './types.js';
import { isConstantTrue } from './where.js';

/** How deep strings analysed as SQL may nest (EXECUTE 'EXECUTE ''...''', function bodies). */
const MAX_DEPTH = 12;

// ---------------------------------------------------------------------------------------------
// JSON helpers

/**
 * A qualified name as PostgreSQL resolves it: `db.schema.name` is `schema.name` (the database
 * part must be the current one, or the server refuses the statement).
 */
function names(v: Json | undefined): string {
  return withoutCatalog(list(v).map((x) => sval(x) ?? '')).join('.');
}

function str(v: Json | undefined): string | null {
  return typeof v === 'string' ? v : null;
}

function rangeVarName(rv: JsonObject): string {
  return [str(rv.catalogname), str(rv.schemaname), str(rv.relname)].filter((x) => x).join('.');
}

/** DefElem options by name. */
function defElems(v: Json | undefined): Map<string, Json | undefined> {
  const m = new Map<string, Json | undefined>();
  for (const item of list(v)) {
    const w = wrapper(item);
    if (w && w[0] === 'DefElem' && typeof w[1].defname === 'string') m.set(w[1].defname, w[1].arg);
  }
  return m;
}

/** The value of a string constant expression: 'a', 'a'::text, 'a' || 'b', concat('a', 'b'). */
export function constString(v: Json | undefined, depth = 0): string | null {
  if (depth > 32) return null;
  const w = wrapper(v);
  if (!w) return null;
  const [t, b] = w;
  if (t === 'A_Const') {
    if (isObj(b.sval)) return typeof b.sval.sval === 'string' ? b.sval.sval : '';
    return null;
  }
  if (t === 'TypeCast') {
    // Only casts that leave the text as it is: varchar(n) / char(n) cut it, bpchar drops trailing
    // spaces, name cuts at 63 bytes ('role '::char(5) reaches set_config as 'role'). A schema other
    // than pg_catalog may hold a domain of the same name.
    const parts = isObj(b.typeName) ? list(b.typeName.names).map((x) => sval(x) ?? '') : [];
    const tn = parts.at(-1);
    const schemaOk = parts.length === 1 || (parts.length === 2 && parts[0] === 'pg_catalog');
    const typmods = isObj(b.typeName) ? list(b.typeName.typmods).length : 1;
    if (tn && schemaOk && typmods === 0 && ['text', 'varchar', 'unknown'].includes(tn))
      return constString(b.arg, depth + 1);
    return null;
  }
  if (t === 'A_Expr' && b.kind === 'AEXPR_OP' && names(b.name) === '||') {
    const l = constString(b.lexpr, depth + 1);
    const r = l === null ? null : constString(b.rexpr, depth + 1);
    return l !== null && r !== null ? l + r : null;
  }
  if (t === 'FuncCall' && !b.agg_star && !b.over) {
    const fn = names(b.funcname);
    if (fn === 'concat' || fn === 'pg_catalog.concat') {
      let out = '';
      for (const a of list(b.args)) {
        const s = constString(a, depth + 1);
        if (s === null) return null;
        out += s;
      }
      return out;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Units

interface Env {
  via: string[];
  depth: number;
  /** The text of the top-level statement being analysed, when the node is that statement. */
  stmtText: string | null;
  /** CTE names in scope (a RangeVar naming one is not a relation). */
  ctes: ReadonlySet<string>;
  out: Unit[];
}

function newUnit(kind: StatementKind, command: string, writes: boolean, via: string[]): Unit {
  return {
    kind,
    command,
    writes,
    relations: [],
    targets: [],
    where: null,
    functions: [],
    copy: null,
    prepared: null,
    via,
    detail: null,
  };
}

/** An `unknown` unit: something whose effect cannot be known (blocked unless a guardrail allows it). */
export function opaqueUnit(command: string, detail: string, via: string[] = []): Unit {
  const u = newUnit('unknown', command, true, via);
  u.detail = detail;
  return u;
}

function pushUnique(arr: string[], v: string): void {
  if (v && !arr.includes(v)) arr.push(v);
}

function addUnknown(env: Env, detail: string, via: string[] = env.via): void {
  const u = newUnit('unknown', 'dynamic or opaque code', true, via);
  u.detail = detail;
  env.out.push(u);
}

function addUnparseable(env: Env, detail: string, via: string[] = env.via): void {
  const u = newUnit('unparseable', 'unparseable SQL', true, via);
  u.detail = detail;
  env.out.push(u);
}

/** Words for an OBJECT_* type: OBJECT_MATVIEW -> "MATERIALIZED VIEW". */
function objectWords(objtype: Json | undefined): string {
  const t = typeof objtype === 'string' ? objtype.replace(/^OBJECT_/, '') : 'OBJECT';
  const special: Record<string, string> = {
    MATVIEW: 'MATERIALIZED VIEW',
    FOREIGN_TABLE: 'FOREIGN TABLE',
    TSCONFIGURATION: 'TEXT SEARCH CONFIGURATION',
    TSDICTIONARY: 'TEXT SEARCH DICTIONARY',
    TSPARSER: 'TEXT SEARCH PARSER',
    TSTEMPLATE: 'TEXT SEARCH TEMPLATE',
    FDW: 'FOREIGN DATA WRAPPER',
    FOREIGN_SERVER: 'SERVER',
    OPCLASS: 'OPERATOR CLASS',
    OPFAMILY: 'OPERATOR FAMILY',
    STATISTIC_EXT: 'STATISTICS',
    EVENT_TRIGGER: 'EVENT TRIGGER',
    ACCESS_METHOD: 'ACCESS METHOD',
    LARGEOBJECT: 'LARGE OBJECT',
  };
  return special[t] ?? t.replace(/_/g, ' ');
}

const RELATION_OBJECTS = new Set([
  'OBJECT_TABLE',
  'OBJECT_VIEW',
  'OBJECT_MATVIEW',
  'OBJECT_INDEX',
  'OBJECT_SEQUENCE',
  'OBJECT_FOREIGN_TABLE',
]);

const CREATE_NODES: Record<string, string> = {
  CreateStmt: 'CREATE TABLE',
  CreateTableAsStmt: 'CREATE TABLE AS',
  ViewStmt: 'CREATE VIEW',
  IndexStmt: 'CREATE INDEX',
  CreateSeqStmt: 'CREATE SEQUENCE',
  CreateSchemaStmt: 'CREATE SCHEMA',
  CreateFunctionStmt: 'CREATE FUNCTION',
  DefineStmt: 'CREATE',
  CreateDomainStmt: 'CREATE DOMAIN',
  CompositeTypeStmt: 'CREATE TYPE',
  CreateEnumStmt: 'CREATE TYPE',
  CreateRangeStmt: 'CREATE TYPE',
  CreateCastStmt: 'CREATE CAST',
  CreateConversionStmt: 'CREATE CONVERSION',
  CreateTrigStmt: 'CREATE TRIGGER',
  CreateEventTrigStmt: 'CREATE EVENT TRIGGER',
  RuleStmt: 'CREATE RULE',
  CreateForeignTableStmt: 'CREATE FOREIGN TABLE',
  CreateForeignServerStmt: 'CREATE SERVER',
  CreateFdwStmt: 'CREATE FOREIGN DATA WRAPPER',
  CreateUserMappingStmt: 'CREATE USER MAPPING',
  CreatePLangStmt: 'CREATE LANGUAGE',
  CreateOpClassStmt: 'CREATE OPERATOR CLASS',
  CreateOpFamilyStmt: 'CREATE OPERATOR FAMILY',
  CreateAmStmt: 'CREATE ACCESS METHOD',
  CreateStatsStmt: 'CREATE STATISTICS',
  CreatePublicationStmt: 'CREATE PUBLICATION',
  CreateSubscriptionStmt: 'CREATE SUBSCRIPTION',
  CreateTableSpaceStmt: 'CREATE TABLESPACE',
  CreatedbStmt: 'CREATE DATABASE',
  CreateTransformStmt: 'CREATE TRANSFORM',
  ImportForeignSchemaStmt: 'IMPORT FOREIGN SCHEMA',
};

const ALTER_NODES: Record<string, string> = {
  AlterTableStmt: 'ALTER',
  AlterDomainStmt: 'ALTER DOMAIN',
  AlterEnumStmt: 'ALTER TYPE',
  AlterTypeStmt: 'ALTER TYPE',
  AlterSeqStmt: 'ALTER SEQUENCE',
  AlterFunctionStmt: 'ALTER FUNCTION',
  AlterObjectSchemaStmt: 'ALTER ... SET SCHEMA',
  AlterObjectDependsStmt: 'ALTER ... DEPENDS ON EXTENSION',
  RenameStmt: 'ALTER ... RENAME',
  AlterDatabaseStmt: 'ALTER DATABASE',
  AlterDatabaseSetStmt: 'ALTER DATABASE ... SET',
  AlterDatabaseRefreshCollStmt: 'ALTER DATABASE ... REFRESH COLLATION VERSION',
  AlterCollationStmt: 'ALTER COLLATION',
  AlterEventTrigStmt: 'ALTER EVENT TRIGGER',
  AlterExtensionStmt: 'ALTER EXTENSION',
  AlterExtensionContentsStmt: 'ALTER EXTENSION',
  AlterFdwStmt: 'ALTER FOREIGN DATA WRAPPER',
  AlterForeignServerStmt: 'ALTER SERVER',
  AlterOpFamilyStmt: 'ALTER OPERATOR FAMILY',
  AlterOperatorStmt: 'ALTER OPERATOR',
  AlterPublicationStmt: 'ALTER PUBLICATION',
  AlterStatsStmt: 'ALTER STATISTICS',
  AlterSubscriptionStmt: 'ALTER SUBSCRIPTION',
  AlterTSConfigurationStmt: 'ALTER TEXT SEARCH CONFIGURATION',
  AlterTSDictionaryStmt: 'ALTER TEXT SEARCH DICTIONARY',
  AlterTableMoveAllStmt: 'ALTER ... SET TABLESPACE',
  AlterTableSpaceOptionsStmt: 'ALTER TABLESPACE',
  AlterUserMappingStmt: 'ALTER USER MAPPING',
  ReplicaIdentityStmt: 'ALTER TABLE ... REPLICA IDENTITY',
};

const TRANSACTION_WORDS: Record<string, [string, boolean]> = {
  TRANS_STMT_BEGIN: ['BEGIN', false],
  TRANS_STMT_START: ['START TRANSACTION', false],
  TRANS_STMT_COMMIT: ['COMMIT', false],
  TRANS_STMT_ROLLBACK: ['ROLLBACK', false],
  TRANS_STMT_SAVEPOINT: ['SAVEPOINT', false],
  TRANS_STMT_RELEASE: ['RELEASE SAVEPOINT', false],
  TRANS_STMT_ROLLBACK_TO: ['ROLLBACK TO SAVEPOINT', false],
  TRANS_STMT_PREPARE: ['PREPARE TRANSACTION', true],
  TRANS_STMT_COMMIT_PREPARED: ['COMMIT PREPARED', true],
  TRANS_STMT_ROLLBACK_PREPARED: ['ROLLBACK PREPARED', true],
};

/** Statement-level facts the caller needs besides the units. */
interface TopFacts {
  setReason?: string | null;
  prepares?: string;
  deallocates?: string | null;
}

function whereOf(clause: Json | undefined): 'present' | 'absent' {
  return clause === undefined || isConstantTrue(clause) ? 'absent' : 'present';
}

/** whereOf for a statement on `target` joined with `joined`: a clause matching the target with itself is absent too. */
function whereOfSelf(
  clause: Json | undefined,
  target: Json | undefined,
  joined: Json | undefined,
): 'present' | 'absent' {
  if (whereOf(clause) === 'absent') return 'absent';
  const others = list(joined)
    .map((j) => relOf(j))
    .filter((r) => r !== null);
  const rel = relOf(target);
  return selectsItself(clause, rel, others) || readsNoTargetColumn(clause, rel, others)
    ? 'absent'
    : 'present';
}

function explainAnalyzes(options: Json | undefined): boolean {
  const opt = defElems(options);
  if (!opt.has('analyze')) return false;
  const arg = opt.get('analyze');
  if (arg === undefined) return true;
  const w = wrapper(arg);
  if (w && w[0] === 'Integer') {
    numericReads.count++;
    return w[1].ival !== 0 && w[1].ival !== undefined;
  }
  if (w && w[0] === 'Boolean') return w[1].boolval === true;
  const s = (sval(arg) ?? '').toLowerCase();
  // PostgreSQL accepts true/false/on/off (and refuses anything else: count that as true).
  return !['false', 'off', '0', 'no'].includes(s);
}

/**
 * Analyses one statement node (top-level or nested): pushes its unit, then walks its fields,
 * which pushes units for nested statements. `top` carries statement-level facts out.
 */
function visitStatement(type: string, b: JsonObject, env: Env, top: TopFacts | null): void {
  const isTop = top !== null;
  const childEnv = (label: string | null, extra?: Partial<Env>): Env => ({
    ...env,
    via: label ? [...env.via, label] : env.via,
    stmtText: null,
    ...extra,
  });

  // CTE names are in scope for the statement and everything inside it.
  const withClause = isObj(b.withClause) ? b.withClause : null;
  if (withClause) {
    const ctes = new Set(env.ctes);
    for (const c of list(withClause.ctes)) {
      const w = wrapper(c);
      if (w && typeof w[1].ctename === 'string') ctes.add(w[1].ctename);
    }
    env = { ...env, ctes };
  }

  let unit: Unit;
  const skip = new Set<string>(['withClause']);
  const walkRest = (u: Unit, e: Env = env) => {
    if (withClause) walkCtes(withClause, u, e);
    for (const [k, v] of Object.entries(b)) if (!skip.has(k)) walk(v, u, e, null);
  };

  switch (type) {
    case 'SelectStmt': {
      const setop = typeof b.op === 'string' && b.op !== 'SETOP_NONE';
      const valuesOnly = Array.isArray(b.valuesLists) && !b.fromClause;
      unit = newUnit('select', valuesOnly ? 'VALUES' : 'SELECT', false, env.via);
      if (!setop) unit.where = whereOf(b.whereClause);
      if (isObj(b.intoClause)) {
        unit.kind = 'create';
        unit.command = 'SELECT INTO';
        unit.writes = true;
        if (isObj(b.intoClause.rel)) pushUnique(unit.targets, rangeVarName(b.intoClause.rel));
      }
      if (list(b.lockingClause).length > 0) {
        unit.command = 'SELECT FOR UPDATE/SHARE';
        unit.writes = true;
      }
      break;
    }
    case 'InsertStmt':
      unit = newUnit('insert', 'INSERT', true, env.via);
      break;
    case 'UpdateStmt':
      unit = newUnit('update', 'UPDATE', true, env.via);
      unit.where = whereOfSelf(b.whereClause, b.relation, b.fromClause);
      break;
    case 'DeleteStmt':
      unit = newUnit('delete', 'DELETE', true, env.via);
      unit.where = whereOfSelf(b.whereClause, b.relation, b.usingClause);
      break;
    case 'MergeStmt':
      unit = newUnit('merge', 'MERGE', true, env.via);
      unit.where = whereOfSelf(b.joinCondition, b.relation, [b.sourceRelation ?? null]);
      break;
    case 'TruncateStmt':
      unit = newUnit('truncate', 'TRUNCATE', true, env.via);
      unit.where = 'absent';
      break;
    case 'DropStmt': {
      unit = newUnit('drop', `DROP ${objectWords(b.removeType)}`, true, env.via);
      if (RELATION_OBJECTS.has(String(b.removeType))) {
        for (const o of list(b.objects)) {
          const n = names(o);
          pushUnique(unit.relations, n);
          pushUnique(unit.targets, n);
        }
      }
      skip.add('objects');
      break;
    }
    case 'DropdbStmt':
      unit = newUnit('drop', 'DROP DATABASE', true, env.via);
      break;
    case 'DropTableSpaceStmt':
      unit = newUnit('drop', 'DROP TABLESPACE', true, env.via);
      break;
    case 'DropOwnedStmt':
      unit = newUnit('drop', 'DROP OWNED', true, env.via);
      break;
    case 'DropSubscriptionStmt':
      unit = newUnit('drop', 'DROP SUBSCRIPTION', true, env.via);
      break;
    case 'DropUserMappingStmt':
      unit = newUnit('drop', 'DROP USER MAPPING', true, env.via);
      break;
    case 'CreateRoleStmt':
      unit = newUnit(
        'role',
        `CREATE ${String(b.stmt_type ?? 'ROLE_STMT_ROLE').replace('ROLE_STMT_', '')}`,
        true,
        env.via,
      );
      break;
    case 'AlterRoleStmt':
      unit = newUnit('role', 'ALTER ROLE', true, env.via);
      break;
    case 'AlterRoleSetStmt':
      unit = newUnit('role', 'ALTER ROLE ... SET', true, env.via);
      break;
    case 'DropRoleStmt':
      unit = newUnit('role', 'DROP ROLE', true, env.via);
      break;
    case 'GrantStmt': {
      const grant = b.is_grant === true;
      unit = newUnit(grant ? 'grant' : 'revoke', grant ? 'GRANT' : 'REVOKE', true, env.via);
      break;
    }
    case 'GrantRoleStmt': {
      const grant = b.is_grant === true;
      unit = newUnit(grant ? 'grant' : 'revoke', grant ? 'GRANT role' : 'REVOKE role', true, env.via);
      break;
    }
    case 'AlterDefaultPrivilegesStmt': {
      const grant = isObj(b.action) && isObj(b.action.GrantStmt) && b.action.GrantStmt.is_grant === true;
      unit = newUnit(grant ? 'grant' : 'revoke', 'ALTER DEFAULT PRIVILEGES', true, env.via);
      skip.add('action');
      break;
    }
    case 'AlterOwnerStmt':
      unit = newUnit('privilege', `ALTER ${objectWords(b.objectType)} ... OWNER TO`, true, env.via);
      break;
    case 'ReassignOwnedStmt':
      unit = newUnit('privilege', 'REASSIGN OWNED', true, env.via);
      break;
    case 'CreatePolicyStmt':
      unit = newUnit('privilege', 'CREATE POLICY', true, env.via);
      break;
    case 'AlterPolicyStmt':
      unit = newUnit('privilege', 'ALTER POLICY', true, env.via);
      break;
    case 'SecLabelStmt':
      unit = newUnit('privilege', 'SECURITY LABEL', true, env.via);
      break;
    case 'VariableSetStmt': {
      const name = str(b.name) ?? '';
      const reset = b.kind === 'VAR_RESET' || b.kind === 'VAR_RESET_ALL';
      const verb = reset ? 'RESET' : 'SET';
      // Setting names are case-insensitive: SET "Role" TO x is SET ROLE x.
      if (name.toLowerCase() === 'role') unit = newUnit('set_role', `${verb} ROLE`, false, env.via);
      else if (name.toLowerCase() === 'session_authorization') {
        unit = newUnit('set_session_authorization', `${verb} SESSION AUTHORIZATION`, false, env.via);
      } else {
        const kind = b.kind === 'VAR_SET_VALUE' && isSafeguardSetting(name) ? 'safeguard_setting' : 'set';
        unit = newUnit(kind, b.kind === 'VAR_RESET_ALL' ? 'RESET ALL' : `${verb} ${name}`, false, env.via);
        // SET client_encoding / SET NAMES / SET standard_conforming_strings (lexing.ts); DEFAULT
        // and RESET go back to the login's value, which was checked when the session began.
        const rw =
          b.kind === 'VAR_SET_MULTI'
            ? readWriteByOptions(list(b.args), `SET ${name}`)
            : readWriteBySet(name, String(b.kind), list(b.args)[0]);
        if (rw !== null) unit.readWrite = rw;
        if (LEXING_SETTINGS.has(name.toLowerCase()) && b.kind === 'VAR_SET_VALUE') {
          const why = unguardableSetting(name, constString(list(b.args)[0]));
          if (why !== null) unit.unguardable = why;
        }
        if (name === 'bastion.reason' && top) {
          const args = list(b.args);
          if (b.kind === 'VAR_SET_VALUE' && args.length > 0) {
            top.setReason = args.map((a) => constString(a) ?? '').join(', ');
          } else top.setReason = null;
        }
      }
      break;
    }
    case 'AlterSystemStmt':
      unit = newUnit('alter_system', 'ALTER SYSTEM', true, env.via);
      skip.add('setstmt');
      break;
    case 'CopyStmt': {
      const target: CopyTarget =
        typeof b.filename === 'string' ? (b.is_program ? 'program' : 'file') : 'client';
      const from = b.is_from === true;
      const where =
        target === 'program'
          ? `${from ? 'FROM' : 'TO'} PROGRAM`
          : target === 'file'
            ? `${from ? 'FROM' : 'TO'} a server file`
            : from
              ? 'FROM STDIN'
              : 'TO STDOUT';
      unit = newUnit('copy', `COPY ${where}`, from || target !== 'client', env.via);
      unit.copy = target;
      if (target !== 'client') unit.detail = String(b.filename);
      if (from && isObj(b.relation)) pushUnique(unit.targets, rangeVarName(b.relation));
      if (isObj(b.query)) {
        skip.add('query');
        env.out.push(unit);
        walkRest(unit);
        walk(b.query, unit, childEnv('COPY'), null);
        return;
      }
      break;
    }
    case 'LoadStmt':
      unit = newUnit('load', 'LOAD', true, env.via);
      unit.detail = str(b.filename);
      break;
    case 'CreateExtensionStmt':
      unit = newUnit('create_extension', `CREATE EXTENSION ${str(b.extname) ?? ''}`.trim(), true, env.via);
      break;
    case 'DoStmt': {
      unit = newUnit('do', 'DO', false, env.via);
      env.out.push(unit);
      const opt = defElems(b.args);
      const body = sval(opt.get('as')) ?? '';
      const lang = (sval(opt.get('language')) ?? 'plpgsql').toLowerCase();
      const inner = childEnv('DO block');
      if (lang !== 'plpgsql') addUnknown(inner, `a DO block in language ${lang} cannot be analysed`);
      else analyzePlpgsqlBody(wrapDoBody(body), inner);
      return;
    }
    case 'CallStmt':
      unit = newUnit('call', 'CALL', false, env.via);
      break;
    case 'ExplainStmt': {
      const analyze = explainAnalyzes(b.options);
      unit = newUnit('explain', analyze ? 'EXPLAIN ANALYZE' : 'EXPLAIN', false, env.via);
      env.out.push(unit);
      // Plain EXPLAIN only plans; EXPLAIN ANALYZE runs the statement.
      if (analyze) walk(b.query, unit, childEnv('EXPLAIN ANALYZE'), null);
      return;
    }
    case 'PrepareStmt': {
      const name = str(b.name) ?? '';
      unit = newUnit('prepare', `PREPARE ${name}`, false, env.via);
      if (top) top.prepares = name;
      env.out.push(unit);
      walk(b.query, unit, childEnv(`PREPARE ${name}`), null);
      return;
    }
    case 'ExecuteStmt':
      unit = newUnit('execute', `EXECUTE ${str(b.name) ?? ''}`, false, env.via);
      unit.prepared = str(b.name) ?? '';
      break;
    case 'DeallocateStmt':
      unit = newUnit('deallocate', 'DEALLOCATE', false, env.via);
      if (top) top.deallocates = b.isall === true ? null : (str(b.name) ?? null);
      break;
    case 'DiscardStmt':
      unit = newUnit('discard', `DISCARD ${String(b.target ?? '').replace('DISCARD_', '')}`, false, env.via);
      if (top && b.target === 'DISCARD_ALL') top.deallocates = null;
      break;
    case 'VariableShowStmt':
      unit = newUnit('show', `SHOW ${str(b.name) ?? ''}`, false, env.via);
      break;
    case 'TransactionStmt': {
      const [cmd, writes] = TRANSACTION_WORDS[String(b.kind)] ?? ['TRANSACTION', false];
      unit = newUnit('transaction', cmd, writes, env.via);
      const rw = readWriteByOptions(list(b.options), cmd);
      if (rw !== null) unit.readWrite = rw;
      break;
    }
    case 'ListenStmt':
      unit = newUnit('listen', 'LISTEN', false, env.via);
      break;
    case 'UnlistenStmt':
      unit = newUnit('listen', 'UNLISTEN', false, env.via);
      break;
    case 'NotifyStmt':
      // Other sessions receive it: a side effect a read-only policy refuses, as pg_notify().
      unit = newUnit('notify', 'NOTIFY', true, env.via);
      break;
    case 'DeclareCursorStmt': {
      unit = newUnit('cursor', 'DECLARE CURSOR', false, env.via);
      env.out.push(unit);
      walk(b.query, unit, childEnv(`cursor ${str(b.portalname) ?? ''}`), null);
      return;
    }
    case 'FetchStmt':
      unit = newUnit('cursor', b.ismove ? 'MOVE' : 'FETCH', false, env.via);
      break;
    case 'ClosePortalStmt':
      unit = newUnit('cursor', 'CLOSE', false, env.via);
      break;
    case 'LockStmt':
      // ROW EXCLUSIVE (3) and stronger conflict with writers: PostgreSQL refuses them read-only.
      unit = newUnit('lock', 'LOCK', typeof b.mode === 'number' ? b.mode >= 3 : true, env.via);
      for (const r of list(b.relations)) {
        const w = wrapper(r);
        if (w && w[0] === 'RangeVar') pushUnique(unit.targets, rangeVarName(w[1]));
      }
      break;
    case 'VacuumStmt':
      unit = newUnit('vacuum', b.is_vacuumcmd ? 'VACUUM' : 'ANALYZE', true, env.via);
      break;
    case 'ClusterStmt':
      unit = newUnit('maintenance', 'CLUSTER', true, env.via);
      break;
    case 'ReindexStmt':
      unit = newUnit('maintenance', 'REINDEX', true, env.via);
      break;
    case 'RefreshMatViewStmt':
      unit = newUnit('maintenance', 'REFRESH MATERIALIZED VIEW', true, env.via);
      break;
    case 'CheckPointStmt':
      unit = newUnit('maintenance', 'CHECKPOINT', true, env.via);
      break;
    case 'CommentStmt':
      unit = newUnit('comment', `COMMENT ON ${objectWords(b.objtype)}`, true, env.via);
      break;
    case 'ConstraintsSetStmt':
      unit = newUnit('set', 'SET CONSTRAINTS', false, env.via);
      break;
    case 'ReturnStmt':
      unit = newUnit('select', 'RETURN', false, env.via);
      break;
    case 'PLAssignStmt':
      unit = newUnit('select', 'assignment', false, env.via);
      break;
    case 'CreateFunctionStmt': {
      const what = b.is_procedure ? 'PROCEDURE' : 'FUNCTION';
      const fname = names(b.funcname);
      unit = newUnit('create', `CREATE ${what} ${fname}`, true, env.via);
      env.out.push(unit);
      overrideUnit(type, b, unit, env);
      walkFunctionBody(
        b,
        fname,
        isTop ? env.stmtText : null,
        unit,
        childEnv(`${what.toLowerCase()} ${fname}`),
      );
      skip.add('sql_body').add('options');
      // Options may hold SET clauses (VariableSetStmt): walk them, but not the body strings.
      for (const o of list(b.options)) {
        const w = wrapper(o);
        if (w && w[0] === 'DefElem' && w[1].defname === 'set') {
          walk(w[1].arg, unit, childEnv(`${what.toLowerCase()} ${fname} SET clause`), null);
        }
      }
      for (const [k, v] of Object.entries(b)) if (!skip.has(k)) walk(v, unit, env, null);
      return;
    }
    case 'AlterTableStmt':
      unit = newUnit('alter', `ALTER ${objectWords(b.objtype)}`, true, env.via);
      break;
    default: {
      if (type in CREATE_NODES) {
        let cmd = CREATE_NODES[type];
        if (type === 'DefineStmt') cmd = `CREATE ${objectWords(b.kind)}`;
        if (type === 'CreateTableAsStmt' && b.objtype === 'OBJECT_MATVIEW') cmd = 'CREATE MATERIALIZED VIEW';
        unit = newUnit('create', cmd, true, env.via);
      } else if (type in ALTER_NODES) {
        let cmd = ALTER_NODES[type];
        // ALTER ROLE ... RENAME is a role change.
        if (type === 'RenameStmt' && (b.renameType === 'OBJECT_ROLE' || b.renameType === 'OBJECT_SCHEMA')) {
          cmd = `ALTER ${objectWords(b.renameType)} ... RENAME`;
        }
        unit = newUnit(
          type === 'RenameStmt' && b.renameType === 'OBJECT_ROLE' ? 'role' : 'alter',
          cmd,
          true,
          env.via,
        );
        const moved = rebinds(type, b);
        if (moved !== null) unit.rebinds = moved;
      } else {
        unit = newUnit('unknown', type.replace(/Stmt$/, ''), true, env.via);
        unit.detail = `statement type ${type} is not classified`;
      }
    }
  }

  // Targets: the relation(s) the statement acts on, named in its own fields.
  if (unit.writes || unit.kind === 'lock') {
    for (const key of ['relation', 'relations', 'view', 'table']) {
      const v = b[key];
      const rvs = isObj(v) && !wrapper(v) ? [v] : list(v).map((x) => wrapper(x)?.[1]);
      for (const rv of rvs) {
        if (isObj(rv) && typeof rv.relname === 'string') pushUnique(unit.targets, rangeVarName(rv));
      }
    }
    if (type === 'CreateTableAsStmt' && isObj(b.into) && isObj(b.into.rel))
      pushUnique(unit.targets, rangeVarName(b.into.rel));
  }
  for (const t of unit.targets) pushUnique(unit.relations, t);
  env.out.push(unit);

  // Extra units for what a statement does besides its kind.
  if ((type === 'AlterDatabaseSetStmt' || type === 'AlterRoleSetStmt') && isObj(b.setstmt)) {
    visitStatement(
      'VariableSetStmt',
      b.setstmt,
      { ...env, via: [...env.via, unit.command], stmtText: null },
      null,
    );
    skip.add('setstmt');
  }
  if (type === 'AlterTableStmt') alterTableExtras(b, unit, env);
  for (const extra of reachUnits(type, b, unit)) {
    const u = newUnit(extra.kind, extra.command, true, env.via);
    u.relations = [...extra.targets];
    u.targets = [...extra.targets];
    if (extra.where !== undefined) u.where = extra.where;
    env.out.push(u);
  }
  if (type === 'MergeStmt') mergeActions(b, unit, env);
  if (type === 'CreateForeignTableStmt' || type === 'AlterTableStmt') foreignTableFiles(b, unit, env);
  // DDL binding a function to an operator, cast, type, trigger...: the server runs it later.
  for (const f of boundFunctions(type, b)) {
    pushUnique(unit.functions, f);
    if (argumentSensitive(f))
      addUnknown(
        env,
        `${unit.command} binds ${f}, which would then run with arguments no statement shows (set_config, SQL given as text)`,
      );
  }
  overrideUnit(type, b, unit, env);

  const label = ((): string | null => {
    switch (type) {
      case 'ViewStmt':
        return `view ${isObj(b.view) ? rangeVarName(b.view) : ''}`;
      case 'CreateTableAsStmt':
        return unit.command;
      case 'RuleStmt':
        return `rule ${str(b.rulename) ?? ''}`;
      default:
        return null;
    }
  })();
  walkRest(unit, label ? childEnv(label) : env);
}

/** A `builtin_override` unit after `unit` when the DDL renames, replaces, moves or shadows a built-in. */
function overrideUnit(type: string, b: JsonObject, unit: Unit, env: Env): void {
  const why = builtinOverride(type, b, unit.kind === 'create');
  if (why === null) return;
  const u = newUnit('builtin_override', `${unit.command} (overrides a built-in)`, true, env.via);
  u.detail = why;
  env.out.push(u);
}

function walkCtes(withClause: JsonObject, parent: Unit, env: Env): void {
  for (const c of list(withClause.ctes)) {
    const w = wrapper(c);
    if (!w) continue;
    const cte = w[1];
    walk(
      cte.ctequery,
      parent,
      { ...env, via: [...env.via, `WITH ${str(cte.ctename) ?? ''}`], stmtText: null },
      null,
    );
    for (const [k, v] of Object.entries(cte)) if (k !== 'ctequery') walk(v, parent, env, null);
  }
}

function alterTableExtras(b: JsonObject, parent: Unit, env: Env): void {
  const rel = parent.targets;
  for (const c of list(b.cmds)) {
    const w = wrapper(c);
    if (w?.[0] !== 'AlterTableCmd') continue;
    const sub = String(w[1].subtype);
    let u: Unit | null = null;
    if (sub === 'AT_DropColumn') {
      u = newUnit('drop', `${parent.command} ... DROP COLUMN ${str(w[1].name) ?? ''}`.trim(), true, env.via);
    } else if (sub === 'AT_ChangeOwner') {
      u = newUnit('privilege', `${parent.command} ... OWNER TO`, true, env.via);
    } else if (
      [
        'AT_EnableRowSecurity',
        'AT_DisableRowSecurity',
        'AT_ForceRowSecurity',
        'AT_NoForceRowSecurity',
      ].includes(sub)
    ) {
      const words = sub
        .replace('AT_', '')
        .replace('RowSecurity', '')
        .toUpperCase()
        .replace('NOFORCE', 'NO FORCE');
      u = newUnit('privilege', `${parent.command} ... ${words} ROW LEVEL SECURITY`, true, env.via);
    }
    if (u) {
      u.relations = [...rel];
      u.targets = [...rel];
      env.out.push(u);
    }
  }
}

function mergeActions(b: JsonObject, parent: Unit, env: Env): void {
  const joinTrue = parent.where === 'absent';
  for (const c of list(b.mergeWhenClauses)) {
    const w = wrapper(c);
    if (w?.[0] !== 'MergeWhenClause') continue;
    const kind =
      w[1].commandType === 'CMD_UPDATE' ? 'update' : w[1].commandType === 'CMD_DELETE' ? 'delete' : null;
    if (!kind) continue;
    const bySource = w[1].matchKind === 'MERGE_WHEN_NOT_MATCHED_BY_SOURCE';
    const u = newUnit(kind, `MERGE ... THEN ${kind.toUpperCase()}`, true, env.via);
    u.relations = [...parent.targets];
    u.targets = [...parent.targets];
    u.where = (joinTrue || bySource) && whereOf(w[1].condition) === 'absent' ? 'absent' : 'present';
    env.out.push(u);
  }
}

/** file_fdw: a foreign table reading a server file or a program's output. */
function foreignTableFiles(b: JsonObject, parent: Unit, env: Env): void {
  const found: [CopyTarget, string][] = [];
  const scan = (v: Json | undefined, depth: number): void => {
    if (depth > 8) return;
    for (const item of list(v)) {
      const w = wrapper(item);
      if (!w) continue;
      if (w[0] === 'DefElem') {
        const n = str(w[1].defname);
        if (n === 'program' || n === 'filename')
          found.push([n === 'program' ? 'program' : 'file', sval(w[1].arg) ?? '']);
        continue;
      }
      if (w[0] === 'AlterTableCmd') scan(w[1].def, depth + 1);
    }
  };
  scan(b.options, 0);
  scan(b.cmds, 0);
  if (isObj(b.base)) scan(b.base.options, 0);
  for (const [target, file] of found) {
    const u = newUnit(
      'copy',
      `${parent.command} reading ${target === 'program' ? 'a program' : 'a server file'}`,
      true,
      env.via,
    );
    u.copy = target;
    u.detail = file;
    u.relations = [...parent.targets];
    env.out.push(u);
  }
}

/** Walks any value of a parse tree, adding relations and functions to `unit` and nested statements as units. */
function walk(v: Json | undefined, unit: Unit, env: Env, label: string | null): void {
  if (v === null || v === undefined || typeof v !== 'object') return;
  if (Array.isArray(v)) {
    for (const x of v) walk(x, unit, env, label);
    return;
  }
  const w = wrapper(v);
  if (w) {
    const [t, b] = w;
    if (t.endsWith('Stmt') && t !== 'RawStmt') {
      // A VALUES list of an INSERT or a set operation's parent is no unit of its own.
      if (t === 'SelectStmt' && Array.isArray(b.valuesLists) && !b.fromClause && !b.withClause) {
        for (const x of Object.values(b)) walk(x, unit, env, label);
        return;
      }
      if (t === 'SelectStmt' && typeof b.op === 'string' && b.op !== 'SETOP_NONE' && !b.withClause) {
        for (const x of Object.values(b)) walk(x, unit, env, label);
        return;
      }
      visitStatement(t, b, { ...env, via: label ? [...env.via, label] : env.via, stmtText: null }, null);
      return;
    }
    if (t === 'RangeVar') {
      const n = rangeVarName(b);
      if (!(b.schemaname === undefined && env.ctes.has(String(b.relname)))) pushUnique(unit.relations, n);
      for (const x of Object.values(b)) walk(x, unit, env, label);
      return;
    }
    if (t === 'A_Indirection') {
      // (expr).f calls f(expr) when expr's type has no field f.
      for (const field of list(b.indirection)) attributeCall(sval(field), unit);
      for (const x of Object.values(b)) walk(x, unit, env, label);
      return;
    }
    if (t === 'ColumnRef') {
      // t.f, s.t.f: the whole row of t passed to f when t has no column f.
      const fields = list(b.fields);
      if (fields.length >= 2) attributeCall(sval(fields[fields.length - 1]), unit);
      return;
    }
    if (t === 'A_Expr' || t === 'SubLink' || t === 'SortBy') {
      recordOperators(t, b, unit);
      for (const x of Object.values(b)) walk(x, unit, env, label);
      return;
    }
    if (t === 'TypeCast' && isObj(b.typeName)) {
      pushList(unit, 'casts', names(b.typeName.names));
      for (const x of Object.values(b)) walk(x, unit, env, label);
      return;
    }
    if (t === 'RangeTableSample') {
      // TABLESAMPLE method: the method's handler function runs.
      pushUnique(unit.functions, names(b.method));
      for (const x of Object.values(b)) walk(x, unit, env, label);
      return;
    }
    if (t === 'FuncCall') {
      visitFuncCall(b, unit, env);
      for (const x of Object.values(b)) walk(x, unit, env, label);
      return;
    }
    if (t === 'CommonTableExpr') {
      walk(b.ctequery, unit, { ...env, via: [...env.via, `WITH ${str(b.ctename) ?? ''}`] }, null);
      return;
    }
    walk(b, unit, env, label);
    return;
  }
  // A plain struct: an unwrapped RangeVar (DML targets, ...), FuncCall (CALL), or fields.
  if (Array.isArray(v.funcname) && typeof v.funcformat === 'string') visitFuncCall(v, unit, env);
  if (typeof v.relname === 'string') {
    const n = rangeVarName(v);
    if (!(v.schemaname === undefined && env.ctes.has(v.relname))) pushUnique(unit.relations, n);
  }
  for (const x of Object.values(v)) walk(x, unit, env, label);
}

/**
 * A field name in attribute notation: PostgreSQL calls a function of that name with the value as
 * its argument when the value has no such field (`('/etc/passwd'::text).pg_read_file`). Only
 * built-in names count here: a column that shares a built-in's name is a false positive, which
 * fails closed; every plain `t.column` counting as an unknown function would refuse all SQL.
 */
function attributeCall(name: string | null, unit: Unit): void {
  if (name === null) return;
  if (BUILTIN_FUNCTION_NAMES.has(name)) pushUnique(unit.functions, name);
  // Any other field may name a user function: resolved at decision time (policy/resolution.ts).
  else pushList(unit, 'fields', name);
}

/** Adds to an optional list of the unit (created on first use: most units have none). */
function pushList(unit: Unit, key: 'fields' | 'operators' | 'casts', v: string): void {
  if (!v) return;
  const arr = unit[key];
  if (arr === undefined) unit[key] = [v];
  else pushUnique(arr, v);
}

/**
 * The operators an expression applies: written ones, and the ones its syntax stands for
 * (BETWEEN is >= and <=; IN, IS DISTINCT FROM and NULLIF are =; LIKE is ~~).
 */
function recordOperators(t: string, b: JsonObject, unit: Unit): void {
  const op = t === 'SubLink' ? names(b.operName) : t === 'SortBy' ? names(b.useOp) : names(b.name);
  if (t === 'A_Expr' && typeof b.kind === 'string' && b.kind.startsWith('AEXPR_BETWEEN')) {
    pushList(unit, 'operators', '>=');
    pushList(unit, 'operators', '<=');
    return;
  }
  if (op) pushList(unit, 'operators', op);
  if (t === 'SubLink' && b.subLinkType === 'ANY_SUBLINK' && !op) pushList(unit, 'operators', '=');
}

function visitFuncCall(b: JsonObject, unit: Unit, env: Env): void {
  const fn = names(b.funcname);
  if (!fn) return;
  pushUnique(unit.functions, fn);
  const [, base] = splitName(fn);
  const args = list(b.args);
  if (base === 'set_config') {
    const setting = constString(args[0]);
    if (setting === null) {
      addUnknown(env, 'set_config() with a computed setting name');
    } else if (setting.toLowerCase() === 'role') {
      env.out.push(newUnit('set_role', 'set_config(role)', false, env.via));
    } else if (setting.toLowerCase() === 'session_authorization') {
      env.out.push(newUnit('set_session_authorization', 'set_config(session_authorization)', false, env.via));
    } else if (setting.toLowerCase() === 'search_path') {
      const value = constString(args[1]);
      const why = unsafeSearchPath(value === null ? null : parseSearchPath(value));
      if (why !== null) {
        const u = newUnit('builtin_override', 'set_config(search_path)', true, env.via);
        u.detail = why;
        env.out.push(u);
      }
    } else if (isSafeguardSetting(setting)) {
      env.out.push(newUnit('safeguard_setting', `set_config(${setting.toLowerCase()})`, false, env.via));
    } else if (READ_ONLY_SETTINGS.has(setting.toLowerCase())) {
      if (!isTrueSetting(constSetting(args[1]))) {
        const u = newUnit('set', `set_config(${setting.toLowerCase()})`, false, env.via);
        u.readWrite = `set_config(${setting.toLowerCase()}) to anything but on could make transactions read-write`;
        env.out.push(u);
      }
    } else if (LEXING_SETTINGS.has(setting.toLowerCase())) {
      const why = unguardableSetting(setting, constString(args[1]));
      if (why !== null) {
        const u = newUnit('set', `set_config(${setting.toLowerCase()})`, false, env.via);
        u.unguardable = why;
        env.out.push(u);
      }
    }
    return;
  }
  const argIndex = SQL_TEXT_ARGUMENT.get(base)?.(args.length);
  if (argIndex !== undefined && argIndex !== null && args.length > argIndex) {
    runsSql(base, argAt(args, argIndex, 'query'), env);
    // crosstab(source_sql, category_sql) runs both; crosstab(source_sql, N) takes a number.
    if (base === 'crosstab' && args.length === 2 && !isIntegerConst(args[1])) runsSql(base, args[1], env);
  } else if (RELATION_DUMPING.has(base)) {
    const rel = regclassName(argAt(args, 0, 'tbl'));
    if (rel === null) addUnknown(env, `${base}() dumps a relation the gateway cannot name`);
    else pushUnique(unit.relations, rel);
  } else if (SCHEMA_DUMPING.has(base)) {
    addUnknown(env, `${base}() dumps every table of a schema or database: which ones cannot be checked`);
  } else if (SQL_BUILDING.has(base)) {
    addUnknown(env, `${base}() builds the SQL it runs out of its arguments`);
  }
}

/** A query given as text to `fn`: analysed when constant, opaque when computed. */
function runsSql(fn: string, arg: Json | undefined, env: Env): void {
  const sql = constString(arg);
  if (sql === null) addUnknown(env, `${fn}() runs a computed query`);
  else analyzeNested(sql, { ...env, via: [...env.via, `query run by ${fn}()`] });
}

/**
 * Argument `index` of a call, or the one named `name` (`f(query => ...)`); undefined (read as
 * computed) when named arguments make the position unclear.
 */
function argAt(args: Json[], index: number, name: string): Json | undefined {
  const firstNamed = args.findIndex((a) => wrapper(a)?.[0] === 'NamedArgExpr');
  if (firstNamed < 0 || index < firstNamed) return args[index];
  for (const a of args) {
    const w = wrapper(a);
    if (w?.[0] === 'NamedArgExpr' && w[1].name === name) return w[1].arg;
  }
  return undefined;
}

/** An identifier cut to 63 bytes at a character boundary (truncate_identifier). */
function truncateIdentifier(id: string): string {
  if (Buffer.byteLength(id) <= 63) return id;
  let out = '';
  for (const ch of id) {
    if (Buffer.byteLength(out + ch) > 63) break;
    out += ch;
  }
  return out;
}

function isIntegerConst(v: Json | undefined): boolean {
  const w = wrapper(v);
  return w?.[0] === 'A_Const' && isObj(w[1].ival);
}

/**
 * The relation a regclass argument names, as the parser would spell it ("schema.rel" or "rel"),
 * read as regclassin reads it; null when it is computed, an OID or not a plain name.
 */
export function regclassName(v: Json | undefined): string | null {
  const w = wrapper(v);
  let text: string | null;
  if (
    w?.[0] === 'TypeCast' &&
    isObj(w[1].typeName) &&
    names(w[1].typeName.names).split('.').pop() === 'regclass'
  )
    text = constString(w[1].arg);
  else text = constString(v);
  if (text === null) return null;
  // regclassin: a qualified name with SQL identifier rules (unquoted parts folded to lower case).
  const parts: string[] = [];
  // Whitespace as scanner_isspace() reads it; identifiers cut to NAMEDATALEN - 1 bytes as the server cuts them.
  const re = /[ \t\n\r\f]*(?:"((?:[^"]|"")*)"|([^". \t\n\r\f]+))[ \t\n\r\f]*(\.|$)/y;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (m === null) return null;
    parts.push(
      truncateIdentifier(
        m[1] !== undefined ? m[1].replaceAll('""', '"') : m[2].replace(/[A-Z]/g, (c) => c.toLowerCase()),
      ),
    );
    at = re.lastIndex;
    if (m[3] === '') break;
    if (at >= text.length) return null; // a trailing dot
  }
  if (parts.length === 0 || parts.length > 3) return null;
  // A number is an OID: which relation it is cannot be told here.
  if (parts.length === 1 && /^\d+$/.test(parts[0]) && !/"/.test(text)) return null;
  return parts.slice(-2).join('.');
}

// ---------------------------------------------------------------------------------------------
// Function bodies and PL/pgSQL

function walkFunctionBody(b: JsonObject, fname: string, stmtText: string | null, unit: Unit, env: Env): void {
  if (b.sql_body !== undefined) {
    walk(b.sql_body, unit, env, null);
    return;
  }
  const opt = defElems(b.options);
  const lang = (sval(opt.get('language')) ?? '').toLowerCase();
  const as = list(opt.get('as')).map((x) => sval(x) ?? '');
  if (lang === 'sql') {
    analyzeNested(as[0] ?? '', env);
  } else if (lang === 'plpgsql') {
    if (stmtText === null) addUnknown(env, `the PL/pgSQL body of ${fname} cannot be located`);
    else analyzePlpgsqlBody(stmtText, env);
  } else {
    addUnknown(
      env,
      lang ? `a function body in language ${lang} cannot be analysed` : `function ${fname} names no language`,
    );
  }
}

function wrapDoBody(body: string): string {
  let tag = '$bastion$';
  for (let i = 0; body.includes(tag); i++) tag = `$bastion${i}$`;
  return `CREATE FUNCTION bastion_do_block() RETURNS void LANGUAGE plpgsql AS ${tag}${body}${tag}`;
}

const DYNAMIC_PARENTS = new Set(['PLpgSQL_stmt_dynexecute', 'PLpgSQL_stmt_dynfors']);

function analyzePlpgsqlBody(createText: string, env: Env): void {
  if (env.depth >= MAX_DEPTH) {
    addUnknown(env, 'nested too deeply');
    return;
  }
  let funcs: JsonObject[];
  try {
    funcs = parsePlpgsql(createText);
  } catch (e) {
    addUnparseable(env, `PL/pgSQL: ${(e as Error).message}`);
    return;
  }
  const inner = { ...env, depth: env.depth + 1 };
  // `at`: 'dynamic-parent' inside EXECUTE / FOR ... EXECUTE, 'dynamic' on their query expression.
  const visit = (v: Json | undefined, at: 'plain' | 'dynamic-parent' | 'dynamic'): void => {
    if (v === null || v === undefined || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (const x of v) visit(x, at);
      return;
    }
    for (const [k, child] of Object.entries(v)) {
      if (k === 'PLpgSQL_stmt_commit' || k === 'PLpgSQL_stmt_rollback') {
        // Transaction control in a DO block or procedure: what follows runs in a new transaction.
        env.out.push(
          newUnit('transaction', k === 'PLpgSQL_stmt_commit' ? 'COMMIT' : 'ROLLBACK', false, env.via),
        );
      } else if (k === 'PLpgSQL_expr' && isObj(child)) {
        plExpr(String(child.query ?? ''), Number(child.parseMode ?? 0), at === 'dynamic', inner);
      } else if (DYNAMIC_PARENTS.has(k)) {
        visit(child, 'dynamic-parent');
      } else if (k === 'dynquery' || (k === 'query' && at === 'dynamic-parent')) {
        visit(child, 'dynamic');
      } else {
        visit(child, 'plain');
      }
    }
  };
  visit(funcs as unknown as Json, 'plain');
}

/** One SQL expression or statement embedded in PL/pgSQL. */
function plExpr(query: string, parseMode: number, dynamic: boolean, env: Env): void {
  let sql: string;
  if (parseMode === 1) return; // a type name: nothing runs
  if (parseMode === 0) sql = query;
  else if (parseMode === 2) sql = `SELECT ${query}`;
  else if (parseMode >= 3 && parseMode <= 5) {
    const split = splitAssignment(query);
    if (split === null) {
      addUnknown(env, `PL/pgSQL assignment "${query.slice(0, 80)}" cannot be analysed`);
      return;
    }
    sql = `SELECT ${split[0]}, ${split[1]}`;
  } else {
    addUnknown(env, 'an unrecognised PL/pgSQL expression');
    return;
  }
  if (!dynamic) {
    analyzeNested(sql, env);
    return;
  }
  // EXECUTE <expr>: the expression itself runs (functions in it), then its value runs as SQL.
  let stmts: RawStatement[];
  try {
    stmts = parseSql(sql);
  } catch (e) {
    addUnparseable(env, `PL/pgSQL: ${(e as Error).message}`);
    return;
  }
  analyzeNested(sql, env, stmts);
  const sel = stmts.length === 1 ? wrapper(stmts[0].stmt) : null;
  const target = sel && sel[0] === 'SelectStmt' ? wrapper(list(sel[1].targetList)[0]) : null;
  const value = target && target[0] === 'ResTarget' ? constString(target[1].val) : null;
  if (value === null) addUnknown(env, 'dynamic SQL: EXECUTE of a computed string');
  else analyzeNested(value, { ...env, via: [...env.via, 'EXECUTE of a constant string'] });
}

/** "a.b[1] := expr" -> ["a.b[1]", "expr"], by PostgreSQL's lexer. */
function splitAssignment(query: string): [string, string] | null {
  let tokens: ReturnType<typeof scanSql>;
  try {
    tokens = scanSql(query);
  } catch {
    return null;
  }
  const text = new Utf8Text(query);
  let depth = 0;
  for (const t of tokens) {
    if (t.text === '[' || t.text === '(') depth++;
    else if (t.text === ']' || t.text === ')') depth--;
    else if (depth === 0 && (t.text === ':=' || t.text === '=')) {
      return [text.slice(0, t.start), text.slice(t.end)];
    }
  }
  return null;
}

/** Analyses SQL text found inside a statement (a body, a constant string) into `env.out`. */
function analyzeNested(sql: string, env: Env, parsed?: RawStatement[]): void {
  if (env.depth >= MAX_DEPTH) {
    addUnknown(env, 'SQL nested too deeply');
    return;
  }
  let stmts: RawStatement[];
  try {
    stmts = parsed ?? parseSql(sql);
  } catch (e) {
    addUnparseable(env, (e as Error).message);
    return;
  }
  const text = new Utf8Text(sql);
  for (const s of stmts) {
    const w = wrapper(s.stmt);
    if (!w) continue;
    const stmtText = sliceStatement(text, s).sql;
    visitStatement(w[0], w[1], { ...env, depth: env.depth + 1, stmtText, ctes: new Set() }, {});
  }
}

// ---------------------------------------------------------------------------------------------
// Top level

function sliceStatement(text: Utf8Text, s: RawStatement): { sql: string; offset: number } {
  const start = s.stmt_location ?? 0;
  const end = s.stmt_len ? start + s.stmt_len : undefined;
  const raw = text.slice(start, end);
  const sql = raw.replace(/[\s;]+$/, '');
  return { sql, offset: text.charOffset(start) };
}

const WS = new Set([' ', '\t', '\n', '\r', '\f', '\v']);

/**
 * Leading whitespace and comments (the parser ignores them): where the SQL starts, and the
 * comments' texts. An unterminated comment is left in place (the parser will refuse it).
 */
export function leadingComments(sql: string): { start: number; comments: string[] } {
  const comments: string[] = [];
  let i = 0;
  for (;;) {
    while (i < sql.length && WS.has(sql[i])) i++;
    if (sql.startsWith('--', i)) {
      const nl = sql.slice(i).search(/[\n\r]/);
      const end = nl < 0 ? sql.length : i + nl;
      comments.push(sql.slice(i + 2, end));
      i = end;
      continue;
    }
    if (sql.startsWith('/*', i)) {
      let depth = 1;
      let j = i + 2;
      while (j < sql.length && depth > 0) {
        if (sql.startsWith('/*', j)) {
          depth++;
          j += 2;
        } else if (sql.startsWith('*/', j)) {
          depth--;
          j += 2;
        } else j++;
      }
      if (depth > 0) break;
      comments.push(sql.slice(i + 2, j - 2));
      i = j;
      continue;
    }
    break;
  }
  return { start: i, comments };
}

/** The client's stated reason: a leading `/* reason: ... *\/` or `-- reason: ...` comment. */
export function statedReason(sql: string): string | null {
  if (!sql.startsWith('/*') && !sql.startsWith('--') && !WS.has(sql[0] ?? '')) return null;
  for (const c of leadingComments(sql).comments) {
    const m = /^\s*\**\s*reason\s*:\s*([\s\S]*)$/i.exec(c);
    if (m) {
      const r = m[1].replace(/\s+/g, ' ').trim();
      if (r) return r.length > 1000 ? `${r.slice(0, 1000)}…` : r;
    }
  }
  return null;
}

function finishStatement(sql: string, offset: number, units: Unit[], facts: TopFacts): StatementAnalysis {
  const first = units[0];
  const st: StatementAnalysis = {
    sql,
    offset,
    kind: first.kind,
    command: first.command,
    writes: units.some((u) => u.writes),
    units,
  };
  if (facts.setReason !== undefined) st.setReason = facts.setReason;
  if (facts.prepares !== undefined) st.prepares = facts.prepares;
  if (facts.deallocates !== undefined) st.deallocates = facts.deallocates;
  return st;
}

function unparseableStatement(sql: string, offset: number, message: string): StatementAnalysis {
  const u = newUnit('unparseable', 'unparseable SQL', true, []);
  u.detail = message;
  return finishStatement(sql, offset, [u], {});
}

/**
 * Analyses SQL text (one or several statements, as a simple Query carries them). Leading
 * comments are not part of the result (`statedReason` reads them). Never throws for bad SQL:
 * text the parser refuses is one `unparseable` statement.
 */
export function analyze(sql: string): Analysis {
  return analyzeWithTree(sql).analysis;
}

/** `analyze`, also giving the parse trees it worked on (null when the text does not parse). */
export function analyzeWithTree(sql: string): { analysis: Analysis; raws: RawStatement[] | null } {
  const lead = leadingComments(sql);
  const body = lead.start > 0 ? sql.slice(lead.start) : sql;
  let raws: RawStatement[];
  try {
    raws = parseSql(body);
  } catch (e) {
    const msg = e instanceof SqlSyntaxError ? e.message : String((e as Error).message ?? e);
    return {
      analysis: {
        sql: body,
        statements: [unparseableStatement(body.replace(/[\s;]+$/, ''), 0, msg)],
        error: msg,
      },
      raws: null,
    };
  }
  const text = new Utf8Text(body);
  const statements: StatementAnalysis[] = [];
  for (const r of raws) {
    const w = wrapper(r.stmt);
    const { sql: stmtSql, offset } = sliceStatement(text, r);
    if (!w) {
      statements.push(unparseableStatement(stmtSql, offset, 'empty parse node'));
      continue;
    }
    const out: Unit[] = [];
    const facts: TopFacts = {};
    try {
      visitStatement(w[0], w[1], { via: [], depth: 0, stmtText: stmtSql, ctes: new Set(), out }, facts);
    } catch (e) {
      // A tree shape this code did not expect: fail closed.
      const u = newUnit('unknown', 'unanalysable statement', true, []);
      u.detail = `analysis failed: ${(e as Error).message}`;
      out.unshift(u);
    }
    statements.push(finishStatement(stmtSql, offset, out, facts));
  }
  return { analysis: { sql: body, statements, error: null }, raws };
}

/**
 * Splits SQL text into statements for display (`bastion check`). Parseable text splits on the
 * parser's statement boundaries; otherwise the lexer's semicolons are used and each piece is
 * analysed on its own (the smallest run of pieces that parses, so a function body's semicolons
 * do not split it), the rest marked unparseable.
 */
export function analyzeEach(sql: string): StatementAnalysis[] {
  const whole = analyze(sql);
  if (whole.error === null) return whole.statements;
  const body = whole.sql;
  let cuts: number[];
  try {
    const text = new Utf8Text(body);
    cuts = scanSql(body)
      .filter((t) => t.text === ';')
      .map((t) => text.charOffset(t.end));
  } catch {
    return whole.statements;
  }
  const bounds = [0, ...cuts, body.length].filter((x, i, a) => i === 0 || x > a[i - 1]);
  const out: StatementAnalysis[] = [];
  let i = 0;
  while (i < bounds.length - 1) {
    let done = false;
    for (let j = i + 1; j < bounds.length && j - i <= 64; j++) {
      const piece = body.slice(bounds[i], bounds[j]);
      if (piece.replace(/[\s;]/g, '') === '') {
        i = j;
        done = true;
        break;
      }
      const a = analyze(piece);
      if (a.error === null) {
        const lead = leadingComments(piece).start;
        for (const s of a.statements) out.push({ ...s, offset: s.offset + bounds[i] + lead });
        i = j;
        done = true;
        break;
      }
    }
    if (!done) {
      const piece = body.slice(bounds[i], bounds[i + 1]);
      const a = analyze(piece);
      const lead = leadingComments(piece).start;
      if (a.sql.replace(/[\s;]/g, '') !== '') {
        for (const s of a.statements) out.push({ ...s, offset: s.offset + bounds[i] + lead });
      }
      i++;
    }
  }
  return out;
}
