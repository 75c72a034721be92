// Class 1: SQL the analyser could lex or resolve differently from the server:
// standard_conforming_strings and backslash_quote games, quoting and case of identifiers, U&""
// identifiers, dollar quotes, E'' strings, comments in odd places, search_path state.
import { numbered, ok, refused } from './make.js';

/** A string that hides a DROP when the server reads `\'` as an escaped quote (SCS off). */
const HIDDEN = "SELECT 'a\\'; DROP TABLE adv.canary; -- '";
const HIDDEN_T = "SELECT 'a\\'; TRUNCATE adv.t; -- '";

export const LEXING = numbered('lexing', 'lex', [
  refused('dflt', 'plain DROP TABLE', ['DROP TABLE adv.canary']),
  refused('dflt', "SCS off by SET, then \\' hides a DROP", ['SET standard_conforming_strings = off', HIDDEN]),
  refused('dflt', 'SCS off by SET ... TO false', ['SET standard_conforming_strings TO false', HIDDEN]),
  refused('dflt', 'SCS off by SET = 0', ['SET standard_conforming_strings = 0', HIDDEN]),
  refused('dflt', 'SCS off by quoted name', ['SET "standard_conforming_strings" = \'off\'', HIDDEN]),
  refused('dflt', 'SCS off by SET SESSION', ['SET SESSION standard_conforming_strings = off', HIDDEN_T]),
  refused('dflt', 'SCS off by set_config()', [
    "SELECT set_config('standard_conforming_strings', 'off', false)",
    HIDDEN,
  ]),
  refused('dflt', 'SCS off by pg_catalog.set_config() with a computed name', [
    "SELECT pg_catalog.set_config('standard_' || 'conforming_strings', 'off', false)",
    HIDDEN,
  ]),
  refused('dflt', 'SCS off by SET LOCAL in a transaction, hidden DROP in the same transaction', [
    'BEGIN',
    'SET LOCAL standard_conforming_strings = off',
    HIDDEN,
    'COMMIT',
  ]),
  refused('dflt', 'SCS off by UPDATE pg_settings', [
    "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'",
    HIDDEN,
  ]),
  refused('dflt', 'SCS off persistently by ALTER ROLE ... SET', [
    'ALTER ROLE CURRENT_USER SET standard_conforming_strings = off',
  ]),
  refused('dflt', 'SCS off persistently by ALTER DATABASE ... SET', [
    'ALTER DATABASE appdb SET standard_conforming_strings = off',
  ]),
  refused('dflt', 'SCS off persistently by ALTER ROLE ... IN DATABASE', [
    'ALTER ROLE CURRENT_USER IN DATABASE appdb SET standard_conforming_strings = off',
  ]),
  refused('dflt', 'SCS off in a function SET clause, then the hidden DROP', [
    "CREATE FUNCTION adv.scs() RETURNS int LANGUAGE sql SET standard_conforming_strings = off AS 'SELECT 1'",
  ]),
  refused('dflt', 'SCS off by a DO block calling set_config, then the hidden DROP', [
    "DO $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); END $$",
    HIDDEN,
  ]),
  refused('dflt', 'SCS off by a prepared set_config with parameters', [
    'PREPARE scs(text, text) AS SELECT set_config($1, $2, false)',
    "EXECUTE scs('standard_conforming_strings', 'off')",
    HIDDEN,
  ]),
  refused(
    'dflt',
    'SCS off set by a planted function, then the hidden DROP',
    ['SELECT adv.plant_scs()', HIDDEN],
    {
      setup:
        "CREATE FUNCTION adv.plant_scs() RETURNS text LANGUAGE sql AS $$ SELECT set_config('standard_conforming_strings', 'off', false) $$; GRANT EXECUTE ON FUNCTION adv.plant_scs() TO PUBLIC",
      cleanup: 'DROP FUNCTION adv.plant_scs()',
    },
  ),
  refused('dflt', "backslash_quote on with SCS off: \\' in E-string hides a TRUNCATE", [
    'SET backslash_quote = on',
    'SET standard_conforming_strings = off',
    HIDDEN_T,
  ]),
  refused('dflt', "E-string with \\' and a DROP after it in one Query", [
    "SELECT E'\\''; DROP TABLE adv.canary; SELECT E'x'",
  ]),
  refused('dflt', 'DROP split by a comment', ['DROP/**/TABLE/**/adv.canary']),
  refused('dflt', 'DROP after a nested comment', [
    '/* outer /* inner */ still comment */ DROP TABLE adv.canary',
  ]),
  refused('dflt', 'DROP after a line comment', ['-- harmless\nDROP TABLE adv.canary']),
  refused('dflt', 'DROP with quoted identifiers', ['DROP TABLE "adv"."canary"']),
  refused('dflt', 'DROP with upper-case keywords and names', ['DROP TABLE ADV.CANARY']),
  refused('dflt', 'DROP with mixed case', ['dRoP tAbLe Adv.CaNaRy']),
  refused('dflt', 'DROP with a U& identifier', ['DROP TABLE adv.U&"c\\0061nary"']),
  refused('dflt', 'DROP with a U& identifier and UESCAPE', ['DROP TABLE U&"!0061dv" UESCAPE \'!\' . canary']),
  refused('dflt', 'DROP SCHEMA CASCADE', ['DROP SCHEMA adv CASCADE']),
  refused('dflt', 'TRUNCATE ONLY ... RESTART IDENTITY', ['TRUNCATE ONLY adv.canary RESTART IDENTITY']),
  refused('dflt', 'DROP found through search_path', ['SET search_path = adv', 'DROP TABLE canary']),
  refused('dflt', 'TRUNCATE found through search_path', [
    'SET search_path TO adv, public',
    'TRUNCATE canary',
  ]),
  refused('dflt', 'a DROP after a dollar-quoted string that looks open', [
    'SELECT $a$ $$ $a$; DROP TABLE adv.canary; SELECT $$ x $$',
  ]),
  refused('dflt', 'two statements in one Query: a SELECT then a DROP', [], {
    script: 'SELECT 1; DROP TABLE adv.canary',
  }),
  refused('dflt', 'a DROP inside a transaction block in one Query', [], {
    script: 'BEGIN; SELECT 1; DROP TABLE adv.t; COMMIT',
  }),
  refused('dflt', 'DROP with a tab and newlines between tokens', ['DROP\tTABLE\n\n adv\n.\ncanary']),
  refused('dflt', 'DROP TABLE IF EXISTS on several tables', ['DROP TABLE IF EXISTS adv.nothing, adv.canary']),
  refused('dflt', 'SCS off then an E-string-free hidden TRUNCATE via psql-style doubled backslash', [
    'SET standard_conforming_strings = off',
    "SELECT 'x\\\\'; SELECT 'y\\'; TRUNCATE adv.canary; -- '",
  ]),
  refused('dflt', 'SCS off via RESET to a role default set earlier by the same session', [
    'ALTER ROLE CURRENT_USER SET standard_conforming_strings = off',
    'RESET standard_conforming_strings',
    HIDDEN,
  ]),
  ok('dflt', 'control: a string with a backslash', ["SELECT 'a\\b'"]),
  ok('dflt', 'control: an E-string with an escaped quote', ["SELECT E'it\\'s'"]),
  ok('dflt', 'control: a dollar-quoted string holding DROP TABLE', ['SELECT $$DROP TABLE adv.canary$$']),
  ok('dflt', 'control: a comment holding DROP TABLE', ['SELECT 1 /* DROP TABLE adv.canary */']),
  ok('dflt', 'control: SET search_path', ['SET search_path = adv, public', 'SELECT count(*) FROM canary']),
  ok('dflt', 'control: SCS on stays allowed', ['SET standard_conforming_strings = on', "SELECT 'a\\'"]),
]);
