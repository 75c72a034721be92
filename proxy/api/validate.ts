// Checks on what a UI sends: the renderer is not trusted (a page in a browser, a compromised
// renderer), so every call's arguments are validated before they reach the core.

import type { ConnectionInput, IdentityInput, SessionFilter, SessionSearch } from '../../shared/api.js';
import type { SslMode } from '../config/types.js';

export class InputError extends Error {}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
const SSLMODES: readonly SslMode[] = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'];

function obj(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new InputError(`${what} must be an object`);
  return v as Record<string, unknown>;
}

export function str(v: unknown, what: string, max = 1000): string {
  if (typeof v !== 'string') throw new InputError(`${what} must be a string`);
  if (v.length > max) throw new InputError(`${what} is too long`);
  return v;
}

export function int(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InputError(`${what} must be a whole number from ${min} to ${max}`);
  }
  return v;
}

export function name(v: unknown, what: string): string {
  const s = str(v, what, 63).trim();
  if (!NAME.test(s))
    throw new InputError(`${what} "${s}" is not valid: use letters, digits, _ . - (up to 63)`);
  return s;
}

function optSecret(v: unknown, what: string): string | null | undefined {
  if (v === undefined || v === null) return v;
  return str(v, what, 1024);
}

export function parseListen(v: unknown): { host: string; port: number } {
  const s = str(v, 'listen address', 300).trim();
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(s) ?? /^()()(\d{1,5})$/.exec(s);
  if (!m) throw new InputError(`listen address must be host:port, e.g. 127.0.0.1:6432 (got "${s}")`);
  const port = Number(m[3]);
  if (port > 65535) throw new InputError(`listen port ${port} is out of range`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

export interface CheckedConnection {
  name: string;
  listen: { host: string; port: number };
  upstream: { host: string; port: number; user: string; database: string; sslmode: SslMode };
  password: string | null | undefined;
  /** undefined = keep what the connection has; null = a self-signed certificate. */
  tls: { cert: string; key: string } | null | undefined;
  /** undefined = keep what the connection has. */
  recordClientValues: 'masked' | 'clear' | undefined;
}

export function checkConnectionInput(raw: unknown): CheckedConnection {
  const i = obj(raw, 'connection') as Partial<Record<keyof ConnectionInput, unknown>>;
  const host = str(i.upstreamHost, 'upstream host', 255).trim();
  if (!host || /[\s/@?#]/.test(host)) throw new InputError('upstream host must be a host name or IP address');
  const user = str(i.upstreamUser, 'upstream user', 63).trim();
  if (!user) throw new InputError('upstream user is required');
  const database = str(i.upstreamDatabase, 'upstream database', 63).trim();
  if (!database) throw new InputError('upstream database is required');
  const sslmode = str(i.sslmode, 'sslmode', 20) as SslMode;
  if (!SSLMODES.includes(sslmode)) throw new InputError(`sslmode must be one of ${SSLMODES.join(', ')}`);
  let tls: CheckedConnection['tls'] = i.tls === null ? null : undefined;
  if (i.tls !== undefined && i.tls !== null) {
    const t = obj(i.tls, 'tls');
    const cert = str(t.cert, 'TLS certificate file', 4096).trim();
    const key = str(t.key, 'TLS key file', 4096).trim();
    if (!cert || !key) throw new InputError('client TLS needs both a certificate file and a key file');
    tls = { cert, key };
  }
  const rcv = i.recordClientValues;
  if (rcv !== undefined && rcv !== 'masked' && rcv !== 'clear')
    throw new InputError('recordClientValues must be masked or clear');
  return {
    name: name(i.name, 'connection name'),
    listen: parseListen(i.listen),
    upstream: {
      host: host.replace(/^\[|\]$/g, ''),
      port: int(i.upstreamPort, 'upstream port', 1, 65535),
      user,
      database,
      sslmode,
    },
    password: optSecret(i.upstreamPassword, 'upstream password'),
    tls,
    recordClientValues: rcv,
  };
}

export function checkIdentityInput(raw: unknown): {
  name: string;
  password: string | null | undefined;
  connections: string[];
  policy: string | undefined;
} {
  const i = obj(raw, 'identity') as Partial<Record<keyof IdentityInput, unknown>>;
  if (!Array.isArray(i.connections)) throw new InputError('connections must be a list of connection names');
  return {
    name: name(i.name, 'identity name'),
    password: optSecret(i.password, 'password'),
    connections: [...new Set(i.connections.map((c) => name(c, 'connection name')))],
    policy: i.policy === undefined || i.policy === null ? undefined : name(i.policy, 'policy'),
  };
}

export function checkSessionSearch(raw: unknown): SessionSearch {
  const out: SessionSearch = checkSessionFilter(raw);
  const f = raw === undefined || raw === null ? {} : obj(raw, 'filter');
  for (const k of ['hasBlocked', 'hasHeld', 'hasErrors'] as const) {
    const v = f[k];
    if (v === undefined || v === null || v === false) continue;
    if (v !== true) throw new InputError(`${k} must be true or false`);
    out[k] = true;
  }
  if (out.limit !== undefined && out.limit > 500) throw new InputError('limit must be at most 500');
  return out;
}

export function checkSessionFilter(raw: unknown): SessionFilter {
  const f = raw === undefined || raw === null ? {} : obj(raw, 'filter');
  const out: SessionFilter = {};
  if (f.identity !== undefined && f.identity !== null) out.identity = str(f.identity, 'identity', 200);
  if (f.connection !== undefined && f.connection !== null)
    out.connection = str(f.connection, 'connection', 200);
  if (f.text !== undefined && f.text !== null) out.text = str(f.text, 'text', 1000);
  const n = Number.MAX_SAFE_INTEGER;
  if (f.since !== undefined && f.since !== null) out.since = int(f.since, 'since', 0, n);
  if (f.until !== undefined && f.until !== null) out.until = int(f.until, 'until', 0, n);
  if (f.limit !== undefined && f.limit !== null) out.limit = int(f.limit, 'limit', 1, 10_000);
  if (f.offset !== undefined && f.offset !== null) out.offset = int(f.offset, 'offset', 0, n);
  return out;
}
