// A real OpenID provider (oidc-provider) on 127.0.0.1 for the identity tests. Agents get JWT
// access tokens with the client_credentials grant and a resource indicator (the audience); the
// token's `sub` is the client id, `groups` comes from the client's entry. Keys can be rotated
// in place: the same issuer then serves a new JWKS.

import http from 'node:http';
import type net from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

export interface IdpClient {
  id: string;
  secret: string;
  groups?: string[];
  /** Access token lifetime in seconds (default 300). */
  ttl?: number;
}

export interface TestIdp {
  issuer: string;
  /** Issues an access token for `client` meant for `audience` (a resource indicator). */
  token(client: IdpClient, audience: string): Promise<string>;
  /** Replaces the signing keys (old ones are no longer published). Returns the new kid. */
  rotateKeys(): Promise<string>;
  kid: string;
  /** The current private signing keys (to start another issuer that signs with them). */
  keys: JWK[];
  /** JWKS fetches served so far. */
  jwksFetches: number;
  stop(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
interface ProviderInstance {
  callback(): Handler;
}
type ProviderCtor = new (issuer: string, config: Record<string, unknown>) => ProviderInstance;

let Provider: ProviderCtor | undefined;

async function newSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: `k-${Math.random().toString(36).slice(2, 10)}`, alg: 'RS256', use: 'sig' };
}

/** Starts a provider. `keys` lets a second provider sign with the same keys (another issuer). */
export async function startIdp(clients: IdpClient[], opts: { keys?: JWK[] } = {}): Promise<TestIdp> {
  // oidc-provider ships no type declarations: load it untyped.
  Provider ??= ((await import('oidc-provider' as string)) as { default: ProviderCtor }).default;
  const server = http.createServer();
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  let keys = opts.keys ?? [await newSigningKey()];
  const byId = new Map(clients.map((c) => [c.id, c]));
  const make = (): ProviderInstance =>
    new Provider!(issuer, {
      clients: clients.map((c) => ({
        client_id: c.id,
        client_secret: c.secret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_post',
      })),
      jwks: { keys },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: (_ctx: unknown, _client: unknown, oneOf: string | undefined) => oneOf,
          useGrantedResource: () => false,
          getResourceServerInfo: (_ctx: unknown, resource: string, client: { clientId: string }) => ({
            scope: 'db',
            audience: resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: byId.get(client.clientId)?.ttl ?? 300,
            jwt: { sign: { alg: 'RS256' } },
          }),
        },
      },
      ttl: {
        ClientCredentials: (_ctx: unknown, token: { resourceServer?: { accessTokenTTL?: number } }) =>
          token.resourceServer?.accessTokenTTL ?? 300,
      },
      extraTokenClaims: (_ctx: unknown, token: { clientId: string }) => {
        const groups = byId.get(token.clientId)?.groups;
        return groups ? { groups } : undefined;
      },
    });
  let handler = make().callback();
  const idp: TestIdp = {
    issuer,
    kid: keys[0].kid!,
    keys,
    jwksFetches: 0,
    async token(client, audience) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: client.id,
          client_secret: client.secret,
          resource: audience,
          scope: 'db',
        }),
      });
      const body = (await res.json()) as {
        access_token?: string;
        error?: string;
        error_description?: string;
      };
      if (!res.ok || !body.access_token) {
        throw new Error(`token request failed: ${res.status} ${body.error} ${body.error_description}`);
      }
      return body.access_token;
    },
    async rotateKeys() {
      keys = [await newSigningKey()];
      handler = make().callback();
      idp.kid = keys[0].kid!;
      idp.keys = keys;
      return idp.kid;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on('request', (req, res) => {
    if (req.url?.startsWith('/jwks')) idp.jwksFetches++;
    handler(req, res);
  });
  return idp;
}
