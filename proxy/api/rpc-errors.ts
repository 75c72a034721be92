// What a failed API call tells its caller: the message, and a code kept as data. Errors that
// carry a code of their own keep it (a SQLSTATE from PostgreSQL or the gateway, an approval
// queue's code, an ApiError's); refused arguments are `bad-arguments`; anything else is `failed`.

import { API_ERROR_CODES, isSqlState, type RpcErrorData } from '../../shared/rpc.js';
import { InputError } from './validate.js';

const API_CODES: ReadonlySet<string> = new Set(API_ERROR_CODES);

export interface ClassifiedError extends RpcErrorData {
  /** Whether the failure is the caller's doing or a known condition (else worth logging). */
  expected: boolean;
}

export function classifyError(e: unknown): ClassifiedError {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof InputError) return { message, code: 'bad-arguments', expected: true };
  const own = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined;
  if (typeof own === 'string' && (isSqlState(own) || API_CODES.has(own)))
    return { message, code: own, expected: true };
  // A plain Error or a TypeError is most likely a bug or an unexpected state: the operator should see it.
  const plain = !(e instanceof Error) || e.constructor === Error || e.constructor === TypeError;
  return { message, code: 'failed', expected: !plain };
}
