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
}

export interface OidcConfig {
  issuer: string;
  audience: string;
  identityClaim: string;
}

export interface IdentityConfig {
  name: string;
  /** Checked with SCRAM-SHA-256; never sent upstream. */
  password: string | null;
  oidc: OidcConfig | null;
  connections: string[];
  policy: string;
}

export interface LimitsConfig {
  /** Largest protocol message accepted in either direction. */
  maxMessageSize: number;
  /** Per-statement response bytes stored; past it rows are counted and digested only. 0 = unlimited. */
  captureLimit: number;
  /** Time a client has to finish startup and authentication. */
  startupTimeoutMs: number;
}

export interface GatewayConfig {
  /** The file it came from, or null for the demo / built in code. */
  file: string | null;
  store: string;
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
