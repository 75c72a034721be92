// Class 1: SQL the analyser lexes differently from the server (standard_conforming_strings,
// backslash_quote, quoting, comments, unicode escapes, search_path state).
import { numbered, ok, refused } from './make.js';

const DROP = 'DROP TABLE adv.canary';

export const LEXING = numbered('lexing', 'lex', [
  refused('dflt', 'plain DROP TABLE', [DROP]),
  refused('dflt', "standard_conforming_strings off, then \\' hides a DROP", [
    'SET standard_conforming_strings = off',
    "SELECT 'a\\'; DROP TABLE adv.canary; -- '",
  ]),
  ok('dflt', 'control: a string with a backslash', ["SELECT 'a\\b'"]),
]);
