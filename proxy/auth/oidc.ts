// OIDC token checks for identities configured with `oidc`: the client sends a JWT (an ID or
// access token from the company's IdP) as its password. The signature is checked against the
// issuer's JWKS (found through OpenID discovery, cached, fetched again when a token names an
// unknown `kid`), then `iss`, `aud`, `exp` / `nbf` with a small clock skew, and the required
// claims. The token itself is never logged or recorded.
// https://openid.net/specs/openid-connect-discovery-1_0.html

import type * as Jose from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';

let jose: Promise<typeof Jose> | null = null;

/** jose is hundreds of modules: loaded by the first token, not at start (most gateways use no OIDC). */
function loadJose(): Promise<typeof Jose> {
  jose ??= import('jose');
  return jose;
}

import type { OidcConfig } from '../config/types.js';

/** Asymmetric algorithms only: `none` and HMAC (whose key would be the public JWKS) are refused. */
const ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];
const DEFAULT_CLOCK_SKEW_MS = 30_000;
const DEFAULT_COOLDOWN_MS = 30_000;
const FETCH_TIMEOUT_MS = 5_000;
/** Largest token accepted (tokens with many groups run to a few KiB). */
export const MAX_TOKEN_LENGTH = 64 * 1024;

/** A token that does not pass; `reason` is safe to show the client (it holds no token content). */
export class TokenError extends Error {
  constructor(
    readonly reason: string,
    /** The IdP could not be reached or answered badly: not the client's fault. */
    readonly unavailable = false,
  ) {
    super(reason);
  }
}

export interface VerifiedToken {
  /** The value of the identity claim: the name the session is recorded under. */
  identity: string;
  /** Groups or roles from the groups claim. */
  groups: string[];
  claims: JWTPayload;
}

/** A claim by name, or by a dotted path into nested objects (e.g. `realm_access.roles`). */
export function claimValue(claims: JWTPayload, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  let v: unknown = claims;
  for (const part of name.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** An issuer as configured, with and without a trailing slash (configs and IdPs differ on it). */
function issuerForms(issuer: string): string[] {
  const bare = issuer.replace(/\/+$/, '');
  return [bare, `${bare}/`];
}

function groupsOf(v: unknown): string[] {
  if (typeof v === 'string') return v.split(/[\s,]+/).filter((x) => x.length > 0);
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

function claimMatches(actual: unknown, expected: (string | number | boolean)[], claim: string): boolean {
  const values: unknown[] = Array.isArray(actual)
    ? actual
    : typeof actual === 'string' && (claim === 'scope' || claim === 'scp')
      ? actual.split(' ')
      : [actual];
  return values.some((v) => expected.includes(v as string | number | boolean));
}

/** What the client is told (and the log says) about a refused token. */
function describe(e: unknown, errors: typeof Jose.errors | null): TokenError {
  if (e instanceof TokenError) return e;
  if (errors === null)
    return new TokenError(`tokens cannot be checked: ${(e as Error).message ?? e}`.slice(0, 300));
  if (e instanceof errors.JWTExpired) return new TokenError('the token has expired');
  if (e instanceof errors.JWTClaimValidationFailed) {
    const claim = e.claim;
    if (claim === 'nbf' || claim === 'iat') return new TokenError(`the token is not valid yet ("${claim}")`);
    if (claim === 'iss') return new TokenError('the token was not issued by the configured issuer');
    if (claim === 'aud') return new TokenError('the token is not meant for this gateway (audience)');
    return new TokenError(`claim "${claim}" ${e.reason === 'missing' ? 'is missing' : 'is invalid'}`);
  }
  if (e instanceof errors.JWSSignatureVerificationFailed)
    return new TokenError('the token signature is invalid');
  if (e instanceof errors.JOSEAlgNotAllowed) {
    return new TokenError('the token is unsigned or uses an algorithm that is not accepted');
  }
  if (e instanceof errors.JWKSNoMatchingKey) {
    return new TokenError('the token is signed with a key the issuer does not publish');
  }
  if (
    e instanceof errors.JWSInvalid ||
    e instanceof errors.JWTInvalid ||
    e instanceof errors.JOSENotSupported
  ) {
    return new TokenError('the password is not a valid signed JWT');
  }
  if (e instanceof errors.JWKSTimeout)
    return new TokenError('the identity provider did not answer in time', true);
  return new TokenError(
    `the identity provider's keys could not be fetched (${(e as Error).message ?? e})`.slice(0, 300),
    true,
  );
}

/**
 * Checks tokens for every `oidc` identity. One per gateway: the JWKS of each issuer is fetched
 * once and shared by all of its identities and listeners.
 */
export class OidcVerifier {
  /** JWKS getters by `jwks_uri` and cooldown. */
  private readonly keySets = new Map<string, JWTVerifyGetKey>();
  /** Discovered `jwks_uri` by issuer (a failed discovery is not kept: the next login tries again). */
  private readonly discovered = new Map<string, Promise<string>>();

  constructor(private readonly fetchTimeoutMs = FETCH_TIMEOUT_MS) {}

  async verify(token: string, cfg: OidcConfig): Promise<VerifiedToken> {
    let lib: typeof Jose | null = null;
    try {
      lib = await loadJose();
      if (token.length === 0) throw new TokenError('no token was given as the password');
      if (token.length > MAX_TOKEN_LENGTH) throw new TokenError('the token is too long');
      const getKey = await this.keySet(cfg, lib);
      const { payload } = await lib.jwtVerify(token, getKey, {
        issuer: issuerForms(cfg.issuer),
        audience: cfg.audience,
        algorithms: ALGORITHMS,
        clockTolerance: Math.round((cfg.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS) / 1000),
        // A token without an expiry would work forever.
        requiredClaims: ['exp'],
      });
      for (const [claim, expected] of Object.entries(cfg.requiredClaims ?? {})) {
        const actual = claimValue(payload, claim);
        if (actual === undefined) throw new TokenError(`required claim "${claim}" is missing`);
        if (!claimMatches(actual, expected, claim)) {
          throw new TokenError(`required claim "${claim}" does not have an accepted value`);
        }
      }
      const raw = claimValue(payload, cfg.identityClaim);
      const identity = typeof raw === 'number' ? String(raw) : raw;
      if (typeof identity !== 'string' || identity.length === 0) {
        throw new TokenError(`the identity claim "${cfg.identityClaim}" is missing or not a string`);
      }
      // The name is shown and stored everywhere: no control characters, a sane length.
      if (identity.length > 256 || /\p{Cc}/u.test(identity)) {
        throw new TokenError(`the identity claim "${cfg.identityClaim}" is not a usable name`);
      }
      return {
        identity,
        groups: groupsOf(claimValue(payload, cfg.groupsClaim ?? 'groups')),
        claims: payload,
      };
    } catch (e) {
      throw describe(e, lib?.errors ?? null);
    }
  }

  private async keySet(cfg: OidcConfig, lib: typeof Jose): Promise<JWTVerifyGetKey> {
    const uri = cfg.jwksUri ?? (await this.discover(cfg.issuer));
    const cooldown = cfg.jwksCooldownMs ?? DEFAULT_COOLDOWN_MS;
    const key = `${cooldown} ${uri}`;
    let set = this.keySets.get(key);
    if (!set) {
      set = lib.createRemoteJWKSet(new URL(uri), {
        timeoutDuration: this.fetchTimeoutMs,
        cooldownDuration: cooldown,
        cacheMaxAge: 10 * 60_000,
      });
      this.keySets.set(key, set);
    }
    return set;
  }

  private discover(issuer: string): Promise<string> {
    let p = this.discovered.get(issuer);
    if (!p) {
      p = this.fetchDiscovery(issuer);
      this.discovered.set(issuer, p);
      p.catch(() => this.discovered.delete(issuer));
    }
    return p;
  }

  private async fetchDiscovery(issuer: string): Promise<string> {
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let doc: unknown;
    try {
      const res = await fetch(url, {
        redirect: 'error',
        signal: AbortSignal.timeout(this.fetchTimeoutMs),
        headers: { accept: 'application/json' },
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      doc = await res.json();
    } catch (e) {
      throw new TokenError(`OpenID discovery at ${url} failed: ${(e as Error).message}`, true);
    }
    const d = (doc ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
    // The discovery document must name the issuer it was fetched for (OpenID Discovery 4.3).
    if (typeof d.issuer !== 'string' || !issuerForms(issuer).includes(d.issuer)) {
      throw new TokenError(`OpenID discovery at ${url} names another issuer (${String(d.issuer)})`, true);
    }
    if (typeof d.jwks_uri !== 'string')
      throw new TokenError(`OpenID discovery at ${url} has no jwks_uri`, true);
    const jwks = new URL(d.jwks_uri);
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(jwks.hostname);
    if (jwks.protocol !== 'https:' && !(jwks.protocol === 'http:' && loopback)) {
      throw new TokenError(`OpenID discovery at ${url} gives a jwks_uri that is not https`, true);
    }
    return d.jwks_uri;
  }
}
