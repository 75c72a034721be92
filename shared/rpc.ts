// How a call of shared/api.ts travels between a client (the renderer, the CLI) and the core,
// whatever carries it (Electron IPC, the UI's WebSocket, the CLI's control socket): a request by
// method name, an outcome that is either a result or a typed error. The error's `code` is data:
// a PostgreSQL SQLSTATE or one of API_ERROR_CODES, so that no client reads it out of message text.
// Plain types and functions only: safe to import in the renderer, the CLI and the Electron main.

import { API_METHODS, type BastionApi, type BastionEvent } from './api.js';

export type ApiMethod = (typeof API_METHODS)[number];

/**
 * The API's own error codes. Approval codes are the approval queue's (proxy/approvals/queue.ts);
 * `bad-arguments` covers both a malformed call and arguments the service refused.
 */
export const API_ERROR_CODES = [
  /** The method is not one of API_METHODS (or not offered by this host). */
  'unknown-method',
  /** The message is not a call: not JSON, not an object, params not a list. */
  'bad-message',
  /** Too many arguments, or an argument the service refused (InputError). */
  'bad-arguments',
  /** The approval does not exist. */
  'not-found',
  /** The approval was already decided or has expired. */
  'not-pending',
  /** An identity may not approve its own statement. */
  'self-approval',
  /** The caller may not make this call (not the app's own window; a reader deciding in a shared store). */
  'refused',
  /** The host could not be reached, or the link to it was lost. */
  'unavailable',
  /** The host did not answer in time. */
  'timeout',
  /** Any other failure: the message says what. */
  'failed',
] as const;

export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** A failed call as the transports carry it. `code`: a SQLSTATE or an ApiErrorCode. */
export interface RpcErrorData {
  message: string;
  code: string;
}

/** What a call came to: the method's result (undefined sent as null) or a typed error. */
export type RpcOutcome = { result: unknown } | { error: RpcErrorData };

/** A call on a socket (WebSocket, control socket): `id` pairs it with its reply. */
export interface RpcRequest {
  id: number | string;
  method: string;
  params: unknown[];
}

/** A reply on a socket: the request's id (null when the request could not be read) and its outcome. */
export type RpcReply = { id: number | string | null } & RpcOutcome;

/** Events as the sockets carry them: every event of one batching interval, in order. */
export interface RpcEventBatch {
  events: BastionEvent[];
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** Whether `code` is a PostgreSQL SQLSTATE (five digits or capital letters) rather than an API code. */
export function isSqlState(code: string): boolean {
  return SQLSTATE.test(code);
}

/** A failed call, as clients see it: the message for people, the code for code. */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** The outcome's result, or its error thrown as an ApiError. */
export function unwrapOutcome(outcome: RpcOutcome): unknown {
  if ('error' in outcome) throw new ApiError(outcome.error.message, outcome.error.code);
  return outcome.result;
}

/** Sends one call and resolves to its outcome (it may also reject, e.g. a lost link). */
export type RpcCall = (method: ApiMethod, params: unknown[]) => Promise<RpcOutcome>;

/** The API over a transport's call function, method by method from API_METHODS. */
export function apiOverRpc(call: RpcCall): BastionApi {
  const api: Record<string, (...params: unknown[]) => Promise<unknown>> = {};
  for (const method of API_METHODS)
    api[method] = async (...params) => unwrapOutcome(await call(method, params));
  return api as unknown as BastionApi;
}
