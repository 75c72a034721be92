// The gateway's own login to the upstream: every password method PostgreSQL offers (SCRAM-SHA-256,
// MD5, cleartext, trust) on 18 and Debian's 15, TLS per sslmode (proved with pg_stat_ssl on the
// upstream side), and the failures a client sees as SQLSTATE 08001: TLS required but not offered,
// a certificate that does not verify, a wrong or missing upstream password, an unreachable
// upstream. The gateway keeps serving other clients after each.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { SslMode } from '../../proxy/config/types.js';
import { runPsql } from '../helpers/clients.js';
import { AGENT, type GatewayOptions, startGateway, type TestGateway } from '../helpers/gateway.js';
import { type PgAuthMethod, type PgVersion, startPostgres, type TestPostgres } from '../helpers/postgres.js';

const VERSIONS: PgVersion[] = [18, 15];
const METHODS: PgAuthMethod[] = ['scram-sha-256', 'md5', 'password', 'trust'];

/** servers[method][version]; the scram-sha-256 ones also serve TLS. */
const servers = {} as Record<PgAuthMethod, Record<PgVersion, TestPostgres>>;

before(async () => {
  const started = await Promise.all(
    METHODS.flatMap((authMethod) =>
      VERSIONS.map(async (version) => ({
        authMethod,
        version,
        db: await startPostgres({ version, authMethod, ssl: authMethod === 'scram-sha-256' }),
      })),
    ),
  );
  for (const { authMethod, version, db } of started) {
    servers[authMethod] ??= {} as Record<PgVersion, TestPostgres>;
    servers[authMethod][version] = db;
  }
});

after(async () => {
  await Promise.all(
    Object.values(servers).flatMap((byVersion) => Object.values(byVersion).map((s) => s.stop())),
  );
});

type Target = { host: string; port: number; user: string; password: string; database: string };
const pgConfig = (t: Target) => ({
  host: t.host,
  port: t.port,
  user: t.user,
  password: t.password,
  database: t.database,
});

/** Runs one query as `agent` through the gateway and returns its first row. */
async function queryVia(gw: TestGateway, sql: string, port = gw.port): Promise<Record<string, unknown>> {
  const c = new pg.Client(pgConfig(gw.target({ port })));
  await c.connect();
  try {
    return (await c.query(sql)).rows[0];
  } finally {
    await c.end();
  }
}

interface Refusal {
  code?: string;
  message: string;
  detail?: string;
  severity?: string;
}

/** Connects as `agent` through the gateway, expecting the login to be refused. */
async function refusedVia(gw: TestGateway, port = gw.port): Promise<Refusal> {
  const c = new pg.Client(pgConfig(gw.target({ port })));
  c.on('error', () => {}); // the server closes after its FATAL error
  try {
    await c.connect();
  } catch (e) {
    const { code, message, detail, severity } = e as Refusal;
    // The client never learns the gateway's upstream secret, even in a refusal.
    assert.ok(!`${message} ${detail}`.includes(gw.core.config.connections[0].upstream.password ?? '\0'));
    return { code, message, detail, severity };
  }
  await c.end();
  assert.fail('the login through the gateway was expected to fail');
}

async function withGateway<T>(
  db: TestPostgres,
  opts: GatewayOptions,
  fn: (gw: TestGateway) => Promise<T>,
): Promise<T> {
  const gw = await startGateway(db, opts);
  try {
    const r = await fn(gw);
    // Whatever happened, the upstream secret is in no log line.
    assert.ok(!gw.logs.some((l) => l.includes(db.password)), 'upstream password in the gateway log');
    const store = gw.readStore();
    try {
      assert.equal(store.verify().ok, true);
    } finally {
      store.close();
    }
    return r;
  } finally {
    await gw.stop();
  }
}

/**
 * The TLS state of the upstream backend serving a gateway session: asked through the gateway
 * (pg_stat_ssl for its own backend) and, while that session is held open, directly from the
 * server by a separate admin connection, which must agree.
 */
async function upstreamTls(
  gw: TestGateway,
  db: TestPostgres,
): Promise<{ ssl: boolean; version: string | null }> {
  const held = new pg.Client(pgConfig(gw.target()));
  await held.connect();
  try {
    const via = (await held.query('SELECT pid, ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()'))
      .rows[0] as { pid: number; ssl: boolean; version: string | null };
    const admin = new pg.Client({ ...pgConfig(db), ssl: false });
    await admin.connect();
    try {
      const r = await admin.query('SELECT pid, ssl, version FROM pg_stat_ssl WHERE pid = $1', [via.pid]);
      assert.equal(r.rowCount, 1, `backend ${via.pid} of the gateway session is listed`);
      assert.deepEqual(r.rows[0], via);
      return { ssl: via.ssl, version: via.version };
    } finally {
      await admin.end();
    }
  } finally {
    await held.end();
  }
}

/** A TCP relay on another loopback address, so the server is reached under a name its certificate lacks. */
async function relayOn(host: string, to: TestPostgres): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((a) => {
    const b = net.connect(to.port, to.host);
    for (const s of [a, b]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    a.pipe(b).pipe(a);
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, host, resolve);
  });
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => srv.close(resolve));
    },
  };
}

for (const version of VERSIONS) {
  describe(`upstream login, PostgreSQL ${version}`, { concurrency: true }, () => {
    for (const method of METHODS) {
      test(`${method}`, async () => {
        const db = servers[method][version];
        // trust: the gateway needs no upstream password at all.
        const opts: GatewayOptions = method === 'trust' ? { upstream: { password: null } } : {};
        await withGateway(db, opts, async (gw) => {
          const row = await queryVia(
            gw,
            `SELECT current_user AS u, current_database() AS d, current_setting('server_version_num')::int / 10000 AS major,
               (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl`,
          );
          assert.deepEqual(row, { u: db.user, d: db.database, major: version, ssl: false });
          if (version >= 16) {
            // system_user (16+) names the method the server authenticated the session with.
            const { su } = await queryVia(gw, 'SELECT system_user AS su');
            assert.equal(su, method === 'trust' ? null : `${method}:${db.user}`);
          }
          const store = gw.readStore();
          try {
            const [s] = store.listSessions();
            assert.equal(s.identity, AGENT.name);
          } finally {
            store.close();
          }
        });
        if (method === 'trust') return;
        // A wrong and a missing upstream password: 08001 for the client, without the upstream's
        // own message (it names the upstream role); the gateway log has the reason.
        await withGateway(db, { upstream: { password: 'not-the-password' } }, async (gw) => {
          const r = await refusedVia(gw);
          assert.equal(r.code, '08001');
          assert.equal(r.message, 'the database refused the gateway');
          assert.match(r.detail ?? '', /upstream error 28P01/);
          assert.doesNotMatch(`${r.message} ${r.detail}`, new RegExp(db.user));
          assert.equal((await refusedVia(gw)).code, '08001', 'and again: the gateway is still there');
        });
        await withGateway(db, { upstream: { password: null } }, async (gw) => {
          const r = await refusedVia(gw);
          assert.equal(r.code, '08001');
          assert.match(r.detail ?? '', /asks for a password and none is configured/);
        });
      });
    }
  });

  describe(`upstream TLS, PostgreSQL ${version}`, { concurrency: true }, () => {
    const tlsServer = () => servers['scram-sha-256'][version];
    const plainServer = () => servers.md5[version];

    for (const sslmode of ['require', 'verify-ca', 'verify-full', 'prefer'] as SslMode[]) {
      test(`sslmode=${sslmode} against a TLS server uses TLS`, async () => {
        const db = tlsServer();
        const verify = sslmode.startsWith('verify');
        await withGateway(
          db,
          { sslmode, upstream: { sslrootcert: verify ? db.sslCert : null } },
          async (gw) => {
            const tls = await upstreamTls(gw, db);
            assert.equal(tls.ssl, true);
            assert.match(tls.version ?? '', /^TLSv1\.[23]$/);
          },
        );
      });
    }

    test('sslmode=verify-full refuses a certificate it cannot verify (08001)', async () => {
      const db = tlsServer();
      const other = servers['scram-sha-256'][version === 18 ? 15 : 18];
      // Not signed by what the gateway trusts: the other server's self-signed certificate as CA,
      // then the system store.
      for (const sslrootcert of [other.sslCert, null]) {
        await withGateway(db, { sslmode: 'verify-full', upstream: { sslrootcert } }, async (gw) => {
          const r = await refusedVia(gw);
          assert.equal(r.code, '08001');
          assert.equal(r.message, 'the gateway could not connect to the database');
          assert.match(r.detail ?? '', /^TLS: .*certificate/i);
        });
      }
    });

    test('sslmode=verify-full checks the host name, verify-ca does not', async () => {
      const db = tlsServer();
      // The certificate names 127.0.0.1 and localhost.
      await withGateway(
        db,
        { sslmode: 'verify-full', upstream: { host: 'localhost', sslrootcert: db.sslCert } },
        async (gw) => {
          assert.equal((await upstreamTls(gw, db)).ssl, true);
        },
      );
      const relay = await relayOn('127.0.0.2', db);
      try {
        const upstream = { host: '127.0.0.2', port: relay.port, sslrootcert: db.sslCert };
        await withGateway(db, { sslmode: 'verify-full', upstream }, async (gw) => {
          const r = await refusedVia(gw);
          assert.equal(r.code, '08001');
          assert.match(r.detail ?? '', /^TLS: .*127\.0\.0\.2/);
        });
        await withGateway(db, { sslmode: 'verify-ca', upstream }, async (gw) => {
          assert.equal((await upstreamTls(gw, db)).ssl, true);
        });
      } finally {
        await relay.close();
      }
    });

    test('sslmode=prefer against a server without TLS falls back to plain', async () => {
      const db = plainServer();
      await withGateway(db, { sslmode: 'prefer' }, async (gw) => {
        assert.equal((await upstreamTls(gw, db)).ssl, false);
        assert.deepEqual(await queryVia(gw, "SELECT 'plain' AS s"), { s: 'plain' });
      });
    });

    for (const sslmode of ['require', 'verify-full'] as SslMode[]) {
      test(`sslmode=${sslmode} against a server without TLS fails with 08001`, async () => {
        const db = plainServer();
        await withGateway(db, { sslmode, upstream: { sslrootcert: tlsServer().sslCert } }, async (gw) => {
          const r = await refusedVia(gw);
          assert.equal(r.code, '08001');
          assert.equal(r.severity, 'FATAL');
          assert.equal(r.message, 'the gateway could not connect to the database');
          assert.match(r.detail ?? '', new RegExp(`does not support SSL, but sslmode=${sslmode}`));
          assert.ok(
            gw.logs.some((l) => /warn .*does not support SSL/.test(l)),
            gw.logs.join('\n'),
          );
          const store = gw.readStore();
          try {
            const [s] = store.listSessions();
            assert.match(s.endReason ?? '', /^refused: 08001/);
            assert.equal(store.listStatements(s.id).length, 0);
          } finally {
            store.close();
          }
        });
      });
    }
  });
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

describe('upstream unreachable', () => {
  test('a closed port gives 08001 with a clear message, and the gateway keeps serving', async () => {
    const db = servers['scram-sha-256'][18];
    const port = await closedPort();
    const dead = {
      name: 'dead',
      listen: { host: '127.0.0.1', port: 0 },
      upstream: {
        host: '127.0.0.1',
        port,
        user: 'x',
        password: 'y',
        database: 'z',
        sslmode: 'disable' as const,
        sslrootcert: null,
      },
      tls: null,
    };
    await withGateway(
      db,
      {
        extraConnections: [dead],
        identities: [
          {
            name: AGENT.name,
            password: AGENT.password,
            oidc: null,
            connections: ['app', 'dead'],
            policy: 'default',
          },
        ],
      },
      async (gw) => {
        const deadPort = gw.core.addresses().find((a) => a.name === 'dead')!.port;
        const r = await refusedVia(gw, deadPort);
        assert.deepEqual(r, {
          code: '08001',
          severity: 'FATAL',
          message: 'the gateway could not connect to the database',
          detail: 'ECONNREFUSED',
        });
        // What a person sees.
        const psql = await runPsql(['-c', 'SELECT 1'], gw.target({ port: deadPort }));
        assert.equal(psql.code, 2);
        assert.match(
          psql.stderr,
          /FATAL: {2}the gateway could not connect to the database\nDETAIL: {2}ECONNREFUSED/,
        );

        // Failing and working sessions side by side, then the working connection still works.
        const mixed = await Promise.all([
          ...Array.from({ length: 5 }, () => refusedVia(gw, deadPort).then((e) => e.code)),
          ...Array.from({ length: 5 }, (_, i) => queryVia(gw, `SELECT ${i} AS i`).then((row) => row.i)),
        ]);
        assert.deepEqual(mixed, ['08001', '08001', '08001', '08001', '08001', 0, 1, 2, 3, 4]);
        assert.deepEqual(await queryVia(gw, "SELECT 'still serving' AS s"), { s: 'still serving' });

        const store = gw.readStore();
        try {
          const sessions = store.listSessions();
          const refused = sessions.filter((s) => s.connection === 'dead');
          assert.equal(refused.length, 7);
          for (const s of refused) {
            assert.equal(s.identity, AGENT.name);
            assert.equal(s.endReason, 'refused: 08001 the gateway could not connect to the database');
          }
          assert.equal(sessions.filter((s) => s.connection === 'app').length, 6);
        } finally {
          store.close();
        }
        assert.ok(
          gw.logs.some((l) => /upstream of "dead": ECONNREFUSED/.test(l)),
          gw.logs.join('\n'),
        );
      },
    );
  });
});
