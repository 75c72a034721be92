// Authenticates a client as a configured identity with SCRAM-SHA-256 (SCRAM-SHA-256-PLUS with
// tls-server-end-point channel binding when the client is on TLS). The upstream is never
// involved: identities' secrets are the gateway's, not the database's.
// https://www.postgresql.org/docs/current/sasl-authentication.html

import { randomBytes } from 'node:crypto';
import { tlsServerEndPointHash } from '../auth/channel-binding.js';
import { makeScramVerifier, ScramServerExchange, type ScramVerifier } from '../auth/scram-server.js';
import type { IdentityConfig } from '../config/types.js';
import { GatewayError, SqlState } from '../errors.js';
import { Frontend } from '../wire/codes.js';
import { FieldError, saslInitialResponse } from '../wire/fields.js';
import * as msg from '../wire/messages.js';
import type { SocketReader } from '../wire/socket-reader.js';

/** SCRAM verifiers derived once per identity (PBKDF2 is deliberately slow). */
/**
 * Largest SASL message a client may send before it is authenticated: PostgreSQL's own cap
 * (PG_MAX_AUTH_TOKEN_LENGTH, 65535) plus the header. Anything bigger is refused at its length
 * field, so an unauthenticated client cannot make the gateway buffer a large message.
 */
const MAX_AUTH_MESSAGE = 65535 + 5;

export class VerifierCache {
  /** Keys the fake salts of unknown users for this process. */
  readonly mockSecret = randomBytes(32);
  private readonly cache = new Map<string, { password: string; verifier: ScramVerifier }>();

  get(identity: IdentityConfig): ScramVerifier | null {
    if (identity.password === null) return null;
    const hit = this.cache.get(identity.name);
    if (hit && hit.password === identity.password) return hit.verifier;
    const verifier = makeScramVerifier(identity.password);
    this.cache.set(identity.name, { password: identity.password, verifier });
    return verifier;
  }
}

export interface AuthIo {
  reader: SocketReader;
  send(b: Buffer): void;
  /** Records an authentication message the gateway sent or received, with its secret part replaced. */
  recordRedacted(dir: 'client' | 'server', redacted: Buffer): void;
  /** Sends an authentication message without recording it (its redacted form is recorded instead). */
  sendUnrecorded(b: Buffer): void;
  deadline: number;
  maxMessageSize: number;
}

const REDACTED = Buffer.from('(redacted by Bastion)');

/** What the store keeps of a client authentication message: its kind, never its content. */
export function redactedClient(kind: string): Buffer {
  return msg.typed(Frontend.Password, [msg.cstr(`(redacted by Bastion: ${kind})`)]);
}

function failed(user: string): GatewayError {
  return new GatewayError(SqlState.InvalidPassword, `password authentication failed for user "${user}"`);
}

/**
 * Runs the SCRAM exchange. `identity` is undefined for an unknown user name: the exchange still
 * runs in full and fails at the end, so user names cannot be probed.
 */
export async function scramAuthenticate(
  io: AuthIo,
  user: string,
  identity: IdentityConfig | undefined,
  verifiers: VerifierCache,
  tlsCertDer: Buffer | null,
): Promise<void> {
  const verifier = identity ? verifiers.get(identity) : null;
  const exchange = new ScramServerExchange(verifier, {
    username: user, // an unknown user gets a stable fake salt, as a known one has a stable real one
    mockSecret: verifiers.mockSecret,
    channelBinding: tlsCertDer
      ? { type: 'tls-server-end-point', data: tlsServerEndPointHash(tlsCertDer) }
      : undefined,
  });
  io.send(msg.authenticationSASL(exchange.mechanisms()));
  const first = await io.reader.readMessage(Math.min(MAX_AUTH_MESSAGE, io.maxMessageSize), io.deadline);
  io.recordRedacted('client', redactedClient('SASLInitialResponse'));
  if (first.type !== Frontend.Password) {
    throw new GatewayError(SqlState.ProtocolViolation, 'expected SASL response');
  }
  let initial: { mechanism: string; data: Buffer | null };
  try {
    initial = saslInitialResponse(first.body);
  } catch (e) {
    if (e instanceof FieldError)
      throw new GatewayError(SqlState.ProtocolViolation, 'malformed SASLInitialResponse');
    throw e;
  }
  const { mechanism } = initial;
  const clientFirst = initial.data ?? Buffer.alloc(0);
  const r1 = exchange.handleInitial(mechanism, Buffer.from(clientFirst));
  if (!r1.ok) throw failed(user);
  io.sendUnrecorded(msg.authenticationSASLContinue(r1.serverFirst));
  io.recordRedacted('server', msg.authenticationSASLContinue(REDACTED));
  const second = await io.reader.readMessage(Math.min(MAX_AUTH_MESSAGE, io.maxMessageSize), io.deadline);
  io.recordRedacted('client', redactedClient('SASLResponse'));
  if (second.type !== Frontend.Password) {
    throw new GatewayError(SqlState.ProtocolViolation, 'expected SASL response');
  }
  const r2 = exchange.handleFinal(Buffer.from(second.body));
  if (!r2.ok || identity === undefined) throw failed(user);
  io.sendUnrecorded(msg.authenticationSASLFinal(r2.serverFinal));
  io.recordRedacted('server', msg.authenticationSASLFinal(REDACTED));
}
