// Least privilege, access windows and connection limits through the gateway, with real clients
// and a real PostgreSQL 18: a role-locked session cannot read what its role may not and cannot
// change its role back, whatever its policy; an identity with its own upstream credentials logs
// in as that user; an access window refuses logins outside it and ends open sessions when it
// closes; max_connections is enforced across listeners; no secret reaches the store, the logs or
// a report.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { IdentityConfig } from '../../proxy/config/types.js';
import { buildReport, renderReport } from '../../proxy/report/index.js';
import { connectionTo, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

const RO_PASSWORD = 'ro-upstream-pw-7f3a9c';
const PASSWORDS: Record<string, string> = {
  locked: 'locked-secret-1',
  'locked-default': 'locked-default-secret-2',
  free: 'free-secret-3',
  own: 'own-secret-4',
  limited: 'limited-secret-5',
  windowed: 'windowed-secret-6',
  jit: 'jit-secret-7',
  future: 'future-secret-8',
  past: 'past-secret-9',
  ghost: 'ghost-secret-10',
};

let db: TestPostgres;
let gw: TestGateway;
let app2Port: number;

function id(name: string, more: Partial<IdentityConfig> = {}): IdentityConfig {
  return {
    name,
    password: PASSWORDS[name],
    oidc: null,
    connections: ['app', 'app2'],
    policy: 'default',
    ...more,
  };
}

async function connect(
  user: string,
  port = gw.port,
): Promise<{ client: pg.Client; errors: (Error & { code?: string })[] }> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user,
    password: PASSWORDS[user],
    database: 'appdb',
    connectionTimeoutMillis: 10_000,
  });
  const errors: (Error & { code?: string })[] = [];
  client.on('error', (e) => errors.push(e));
  await client.connect();
  return { client, errors };
}

async function loginError(user: string, port = gw.port): Promise<Error & { code?: string }> {
  try {
    const { client } = await connect(user, port);
    await client.end();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error(`${user} logged in, but should have been refused`);
}

const currentUser = async (c: pg.Client) => (await c.query('SELECT current_user AS u')).rows[0].u as string;

before(async () => {
  db = await startPostgres({ version: 18 });
  const setup = new pg.Client({ ...db });
  await setup.connect();
  await setup.query(`
    CREATE ROLE reader_role NOLOGIN;
    CREATE ROLE app_ro LOGIN PASSWORD '${RO_PASSWORD}';
    CREATE TABLE catalog (id int PRIMARY KEY, name text);
    INSERT INTO catalog VALUES (1, 'widget'), (2, 'gadget');
    CREATE TABLE payroll (id int PRIMARY KEY, salary int);
    INSERT INTO payroll VALUES (1, 100000);
    GRANT SELECT ON catalog TO reader_role, app_ro;`);
  await setup.end();
  const now = Date.now();
  gw = await startGateway(db, {
    identities: [
      // A policy without any guardrail: the role lock must hold on its own.
      id('locked', { upstreamRole: 'reader_role', policy: 'permissive' }),
      id('locked-default', { upstreamRole: 'reader_role' }),
      id('free', { policy: 'permissive' }),
      id('own', { upstreamUser: 'app_ro', upstreamPassword: RO_PASSWORD }),
      id('limited', { maxConnections: 2 }),
      id('windowed', { validUntil: now + 60_000 }),
      id('jit', { validUntil: now + 3_600_000 }),
      id('future', { validFrom: now + 3_600_000 }),
      id('past', { validFrom: now - 7_200_000, validUntil: now - 3_600_000 }),
      id('ghost', { upstreamRole: 'no_such_role' }),
    ],
    policies: { permissive: { guardrails: [] } },
    extraConnections: [connectionTo('app2', db)],
  });
  app2Port = gw.core.addresses().find((a) => a.name === 'app2')!.port;
});

after(async () => {
  await gw?.stop();
  await db?.stop();
});

/** Everything a client might try to get its role back, by the simple and the extended protocol. */
const ESCAPES = [
  'RESET ROLE',
  'SET ROLE NONE',
  'SET ROLE bastion',
  'SET SESSION ROLE bastion',
  'SET LOCAL ROLE bastion',
  'SET "Role" TO bastion',
  'SET role = DEFAULT',
  'SET SESSION AUTHORIZATION bastion',
  'SET SESSION AUTHORIZATION DEFAULT',
  'RESET SESSION AUTHORIZATION',
  "SELECT set_config('role', 'bastion', false)",
  "SELECT pg_catalog.set_config('ROLE', 'none', false)",
  "SELECT set_config('session_authorization', 'bastion', false)",
  "SELECT set_config(chr(114) || 'ole', 'bastion', false)",
  "UPDATE pg_settings SET setting = 'bastion' WHERE name = 'role'",
  'DISCARD ALL',
  'BEGIN; SET LOCAL ROLE bastion; SELECT * FROM payroll; COMMIT',
  "DO $$BEGIN EXECUTE 'RESET ROLE'; END$$",
  "DO $$BEGIN PERFORM set_config('role', 'bastion', false); END$$",
  "DO $$BEGIN EXECUTE 'SET ROLE ' || 'bastion'; END$$",
  "CREATE FUNCTION esc() RETURNS int LANGUAGE sql SET role = 'bastion' AS 'SELECT 1'",
  'EXPLAIN ANALYZE SELECT set_config($$role$$, $$bastion$$, false)',
  "PREPARE p AS SELECT set_config('role', 'bastion', false)",
  "WITH x AS (SELECT set_config('role', 'bastion', false)) SELECT * FROM x",
  "ALTER ROLE reader_role SET role = 'bastion'",
];

describe('least-privilege upstream role', () => {
  for (const user of ['locked', 'locked-default']) {
    test(`${user}: acts as reader_role and cannot change it back`, async () => {
      const { client: c } = await connect(user);
      try {
        assert.equal(await currentUser(c), 'reader_role');
        assert.equal((await c.query('SELECT count(*)::int AS n FROM catalog')).rows[0].n, 2);
        await assert.rejects(c.query('SELECT * FROM payroll'), {
          code: '42501',
          message: /permission denied for table payroll/,
        });
        for (const sql of ESCAPES) {
          await assert.rejects(c.query(sql), (e: Error & { code?: string }) => {
            assert.equal(e.code, '42501', `${sql}: ${e.message}`);
            assert.match(e.message, /rule "role-lock"/, sql);
            return true;
          });
          if (sql.startsWith('BEGIN')) await c.query('ROLLBACK').catch(() => {});
        }
        // The extended protocol: a Parse with parameters.
        await assert.rejects(
          c.query({ text: 'SELECT set_config($1, $2, false)', values: ['role', 'bastion'] }),
          {
            code: '42501',
          },
        );
        await assert.rejects(c.query({ text: "SELECT set_config('role', $1, false)", values: ['bastion'] }), {
          code: '42501',
          message: /role-lock/,
        });
        // RESET ALL does not touch the role (it is GUC_NO_RESET_ALL), so it is allowed.
        await c.query('RESET ALL');
        assert.equal(await currentUser(c), 'reader_role');
        assert.equal((await c.query('SELECT session_user AS s')).rows[0].s, db.user);
        await assert.rejects(c.query('SELECT * FROM payroll'), { code: '42501' });
      } finally {
        await c.end();
      }
    });
  }

  test('the same statements run for an identity without a role lock under that policy', async () => {
    const { client: c } = await connect('free');
    try {
      assert.equal(await currentUser(c), db.user);
      await c.query('SET ROLE reader_role');
      assert.equal(await currentUser(c), 'reader_role');
      await c.query('RESET ROLE');
      assert.equal(await currentUser(c), db.user);
    } finally {
      await c.end();
    }
  });

  test('an identity with its own upstream credentials logs in as that user', async () => {
    const { client: c } = await connect('own');
    try {
      const { rows } = await c.query('SELECT current_user AS u, session_user AS s');
      assert.deepEqual(rows, [{ u: 'app_ro', s: 'app_ro' }]);
      await assert.rejects(c.query('SELECT * FROM payroll'), { code: '42501' });
    } finally {
      await c.end();
    }
  });

  test('a role that cannot be set refuses the login clearly', async () => {
    const e = await loginError('ghost');
    assert.equal(e.code, '28000');
    assert.match(e.message, /could not act as the upstream role "no_such_role"/);
  });
});

describe('access windows', () => {
  test('logins before or after the window are refused', async () => {
    const early = await loginError('future');
    assert.equal(early.code, '28000');
    assert.match(early.message, /access for identity "future" starts at \d{4}-/);
    const late = await loginError('past');
    assert.equal(late.code, '28000');
    assert.match(late.message, /access for identity "past" ended at \d{4}-/);
  });

  test('an open session ends when the window closes, with a clear error, recorded', async () => {
    // Shorten the window to 1.5 s from now (as an operator granting just-in-time access would).
    const entry = gw.core.config.identities.find((i) => i.name === 'windowed')!;
    gw.core.setIdentity({ ...entry, validUntil: Date.now() + 1500 });
    const { client: c, errors } = await connect('windowed');
    const pid = (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
    await eventually(() => (errors.length > 0 ? true : undefined), 5000, 'the session to end');
    assert.equal(errors[0].code, '57P01');
    assert.match(errors[0].message, /terminating connection: access for identity "windowed" ended at/);
    await c.end().catch(() => {});
    // The upstream backend is gone too.
    const direct = new pg.Client({ ...db });
    await direct.connect();
    for (let i = 0; i < 100; i++) {
      const { rows } = await direct.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [
        pid,
      ]);
      if (rows[0].n === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(
      (await direct.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0].n,
      0,
    );
    await direct.end();
    const store = gw.readStore();
    try {
      const s = store.listSessions({ identity: 'windowed' })[0];
      assert.match(s.endReason ?? '', /^access window closed: access for identity "windowed" ended at/);
    } finally {
      store.close();
    }
    const again = await loginError('windowed');
    assert.equal(again.code, '28000');
  });

  test('revoking just-in-time access ends open sessions at once', async () => {
    const a = await connect('jit');
    const b = await connect('jit', app2Port);
    const entry = gw.core.config.identities.find((i) => i.name === 'jit')!;
    gw.core.setIdentity({ ...entry, validUntil: Date.now() - 1 });
    await eventually(
      () => (a.errors.length > 0 && b.errors.length > 0 ? true : undefined),
      3000,
      'both sessions to end',
    );
    assert.equal(a.errors[0].code, '57P01');
    assert.equal(b.errors[0].code, '57P01');
    await a.client.end().catch(() => {});
    await b.client.end().catch(() => {});
  });
});

describe('connection limits', () => {
  test('max_connections per identity, across listeners, with 53300', async () => {
    const one = await connect('limited');
    const two = await connect('limited', app2Port);
    const e = await loginError('limited');
    assert.equal(e.code, '53300');
    assert.match(e.message, /too many connections for identity "limited"/);
    // Other identities are not affected.
    const other = await connect('free');
    await other.client.end();
    await one.client.end();
    await eventually(() => (gw.core.access.count('limited') === 1 ? true : undefined), 3000, 'a slot');
    const three = await connect('limited');
    assert.equal((await three.client.query('SELECT 1 AS x')).rows[0].x, 1);
    await three.client.end();
    await two.client.end();
    await eventually(() => (gw.core.access.count('limited') === 0 ? true : undefined), 3000, 'all released');
    // Refused logins are recorded with the reason.
    const store = gw.readStore();
    try {
      const refusals = store
        .listSessions({ identity: 'limited' })
        .filter((s) => s.endReason?.includes('53300'));
      assert.equal(refusals.length, 1);
    } finally {
      store.close();
    }
  });
});

describe('secrets', () => {
  test('no password or upstream secret is in the store, the logs or a report', async () => {
    gw.flush();
    const store = gw.readStore();
    let reports: Buffer[];
    try {
      assert.ok(store.listSessions().length > 10);
      const report = buildReport(store, {});
      reports = await Promise.all((['json', 'csv', 'html'] as const).map((f) => renderReport(report, f)));
    } finally {
      store.close();
    }
    const files = [gw.storePath, `${gw.storePath}-wal`].filter((f) => fs.existsSync(f));
    assert.ok(files.length > 0);
    const haystacks = [...files.map((f) => fs.readFileSync(f)), Buffer.from(gw.logs.join('\n')), ...reports];
    for (const secret of [RO_PASSWORD, db.password, ...Object.values(PASSWORDS)]) {
      for (const h of haystacks) assert.equal(h.includes(secret), false, `a secret was found: ${secret}`);
    }
  });
});
