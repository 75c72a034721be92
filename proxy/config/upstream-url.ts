// postgres://user:password@host:port/db?sslmode=... -> UpstreamConfig. Parsed by hand (not with
// URL) so that ${ENV} references and unusual passwords survive, and errors never echo a secret.

import path from 'node:path';
import type { ConfigReader } from './load.js';
import type { SslMode, UpstreamConfig } from './types.js';

const URL_RE =
  /^postgres(?:ql)?:\/\/(?:([^:@/]*)(?::(.*))?@)?(\[[^\]]+\]|[^/?:@]+)(?::(\d{1,5}))?(?:\/([^?]*))?(?:\?(.*))?$/;
const SSLMODES: readonly SslMode[] = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** `baseDir`: where a relative sslrootcert is resolved from (the config file's folder). */
export function parseUpstreamUrl(
  r: ConfigReader,
  raw: unknown,
  keyPath: string,
  baseDir = process.cwd(),
): UpstreamConfig {
  if (typeof raw !== 'string') r.fail(keyPath, 'must be a postgres:// URL');
  const m = URL_RE.exec(raw);
  if (!m) r.fail(keyPath, 'must be a URL like postgres://user:password@host:5432/db?sslmode=prefer');
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      r.fail(keyPath, 'has an invalid %-escape');
    }
  };
  const user = r.expand(keyPath, dec(m[1] ?? ''));
  const password = m[2] === undefined ? null : r.expand(keyPath, dec(m[2]));
  const host = m[3].replace(/^\[|\]$/g, '');
  const port = m[4] ? Number(m[4]) : 5432;
  if (port < 1 || port > 65535) r.fail(keyPath, `port ${port} is out of range`);
  const database = r.expand(keyPath, dec(m[5] ?? '')) || user;
  let sslmode: SslMode = 'prefer';
  let sslrootcert: string | null = null;
  for (const kv of (m[6] ?? '').split('&').filter(Boolean)) {
    const [k, v = ''] = kv.split('=');
    if (k === 'sslmode') {
      if (!SSLMODES.includes(v as SslMode)) r.fail(keyPath, `sslmode must be one of ${SSLMODES.join(', ')}`);
      sslmode = v as SslMode;
    } else if (k === 'sslrootcert') {
      sslrootcert = path.resolve(baseDir, r.expand(keyPath, dec(v)));
    } else {
      r.fail(keyPath, `unsupported URL parameter "${k}"`);
    }
  }
  if (!user) r.fail(keyPath, 'needs a user name');
  return { host, port, user, password, database, sslmode, sslrootcert };
}
