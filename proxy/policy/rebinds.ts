// DDL that gives an existing function a new name or home without restating its body: ALTER
// FUNCTION / PROCEDURE / ROUTINE / AGGREGATE ... RENAME or SET SCHEMA, ALTER SCHEMA ... RENAME
// (every function in it), ALTER EXTENSION ... ADD / DROP FUNCTION (a member's body is no longer
// read). The catalog snapshot decisions consult is the one before the DDL (and, inside a
// transaction, the one without it), so later calls under the new name would look unknown and
// harmless; deciding the DDL itself as a call of what it rebinds (policy/resolution.ts) means
// only functions that may be called may be renamed.

import { type JsonObject, list, sval, wrapper } from './parser.js';

const FUNCTION_OBJECTS = new Set([
  'OBJECT_FUNCTION',
  'OBJECT_PROCEDURE',
  'OBJECT_ROUTINE',
  'OBJECT_AGGREGATE',
]);

/** The functions a statement rebinds (`s.f`, `f`, or `s.*` for every function of schema s), or null. */
export function rebinds(type: string, b: JsonObject): string[] | null {
  let objtype: unknown;
  if (type === 'RenameStmt') {
    if (b.renameType === 'OBJECT_SCHEMA' && typeof b.subname === 'string') return [`${b.subname}.*`];
    objtype = b.renameType;
  } else if (type === 'AlterObjectSchemaStmt') objtype = b.objectType;
  else if (type === 'AlterExtensionContentsStmt') objtype = b.objtype;
  else return null;
  if (typeof objtype !== 'string' || !FUNCTION_OBJECTS.has(objtype)) return null;
  const w = wrapper(b.object);
  if (w?.[0] !== 'ObjectWithArgs') return null;
  const name = list(w[1].objname)
    .map((x) => sval(x) ?? '')
    .join('.');
  return name ? [name] : null;
}
