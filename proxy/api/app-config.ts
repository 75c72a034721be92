// The app-managed config file: what the operator sets up in the UI (connections, identities) is
// written to `bastion.app.yaml` next to the store, in the CONTRACT config format, so `bastion
// serve --config bastion.app.yaml` runs the same gateway. Secrets never go into it: they are
// written as ${BASTION_...} references, resolved from a SecretVault (a 0600 JSON file next to it
// for the headless host, safeStorage in the desktop app).

import fs from 'node:fs';
import path from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { ConfigError, parseConfig } from '../config/load.js';
import type { ConnectionConfig, GatewayConfig, IdentityConfig } from '../config/types.js';
import {
  FileSecretVault,
  identitySecretKey,
  identityUpstreamSecretKey,
  type SecretVault,
  upstreamSecretKey,
  writeFileAtomic,
} from './vault.js';

export const APP_CONFIG_NAME = 'bastion.app.yaml';
export const SECRETS_NAME = 'bastion.secrets.json';

/** The app config and the headless host's secrets file, beside a store. */
export function appFilesBeside(storePath: string): { config: string; secrets: string } {
  const dir = path.dirname(path.resolve(storePath));
  return { config: path.join(dir, APP_CONFIG_NAME), secrets: path.join(dir, SECRETS_NAME) };
}

/**
 * The secrets kept beside a config file (bastion.secrets.json), as environment entries for its
 * ${BASTION_...} references; empty when there is no such file. For `bastion serve --config`:
 * `loadConfig(file, { ...process.env, ...vaultEnv(file) })`.
 */
export function vaultEnv(configFile: string): Record<string, string> {
  const file = path.join(path.dirname(path.resolve(configFile)), SECRETS_NAME);
  if (!fs.existsSync(file)) return {};
  // Like ~/.pgpass: secrets others can read are not used (the vault writes the file 0600).
  if (process.platform !== 'win32' && (fs.statSync(file).mode & 0o077) !== 0) {
    throw new ConfigError(`${file}:1: the secrets file is readable by other users; run: chmod 600 ${file}`);
  }
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(raw).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}

const PLACEHOLDER = '__bastion_placeholder__';

/**
 * Parses app config text. Unlike a hand-written bastion.yaml, the app's file may have no
 * connections yet (a fresh install): the parser requires one, so a placeholder stands in for the
 * check and is removed again.
 */
export function parseAppConfig(text: string, file: string, env: NodeJS.ProcessEnv): GatewayConfig {
  const js = parseDocument(text).toJS() as unknown;
  const top =
    js !== null && typeof js === 'object' && !Array.isArray(js) ? (js as Record<string, unknown>) : null;
  const empty =
    top !== null &&
    (top.connections === undefined ||
      top.connections === null ||
      (Array.isArray(top.connections) && top.connections.length === 0));
  if (!empty && text.trim() !== '') return parseConfig(text, file, env);
  const withOne = {
    ...top,
    connections: [{ name: PLACEHOLDER, listen: '127.0.0.1:0', upstream: 'postgres://x@127.0.0.1/x' }],
  };
  const config = parseConfig(stringify(withOne), file, env);
  config.connections = config.connections.filter((c) => c.name !== PLACEHOLDER);
  return config;
}

/** Reads the app config, resolving secrets from the vault (they win over the environment). */
export function loadAppConfig(
  file: string,
  vault: SecretVault,
  env: NodeJS.ProcessEnv = process.env,
): GatewayConfig {
  return parseAppConfig(fs.readFileSync(file, 'utf8'), file, { ...env, ...vault.entries() });
}

/** A config with nothing in it yet, its store beside `file` (what a fresh desktop install starts from). */
export function emptyAppConfig(file: string): GatewayConfig {
  return parseAppConfig('store: ./bastion.db\n', file, {});
}

function rel(base: string, p: string): string {
  const r = path.relative(base, p);
  return r && !r.startsWith('..') && !path.isAbsolute(r) ? `./${r.split(path.sep).join('/')}` : p;
}

function upstreamUrl(c: ConnectionConfig, base: string): string {
  const u = c.upstream;
  const enc = encodeURIComponent;
  const host = u.host.includes(':') ? `[${u.host}]` : u.host;
  const secret = u.password === null ? '' : `:\${${upstreamSecretKey(c.name)}}`;
  let url = `postgres://${enc(u.user)}${secret}@${host}:${u.port}/${enc(u.database)}?sslmode=${u.sslmode}`;
  if (u.sslrootcert) url += `&sslrootcert=${enc(rel(base, u.sslrootcert))}`;
  return url;
}

function oidcEntry(o: NonNullable<IdentityConfig['oidc']>): Record<string, unknown> {
  const out: Record<string, unknown> = {
    issuer: o.issuer,
    audience: o.audience,
    identity_claim: o.identityClaim,
  };
  if (o.jwksUri !== undefined) out.jwks_uri = o.jwksUri;
  if (o.requiredClaims !== undefined) {
    out.required_claims = Object.fromEntries(
      Object.entries(o.requiredClaims).map(([k, v]) => [k, v.length === 1 ? v[0] : v]),
    );
  }
  if (o.groupsClaim !== undefined) out.groups_claim = o.groupsClaim;
  if (o.clockSkewMs !== undefined) out.clock_skew = `${o.clockSkewMs}ms`;
  if (o.jwksCooldownMs !== undefined) out.jwks_cooldown = `${o.jwksCooldownMs}ms`;
  if (o.groups !== undefined) {
    out.groups = Object.fromEntries(
      o.groups.map((g) => {
        const e: Record<string, unknown> = { connections: [...g.connections] };
        if (g.policy !== undefined) e.policy = g.policy;
        if (g.upstreamRole !== undefined) e.upstream_role = g.upstreamRole;
        return [g.name, e];
      }),
    );
  }
  return out;
}

function identityEntry(i: IdentityConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { name: i.name };
  if (i.oidc) {
    out.oidc = oidcEntry(i.oidc);
  } else {
    out.password = `\${${identitySecretKey(i.name)}}`;
  }
  out.connections = [...i.connections];
  if (i.policy !== 'default') out.policy = i.policy;
  if (i.upstreamRole !== undefined) out.upstream_role = i.upstreamRole;
  if (i.upstreamUser !== undefined) out.upstream_user = i.upstreamUser;
  // The secret goes to the vault; the file names it only.
  if (i.upstreamPassword !== undefined) out.upstream_password = `\${${identityUpstreamSecretKey(i.name)}}`;
  if (i.maxConnections !== undefined) out.max_connections = i.maxConnections;
  if (i.validFrom !== undefined) out.valid_from = new Date(i.validFrom).toISOString();
  if (i.validUntil !== undefined) out.valid_until = new Date(i.validUntil).toISOString();
  return out;
}

/** The config as YAML in the CONTRACT format, secrets as ${BASTION_...} references. */
export function renderAppConfig(config: GatewayConfig, file: string): string {
  const base = path.dirname(path.resolve(file));
  const doc: Record<string, unknown> = { store: rel(base, config.store) };
  const defaultTls = path.join(path.dirname(config.store), 'bastion-tls');
  if (path.resolve(config.tlsDir) !== path.resolve(defaultTls)) doc.tls_dir = rel(base, config.tlsDir);
  doc.connections = config.connections.map((c) => {
    const e: Record<string, unknown> = {
      name: c.name,
      listen: `${c.listen.host.includes(':') ? `[${c.listen.host}]` : c.listen.host}:${c.listen.port}`,
      upstream: upstreamUrl(c, base),
    };
    if (c.tls) e.tls = { cert: rel(base, c.tls.cert), key: rel(base, c.tls.key) };
    if (c.recordClientValues === 'clear') e.record_client_values = 'clear';
    return e;
  });
  doc.identities = config.identities.map(identityEntry);
  if (Object.keys(config.policies).length > 0) doc.policies = config.policies;
  doc.limits = {
    max_message_size: config.limits.maxMessageSize,
    capture_limit: config.limits.captureLimit,
    startup_timeout: `${config.limits.startupTimeoutMs}ms`,
  };
  return (
    '# Written by Bastion when connections and identities are changed in the app.\n' +
    "# Secrets are not in this file: the BASTION_ variables refer to the app's secret vault.\n" +
    stringify(doc, { lineWidth: 0 })
  );
}

/** Saves the config and its secrets after every change made through the API. */
export class ConfigPersistence {
  constructor(
    readonly file: string,
    readonly vault: SecretVault,
  ) {}

  /** The headless host's: bastion.app.yaml and bastion.secrets.json (0600) beside the store. */
  static beside(storePath: string): ConfigPersistence {
    const f = appFilesBeside(storePath);
    return new ConfigPersistence(f.config, new FileSecretVault(f.secrets));
  }

  save(config: GatewayConfig): void {
    const keep = new Set<string>();
    for (const c of config.connections) {
      if (c.upstream.password === null) continue;
      const key = upstreamSecretKey(c.name);
      keep.add(key);
      this.vault.set(key, c.upstream.password);
    }
    for (const i of config.identities) {
      if (i.upstreamPassword !== undefined) {
        const key = identityUpstreamSecretKey(i.name);
        keep.add(key);
        this.vault.set(key, i.upstreamPassword);
      }
      if (i.password === null) continue;
      const key = identitySecretKey(i.name);
      keep.add(key);
      this.vault.set(key, i.password);
    }
    for (const key of Object.keys(this.vault.entries())) {
      if (key.startsWith('BASTION_') && !keep.has(key)) this.vault.delete(key);
    }
    writeFileAtomic(this.file, renderAppConfig(config, this.file), 0o600);
  }
}
