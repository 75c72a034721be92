// A batch the shared store refuses for its content (here a CHECK constraint added to the store)
// is not an outage: the shipper names the records and the SQLSTATE, shows state 'rejected',
// retries slowly, skips nothing, and ships everything once the obstacle is gone.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Logger } from '../../proxy/session/session.js';
import { PgSessionStore } from '../../proxy/store/pg/pg-store.js';
import { StoreShipper } from '../../proxy/store/pg/shipper.js';
import { classifyStoreError } from '../../proxy/store/pg/store-errors.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { storeTarget, until } from './fleet.js';

let store: TestPostgres;
let gw: TestGateway;

before(async () => {
  store = await startPostgres({ version: 18 });
  gw = await startGateway(store);
});

after(async () => {
  await gw?.stop();
  await store?.stop();
});

async function admin<T = void>(sql: string): Promise<T> {
  const c = new pg.Client(store.url);
  await c.connect();
  try {
    return (await c.query(sql)).rows[0] as T;
  } finally {
    await c.end();
  }
}

async function session(word: string): Promise<void> {
  const t = gw.target();
  const c = new pg.Client({ host: t.host, port: t.port, user: t.user, password: t.password, database: 'db' });
  await c.connect();
  const r = await c.query(`SELECT '${word}' AS word`);
  assert.equal(r.rows[0].word, word, 'the data path works whatever the shared store does');
  await c.end();
}

/** The spool's statement record carrying the marker. */
function refusedRecord(): number {
  const db = new Database(gw.storePath, { readonly: true });
  try {
    const ids = db
      .prepare("SELECT id FROM records WHERE kind = 'statement' AND CAST(body AS TEXT) LIKE '%rejectme%'")
      .pluck()
      .all() as number[];
    assert.equal(ids.length, 1);
    return ids[0];
  } finally {
    db.close();
  }
}

function spoolHead(): number {
  const s = gw.readStore();
  try {
    return s.chainHead.id;
  } finally {
    s.close();
  }
}

test('SQLSTATE classes: connection and resources are outages, content is refused', () => {
  const err = (code?: string, message = 'x') => Object.assign(new Error(message), code ? { code } : {});
  for (const code of ['08006', '08001', '57P01', '57P03', '53300', '40001', undefined]) {
    assert.equal(classifyStoreError(err(code)).kind, 'outage', String(code));
  }
  assert.equal(
    classifyStoreError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).kind,
    'outage',
  );
  for (const code of ['22021', '22P02', '23505', '23514', '42501', '42P01', 'P0001']) {
    assert.deepEqual(classifyStoreError(err(code)), { kind: 'content', sqlstate: code });
  }
  assert.equal(
    classifyStoreError(err('23514', 'no partition of relation "records" found for row')).kind,
    'no-partition',
  );
});

test('a refused batch is named, retried slowly, never skipped, and ships once the store takes it', async () => {
  const lines: string[] = [];
  const log: Logger = {
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
  const shipper = new StoreShipper({
    spoolPath: gw.storePath,
    target: storeTarget(store),
    gateway: 'gw-reject',
    log,
    rejectedRetryMs: 200,
  });
  shipper.start();
  try {
    await session('beforereject');
    gw.flush();
    await shipper.drained();
    const shippedBefore = shipper.shippedId;

    await admin("ALTER TABLE bastion.statements ADD CONSTRAINT no_marker CHECK (sql NOT LIKE '%rejectme%')");
    await session('rejectme');
    await session('afterreject');
    gw.flush();
    const head = spoolHead();
    await until(() => ((shipper.status().rejected?.attempts ?? 0) >= 3 ? true : undefined), 'three refusals');
    const status = shipper.status();
    assert.equal(status.state, 'rejected');
    assert.equal(status.rejected?.sqlstate, '23514');
    // The refused record is isolated: it is the statement with the marker; all before it shipped.
    const refused = refusedRecord();
    assert.equal(status.rejected?.firstId, refused);
    assert.equal(status.rejected?.lastId, refused);
    assert.equal(status.shippedId, refused - 1, 'everything before the refused record shipped');
    assert.ok(status.shippedId > shippedBefore && refused < head);
    assert.match(status.error ?? '', /no_marker/);
    const errors = lines.filter((l) => l.startsWith('error '));
    // Logged once, not once per attempt; and never as an outage.
    assert.equal(errors.length, 1, lines.join('\n'));
    assert.match(errors[0], new RegExp(`refuses record ${refused} of gateway "gw-reject" \\(SQLSTATE 23514`));
    assert.ok(!lines.some((l) => /unavailable/.test(l)), lines.join('\n'));
    const stored = await admin<{ n: number; max: number }>(
      "SELECT count(*)::int AS n, max(id)::int AS max FROM bastion.records WHERE gateway = 'gw-reject'",
    );
    assert.deepEqual(stored, { n: refused - 1, max: refused - 1 }, 'nothing after the refused record');

    // The gateway goes on recording meanwhile; the store is fixed; everything ships, in order.
    await session('whilerejected');
    gw.flush();
    await admin('ALTER TABLE bastion.statements DROP CONSTRAINT no_marker');
    await shipper.drained();
    assert.equal(shipper.state, 'shipping');
    assert.equal(shipper.status().rejected, null);
    assert.ok(
      lines.some((l) => l.startsWith(`info shared store accepted record ${refused} `)),
      lines.join('\n'),
    );
    const all = await admin<{ n: number; max: number }>(
      "SELECT count(*)::int AS n, max(id)::int AS max FROM bastion.records WHERE gateway = 'gw-reject'",
    );
    assert.equal(all.max, spoolHead());
    assert.equal(all.n, spoolHead(), 'every record of the spool is in the store, once');
    const shared = new PgSessionStore(storeTarget(store));
    try {
      assert.deepEqual(
        shared.verifyGateways().map((g) => [g.gateway, g.ok]),
        [['gw-reject', true]],
      );
      for (const word of ['beforereject', 'rejectme', 'afterreject', 'whilerejected']) {
        assert.equal(shared.searchSessions({ text: word }).total, 1, word);
      }
    } finally {
      shared.close();
    }
  } finally {
    await shipper.stop();
  }
});
