// DDL that renames, replaces, moves or shadows a built-in function, aggregate or operator, or
// creates something in pg_catalog / information_schema. Rules and read-only checks match
// functions by name; once `lower` can mean a user's function (a `public.lower(text)` with
// `public` before pg_catalog on search_path, or a better-matching argument type), or
// `pg_read_file` has been renamed to `harmless`, a name no longer says what runs. Such DDL
// yields a `builtin_override` unit, which the default policy blocks.

import { BUILTIN_FUNCTION_NAMES } from './builtins.js';
import { type Json, type JsonObject, list, sval, withoutCatalog, wrapper } from './parser.js';
import { unsafeSearchPath } from './search-path.js';

const BUILTIN_SCHEMAS = new Set(['pg_catalog', 'information_schema']);

/**
 * Names of the built-in operators (`SELECT DISTINCT oprname FROM pg_operator WHERE oid < 16384`
 * on PostgreSQL 15 and 18; test/policy/overrides.test.ts checks the live servers against it).
 */
export const BUILTIN_OPERATOR_NAMES: ReadonlySet<string> = new Set(
  (
    '!! !~ !~* !~~ !~~* # ## #- #> #>> % & && &< &<| &> * *< *<= *<> *= *> *>= + - -> ->> -|- / ' +
    '< <-> << <<= <<| <= <> <@ <^ = > >= >> >>= >^ ? ?# ?& ?- ?-| ?| ?|| @ @-@ @> @? @@ @@@ ^ ^@ ' +
    '| |&> |/ |>> || ||/ ~ ~* ~<=~ ~<~ ~= ~>=~ ~>~ ~~ ~~*'
  ).split(' '),
);

const FUNCTION_OBJECTS = new Set([
  'OBJECT_FUNCTION',
  'OBJECT_PROCEDURE',
  'OBJECT_ROUTINE',
  'OBJECT_AGGREGATE',
]);

function names(v: Json | undefined): string[] {
  return withoutCatalog(list(v).map((x) => sval(x) ?? ''));
}

function objName(v: Json | undefined): string[] {
  const w = wrapper(v);
  const o = w ? w[1] : v;
  return o && typeof o === 'object' && !Array.isArray(o) ? names((o as JsonObject).objname) : [];
}

function inBuiltinSchema(n: readonly string[]): boolean {
  return n.length >= 2 && BUILTIN_SCHEMAS.has(n[n.length - 2]);
}

/** A function name that is, or may shadow, a built-in: a built-in's name in any schema, or any name in pg_catalog. */
function functionLike(n: readonly string[]): boolean {
  return n.length > 0 && (BUILTIN_FUNCTION_NAMES.has(n[n.length - 1]) || inBuiltinSchema(n));
}

function operatorLike(n: readonly string[]): boolean {
  return n.length > 0 && (BUILTIN_OPERATOR_NAMES.has(n[n.length - 1]) || inBuiltinSchema(n));
}

/** Fields of CREATE statements that hold the new object's qualified name. */
const CREATED_NAME_LISTS = [
  'defnames',
  'funcname',
  'typeName',
  'domainname',
  'conversion_name',
  'opclassname',
  'opfamilyname',
  'collname',
];
const CREATED_RANGEVARS = ['relation', 'view', 'sequence', 'typevar'];

function createsInBuiltinSchema(b: JsonObject): boolean {
  for (const k of CREATED_NAME_LISTS) if (inBuiltinSchema(names(b[k]))) return true;
  const rvs = [...CREATED_RANGEVARS.map((k) => b[k]), isObj(b.into) ? b.into.rel : undefined];
  for (const rv of rvs) {
    const o = wrapper(rv)?.[1] ?? rv;
    if (isObj(o) && typeof o.schemaname === 'string' && BUILTIN_SCHEMAS.has(o.schemaname)) return true;
  }
  return false;
}

function isObj(v: Json | undefined): v is JsonObject {
  return v !== null && v !== undefined && typeof v === 'object' && !Array.isArray(v);
}

const shown = (n: readonly string[]) => n.join('.');

/**
 * Why a DDL statement renames, replaces, moves or shadows a built-in (or creates in a built-in
 * schema); null when it does not. `create` is true for the CREATE statement kinds.
 */
export function builtinOverride(type: string, b: JsonObject, create: boolean): string | null {
  switch (type) {
    case 'CreateFunctionStmt': {
      const n = names(b.funcname);
      return functionLike(n) ? `creates ${shown(n)}, the name of a built-in function` : null;
    }
    case 'DefineStmt': {
      const n = names(b.defnames);
      if (b.kind === 'OBJECT_AGGREGATE' && functionLike(n))
        return `creates aggregate ${shown(n)}, the name of a built-in function`;
      if (b.kind === 'OBJECT_OPERATOR' && operatorLike(n))
        return `creates operator ${shown(n)}, the name of a built-in operator`;
      break;
    }
    case 'AlterFunctionStmt': {
      const n = objName(b.func);
      return functionLike(n) ? `alters ${shown(n)}, a built-in function's name` : null;
    }
    case 'AlterOperatorStmt': {
      const n = objName(b.opername);
      return operatorLike(n) ? `alters operator ${shown(n)}, a built-in operator's name` : null;
    }
    case 'RenameStmt': {
      if (!FUNCTION_OBJECTS.has(String(b.renameType))) return null;
      const n = objName(b.object);
      const to = typeof b.newname === 'string' ? b.newname : '';
      if (functionLike(n)) return `renames ${shown(n)}, a built-in function's name`;
      if (BUILTIN_FUNCTION_NAMES.has(to)) return `renames a function to ${to}, the name of a built-in`;
      return null;
    }
    case 'AlterObjectSchemaStmt': {
      if (typeof b.newschema === 'string' && BUILTIN_SCHEMAS.has(b.newschema))
        return `moves an object into ${b.newschema}`;
      const n = objName(b.object);
      if (FUNCTION_OBJECTS.has(String(b.objectType)) && functionLike(n))
        return `moves ${shown(n)}, a built-in function's name, to another schema`;
      if (b.objectType === 'OBJECT_OPERATOR' && operatorLike(n))
        return `moves operator ${shown(n)}, a built-in operator's name, to another schema`;
      return null;
    }
    case 'VariableSetStmt': {
      // SET [LOCAL] search_path, a function's SET clause, ALTER ROLE / DATABASE ... SET.
      if (String(b.name).toLowerCase() !== 'search_path' || b.kind !== 'VAR_SET_VALUE') return null;
      const values = list(b.args).map((a) => {
        const w = wrapper(a);
        return w && w[0] === 'A_Const' && isObj(w[1].sval) && typeof w[1].sval.sval === 'string'
          ? w[1].sval.sval
          : null;
      });
      return unsafeSearchPath(values.includes(null) ? null : (values as string[]));
    }
    case 'AlterOwnerStmt': {
      const n = objName(b.object);
      if (FUNCTION_OBJECTS.has(String(b.objectType)) && functionLike(n))
        return `changes the owner of ${shown(n)}, a built-in function's name`;
      return null;
    }
  }
  if (create && createsInBuiltinSchema(b)) return 'creates an object in a built-in schema';
  return null;
}
