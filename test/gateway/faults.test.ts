// The gateway under faults, against a real PostgreSQL 18: clients that vanish mid-result, an
// upstream that restarts, malformed and hostile bytes in every phase, results past the capture
// limit, and a store that cannot be written (fail closed). After each fault, other clients must
// keep working.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { SqliteSessionStore } from '../../proxy/store/sqlite-store.js';
import type { SessionStore } from '../../proxy/store/types.js';
import type { SessionInfo } from '../../shared/types.js';
import { AGENT, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  cancelRequest,
  cstr,
  dataRowValues,
  errorFields,
  gssencRequest,
  int16,
  int32,
  message,
  packet,
  parseMessage,
  RawClient,
  type RawMessage,
  sslRequest,
  startupPacket,
  syncMessage,
} from '../helpers/raw-client.js';

const MiB = 1024 * 1024;

let db: TestPostgres;
/** Default limits. */
let gw: TestGateway;
/** maxMessageSize 1 MiB, startup timeout 1 s, capture limit 100,000 bytes. */
let tight: TestGateway;
/** Its store is made to fail. */
let fragile: TestGateway;
/** One long-lived client per gateway, which must keep working whatever happens to others. */
const bystanders = new Map<TestGateway, pg.Client>();

const pgConfig = (
  t: { host: string; port: number; user: string; password: string; database: string },
  app?: string,
) => ({
  host: t.host,
  port: t.port,
  user: t.user,
  password: t.password,
  database: t.database,
  ...(app ? { application_name: app } : {}),
});

async function direct<R extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  values?: unknown[],
): Promise<R[]> {
  const c = new pg.Client(pgConfig(db, 'faults-direct'));
  await c.connect();
  try {
    return (await c.query<R>(sql, values)).rows;
  } finally {
    await c.end();
  }
}

function withStore<T>(g: TestGateway, f: (s: SessionStore) => T): T {
  const s = g.readStore();
  try {
    return f(s);
  } finally {
    s.close();
  }
}

const sessionOf = (g: TestGateway, app: string): SessionInfo | undefined =>
  withStore(g, (s) => s.listSessions().find((x) => x.applicationName === app));

/** Waits until the session of `app` is recorded as ended, and returns it. */
const endedSession = (g: TestGateway, app: string, timeoutMs = 5000): Promise<SessionInfo> =>
  eventually(
    () => {
      const s = sessionOf(g, app);
      return s?.endedAt ? s : undefined;
    },
    timeoutMs,
    `the session of ${app} to be recorded as ended`,
  );

async function login(
  g: TestGateway,
  app: string,
  minor = 0,
  params: Record<string, string> = {},
): Promise<RawClient> {
  const c = await RawClient.connect(g.host, g.port);
  await c.login({
    user: AGENT.name,
    password: AGENT.password,
    minor,
    params: { application_name: app, ...params },
  });
  return c;
}

/**
 * The bystander of `g` still runs queries, a new connection to `g` works, and every other session
 * the test made has ended (none is left hanging in the listener).
 */
async function othersWork(g: TestGateway): Promise<void> {
  const r = await bystanders.get(g)!.query('SELECT 42 AS n');
  assert.equal(r.rows[0].n, 42);
  const fresh = new pg.Client(pgConfig(g.target()));
  await fresh.connect();
  try {
    assert.equal((await fresh.query("SELECT 'fresh' AS s")).rows[0].s, 'fresh');
  } finally {
    await fresh.end();
  }
  const listener = g.core.gateways[0];
  await eventually(
    () => (listener.activeSessions === 1 ? true : undefined),
    5000,
    'only the bystander session to remain',
  ).catch(() => assert.fail(`${listener.activeSessions} sessions still active; expected only the bystander`));
}

/** Reads to the end of the connection and returns the one FATAL error it got. */
async function fatalThenClose(c: RawClient, timeoutMs = 3000): Promise<Record<string, string>> {
  const msgs = await c.readToEnd(timeoutMs);
  const errors = msgs.filter((m) => m.type === 'E').map((m) => errorFields(m.body));
  assert.equal(errors.length, 1, `one ErrorResponse, got ${msgs.map((m) => m.type).join(' ')}`);
  assert.equal(errors[0].S, 'FATAL');
  assert.ok(c.ended, 'connection closed');
  return errors[0];
}

before(async () => {
  db = await startPostgres({ version: 18 });
  await direct('CREATE TABLE fc (v text)');
  gw = await startGateway(db);
  tight = await startGateway(db, { maxMessageSize: MiB, startupTimeoutMs: 1000, captureLimit: 100_000 });
  fragile = await startGateway(db);
  for (const g of [gw, tight, fragile]) {
    const c = new pg.Client(pgConfig(g.target(), 'bystander'));
    c.on('error', () => {}); // the upstream restart at the end kills it
    await c.connect();
    bystanders.set(g, c);
  }
});

after(async () => {
  for (const c of bystanders.values()) {
    // The restart killed gw's bystander: end() on a dead client may never settle.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([c.end().catch(() => {}), new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
  }
  await gw?.stop();
  await tight?.stop();
  await fragile?.stop();
  await db?.stop();
});

describe('a client that vanishes mid-result', () => {
  for (const mode of ['while reading', 'after it stopped reading'] as const) {
    test(`${mode}: the session ends as 'client disconnected', the upstream backend goes away, others keep working`, {
      timeout: 30_000,
    }, async (t) => {
      const app = `faults-vanish-${mode.replaceAll(' ', '-')}`;
      const t0 = Date.now();
      const c = await login(gw, app);
      // About 1 GB if it ran to the end: it must be stopped, not drained. (A cross join of two small
      // series streams at once; one generate_series(1, 5000000) would be materialized first.)
      c.write(
        message(
          'Q',
          cstr("SELECT a, b, repeat('x', 200) FROM generate_series(1, 5000) a, generate_series(1, 1000) b"),
        ),
      );
      await c.skipUntilReceived(2 * MiB, 10_000);
      // Stopped reading, as a client busy elsewhere: the gateway must apply backpressure upstream,
      // and the backend ends up blocked writing (the result is not drained into the gateway).
      if (mode === 'after it stopped reading') c.pause();
      const during = await eventually(
        async () => {
          const rows = await direct<{ pid: number; state: string; wait_event: string | null }>(
            'SELECT pid, state, wait_event FROM pg_stat_activity WHERE application_name = $1',
            [app],
          );
          assert.equal(rows.length, 1, 'one upstream backend for the session');
          assert.equal(rows[0].state, 'active');
          return mode === 'while reading' || rows[0].wait_event === 'ClientWrite' ? rows : undefined;
        },
        10_000,
        'the upstream backend to be active (and, when the client stopped reading, to wait on ClientWrite)',
      );
      t.diagnostic(
        `${(c.received / MiB).toFixed(1)} MiB received; backend seen active after ${Date.now() - t0} ms`,
      );
      const vanished = Date.now();
      c.destroy();

      await eventually(
        async () =>
          (await direct('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [during[0].pid])).length === 0
            ? true
            : undefined,
        10_000,
        `upstream backend ${during[0].pid} to exit`,
      );
      t.diagnostic(`upstream backend gone ${Date.now() - vanished} ms after the client vanished`);
      const s = await endedSession(gw, app);
      assert.equal(s.endReason, 'client disconnected');
      const st = withStore(gw, (store) => store.listStatements(s.id));
      assert.equal(st.length, 1);
      assert.match(st[0].errorMessage ?? '', /session ended: client disconnected/);
      assert.ok(st[0].rows > 0, 'rows sent before the client vanished are counted');
      await othersWork(gw);
    });
  }
});

describe('malformed frames after login', () => {
  test('a message length below 4 -> FATAL 08P01, session ended as a protocol violation', async () => {
    const app = 'faults-short-length';
    const c = await login(gw, app);
    c.write(Buffer.concat([Buffer.from('Q'), int32(2)]));
    const e = await fatalThenClose(c);
    assert.equal(e.C, '08P01');
    assert.match(e.M, /invalid length 2/);
    const s = await endedSession(gw, app);
    assert.match(s.endReason ?? '', /^protocol violation: .*invalid length 2/);
    await othersWork(gw);
  });

  test('a Query claiming 2 MiB over a 1 MiB limit is refused at its header, without waiting for the bytes', async () => {
    const app = 'faults-too-large';
    const c = await login(tight, app);
    const started = Date.now();
    c.write(Buffer.concat([Buffer.from('Q'), int32(2 * MiB + 4), Buffer.from('SELECT ')]));
    const e = await fatalThenClose(c, 2000);
    assert.ok(Date.now() - started < 2000);
    assert.equal(e.C, '08P01');
    assert.match(e.M, /2097156 bytes, more than the limit of 1048576/);
    const s = await endedSession(tight, app);
    assert.match(s.endReason ?? '', /^protocol violation/);
    await othersWork(tight);
  });

  test('a result row larger than maxMessageSize from the server ends the session with 08P01', async () => {
    const app = 'faults-server-too-large';
    const c = await login(tight, app);
    c.write(
      message(
        'Q',
        cstr("SELECT 1 AS a UNION ALL SELECT length(repeat('x', 2 * 1024 * 1024)) UNION ALL SELECT 3"),
      ),
    );
    c.write(message('Q', cstr("SELECT repeat('x', 2 * 1024 * 1024) AS big")));
    const msgs = await c.readToEnd(5000);
    assert.deepEqual(
      msgs.filter((m) => m.type === 'D').map((m) => dataRowValues(m.body)),
      [['1'], ['2097152'], ['3']],
      'the first query is answered in full',
    );
    const errors = msgs.filter((m) => m.type === 'E').map((m) => errorFields(m.body));
    assert.equal(errors.length, 1);
    assert.equal(errors[0].C, '08P01');
    assert.match(errors[0].M, /message of type 'D' is \d+ bytes, more than the limit of 1048576/);
    assert.ok(c.ended);
    const s = await endedSession(tight, app);
    assert.equal(s.endReason, 'upstream protocol violation');
    await eventually(
      async () =>
        (await direct('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [app])).length === 0
          ? true
          : undefined,
      5000,
      'the upstream backend to exit',
    );
    await othersWork(tight);
  });

  test('an oversized message during authentication is refused too', async () => {
    const c = await RawClient.connect(tight.host, tight.port);
    c.write(startupPacket({ user: AGENT.name, database: 'x' }));
    const sasl = await c.readMessage();
    assert.equal(sasl.type, 'R');
    c.write(Buffer.concat([Buffer.from('p'), int32(2 * MiB)]));
    const e = await fatalThenClose(c, 2000);
    assert.equal(e.C, '08P01');
    await othersWork(tight);
  });

  test('a Query without its NUL terminator and a truncated Bind -> 08P01', async () => {
    const cases: [string, Buffer][] = [
      ['faults-unterminated', message('Q', Buffer.from('SELECT 1'))],
      [
        'faults-bad-bind',
        Buffer.concat([
          parseMessage('', 'SELECT $1'),
          message('B', cstr(''), cstr(''), int16(0), int16(5)),
          syncMessage(),
        ]),
      ],
    ];
    for (const [app, bytes] of cases) {
      const c = await login(gw, app);
      c.write(bytes);
      const e = await fatalThenClose(c);
      assert.equal(e.C, '08P01', app);
      const s = await endedSession(gw, app);
      assert.match(s.endReason ?? '', /^protocol violation/);
      await othersWork(gw);
    }
  });
});

describe('malformed and hostile startup', () => {
  test('garbage instead of a startup packet (an HTTP request) -> 08P01 and close', async () => {
    const c = await RawClient.connect(gw.host, gw.port);
    c.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const e = await fatalThenClose(c);
    assert.equal(e.C, '08P01');
    assert.match(e.M, /invalid length of startup packet/);
    await othersWork(gw);
  });

  test('a well-sized packet with an unknown protocol -> 08P01 and close', async () => {
    const c = await RawClient.connect(gw.host, gw.port);
    c.write(packet(int32(0x00010000), cstr('user'), cstr('agent'), Buffer.from([0])));
    const e = await fatalThenClose(c);
    assert.equal(e.C, '08P01');
    assert.match(e.M, /unsupported frontend protocol 1\.0/);
    await othersWork(gw);
  });

  test('startup packets with a huge, too large or too small length are refused at once', async () => {
    for (const len of [0x7fffffff, 10_001, 1_000_000, 4, 0, -1]) {
      const c = await RawClient.connect(gw.host, gw.port);
      const started = Date.now();
      c.write(Buffer.concat([int32(len), int32(3 << 16)]));
      const e = await fatalThenClose(c, 2000);
      assert.ok(Date.now() - started < 2000);
      assert.equal(e.C, '08P01', `length ${len}`);
      assert.match(e.M, /invalid length of startup packet/);
    }
    await othersWork(gw);
  });

  test('half a startup packet, a dribble, nothing, a stalled login or TLS handshake: closed at the startup timeout (1 s)', {
    timeout: 30_000,
  }, async () => {
    const full = startupPacket({ user: AGENT.name, database: 'x' });
    const attempts: [string, (c: RawClient) => void][] = [
      ['half a packet', (c) => c.write(full.subarray(0, 6))],
      ['nothing', () => {}],
      [
        'one byte every 200 ms',
        (c) => {
          let i = 0;
          const t = setInterval(() => {
            if (c.ended || i >= full.length) clearInterval(t);
            else c.write(full.subarray(i, ++i));
          }, 200);
        },
      ],
      ['a startup packet, then silence during SCRAM', (c) => c.write(full)],
      ["an SSLRequest answered 'S', then no TLS handshake", (c) => c.write(sslRequest())],
    ];
    await Promise.all(
      attempts.map(async ([what, act]) => {
        const c = await RawClient.connect(tight.host, tight.port);
        const started = Date.now();
        act(c);
        assert.ok(await c.waitEnded(6000), `${what}: closed`);
        const took = Date.now() - started;
        assert.ok(took >= 800 && took < 5000, `${what}: closed after ${took} ms`);
      }),
    );
    await othersWork(tight);
  });

  test('protocol 3.9 with _pq_.foo -> NegotiateProtocolVersion (3.2, _pq_.foo), then a normal 3.2 login', async () => {
    const app = 'faults-negotiate';
    const c = await RawClient.connect(gw.host, gw.port);
    const r = await c.login({
      user: AGENT.name,
      password: AGENT.password,
      minor: 9,
      params: { '_pq_.foo': 'bar', application_name: app },
    });
    assert.ok(r.negotiate, 'NegotiateProtocolVersion sent');
    assert.equal(r.messages[0].type, 'v', 'as the first message');
    assert.deepEqual(r.negotiate.body, Buffer.concat([int32((3 << 16) | 2), int32(1), cstr('_pq_.foo')]));
    assert.equal(r.key.length, 32, '3.2 cancel keys are 32 bytes');
    const q = await c.query('SELECT 1 AS one');
    assert.deepEqual(dataRowValues(q.rows[0].body), ['1']);
    await c.end();
    const s = await endedSession(gw, app);
    assert.equal(s.protocol, '3.2');
    assert.equal(s.endReason, 'client terminated');
    await othersWork(gw);
  });

  test('3.0 with a _pq_ option negotiates 3.0; plain 3.2 needs no negotiation', async () => {
    const c30 = await RawClient.connect(gw.host, gw.port);
    const r30 = await c30.login({ user: AGENT.name, password: AGENT.password, params: { '_pq_.x': '1' } });
    assert.deepEqual(r30.negotiate?.body, Buffer.concat([int32(3 << 16), int32(1), cstr('_pq_.x')]));
    assert.equal(r30.key.length, 4);
    await c30.end();
    const c32 = await RawClient.connect(gw.host, gw.port);
    const r32 = await c32.login({ user: AGENT.name, password: AGENT.password, minor: 2 });
    assert.equal(r32.negotiate, null);
    assert.equal(r32.key.length, 32);
    assert.equal((await c32.query('SELECT 2')).errors.length, 0);
    await c32.end();
  });

  test('statements pipelined right behind the last SASL message are run once the session is up', async () => {
    const c = await RawClient.connect(gw.host, gw.port);
    await c.login({
      user: AGENT.name,
      password: AGENT.password,
      params: { application_name: 'faults-pipelined-login' },
      pipeline: Buffer.concat([message('Q', cstr("SELECT 'early' AS e")), message('Q', cstr('SELECT 2'))]),
    });
    const first = await c.result();
    assert.deepEqual(
      first.rows.map((m) => dataRowValues(m.body)),
      [['early']],
    );
    assert.deepEqual((await c.result()).tags, ['SELECT 1']);
    await c.end();
    await othersWork(gw);
  });

  test("GSSENCRequest is answered 'N' and the login continues in plaintext", async () => {
    const c = await RawClient.connect(gw.host, gw.port);
    c.write(gssencRequest());
    assert.equal((await c.readBytes(1)).toString(), 'N');
    await c.login({ user: AGENT.name, password: AGENT.password, params: { application_name: 'faults-gss' } });
    assert.deepEqual(dataRowValues((await c.query("SELECT 'after gss'")).rows[0].body), ['after gss']);
    await c.end();
    await othersWork(gw);
  });

  test('SSLRequest followed by plaintext bytes before the handshake is refused (CVE-2021-23214)', async () => {
    const c = await RawClient.connect(gw.host, gw.port);
    c.write(Buffer.concat([sslRequest(), startupPacket({ user: AGENT.name, database: 'x' })]));
    const first = await c.readBytes(1);
    assert.notEqual(first.toString(), 'S', 'must not start TLS');
    assert.equal(first.toString(), 'E');
    // The rest of a plaintext ErrorResponse: int32 length, then the fields.
    const len = (await c.readBytes(4)).readInt32BE(0);
    const f = errorFields(await c.readBytes(len - 4));
    assert.equal(f.C, '08P01');
    assert.match(f.M, /unencrypted data after SSL request/);
    assert.ok(await c.waitEnded(2000), 'closed');
    await othersWork(gw);
  });

  test('a CancelRequest with an unknown key is dropped silently', async () => {
    for (const key of [Buffer.alloc(4, 1), Buffer.alloc(32, 2)]) {
      const c = await RawClient.connect(gw.host, gw.port);
      c.write(cancelRequest(12345, key));
      assert.ok(await c.waitEnded(2000));
      assert.equal(c.received, 0, 'nothing is sent back to a cancel request');
    }
    await othersWork(gw);
  });
});

describe('capture limit', () => {
  test('50,000 rows past a 100,000-byte capture limit: every row sent, the rest counted and digested', {
    timeout: 30_000,
  }, async () => {
    const app = 'faults-capture';
    const c = await login(tight, app);
    const sql = 'SELECT g, md5(g::text) FROM generate_series(1, 50000) g';
    const r = await c.query(sql, 20_000);
    await c.end();
    assert.equal(r.errors.length, 0);
    assert.equal(r.rows.length, 50_000, 'the client gets every row');
    assert.deepEqual(r.tags, ['SELECT 50000']);
    assert.deepEqual(dataRowValues(r.rows[49_999].body), [
      '50000',
      createHash('md5').update('50000').digest('hex'),
    ]);

    const s = await endedSession(tight, app);
    const st = withStore(tight, (store) => store.listStatements(s.id)).find((x) => x.sql === sql);
    assert.ok(st, 'statement recorded');
    assert.equal(st.rows, 50_000);
    assert.equal(st.tag, 'SELECT 50000');
    assert.equal(st.truncated, true);
    assert.ok(st.uncapturedRows > 0 && st.uncapturedRows < 50_000, `uncapturedRows ${st.uncapturedRows}`);
    assert.match(st.uncapturedDigest ?? '', /^[0-9a-f]{64}$/);

    // The capture stops at the first row that would pass the limit; everything after is digested.
    const captured = 50_000 - st.uncapturedRows;
    const capturedBytes = r.rows.slice(0, captured).reduce((n, m) => n + m.raw.length, 0);
    assert.ok(
      capturedBytes <= 100_000 && capturedBytes + r.rows[captured].raw.length > 100_000,
      `captured ${capturedBytes} bytes`,
    );
    const rest = r.rows.slice(captured);
    assert.equal(
      st.uncapturedBytes,
      rest.reduce((n, m) => n + m.raw.length, 0),
    );
    const digest = createHash('sha256');
    for (const m of rest) digest.update(m.raw);
    assert.equal(st.uncapturedDigest, digest.digest('hex'), 'digest over the uncaptured DataRows as sent');

    const frames = withStore(tight, (store) => store.readFrames(s.id));
    const storedRows = frames.filter((f) => f.dir === 'server' && f.type === 0x44);
    assert.equal(storedRows.length, captured, 'the store holds only the captured DataRows');
    assert.ok(storedRows.length < 50_000);
    for (const [i, f] of storedRows.entries()) assert.deepEqual(f.body, r.rows[i].body);
    assert.ok(
      frames.some((f) => f.dir === 'server' && f.type === 0x43),
      'CommandComplete stored',
    );
    for (const [i, f] of frames.entries()) assert.equal(f.seq, frames[0].seq + i, 'frame seqs have no gaps');
    const v = withStore(tight, (store) => store.verify());
    assert.equal(v.ok, true, JSON.stringify(v.firstBad));
    await othersWork(tight);
  });
});

describe('store failure: fail closed', () => {
  test('new statements get 58030 and do not run while the store fails; all works again after', {
    timeout: 30_000,
  }, async () => {
    // The writing connection's test hook (it lives on the writer thread): `query_only` makes
    // every append throw, as a full disk would.
    const store = fragile.core.writer as unknown as Pick<SqliteSessionStore, 'pragma'>;
    assert.equal(typeof store.pragma, 'function', 'the writer has the pragma() test hook');
    const events: string[] = [];
    fragile.core.on('store-failed', () => events.push('failed'));
    fragile.core.on('store-recovered', () => events.push('recovered'));
    const c = new pg.Client(pgConfig(fragile.target(), 'faults-fail-closed'));
    c.on('error', () => {});
    await c.connect();
    await c.query("INSERT INTO fc VALUES ('before')");

    fragile.flush(); // everything so far is written: the failure starts with what comes next
    assert.equal(fragile.core.writer.healthy, true);
    store.pragma('query_only = 1');
    try {
      // The failure shows at the next write of the recorder: this statement's own frames. Its
      // result is still delivered: it is in the recording journal, which replays into the store.
      await c.query('SELECT 1');
      await eventually(
        () => (fragile.core.writer.healthy ? undefined : true),
        5000,
        'the writer to notice the failure',
      );
      assert.deepEqual(events, ['failed']);

      const refused = (e: { code?: string; message?: string }) => {
        assert.equal(e.code, '58030', e.message);
        assert.match(e.message ?? '', /cannot record/);
        return true;
      };
      await assert.rejects(c.query("INSERT INTO fc VALUES ('simple')"), refused);
      await assert.rejects(c.query('INSERT INTO fc VALUES ($1)', ['extended']), refused);
      await assert.rejects(
        c.query({ name: 'named-insert', text: 'INSERT INTO fc VALUES ($1)', values: ['named'] }),
        refused,
      );
      // A session that starts now is refused the same way.
      const late = new pg.Client(pgConfig(fragile.target(), 'faults-fail-closed-late'));
      await late.connect();
      await assert.rejects(late.query("INSERT INTO fc VALUES ('late')"), refused);
      await late.end();
      const rows = await direct<{ v: string }>('SELECT v FROM fc ORDER BY v');
      assert.deepEqual(
        rows.map((x) => x.v),
        ['before'],
        'no refused INSERT ran',
      );
      assert.equal(fragile.core.writer.healthy, false, 'still failing');
    } finally {
      store.pragma('query_only = 0');
    }

    await eventually(
      () => (fragile.core.writer.healthy ? true : undefined),
      5000,
      'the writer to recover (retries every second)',
    );
    assert.deepEqual(events, ['failed', 'recovered']);
    await c.query("INSERT INTO fc VALUES ('after')");
    await c.query({ name: 'named-insert', text: 'INSERT INTO fc VALUES ($1)', values: ['named after'] });
    await c.end();
    assert.deepEqual(
      (await direct<{ v: string }>('SELECT v FROM fc ORDER BY v')).map((x) => x.v),
      ['after', 'before', 'named after'],
    );

    // Nothing recorded during the failure was lost: frames without gaps, refused statements kept.
    const s = await endedSession(fragile, 'faults-fail-closed');
    const { frames, statements, verify } = withStore(fragile, (st) => ({
      frames: st.readFrames(s.id),
      statements: st.listStatements(s.id),
      verify: st.verify(),
    }));
    assert.equal(verify.ok, true, JSON.stringify(verify.firstBad));
    for (const [i, f] of frames.entries()) assert.equal(f.seq, i + 1, 'frame seqs 1..n without gaps');
    const queryText = (f: { body: Buffer }) => f.body.toString('utf8', 0, f.body.indexOf(0));
    const clientQueries = frames.filter((f) => f.dir === 'client' && f.type === 0x51).map(queryText);
    assert.deepEqual(clientQueries, [
      "INSERT INTO fc VALUES ('before')",
      'SELECT 1',
      "INSERT INTO fc VALUES ('simple')",
      "INSERT INTO fc VALUES ('after')",
    ]);
    const refusals = frames
      .filter((f) => f.dir === 'server' && f.type === 0x45)
      .map((f) => errorFields(f.body).C);
    assert.deepEqual(refusals, ['58030', '58030', '58030']);
    // Each refused statement is recorded once (with the parameters it was bound with), not
    // also as a second statement for the Bind/Execute the server skipped after the refused Parse.
    const bySql = statements.map((x) => [x.sql, x.params, x.errorCode, x.decision]);
    assert.deepEqual(bySql, [
      ["INSERT INTO fc VALUES ('before')", null, null, 'allow'],
      ['SELECT 1', null, null, 'allow'],
      ["INSERT INTO fc VALUES ('simple')", null, '58030', 'block'],
      ['INSERT INTO fc VALUES ($1)', ['extended'], '58030', 'block'],
      ['INSERT INTO fc VALUES ($1)', ['named'], '58030', 'block'],
      ["INSERT INTO fc VALUES ('after')", null, null, 'allow'],
      ['INSERT INTO fc VALUES ($1)', ['named after'], null, 'allow'],
    ]);
    await othersWork(fragile);
  });
});

describe('the upstream restarts mid-session', () => {
  test('clients get 57P01/08006 and are closed, sessions are recorded as ended, new connections work', {
    timeout: 60_000,
  }, async () => {
    const idle = await login(gw, 'faults-restart-idle');
    const busy = new pg.Client(pgConfig(gw.target(), 'faults-restart-busy'));
    busy.on('error', () => {});
    await busy.connect();
    const sleeping = busy.query('SELECT pg_sleep(30)').then(
      () => 'finished',
      (e: { code?: string }) => e.code ?? 'no code',
    );
    await eventually(
      async () =>
        (
          await direct(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'faults-restart-busy' AND state = 'active'",
          )
        ).length
          ? true
          : undefined,
      5000,
      'pg_sleep to run',
    );

    await db.restart();

    assert.ok(['57P01', '08006'].includes(await sleeping), 'the running statement fails with 57P01 or 08006');
    const msgs: RawMessage[] = await idle.readToEnd(5000);
    const codes = msgs.filter((m) => m.type === 'E').map((m) => errorFields(m.body).C);
    assert.ok(
      codes.length > 0 && codes.every((x) => x === '57P01' || x === '08006'),
      `errors: ${codes.join(', ')}`,
    );
    assert.ok(idle.ended, 'the idle client is closed');

    const s1 = await endedSession(gw, 'faults-restart-idle');
    assert.equal(s1.endReason, 'upstream lost');
    const s2 = await endedSession(gw, 'faults-restart-busy');
    assert.match(s2.endReason ?? '', /upstream lost|client disconnected/);
    const st = withStore(gw, (store) => store.listStatements(s2.id)).find(
      (x) => x.sql === 'SELECT pg_sleep(30)',
    );
    assert.ok(st && ['57P01', '08006'].includes(st.errorCode ?? ''), `statement error ${st?.errorCode}`);
    await busy.end().catch(() => {});

    const fresh = new pg.Client(pgConfig(gw.target()));
    await fresh.connect();
    assert.equal((await fresh.query('SELECT 7 AS n')).rows[0].n, 7);
    await fresh.end();
    const raw = await login(gw, 'faults-restart-after');
    assert.equal((await raw.query('SELECT 1')).errors.length, 0);
    await raw.end();
    assert.equal(withStore(gw, (store) => store.verify()).ok, true);
  });
});
