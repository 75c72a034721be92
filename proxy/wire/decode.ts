// Decoders for recorded frames, for `bastion replay` and the inspector. They turn one stored
// frame (type byte + body) into a JSON-friendly object. Recorded data may be damaged or from a
// misbehaving peer, so decodeFrame never throws: a body that does not parse (FieldError from the
// bounded reader, reader.ts) is reported as malformed.
// https://www.postgresql.org/docs/current/protocol-message-formats.html

import { isUtf8 } from 'node:buffer';
import { formatCodes, formatOf, rowDescriptionFields } from './fields.js';
import { FieldError, BodyReader as Reader } from './reader.js';

export interface DecodedFrame {
  type: string;
  decoded: Record<string, unknown>;
}

const FRONTEND: Record<string, string> = {
  Q: 'Query',
  P: 'Parse',
  B: 'Bind',
  D: 'Describe',
  E: 'Execute',
  C: 'Close',
  S: 'Sync',
  H: 'Flush',
  d: 'CopyData',
  c: 'CopyDone',
  f: 'CopyFail',
  F: 'FunctionCall',
  X: 'Terminate',
  p: 'PasswordMessage',
};

const BACKEND: Record<string, string> = {
  R: 'Authentication',
  K: 'BackendKeyData',
  S: 'ParameterStatus',
  Z: 'ReadyForQuery',
  T: 'RowDescription',
  D: 'DataRow',
  C: 'CommandComplete',
  I: 'EmptyQueryResponse',
  E: 'ErrorResponse',
  N: 'NoticeResponse',
  '1': 'ParseComplete',
  '2': 'BindComplete',
  '3': 'CloseComplete',
  n: 'NoData',
  s: 'PortalSuspended',
  t: 'ParameterDescription',
  G: 'CopyInResponse',
  H: 'CopyOutResponse',
  W: 'CopyBothResponse',
  A: 'NotificationResponse',
  V: 'FunctionCallResponse',
  v: 'NegotiateProtocolVersion',
  d: 'CopyData',
  c: 'CopyDone',
};

const AUTH: Record<number, string> = {
  0: 'AuthenticationOk',
  2: 'AuthenticationKerberosV5',
  3: 'AuthenticationCleartextPassword',
  5: 'AuthenticationMD5Password',
  7: 'AuthenticationGSS',
  8: 'AuthenticationGSSContinue',
  9: 'AuthenticationSSPI',
  10: 'AuthenticationSASL',
  11: 'AuthenticationSASLContinue',
  12: 'AuthenticationSASLFinal',
};

/** ErrorResponse / NoticeResponse field codes. */
const FIELD: Record<string, string> = {
  S: 'severity',
  V: 'severityNonLocalized',
  C: 'code',
  M: 'message',
  D: 'detail',
  H: 'hint',
  P: 'position',
  p: 'internalPosition',
  q: 'internalQuery',
  W: 'where',
  s: 'schema',
  t: 'table',
  c: 'column',
  d: 'dataType',
  n: 'constraint',
  F: 'file',
  L: 'line',
  R: 'routine',
};

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const COPY_HEX_PREVIEW = 256;

/** Message name of a frontend (client) type byte; 0 is an untyped startup-phase packet. */
export function frontendTypeName(type: number): string {
  if (type === 0) return 'StartupMessage';
  return FRONTEND[String.fromCharCode(type)] ?? 'Unknown';
}

/** Message name of a backend (server) type byte. */
export function backendTypeName(type: number): string {
  return BACKEND[String.fromCharCode(type)] ?? 'Unknown';
}

const hex = (b: Buffer): string => `\\x${b.toString('hex')}`;

/**
 * Text a person can read: valid UTF-8 without control characters other than tab, CR, LF.
 * Binary-format values (an int4 is four bytes, often NULs) are valid UTF-8 but not text.
 */
function isText(b: Buffer): boolean {
  if (!isUtf8(b)) return false;
  for (const c of b) if ((c < 0x20 && c !== 9 && c !== 10 && c !== 13) || c === 0x7f) return false;
  return true;
}

/** A value whose format is not known: text when it reads as text, else `\x` hex. */
const textOrHex = (b: Buffer): string => (isText(b) ? b.toString('utf8') : hex(b));

function valueByFormat(v: Buffer | null, format: number): string | null {
  if (v === null) return null;
  return format === 0 && isUtf8(v) ? v.toString('utf8') : hex(v);
}

function describeTarget(r: Reader): Record<string, unknown> {
  const kind = r.uint8();
  const name = r.cstring();
  r.expectEnd();
  const target = kind === 0x53 ? 'statement' : kind === 0x50 ? 'portal' : String.fromCharCode(kind);
  return { target, name };
}

function copyData(body: Buffer): Record<string, unknown> {
  if (isText(body)) return { length: body.length, text: body.toString('utf8') };
  const preview = body.subarray(0, COPY_HEX_PREVIEW);
  return { length: body.length, hex: preview.toString('hex'), truncated: body.length > preview.length };
}

function empty(r: Reader): Record<string, unknown> {
  r.expectEnd();
  return {};
}

function oneString(key: string) {
  return (r: Reader): Record<string, unknown> => {
    const s = r.cstring();
    r.expectEnd();
    return { [key]: s };
  };
}

type Decoder = (r: Reader, body: Buffer) => Record<string, unknown>;

const frontendDecoders: Record<string, Decoder> = {
  Query: oneString('sql'),
  Parse: (r) => {
    const name = r.cstring();
    const sql = r.cstring();
    const n = r.uint16();
    const paramTypes: number[] = [];
    for (let i = 0; i < n; i++) paramTypes.push(r.uint32());
    r.expectEnd();
    return { name, sql, paramTypes };
  },
  Bind: (r) => {
    const portal = r.cstring();
    const statement = r.cstring();
    const paramFormats = formatCodes(r);
    const n = r.uint16();
    const params: (string | null)[] = [];
    for (let i = 0; i < n; i++) params.push(valueByFormat(r.valueBytes(), formatOf(paramFormats, i)));
    const resultFormats = formatCodes(r);
    r.expectEnd();
    return { portal, statement, paramFormats, params, resultFormats };
  },
  Describe: describeTarget,
  Close: describeTarget,
  Execute: (r) => {
    const portal = r.cstring();
    const maxRows = r.int32();
    r.expectEnd();
    return { portal, maxRows };
  },
  Sync: empty,
  Flush: empty,
  Terminate: empty,
  CopyData: (_r, body) => copyData(body),
  CopyDone: empty,
  CopyFail: oneString('message'),
  FunctionCall: (r) => {
    const functionOid = r.uint32();
    const argFormats = formatCodes(r);
    const n = r.uint16();
    const args: (string | null)[] = [];
    for (let i = 0; i < n; i++) args.push(valueByFormat(r.valueBytes(), formatOf(argFormats, i)));
    const resultFormat = r.int16();
    r.expectEnd();
    return { functionOid, argFormats, args, resultFormat };
  },
  // The recorder replaces every password / SASL message with a note before it is stored.
  PasswordMessage: (_r, body) => ({ redacted: true, note: body.toString('utf8').replace(/\0+$/, '') }),
};

function errorFields(r: Reader): Record<string, unknown> {
  const out: Record<string, string> = {};
  for (;;) {
    const code = r.uint8();
    if (code === 0) break;
    const letter = String.fromCharCode(code);
    out[FIELD[letter] ?? letter] = r.cstring();
  }
  r.expectEnd();
  return out;
}

function copyResponse(r: Reader): Record<string, unknown> {
  const format = r.uint8() === 1 ? 'binary' : 'text';
  const columnFormats = formatCodes(r);
  r.expectEnd();
  return { format, columnFormats };
}

const backendDecoders: Record<string, Decoder> = {
  BackendKeyData: (r) => ({ pid: r.int32(), key: r.rest().toString('hex') }),
  ParameterStatus: (r) => {
    const name = r.cstring();
    const value = r.cstring();
    r.expectEnd();
    return { name, value };
  },
  ReadyForQuery: (r) => {
    const status = String.fromCharCode(r.uint8());
    r.expectEnd();
    return { status };
  },
  RowDescription: (r) => ({ fields: rowDescriptionFields(r) }),
  DataRow: (r) => {
    // Field formats are not in the row; text-looking values are shown as text, others as hex.
    const n = r.uint16();
    const values: (string | null)[] = [];
    const hexFields: number[] = [];
    for (let i = 0; i < n; i++) {
      const v = r.valueBytes();
      if (v !== null && !isText(v)) hexFields.push(i);
      values.push(v === null ? null : textOrHex(v));
    }
    r.expectEnd();
    return hexFields.length > 0 ? { values, hexFields } : { values };
  },
  CommandComplete: oneString('tag'),
  EmptyQueryResponse: empty,
  ErrorResponse: errorFields,
  NoticeResponse: errorFields,
  ParseComplete: empty,
  BindComplete: empty,
  CloseComplete: empty,
  NoData: empty,
  PortalSuspended: empty,
  ParameterDescription: (r) => {
    const n = r.uint16();
    const typeOids: number[] = [];
    for (let i = 0; i < n; i++) typeOids.push(r.uint32());
    r.expectEnd();
    return { typeOids };
  },
  CopyInResponse: copyResponse,
  CopyOutResponse: copyResponse,
  CopyBothResponse: copyResponse,
  NotificationResponse: (r) => {
    const pid = r.int32();
    const channel = r.cstring();
    const payload = r.cstring();
    r.expectEnd();
    return { pid, channel, payload };
  },
  FunctionCallResponse: (r) => {
    const v = r.valueBytes();
    r.expectEnd();
    return { result: v === null ? null : textOrHex(v) };
  },
  NegotiateProtocolVersion: (r) => {
    const minorVersion = r.int32();
    const n = r.int32();
    if (n < 0) throw new FieldError('NegotiateProtocolVersion has a negative option count');
    const unrecognized: string[] = [];
    for (let i = 0; i < n; i++) unrecognized.push(r.cstring());
    r.expectEnd();
    return { minorVersion, unrecognized };
  },
  CopyData: (_r, body) => copyData(body),
  CopyDone: empty,
};

function decodeAuthentication(r: Reader): DecodedFrame {
  const subtype = r.int32();
  const type = AUTH[subtype] ?? 'Authentication';
  switch (subtype) {
    case 5: {
      const salt = r.bytes(4).toString('hex');
      r.expectEnd();
      return { type, decoded: { salt } };
    }
    case 8:
      return { type, decoded: { data: r.rest().toString('hex') } };
    case 10: {
      const mechanisms: string[] = [];
      for (let m = r.cstring(); m !== ''; m = r.cstring()) mechanisms.push(m);
      r.expectEnd();
      return { type, decoded: { mechanisms } };
    }
    case 11:
    case 12:
      // server-first / server-final SCRAM messages: nonce, salt, signature; nothing secret.
      return { type, decoded: { data: textOrHex(r.rest()) } };
    default:
      if (type === 'Authentication') return { type, decoded: { subtype, data: r.rest().toString('hex') } };
      r.expectEnd();
      return { type, decoded: {} };
  }
}

/** Untyped startup-phase packet: told apart by its first int32. */
function decodeStartup(r: Reader): DecodedFrame {
  const code = r.int32();
  if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
    r.expectEnd();
    return { type: code === SSL_REQUEST ? 'SSLRequest' : 'GSSENCRequest', decoded: {} };
  }
  if (code === CANCEL_REQUEST) {
    const pid = r.int32();
    // 3.0 keys are 4 bytes; 3.2 keys are up to 256 bytes.
    return { type: 'CancelRequest', decoded: { pid, key: r.rest().toString('hex') } };
  }
  if (code >>> 16 === 3) {
    const pairs: [string, string][] = [];
    for (let k = r.cstring(); k !== ''; k = r.cstring()) pairs.push([k, r.cstring()]);
    r.expectEnd();
    // fromEntries defines own properties, so a key like "__proto__" stays an ordinary key.
    const parameters = Object.fromEntries(pairs);
    return { type: 'StartupMessage', decoded: { protocol: `3.${code & 0xffff}`, parameters } };
  }
  return { type: 'Unknown', decoded: { byte: 0, length: r.remaining + 4, code } };
}

/**
 * The server's one-byte answer to SSLRequest / GSSENCRequest ('S' or 'G' = go ahead, 'N' = no),
 * if a recorder stores it as an untyped packet. 'N' does not say which request it answers.
 */
function encryptionResponse(byte: number): DecodedFrame {
  const response = String.fromCharCode(byte);
  const type = response === 'G' ? 'GSSENCResponse' : 'SSLResponse';
  return { type, decoded: { response, accepted: response !== 'N' } };
}

/** Decodes one recorded frame; throws FieldError when the body is not what its type says. */
export function decodeFrameStrict(dir: 'client' | 'server', type: number, body: Buffer): DecodedFrame {
  const name = dir === 'client' ? frontendTypeName(type) : backendTypeName(type);
  const r = new Reader(body, 0, body.length, name);
  if (dir === 'client' && type === 0) return decodeStartup(r);
  if (dir === 'server' && type === 0 && body.length === 1) return encryptionResponse(body[0]);
  if (dir === 'server' && type === 0x52) return decodeAuthentication(r);
  const decoder = (dir === 'client' ? frontendDecoders : backendDecoders)[name];
  if (!decoder) return { type: 'Unknown', decoded: { byte: type, length: body.length } };
  return { type: name, decoded: decoder(r, body) };
}

/** Decodes one recorded frame. Never throws. */
export function decodeFrame(dir: 'client' | 'server', type: number, body: Buffer): DecodedFrame {
  try {
    return decodeFrameStrict(dir, type, body);
  } catch {
    // Malformed bodies, and any decoder bug: a replay must show the rest of the session.
    const name = dir === 'client' ? frontendTypeName(type) : backendTypeName(type);
    return { type: name, decoded: { malformed: true, length: body.length } };
  }
}
