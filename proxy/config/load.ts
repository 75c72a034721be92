// Reads bastion.yaml (CONTRACT.md): YAML -> validated GatewayConfig. Every error names the file,
// the line and the key at fault, so `bastion` can print one line and exit 2.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import { compilePolicies, PolicyError } from '../policy/policy.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../wire/codes.js';
import type { ConnectionConfig, GatewayConfig, IdentityConfig, LimitsConfig } from './types.js';
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

export class ConfigReader {
  constructor(
    private readonly file: string,
    private readonly lines: Map<string, number>,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

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
    throw new ConfigError(`${this.file}:${line ?? 1}: ${shown || '(top level)'}: ${message}`);
  }

  /** Replaces ${NAME} with the environment variable; a missing one is an error. */
  expand(keyPath: string, value: string): string {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = this.env[name];
      if (v === undefined) this.fail(keyPath, `environment variable ${name} is not set`);
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
  r.onlyKeys(c, ['name', 'listen', 'upstream', 'tls'], kp);
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
  return { name, listen, upstream, tls };
}

function readIdentity(r: ConfigReader, raw: Json, kp: string, connections: Set<string>): IdentityConfig {
  const i = r.map(raw, kp);
  r.onlyKeys(i, ['name', 'password', 'oidc', 'connections', 'policy'], kp);
  const name = r.str(i, 'name', kp, true);
  if (!NAME.test(name)) r.fail(`${kp}.name`, `"${name}" is not a valid name`);
  const password = r.str(i, 'password', kp, false);
  let oidc: IdentityConfig['oidc'] = null;
  if (i.oidc !== undefined && i.oidc !== null) {
    const o = r.map(i.oidc, `${kp}.oidc`);
    r.onlyKeys(o, ['issuer', 'audience', 'identity_claim'], `${kp}.oidc`);
    oidc = {
      issuer: r.str(o, 'issuer', `${kp}.oidc`, true),
      audience: r.str(o, 'audience', `${kp}.oidc`, true),
      identityClaim: r.str(o, 'identity_claim', `${kp}.oidc`, false) ?? 'sub',
    };
  }
  if (password === null && oidc === null) r.fail(kp, `identity "${name}" needs a password or oidc`);
  if (password !== null && oidc !== null) r.fail(kp, `identity "${name}" has both password and oidc`);
  if (password !== null && password.length === 0) r.fail(`${kp}.password`, 'is empty');
  const conns = r.list(i.connections ?? [], `${kp}.connections`).map((c, j) => {
    if (typeof c !== 'string' || !connections.has(c)) {
      r.fail(`${kp}.connections[${j}]`, `unknown connection "${String(c)}"`);
    }
    return c;
  });
  const policy = r.str(i, 'policy', kp, false) ?? 'default';
  return { name, password, oidc, connections: conns, policy };
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
  r.onlyKeys(top, ['store', 'tls_dir', 'connections', 'identities', 'policies', 'limits'], '');
  const baseDir = path.dirname(path.resolve(file));
  const store = path.resolve(baseDir, r.str(top, 'store', '', false) ?? 'bastion.db');
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
    return id;
  });
  const idNames = new Set<string>();
  identities.forEach((id, i) => {
    if (idNames.has(id.name)) r.fail(`identities[${i}].name`, `duplicate identity "${id.name}"`);
    idNames.add(id.name);
  });
  return { file, store, tlsDir, connections, identities, policies, limits: readLimits(r, top.limits) };
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
