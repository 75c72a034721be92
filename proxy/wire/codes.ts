// Message type bytes of the PostgreSQL frontend/backend protocol 3.0 and 3.2.
// https://www.postgresql.org/docs/current/protocol-message-formats.html

/** Messages a client sends once the session is started. */
export const enum Frontend {
  Bind = 0x42, // 'B'
  Close = 0x43, // 'C'
  CopyData = 0x64, // 'd'
  CopyDone = 0x63, // 'c'
  CopyFail = 0x66, // 'f'
  Describe = 0x44, // 'D'
  Execute = 0x45, // 'E'
  Flush = 0x48, // 'H'
  FunctionCall = 0x46, // 'F'
  Parse = 0x50, // 'P'
  /** PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse: told apart by context. */
  Password = 0x70, // 'p'
  Query = 0x51, // 'Q'
  Sync = 0x53, // 'S'
  Terminate = 0x58, // 'X'
}

/** Messages a server sends. */
export const enum Backend {
  Authentication = 0x52, // 'R'
  BackendKeyData = 0x4b, // 'K'
  BindComplete = 0x32, // '2'
  CloseComplete = 0x33, // '3'
  CommandComplete = 0x43, // 'C'
  CopyData = 0x64, // 'd'
  CopyDone = 0x63, // 'c'
  CopyInResponse = 0x47, // 'G'
  CopyOutResponse = 0x48, // 'H'
  CopyBothResponse = 0x57, // 'W'
  DataRow = 0x44, // 'D'
  EmptyQueryResponse = 0x49, // 'I'
  ErrorResponse = 0x45, // 'E'
  FunctionCallResponse = 0x56, // 'V'
  NegotiateProtocolVersion = 0x76, // 'v'
  NoData = 0x6e, // 'n'
  NoticeResponse = 0x4e, // 'N'
  NotificationResponse = 0x41, // 'A'
  ParameterDescription = 0x74, // 't'
  ParameterStatus = 0x53, // 'S'
  ParseComplete = 0x31, // '1'
  PortalSuspended = 0x73, // 's'
  ReadyForQuery = 0x5a, // 'Z'
  RowDescription = 0x54, // 'T'
}

/** Authentication request subtypes (the int32 after 'R'). */
export const enum AuthCode {
  Ok = 0,
  CleartextPassword = 3,
  MD5Password = 5,
  GSS = 7,
  GSSContinue = 8,
  SSPI = 9,
  SASL = 10,
  SASLContinue = 11,
  SASLFinal = 12,
}

/** Codes in the version field of untyped startup-phase packets. */
export const enum StartupCode {
  Protocol30 = 196608, // 3 << 16
  Protocol32 = 196610, // 3 << 16 | 2
  Cancel = 80877102,
  SSL = 80877103,
  GSSENC = 80877104,
}

/** The newest protocol minor version the gateway speaks to clients. */
export const LATEST_MINOR = 2;
/** PostgreSQL's own limit on a field (and so on a sane message): 1 GiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024 * 1024;
/** A startup packet is tiny; PostgreSQL refuses more than 10,000 bytes. */
export const MAX_STARTUP_PACKET = 10000;
