// Builders for the messages the gateway itself sends, to clients (as a server) and upstream
// (as a client). https://www.postgresql.org/docs/current/protocol-message-formats.html

import { AuthCode, Backend, Frontend, StartupCode } from './codes.js';

/** Builds one typed message from its body parts. */
function typed(type: number, parts: readonly Buffer[]): Buffer {
  let bodyLength = 0;
  for (const p of parts) bodyLength += p.length;
  const out = Buffer.allocUnsafe(5 + bodyLength);
  out[0] = type;
  out.writeInt32BE(4 + bodyLength, 1);
  let o = 5;
  for (const p of parts) o += p.copy(out, o);
  return out;
}

function int32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(n, 0);
  return b;
}

function int16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeInt16BE(n, 0);
  return b;
}

function cstr(s: string): Buffer {
  return Buffer.from(`${s.replaceAll('\0', '')}\0`, 'utf8');
}

// ---- server -> client ------------------------------------------------------------------

export interface ErrorFields {
  severity?: 'ERROR' | 'FATAL' | 'WARNING' | 'NOTICE' | 'INFO' | 'LOG';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

function fieldsMessage(type: number, f: ErrorFields): Buffer {
  const severity = f.severity ?? 'ERROR';
  const parts = [Buffer.from('S'), cstr(severity), Buffer.from('V'), cstr(severity)];
  parts.push(Buffer.from('C'), cstr(f.code), Buffer.from('M'), cstr(f.message));
  if (f.detail) parts.push(Buffer.from('D'), cstr(f.detail));
  if (f.hint) parts.push(Buffer.from('H'), cstr(f.hint));
  parts.push(Buffer.from([0]));
  return typed(type, parts);
}

export const errorResponse = (f: ErrorFields): Buffer => fieldsMessage(Backend.ErrorResponse, f);
export const noticeResponse = (f: ErrorFields): Buffer =>
  fieldsMessage(Backend.NoticeResponse, { severity: 'NOTICE', ...f });

export const authenticationOk = (): Buffer => typed(Backend.Authentication, [int32(AuthCode.Ok)]);
export const authenticationCleartext = (): Buffer =>
  typed(Backend.Authentication, [int32(AuthCode.CleartextPassword)]);

export function authenticationSASL(mechanisms: readonly string[]): Buffer {
  return typed(Backend.Authentication, [int32(AuthCode.SASL), ...mechanisms.map(cstr), Buffer.from([0])]);
}

export const authenticationSASLContinue = (data: Buffer): Buffer =>
  typed(Backend.Authentication, [int32(AuthCode.SASLContinue), data]);
export const authenticationSASLFinal = (data: Buffer): Buffer =>
  typed(Backend.Authentication, [int32(AuthCode.SASLFinal), data]);

export const parameterStatus = (name: string, value: string): Buffer =>
  typed(Backend.ParameterStatus, [cstr(name), cstr(value)]);

export const backendKeyData = (pid: number, key: Buffer): Buffer =>
  typed(Backend.BackendKeyData, [int32(pid), key]);

export const readyForQuery = (status: 'I' | 'T' | 'E'): Buffer =>
  typed(Backend.ReadyForQuery, [Buffer.from(status)]);

/** Tells a client asking for a newer minor version (or `_pq_` options) what the gateway supports. */
export function negotiateProtocolVersion(minor: number, unsupportedOptions: readonly string[]): Buffer {
  return typed(Backend.NegotiateProtocolVersion, [
    int32((3 << 16) | minor),
    int32(unsupportedOptions.length),
    ...unsupportedOptions.map(cstr),
  ]);
}

// ---- gateway -> upstream ---------------------------------------------------------------

export function startupMessage(params: Readonly<Record<string, string>>, minor = 0): Buffer {
  const parts = [int32((3 << 16) | minor)];
  for (const [k, v] of Object.entries(params)) parts.push(cstr(k), cstr(v));
  parts.push(Buffer.from([0]));
  let len = 4;
  for (const p of parts) len += p.length;
  return Buffer.concat([int32(len), ...parts]);
}

export function sslRequest(): Buffer {
  return Buffer.concat([int32(8), int32(StartupCode.SSL)]);
}

export function cancelRequest(pid: number, key: Buffer): Buffer {
  return Buffer.concat([int32(12 + key.length), int32(StartupCode.Cancel), int32(pid), key]);
}

export const passwordMessage = (password: string): Buffer => typed(Frontend.Password, [cstr(password)]);

export function saslInitialResponse(mechanism: string, data: Buffer): Buffer {
  return typed(Frontend.Password, [cstr(mechanism), int32(data.length), data]);
}

export const saslResponse = (data: Buffer): Buffer => typed(Frontend.Password, [data]);

export const query = (sql: string): Buffer => typed(Frontend.Query, [cstr(sql)]);
export const terminate = (): Buffer => typed(Frontend.Terminate, []);

export { cstr, int16, int32, typed };
