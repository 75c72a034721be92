// What a verified identity may do: which connections, which policy, which upstream role or
// credentials, how many sessions at once, and when. One IdentityRegistry per gateway (shared by
// every listener) counts active sessions per verified identity and tells open sessions when an
// identity's settings change (e.g. an access window is shortened).

import type { VerifiedToken } from '../auth/oidc.js';
import type { IdentityConfig, UpstreamConfig } from '../config/types.js';
import { GatewayError, SqlState } from '../errors.js';

export interface AccessGrant {
  /** The configured identity entry. */
  entry: IdentityConfig;
  /** The verified identity the session is recorded under (the entry's name, or the token's identity claim). */
  identity: string;
  /** What connection limits count by: one per verified identity. */
  key: string;
  connections: string[];
  policy: string;
  upstreamRole: string | null;
  groups: string[];
}

/** The grant of a verified login: the entry's settings, plus those of the token's groups. */
export function resolveGrant(entry: IdentityConfig, token: VerifiedToken | null): AccessGrant {
  const grant: AccessGrant = {
    entry,
    identity: token ? token.identity : entry.name,
    key: token ? `${entry.name}\0${token.identity}` : entry.name,
    connections: [...entry.connections],
    policy: entry.policy,
    upstreamRole: entry.upstreamRole ?? null,
    groups: [],
  };
  if (token && entry.oidc?.groups) {
    let policySet = false;
    let roleSet = false;
    for (const g of entry.oidc.groups) {
      if (!token.groups.includes(g.name)) continue;
      grant.groups.push(g.name);
      for (const c of g.connections) if (!grant.connections.includes(c)) grant.connections.push(c);
      if (!policySet && g.policy !== undefined) {
        grant.policy = g.policy;
        policySet = true;
      }
      if (!roleSet && g.upstreamRole !== undefined) {
        grant.upstreamRole = g.upstreamRole;
        roleSet = true;
      }
    }
  }
  return grant;
}

/** The upstream to log in to for this identity: its own credentials when it has them. */
export function upstreamFor(base: UpstreamConfig, entry: IdentityConfig): UpstreamConfig {
  if (entry.upstreamUser === undefined) return base;
  return { ...base, user: entry.upstreamUser, password: entry.upstreamPassword ?? null };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Why `entry` may not log in (or stay) at `now`, or null inside its access window. */
export function outsideWindow(entry: IdentityConfig, name: string, now: number): string | null {
  if (entry.validFrom !== undefined && now < entry.validFrom) {
    return `access for identity "${name}" starts at ${iso(entry.validFrom)}`;
  }
  if (entry.validUntil !== undefined && now >= entry.validUntil) {
    return `access for identity "${name}" ended at ${iso(entry.validUntil)}`;
  }
  return null;
}

/** Refuses a login outside the window (28000). */
export function checkWindow(entry: IdentityConfig, name: string, now = Date.now()): void {
  const why = outsideWindow(entry, name, now);
  if (why !== null) {
    throw new GatewayError(
      SqlState.InvalidAuthorization,
      why,
      undefined,
      'ask an operator to grant access for the time you need',
    );
  }
}

export class IdentityRegistry {
  private readonly active = new Map<string, number>();
  private readonly watchers = new Map<string, Set<() => void>>();

  /** Sessions counted under `key` now. */
  count(key: string): number {
    return this.active.get(key) ?? 0;
  }

  /**
   * Counts one more session for the grant; returns the function that releases it. Throws 53300
   * past the identity's `max_connections`.
   */
  acquire(grant: AccessGrant): () => void {
    const n = this.count(grant.key);
    const max = grant.entry.maxConnections;
    if (max !== undefined && n >= max) {
      throw new GatewayError(
        SqlState.TooManyConnections,
        `too many connections for identity "${grant.identity}"`,
        `at most ${max} concurrent session${max === 1 ? ' is' : 's are'} allowed`,
        'close an open session first',
      );
    }
    this.active.set(grant.key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.count(grant.key) - 1;
      if (left > 0) this.active.set(grant.key, left);
      else this.active.delete(grant.key);
    };
  }

  /** Calls `onChange` when identity entry `name` is changed; returns the unsubscribe function. */
  watch(name: string, onChange: () => void): () => void {
    let set = this.watchers.get(name);
    if (!set) {
      set = new Set();
      this.watchers.set(name, set);
    }
    set.add(onChange);
    return () => {
      const s = this.watchers.get(name);
      s?.delete(onChange);
      if (s?.size === 0) this.watchers.delete(name);
    };
  }

  /** Identity entry `name` was changed: its open sessions check their access again. */
  changed(name: string): void {
    for (const cb of [...(this.watchers.get(name) ?? [])]) cb();
  }
}
