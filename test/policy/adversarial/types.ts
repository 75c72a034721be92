// The shape of one adversarial case: what an attacker sends, as whom, by which transport, and what
// must hold on the server afterwards. Cases are data; the harness (harness.ts, runner.ts) runs them.

/** The eight classes of issue 17. */
export type CaseClass =
  | 'lexing'
  | 'functions'
  | 'sql-as-data'
  | 'where'
  | 'server-enforced'
  | 'server-files'
  | 'approvals'
  | 'policy-reload';

/** dflt: the built-in default policy; ro: `read_only: true`; locked: `upstream_role: adv_reader`. */
export type Identity = 'dflt' | 'ro' | 'locked';

/** su: the gateway's upstream user is a superuser; nsu: an ordinary login role (adv_app). */
export type Conn = 'su' | 'nsu';

/**
 * query: each statement as its own simple Query; extended: each statement as Parse/Bind/Execute/Sync;
 * psql: the statements as a psql script (psql's own lexer splits them); fcall: a FunctionCall message.
 */
export type Via = 'query' | 'extended' | 'psql' | 'fcall';

export interface FunctionCallSpec {
  /** The function as regprocedure text, resolved to its OID on the server before the case. */
  fn: string;
  args: (string | null)[];
}

/** What a custom case gets to drive a session by hand (approvals, policy reloads). */
export interface CustomContext {
  conn: Conn;
  /** Logs in as the case's identity on `conn` over a raw protocol client. */
  login(): Promise<import('../../helpers/raw-client.js').RawClient>;
  /** Replaces the placeholders ({{OUT}}, {{MARKER_FILE}}, ...) in SQL text. */
  fill(sql: string): string;
  /** Sets who decides held statements: the default denies every one. */
  decide(f: (sql: string, nth: number) => 'approve' | 'deny'): void;
  /** The gateway's API over its control socket (savePolicies, getPolicies, ...). */
  api(method: string, params: unknown[]): Promise<unknown>;
  /** Every byte the client received, for the marker check. */
  received: Buffer[];
}

export interface Case {
  /** Stable id, e.g. "lex-012": KNOWN_BYPASSES lists these. */
  id: string;
  cls: CaseClass;
  desc: string;
  identity: Identity;
  /** Statements, each sent on its own (placeholders filled in). */
  sql?: string[];
  /** One Query message holding several statements (query and psql -c only). */
  script?: string;
  /** Bind values for a single-statement extended case. */
  params?: (string | null)[];
  fcall?: FunctionCallSpec;
  /** Default: ['query', 'extended', 'psql'] for sql, ['query', 'psql'] for script, ['fcall'] for fcall. */
  via?: Via[];
  /** Default: both. */
  conns?: Conn[];
  /** Superuser SQL run directly on the server before the case (objects planted by an earlier actor). */
  setup?: string;
  /** Superuser SQL run after the case, before state is compared back (undo of `setup`). */
  cleanup?: string;
  /**
   * refused: the gateway or the server must refuse; the server state must not change.
   * ok: a control that must keep working (no error); `verify` (if any) must return true.
   */
  expect: 'refused' | 'ok';
  /** Superuser SQL returning one boolean: true when a control did what it should. */
  verify?: string;
  /** Only on servers at least this version (e.g. pg_ident_file_mappings, 16+). */
  minVersion?: number;
  custom?: (ctx: CustomContext) => Promise<void>;
}
