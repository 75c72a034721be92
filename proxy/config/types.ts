// The validated, resolved configuration (CONTRACT.md "Config file"). Secrets are already read
// from the environment here; nothing in this shape may be logged as is: use `describeUpstream`.

export type SslMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

export interface UpstreamConfig {
  host: string;
  port: number;
  user: string;
  /** The gateway's upstream secret. Never logged, recorded or sent to a client. */
  password: string | null;
  database: string;
  sslmode: SslMode;
  /** CA file for verify-ca / verify-full; the system store when absent. */
  sslrootcert: string | null;
}

export interface ConnectionConfig {
  name: string;
  listen: { host: string; port: number };
  upstream: UpstreamConfig;
  /** Client-facing TLS: configured files, or null = a self-signed certificate made and kept. */
  tls: { cert: string; key: string } | null;
  /** How long its sessions are kept (pruned past it, with a chained checkpoint); absent = forever. */
  retentionMs?: number;
  /**
   * `record_client_values`: 'clear' keeps the values the client types (SQL text, parameters, COPY
   * data) in the store as sent; absent = masked by the detectors (session/client-values.ts).
   */
  recordClientValues?: 'clear';
}

export interface OidcConfig {
  issuer: string;
  audience: string;
  identityClaim: string;
  /** The issuer's JWKS; when absent it is discovered from `${issuer}/.well-known/openid-configuration`. */
  jwksUri?: string;
  /** Claims the token must carry, with the value (or one of the values) each must have. */
  requiredClaims?: Record<string, (string | number | boolean)[]>;
  /** The claim holding the token's groups or roles (a list, or a space-separated string); default `groups`. */
  groupsClaim?: string;
  /** Leeway for `exp` / `nbf` / `iat`; default 30 s. */
  clockSkewMs?: number;
  /** Least time between two JWKS fetches triggered by an unknown `kid`; default 30 s. */
  jwksCooldownMs?: number;
  /** What members of a group (from `groupsClaim`) get, in config order (the first group that sets a policy or role wins). */
  groups?: OidcGroupConfig[];
}

export interface OidcGroupConfig {
  name: string;
  /** Added to the identity's own connections. */
  connections: string[];
  policy?: string;
  upstreamRole?: string;
}

export interface IdentityConfig {
  name: string;
  /** Checked with SCRAM-SHA-256; never sent upstream. */
  password: string | null;
  oidc: OidcConfig | null;
  connections: string[];
  policy: string;
  // Least privilege and access limits (optional; absent = none). Absent keys are absent, not
  // undefined, so that a config compares equal to what it was written from.
  /** `SET ROLE` to this role right after the upstream login; the client cannot change it back. */
  upstreamRole?: string;
  /** Log in upstream as this user instead of the connection's. */
  upstreamUser?: string;
  /** That user's password (from `${ENV}` or the vault; never written in plain text). */
  upstreamPassword?: string;
  /** Most concurrent sessions per verified identity (for an oidc entry: per token subject). */
  maxConnections?: number;
  /** Access window, epoch milliseconds: logins before / from then on are refused, open sessions end at `validUntil`. */
  validFrom?: number;
  validUntil?: number;
}

export interface LimitsConfig {
  /** Largest protocol message accepted in either direction. */
  maxMessageSize: number;
  /** Per-statement response bytes stored; past it rows are counted and digested only. 0 = unlimited. */
  captureLimit: number;
  /** Time a client has to finish startup and authentication. */
  startupTimeoutMs: number;
}

/** Team mode: the shared PostgreSQL audit store this gateway ships its records to. */
export interface TeamConfig {
  /** The shared store's address and credentials (the password is never logged: see describeStore). */
  target: UpstreamConfig;
  /** This gateway's name in the fleet (its chain's key in the shared store). */
  gateway: string;
  /** `store_retention`: drop the shared store's months older than this (absent/null: keep all). */
  storeRetentionMs?: number | null;
  /** `spool_keep`: compact shipped, closed sessions older than this from the spool (null: never; absent: 24 h). */
  spoolKeepMs?: number | null;
}

export interface GatewayConfig {
  /** The file it came from, or null for the demo / built in code. */
  file: string | null;
  /** The SQLite store; in team mode the local spool the shipper copies to the shared store. */
  store: string;
  /** Set in team mode (`store: postgres://...`). */
  team?: TeamConfig;
  /** Where a generated self-signed certificate is kept. */
  tlsDir: string;
  connections: ConnectionConfig[];
  identities: IdentityConfig[];
  /** Policies by name, as written (validated by the policy module). */
  policies: Record<string, unknown>;
  limits: LimitsConfig;
}

/** The upstream as it may be shown: no password. */
export function describeUpstream(u: UpstreamConfig): string {
  return `postgres://${u.user}@${u.host}:${u.port}/${u.database}?sslmode=${u.sslmode}`;
}
