// `read_only` is enforced by PostgreSQL itself: the gateway logs a read_only session in upstream
// with `default_transaction_read_only=on` as a startup parameter (session/startup.ts), so every
// transaction the session runs is read-only and a write the analyser missed (a view or trigger
// calling a writing function, a function wrongly allow-listed) fails in the server with 25006.
// A startup value is also what RESET, RESET ALL, SET ... TO DEFAULT and DISCARD ALL return to
// (checked on PostgreSQL 15 and 18), so only an explicit request for read-write can switch it off.
// This module names every such request the analyser sees, so the policy refuses it (rule
// `read_only`); what it cannot see (a function that runs set_config inside) the server reports by
// ParameterStatus, and the relay ends the session (see readOnlyStatus below).
// https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-DEFAULT-TRANSACTION-READ-ONLY

import { isTrueSetting } from './lexing.js';
import { type Json, wrapper } from './parser.js';
import type { StatementAnalysis, Unit } from './types.js';

/** The settings that make transactions read-only (lower case). */
export const READ_ONLY_SETTINGS: ReadonlySet<string> = new Set([
  'default_transaction_read_only',
  'transaction_read_only',
]);

/** A setting value written as a constant ('on', on, 1, true), as text; null when not a constant. */
export function constSetting(v: Json | undefined): string | null {
  const w = wrapper(v);
  if (!w) return null;
  const [t, b] = w;
  if (t === 'TypeCast') return constSetting(b.arg);
  if (t !== 'A_Const') return null;
  if (b.isnull === true) return null;
  const o = (x: Json | undefined) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? x : null);
  const s = o(b.sval);
  if (s) return typeof s.sval === 'string' ? s.sval : '';
  const i = o(b.ival);
  if (i) return String(typeof i.ival === 'number' ? i.ival : 0);
  const bo = o(b.boolval);
  if (bo) return bo.boolval === true ? 'true' : 'false';
  return null;
}

/**
 * Why `SET name ...` (kind as in VariableSetStmt: VAR_SET_VALUE, VAR_SET_DEFAULT, ...) could make
 * transactions read-write, or null. RESET and RESET ALL go back to the login's `on`; DEFAULT
 * does too, but is refused all the same (nothing needs it, and refusing costs nothing).
 */
export function readWriteBySet(name: string, kind: string, value: Json | undefined): string | null {
  if (!READ_ONLY_SETTINGS.has(name.toLowerCase())) return null;
  if (kind === 'VAR_RESET' || kind === 'VAR_RESET_ALL') return null;
  if (kind === 'VAR_SET_VALUE' && isTrueSetting(constSetting(value))) return null;
  return `setting ${name.toLowerCase()} to anything but on could make transactions read-write`;
}

/**
 * Why transaction options (`BEGIN ... READ WRITE`, `SET TRANSACTION READ WRITE`, `SET SESSION
 * CHARACTERISTICS AS TRANSACTION READ WRITE`: DefElems named transaction_read_only) ask for
 * read-write, or null.
 */
export function readWriteByOptions(options: Json[], what: string): string | null {
  for (const item of options) {
    const w = wrapper(item);
    if (w?.[0] !== 'DefElem' || w[1].defname !== 'transaction_read_only') continue;
    if (!isTrueSetting(constSetting(w[1].arg))) return `${what} READ WRITE makes the transaction read-write`;
  }
  return null;
}

/** Statements that end a transaction: after one, the next transaction starts afresh. */
export const ENDS_TRANSACTION: ReadonlySet<string> = new Set(['COMMIT', 'ROLLBACK', 'PREPARE TRANSACTION']);

/**
 * ParameterStatus backstop: why a read_only session cannot go on once the server reports
 * `name = value`, or null. PostgreSQL 14 and later report default_transaction_read_only.
 */
export function readOnlyStatus(name: string, value: string): string | null {
  if (name.toLowerCase() !== 'default_transaction_read_only' || isTrueSetting(value)) return null;
  return `the database reports default_transaction_read_only = ${value} in a read-only session: something the gateway could not see switched read-only transactions off`;
}

/**
 * Why a read_only session must refuse `u` even though it writes nothing the analyser can see, or
 * null: what would switch read-only transactions off, or start a transaction where a hidden
 * switch (set_config inside an allow-listed function) would take effect before the server's
 * report of it could end the session.
 */
export function readOnlyRefusal(u: Unit): string | null {
  if (u.readWrite !== undefined) return u.readWrite;
  if (u.kind === 'function_call' && u.functions.some((f) => /(?:^|\.)set_config$/i.test(f)))
    return 'a FunctionCall of set_config can switch read-only transactions off';
  // A procedure may COMMIT and go on in a new transaction: one a hidden switch made read-write.
  if (u.kind === 'call') return 'CALL: a procedure can commit and go on in a new transaction';
  if (u.kind === 'transaction' && u.via.length > 0 && ENDS_TRANSACTION.has(u.command))
    return `${u.command} inside ${u.via.join(' > ')}: the block would go on in a new transaction`;
  return null;
}

/**
 * Why a multi-statement text must be refused in a read_only session, or null: a statement after
 * a COMMIT / ROLLBACK in the same text runs in a new transaction, which a hidden switch in an
 * earlier statement could have made read-write before the server reports it (at the end of the
 * text).
 */
export function readOnlyTextRefusal(statements: readonly StatementAnalysis[]): string | null {
  for (let i = 0; i < statements.length - 1; i++) {
    const u = statements[i].units[0];
    if (u?.kind === 'transaction' && ENDS_TRANSACTION.has(u.command))
      return `${u.command} followed by more statements in one query: send them as separate queries in a read-only session`;
  }
  return null;
}
