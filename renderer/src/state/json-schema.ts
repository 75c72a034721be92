// A small JSON Schema (draft-07) validator: the subset the policies schema uses (type, enum,
// const, pattern, minLength, minItems, required, properties, additionalProperties,
// propertyNames, items, anyOf, oneOf, not, local $ref). It reports every problem with the path to
// it, in the words the gateway's own validator uses, so the editor can underline them as you type.

export type Schema = boolean | { [key: string]: unknown };
export type Path = (string | number)[];

export interface SchemaError {
  path: Path;
  message: string;
  /** The problem is the key at `path` itself (an unknown key), not its value. */
  onKey?: boolean;
}

type S = { [key: string]: unknown };

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function isType(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  null: 'empty',
};

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/** Enum values as a person reads them (both cases are accepted; list the lower-case ones). */
function listValues(values: unknown[]): string {
  const shown = values.filter(
    (v) => typeof v !== 'string' || v === v.toLowerCase() || !values.includes(v.toLowerCase()),
  );
  return shown.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
}

export function validate(schema: Schema, value: unknown): SchemaError[] {
  const out: SchemaError[] = [];
  check(schema, value, [], schema, out);
  return out;
}

function resolve(ref: string, root: Schema): Schema {
  if (!ref.startsWith('#/')) return true;
  let node: unknown = root;
  for (const part of ref.slice(2).split('/')) {
    node =
      node !== null && typeof node === 'object'
        ? (node as S)[part.replace(/~1/g, '/').replace(/~0/g, '~')]
        : undefined;
  }
  return (node as Schema | undefined) ?? true;
}

/** The types a schema (or its $ref) admits, for choosing the anyOf branch meant for a value. */
function declaredTypes(s: Schema, root: Schema): string[] | null {
  if (typeof s === 'boolean') return null;
  if (typeof s.$ref === 'string') return declaredTypes(resolve(s.$ref, root), root);
  if ('const' in s) return [typeOf(s.const)];
  if (Array.isArray(s.enum)) return [...new Set(s.enum.map(typeOf))];
  if (typeof s.type === 'string') return [s.type];
  if (Array.isArray(s.type)) return s.type as string[];
  return null;
}

function check(schema: Schema, v: unknown, path: Path, root: Schema, out: SchemaError[]): void {
  if (schema === true) return;
  if (schema === false) {
    out.push({ path, message: 'is not allowed here' });
    return;
  }
  const s = schema;
  if (typeof s.$ref === 'string') {
    check(resolve(s.$ref, root), v, path, root, out);
    return;
  }
  if ('const' in s && !equal(v, s.const)) {
    out.push({ path, message: `must be ${show(s.const)}` });
    return;
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => equal(e, v))) {
    out.push({ path, message: `${show(v)} is not one of: ${listValues(s.enum)}` });
    return;
  }
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((t) => isType(v, t))) {
      out.push({ path, message: `must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}` });
      return;
    }
  }
  if (Array.isArray(s.anyOf)) {
    const branches = s.anyOf as Schema[];
    const results = branches.map((b) => {
      const e: SchemaError[] = [];
      check(b, v, path, root, e);
      return e;
    });
    if (!results.some((e) => e.length === 0)) out.push(...bestBranch(branches, results, v, path, root));
  }
  if (Array.isArray(s.oneOf)) {
    const branches = s.oneOf as Schema[];
    const passing = branches.filter((b) => {
      const e: SchemaError[] = [];
      check(b, v, path, root, e);
      return e.length === 0;
    }).length;
    if (passing !== 1) {
      const required = branches.flatMap((b) =>
        typeof b === 'object' && Array.isArray(b.required) ? (b.required as string[]) : [],
      );
      out.push({
        path,
        message:
          required.length > 0
            ? `needs exactly one of ${required.join(' or ')}`
            : 'must match exactly one of the allowed forms',
      });
    }
  }
  if (s.not !== undefined) {
    const e: SchemaError[] = [];
    check(s.not as Schema, v, path, root, e);
    if (e.length === 0) out.push({ path, message: 'is not allowed here' });
  }
  const t = typeOf(v);
  if (t === 'object') {
    const obj = v as S;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const k of (s.required as string[] | undefined) ?? []) {
      if (!Object.hasOwn(obj, k)) out.push({ path, message: `${k} is required` });
    }
    for (const [k, child] of Object.entries(obj)) {
      const at = [...path, k];
      if (s.propertyNames !== undefined) {
        const e: SchemaError[] = [];
        check(s.propertyNames as Schema, k, at, root, e);
        if (e.length > 0)
          out.push({ path: at, message: `"${k}" is not a valid name (letters, digits, _ . -)`, onKey: true });
      }
      if (Object.hasOwn(props, k)) check(props[k], child, at, root, out);
      else if (s.additionalProperties === false) {
        out.push({
          path: at,
          message: `unknown key (expected one of: ${Object.keys(props).join(', ')})`,
          onKey: true,
        });
      } else if (s.additionalProperties !== undefined && s.additionalProperties !== true) {
        check(s.additionalProperties as Schema, child, at, root, out);
      }
    }
  } else if (t === 'array') {
    const arr = v as unknown[];
    if (typeof s.minItems === 'number' && arr.length < s.minItems) {
      out.push({
        path,
        message: s.minItems === 1 ? 'must not be an empty list' : `needs at least ${s.minItems} items`,
      });
    }
    if (s.items !== undefined && !Array.isArray(s.items)) {
      for (const [i, item] of arr.entries()) check(s.items as Schema, item, [...path, i], root, out);
    }
  } else if (t === 'string') {
    const str = v as string;
    if (typeof s.minLength === 'number' && str.length < s.minLength) {
      out.push({ path, message: 'must not be empty' });
    } else if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(str)) {
      out.push({ path, message: `${show(str)} does not have the expected form` });
    }
  }
}

/** The errors of the anyOf branch meant for this value (its type), else "must be A or B". */
function bestBranch(
  branches: Schema[],
  results: SchemaError[][],
  v: unknown,
  path: Path,
  root: Schema,
): SchemaError[] {
  const t = typeOf(v);
  const meant = branches
    .map((b, i) => ({ types: declaredTypes(b, root), errors: results[i] }))
    .filter((x) => x.types === null || x.types.some((d) => d === t || (d === 'number' && t === 'integer')));
  if (meant.length > 0) {
    meant.sort((a, b) => a.errors.length - b.errors.length);
    return meant[0].errors;
  }
  const words = [
    ...new Set(
      branches.flatMap((b) => {
        if (typeof b === 'object' && 'const' in b) return [JSON.stringify(b.const)];
        return (declaredTypes(b, root) ?? []).map((d) => TYPE_WORDS[d] ?? d);
      }),
    ),
  ];
  return [{ path, message: words.length ? `must be ${words.join(' or ')}` : 'is not valid here' }];
}

/** "default.guardrails[1].action" */
export function keyPathOf(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}
