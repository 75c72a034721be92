// How a relaying session ends when one side breaks the protocol, or the session changes in a way
// the gateway cannot follow: what is logged, the end reason recorded, the FATAL error the client
// gets.

import { GatewayError, SqlState } from '../errors.js';
import { MaskError } from '../masking/index.js';
import { unguardableSetting } from '../policy/lexing.js';
import { FieldError, parameterStatus } from '../wire/fields.js';
import { BadLengthError, MessageTooLargeError } from '../wire/framer.js';
import { BoundaryBroken } from './boundary.js';
import { ProtocolStateError } from './protocol-state.js';

export interface Violation {
  /** What the gateway log gets (after the session id), if anything. */
  log: { level: 'warn' | 'error'; message: string } | null;
  /** The session's end reason. */
  reason: string;
  /** What the client is told. */
  error: GatewayError;
}

/** The client sent something the gateway cannot read. */
export function clientViolation(e: unknown): Violation {
  let message: string;
  let log: Violation['log'] = null;
  if (e instanceof MessageTooLargeError || e instanceof BadLengthError || e instanceof FieldError)
    message = e.message;
  else {
    log = { level: 'error', message: `${(e as Error).stack ?? e}` };
    message = 'invalid message';
  }
  return {
    log,
    reason: `protocol violation: ${message}`,
    error: new GatewayError(SqlState.ProtocolViolation, message),
  };
}

/** What the upstream sent cannot be relayed. */
export function upstreamViolation(e: unknown): Violation {
  if (e instanceof UnguardableSession) {
    // The session changed state in a way the gateway cannot guard (see checkEncodingStatus).
    return { log: { level: 'warn', message: e.message }, reason: e.message, error: e };
  }
  if (e instanceof BoundaryBroken) {
    // read_only or the role lock no longer holds on the server (see boundary.ts).
    return { log: { level: 'warn', message: e.message }, reason: e.message, error: e };
  }
  if (e instanceof ProtocolStateError) {
    // The replies no longer match the requests: nothing after this can be attributed, masked or
    // guarded with certainty.
    return {
      log: { level: 'error', message: `protocol state: ${e.message}` },
      reason: 'protocol state lost',
      error: new GatewayError(
        SqlState.ProtocolViolation,
        `the gateway lost track of the session: ${e.message}`,
      ),
    };
  }
  if (e instanceof MaskError) {
    // A row the masker cannot rewrite safely must not reach the client raw: end the session.
    return {
      log: { level: 'error', message: `masking: ${e.message}` },
      reason: 'masking refused a row',
      error: new GatewayError(
        SqlState.InternalError,
        `the gateway cannot mask this result safely: ${e.message}`,
      ),
    };
  }
  return {
    log: { level: 'error', message: `invalid data from upstream: ${(e as Error).message}` },
    reason: 'upstream protocol violation',
    error: new GatewayError(
      SqlState.ProtocolViolation,
      `invalid data from the database: ${(e as Error).message}`,
    ),
  };
}

/**
 * The server reports every change of client_encoding and standard_conforming_strings. The
 * guardrails refuse the statements that would change them to what the gateway cannot read (see
 * policy/lexing.ts); this is the backstop for any way they did not foresee: the session ends
 * before another statement is read that way (statements that could read differently wait for
 * every earlier answer first: see the relay).
 */
export function checkLexingStatus(buf: Buffer, start: number, end: number): void {
  const { name, value } = parameterStatus(buf, start, end);
  const why = unguardableSetting(name, value);
  if (why !== null) throw new UnguardableSession(why);
}

/** The session can no longer be guarded: it ends with this FATAL error. */
class UnguardableSession extends GatewayError {
  constructor(message: string) {
    super(SqlState.FeatureNotSupported, message);
  }
}
