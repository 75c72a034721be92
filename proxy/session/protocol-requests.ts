// The vocabulary of the protocol model (protocol-state.ts): prepared statements, portals, the
// requests the server owes an answer to, and what a server message means in those terms.

/** A prepared statement: protocol Parse or SQL PREPARE (they share PostgreSQL's one namespace). */
export class PreparedStatement {
  constructor(
    readonly name: string,
    /** The statement's text (for SQL PREPARE, the whole PREPARE statement). */
    readonly sql: string,
    readonly origin: 'parse' | 'prepare',
  ) {}
}

/** A portal made by Bind: a prepared statement with its parameters and result formats. */
export class Portal {
  constructor(
    readonly name: string,
    /** null: the Bind named a statement the gateway does not know (the server will refuse it). */
    readonly statement: PreparedStatement | null,
    readonly statementName: string,
    readonly resultFormats: readonly number[],
    readonly params: (string | null)[],
    /** Client frame of the Bind. */
    readonly bindSeq: number,
  ) {}
}

/** What one statement of a simple Query (or an executed portal) does to the prepared statements. */
export interface SqlEffect {
  /** PREPARE name AS ...: the statement it creates. */
  prepares?: PreparedStatement;
  /** DEALLOCATE name; null = DEALLOCATE ALL / DISCARD ALL. */
  deallocates?: string | null;
}

export type OpOutcome = 'pending' | 'done' | 'failed' | 'skipped';

interface OpBase {
  /** Client frame that asked for it (-1 for a message the gateway injected). */
  readonly seq: number;
  outcome: OpOutcome;
}
export interface QueryOp extends OpBase {
  readonly kind: 'query';
  readonly sql: string;
  /** Effects by statement index (CommandComplete order); sparse. */
  readonly effects: readonly (SqlEffect | undefined)[];
  /** Index of the statement the server is answering. */
  index: number;
}
export interface ParseOp extends OpBase {
  readonly kind: 'parse';
  readonly statement: PreparedStatement;
}
export interface BindOp extends OpBase {
  readonly kind: 'bind';
  readonly portal: Portal;
}
export interface DescribeStatementOp extends OpBase {
  readonly kind: 'describe-statement';
  readonly name: string;
  readonly statement: PreparedStatement | null;
}
export interface DescribePortalOp extends OpBase {
  readonly kind: 'describe-portal';
  readonly name: string;
  readonly portal: Portal | null;
  /** Sent by the gateway itself: its answer is not the client's. */
  readonly injected: boolean;
}
export interface ExecuteOp extends OpBase {
  readonly kind: 'execute';
  readonly name: string;
  readonly portal: Portal | null;
  readonly effect: SqlEffect | undefined;
}
export interface CloseOp extends OpBase {
  readonly kind: 'close';
  readonly target: 'statement' | 'portal';
  readonly name: string;
}
export interface SyncOp extends OpBase {
  readonly kind: 'sync';
}
export interface FunctionCallOp extends OpBase {
  readonly kind: 'function-call';
  readonly oid: number;
}

/** A client message the server will answer (Flush and the COPY messages have no answer of their own). */
export type Op =
  | QueryOp
  | ParseOp
  | BindOp
  | DescribeStatementOp
  | DescribePortalOp
  | ExecuteOp
  | CloseOp
  | SyncOp
  | FunctionCallOp;

/** Thrown when a message's meaning depends on an answer the server has not sent yet. */
export class MustWaitForServer extends Error {
  constructor(readonly what: string) {
    super(`${what} depends on an earlier statement the server has not answered yet`);
  }
}

/** What a server message was, in the model's terms; valid while that message is handled. */
export interface Reply {
  /** The request it answers (null: asynchronous, or nothing was pending). */
  readonly op: Op | null;
  /** For a simple Query: the index of the statement it belongs to, before this message. */
  readonly statementIndex: number;
  /** Requests this message completed, failed or had the server skip, in order (outcome set). */
  readonly ended: readonly Op[];
}

/** The server's replies no longer match the requests: the session cannot be followed; end it. */
export class ProtocolStateError extends Error {}
