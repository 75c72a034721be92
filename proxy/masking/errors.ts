// Errors and notices of a statement that reads masked columns: fail closed. PostgreSQL echoes
// values in many messages (a failed cast, `x::regclass` -> `relation "<value>" does not exist`,
// current_setting(x) -> `unrecognized configuration parameter "<value>"`, JSON and XML parse
// errors quoting the document, PL/pgSQL RAISE with any text under any SQLSTATE). So under a
// strict rule, each free-text field is kept only when it is one of the server's own templates
// below, with every quoted value in it masked (unless the client itself wrote that text in the
// statement: nothing the server read); anything else is replaced whole by REDACTED_FIELD.
//
// Provenance: RAISE (and other procedural languages) can set any message, detail, hint and
// even the schema / table / column / datatype / constraint name fields, but not the source
// file and routine fields (F, R) the server adds: a message from one of those is redacted whole,
// name fields included.

import { bump } from './compile.js';
import type { MaskRule } from './rules.js';
import { type Hasher, maskFreeText } from './strategies.js';

export const REDACTED_FIELD = '[redacted by Bastion: the statement reads masked columns]';

/** Kept as they are: severity, SQLSTATE, positions, and the server's own source location. */
export const KEEP_FIELDS = new Set(['S', 'V', 'C', 'P', 'p', 'F', 'L', 'R']);
/** Names of real objects when the server fills them; any text when a RAISE does. */
export const NAME_FIELDS = new Set(['s', 't', 'c', 'd', 'n']);

/** A message raised by user code (a procedural language), or of unknown origin. */
export function userRaised(fields: ReadonlyMap<string, string>): boolean {
  const file = fields.get('F');
  const routine = fields.get('R') ?? '';
  if (file === undefined) return true;
  if (routine === 'exec_stmt_raise' || routine === 'exec_stmt_assert') return true;
  // Core sources are C, the grammar (gram.y) and the lexer (scan.l); anything else is not.
  return /^(?:pl_|plpy|plperl|pltcl|plv8|pljava|plr)/i.test(file) || !/\.[cly]$/.test(file);
}

const Q = '"(?:[^"]|"")*"';
const ID = '[A-Za-z_][\\w$.]*';
/** A type name as the server writes it: `character varying(10)`, `integer[]`, `timestamp with time zone`. */
const TYPE = '[A-Za-z_][\\w$. ]*(?:\\(\\d+(?:,\\d+)?\\))?(?:\\[\\])*';
const ARGS = `\\((?:${TYPE}(?:, ${TYPE})*)?\\)`;

function templates(list: readonly string[]): RegExp[] {
  return list.map(
    (t) => new RegExp(`^${t.replace(/%/g, Q).replace(/@T/g, TYPE).replace(/@I/g, ID).replace(/@A/g, ARGS)}$`),
  );
}

/** Messages (M) of the server whose only echoed data is in quoted slots. */
const MESSAGES = templates([
  'invalid input syntax for type @T: %',
  'invalid input syntax for type @T',
  'invalid input value for enum @T: %',
  'value % is out of range for type @T',
  '(?:smallint|integer|bigint|numeric|double precision|real) out of range',
  'value too long for type @T',
  'numeric field overflow',
  'division by zero',
  'date/time field value out of range: %',
  'invalid value % for %',
  'malformed (?:array|range|record) literal: %',
  'relation % does not exist',
  'relation % already exists',
  'column % does not exist',
  'column % of relation % does not exist',
  'column reference % is ambiguous',
  'column % is of type @T but expression is of type @T',
  'missing FROM-clause entry for table %',
  'schema % does not exist',
  'type % does not exist',
  'role % does not exist',
  'function % does not exist',
  'function @I@A does not exist',
  'function @I@A is not unique',
  'operator does not exist: (?:@T )?\\S+ @T',
  'unrecognized configuration parameter %',
  'syntax error at or near %',
  'syntax error at end of input',
  'unterminated quoted string at or near %',
  'zero-length delimited identifier at or near %',
  'permission denied for (?:table|schema|sequence|function|view|database|column) @I',
  'permission denied to set parameter %',
  'duplicate key value violates unique constraint %',
  'null value in column % of relation % violates not-null constraint',
  'new row for relation % violates check constraint %',
  'new row violates row-level security policy for table %',
  'insert or update on table % violates foreign key constraint %',
  'update or delete on table % violates foreign key constraint % on table %',
  'conflicting key value violates exclusion constraint %',
  'more than one row returned by a subquery used as an expression',
  'query returned more than one row',
  'cannot cast type @T to @T',
  'argument of (?:WHERE|HAVING|JOIN/ON|CHECK) must be type boolean, not type @T',
  'could not determine data type of parameter \\$\\d+',
  'there is no parameter \\$\\d+',
  'aggregate functions are not allowed in [A-Za-z ]+',
  'canceling statement due to (?:statement timeout|user request|lock timeout)',
  'current transaction is aborted, commands ignored until end of transaction block',
  'could not serialize access due to (?:concurrent update|read/write dependencies among transactions)',
  'deadlock detected',
  'cannot execute @I in a read-only transaction',
  'invalid input syntax for type json',
  'invalid regular expression: [a-z ()]+',
  'invalid hexadecimal digit: %',
  'invalid base64 end sequence',
  'invalid XML content',
  'invalid XML document',
  'table % does not exist, skipping',
  'relation % already exists, skipping',
]);

/** Details (D) and hints (H) of the server whose only echoed data is in quoted slots or Key (...)=(...). */
const DETAILS = templates([
  'Key \\((?:[^()"]|%)*\\)=\\(\\x00\\) (?:already exists|is not present in table %|is still referenced from table %)\\.',
  'Key \\((?:[^()"]|%)*\\)=\\(\\x00\\) conflicts with (?:existing key|key) \\((?:[^()"]|%)*\\)=\\(\\x00\\)\\.',
  'Failing row contains \\(\\x00\\)\\.',
  'Token % is invalid\\.',
  'The input string ended unexpectedly\\.',
  'Array value must start with "\\{" or dimension information\\.',
  'Unexpected end of input\\.',
  'Unexpected array element\\.',
  'Value must be an integer\\.',
  'A field with precision \\d+, scale \\d+ must round to an absolute value less than (?:10\\^-?\\d+|1)\\.',
  'No function matches the given name and argument types\\. You might need to add explicit type casts\\.',
  'No operator matches the given name and argument types\\. You might need to add explicit type casts\\.',
  'Could not choose a best candidate (?:function|operator)\\. You might need to add explicit type casts\\.',
  'Perhaps you meant to reference the column %\\.',
  'Perhaps you meant to reference the table alias %\\.',
  'There is a column named % in table %, but it cannot be referenced from this part of the query\\.',
  'There is an entry for table %, but it cannot be referenced from this part of the query\\.',
  'You will need to rewrite or cast the expression\\.',
  'Column % is an identity column defined as GENERATED ALWAYS\\.',
]);

/** Context (W) lines: where in a function, never what it was working on. */
const CONTEXT_LINE = templates([
  'PL/pgSQL function @I@A line \\d+ at [A-Za-z ]+',
  'PL/pgSQL function @I@A (?:while storing call arguments into local variables|during function entry|during function exit)',
  'PL/pgSQL function inline_code_block line \\d+ at [A-Za-z ]+',
  'SQL function % (?:statement \\d+|during startup|during inlining)',
  'SQL statement %',
  'PL/pgSQL expression %',
]);

/**
 * What the client itself sent: quoted text an error echoes from it is not data the server read.
 * `sql`: the statement's text, only for an error with a cursor position (raised while the server
 * parsed and analysed the text, before it read any row); `params`: the Bind's parameter values,
 * matched whole (a failed conversion echoes one).
 */
export interface ClientText {
  sql: string;
  params: ReadonlySet<string>;
}

/**
 * One free-text field of an error or notice under a strict rule: the quoted values masked (kept
 * when the client sent them: see ClientText), the \x00 placeholders of Key (...)=(...) and Failing
 * row contains (...) masked, or the whole field redacted when it is none of the templates.
 */
export function maskStrictField(
  code: string,
  text: string,
  rule: MaskRule,
  hasher: Hasher,
  client: ClientText,
  counts: Map<string, number> | null,
  names: ReadonlySet<string> = new Set(),
): string {
  const m = (v: string) => {
    bump(counts, rule.name);
    return maskFreeText(v, rule.strategy, hasher);
  };
  const lowerSql = client.sql.toLowerCase();
  // Quoted text the client sent is not data the server read; a name the server also sends in a
  // name field (kept: see NAME_FIELDS) reveals nothing more here.
  const slot = (all: string, v: string) => {
    const u = v.replace(/""/g, '"');
    const mine =
      names.has(u) || client.params.has(u) || (lowerSql !== '' && lowerSql.includes(u.toLowerCase()));
    return v !== '' && mine ? all : `"${m(v)}"`;
  };
  if (code === 'M') {
    if (!MESSAGES.some((re) => re.test(text))) return REDACTED_FIELD;
    return text.replace(/"((?:[^"]|"")*)"/g, slot);
  }
  if (code === 'D' || code === 'H') {
    // The echoed row / key values: parenthesised, with nested parentheses and quotes inside.
    const echoes: string[] = [];
    let t = text.replace(
      /^(Key \((?:[^()"]|"(?:[^"]|"")*")*\)=\()(.*)(\) (?:already exists|is not present|is still referenced)[\s\S]*)$/s,
      (_a, p, v, s) => {
        echoes.push(v);
        return `${p}\x00${s}`;
      },
    );
    t = t.replace(/^(Failing row contains \()(.*)(\)\.)$/s, (_a, p, v, s) => {
      echoes.push(v);
      return `${p}\x00${s}`;
    });
    if (!DETAILS.some((re) => re.test(t))) return REDACTED_FIELD;
    let k = 0;
    const quoted = t.replace(/"((?:[^"]|"")*)"/g, slot);
    return quoted.replace(/\x00/g, () => m(echoes[k++] ?? ''));
  }
  if (code === 'W') {
    return text
      .split('\n')
      .map((line) =>
        CONTEXT_LINE.some((re) => re.test(line))
          ? line.replace(/"((?:[^"]|"")*)"/g, (all, v: string) =>
              /^(?:SQL statement|PL\/pgSQL expression) /.test(line) ? `"${REDACTED_FIELD}"` : slot(all, v),
            )
          : REDACTED_FIELD,
      )
      .join('\n');
  }
  // The internal query (q) and any field this code does not know: any text at all.
  return REDACTED_FIELD;
}
