// The few message bodies the session itself needs on the data path: statement text, bound
// parameters, command tags, error codes and parameter status. Everything works on (buf, start,
// end) views of a framed message (type byte at `start`, body from start + 5), reads through the
// one bounded BodyReader (reader.ts) and never copies the message. Malformed bodies throw
// FieldError.
//
// These read what PostgreSQL reads, field by field; they do not refuse what PostgreSQL itself
// refuses with an ERROR after reading (bytes after a Query's terminator, a Bind with trailing
// bytes): the server answers those with its error and the session goes on.

import { BodyReader, FieldError } from './reader.js';

export { FieldError };

// One reader for the functions below: each resets it and finishes with it before returning.
const R = new BodyReader();

/** Reads a NUL-terminated string at `pos`; returns it and the position after the NUL. */
export function cstringAt(buf: Buffer, pos: number, end: number): [string, number] {
  const s = R.reset(buf, pos, end).cstring();
  return [s, R.pos];
}

/** Query: the SQL text. */
export function querySql(buf: Buffer, start: number, end: number): string {
  return R.reset(buf, start + 5, end, 'Query').cstring();
}

/** Parse: statement name and SQL text. */
export function parseMessage(buf: Buffer, start: number, end: number): { name: string; sql: string } {
  R.reset(buf, start + 5, end, 'Parse');
  const name = R.cstring();
  return { name, sql: R.cstring() };
}

const PARAM_TEXT_LIMIT = 4096;

function paramText(buf: Buffer, pos: number, len: number, binary: boolean): string {
  const take = Math.min(len, PARAM_TEXT_LIMIT);
  const s = binary ? `\\x${buf.toString('hex', pos, pos + take)}` : buf.toString('utf8', pos, pos + take);
  return take < len ? `${s}…(${len} bytes)` : s;
}

/** Format codes (a uint16 count, then int16 codes) as sent: none, one for all, or one each. */
export function formatCodes(r: BodyReader): number[] {
  const n = r.uint16();
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(r.int16());
  return out;
}

/** The format of value i under format codes as sent (none = all text, one = all that one). */
export function formatOf(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0;
  return formats.length === 1 ? formats[0] : (formats[i] ?? 0);
}

/**
 * Bind: portal, statement, the parameters as text (binary ones as \x hex) and the result-column
 * format codes as sent (0, 1 or n codes; counts read unsigned, see bindResultFormats).
 */
export function bindMessage(
  buf: Buffer,
  start: number,
  end: number,
): { portal: string; statement: string; params: (string | null)[]; resultFormats: number[] } {
  R.reset(buf, start + 5, end, 'Bind');
  const portal = R.cstring();
  const statement = R.cstring();
  const formats = formatCodes(R);
  const n = R.uint16();
  const params: (string | null)[] = [];
  for (let i = 0; i < n; i++) {
    const len = R.value();
    params.push(len < 0 ? null : paramText(buf, R.valueStart, len, formatOf(formats, i) === 1));
  }
  return { portal, statement, params, resultFormats: formatCodes(R) };
}

/** Bind: the name of the prepared statement it binds. */
export function bindStatement(buf: Buffer, start: number, end: number): string {
  R.reset(buf, start + 5, end, 'Bind');
  R.cstringEnd();
  return R.cstring();
}

/** Bind: each parameter's exact bytes (null for NULL) and whether it is sent in binary. */
export function bindValues(
  buf: Buffer,
  start: number,
  end: number,
): { bytes: Buffer | null; binary: boolean }[] {
  R.reset(buf, start + 5, end, 'Bind');
  R.cstringEnd();
  R.cstringEnd();
  const formats = formatCodes(R);
  const n = R.uint16();
  const out: { bytes: Buffer | null; binary: boolean }[] = [];
  for (let i = 0; i < n; i++) {
    const len = R.value();
    out.push({
      bytes: len < 0 ? null : buf.subarray(R.valueStart, R.valueStart + len),
      binary: formatOf(formats, i) === 1,
    });
  }
  return out;
}

/**
 * Bind: the result-column format codes as sent (0, 1 or n codes). The parameter values in front
 * of them are walked with the counts read unsigned, as PostgreSQL reads them: a Bind with 32,768
 * or more parameters is legal, and reading its count signed would take the result formats from
 * the client's parameter bytes.
 */
export function bindResultFormats(buf: Buffer, start: number, end: number): number[] {
  R.reset(buf, start + 5, end, 'Bind');
  R.cstringEnd();
  R.cstringEnd();
  R.skip(R.uint16() * 2);
  const n = R.uint16();
  for (let i = 0; i < n; i++) R.value();
  return formatCodes(R);
}

/** Execute: portal name. */
export function executePortal(buf: Buffer, start: number, end: number): string {
  return R.reset(buf, start + 5, end, 'Execute').cstring();
}

/** Close (and Describe): 'S' or 'P' and the name. */
export function closeTarget(buf: Buffer, start: number, end: number): { what: number; name: string } {
  R.reset(buf, start + 5, end, 'Close');
  const what = R.uint8();
  return { what, name: R.cstring() };
}

/** CommandComplete: the tag. */
export function commandTag(buf: Buffer, start: number, end: number): string {
  return R.reset(buf, start + 5, end, 'CommandComplete').cstring();
}

/** ErrorResponse / NoticeResponse: fields by code letter. */
export function noticeFields(buf: Buffer, start: number, end: number): Map<string, string> {
  const out = new Map<string, string>();
  R.reset(buf, start + 5, end, 'ErrorResponse');
  // A body that ends without the final NUL is read as ending there (as before): what matters is
  // that no field is read past the message.
  while (R.remaining > 0) {
    const code = R.uint8();
    if (code === 0) break;
    out.set(String.fromCharCode(code), R.cstring());
  }
  return out;
}

/**
 * ErrorResponse / NoticeResponse: the severity, the never-localized 'V' field when present (9.6+)
 * else the 'S' field; null when neither. For telling FATAL / PANIC apart without a prefix match.
 */
export function noticeSeverity(buf: Buffer, start: number, end: number): string | null {
  const f = noticeFields(buf, start, end);
  return f.get('V') ?? f.get('S') ?? null;
}

/** ParameterStatus: name and value. */
export function parameterStatus(buf: Buffer, start: number, end: number): { name: string; value: string } {
  R.reset(buf, start + 5, end, 'ParameterStatus');
  const name = R.cstring();
  const value = R.cstring();
  R.expectEnd();
  return { name, value };
}

/** ReadyForQuery: the transaction status byte ('I', 'T' or 'E'). */
export function readyStatus(buf: Buffer, start: number, end: number): number {
  R.reset(buf, start + 5, end, 'ReadyForQuery');
  const status = R.uint8();
  R.expectEnd();
  return status;
}

/** FunctionCall: the function's OID (unsigned, as PostgreSQL reads it). */
export function functionOid(buf: Buffer, start: number, end: number): number {
  return R.reset(buf, start + 5, end, 'FunctionCall').uint32();
}

/**
 * FunctionCall: the function's OID, the argument format codes as sent and the argument values
 * (views into `buf`, null = NULL), read as fastpath.c reads them (counts unsigned).
 */
export function functionCallMessage(
  buf: Buffer,
  start: number,
  end: number,
): { oid: number; formats: number[]; values: (Buffer | null)[]; resultFormat: number } {
  R.reset(buf, start + 5, end, 'FunctionCall');
  const oid = R.uint32();
  const formats = formatCodes(R);
  const n = R.uint16();
  const values: (Buffer | null)[] = [];
  for (let i = 0; i < n; i++) values.push(R.valueBytes());
  const resultFormat = R.int16();
  R.expectEnd();
  return { oid, formats, values, resultFormat };
}

/**
 * PasswordMessage (cleartext password, or an OIDC token sent as one): the string. PostgreSQL
 * requires exactly one NUL-terminated string filling the body ("invalid password packet size").
 */
export function passwordText(body: Buffer): string {
  R.reset(body, 0, body.length, 'PasswordMessage');
  const s = R.cstring();
  R.expectEnd();
  return s;
}

/**
 * SASLInitialResponse (a 'p' message in a SASL exchange, body only): the mechanism and the
 * client's first message (null when its length is -1). Read as PostgreSQL reads it: a length
 * below -1 or past the end, or bytes after it, are refused.
 */
export function saslInitialResponse(body: Buffer): { mechanism: string; data: Buffer | null } {
  R.reset(body, 0, body.length, 'SASLInitialResponse');
  const mechanism = R.cstring();
  const data = R.valueBytes();
  R.expectEnd();
  return { mechanism, data };
}

/** Row count at the end of a CommandComplete tag ("SELECT 3", "INSERT 0 5", "COPY 7"), or null. */
export function tagRows(tag: string): number | null {
  const m = /^(?:SELECT|INSERT \d+|UPDATE|DELETE|MERGE|COPY|FETCH|MOVE) (\d+)$/.exec(tag);
  return m ? Number(m[1]) : null;
}

/** DataRow body (after the length) as text values, null for SQL NULL. FieldError if malformed. */
export function dataRowText(body: Buffer): (string | null)[] {
  R.reset(body, 0, body.length, 'DataRow');
  const n = R.uint16();
  const out: (string | null)[] = [];
  for (let i = 0; i < n; i++) {
    const len = R.value();
    out.push(len < 0 ? null : body.toString('utf8', R.valueStart, R.pos));
  }
  R.expectEnd();
  return out;
}

/** A field of a RowDescription. */
export interface RowField {
  name: string;
  tableOid: number;
  columnAttr: number;
  typeOid: number;
  typeSize: number;
  typeMod: number;
  /** 0 text, 1 binary (always 0 in the answer to Describe of a statement). */
  format: number;
}

/** RowDescription's fields, from a reader at the start of its body; the body must end there. */
export function rowDescriptionFields(r: BodyReader): RowField[] {
  const n = r.uint16();
  const out: RowField[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      name: r.cstring(),
      tableOid: r.uint32(),
      columnAttr: r.int16(),
      typeOid: r.uint32(),
      typeSize: r.int16(),
      typeMod: r.int32(),
      format: r.int16(),
    });
  }
  r.expectEnd();
  return out;
}
