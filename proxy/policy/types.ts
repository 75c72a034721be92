// What the analysis of SQL text yields, and what a decision on it looks like.

/** Statement kinds a guardrail can match (`match: { kind: [...] }`). */
export const STATEMENT_KINDS = [
  'select',
  'insert',
  'update',
  'delete',
  'merge',
  'truncate',
  'drop',
  'alter',
  'create',
  'grant',
  'revoke',
  /** CREATE / ALTER / DROP ROLE (USER, GROUP). */
  'role',
  /** Ownership and row-security changes: OWNER TO, REASSIGN OWNED, CREATE/ALTER POLICY, ROW LEVEL SECURITY, SECURITY LABEL. */
  'privilege',
  'set_role',
  'set_session_authorization',
  /** ALTER SYSTEM, and what else reaches the whole server: ALTER DATABASE ... SET / WITH / RENAME, tablespaces, subscriptions. */
  'alter_system',
  'copy',
  'load',
  'create_extension',
  'do',
  'call',
  'explain',
  'prepare',
  'execute',
  'deallocate',
  'set',
  'show',
  /** BEGIN, COMMIT, ROLLBACK, SAVEPOINT, ... */
  'transaction',
  'listen',
  'notify',
  /** DECLARE, FETCH, MOVE, CLOSE. */
  'cursor',
  'lock',
  /** VACUUM, ANALYZE. */
  'vacuum',
  /** CLUSTER, REINDEX, REFRESH MATERIALIZED VIEW, CHECKPOINT. */
  'maintenance',
  'comment',
  'discard',
  /**
   * DDL that renames, replaces, moves or shadows a built-in function, aggregate or operator, or
   * creates an object in pg_catalog / information_schema (after it, names no longer say what runs).
   */
  'builtin_override',
  /**
   * SET (also set_config, a function's SET clause, ALTER ROLE/DATABASE ... SET) of a setting that
   * switches off a server safeguard or its audit trail: session_replication_role, log_*, ...
   */
  'safeguard_setting',
  /** A protocol-level FunctionCall message. */
  'function_call',
  /** Parsed, but what it does cannot be known: dynamic SQL, a body in a language other than SQL or PL/pgSQL, an unseen prepared statement. */
  'unknown',
  /** The parser refused the text. */
  'unparseable',
] as const;

export type StatementKind = (typeof STATEMENT_KINDS)[number];

export type CopyTarget = 'client' | 'file' | 'program';

/**
 * One thing a statement does. A statement has one unit for itself (the first) and one for every
 * statement nested in it: CTEs, subqueries, the query of EXPLAIN ANALYZE / PREPARE / COPY /
 * CREATE TABLE AS / DECLARE, rule actions, the SQL in DO blocks and function bodies.
 */
export interface Unit {
  kind: StatementKind;
  /** For messages: "DELETE", "DROP TABLE", "SET ROLE", "COPY ... TO PROGRAM". */
  command: string;
  /** Changes data, schema, privileges or server state (what a read-only policy refuses). */
  writes: boolean;
  /** Relations the unit names directly, as written ("public.t" or "t"). */
  relations: string[];
  /** The relations it writes (a subset of `relations`). */
  targets: string[];
  /** For select / update / delete / merge / truncate: a real WHERE clause or none (a constant-true one counts as none). */
  where: 'present' | 'absent' | null;
  /** Functions the unit calls or refers to, as written ("pg_catalog.pg_read_file" or "lower"). */
  functions: string[];
  /**
   * Field names in attribute notation (`t.f`, `(x).f`) that are no built-in's name: a column, or
   * a user function of that name called with the row (resolved against the live catalog).
   */
  fields?: string[];
  /** Operator symbols the unit writes (`+`, `===`, `OPERATOR(s.===)` as `s.===`): user operators run functions. */
  operators?: string[];
  /** Type names the unit casts to (`x::t`, `CAST(x AS s.t)`): user casts run functions. */
  casts?: string[];
  /**
   * Functions DDL renames or moves without restating their bodies (`s.f`, `f`, `s.*` for a whole
   * schema): decided as calls of them, since later statements name them where the catalog
   * snapshot does not (policy/rebinds.ts).
   */
  rebinds?: string[];
  /** COPY: where the data comes from or goes to. */
  copy: CopyTarget | null;
  /** EXECUTE: the prepared statement's name, resolved at decision time. */
  prepared: string | null;
  /** Where the unit sits, outermost first: ["DO block", "EXECUTE of a constant string"]. */
  via: string[];
  /** Why an `unknown` / `unparseable` unit could not be analysed, and other notes. */
  detail: string | null;
  /**
   * Set when the unit would leave the gateway unable to guard what follows (a client encoding it
   * cannot read as the server does): refused whatever the policy says.
   */
  unguardable?: string;
  /**
   * Set when the unit could switch the session's transactions to read-write (SET
   * default_transaction_read_only = off, BEGIN READ WRITE, ...): refused under `read_only`.
   */
  readWrite?: string;
}

export interface StatementAnalysis {
  /** The statement's text (from its first token to its end, without the terminating semicolon). */
  sql: string;
  /** Character offset of `sql` in the analysed text. */
  offset: number;
  kind: StatementKind;
  command: string;
  /** Any unit writes (EXECUTE of a prepared statement is resolved later). */
  writes: boolean;
  units: Unit[];
  /** `SET bastion.reason = '...'` (a string) or `RESET bastion.reason` (null); undefined otherwise. */
  setReason?: string | null;
  /** PREPARE name AS ...: the name (the units from index 1 on are the prepared statement's). */
  prepares?: string;
  /** DEALLOCATE name (a string), DEALLOCATE ALL / DISCARD ALL (null). */
  deallocates?: string | null;
}

export interface Analysis {
  /** The analysed text (leading whitespace and comments removed). */
  sql: string;
  statements: StatementAnalysis[];
  /** The parser's message when the text could not be parsed (then one `unparseable` statement). */
  error: string | null;
}

export type Action = 'allow' | 'warn' | 'block' | 'review';

export interface Verdict {
  action: Action;
  /** The guardrail that decided, `read_only`, or null (nothing matched / fail-closed default). */
  rule: string | null;
  reason: string;
}

export interface StatementDecision extends Verdict {
  sql: string;
  kind: StatementKind;
  command: string;
  writes: boolean;
}

export interface QueryDecision extends Verdict {
  /** One per statement, in order (a simple Query may hold several). */
  statements: StatementDecision[];
  /** The client's stated reason from a leading `/* reason: ... *\/` comment, if any. */
  statedReason: string | null;
  /** Set when the text holds `SET bastion.reason` (string) or `RESET bastion.reason` (null). */
  setReason?: string | null;
}
