// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} references are what this file tests.
// The identity keys of bastion.yaml beyond CONTRACT.md (upstream_role, upstream_user/_password,
// max_connections, valid_from/valid_until, the oidc block's extras and groups): parsed to the
// expected shape, every fault one line naming file, line and key; upstream secrets only as
// ${NAME} references; the app config keeps them (the secret in the vault, never in the file);
// an owner-only secrets file; grants from groups; the role lock on the analysis alone.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseAppConfig, renderAppConfig, vaultEnv } from '../../proxy/api/app-config.js';
import {
  identitySecretKey,
  identityUpstreamSecretKey,
  MemoryVault,
  upstreamSecretKey,
} from '../../proxy/api/vault.js';
import { ConfigError, parseConfig } from '../../proxy/config/load.js';
import { DEFAULT_POLICY, initPolicyEngine } from '../../proxy/policy/index.js';
import { IdentityRegistry, outsideWindow, resolveGrant, upstreamFor } from '../../proxy/session/access.js';
import { quoteIdent, RoleLockedGuard } from '../../proxy/session/role-lock.js';

const FILE = '/etc/bastion/bastion.yaml';
const ENV = { RO_PW: 'ro-secret-1', DB_PW: 'db-pw' };

const base = (identities: string) => `connections:
  - name: app
    listen: 127.0.0.1:6432
    upstream: postgres://owner:\${DB_PW}@db.internal:5432/appdb
  - name: ops
    listen: 127.0.0.1:6433
    upstream: postgres://owner:\${DB_PW}@db.internal:5432/opsdb
policies:
  ro: { read_only: true }
identities:
${identities}`;

const FULL = base(`  - name: agent-1
    password: pw-1
    connections: [app]
    upstream_role: app_reader
    max_connections: 3
    valid_from: 2025-06-01T08:00:00Z
    valid_until: 2025-06-01T18:00:00+02:00
  - name: etl
    password: pw-2
    connections: [app]
    upstream_user: etl_user
    upstream_password: \${RO_PW}
  - name: corp
    oidc:
      issuer: https://idp.example.com/
      audience: bastion
      identity_claim: email
      jwks_uri: https://idp.example.com/keys
      groups_claim: realm_access.roles
      clock_skew: 10s
      jwks_cooldown: 1m
      required_claims: { email_verified: true, tenant: [acme, acme-eu] }
      groups:
        analysts: { policy: ro, upstream_role: analyst }
        ops: { connections: [ops] }
    connections: [app]
    max_connections: 2
`);

function fails(text: string, line: number, key: string, message: RegExp): void {
  let err: unknown;
  try {
    parseConfig(text, FILE, ENV);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
  assert.ok(!err.message.includes('\n'));
  const prefix = `${FILE}:${line}: ${key}: `;
  assert.ok(err.message.startsWith(prefix), `${JSON.stringify(err.message)} should start with ${prefix}`);
  assert.match(err.message.slice(prefix.length), message);
}

describe('identity access keys in the config', () => {
  test('parse to the expected shape', () => {
    const c = parseConfig(FULL, FILE, ENV);
    const [a, etl, corp] = c.identities;
    assert.deepEqual(a, {
      name: 'agent-1',
      password: 'pw-1',
      oidc: null,
      connections: ['app'],
      policy: 'default',
      upstreamRole: 'app_reader',
      maxConnections: 3,
      validFrom: Date.parse('2025-06-01T08:00:00Z'),
      validUntil: Date.parse('2025-06-01T16:00:00Z'),
    });
    assert.equal(etl.upstreamUser, 'etl_user');
    assert.equal(etl.upstreamPassword, 'ro-secret-1');
    assert.deepEqual(corp.oidc, {
      issuer: 'https://idp.example.com/',
      audience: 'bastion',
      identityClaim: 'email',
      jwksUri: 'https://idp.example.com/keys',
      groupsClaim: 'realm_access.roles',
      clockSkewMs: 10_000,
      jwksCooldownMs: 60_000,
      requiredClaims: { email_verified: [true], tenant: ['acme', 'acme-eu'] },
      groups: [
        { name: 'analysts', connections: [], policy: 'ro', upstreamRole: 'analyst' },
        { name: 'ops', connections: ['ops'] },
      ],
    });
    assert.equal(corp.maxConnections, 2);
  });

  test('faults name the file, line and key', () => {
    const one = (extra: string) => base(`  - name: a\n    password: x\n    connections: [app]\n${extra}`);
    fails(
      one('    upstream_password: ${RO_PW}\n'),
      14,
      'identities[0].upstream_password',
      /needs upstream_user/,
    );
    fails(
      one('    upstream_user: u\n    upstream_password: plain-text\n'),
      15,
      'identities[0].upstream_password',
      /must be a \$\{NAME\} reference/,
    );
    fails(one('    max_connections: 0\n'), 14, 'identities[0].max_connections', /at least 1/);
    fails(one('    max_connections: lots\n'), 14, 'identities[0].max_connections', /whole number/);
    fails(one('    valid_until: tomorrow\n'), 14, 'identities[0].valid_until', /ISO 8601/);
    fails(one('    valid_until: 2025-06-01T12:00:00\n'), 14, 'identities[0].valid_until', /with a zone/);
    fails(
      one('    valid_from: 2025-06-02\n    valid_until: 2025-06-01\n'),
      15,
      'identities[0].valid_until',
      /later than valid_from/,
    );
    fails(one('    upstream_role: ""\n'), 14, 'identities[0].upstream_role', /is empty/);
    fails(
      one(`    upstream_role: ${'r'.repeat(64)}\n`),
      14,
      'identities[0].upstream_role',
      /not a valid role/,
    );
    const oidc = (extra: string) =>
      base(
        `  - name: c\n    connections: [app]\n    oidc:\n      issuer: https://idp/\n      audience: b\n${extra}`,
      );
    fails(
      oidc('      groups:\n        g: { policy: nope }\n'),
      17,
      'identities[0].oidc.groups.g.policy',
      /unknown policy/,
    );
    fails(
      oidc('      groups:\n        g: { connections: [nope] }\n'),
      17,
      'identities[0].oidc.groups.g.connections[0]',
      /unknown connection/,
    );
    fails(
      oidc('      groups:\n        g: { role: x }\n'),
      17,
      'identities[0].oidc.groups.g.role',
      /unknown key/,
    );
    fails(oidc('      clock_skew: 1h\n'), 16, 'identities[0].oidc.clock_skew', /at most 5m/);
    fails(
      oidc('      required_claims: { tenant: { a: 1 } }\n'),
      16,
      'identities[0].oidc.required_claims.tenant',
      /string, number or boolean/,
    );
    fails(
      base('  - name: c\n    oidc: { issuer: http://idp.example.com/, audience: b }\n'),
      12,
      'identities[0].oidc.issuer',
      /must be an https:\/\/ URL/,
    );
    fails(
      base('  - name: c\n    oidc: { issuer: https://idp/, audience: b, jwks_uri: "ftp://x/" }\n'),
      12,
      'identities[0].oidc.jwks_uri',
      /must be an https:\/\/ URL/,
    );
  });

  test('the app config keeps every key, the upstream secret in the vault only', () => {
    const c = parseConfig(FULL, FILE, ENV);
    const vault = new MemoryVault();
    const text = renderAppConfig(c, FILE);
    assert.equal(text.includes('ro-secret-1'), false);
    assert.match(text, new RegExp(`upstream_password: \\$\\{${identityUpstreamSecretKey('etl')}\\}`));
    vault.set(identityUpstreamSecretKey('etl'), 'ro-secret-1');
    vault.set(upstreamSecretKey('app'), 'db-pw');
    vault.set(upstreamSecretKey('ops'), 'db-pw');
    vault.set(identitySecretKey('agent-1'), 'pw-1');
    vault.set(identitySecretKey('etl'), 'pw-2');
    const back = parseAppConfig(text, FILE, vault.entries());
    assert.deepEqual(back.identities, c.identities);
  });

  test('a secrets file others can read is refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-vault-'));
    try {
      const cfg = path.join(dir, 'bastion.app.yaml');
      const secrets = path.join(dir, 'bastion.secrets.json');
      fs.writeFileSync(secrets, JSON.stringify({ BASTION_X: 'secret' }), { mode: 0o644 });
      fs.chmodSync(secrets, 0o644);
      assert.throws(
        () => vaultEnv(cfg),
        (e: Error) => e instanceof ConfigError && /chmod 600/.test(e.message),
      );
      fs.chmodSync(secrets, 0o600);
      assert.deepEqual(vaultEnv(cfg), { BASTION_X: 'secret' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('grants, windows, limits', () => {
  const c = parseConfig(FULL, FILE, ENV);
  const corp = c.identities[2];
  const token = (identity: string, groups: string[]) => ({ identity, groups, claims: {} });

  test('groups add connections; the first group with a policy or role wins', () => {
    const g = resolveGrant(corp, token('ann@acme.com', ['ops', 'analysts', 'unknown']));
    assert.deepEqual(g.connections, ['app', 'ops']);
    assert.equal(g.policy, 'ro');
    assert.equal(g.upstreamRole, 'analyst');
    assert.equal(g.identity, 'ann@acme.com');
    const plain = resolveGrant(corp, token('bob@acme.com', []));
    assert.deepEqual(plain.connections, ['app']);
    assert.equal(plain.policy, 'default');
    assert.equal(plain.upstreamRole, null);
    assert.notEqual(plain.key, g.key);
  });

  test('own upstream credentials replace the connection user', () => {
    const u = upstreamFor(c.connections[0].upstream, c.identities[1]);
    assert.equal(u.user, 'etl_user');
    assert.equal(u.password, 'ro-secret-1');
    assert.equal(upstreamFor(c.connections[0].upstream, c.identities[0]), c.connections[0].upstream);
  });

  test('windows and limits', () => {
    const a = c.identities[0];
    assert.match(outsideWindow(a, 'agent-1', Date.parse('2025-06-01T07:59:59Z')) ?? '', /starts at/);
    assert.equal(outsideWindow(a, 'agent-1', Date.parse('2025-06-01T12:00:00Z')), null);
    assert.match(outsideWindow(a, 'agent-1', Date.parse('2025-06-01T16:00:00Z')) ?? '', /ended at/);
    const reg = new IdentityRegistry();
    const g = resolveGrant({ ...a, maxConnections: 1 }, null);
    const release = reg.acquire(g);
    assert.throws(() => reg.acquire(g), {
      code: '53300',
      message: /too many connections for identity "agent-1"/,
    });
    release();
    release(); // twice is harmless
    assert.equal(reg.count(g.key), 0);
    reg.acquire(g)();
  });

  test('the role lock refuses role changes whatever the policy, and quotes role names', async () => {
    await initPolicyEngine();
    const guard = new RoleLockedGuard({ ...DEFAULT_POLICY, guardrails: [] }, 'x', 'r');
    for (const sql of [
      'RESET ROLE',
      'SET "ROLE" TO x',
      'DISCARD ALL',
      "UPDATE pg_catalog.pg_settings SET setting = 'x'",
    ]) {
      const d = guard.query(sql);
      assert.equal(d.action, 'block', sql);
      assert.equal(d.rule, 'role-lock');
    }
    assert.equal(guard.query('SELECT 1').action, 'allow');
    assert.equal(guard.query('RESET ALL').action, 'allow');
    assert.equal(guard.parse('s1', 'RESET SESSION AUTHORIZATION').action, 'block');
    assert.equal(quoteIdent('we"ird'), '"we""ird"');
  });
});
