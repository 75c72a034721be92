// Reads bastion.yaml (CONTRACT.md): YAML -> validated GatewayConfig. Every error names the file,
// the line and the key at fault, so `bastion` can print one line and exit 2.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import { compilePolicies, PolicyError } from '../policy/policy.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../wire/codes.js';
import { readStoreSettings, TEAM_KEYS } from './team.js';
import type {
  ConnectionConfig,
  GatewayConfig,
  IdentityConfig,
  LimitsConfig,
  OidcConfig,
  OidcGroupConfig,
} from './types.js';
import { parseDuration, parseSize } from './units.js';
import { parseUpstreamUrl } from './upstream-url.js';

export class ConfigError extends Error {}

type Json = unknown;

/** "a" + "b" -> "a.b"; at the top level ("" + "b") just "b". */
const join = (keyPath: string, key: string) => (keyPath ? `${keyPath}.${key}` : key);

/** Lines of every key path in the document, e.g. "connections[0].listen" -> 4. */
function indexLines(root: Node | null, lc: LineCounter): Map<string, number> {
  const lines = new Map<string, number>();
  const walk = (node: unknown, p: string) => {
    if (isMap(node)) {
      for (const item of node.items) {
        if (!isPair(item) || !isScalar(item.key)) continue;
        const key = String(item.key.value);
        const kp = p ? `${p}.${key}` : key;
        const r = item.key.range;
        if (r) lines.set(kp, lc.linePos(r[0]).line);
        walk(item.value, kp);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const kp = `${p}[${i}]`;
        const r = (item as Node | null)?.range;
        if (r) lines.set(kp, lc.linePos(r[0]).line);
        walk(item, kp);
      });
    }
  };
  walk(root, '');
  return lines;
}

/** Shorter expanded values are left in messages: replacing them would garble the words around. */
const MIN_HIDDEN_VALUE = 3;

export class ConfigReader {
  /** Values ${NAME} references expanded to (often secrets), by name, to keep them out of errors. */
  private readonly expanded = new Map<string, string>();

  constructor(
    private readonly file: string,
    private readonly lines: Map<string, number>,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** The message with every expanded value shown as the ${NAME} it came from. */
  private hideExpanded(message: string): string {
    const byLength = [...this.expanded].sort((a, b) => b[1].length - a[1].length);
    for (const [name, value] of byLength) {
      if (value.length >= MIN_HIDDEN_VALUE) message = message.replaceAll(value, () => `\${${name}}`);
    }
    return message;
  }

  /** `shown`: the key path as printed, when it differs from the one the lines are indexed by. */
  fail(keyPath: string, message: string, shown = keyPath): never {
    // The key itself may be missing (a required key): name the closest enclosing one's line.
    let p = keyPath;
    let line = this.lines.get(p);
    while (line === undefined && p.length > 0) {
      const up = p.replace(/(\.[^.[\]]+|\[\d+\]|^[^.[\]]+)$/, '');
      // A key with dots or brackets of its own may not split cleanly: then try the first line.
      p = up.length < p.length ? up : '';
      line = this.lines.get(p);
    }
    // A value that fails a check may hold an expanded secret (a password pasted into a name).
    throw new ConfigError(
      `${this.file}:${line ?? 1}: ${shown || '(top level)'}: ${this.hideExpanded(message)}`,
    );
  }

  /** Replaces ${NAME} with the environment variable; a missing one is an error. */
  expand(keyPath: string, value: string): string {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = this.env[name];
      if (v === undefined) this.fail(keyPath, `environment variable ${name} is not set`);
      this.expanded.set(name, v);
      return v;
    });
  }

  str(obj: Record<string, Json>, key: string, keyPath: string, required: true): string;
  str(obj: Record<string, Json>, key: string, keyPath: string, required: false): string | null;
  str(obj: Record<string, Json>, key: string, keyPath: string, required: boolean): string | null {
    const v = obj[key];
    const kp = join(keyPath, key);
    if (v === undefined || v === null) {
      if (required) this.fail(kp, 'is required');
      return null;
    }
    if (typeof v !== 'string' && typeof v !== 'number') this.fail(kp, 'must be a string');
    return this.expand(kp, String(v));
  }

  map(v: Json, keyPath: string): Record<string, Json> {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(keyPath, 'must be a mapping');
    return v as Record<string, Json>;
  }

  list(v: Json, keyPath: string): Json[] {
    if (!Array.isArray(v)) this.fail(keyPath, 'must be a list');
    return v;
  }

  onlyKeys(obj: Record<string, Json>, allowed: readonly string[], keyPath: string): void {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) {
        // A key made of odd characters (empty, dots, spaces, control or invisible ones) is shown quoted.
        const shown = /^[\w-]+$/.test(k) ? k : JSON.stringify(k);
        this.fail(
          join(keyPath, k),
          `unknown key (expected one of: ${allowed.join(', ')})`,
          join(keyPath, shown),
        );
      }
    }
  }
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

function parseListen(r: ConfigReader, value: string, keyPath: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value);
  if (!m) r.fail(keyPath, `expected host:port, got "${value}"`);
  const port = Number(m[3]);
  if (port > 65535) r.fail(keyPath, `port ${port} is out of range`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

function readConnection(r: ConfigReader, raw: Json, kp: string, baseDir: string): ConnectionConfig {
  const c = r.map(raw, kp);
  r.onlyKeys(c, ['name', 'listen', 'upstream', 'tls', 'retention', 'record_client_values'], kp);
  const name = r.str(c, 'name', kp, true);
  if (!NAME.test(name)) r.fail(`${kp}.name`, `"${name}" is not a valid name (letters, digits, _ . -)`);
  const listen = parseListen(r, r.str(c, 'listen', kp, true), `${kp}.listen`);
  if (c.upstream === undefined || c.upstream === null) r.fail(`${kp}.upstream`, 'is required');
  const upstream = parseUpstreamUrl(r, c.upstream, `${kp}.upstream`, baseDir);
  let tls: ConnectionConfig['tls'] = null;
  if (c.tls !== undefined && c.tls !== null) {
    const t = r.map(c.tls, `${kp}.tls`);
    r.onlyKeys(t, ['cert', 'key'], `${kp}.tls`);
    tls = {
      cert: path.resolve(baseDir, r.str(t, 'cert', `${kp}.tls`, true)),
      key: path.resolve(baseDir, r.str(t, 'key', `${kp}.tls`, true)),
    };
  }
  const out: ConnectionConfig = { name, listen, upstream, tls };
  if (c.retention !== undefined && c.retention !== null) {
    out.retentionMs = parseDuration(r, c.retention, `${kp}.retention`);
    if (out.retentionMs <= 0) r.fail(`${kp}.retention`, 'must be longer than 0');
  }
  const rcv = c.record_client_values;
  if (rcv !== undefined && rcv !== null) {
    if (rcv !== 'masked' && rcv !== 'clear')
      r.fail(`${kp}.record_client_values`, `expected masked or clear, got ${JSON.stringify(rcv)}`);
    // Absent stays absent (= masked), so a config compares equal to what it was written from.
    if (rcv === 'clear') out.recordClientValues = 'clear';
  }
  return out;
}

/** `${NAME}`, alone: how an upstream secret must be written (never in plain text). */
const ENV_REF = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;
/** A date (UTC midnight) or a date and time with a zone: 2025-06-01, 2025-06-01T12:00:00Z, ...+02:00. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?))?$/i;

/** A PostgreSQL role or user name as the gateway will send it (quoted: any characters but NUL). */
function roleName(r: ConfigReader, obj: Record<string, Json>, key: string, kp: string): string | undefined {
  const v = r.str(obj, key, kp, false);
  if (v === null) return undefined;
  if (v.length === 0) r.fail(`${kp}.${key}`, 'is empty');
  if (v.includes('\0') || Buffer.byteLength(v) > 63)
    r.fail(`${kp}.${key}`, `"${v}" is not a valid role name`);
  return v;
}

function readTime(r: ConfigReader, obj: Record<string, Json>, key: string, kp: string): number | undefined {
  const v = r.str(obj, key, kp, false);
  if (v === null) return undefined;
  const t = ISO_TIME.test(v.trim()) ? Date.parse(v.trim()) : Number.NaN;
  if (Number.isNaN(t)) {
    r.fail(`${kp}.${key}`, `expected an ISO 8601 time with a zone, such as 2025-06-01T12:00:00Z, got "${v}"`);
  }
  return t;
}

/** The IdP's address: https, or http to this machine only (a JWKS fetched in clear could be swapped). */
function idpUrl(r: ConfigReader, value: string, kp: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    r.fail(kp, `"${value}" is not a URL`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    r.fail(kp, `"${value}" must be an https:// URL (http:// only for this machine)`);
  }
  return value;
}

function readOidc(r: ConfigReader, raw: Json, kp: string, connections: Set<string>): OidcConfig {
  const o = r.map(raw, kp);
  r.onlyKeys(
    o,
    [
      'issuer',
      'audience',
      'identity_claim',
      'jwks_uri',
      'required_claims',
      'groups_claim',
      'groups',
      'clock_skew',
      'jwks_cooldown',
    ],
    kp,
  );
  const oidc: OidcConfig = {
    issuer: r.str(o, 'issuer', kp, true),
    audience: r.str(o, 'audience', kp, true),
    identityClaim: r.str(o, 'identity_claim', kp, false) ?? 'sub',
  };
  const jwksUri = r.str(o, 'jwks_uri', kp, false);
  if (jwksUri !== null) oidc.jwksUri = jwksUri;
  const groupsClaim = r.str(o, 'groups_claim', kp, false);
  if (groupsClaim !== null) {
    if (groupsClaim.length === 0) r.fail(`${kp}.groups_claim`, 'is empty');
    oidc.groupsClaim = groupsClaim;
  }
  if (o.clock_skew !== undefined && o.clock_skew !== null) {
    oidc.clockSkewMs = parseDuration(r, o.clock_skew, `${kp}.clock_skew`);
    if (oidc.clockSkewMs > 300_000) r.fail(`${kp}.clock_skew`, 'must be at most 5m');
  }
  if (o.jwks_cooldown !== undefined && o.jwks_cooldown !== null) {
    oidc.jwksCooldownMs = parseDuration(r, o.jwks_cooldown, `${kp}.jwks_cooldown`);
  }
  if (o.required_claims !== undefined && o.required_claims !== null) {
    const rc = r.map(o.required_claims, `${kp}.required_claims`);
    oidc.requiredClaims = {};
    for (const [claim, v] of Object.entries(rc)) {
      const ckp = `${kp}.required_claims.${claim}`;
      const values = Array.isArray(v) ? v : [v];
      if (values.length === 0) r.fail(ckp, 'must be a value or a non-empty list of values');
      oidc.requiredClaims[claim] = values.map((x) => {
        if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') {
          r.fail(ckp, 'must be a string, number or boolean (or a list of them)');
        }
        return typeof x === 'string' ? r.expand(ckp, x) : x;
      });
    }
  }
  if (o.groups !== undefined && o.groups !== null) {
    const g = r.map(o.groups, `${kp}.groups`);
    oidc.groups = Object.entries(g).map(([name, gv]) => {
      const gkp = `${kp}.groups.${name}`;
      const m = gv === null ? {} : r.map(gv, gkp);
      r.onlyKeys(m, ['connections', 'policy', 'upstream_role'], gkp);
      const group: OidcGroupConfig = {
        name,
        connections: r.list(m.connections ?? [], `${gkp}.connections`).map((c, j) => {
          if (typeof c !== 'string' || !connections.has(c)) {
            r.fail(`${gkp}.connections[${j}]`, `unknown connection "${String(c)}"`);
          }
          return c;
        }),
      };
      const policy = r.str(m, 'policy', gkp, false);
      if (policy !== null) group.policy = policy;
      const role = roleName(r, m, 'upstream_role', gkp);
      if (role !== undefined) group.upstreamRole = role;
      return group;
    });
  }
  return oidc;
}

function readIdentity(r: ConfigReader, raw: Json, kp: string, connections: Set<string>): IdentityConfig {
  const i = r.map(raw, kp);
  r.onlyKeys(
    i,
    [
      'name',
      'password',
      'oidc',
      'connections',
      'policy',
      'upstream_role',
      'upstream_user',
      'upstream_password',
      'max_connections',
      'valid_from',
      'valid_until',
    ],
    kp,
  );
  const name = r.str(i, 'name', kp, true);
  if (!NAME.test(name)) r.fail(`${kp}.name`, `"${name}" is not a valid name`);
  const password = r.str(i, 'password', kp, false);
  let oidc: IdentityConfig['oidc'] = null;
  if (i.oidc !== undefined && i.oidc !== null) oidc = readOidc(r, i.oidc, `${kp}.oidc`, connections);
  if (password === null && oidc === null) r.fail(kp, `identity "${name}" needs a password or oidc`);
  if (password !== null && oidc !== null) r.fail(kp, `identity "${name}" has both password and oidc`);
  if (password !== null && password.length === 0) r.fail(`${kp}.password`, 'is empty');
  if (oidc !== null) {
    idpUrl(r, oidc.issuer, `${kp}.oidc.issuer`);
    if (oidc.jwksUri !== undefined) idpUrl(r, oidc.jwksUri, `${kp}.oidc.jwks_uri`);
  }
  const conns = r.list(i.connections ?? [], `${kp}.connections`).map((c, j) => {
    if (typeof c !== 'string' || !connections.has(c)) {
      r.fail(`${kp}.connections[${j}]`, `unknown connection "${String(c)}"`);
    }
    return c;
  });
  const policy = r.str(i, 'policy', kp, false) ?? 'default';
  const identity: IdentityConfig = { name, password, oidc, connections: conns, policy };
  const role = roleName(r, i, 'upstream_role', kp);
  if (role !== undefined) identity.upstreamRole = role;
  const user = roleName(r, i, 'upstream_user', kp);
  if (user !== undefined) identity.upstreamUser = user;
  if (i.upstream_password !== undefined && i.upstream_password !== null) {
    if (user === undefined) r.fail(`${kp}.upstream_password`, 'needs upstream_user');
    if (typeof i.upstream_password !== 'string' || !ENV_REF.test(i.upstream_password.trim())) {
      r.fail(
        `${kp}.upstream_password`,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the message shows the ${NAME} syntax.
        'must be a ${NAME} reference (an upstream secret is never written in the config)',
      );
    }
    identity.upstreamPassword = r.str(i, 'upstream_password', kp, true);
  }
  if (i.max_connections !== undefined && i.max_connections !== null) {
    const v = i.max_connections;
    const n =
      typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isInteger(n) || n < 1 || n > 1_000_000) {
      r.fail(`${kp}.max_connections`, `expected a whole number of at least 1, got ${JSON.stringify(v)}`);
    }
    identity.maxConnections = n;
  }
  const from = readTime(r, i, 'valid_from', kp);
  if (from !== undefined) identity.validFrom = from;
  const until = readTime(r, i, 'valid_until', kp);
  if (until !== undefined) identity.validUntil = until;
  if (from !== undefined && until !== undefined && until <= from) {
    r.fail(`${kp}.valid_until`, 'must be later than valid_from');
  }
  return identity;
}

function readLimits(r: ConfigReader, raw: Json): LimitsConfig {
  const limits: LimitsConfig = {
    maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE,
    captureLimit: 64 * 1024 * 1024,
    startupTimeoutMs: 30_000,
  };
  if (raw === undefined || raw === null) return limits;
  const l = r.map(raw, 'limits');
  r.onlyKeys(l, ['max_message_size', 'capture_limit', 'startup_timeout'], 'limits');
  if (l.max_message_size !== undefined) {
    limits.maxMessageSize = parseSize(r, l.max_message_size, 'limits.max_message_size');
    if (limits.maxMessageSize < 1024 || limits.maxMessageSize > DEFAULT_MAX_MESSAGE_SIZE) {
      r.fail('limits.max_message_size', 'must be between 1 KiB and 1 GiB');
    }
  }
  if (l.capture_limit !== undefined)
    limits.captureLimit = parseSize(r, l.capture_limit, 'limits.capture_limit');
  if (l.startup_timeout !== undefined) {
    limits.startupTimeoutMs = parseDuration(r, l.startup_timeout, 'limits.startup_timeout');
  }
  return limits;
}

/** Parses and validates config text. `file` is used in messages and to resolve relative paths. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    let at = e.pos[0];
    // A quote or bracket left open is found where the text runs out: name where it was opened.
    if (e.code === 'MISSING_CHAR' || /end with a [\]}]/.test(e.message)) {
      visit(doc, {
        Node(_key, node) {
          const flow = isScalar(node)
            ? node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE'
            : (isMap(node) || isSeq(node)) && node.flow === true;
          if (flow && node.range && node.range[1] === e.pos[0] && node.range[0] < at) {
            at = node.range[0];
            return visit.BREAK;
          }
        },
      });
    }
    throw new ConfigError(`${file}:${lc.linePos(at).line}: (yaml): ${e.message.split('\n')[0]}`);
  }
  const r = new ConfigReader(file, indexLines(doc.contents as Node | null, lc), env);
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    r.fail('', 'the file is empty (at least one connection is required)');
  }
  let js: Json;
  try {
    js = doc.toJS();
  } catch (e) {
    // An alias without its anchor, or aliases that would expand without bound: name the line of
    // the first alias, where the problem most likely is.
    let line = 1;
    visit(doc, {
      Alias(_key, node) {
        if (node.range) line = lc.linePos(node.range[0]).line;
        return visit.BREAK;
      },
    });
    throw new ConfigError(`${file}:${line}: (yaml): ${(e as Error).message.split('\n')[0]}`);
  }
  const top = r.map(js ?? {}, '');
  r.onlyKeys(top, ['store', 'tls_dir', 'connections', 'identities', 'policies', 'limits', ...TEAM_KEYS], '');
  const baseDir = path.dirname(path.resolve(file));
  const { store, team } = readStoreSettings(r, top, baseDir);
  const tlsDir = path.resolve(
    baseDir,
    r.str(top, 'tls_dir', '', false) ?? path.join(path.dirname(store), 'bastion-tls'),
  );
  const connections = r
    .list(top.connections ?? [], 'connections')
    .map((c, i) => readConnection(r, c, `connections[${i}]`, baseDir));
  if (connections.length === 0) r.fail('connections', 'at least one connection is required');
  const names = new Set<string>();
  const listens = new Set<string>();
  connections.forEach((c, i) => {
    if (names.has(c.name)) r.fail(`connections[${i}].name`, `duplicate connection name "${c.name}"`);
    const l = `${c.listen.host}:${c.listen.port}`;
    if (c.listen.port !== 0 && listens.has(l)) r.fail(`connections[${i}].listen`, `${l} is used twice`);
    names.add(c.name);
    listens.add(l);
  });
  const policies = top.policies === undefined || top.policies === null ? {} : r.map(top.policies, 'policies');
  // Guardrail and masking rules are checked here, so a bad rule is a config error with its line.
  try {
    compilePolicies(policies as Record<string, unknown>);
  } catch (e) {
    if (e instanceof PolicyError) r.fail(e.keyPath, e.problem);
    throw e;
  }
  const identities = r.list(top.identities ?? [], 'identities').map((x, i) => {
    const id = readIdentity(r, x, `identities[${i}]`, names);
    if (id.policy !== 'default' && !Object.hasOwn(policies, id.policy)) {
      r.fail(`identities[${i}].policy`, `unknown policy "${id.policy}"`);
    }
    for (const g of id.oidc?.groups ?? []) {
      if (g.policy !== undefined && g.policy !== 'default' && !Object.hasOwn(policies, g.policy)) {
        r.fail(`identities[${i}].oidc.groups.${g.name}.policy`, `unknown policy "${g.policy}"`);
      }
    }
    return id;
  });
  const idNames = new Set<string>();
  identities.forEach((id, i) => {
    if (idNames.has(id.name)) r.fail(`identities[${i}].name`, `duplicate identity "${id.name}"`);
    idNames.add(id.name);
  });
  return {
    file,
    store,
    ...(team ? { team } : {}),
    tlsDir,
    connections,
    identities,
    policies,
    limits: readLimits(r, top.limits),
  };
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(
      `${file}:1: cannot read the config file: ${(e as NodeJS.ErrnoException).code ?? e}`,
    );
  }
  return parseConfig(text, file, env);
}
