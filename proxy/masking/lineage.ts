// Column lineage on PostgreSQL's parse tree: for each output column of a statement, the
// strictest rule of any masked column its expression reads. Views and subqueries hide a value's
// origin from RowDescription (which names the view, or nothing), so the statement itself is
// analysed: aliases, `*` and `t.*`, subqueries, CTEs (recursive too), set operations, VALUES,
// joins (USING / NATURAL), LATERAL, functions in FROM, views (their definitions, recursively,
// depth-bounded), functions, casts, operators, CASE / COALESCE / NULLIF / GREATEST, aggregates,
// window functions, scalar and ARRAY subqueries, ROW(), whole-row references (`SELECT c FROM
// customers c`), and JSON builders (row_to_json(t), to_jsonb(t), json_agg, json_build_object ...),
// which mask only the keys holding masked values.
//
// Functions of the database are resolved through the catalog like views: the body of a LANGUAGE
// sql function (or its SQL-standard body) gives its output columns; a PL/pgSQL function's output
// is what its RETURN QUERY statements return, plus whatever any other statement of it computes
// (values reach RETURN / RETURN NEXT through variables); a body that cannot be analysed (another
// language, dynamic SQL) leaves its output to the detectors. Built-ins that dump relations named
// by their arguments (query_to_xml, table_to_xml, database_to_xml, ts_stat, ...) carry what those
// relations hold.
//
// Conservative by design: an expression that reads a masked column is masked (except count()
// and IS [NOT] NULL tests, which reveal no value); an unqualified name that a masked relation in
// scope has is taken to be that column. What it does not model fails closed (issue 18): attribute
// notation on a row, a row cast to a scalar, the depth and view limits, a cursor or statement never
// seen declared carry every masked column, masked whole with the strictest rule. A relation the
// catalog does not know has no masked columns. A statement that would copy masked data into server
// state (a table, a setting, a large object, ...) is reported in StatementLineage.writes, and the
// session refuses it (writeRefusal). Pure and synchronous (initPolicyEngine() first).

//
// The analysis lives in lineage/: taint.ts (resolver and taints), scope.ts (scopes, column
// references, limits), expressions.ts, queries.ts, writes.ts (masked data into server state),
// statements.ts (per statement and per session) and functions.ts (function bodies).

export { functionLineage } from './lineage/functions.js';
export type {
  CopyLineage,
  CursorLineages,
  PreparedLineages,
  StatementLineage,
} from './lineage/statements.js';
export { LineageSession, outputLineage, statementLineages, writeRefusal } from './lineage/statements.js';
export type {
  FunctionLineage,
  LineageResolver,
  ResolvedColumn,
  ResolvedFunction,
  ResolvedRelation,
  SimpleResolver,
} from './lineage/taint.js';
export { lineageResolver } from './lineage/taint.js';
export type { MaskedWrite } from './lineage/writes.js';
