// Server settings that change how PostgreSQL splits SQL text into tokens. The analyser reads SQL
// as a server with its defaults does; a session where one of these is otherwise would read the
// same bytes differently: with standard_conforming_strings off, `\'` inside '...' is an escaped
// quote to the server and the end of the string to the analyser, so
// `SELECT 'a\' , 'b; DROP TABLE t; --'` is one SELECT to one and a DROP to the other. The gateway
// refuses to enter such a state (the guardrails), ends a session that enters it anyway (the
// server reports every change of these settings with ParameterStatus), and refuses a login whose
// session starts in it (a database or role default).
// https://www.postgresql.org/docs/current/runtime-config-compatible.html#GUC-STANDARD-CONFORMING-STRINGS

import { isGuardableEncoding, unguardableEncodingReason } from './encoding.js';

/** PostgreSQL's parse_bool spellings of true (any unique prefix of true / yes, and on, 1). */
export const PARSE_BOOL_TRUE: ReadonlySet<string> = new Set([
  't',
  'tr',
  'tru',
  'true',
  'y',
  'ye',
  'yes',
  'on',
  '1',
]);

/** Whether a setting's value reads as true to the server (null: a value the gateway cannot know). */
export function isTrueSetting(value: string | null): boolean {
  return value !== null && PARSE_BOOL_TRUE.has(value.trim().toLowerCase());
}

/**
 * Why the gateway cannot guard a session where `name` is `value` (null: a value it cannot know),
 * or null when it can. Settings that do not change lexing are always fine.
 */
export function unguardableSetting(name: string, value: string | null): string | null {
  switch (name.toLowerCase()) {
    case 'client_encoding':
      return value !== null && isGuardableEncoding(value) ? null : unguardableEncodingReason(value);
    case 'standard_conforming_strings':
      return isTrueSetting(value)
        ? null
        : `standard_conforming_strings ${value === null ? 'set to a computed value' : `= ${value}`} is refused: with it off, the server reads backslashes in '...' strings as escapes and the gateway could not read statements as the server does`;
    default:
      return null;
  }
}

/** The settings unguardableSetting() knows (lower case). */
export const LEXING_SETTINGS: ReadonlySet<string> = new Set([
  'client_encoding',
  'standard_conforming_strings',
]);

/**
 * Whether the server could read this statement text differently if a lexing setting changed
 * while earlier requests run: only a backslash can make standard_conforming_strings matter, and
 * client_encoding changes are refused outright. Such a text waits until the server has answered
 * everything before it (and with it reported any change of setting).
 */
export function lexingSensitive(sql: string): boolean {
  return sql.includes('\\');
}
