// Authenticates the client of a starting session as a configured identity (SCRAM, or an OIDC
// token for an `oidc` identity), then resolves what that identity may do here.

import { MAX_TOKEN_LENGTH, TokenError, type VerifiedToken } from '../auth/oidc.js';
import type { IdentityConfig, OidcConfig } from '../config/types.js';
import { GatewayError, SqlState } from '../errors.js';
import { Frontend } from '../wire/codes.js';
import { FieldError, passwordText } from '../wire/fields.js';
import * as msg from '../wire/messages.js';
import type { SocketReader } from '../wire/socket-reader.js';
import { type AccessGrant, checkWindow, resolveGrant } from './access.js';
import { redactedClient, scramAuthenticate } from './client-auth.js';
import type { SessionParts } from './context.js';

/**
 * Authenticates the user named in the startup packet and returns the grant of the identity:
 * refused (GatewayError) when authentication fails or the identity may not use this connection
 * now.
 */
export async function authenticate(
  s: SessionParts,
  reader: SocketReader,
  params: Record<string, string>,
  deadline: number,
): Promise<AccessGrant> {
  if (params.replication !== undefined && params.replication !== 'false' && params.replication !== 'off') {
    throw new GatewayError(
      SqlState.FeatureNotSupported,
      'replication connections are not supported by the gateway',
    );
  }
  const user = params.user;
  if (!user)
    throw new GatewayError(
      SqlState.InvalidAuthorization,
      'no PostgreSQL user name specified in startup packet',
    );
  s.info.identity = user;
  const identity = s.ctx.identities.get(user);
  let token: VerifiedToken | null = null;
  if (identity?.oidc) {
    s.info.authMethod = 'oidc';
    token = await tokenAuthenticate(s, reader, user, identity.oidc, deadline);
  } else {
    await scram(s, reader, user, identity, deadline);
  }
  // The SCRAM exchange of an unknown user fails at its end (so that user names cannot be
  // probed): past it, the identity is known.
  if (identity === undefined)
    throw new GatewayError(SqlState.InvalidPassword, `password authentication failed for user "${user}"`);
  // Checked only after the password or token, so that none of it can be probed without them.
  const grant = resolveGrant(identity, token);
  s.info.identity = grant.identity;
  if (!grant.connections.includes(s.ctx.connection.name)) {
    throw new GatewayError(
      SqlState.InvalidAuthorization,
      `identity "${grant.identity}" is not allowed to use connection "${s.ctx.connection.name}"`,
    );
  }
  checkWindow(identity, grant.identity);
  return grant;
}

async function scram(
  s: SessionParts,
  reader: SocketReader,
  user: string,
  identity: IdentityConfig | undefined,
  deadline: number,
): Promise<void> {
  const recorder = s.recorder;
  await scramAuthenticate(
    {
      reader,
      send: (b) => s.client.send(b),
      sendUnrecorded: (b) => s.client.socket.write(b),
      recordRedacted: (dir, b) => {
        recorder.begin(dir);
        recorder.frameBytes(b);
        recorder.end();
      },
      deadline,
      maxMessageSize: s.ctx.limits.maxMessageSize,
    },
    user,
    identity,
    s.ctx.verifiers,
    s.info.tls && s.ctx.tls !== null ? s.ctx.tls.certDer : null,
  );
}

/**
 * An `oidc` identity: the password is a JWT from the identity provider. Only over TLS (the token
 * is a bearer secret), asked for with AuthenticationCleartextPassword; recorded redacted.
 */
async function tokenAuthenticate(
  s: SessionParts,
  reader: SocketReader,
  user: string,
  oidc: OidcConfig,
  deadline: number,
): Promise<VerifiedToken> {
  if (!s.info.tls) {
    throw new GatewayError(
      SqlState.InvalidAuthorization,
      `identity "${user}" logs in with an OIDC token, which is accepted only over TLS`,
      undefined,
      'connect with sslmode=require (or stricter)',
    );
  }
  s.client.send(msg.authenticationCleartext());
  const m = await reader.readMessage(Math.min(MAX_TOKEN_LENGTH + 5, s.ctx.limits.maxMessageSize), deadline);
  s.recorder.begin('client');
  s.recorder.frameBytes(redactedClient('PasswordMessage (OIDC token)'));
  s.recorder.end();
  if (m.type !== Frontend.Password) {
    throw new GatewayError(SqlState.ProtocolViolation, 'expected a password message');
  }
  let token: string;
  try {
    token = passwordText(m.body).trim();
  } catch (e) {
    if (e instanceof FieldError) throw new GatewayError(SqlState.ProtocolViolation, e.message);
    throw e;
  }
  try {
    return await s.ctx.oidc.verify(token, oidc);
  } catch (e) {
    const why = e instanceof TokenError ? e : new TokenError((e as Error).message, true);
    s.ctx.log.warn(`session ${s.id}: OIDC login as "${user}" refused: ${why.reason}`);
    if (why.unavailable) {
      throw new GatewayError(
        SqlState.InvalidAuthorization,
        `token authentication failed for user "${user}": the token could not be checked now`,
        'the identity provider could not be reached; see the gateway log',
      );
    }
    throw new GatewayError(
      SqlState.InvalidPassword,
      `token authentication failed for user "${user}": ${why.reason}`,
    );
  }
}
