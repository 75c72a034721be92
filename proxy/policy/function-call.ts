// A FunctionCall ('F') protocol message, decided as the equivalent `SELECT f(args)`: the
// function's name comes from its OID (the bootstrap catalog, builtins.ts), its arguments from the
// message, and the call is analysed as SQL with those values as literals, so set_config('role',
// ...), query_to_xml('DELETE ...') or pg_read_file(...) get exactly the decision their SELECT
// gets. An argument the gateway cannot read (a binary value of a type it does not decode, bytes
// that are no text) becomes a parameter: a computed value, which fails closed wherever the value
// matters (the setting set_config names, the SQL a built-in runs).

import { analyze, opaqueUnit } from './analyze.js';
import { BUILTIN_PROCS, FIRST_NORMAL_OBJECT_ID } from './builtins.js';
import type { Analysis, StatementAnalysis, Unit } from './types.js';

/** The arguments of a FunctionCall as sent: format codes (0, 1 or n) and values (null = NULL). */
export interface FunctionCallArgs {
  formats: readonly number[];
  values: readonly (Buffer | null)[];
}

export interface BuiltinProc {
  name: string;
  /** i(mmutable), s(table) or v(olatile). */
  volatility: string;
  /** One letter an argument: t text-like, b bool, i integer, x other (see gen-builtins.mjs). */
  argClasses: string;
}

/** A function of the bootstrap catalog by OID. */
export function builtinProc(oid: number): BuiltinProc | undefined {
  const s = BUILTIN_PROCS.get(oid);
  if (s === undefined) return undefined;
  const [name, volatility, argClasses] = s.split(':');
  return { name, volatility, argClasses: argClasses ?? '' };
}

/** A standard-conforming string literal ('' doubles a quote; a backslash is itself). */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A value as the SQL literal the server's input / receive function would read, or null if unreadable. */
function argumentSql(cls: string, format: number, v: Buffer | null): string | null {
  if (v === null) return 'NULL';
  let text: string;
  try {
    if (format === 0 || (format === 1 && cls === 't')) text = UTF8.decode(v);
    else if (format === 1 && cls === 'b' && v.length === 1) text = v[0] !== 0 ? 'true' : 'false';
    else if (format === 1 && cls === 'i' && (v.length === 2 || v.length === 4))
      text = String(v.readIntBE(0, v.length));
    else if (format === 1 && cls === 'i' && v.length === 8) text = String(v.readBigInt64BE(0));
    else return null;
  } catch {
    return null;
  }
  // The server refuses a NUL in text; the parser would cut the literal at it.
  if (text.includes('\0')) return null;
  return literal(text);
}

/** `"name"` with inner quotes doubled. */
function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The SELECT a FunctionCall of `proc` with `args` is equivalent to, or why there is none (the
 * server refuses the message: a format or argument count it does not accept).
 */
export function equivalentSelect(proc: BuiltinProc, args: FunctionCallArgs): string | { refused: string } {
  const n = args.values.length;
  if (n !== proc.argClasses.length)
    return { refused: `${n} arguments where ${proc.name} takes ${proc.argClasses.length}` };
  if (args.formats.length > 1 && args.formats.length !== n)
    return { refused: `${args.formats.length} format codes for ${n} arguments` };
  const parts = args.values.map((v, i) => {
    const format =
      args.formats.length === 0 ? 0 : args.formats.length === 1 ? args.formats[0] : args.formats[i];
    return argumentSql(proc.argClasses[i], format, v) ?? `$${i + 1}`;
  });
  return `SELECT pg_catalog.${ident(proc.name)}(${parts.join(', ')})`;
}

function single(sql: string, unit: Unit): Analysis {
  const st: StatementAnalysis = {
    sql,
    offset: 0,
    kind: unit.kind,
    command: unit.command,
    writes: unit.writes,
    units: [unit],
  };
  return { sql, statements: [st], error: null };
}

/**
 * A protocol-level FunctionCall ('F') of a function by OID. Without `args` (the message could not
 * be decoded) every argument counts as computed.
 */
export function analyzeFunctionCall(oid: number, args?: FunctionCallArgs): Analysis {
  const proc = builtinProc(oid);
  if (proc === undefined) {
    if (oid > 0 && oid < FIRST_NORMAL_OBJECT_ID) {
      // Made by initdb's SQL scripts (information_schema's helpers): fixed SQL bodies that read.
      const u: Unit = {
        ...opaqueUnit(`function call (built-in OID ${oid})`, ''),
        kind: 'function_call',
        writes: false,
        detail: null,
      };
      return single(`/* FunctionCall OID ${oid} */`, u);
    }
    const u = opaqueUnit(
      `function call (OID ${oid})`,
      `a FunctionCall of user-defined function OID ${oid} cannot be analysed`,
    );
    return single(`/* FunctionCall OID ${oid} */`, u);
  }
  const call =
    args === undefined
      ? `SELECT pg_catalog.${ident(proc.name)}(${[...proc.argClasses].map((_, i) => `$${i + 1}`).join(', ')})`
      : equivalentSelect(proc, args);
  if (typeof call !== 'string') {
    const u = opaqueUnit(
      `function call ${proc.name}`,
      `a FunctionCall the server would refuse: ${call.refused}`,
    );
    return single(`/* FunctionCall ${proc.name} */`, u);
  }
  const sql = call;
  const a = analyze(sql);
  const st = a.statements[0];
  if (a.error !== null || a.statements.length !== 1 || st.units.length === 0) {
    const u = opaqueUnit(`function call ${proc.name}`, `the equivalent SELECT cannot be analysed`);
    return single(sql, u);
  }
  // The call itself is the first unit, a function_call (what guardrails on that kind match);
  // what its arguments make it do (a role change, the query it runs) are the units after it.
  const [top, ...rest] = st.units;
  const head: Unit = { ...top, kind: 'function_call', command: `function call ${proc.name}` };
  const units = [head, ...rest];
  return {
    sql,
    statements: [
      { ...st, kind: head.kind, command: head.command, writes: units.some((u) => u.writes), units },
    ],
    error: null,
  };
}
