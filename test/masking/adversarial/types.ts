// The shape of one masking adversarial case (issue 18): what an attacker sends, as which identity,
// by which transport, and what must hold. Cases are data; the harness runs them through `bastion
// serve` against a real PostgreSQL and checks every byte the client received (rows, COPY data,
// errors, notices, notifications, parameter statuses), the store and an exported report for the
// canaries of data.ts.

export type MaskClass =
  | 'whole-row' // whole-row references, attribute notation, row/record/JSON conversions
  | 'types' // values cast to uncommon types, C strings, binary formats, numeric PII
  | 'statistics' // planner statistics and functions revealing stored values
  | 'limits' // expression depth, size limits, many columns, huge values
  | 'side-channels' // errors, notices, RAISE, notifications, parameter statuses
  | 'laundering' // copying a masked value into a setting, a large object, a table, then reading it
  | 'renames' // renaming the column, the table or the schema of a rule
  | 'prepared' // prepared statements, portals, cursors (refused re-Parse, FETCH, DECLARE)
  | 'transforms' // string transformations a detector does not recognise
  | 'store' // PII typed by the client into SQL text or parameters (the store, not the client)
  | 'functions'; // user functions, views, procedures, DO blocks, dynamic SQL

/**
 * rules: a policy whose masking names every sensitive column of pii.customers, pii.numbers and
 * pii.docs in column rules (plus the detectors). dflt: the built-in default policy.
 */
export type Identity = 'rules' | 'dflt';

/**
 * query: each statement as its own simple Query; extended: Parse/Bind/Execute/Sync with text
 * results; binary: the same with every result column in binary format; psql: a psql script.
 */
export type Via = 'query' | 'extended' | 'binary' | 'psql';

export interface MaskCustomContext {
  identity: Identity;
  /** Logs in through the gateway as `identity` over a raw protocol client. */
  login(): Promise<import('../../helpers/raw-client.js').RawClient>;
  /** Every byte the client received: the harness searches these for canaries. */
  received: Buffer[];
  /** The gateway's API over its control socket. */
  api(method: string, params: unknown[]): Promise<unknown>;
}

export interface MaskCase {
  /** Stable id, e.g. "row-012": KNOWN_LEAKS lists these. */
  id: string;
  cls: MaskClass;
  desc: string;
  /** Default: both. */
  identities?: Identity[];
  /** Statements, each sent on its own. */
  sql?: string[];
  /** One Query message holding several statements (query and psql only). */
  script?: string;
  /** Bind values for a single-statement extended case. */
  params?: (string | null)[];
  /** Default: ['query', 'extended', 'binary'] for sql, ['query'] for script. */
  via?: Via[];
  /** Superuser SQL run directly on the server before the case (undone by `cleanup`). */
  setup?: string;
  cleanup?: string;
  /**
   * A second session, after the first has ended, that reads back what the first may have left
   * in server state (a table, a setting, a large object): its bytes are checked too.
   */
  readBack?: string[];
  /**
   * leak: an attack; the canaries must not appear (refusing the statement is a pass).
   * control: must keep working: no error, and `expect` (if given) appears in what was received.
   */
  kind: 'leak' | 'control';
  /** For a control: text that must appear in the bytes received (an unmasked value, a count). */
  expect?: string;
  /** The forms of a canary this case would leak (default: data.ts defaultForms). */
  reveal?: (secret: string) => string[];
  custom?: (ctx: MaskCustomContext) => Promise<void>;
}
