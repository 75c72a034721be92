// Errors that reach a client. Only these typed errors are turned into an ErrorResponse; anything
// else is logged and the client gets a generic internal error, so internals never leak.
// SQLSTATEs: https://www.postgresql.org/docs/current/errcodes-appendix.html

export const SqlState = {
  ProtocolViolation: '08P01',
  ConnectionFailure: '08006',
  UnableToConnect: '08001',
  InvalidAuthorization: '28000',
  InvalidPassword: '28P01',
  TooManyConnections: '53300',
  InsufficientPrivilege: '42501',
  IoError: '58030',
  AdminShutdown: '57P01',
  QueryCanceled: '57014',
  FeatureNotSupported: '0A000',
  InternalError: 'XX000',
} as const;

export class GatewayError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly detail?: string,
    readonly hint?: string,
    /** The upstream database's own SQLSTATE when it refused the gateway (for the operator; a client gets `detail`). */
    readonly upstreamCode?: string,
  ) {
    super(message);
  }
}
