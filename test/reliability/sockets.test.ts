// Client sockets that stall, vanish, send half a message or claim 1 GB, against a real
// `bastion serve` whose memory is read from /proc: the gateway's RSS must stay bounded (it applies
// backpressure and allocates for bytes received, not bytes claimed) and other clients keep working.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { eventually } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { cstr, errorFields, int32, message, RawClient, startupPacket } from '../helpers/raw-client.js';
import { mb, rssKb, type ServeProcess, sampleRss, startServe, writeServeConfig } from './serve-process.js';

const MiB = 1024 * 1024;
const IDENTITY = { name: 'sock', password: 'sockets-secret' };
/** About 1 GB if it ran to the end (a cross join streams at once; one big series would materialize). */
const HUGE = "SELECT a, b, repeat('x', 200) FROM generate_series(1, 5000) a, generate_series(1, 1000) b";

let db: TestPostgres;
let dir: string;
let gw: ServeProcess;
let bystander: pg.Client;

const connectPg = (app: string) =>
  new pg.Client({
    host: '127.0.0.1',
    port: gw.port,
    user: IDENTITY.name,
    password: IDENTITY.password,
    database: 'appdb',
    application_name: app,
  });

async function direct<R extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<R[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query<R>(sql, values)).rows;
  } finally {
    await c.end();
  }
}

async function login(app: string): Promise<RawClient> {
  const c = await RawClient.connect('127.0.0.1', gw.port);
  await c.login({ user: IDENTITY.name, password: IDENTITY.password, params: { application_name: app } });
  return c;
}

const backends = (prefix: string) =>
  direct<{ pid: number; wait_event: string | null; state: string }>(
    'SELECT pid, wait_event, state FROM pg_stat_activity WHERE application_name LIKE $1',
    [`${prefix}%`],
  );

async function othersWork(): Promise<void> {
  assert.equal((await bystander.query('SELECT 42 AS n')).rows[0].n, 42);
  const fresh = connectPg('rel-sock-fresh');
  await fresh.connect();
  assert.equal((await fresh.query("SELECT 'fresh' AS s")).rows[0].s, 'fresh');
  await fresh.end();
}

before(async () => {
  db = await startPostgres({ version: 18 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-rel-sock-'));
  const config = writeServeConfig(path.join(dir, 'bastion.yaml'), {
    db,
    store: path.join(dir, 'bastion.db'),
    identities: [IDENTITY],
    limitsYaml: '  startup_timeout: 10s',
  });
  gw = await startServe(config.file, config.env);
  bystander = connectPg('rel-sock-bystander');
  await bystander.connect();
  // Warm up (policy engine, masking catalog) so the baseline is a running gateway's.
  for (let i = 0; i < 3; i++)
    await bystander.query('SELECT g, md5(g::text) FROM generate_series(1, 20000) g');
});

after(async () => {
  await bystander?.end().catch(() => {});
  await gw?.stop('SIGKILL');
  await db?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('slow readers', () => {
  test('20 clients stop reading a 1 GB result: the backends wait on ClientWrite and the gateway RSS stays bounded', {
    timeout: 120_000,
  }, async (t) => {
    const before = rssKb(gw.pid);
    const sampler = sampleRss(gw.pid, 20);
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => login(`rel-slow-${i}`)));
    for (const c of clients) c.write(message('Q', cstr(HUGE)));
    // Each reads a little, then stops reading for good (a client busy elsewhere, or hostile).
    await Promise.all(
      clients.map(async (c) => {
        await c.skipUntilReceived(MiB, 20_000);
        c.pause();
      }),
    );
    await eventually(
      async () => {
        const rows = await backends('rel-slow-');
        return rows.length === 20 && rows.every((r) => r.wait_event === 'ClientWrite') ? rows : undefined;
      },
      30_000,
      'every backend to block writing to the gateway (ClientWrite)',
    );
    // Stays stalled a while: memory must not creep.
    const mid = rssKb(gw.pid);
    await new Promise((r) => setTimeout(r, 2000));
    await othersWork();
    const end = rssKb(gw.pid);
    const { peakKb } = sampler.stop();
    const received = clients.reduce((n, c) => n + c.received, 0);
    t.diagnostic(
      `RSS before ${mb(before)} MB, stalled ${mb(mid)} MB, 2 s later ${mb(end)} MB, peak ${mb(peakKb)} MB; ` +
        `clients received ${(received / MiB).toFixed(1)} MiB of 20 x ~1 GB`,
    );
    // A gateway that buffered for stalled clients would hold gigabytes here; socket buffers are KBs.
    assert.ok(peakKb - before < 128 * 1024, `RSS grew by ${mb(peakKb - before)} MB`);
    assert.ok(end - mid < 32 * 1024, `RSS crept by ${mb(end - mid)} MB while stalled`);
    for (const c of clients) c.destroy();
    await eventually(
      async () => ((await backends('rel-slow-')).length === 0 ? true : undefined),
      20_000,
      'backends to exit',
    );
  });
});

describe('half a message', () => {
  test('half a Query after login, then silence: the session waits (as PostgreSQL does), others work; the rest completes it', {
    timeout: 30_000,
  }, async () => {
    const c = await login('rel-half');
    const q = message('Q', cstr("SELECT 'completed later' AS s"));
    c.write(q.subarray(0, 9));
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(c.ended, false, 'not cut: an idle session has no timeout by default');
    await othersWork();
    c.write(q.subarray(9));
    const r = await c.result();
    assert.deepEqual(r.tags, ['SELECT 1']);
    await c.end();
  });

  test('half a Query, then the client vanishes: its backend goes away', { timeout: 30_000 }, async () => {
    const c = await login('rel-half-vanish');
    c.write(message('Q', cstr('SELECT 1')).subarray(0, 7));
    await eventually(
      async () => ((await backends('rel-half-vanish')).length === 1 ? true : undefined),
      5000,
      'the backend',
    );
    c.destroy();
    await eventually(
      async () => ((await backends('rel-half-vanish')).length === 0 ? true : undefined),
      10_000,
      'the backend to exit',
    );
    await othersWork();
  });
});

describe('1 GB length claims', () => {
  test('after login, 20 clients claim 1 GB messages and send a few bytes: RSS stays bounded, others work, each ends cleanly', {
    timeout: 60_000,
  }, async (t) => {
    const before = rssKb(gw.pid);
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => login(`rel-claim-${i}`)));
    for (const c of clients)
      c.write(Buffer.concat([Buffer.from('Q'), int32(1_000_000_000), Buffer.from('SELECT ')]));
    await new Promise((r) => setTimeout(r, 1000));
    await othersWork();
    const during = rssKb(gw.pid);
    t.diagnostic(`RSS before ${mb(before)} MB, with 20 x 1 GB claims pending ${mb(during)} MB`);
    assert.ok(during - before < 64 * 1024, `RSS grew by ${mb(during - before)} MB for claims, not bytes`);
    for (const c of clients) c.destroy();
    await eventually(
      async () => ((await backends('rel-claim-')).length === 0 ? true : undefined),
      10_000,
      'backends to exit',
    );
    await othersWork();
  });

  test('before login, a SASL message claiming 1 GB is refused at its header (08P01), not buffered', {
    timeout: 60_000,
  }, async (t) => {
    const before = rssKb(gw.pid);
    const clients = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const c = await RawClient.connect('127.0.0.1', gw.port);
        c.write(startupPacket({ user: IDENTITY.name, database: 'x' }));
        const sasl = await c.readMessage();
        assert.equal(sasl.type, 'R');
        c.write(Buffer.concat([Buffer.from('p'), int32(1_000_000_000)]));
        // Refused at the header: the error comes without the claimed bytes being sent.
        const refusal = await c.readMessage();
        return { c, code: refusal.type === 'E' ? errorFields(refusal.body).C : `'${refusal.type}'` };
      }),
    ).then((xs) => {
      assert.deepEqual(
        xs.map((x) => x.code),
        xs.map(() => '08P01'),
        'each refused with 08P01 at the header',
      );
      return xs.map((x) => x.c);
    });
    // Unauthenticated, each pushes 16 MiB of its "SASL message".
    const junk = Buffer.alloc(MiB, 0x61);
    for (let i = 0; i < 16; i++) for (const c of clients) if (!c.ended) c.write(junk);
    await new Promise((r) => setTimeout(r, 1500));
    const during = rssKb(gw.pid);
    t.diagnostic(
      `RSS before ${mb(before)} MB, after 8 unauthenticated clients sent 16 MiB each: ${mb(during)} MB`,
    );
    for (const c of clients) {
      assert.equal(await c.waitEnded(2000), true, 'the gateway closed the connection');
      c.destroy();
    }
    assert.ok(during - before < 32 * 1024, `RSS grew by ${mb(during - before)} MB before any login`);
  });
});

test("the gateway's log holds no secret after all of the above (identity password, upstream password)", () => {
  const log = gw.stderr() + gw.stdout();
  assert.ok(log.length > 0);
  assert.ok(!log.includes(IDENTITY.password), 'the identity password is in the log');
  assert.ok(!log.includes(db.password), 'the upstream password is in the log');
});
