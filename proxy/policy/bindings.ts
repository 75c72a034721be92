// DDL that binds a function to something the server runs implicitly later: an operator, a cast,
// an aggregate's support functions, a type's I/O functions, a trigger, an operator class's
// support functions, a language or wrapper handler... Creating the binding is how a statement
// that never spells `f(...)` gets `f` run (`CREATE OPERATOR === (..., FUNCTION = pg_read_file)`,
// then `SELECT 'x' === 'y'`), so the function named counts as one the statement calls.

import { type Json, type JsonObject, list, sval, withoutCatalog, wrapper } from './parser.js';

/**
 * DefElem names that name a function: CREATE OPERATOR / AGGREGATE / TYPE / TEXT SEARCH PARSER /
 * TEMPLATE (DefineStmt), CREATE TYPE AS RANGE, ALTER OPERATOR SET, CREATE / ALTER FOREIGN DATA
 * WRAPPER. None of these statements has an option of the same name that names something else.
 */
const FUNCTION_OPTIONS = new Set([
  // CREATE OPERATOR, ALTER OPERATOR SET
  'function',
  'procedure',
  'restrict',
  'join',
  // CREATE AGGREGATE
  'sfunc',
  'finalfunc',
  'combinefunc',
  'serialfunc',
  'deserialfunc',
  'msfunc',
  'minvfunc',
  'mfinalfunc',
  // CREATE TYPE (base type), CREATE TYPE AS RANGE
  'input',
  'output',
  'receive',
  'send',
  'typmod_in',
  'typmod_out',
  'analyze',
  'subscript',
  'subtype_diff',
  'canonical',
  // CREATE TEXT SEARCH PARSER / TEMPLATE
  'start',
  'gettoken',
  'end',
  'headline',
  'lextypes',
  'init',
  'lexize',
  // FOREIGN DATA WRAPPER, LANGUAGE
  'handler',
  'validator',
  'inline',
]);

function nameList(v: Json | undefined): string {
  return withoutCatalog(list(v).map((x) => sval(x) ?? '')).join('.');
}

/**
 * A function name as an option's value: `f`, `s.f` (a TypeName to the grammar), `'f'` (a string:
 * PostgreSQL takes its whole text as the name) or a list of names.
 */
function optionFunction(arg: Json | undefined): string {
  const w = wrapper(arg);
  if (w === null) return '';
  if (w[0] === 'TypeName') return nameList(w[1].names);
  if (w[0] === 'String') return sval(arg) ?? '';
  if (w[0] === 'List') return nameList(arg);
  return '';
}

function fromOptions(options: Json | undefined, out: string[]): void {
  for (const item of list(options)) {
    const w = wrapper(item);
    if (w?.[0] !== 'DefElem' || typeof w[1].defname !== 'string') continue;
    if (FUNCTION_OPTIONS.has(w[1].defname.toLowerCase())) out.push(optionFunction(w[1].arg));
  }
}

/** `ObjectWithArgs` (a plain struct or wrapped): its name. */
function objectName(v: Json | undefined): string {
  const w = wrapper(v);
  const o = w ? w[1] : (v as JsonObject | undefined);
  return o && typeof o === 'object' && !Array.isArray(o) ? nameList(o.objname) : '';
}

/** OPERATOR CLASS / FAMILY items: `FUNCTION n f(...)` (itemtype 2). */
function fromOpClassItems(items: Json | undefined, out: string[]): void {
  for (const item of list(items)) {
    const w = wrapper(item);
    if (w && w[0] === 'CreateOpClassItem' && w[1].itemtype === 2) out.push(objectName(w[1].name));
  }
}

/** The functions a DDL statement binds to an object that runs them implicitly (names as written). */
export function boundFunctions(type: string, b: JsonObject): string[] {
  const out: string[] = [];
  switch (type) {
    case 'DefineStmt':
      fromOptions(b.definition, out);
      break;
    case 'CreateRangeStmt':
      fromOptions(b.params, out);
      break;
    case 'AlterOperatorStmt':
      fromOptions(b.options, out);
      break;
    case 'CreateFdwStmt':
    case 'AlterFdwStmt':
      fromOptions(b.func_options, out);
      break;
    case 'CreateTrigStmt':
    case 'CreateEventTrigStmt':
      out.push(nameList(b.funcname));
      break;
    case 'CreateCastStmt':
      out.push(objectName(b.func));
      break;
    case 'CreateConversionStmt':
      out.push(nameList(b.func_name));
      break;
    case 'CreateTransformStmt':
      out.push(objectName(b.fromsql), objectName(b.tosql));
      break;
    case 'CreatePLangStmt':
      out.push(nameList(b.plhandler), nameList(b.plinline), nameList(b.plvalidator));
      break;
    case 'CreateAmStmt':
      out.push(nameList(b.handler_name));
      break;
    case 'CreateOpClassStmt':
    case 'AlterOpFamilyStmt':
      fromOpClassItems(b.items, out);
      break;
  }
  return out.filter((f) => f !== '');
}
