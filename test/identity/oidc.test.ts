// OIDC logins against a real OpenID provider (oidc-provider on 127.0.0.1), through the gateway
// over TLS to a real PostgreSQL 18: tokens it issues log in and are recorded under their subject;
// expired, wrong-audience, wrong-issuer, tampered and unsigned tokens are refused; key rotation at
// the provider is picked up; groups map to connections, policies and upstream roles; the tokens
// are in no store, log or report.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import pg from 'pg';
import type { IdentityConfig } from '../../proxy/config/types.js';
import { buildReport, renderReport } from '../../proxy/report/index.js';
import { decodeFrame } from '../../proxy/wire/decode.js';
import { runPsql } from '../helpers/clients.js';
import { connectionTo, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { errorFields, RawClient, startupPacket } from '../helpers/raw-client.js';
import { type IdpClient, startIdp, type TestIdp } from './idp.js';

const AUDIENCE = 'urn:bastion:gateway';
const ALPHA: IdpClient = { id: 'agent-alpha', secret: 'alpha-client-secret-8c1f' };
const BETA: IdpClient = { id: 'agent-beta', secret: 'beta-client-secret-22de', groups: ['readers'] };
const GAMMA: IdpClient = { id: 'agent-gamma', secret: 'gamma-client-secret-93aa', groups: ['ops'] };
const SHORT: IdpClient = { id: 'agent-short', secret: 'short-client-secret-1b7e', ttl: 1 };
/** Has a valid token, but not a client the gateway accepts (required_claims). */
const STRANGER: IdpClient = { id: 'stranger', secret: 'stranger-client-secret-5d0c' };
const CLIENTS = [ALPHA, BETA, GAMMA, SHORT, STRANGER];

let db: TestPostgres;
let idp: TestIdp;
let otherIdp: TestIdp;
let gw: TestGateway;
let opsPort: number;
/** Every token issued in this file: none may be found in the store, the logs or a report. */
const issued: string[] = [];

async function tokenFor(c: IdpClient, audience = AUDIENCE, from = idp): Promise<string> {
  const t = await from.token(c, audience);
  issued.push(t);
  return t;
}

function clientConfig(password: string, over: Partial<pg.ClientConfig> = {}): pg.ClientConfig {
  return {
    host: '127.0.0.1',
    port: gw.port,
    user: 'corp',
    password,
    database: 'anything',
    ssl: { rejectUnauthorized: false },
    connectionTimeoutMillis: 10_000,
    ...over,
  };
}

/** Logs in with `token`; returns the client or the login error. */
async function login(
  token: string,
  over: Partial<pg.ClientConfig> = {},
): Promise<{ client: pg.Client } | { error: Error & { code?: string } }> {
  const client = new pg.Client(clientConfig(token, over));
  client.on('error', () => {});
  try {
    await client.connect();
    return { client };
  } catch (e) {
    await client.end().catch(() => {});
    return { error: e as Error & { code?: string } };
  }
}

async function refused(token: string, message: RegExp, code = '28P01'): Promise<void> {
  const r = await login(token);
  assert.ok('error' in r, 'the login must be refused');
  assert.equal(r.error.code, code, r.error.message);
  assert.match(r.error.message, message);
}

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

before(async () => {
  db = await startPostgres({ version: 18 });
  const setup = new pg.Client({ ...db });
  await setup.connect();
  await setup.query(`
    CREATE ROLE reader_role NOLOGIN;
    CREATE TABLE catalog (id int PRIMARY KEY, name text);
    INSERT INTO catalog VALUES (1, 'widget'), (2, 'gadget');
    CREATE TABLE payroll (id int PRIMARY KEY, salary int);
    INSERT INTO payroll VALUES (1, 100000);
    GRANT SELECT ON catalog TO reader_role;`);
  await setup.end();
  idp = await startIdp(CLIENTS);
  const identities: IdentityConfig[] = [
    {
      name: 'corp',
      password: null,
      oidc: {
        issuer: idp.issuer,
        audience: AUDIENCE,
        identityClaim: 'sub',
        requiredClaims: { client_id: [ALPHA.id, BETA.id, GAMMA.id, SHORT.id] },
        clockSkewMs: 1000,
        jwksCooldownMs: 0,
        groups: [
          { name: 'readers', connections: [], upstreamRole: 'reader_role', policy: 'readonly' },
          { name: 'ops', connections: ['ops'] },
        ],
      },
      connections: ['app'],
      policy: 'default',
    },
    {
      name: 'offline',
      password: null,
      oidc: { issuer: 'http://127.0.0.1:9/', audience: AUDIENCE, identityClaim: 'sub' },
      connections: ['app'],
      policy: 'default',
    },
  ];
  gw = await startGateway(db, {
    identities,
    policies: { readonly: { read_only: true } },
    extraConnections: [connectionTo('ops', db)],
  });
  opsPort = gw.core.addresses().find((a) => a.name === 'ops')!.port;
});

after(async () => {
  await gw?.stop();
  await idp?.stop();
  await otherIdp?.stop();
  await db?.stop();
});

describe('OIDC logins', () => {
  test('a token from the provider logs in; the session is recorded under its subject, as oidc', async () => {
    const token = await tokenFor(ALPHA);
    const r = await login(token);
    assert.ok('client' in r, 'error' in r ? r.error.message : '');
    const { rows } = await r.client.query('SELECT current_user AS u, count(*)::int AS n FROM catalog');
    assert.deepEqual(rows, [{ u: db.user, n: 2 }]);
    await r.client.end();
    const store = gw.readStore();
    try {
      const s = await eventually(
        () => store.listSessions().find((x) => x.identity === 'agent-alpha' && x.endedAt !== null),
        5000,
        'the session record',
      );
      assert.equal(s.authMethod, 'oidc');
      assert.equal(s.tls, true);
      const st = store.listStatements(s.id);
      assert.equal(st.length, 1);
      assert.match(st[0].sql, /FROM catalog/);
      // The token is recorded as a redacted PasswordMessage, never as sent.
      const frames = store.readFrames(s.id).map((f) => decodeFrame(f.dir, f.type, f.body));
      const pw = frames.filter((f) => f.type === 'PasswordMessage');
      assert.equal(pw.length, 1);
      assert.match(JSON.stringify(pw[0].decoded), /redacted by Bastion: PasswordMessage \(OIDC token\)/);
    } finally {
      store.close();
    }
  });

  test('psql logs in with a token as its password (sslmode=require)', async () => {
    const token = await tokenFor(ALPHA);
    const target = { host: '127.0.0.1', port: gw.port, user: 'corp', password: token, database: 'appdb' };
    const r = await runPsql(['-Atc', 'SELECT count(*) FROM catalog'], { ...target, sslmode: 'require' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '2');
    const plain = await runPsql(['-Atc', 'SELECT 1'], { ...target, sslmode: 'disable' });
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /accepted only over TLS/);
  });

  test('without TLS the token is not even asked for', async () => {
    const raw = await RawClient.connect('127.0.0.1', gw.port);
    raw.write(startupPacket({ user: 'corp', database: 'x' }));
    const first = await raw.readMessage();
    assert.equal(first.type, 'E', 'the first answer is an error, not an authentication request');
    const f = errorFields(first.body);
    assert.equal(f.C, '28000');
    assert.match(f.M, /OIDC token, which is accepted only over TLS/);
    raw.destroy();
    const r = await login('irrelevant', { ssl: false });
    assert.ok('error' in r);
    assert.equal(r.error.code, '28000');
  });

  test('expired, wrong-audience, wrong-issuer, tampered and unsigned tokens are refused', async () => {
    // Expired: a 1 s token, past the 1 s clock skew.
    const short = await tokenFor(SHORT);
    const ok = await login(short);
    assert.ok('client' in ok, 'a fresh short-lived token works');
    await ok.client.end();
    await new Promise((r) => setTimeout(r, 2200));
    await refused(short, /token authentication failed for user "corp": the token has expired/);

    await refused(await tokenFor(ALPHA, 'urn:other:api'), /not meant for this gateway \(audience\)/);

    // Another issuer that signs with the very same keys: only its `iss` is wrong.
    otherIdp = await startIdp(CLIENTS, { keys: idp.keys });
    await refused(await tokenFor(ALPHA, AUDIENCE, otherIdp), /not issued by the configured issuer/);

    const good = await tokenFor(ALPHA);
    const [h, p, sig] = good.split('.');
    const claims = decodeJwt(good);
    const tampered = `${h}.${b64url({ ...claims, sub: 'admin' })}.${sig}`;
    await refused(tampered, /the token signature is invalid/);

    const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${p}.`;
    await refused(unsigned, /unsigned or uses an algorithm that is not accepted/);
    const hs = `${b64url({ alg: 'HS256', typ: 'JWT', kid: idp.kid })}.${p}.${sig}`;
    await refused(hs, /unsigned or uses an algorithm that is not accepted/);

    await refused('not-a-jwt', /not a valid signed JWT/);
    // An issuer that cannot be reached: the token cannot be checked, and the client is told so.
    const offline = await login(good, { user: 'offline' });
    assert.ok('error' in offline);
    assert.equal(offline.error.code, '28000');
    assert.match(offline.error.message, /the token could not be checked now/);
    assert.ok(gw.logs.some((l) => /OIDC login as "offline" refused: OpenID discovery at .* failed/.test(l)));
    await refused(await tokenFor(STRANGER), /required claim "client_id" does not have an accepted value/);

    // None of these opened a session: each refusal is recorded with its reason.
    const store = gw.readStore();
    try {
      const refusals = store.listSessions().filter((s) => s.endReason?.startsWith('refused: 28P01'));
      assert.ok(refusals.length >= 8, `refusals recorded: ${refusals.length}`);
      assert.ok(refusals.every((s) => s.identity === 'corp' && s.authMethod === 'oidc'));
    } finally {
      store.close();
    }
  });

  test('a rotated key at the provider is picked up (unknown kid), and the old key stops working', async () => {
    const before = await tokenFor(ALPHA);
    const a = await login(before);
    assert.ok('client' in a);
    await a.client.end();
    const oldKid = idp.kid;
    const fetches = idp.jwksFetches;
    const newKid = await idp.rotateKeys();
    assert.notEqual(newKid, oldKid);
    const after = await tokenFor(ALPHA);
    const b = await login(after);
    assert.ok('client' in b, 'error' in b ? b.error.message : '');
    await b.client.end();
    assert.ok(idp.jwksFetches > fetches, 'the JWKS was fetched again for the new kid');
    await refused(before, /signed with a key the issuer does not publish/);
  });

  test('groups map to an upstream role and policy, and to more connections', async () => {
    // readers: act as reader_role under the read-only policy.
    const beta = await login(await tokenFor(BETA));
    assert.ok('client' in beta);
    const c = beta.client;
    assert.equal((await c.query('SELECT current_user AS u')).rows[0].u, 'reader_role');
    await assert.rejects(c.query('SELECT * FROM payroll'), { code: '42501', message: /permission denied/ });
    await assert.rejects(c.query('RESET ROLE'), { code: '42501', message: /role-lock/ });
    await assert.rejects(c.query("INSERT INTO catalog VALUES (3, 'x')"), {
      code: '42501',
      message: /read_only/,
    });
    assert.equal((await c.query('SELECT current_user AS u')).rows[0].u, 'reader_role');
    await c.end();

    // ops: may use the ops connection; alpha (no group) may not.
    const gamma = await login(await tokenFor(GAMMA), { port: opsPort });
    assert.ok('client' in gamma, 'error' in gamma ? gamma.error.message : '');
    await gamma.client.end();
    const alpha = await login(await tokenFor(ALPHA), { port: opsPort });
    assert.ok('error' in alpha);
    assert.equal(alpha.error.code, '28000');
    assert.match(alpha.error.message, /identity "agent-alpha" is not allowed to use connection "ops"/);
  });

  test('no token appears in the store, the logs or a report', async () => {
    assert.ok(issued.length >= 10);
    gw.flush();
    const store = gw.readStore();
    let reports: Buffer[];
    try {
      const report = buildReport(store, {});
      reports = await Promise.all((['json', 'csv', 'html'] as const).map((f) => renderReport(report, f)));
    } finally {
      store.close();
    }
    const files = [gw.storePath, `${gw.storePath}-wal`].filter((f) => fs.existsSync(f));
    const haystacks = [...files.map((f) => fs.readFileSync(f)), Buffer.from(gw.logs.join('\n')), ...reports];
    for (const t of issued) {
      // The signature part alone is enough to tell a token was kept.
      const sig = t.split('.')[2];
      for (const h of haystacks) {
        assert.equal(h.includes(t), false, 'a token was found');
        if (sig) assert.equal(h.includes(sig), false, 'a token signature was found');
      }
    }
    for (const c of CLIENTS) for (const h of haystacks) assert.equal(h.includes(c.secret), false);
    for (const h of haystacks) assert.equal(h.includes(db.password), false, 'the upstream password');
  });
});
