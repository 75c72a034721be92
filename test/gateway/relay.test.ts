// The gateway relays real clients' traffic to a real PostgreSQL 18 unchanged, and records it.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import postgres from 'postgres';
import { decodeFrame } from '../../proxy/wire/decode.js';
import { runPsql } from '../helpers/clients.js';
import { AGENT, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let db: TestPostgres;
let gw: TestGateway;

const pgConfig = (t: { host: string; port: number; user: string; password: string; database: string }) => ({
  host: t.host,
  port: t.port,
  user: t.user,
  password: t.password,
  database: t.database,
});

before(async () => {
  db = await startPostgres({ version: 18 });
  const setup = new pg.Client(pgConfig(db));
  await setup.connect();
  await setup.query(`
    CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), tags text[], data jsonb, raw bytea, at timestamptz);
    INSERT INTO items SELECT g, 'item ' || g, g * 1.5, ARRAY['a' || g, 'b'], jsonb_build_object('n', g), decode(md5(g::text), 'hex'), '2024-01-01'::timestamptz + g * interval '1 hour'
      FROM generate_series(1, 200) g;`);
  await setup.end();
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'default' },
      { name: 'outsider', password: 'outsider-secret', oidc: null, connections: [], policy: 'default' },
    ],
  });
});

after(async () => {
  await gw?.stop();
  await db?.stop();
});

const SCRIPT = `
SELECT id, name, price, tags, data, raw, at FROM items ORDER BY id LIMIT 50;
SELECT count(*), sum(price) FROM items;
BEGIN;
UPDATE items SET name = name || '!' WHERE id = 1;
SELECT name FROM items WHERE id = 1;
ROLLBACK;
SELECT 1/0;
SELECT 'after error';
\\copy (SELECT id, name FROM items WHERE id <= 20 ORDER BY id) TO STDOUT WITH (FORMAT csv)
`;

describe('psql', () => {
  test('gives the same output through the gateway as directly', async () => {
    const direct = await runPsql(['-f', '-'], { ...db, input: SCRIPT, env: { PGOPTIONS: '' } });
    const via = await runPsql(['-f', '-'], { ...gw.target(), input: SCRIPT });
    // ON_ERROR_STOP makes psql stop at 1/0 in both runs the same way.
    assert.equal(via.code, direct.code);
    assert.equal(via.stdout, direct.stdout);
    assert.equal(
      via.stderr.replaceAll(/psql:<stdin>:\d+: /g, ''),
      direct.stderr.replaceAll(/psql:<stdin>:\d+: /g, ''),
    );
    assert.match(via.stdout, /item 50/);
  });

  test('logs in over TLS and copies in and out', async () => {
    const csv = path.join(gw.dir, 'in.csv');
    fs.writeFileSync(csv, `${Array.from({ length: 100 }, (_, i) => `${1000 + i},copied ${i}`).join('\n')}\n`);
    const r = await runPsql(
      [
        '-c',
        'CREATE TEMP TABLE t (id int, name text)',
        '-c',
        `\\copy t FROM '${csv}' WITH (FORMAT csv)`,
        '-c',
        'SELECT count(*), min(name), max(id) FROM t',
        '-c',
        `\\copy t TO '${path.join(gw.dir, 'out.csv')}' WITH (FORMAT csv)`,
        '-c',
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
        '-At',
      ],
      gw.target({ sslmode: 'require' }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^100\|copied 0\|1099$/m);
    assert.equal(fs.readFileSync(path.join(gw.dir, 'out.csv'), 'utf8'), fs.readFileSync(csv, 'utf8'));
    const store = gw.readStore();
    try {
      const s = store.listSessions().find((x) => x.tls);
      assert.ok(s, 'a TLS session is recorded');
      const sqls = store.listStatements(s.id).map((x) => x.sql);
      assert.ok(
        sqls.some((q) => /COPY\s+t FROM STDIN/i.test(q)),
        `COPY recorded: ${sqls.join(' | ')}`,
      );
      const copyIn = store.listStatements(s.id).find((x) => /COPY\s+t FROM STDIN/i.test(x.sql))!;
      assert.equal(copyIn.tag, 'COPY 100');
      assert.equal(copyIn.rows, 100);
    } finally {
      store.close();
    }
  });

  test('refuses a wrong password, an unknown identity and a connection not allowed', async () => {
    const wrong = await runPsql(['-c', 'SELECT 1'], gw.target({ password: 'nope' }));
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /password authentication failed for user "agent"/);
    const unknown = await runPsql(['-c', 'SELECT 1'], gw.target({ user: 'nobody', password: 'x' }));
    assert.match(unknown.stderr, /password authentication failed for user "nobody"/);
    const outsider = await runPsql(
      ['-c', 'SELECT 1'],
      gw.target({ user: 'outsider', password: 'outsider-secret' }),
    );
    assert.match(outsider.stderr, /identity "outsider" is not allowed to use connection "app"/);
    // SQLSTATEs, through a driver that exposes them.
    for (const [user, password, code] of [
      ['agent', 'nope', '28P01'],
      ['nobody', 'x', '28P01'],
      ['outsider', 'outsider-secret', '28000'],
    ]) {
      const c = new pg.Client(pgConfig(gw.target({ user, password })));
      await assert.rejects(c.connect(), (e: { code?: string }) => e.code === code);
    }
  });
});

describe('node-postgres', () => {
  test('simple, extended with parameters and binary results match a direct connection', async () => {
    const run = async (cfg: ReturnType<typeof pgConfig>) => {
      const c = new pg.Client(cfg);
      await c.connect();
      try {
        const simple = await c.query(
          'SELECT id, name, price, tags, data, at FROM items WHERE id < 10 ORDER BY id',
        );
        const ext = await c.query(
          'SELECT id, name, price FROM items WHERE id = ANY($1) AND name LIKE $2 ORDER BY id',
          [[3, 4, 5, 250], 'item%'],
        );
        // node-postgres' `binary` flag asks for every result column in binary format.
        const bin = await c.query({
          text: 'SELECT id, raw, price FROM items WHERE id <= $1 ORDER BY id',
          values: [25],
          binary: true,
        } as pg.QueryConfig);
        const named = [];
        for (let i = 0; i < 3; i++)
          named.push(
            (await c.query({ name: 'by-id', text: 'SELECT name FROM items WHERE id = $1', values: [i + 7] }))
              .rows,
          );
        const nul = await c.query('SELECT $1::text IS NULL AS isnull, $2::int + 1 AS n', [null, 41]);
        return {
          simple: simple.rows,
          ext: ext.rows,
          bin: bin.rows.map((r) => [r.id, Buffer.from(r.raw).toString('hex'), r.price]),
          named,
          nul: nul.rows,
        };
      } finally {
        await c.end();
      }
    };
    const direct = await run(pgConfig(db));
    const via = await run(pgConfig(gw.target()));
    assert.deepEqual(via, direct);
    assert.equal(via.simple.length, 9);
    assert.equal(via.bin.length, 25);

    const store = gw.readStore();
    try {
      const s = store
        .listSessions()
        .find((x) => store.listStatements(x.id).some((st) => st.sql.includes('ANY($1)')));
      assert.ok(s);
      assert.equal(s.identity, 'agent');
      assert.equal(s.connection, 'app');
      const st = store.listStatements(s.id);
      const ext = st.find((x) => x.sql.includes('ANY($1)'))!;
      assert.equal(ext.protocol, 'extended');
      assert.deepEqual(ext.params, ['{"3","4","5","250"}', 'item%']);
      assert.equal(ext.rows, 3);
      assert.equal(ext.tag, 'SELECT 3');
      const named = st.filter((x) => x.sql === 'SELECT name FROM items WHERE id = $1');
      assert.deepEqual(
        named.map((x) => x.params),
        [['7'], ['8'], ['9']],
      );
      const nul = st.find((x) => x.sql.includes('IS NULL'))!;
      assert.deepEqual(nul.params, [null, '41']);
      // The frames of the statement are in the store and decode to what was sent.
      const frames = store.readFrames(s.id, ext.firstFrame, ext.lastFrame - ext.firstFrame + 1);
      const decoded = frames.map((f) => decodeFrame(f.dir, f.type, f.body));
      assert.deepEqual(
        decoded.filter((d) => d.type === 'DataRow').map((d) => (d.decoded.values as string[])[0]),
        ['3', '4', '5'],
      );
      assert.ok(decoded.some((d) => d.type === 'CommandComplete'));
      const v = store.verify();
      assert.equal(v.ok, true, JSON.stringify(v.firstBad));
    } finally {
      store.close();
    }
  });

  test('LISTEN/NOTIFY crosses the gateway', async () => {
    const listener = new pg.Client(pgConfig(gw.target()));
    const notifier = new pg.Client(pgConfig(gw.target()));
    await listener.connect();
    await notifier.connect();
    try {
      const got: string[] = [];
      listener.on('notification', (n) => got.push(`${n.channel}:${n.payload}`));
      await listener.query('LISTEN jobs');
      await notifier.query("SELECT pg_notify('jobs', 'hello'), pg_notify('jobs', 'world')");
      await eventually(() => (got.length === 2 ? true : undefined), 5000, 'notifications');
      assert.deepEqual(got, ['jobs:hello', 'jobs:world']);
    } finally {
      await listener.end();
      await notifier.end();
    }
  });
});

describe('postgres.js', () => {
  test('pipelined queries on one connection return in order', async () => {
    const sql = postgres({ ...pgConfig(gw.target()), max: 1, ssl: false, onnotice: () => {} });
    try {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => sql`SELECT ${i}::int AS i, name FROM items WHERE id = ${i + 1}`),
      );
      results.forEach((r, i) => {
        assert.equal(r[0].i, i);
        assert.equal(r[0].name, `item ${i + 1}`);
      });
      const tx = await sql.begin(async (t) => {
        await t`CREATE TEMP TABLE pj (v int)`;
        await t`INSERT INTO pj ${t([{ v: 1 }, { v: 2 }, { v: 3 }])}`;
        return t`SELECT sum(v)::int AS s FROM pj`;
      });
      assert.equal(tx[0].s, 6);
    } finally {
      await sql.end();
    }
  });

  test('a cancel request stops pg_sleep(30) through the gateway', async () => {
    const sql = postgres({ ...pgConfig(gw.target()), max: 1, ssl: false });
    try {
      // Connected first (postgres.js fetches its array types on the first query): a cancel of a
      // query still queued in the client is the client's own business, not the gateway's.
      await sql`SELECT 1`;
      const started = Date.now();
      const q = sql`SELECT pg_sleep(30)`;
      const outcome = q.then(
        () => 'finished',
        (e: { code?: string }) => e.code,
      );
      // Cancelled once it runs on the server (a fixed delay races a loaded machine).
      const admin = new pg.Client({ connectionString: db.url });
      await admin.connect();
      try {
        await eventually(
          async () =>
            (
              await admin.query(
                "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query = 'SELECT pg_sleep(30)'",
              )
            ).rowCount === 1
              ? true
              : undefined,
          10_000,
          'pg_sleep running on the server',
        );
      } finally {
        await admin.end();
      }
      await q.cancel();
      assert.equal(await outcome, '57014');
      assert.ok(Date.now() - started < 20_000, 'cancelled long before 30 s');
      const [row] = await sql`SELECT 'still usable' AS s`;
      assert.equal(row.s, 'still usable');
    } finally {
      await sql.end();
    }
    const store = gw.readStore();
    try {
      const st = store
        .listSessions()
        .flatMap((s) => store.listStatements(s.id))
        .find((x) => x.sql === 'SELECT pg_sleep(30)');
      assert.equal(st?.errorCode, '57014');
    } finally {
      store.close();
    }
  });
});

test('no secret reaches the store, and the chain verifies', async () => {
  gw.flush();
  const bytes = fs.readFileSync(gw.storePath);
  const wal = fs.existsSync(`${gw.storePath}-wal`) ? fs.readFileSync(`${gw.storePath}-wal`) : Buffer.alloc(0);
  for (const secret of [AGENT.password, db.password, 'outsider-secret']) {
    assert.equal(bytes.includes(secret), false, `store holds ${secret}`);
    assert.equal(wal.includes(secret), false, `store WAL holds ${secret}`);
  }
  const store = gw.readStore();
  try {
    assert.ok(store.listSessions().length >= 8);
    assert.equal(store.verify().ok, true);
    // No SCRAM exchange content (nonces, salts, proofs, server signatures) in any recorded frame.
    for (const s of store.listSessions()) {
      for (const f of store.readFrames(s.id, 1, 100)) {
        const isAuth = (f.dir === 'server' && f.type === 0x52) || (f.dir === 'client' && f.type === 0x70);
        if (isAuth)
          assert.doesNotMatch(
            f.body.toString('latin1'),
            /[rvps]=[A-Za-z0-9+/=]{8}/,
            `frame ${f.seq} of ${s.id}`,
          );
      }
    }
  } finally {
    store.close();
  }
});
